"""Shared by every test folder: the helper modules whose asserts pytest rewrites.

Each folder's fixtures are in its own conftest.py, and its helper modules beside its tests; the
helpers of several folders are here (paper_checks.py, rendered_paper.py). A test module imports
a helper by its basename, unique in tests/ as the test modules' are.
"""

from __future__ import annotations

import pytest

# The helper modules that assert, imported by test modules and conftest.py files by their
# basename: registered before their first import, so that their asserts are rewritten as a test
# module's are.
for helper in (
    "paper_checks",  # tests/paper_checks.py: what a reviewer checks of any rendered paper
    "augment_inputs",  # tests/data/augment_inputs.py
    "demo_runs",  # tests/training/demo_runs.py
):
    pytest.register_assert_rewrite(helper)
