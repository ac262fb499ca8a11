"""`make gpu-check` in its no-CUDA form, as CI runs it: one line says so, the benchmark's smoke
run works, the results file lists every check, and the exit status is 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(torch.cuda.is_available(), reason="the no-CUDA form needs a machine without")
def test_gpu_check_without_cuda_runs_the_benchmark_and_skips_the_rest(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu_check.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("gpu-check: no CUDA device here"), first
    report = (tmp_path / "gpu-check.md").read_text()
    assert "| throughput | passed |" in report
    for check in ("modern recipe", "pytest -m gpu", "demo on CUDA", "two jobs, one GPU"):
        assert f"| {check} | skipped |" in report
    # The benchmark's table: the trainer's path against eager fp32, with a ratio.
    assert "| M1 | default (fp32, channels_last) |" in report and "1.00x" in report
    assert "## throughput tables" in report
    assert "source sha256" in report
    assert (tmp_path / "logs.tar.gz").stat().st_size > 0
