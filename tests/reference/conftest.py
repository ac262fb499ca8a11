"""The reference tests' shared fixture: ``records``, the records file of the runner over the
demo archive (M1's run 1 fits its budget, AlexNet's does not).

Session-scoped (module-scoped while its tests were one module): it trains M1 on the CPU for
about half a minute, once for every test module that reads it; the tests only read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from demo_records import CPU_RATES, DEMO_ARCHIVE, DEMO_CONFIG, run_reference


@pytest.fixture(scope="session")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runner over the demo archive: M1's run 1 fits its budget, AlexNet's does not."""
    tmp = tmp_path_factory.mktemp("runner")
    rates = tmp / "rates.json"
    rates.write_text(json.dumps({"cpu": CPU_RATES}))
    out = tmp / "records.tar.gz"
    code = run_reference(
        [
            "--archive", str(DEMO_ARCHIVE),
            "--work", str(tmp / "work"),
            "--out", str(out),
            "--budget", "900",
            "--commit", "0123456789abcdef0123456789abcdef01234567",
            "--config", *DEMO_CONFIG,
            "--rates", str(rates),
            "--reference", str(tmp / "empty"),
            "--only", "m1_set1:0", "alexnet:0",
        ]
    )  # fmt: skip
    assert code == 0
    return out
