"""The message a config is refused with, shared by the config tests (test_config_*.py)."""

from __future__ import annotations

import pytest

from tinycnn.config.checks import validate
from tinycnn.shared.errors import UserError


def _error(config: dict) -> str:
    with pytest.raises(UserError) as info:
        validate(config)
    return str(info.value)
