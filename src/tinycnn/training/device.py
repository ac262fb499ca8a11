"""Where a run runs: the device the settings ask for (a CUDA device leased for the run), its
name in words, the machine record every run keeps (:func:`run_machine`), and how a CPU run's
process keeps the memory its steps free (:func:`keep_freed_memory`)."""

from __future__ import annotations

import ctypes
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch

from tinycnn.shared.errors import UserError
from tinycnn.shared.hardware import cpu_model, machine
from tinycnn.training.gpu_lease import lease_gpu, visible_gpu_uuids


def device_type(requested: str) -> str:
    """The settings' ``device``, resolved: ``auto`` is CUDA, then MPS, then CPU; a device asked
    for by name must be there."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("device: cuda was asked for, but no CUDA device is available")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise UserError("device: mps was asked for, but MPS is not available")
    return requested


def pick_device(requested: str, stack: ExitStack, lock_dir: Path | None = None) -> torch.device:
    """The device of :func:`device_type`; a CUDA device is leased for the run's lifetime."""
    kind = device_type(requested)
    if kind == "cuda":
        lease = stack.enter_context(lease_gpu(visible_gpu_uuids(), lock_dir))
        print(f"leased GPU {lease.index} ({lease.uuid})", file=sys.stderr, flush=True)
        return torch.device("cuda", lease.index)
    return torch.device(kind)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"{cpu_model()} ({threads} thread{'' if threads == 1 else 's'})"


def run_machine(device: torch.device, threads: int | None = None) -> dict[str, Any]:
    """The machine of a run (:func:`tinycnn.shared.hardware.machine`): what the reference folder
    requires of every record and the paper names beside each run; also the reference runner's
    manifest and the rates file. ``threads``: torch's own count where not given."""
    cuda = device.type == "cuda"
    return machine(
        device.type,
        gpu=torch.cuda.get_device_name(device) if cuda else None,
        threads=torch.get_num_threads() if threads is None else threads,
        torch=torch.__version__,
        cuda=torch.version.cuda if cuda else None,
    )


# glibc's mallopt parameters (malloc.h), and the trim threshold keep_freed_memory sets: the
# largest a C int holds, so that the heap's free top is in practice never given back.
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
NEVER_TRIM = 2**31 - 1


def keep_freed_memory() -> bool:
    """Let this process's C allocator keep the memory a training step frees, for the next
    step to reuse; True where it applied (Linux with glibc), False elsewhere, which changes
    nothing but the speed.

    glibc serves an allocation of 32 MB or more (M1's first activations at batch 256: 67 MB,
    their gradients, the pooling's indices) with its own mmap and unmaps it when freed, so each
    step faults in fresh zeroed pages: 28,000-33,000 page faults and a fifth of the CPU time of
    an M1 step on 2 cores. With no mmap (``M_MMAP_MAX`` 0) and no trimming of the heap's top,
    the blocks of one step are the next step's: M1 trains 1.3x faster on the 2-core CPU
    (benchmarks/cpu_paths.py, benchmarks/RESULTS.md). The numbers are the same. The cost is that
    the process keeps its peak memory until it ends, so only a process that is one training run
    calls this (``tinycnn train`` on the CPU), never a library function.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this process runs on
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_MMAP_MAX, 0) == 1 and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM) == 1
