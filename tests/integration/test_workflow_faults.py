"""The workflow without an activated environment, and its end-of-run message (a few seconds)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "presets" / "demo.yaml"
DEMO_ARCHIVE = "resources/bd37d950035ffb53b6eda235c0908d17/tiny-imagenet-demo.zip"
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
    target = DEMO_ARCHIVE  # rule download: one `tinycnn` command
    result = run("--cores", "1", target, "--configfile", str(DEMO), cwd=tmp_path, env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "command not found" not in output
    assert (tmp_path / target).is_file()
    # The end-of-run message names the paper only when the run built it (or it is up to date).
    assert "The paper" not in output
    assert not (tmp_path / "results" / "demo" / "paper.pdf").exists()


def test_configs_share_the_archive_only_when_it_is_the_same_file(tmp_path: Path) -> None:
    """Issue 9: configs of other names overwrote each other's resources/<filename>. The archive's
    folder is its MD5: the same file is shared, another file gets its own path."""
    other_name = tmp_path / "other-name.yaml"
    other_name.write_text("name: other\n")
    other_file = tmp_path / "other-file.yaml"
    other_file.write_text("name: third\ndata: {md5: 0123456789abcdef0123456789abcdef}\n")

    def archive(*configfiles: Path) -> str:
        files = [str(DEMO), *map(str, configfiles)]
        result = run("-n", "--cores", "1", "--configfile", *files, cwd=tmp_path, env=None)
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        return re.search(r"output: (resources/\S+\.zip)", output)[1]

    demo = archive()
    assert demo == DEMO_ARCHIVE
    assert archive(other_name) == demo
    assert (
        archive(other_file) == "resources/0123456789abcdef0123456789abcdef/tiny-imagenet-demo.zip"
    )
