"""A CPU run's process keeps the memory its steps free (`keep_freed_memory`), so that a step
does not fault in fresh pages for every large tensor. Each case runs in its own process: the
setting is the whole process's, and must not reach the test runner's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Allocate and free a 64 MB tensor (a size glibc serves with mmap by default) again and again,
# and count the page faults of the last 8 times. With the setting the heap takes up to 10 rounds
# to hold a free block that fits (the 64-byte alignment's padding), as a run's first steps do.
PROGRAM = """
import json, resource, sys
import torch
from tinycnn.training.device import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
for _ in range(12):
    torch.ones(16 * 1024 * 1024).sum()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(8):
    torch.ones(16 * 1024 * 1024).sum()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults}))
"""


def repeats(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_freed_memory_is_reused_without_page_faults():
    """Without the setting each 64 MB tensor faults in its 16,384 pages again; with it the
    repeats reuse the pages of the ones before."""
    pages = 16 * 1024 * 1024 * 4 // 4096
    default, kept = repeats("default"), repeats("keep")
    assert default["faults"] >= 8 * pages * 0.9  # the test measures what it should
    assert kept["applied"] is True
    assert kept["faults"] < pages


def test_elsewhere_it_changes_nothing(monkeypatch):
    """Off Linux, or on a C library without mallopt, it says so and sets nothing."""
    from tinycnn.training import device

    monkeypatch.setattr(device.sys, "platform", "darwin")
    assert device.keep_freed_memory() is False
    monkeypatch.setattr(device.sys, "platform", "linux")
    monkeypatch.setattr(device.ctypes, "CDLL", lambda name: object())  # no mallopt
    assert device.keep_freed_memory() is False
