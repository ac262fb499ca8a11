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
import io
import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tinycnn.atomic import write_bytes
from tinycnn.errors import UserError

FORMAT = 1


def fingerprint(experiment: Mapping[str, Any], seed: int) -> str:
    """A stable hash of the settings that shape a run (the experiment and its seed)."""
    text = json.dumps({"experiment": experiment, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save(path: Path, state: Mapping[str, Any], fingerprint: str) -> None:
    """Write ``state`` atomically: a kill during the write leaves the previous checkpoint.

    The checkpoint is serialized in memory first, so that its size is known: too little free
    space, or a write that fails for lack of it, is one :class:`UserError` naming the file and
    the space needed, and leaves the previous checkpoint and no temporary behind.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "fingerprint": fingerprint, **state}, buffer)
    write_bytes(path, buffer.getbuffer())


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6 is a zip archive


def _unreadable(path: Path, err: Exception) -> str:
    """Why ``path`` could not be loaded, in words (not PyTorch's internal message)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_ZIP_MAGIC))
    except OSError as exc:
        return f"{exc.strerror or exc}"
    if not head:
        return "the file is empty (a write that never finished?)"
    if head != _ZIP_MAGIC:
        return "it is not a PyTorch checkpoint (damaged, or another program's file)"
    if isinstance(err, pickle.UnpicklingError):
        return (
            "it holds objects other than tensors and plain containers, which are not loaded "
            "(loading them could run code): not a checkpoint this program wrote"
        )
    return "it is truncated or corrupted (an interrupted copy or a damaged disk?)"


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
            f"cannot read the checkpoint {path}: {_unreadable(path, err)}. "
            "Delete it to start this run from scratch."
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
