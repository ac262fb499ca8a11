"""Shared by tests/training/test_train_*.py: runs of the demo data, and their helpers.

Runs train M1 on the packed demo archive (presets/demo, real handwritten digits, 10 classes),
mostly on a few images per class, with one torch thread so that results are reproducible and
the suite stays fast on two shared cores. Interruption tests run ``python -m tinycnn train``
as the Snakemake rule does and compare with a run that was never interrupted.

The fixtures (the demo data, the reference runs) are tests/training/conftest.py's; a test
module imports the rest from here, and tests/conftest.py registers this module for pytest's
assert rewriting.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import tinycnn.training.loop as loop_mod
from tinycnn.config.merge import deep_merge
from tinycnn.config.resolve import training_settings
from tinycnn.training.train import train_run

ROOT = Path(__file__).resolve().parents[2]
DEMO_ARCHIVE = ROOT / "presets" / "demo" / "tiny-imagenet-demo.zip"
EXPERIMENT = "m1_lr1e-3"  # M1, RAdam lr 1e-3, batch 64 (demo preset), set1 + set2 fixed
NUM_CLASSES = 10
TIMING = ("epoch_seconds", "images_per_second")  # differ from run to run
# Small runs: 20 training images a class (400 an epoch with both sets), 10 validation each.
SMALL = {"epochs": 2, "subset": {"train_per_class": 20, "val_per_class": 10}}
# Runs the interruption tests kill: 1,600 images an epoch, about 2 s on one CPU thread, so a
# signal sent a quarter of an epoch after epoch 2 starts lands mid-epoch.
LONG = {"epochs": 2, "subset": {"train_per_class": 80, "val_per_class": 10}}
# Every image of the demo archive (140 a class, 30 to validate), whatever the demo preset cuts.
ALL_IMAGES = {"subset": {"train_per_class": None, "val_per_class": None}}


# The CUDA case of a test that also runs on the CPU: selected by `-m gpu`, skipped without CUDA.
CUDA = pytest.param(
    "cuda",
    marks=[
        pytest.mark.gpu,
        pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    ],
)


def experiment(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The resolved settings of EXPERIMENT (what the rule passes as --settings) with changes."""
    return deep_merge(training_settings(config, EXPERIMENT), changes)


def run(
    exp: dict[str, Any], seed: int, data: SimpleNamespace, where: Path, **kwargs: Any
) -> dict[str, Any]:
    """train_run on the demo data into where/out with checkpoint where/ckpt.pt, one thread."""
    return train_run(
        exp,
        seed,
        data.packed,
        data.augmented,
        where / "out",
        where / "ckpt.pt",
        threads=1,
        progress=False,
        **kwargs,
    )


def read_metrics(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def untimed(out: Path) -> list[dict[str, str]]:
    """metrics.csv without the timing columns: what must match between equivalent runs."""
    return [{k: v for k, v in row.items() if k not in TIMING} for row in read_metrics(out)]


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "model.pt", map_location="cpu", weights_only=True)


def same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def patch_training_loss(monkeypatch: pytest.MonkeyPatch, loss: Callable[..., torch.Tensor]) -> None:
    """Train with ``loss`` (the settings' loss, as ``build_loss`` returns it), and validate with
    it too (train.F: validation sums with reduction="sum")."""
    monkeypatch.setattr(loop_mod, "build_loss", lambda settings: loss)
    monkeypatch.setattr(loop_mod, "F", SimpleNamespace(cross_entropy=loss))


def signal_at(monkeypatch: pytest.MonkeyPatch, epoch: int, step: int, signum: int) -> None:
    """Send ``signum`` to this process right after training step ``step`` of ``epoch``.

    The progress bar is replaced by one that counts steps (train_run updates it once a step).
    """

    class Bar:
        def __init__(self, *args: Any, desc: str, initial: int = 0, **kwargs: Any) -> None:
            self.epoch = int(re.fullmatch(r"epoch (\d+)/\d+", desc)[1])
            self.n = initial

        def update(self) -> None:
            self.n += 1
            if (self.epoch, self.n) == (epoch, step):
                os.kill(os.getpid(), signum)

        def close(self) -> None:
            pass

    monkeypatch.setattr(loop_mod, "tqdm", Bar)


def cli_command(exp: dict[str, Any], seed: int, data: SimpleNamespace, where: Path) -> list[str]:
    """`tinycnn train` as workflow/rules/train.smk calls it (one thread here), with the settings
    written to where/settings.json as the rule `settings` writes them."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "settings.json").write_text(json.dumps(exp, sort_keys=True, indent=2))
    return [
        sys.executable,
        "-m",
        "tinycnn",
        "train",
        "--settings",
        str(where / "settings.json"),
        "--seed",
        str(seed),
        "--data",
        str(data.packed),
        *(f"--augmented={name}={path}" for name, path in data.augmented.items()),
        "--out",
        str(where / "out"),
        "--checkpoint",
        str(where / "ckpt.pt"),
        "--threads",
        "1",
    ]


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, log: Path, timeout: float):
    """Poll ``condition`` until true; fail (killing ``proc``) if it exits first or times out."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"training exited early ({proc.returncode}):\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"timed out after {timeout} s:\n{log.read_text()}")
        time.sleep(0.02)


def start_and_reach_epoch_2(
    cmd: list[str], where: Path, log_name: str = "first.log"
) -> tuple[subprocess.Popen, Path]:
    """Start the CLI; return once epoch 1 is checkpointed and epoch 2 is a quarter done."""
    log = where / log_name
    with open(log, "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    # The progress metrics beside the checkpoint are written right after the end-of-epoch
    # checkpoint: epoch 2 has started. metrics.csv itself waits for the finished run.
    progress = where / "ckpt.metrics.csv"
    wait_for(progress.exists, proc, log, timeout=120)
    assert (where / "ckpt.pt").exists()
    assert not (where / "out" / "metrics.csv").exists(), "no partial metrics.csv"
    with open(progress, newline="") as fh:
        epoch_seconds = float(next(csv.DictReader(fh))["epoch_seconds"])
    time.sleep(epoch_seconds / 4)
    assert proc.poll() is None, log.read_text()
    return proc, log


def rerun(cmd: list[str], where: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


# The recipe beyond the paper (presets/modern.yaml), with values unlike torch's defaults.
MODERN = {
    "optimizer": {
        "name": "SGD",
        "lr": 0.05,
        "momentum": 0.8,
        "nesterov": True,
        "weight_decay": 3e-4,
    },
    "scheduler": {"name": "warmup_cosine", "warmup_epochs": 0.5, "final_factor": 0.1},
    "loss": {"name": "cross_entropy", "label_smoothing": 0.2},
}


def modern_experiment(config: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """EXPERIMENT with the modern recipe in place of the paper's (the optimizer replaced whole,
    as the config's merge does when another optimizer is named), online draws of set 1."""
    exp = experiment(config, **changes, augmentation={"sets": ["set1"], "mode": "online"})
    return {**exp, **MODERN}
