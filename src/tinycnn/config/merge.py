"""How settings merge: presets over the config, an experiment's keys over the shared recipe.

Torch-free and free of the config's validation, so that both sides use the same rules: the
config (:func:`.resolve.resolve_experiment`, what a train job receives) and the report (the
settings of a run not yet made, as the config snapshot gives them).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tinycnn.shared.contract import VALIDATION_FRACTION

# The keys of an experiment that are settings of its runs (its own keys, over `training`).
RECIPE_KEYS = (
    "optimizer",
    "scheduler",
    "loss",
    "batch_size",
    "epochs",
    "augmentation",
    "subset",
    "seeds",
    "device",
    "precision",
    "compile",
    "validation",
)
# How the sets make up an epoch (`augmentation.combine`, tinycnn.data.augment.COMBINE): absent from
# a run's settings (runs written before it existed keep theirs), it is this.
COMBINE_DEFAULT = "concat"
# Where a run's accuracy is measured (`validation.source`): the validation images, unless
# `augmented_split` holds out a share of the augmented training samples (:func:`validation_of`).
VALIDATION_SOURCE = "official"
HELD_OUT = "augmented_split"
# Parts of the recipe that name a registry entry: one naming another entry replaces it whole.
NAMED_PARTS = ("optimizer", "scheduler", "loss")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``: mappings merge key by key, anything else replaces.

    This is how Snakemake merges ``--configfile`` presets over config.yaml.
    """
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def merge_settings(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Settings ``override`` on top of ``base`` (:func:`deep_merge`), except that an optimizer,
    scheduler or loss that names another entry than the base's replaces it whole: an SGD never
    inherits RAdam's betas."""
    out = deep_merge(base, override)
    for kind in NAMED_PARTS:
        new, old = override.get(kind), base.get(kind)
        mappings = isinstance(new, Mapping) and isinstance(old, Mapping)
        if mappings and new.get("name", old.get("name")) != old.get("name"):
            out[kind] = copy.deepcopy(dict(new))
    return out


def combine_of(settings: Mapping[str, Any]) -> str:
    """A run's ``augmentation.combine``, its default where the settings leave it out."""
    return settings["augmentation"].get("combine", COMBINE_DEFAULT)


def validation_of(settings: Mapping[str, Any]) -> tuple[str, float | None]:
    """What a run validates on, as its settings say: (source, held-out fraction). ``official``
    (the default) scores the validation images; ``augmented_split`` holds out ``fraction``
    (default :data:`~tinycnn.shared.contract.VALIDATION_FRACTION`) of the augmented training
    samples, whose fraction is None otherwise."""
    validation = settings.get("validation") or {}
    source = validation.get("source", VALIDATION_SOURCE)
    if source != HELD_OUT:
        return source, None
    return source, validation.get("fraction", VALIDATION_FRACTION)


def recipe_of(config: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    """An experiment's recipe: the config's ``training`` with the experiment's own setting keys
    (``entry``, as the config writes it) over it, and the ops of its augmentation sets."""
    overrides = {k: v for k, v in entry.items() if k in RECIPE_KEYS}
    resolved = merge_settings(config["training"], overrides)
    sets = config["augmentation"]["sets"]
    resolved["augmentation"]["ops"] = {
        s: copy.deepcopy(sets[s]) for s in resolved["augmentation"]["sets"]
    }
    return resolved
