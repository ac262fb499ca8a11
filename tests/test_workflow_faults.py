"""The workflow without an activated environment, and its end-of-run message (a few seconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "presets" / "demo.yaml"
BIN = Path(sys.executable).parent  # the project environment's bin, as `.venv/bin/snakemake` has


def bare_path() -> str:
    """PATH without the project environment, as in a shell where it was never activated."""
    keep = [p for p in os.environ["PATH"].split(os.pathsep) if p and Path(p) != BIN]
    return os.pathsep.join(keep or ["/usr/bin", "/bin"])


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.skipif(not (BIN / "tinycnn").exists(), reason="tinycnn is not installed beside python")
def test_rules_find_the_projects_command_without_an_activated_environment(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": bare_path()}
    found = subprocess.run(["sh", "-c", "command -v tinycnn"], env=env, capture_output=True)
    assert found.returncode != 0, "tinycnn is on the bare PATH: the test would prove nothing"
    target = "resources/tiny-imagenet-demo.zip"  # rule download: one `tinycnn` command
    result = run("--cores", "1", target, "--configfile", str(DEMO), cwd=tmp_path, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "command not found" not in output
    assert (tmp_path / target).is_file()
    # The end-of-run message names the paper only when the run built it (or it is up to date).
    assert "The paper" not in output
    assert not (tmp_path / "results" / "demo" / "paper.pdf").exists()
