"""Training checkpoints: written atomically, loaded safely, tied to one experiment.

A checkpoint holds everything a resumed run needs to continue as if it had never
stopped: model, optimizer and scheduler states, the RNG state, the position
(epoch and batch) and the metrics so far. It records a fingerprint of the
resolved experiment and seed; a checkpoint written for other settings is refused
rather than resumed. Files are loaded with ``torch.load(weights_only=True)``, which
unpickles tensors and plain containers only, never arbitrary objects.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tinycnn.atomic import atomic_path
from tinycnn.errors import UserError

FORMAT = 1


def fingerprint(experiment: Mapping[str, Any], seed: int) -> str:
    """A stable hash of the settings that shape a run (the experiment and its seed)."""
    text = json.dumps({"experiment": experiment, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save(path: Path, state: Mapping[str, Any], fingerprint: str) -> None:
    """Write ``state`` atomically: a kill during the write leaves the previous checkpoint."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, "fingerprint": fingerprint, **state}, tmp)


def load(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it exists and was written for ``fingerprint``, else None.

    A checkpoint of another experiment config raises :class:`UserError`.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged file: say which and what to do
        raise UserError(
            f"cannot read the checkpoint {path}: {err}. Delete it to start this run from scratch."
        ) from err
    if not isinstance(state, dict):  # another program's file saved with torch.save
        raise UserError(
            f"cannot read the checkpoint {path}: it holds a {type(state).__name__}, not a "
            "training checkpoint. Delete it to start this run from scratch."
        )
    if state.get("format") != FORMAT or state.get("fingerprint") != fingerprint:
        raise UserError(
            f"the checkpoint {path} was written for different settings of this experiment "
            "(the config or seed changed since), so it is not resumed. Restore the settings "
            "to resume it, or delete the checkpoint to start this run from scratch."
        )
    return state
