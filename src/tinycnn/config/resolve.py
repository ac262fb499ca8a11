"""Resolve each experiment's settings: the shared recipe with the experiment's keys over it.

Names, here and in the workflow: ``experiment`` is an experiment's name (a key of
``experiments:``), ``entry`` its mapping as the config writes it (overrides only), and
``settings`` what :func:`training_settings` resolves for it (what a train job reads).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tinycnn.config import ablations, beyond_paper
from tinycnn.config.merge import merge_settings, recipe_of
from tinycnn.shared.errors import UserError


def experiment_entries(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every experiment that trains, by name: the config's ``experiments``; one per ablation
    variant that overrides a setting (``<question>__<variant>``), whose entry is its base's
    (without the paper's numbers) with the variant's overrides merged over it; then the runs
    ``beyond_paper`` (presets/modern.yaml)."""
    entries = dict(config["experiments"])
    for v in ablations.trained(config):
        base = {k: val for k, val in config["experiments"][v.base].items() if k != "paper"}
        entries[v.experiment] = merge_settings(base, v.overrides)
    entries.update(beyond_paper.experiments(config))
    return entries


def resolve_experiment(
    config: Mapping[str, Any],
    experiment: str,
    entries: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The full settings of one experiment: the shared recipe with its overrides applied.

    ``experiment`` is a key of :func:`experiment_entries` (the config's experiments and the
    ablation variants that train); the result adds the ops of its augmentation sets, its model's
    ``arch``, its ``name`` and ``model``, its seed list and the paper's numbers (None for a
    variant). Editing one experiment changes only that experiment's resolved settings (and its
    variants'). ``entries``: :func:`experiment_entries` of ``config``, where the caller resolves
    many experiments (computed here otherwise).
    """
    entries = experiment_entries(config) if entries is None else entries
    if experiment not in entries:
        raise UserError(
            f"unknown experiment {experiment!r}; the config defines: {', '.join(entries)}"
        )
    entry = entries[experiment]  # the experiment's own keys, as written
    resolved = recipe_of(config, entry)
    resolved.update(
        name=experiment,
        model=entry["model"],
        arch=config["models"][entry["model"]]["arch"],
        paper=copy.deepcopy(entry.get("paper")),
    )
    return resolved


def training_settings(
    config: Mapping[str, Any],
    experiment: str,
    entries: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """What one training job receives (the workflow writes it to a file, its settings file):
    the resolved experiment without the paper's numbers and the seed list (the seed comes
    separately), so that editing a reported accuracy or adding a seed reruns no existing job."""
    settings = resolve_experiment(config, experiment, entries)
    del settings["paper"], settings["seeds"]
    return settings
