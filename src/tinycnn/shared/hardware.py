"""What machine this is, for run summaries, the reference runner, the rates file and the report.

Torch-free: the caller passes what torch knows (the GPU's name, the thread count, versions).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, which a container, SLURM's cgroup or
    ``taskset`` narrows, not the machine's count. Threads come from this, never a literal: on
    2 cores M1 trains at 1,011 img/s with 2 threads against 857 with 4 (issue 30)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def gpu_driver() -> str | None:
    """The NVIDIA driver's version (``nvidia-smi``), or None where there is none."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        done = subprocess.run(
            [smi, "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else None


def machine(
    device: str, *, gpu: str | None = None, threads: int | None = None, **versions: Any
) -> dict[str, Any]:
    """The machine a run trained on, as its summary records it: the device type; the CPU's
    model and usable cores, and the torch threads on a CPU; the GPU's name and driver on CUDA;
    ``versions`` (torch, cuda) as given."""
    record: dict[str, Any] = {"device": device, "cpu": cpu_model(), "cores": usable_cores()}
    if device == "cpu" and threads is not None:
        record["threads"] = threads
    if device == "cuda":
        record.update(gpu=gpu, driver=gpu_driver())
    record.update({k: v for k, v in versions.items() if v is not None})
    return record


def machine_words(summary: dict[str, Any]) -> str:
    """A run's hardware in words, from its summary: "AMD EPYC CPU (2 cores, 2 threads)" or
    "NVIDIA H200 (driver 580.159.04)", without commas, so that a list of machines reads as one;
    a summary without ``machine`` (recorded before it existed) by its ``device_name``, which
    names the CPU and its threads or the GPU."""
    record = summary.get("machine")
    if not isinstance(record, dict):
        return _older_device_name(str(summary.get("device_name") or "unknown hardware"))
    if record.get("device") == "cuda":
        driver = f" (driver {record['driver']})" if record.get("driver") else ""
        return f"{record.get('gpu') or 'a CUDA GPU'}{driver}"
    cores = record.get("cores")
    threads = record.get("threads")
    parts = []
    if cores:
        parts.append(f"{cores} core{'' if cores == 1 else 's'}")
    if threads:
        parts.append(f"{threads} thread{'' if threads == 1 else 's'}")
    cpu = f"{record.get('cpu') or 'unknown'} CPU"
    return f"{cpu} ({', '.join(parts)})" if parts else cpu


def _older_device_name(name: str) -> str:
    """An older record's ``device_name`` in the words of a newer one's machine: "AMD EPYC (4
    threads)" reads "AMD EPYC CPU (4 threads)" (its cores were not recorded), so that one CPU
    reads alike in every record; a GPU's name is kept as it is."""
    cpu = re.fullmatch(r"(?P<cpu>.+) \((?P<n>\d+) threads?\)", name)
    if cpu is None:
        return name
    n = int(cpu["n"])
    return f"{cpu['cpu']} CPU ({n} thread{'' if n == 1 else 's'})"
