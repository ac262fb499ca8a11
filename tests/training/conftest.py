"""The training tests' shared fixtures: the demo data packed and its sets materialized
(``demo``), the config (``demo_config``), uninterrupted runs to compare with
(``small_reference``, ``long_reference``), an interrupted run (``interrupted``), and
``_restore_torch_threads`` (every training test module uses it: ``pytestmark``).

Runs and their helpers are demo_runs.py's.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import yaml
from demo_runs import DEMO_ARCHIVE, LONG, ROOT, SMALL, experiment, run, signal_at

from tinycnn.config.merge import deep_merge
from tinycnn.data.augment import write_augmented
from tinycnn.data.pack import pack_archive
from tinycnn.training.train import Interrupted


@pytest.fixture
def _restore_torch_threads() -> Iterator[None]:
    """train_run sets torch's thread count for the whole process; give other tests theirs back
    (every training test module uses it: ``pytestmark``)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def demo_config() -> dict[str, Any]:
    """config.yaml with presets/demo.yaml on top, as `snakemake --configfile` merges them."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    return deep_merge(config, yaml.safe_load((ROOT / "presets" / "demo.yaml").read_text()))


@pytest.fixture(scope="session")
def demo(demo_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """The demo archive packed, and set1 and set2 materialized as the pipeline does."""
    root = tmp_path_factory.mktemp("demo-train")
    packed = root / "packed"
    pack_archive(DEMO_ARCHIVE, packed, workers=1)
    augmented = {}
    for name in ("set1", "set2"):
        augmented[name] = root / f"{name}.npy"
        write_augmented(
            packed / "train_images.npy",
            demo_config["augmentation"]["sets"][name],
            demo_config["augmentation"]["seed"],
            name,
            augmented[name],
            threads=1,
        )
    return SimpleNamespace(packed=packed, augmented=augmented)


@pytest.fixture(scope="module")
def small_reference(
    demo: SimpleNamespace, demo_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Run folder of an uninterrupted SMALL run, seed 0."""
    where = tmp_path_factory.mktemp("small-reference")
    run(experiment(demo_config, **SMALL), 0, demo, where)
    return where / "out"


@pytest.fixture(scope="module")
def long_reference(
    demo: SimpleNamespace, demo_config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """Run folder of an uninterrupted LONG run, seed 0 (in-process: same numbers as the CLI)."""
    where = tmp_path_factory.mktemp("long-reference")
    run(experiment(demo_config, **LONG), 0, demo, where)
    return where / "out"


@pytest.fixture
def interrupted(
    demo: SimpleNamespace, demo_config: dict[str, Any], tmp_path: Path
) -> tuple[dict[str, Any], Path]:
    """A SMALL run stopped by SIGUSR1 after step 2 of epoch 1: its settings and checkpoint."""
    exp = experiment(demo_config, **SMALL)
    with pytest.MonkeyPatch.context() as patch:
        signal_at(patch, epoch=1, step=2, signum=signal.SIGUSR1)
        with pytest.raises(Interrupted):
            run(exp, 0, demo, tmp_path)
    return exp, tmp_path / "ckpt.pt"
