"""The benchmark scripts run (tiny sizes, on the CPU): their figures are measurements, recorded in
benchmarks/RESULTS.md, never asserted here; these tests keep the scripts working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    """``benchmarks/<script> args`` with this Python, its output captured."""
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_epoch_benchmark_compares_the_epoch_loop_with_the_bare_step() -> None:
    result = run_benchmark(
        "train_epoch.py",
        "--images",
        "256",
        "--val",
        "256",
        "--repeats",
        "1",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    names = [row.split(" | ")[0].lstrip("| ") for row in rows[1:]]
    assert names == [
        "bare train_step",
        "train_one_epoch",
        "evaluate (forward only)",
        "run 2 projected end to end (200,000 + 10,000 validation an epoch)",
    ]
    assert "| bare train_step |" in result.stdout and "| 1.00x |" in result.stdout
    assert "M1, fp32, channels_last" in result.stdout  # the trainer's CPU default numerics


def test_throughput_benchmark_times_a_presets_runs_with_their_own_recipe(tmp_path: Path) -> None:
    """--preset: the runs beyond the paper, each through its own settings (SGD, its schedule
    stepped every batch, label smoothing, its set drawn online: no fixed data share)."""
    table = tmp_path / "modern.md"
    result = run_benchmark(
        "train_throughput.py",
        *("--quick", "--device", "cpu", "--preset", str(ROOT / "presets" / "modern.yaml")),
        *("--models", "modern_resnet18", "--markdown", str(table)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in table.read_text().splitlines() if line.startswith("| modern_")]
    assert [row.split(" | ")[1] for row in rows] == ["default (fp32, channels_last)", "fp32"]
    assert " | — / " in rows[0] and rows[1].endswith(" | 1.00x |")


def test_compile_cache_benchmark_runs_each_case_in_its_own_process() -> None:
    """The script's path, eager (compile none: nothing to cache, so no timing is claimed):
    three new processes, cold, warm on the first one's cache, cold again, and the ratio."""
    result = run_benchmark(
        "compile_cache.py",
        *("--compile", "none", "--steps", "1", "--batch", "8", "--threads", "1"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["cold", "warm (shared)", "cold again"]
    assert "torch.compile none on cpu" in result.stdout
    assert "cold / warm, first steps: " in result.stdout
