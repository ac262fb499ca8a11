"""The config's ``beyond_paper``: runs beside the paper's with another recipe or model
(presets/modern.yaml), and the paper's runs they are set beside.

Each of its ``experiments`` trains like an experiment (:func:`.resolve.experiment_entries`);
the aggregate writes them to beyond.csv only, beside its ``baselines``. Torch-free, like
:mod:`.ablations` (the aggregate imports it): plain functions over the config mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def experiments(config: Mapping[str, Any]) -> dict[str, Any]:
    """The runs beyond the paper by name (none when absent, as in config.yaml)."""
    return dict((config.get("beyond_paper") or {}).get("experiments") or {})


def baselines(config: Mapping[str, Any]) -> list[str]:
    """The paper's experiments the runs beyond it are set beside, in the config's order."""
    return list((config.get("beyond_paper") or {}).get("baselines") or [])
