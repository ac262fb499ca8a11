"""The machine a run records: the CPU and the cores the process may use, or the GPU and its
driver; and the words the paper and the README say it in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tinycnn.shared import hardware


def test_usable_cores_follow_the_affinity_not_the_machine() -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    code = (
        "import os; from tinycnn.shared.hardware import usable_cores; "
        "os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]}); print(usable_cores())"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "1", done.stderr
    assert hardware.usable_cores() == len(os.sched_getaffinity(0))


def test_machine_of_a_cpu_run_and_its_words() -> None:
    record = hardware.machine("cpu", threads=2, torch="2.14.1")
    assert record["device"] == "cpu" and record["cpu"] == hardware.cpu_model()
    assert record["cores"] == hardware.usable_cores() and record["threads"] == 2
    assert record["torch"] == "2.14.1" and "gpu" not in record
    summary = {"machine": {"device": "cpu", "cpu": "AMD EPYC", "cores": 2, "threads": 1}}
    assert hardware.machine_words(summary) == "AMD EPYC CPU (2 cores, 1 thread)"


def test_machine_words_of_a_gpu_and_of_an_older_record() -> None:
    gpu = {"device": "cuda", "gpu": "NVIDIA H200", "driver": "580.159.04", "cores": 16}
    assert hardware.machine_words({"machine": gpu}) == "NVIDIA H200 (driver 580.159.04)"
    # Recorded before `machine` existed: its device_name (the CPU's model and threads).
    assert hardware.machine_words({"device_name": "AMD EPYC (4 threads)"}) == (
        "AMD EPYC CPU (4 threads)"
    )
    assert (
        hardware.machine_words({"device_name": "AMD EPYC (1 thread)"}) == "AMD EPYC CPU (1 thread)"
    )
    assert hardware.machine_words({"device_name": "NVIDIA H200"}) == "NVIDIA H200"
    assert hardware.machine_words({}) == "unknown hardware"


def test_gpu_driver_is_none_without_nvidia_smi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hardware.shutil, "which", lambda name: None)
    assert hardware.gpu_driver() is None
    assert hardware.machine("cuda", gpu="X")["driver"] is None
