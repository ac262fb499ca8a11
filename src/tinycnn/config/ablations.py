"""The config's ``ablations``: the readings the paper leaves open, as named questions.

A question names a base experiment and variants; a variant overrides some of the base's
settings (the keys an experiment may set) and may choose which accuracy is reported
(``reported: best`` as everywhere, or ``last``, the last epoch's). A variant that overrides a
setting trains: it becomes one more experiment, named ``<question>__<variant>``
(:func:`experiment_name`), trained by the same rules as the paper's runs. A variant that only
changes ``reported`` trains nothing: it reads the base's runs another way.

Torch-free and config-free (the aggregate imports it): plain functions over the config mapping.
The config side (``tinycnn.config``) validates the questions and resolves the variants' settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from tinycnn.config import beyond_paper
from tinycnn.config.merge import HELD_OUT

# Between question and variant in a variant's experiment name. Question and variant ids are
# letters and digits joined by single `_` or `-` (the schema's pattern), so the name splits back
# unambiguously and is a valid experiment name (a folder in runs/, a wildcard value).
SEPARATOR = "__"
# A variant's keys that are not settings of the run.
REPORTED_KEY = "reported"  # its values: the schema's enum (best, last)
DESCRIPTION_KEY = "description"  # its change in a reader's words (the ablation table's)


class Variant(NamedTuple):
    question: str
    title: str
    variant: str  # the variant's id; "base" is the base experiment itself
    base: str  # the base experiment
    experiment: str  # whose runs it reads: the variant's own experiment, or the base's
    overrides: dict[str, Any]  # the settings it overrides (empty: it trains nothing)
    reported: str  # "best" or "last"
    description: str = ""  # its change in words; "" for the base or where none is given


def experiment_name(question: str, variant: str) -> str:
    """The experiment a training variant becomes: ``augmentation_draw__online``."""
    return f"{question}{SEPARATOR}{variant}"


def variants(config: Mapping[str, Any]) -> list[Variant]:
    """Every question's base (variant ``base``), then its variants, in the order of the mapping:
    the config's order here, name order in the aggregate (config.json's keys are sorted)."""
    out = []
    for question, spec in (config.get("ablations") or {}).items():
        title, base = spec["title"], spec["base"]
        out.append(Variant(question, title, "base", base, base, {}, "best"))
        for name, entry in (spec.get("variants") or {}).items():
            entry = dict(entry or {})
            reported = entry.pop(REPORTED_KEY, "best")
            description = entry.pop(DESCRIPTION_KEY, "")
            experiment = experiment_name(question, name) if entry else base
            out.append(
                Variant(question, title, name, base, experiment, entry, reported, description)
            )
    return out


def trained(config: Mapping[str, Any]) -> list[Variant]:
    """The variants that train (override a setting): one experiment each."""
    return [v for v in variants(config) if v.overrides]


def leaks(config: Mapping[str, Any], v: Variant) -> bool:
    """Whether a reading validates on a held-out split of the augmented training samples
    (``validation: {source: augmented_split}``, its own, its base's or the recipe's): another
    augmented copy of each held-out image is trained on, so its accuracy is not a validation
    accuracy."""
    entry = config["experiments"][v.base]
    for where in (v.overrides, entry, config.get("training") or {}):
        source = (where.get("validation") or {}).get("source")
        if source is not None:
            return source == HELD_OUT
    return False


def models_by_experiment(config: Mapping[str, Any]) -> dict[str, str]:
    """The model of every experiment that trains: the config's, the ablation variants' (their
    own `model`, else their base's), the runs beyond the paper."""
    models = {name: entry["model"] for name, entry in config["experiments"].items()}
    for v in trained(config):
        models[v.experiment] = v.overrides.get("model", models[v.base])
    models.update(
        {name: entry["model"] for name, entry in beyond_paper.experiments(config).items()}
    )
    return models
