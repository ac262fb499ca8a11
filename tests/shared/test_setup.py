"""scripts/setup.sh installs with uv from the package sources pip is configured with
(scripts/pip_indexes.py): a machine whose pip takes torch from a local index must give uv the
same index, or uv would download another torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "pip_indexes.py"


def run(env: dict[str, str]) -> list[str]:
    # PIP_CONFIG_FILE=os.devnull: pip reads no configuration file, only the PIP_* variables.
    base = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**base, "PIP_CONFIG_FILE": os.devnull, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_no_pip_configuration_gives_uv_no_arguments():
    assert run({}) == []


def test_pip_variables_become_uv_arguments_each_value_its_own():
    args = run(
        {
            "PIP_INDEX_URL": "https://mirror.example/simple",
            "PIP_EXTRA_INDEX_URL": "file:///opt/a/simple file:///opt/b/simple",
            "PIP_FIND_LINKS": "/opt/wheels",
            "PIP_CONSTRAINT": "/etc/caps.txt",
            "PIP_CERT": "/etc/ssl/ca.pem",  # not a package source: uv is not given it
        }
    )
    pairs = list(zip(args[::2], args[1::2], strict=True))
    assert sorted(pairs) == sorted(
        [
            ("--index-url", "https://mirror.example/simple"),
            ("--extra-index-url", "file:///opt/a/simple"),
            ("--extra-index-url", "file:///opt/b/simple"),
            ("--find-links", "/opt/wheels"),
            ("--constraint", "/etc/caps.txt"),
        ]
    )
    # The extra indexes keep pip's order (uv prefers the first on a tie).
    extra = [v for k, v in pairs if k == "--extra-index-url"]
    assert extra == ["file:///opt/a/simple", "file:///opt/b/simple"]


def test_a_variable_overrides_the_configuration_files(tmp_path: Path):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nfind-links = /from/file\nextra-index-url = file:///file/simple\n")
    args = run({"PIP_CONFIG_FILE": str(conf), "PIP_FIND_LINKS": "/from/env"})
    assert "/from/env" in args and "/from/file" not in args
    assert args[args.index("--extra-index-url") + 1] == "file:///file/simple"
