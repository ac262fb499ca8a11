"""Lease one GPU per training job.

``snakemake --resources gpu=N`` starts up to N training jobs at once but does not
tell a job which GPU to use. Each job therefore takes an exclusive ``flock`` on a
lock file per GPU and uses the first GPU it gets. The kernel releases the lock
when the process exits for any reason (normal exit, exception, SIGKILL), so a
crashed job never leaves a GPU blocked.

Lock files are keyed by the GPU's UUID, not its index: under SLURM every job may
see its own GPU as ``cuda:0``, and two jobs on one node must not block each other.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tinycnn.shared.errors import UserError

LOCK_DIR_ENV = "TINYCNN_GPU_LOCK_DIR"


def default_lock_dir() -> Path:
    """Shared by every job on this machine: ``$TINYCNN_GPU_LOCK_DIR`` or a folder in /tmp."""
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir()) / "tinycnn-gpu-locks")


@dataclass
class GpuLease:
    """A held GPU: its index among the visible devices and the lock that reserves it."""

    index: int
    uuid: str
    _handle: IO[str] | None

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> GpuLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _try_lock(path: Path) -> IO[str] | None:
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the lease's lifetime)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def lease_gpu(
    uuids: Sequence[str],
    lock_dir: Path | None = None,
    *,
    wait: float = 600.0,
    poll: float = 1.0,
    sleep: Callable[[float], object] = time.sleep,
) -> GpuLease:
    """Lock the first free GPU among ``uuids`` (the visible devices, in index order).

    Waits up to ``wait`` seconds when every GPU is held (more jobs than GPUs
    were started), then fails with a message that says how to fix the launch.
    """
    if not uuids:
        raise UserError("no CUDA device is visible to lease (is CUDA_VISIBLE_DEVICES empty?)")
    lock_dir = default_lock_dir() if lock_dir is None else Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = 0.0
    while True:
        for index, uuid in enumerate(uuids):
            handle = _try_lock(lock_dir / f"{uuid}.lock")
            if handle is not None:
                return GpuLease(index, uuid, handle)
        if waited == 0:
            print(
                f"all {len(uuids)} visible GPUs are held by other training jobs; waiting up to "
                f"{wait:g} s for one (locks in {lock_dir})",
                file=sys.stderr,
                flush=True,
            )
        if waited >= wait:
            raise UserError(
                f"all {len(uuids)} visible GPUs are held by other training jobs (locks in "
                f"{lock_dir}) after waiting {wait:g} s; run snakemake with "
                f"--resources gpu={len(uuids)} or fewer"
            )
        sleep(poll)
        waited += poll


def visible_gpu_uuids() -> list[str]:
    """UUIDs of the CUDA devices this process sees, in index order."""
    import torch

    return [str(torch.cuda.get_device_properties(i).uuid) for i in range(torch.cuda.device_count())]
