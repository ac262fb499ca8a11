"""The config tests' shared fixture: ``paper_config``, config.yaml as read (the paper's
configuration, nothing merged over it). A test edits a deep copy of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paper_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())
