"""Training checkpoints: written atomically, loaded safely, resumed only by the run they belong to.

A checkpoint holds everything a resumed run needs to continue as if it had never
stopped: model, optimizer and scheduler states, the RNG state, the position
(epoch and batch), the running sums of a stopped epoch and the metrics so far.
It also records its :class:`RunKey`, what a run must match to resume it: the
settings and seed, the input data, the numerics. A checkpoint of another key is
refused with a message naming what differs, and one of another :data:`FORMAT`
(written by another version of this program) with a message saying to delete it;
neither is resumed. Files are loaded with ``torch.load(weights_only=True)``, which
unpickles tensors and plain containers only, never arbitrary objects.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tinycnn.shared.digests import (
    digest_path,
    read_digest,
    recorded_mismatch,
    sha256_file,
    write_bytes_recorded,
)
from tinycnn.shared.errors import UserError

# 2: the key is recorded whole (settings, data, numerics) and a stopped epoch keeps its rate.
FORMAT = 2


def fingerprint(experiment: Mapping[str, Any], seed: int) -> str:
    """A stable hash of the settings that shape a run (the experiment and its seed)."""
    text = json.dumps({"experiment": experiment, "seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def file_identity(path: Path) -> str:
    """The SHA-256 the data stage recorded when it wrote ``path`` (atomic.read_digest); for a
    file without a valid record, the hash of a small file, or size and mtime of a large one (a
    rewrite then counts as a change: never a false match)."""
    recorded = read_digest(path)
    if recorded is not None:
        return "sha256:" + recorded
    stat = path.stat()
    if stat.st_size <= 1 << 20:
        return "sha256:" + sha256_file(path)
    return f"size:{stat.st_size} mtime_ns:{stat.st_mtime_ns}"


@dataclass(frozen=True)
class RunKey:
    """What a checkpoint must match to be resumed; a run checks it before it leases a GPU and
    loads its data.

    - ``fingerprint``: every resolved setting but ``device`` (which only says where to run: a
      run moved to another device resumes), and the seed;
    - ``data``: the identity of every input file the run reads, by name
      (:func:`file_identity`; a re-drawn set or another archive changes it);
    - ``numerics``: how the steps compute, in words (precision, layout, compile mode:
      ``auto`` resolves by device, so a CPU checkpoint is not continued on CUDA).
    """

    fingerprint: str
    data: Mapping[str, str]
    numerics: str

    @classmethod
    def of(
        cls,
        settings: Mapping[str, Any],
        seed: int,
        files: Mapping[str, Path],
        numerics: str,
    ) -> RunKey:
        """The key of a run with ``settings`` and ``seed`` that reads ``files`` (by name)."""
        shaping = {k: v for k, v in settings.items() if k != "device"}
        return cls(
            fingerprint(shaping, seed),
            {name: file_identity(Path(path)) for name, path in files.items()},
            numerics,
        )

    def record(self) -> dict[str, Any]:
        """What a checkpoint records of its key."""
        return {"fingerprint": self.fingerprint, "data": dict(self.data), "numerics": self.numerics}

    def check(self, saved: Mapping[str, Any], path: Path) -> None:
        """Raise :class:`UserError`, one message per kind of mismatch, unless the checkpoint
        ``saved`` (read from ``path``) was written under this key."""
        if saved["fingerprint"] != self.fingerprint:
            raise UserError(
                f"the checkpoint {path} was written for different settings of this experiment "
                "(the config or seed changed since), so it is not resumed. Restore the settings "
                "to resume it, or delete the checkpoint to start this run from scratch."
            )
        before = saved["data"]
        changed = sorted(
            k for k in self.data.keys() | before.keys() if before.get(k) != self.data.get(k)
        )
        if changed:
            raise UserError(
                f"the checkpoint {path} was trained on other input data "
                f"({', '.join(changed)} changed since: another archive, augmentation seed or set), "
                "so it is not resumed. Restore that data to resume it, or delete the checkpoint to "
                "start this run from scratch."
            )
        if saved["numerics"] != self.numerics:
            raise UserError(
                f"the checkpoint {path} was written under {saved['numerics']}, and this run would "
                f"continue under {self.numerics} (another device, precision or compile mode), so "
                "it is not resumed. Run it where it started (or set precision and compile to "
                "match), or delete the checkpoint to start this run from scratch."
            )


def save(path: Path, state: Mapping[str, Any], key: RunKey) -> None:
    """Write ``state`` and ``key`` atomically: a kill during the write leaves the previous
    checkpoint.

    The checkpoint is serialized in memory first, so that its size is known: too little free
    space, or a write that fails for lack of it, is one :class:`UserError` naming the file and
    the space needed, and leaves the previous checkpoint and no temporary behind.
    """
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **key.record(), **state}, buffer)
    # With its SHA-256 beside it (<path>.sha256): a checkpoint damaged inside its tensor data,
    # which torch.load reads without complaint, is refused on resume (:func:`load`).
    write_bytes_recorded(path, buffer.getvalue())


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


def load(path: Path, key: RunKey) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it exists, else None.

    A file that cannot be read, a checkpoint of another format and one written under another
    key (:meth:`RunKey.check`) each raise :class:`UserError`; the file is left as it is.
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
    if state.get("format") != FORMAT:
        found = state.get("format")
        written = f"format {found}" if found is not None else "no format number"
        raise UserError(
            f"the checkpoint {path} was written by another version of this program ({written}; "
            f"this one reads format {FORMAT}), so it is not resumed. Delete it and run again to "
            "start this run from scratch."
        )
    # Damage that torch.load reads without complaint (inside a tensor's bytes): the SHA-256
    # written beside the checkpoint. A checkpoint without one (written before it) is read as is.
    if recorded_mismatch(path):
        raise UserError(
            f"cannot resume from the checkpoint {path}: its content differs from the SHA-256 "
            f"written beside it ({digest_path(path).name}), so it was damaged after it was "
            "written. Delete both to start this run from scratch."
        )
    key.check(state, path)
    return state
