"""Divergence: a NaN or infinite loss, or an epoch whose losses exploded, stops the run with
one message naming where, and keeps the last good checkpoint and nothing of that epoch.
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from demo_runs import (
    EXPERIMENT,
    SMALL,
    cli_command,
    experiment,
    patch_training_loss,
    run,
    signal_at,
)

import tinycnn.training.loop as loop_mod
from tinycnn.shared.errors import UserError
from tinycnn.training.train import Diverged

pytestmark = pytest.mark.usefixtures("_restore_torch_threads")


# --- divergence ----------------------------------------------------------------------------------


def test_non_finite_loss_stops_with_the_epoch_and_step_and_keeps_the_last_checkpoint(
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exp = experiment(demo_config, **SMALL)  # 400 images, batch 64: 7 steps an epoch
    calls = []

    def cross_entropy(logits: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        loss = F.cross_entropy(logits, target, **kwargs)
        if "reduction" not in kwargs:  # a training step (validation sums)
            calls.append(1)
            if len(calls) == 7 + 3:  # epoch 2, step 3
                return loss + float("inf")
        return loss

    patch_training_loss(monkeypatch, cross_entropy)
    with pytest.raises(Diverged) as info:
        run(exp, 0, demo, tmp_path)
    ckpt = tmp_path / "ckpt.pt"
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert message.startswith(
        f"{EXPERIMENT} seed 0: the training loss became inf in epoch 2 at step 3; stopped."
    ), message
    assert f"(end of epoch 1) stays at {ckpt}" in message
    assert "Lower optimizer.lr" in message
    assert len(calls) == 10, "stopped at the first non-finite loss"
    state = torch.load(ckpt, weights_only=True)
    assert (state["epoch"], state["step"], len(state["metrics"])) == (2, 0, 1)
    assert all(torch.isfinite(t).all() for t in state["model"].values())
    out = tmp_path / "out"
    assert not (out / "summary.json").exists() and not (out / "model.pt").exists()


def test_divergence_after_a_mid_epoch_resume_names_that_checkpoint(
    interrupted: tuple[dict[str, Any], Path],
    demo: SimpleNamespace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exp, ckpt = interrupted  # stopped after step 2 of epoch 1
    before = ckpt.read_bytes()

    def cross_entropy(logits: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return F.cross_entropy(logits, target, **kwargs) * float("nan")

    patch_training_loss(monkeypatch, cross_entropy)
    with pytest.raises(Diverged) as info:
        run(exp, 0, demo, tmp_path)
    assert str(info.value) == (
        f"{EXPERIMENT} seed 0: the training loss became nan in epoch 1 at step 3; stopped. "
        f"The last good checkpoint (epoch 1, step 2) stays at {ckpt}. Lower optimizer.lr for "
        "this experiment, then delete the checkpoint and run again."
    )
    assert ckpt.read_bytes() == before


def test_cli_reports_divergence_as_an_error_without_traceback(
    demo: SimpleNamespace, demo_config: dict[str, Any], tmp_path: Path
) -> None:
    """A learning rate of 1e10 makes the loss NaN within the first steps of epoch 1."""
    exp = experiment(demo_config, **SMALL, optimizer={"lr": 1e10})
    result = subprocess.run(
        cli_command(exp, 0, demo, tmp_path), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert re.match(
        rf"error: {EXPERIMENT} seed 0: the training loss became (nan|inf|-inf) in epoch 1 "
        r"at step \d+; stopped\.",
        errors[0],
    ), errors[0]
    # Nothing was checkpointed yet: the message must not point at a checkpoint that is not there.
    assert not (tmp_path / "ckpt.pt").exists()
    assert "No checkpoint was written" in errors[0], errors[0]
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize(
    ("where", "offset", "said"),
    [
        # A finite training loss far past a uniform guess's (ln 10 = 2.30 on the demo digits).
        ("train", 1e4, r"the training loss exploded to 1e\+04 in epoch 1 \(a uniform guess "
         r"scores 2\.30\)"),
        ("validation", float("nan"), r"the validation loss became nan in epoch 1"),
        ("validation", float("inf"), r"the validation loss became inf in epoch 1"),
    ],
    ids=["exploded-training-loss", "nan-validation-loss", "inf-validation-loss"],
)  # fmt: skip
def test_a_diverged_epoch_fails_the_run_and_keeps_nothing_of_it(
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
    offset: float,
    said: str,
) -> None:
    """Losses that left the numbers behind without a NaN in training (seen with lr 1e6: a
    training loss of 7.7e22, a validation loss of NaN) fail the run with the divergence message:
    no metrics row, no checkpoint of that epoch, no summary."""
    exp = experiment(demo_config, **SMALL)

    def cross_entropy(logits: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        loss = F.cross_entropy(logits, target, **kwargs)
        validating = "reduction" in kwargs
        return loss + offset if validating == (where == "validation") else loss

    patch_training_loss(monkeypatch, cross_entropy)
    with pytest.raises(Diverged, match=rf"^{EXPERIMENT} seed 0: {said}; stopped\. No checkpoint"):
        run(exp, 0, demo, tmp_path)
    assert not (tmp_path / "ckpt.pt").exists() and not (tmp_path / "ckpt.metrics.csv").exists()
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_signal_before_the_nan_check_never_saves_unchecked_weights(
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The GPU's every-25-steps check, on the CPU: a NaN at step 2 of epoch 2 and a SIGTERM
    after step 3, both before the next regular check. The stop checks first: the run diverges
    and the checkpoint on disk stays the last good one (end of epoch 1)."""
    monkeypatch.setattr(loop_mod, "CHECK_EVERY", {"cpu": 25})
    exp = experiment(demo_config, **SMALL)  # 7 steps an epoch: only the epoch's end checks
    calls = []

    def cross_entropy(logits: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        loss = F.cross_entropy(logits, target, **kwargs)
        if "reduction" not in kwargs:
            calls.append(1)
            if len(calls) == 7 + 2:
                return loss * float("nan")
        return loss

    patch_training_loss(monkeypatch, cross_entropy)
    signal_at(monkeypatch, epoch=2, step=3, signum=signal.SIGTERM)
    with pytest.raises(Diverged) as info:
        run(exp, 0, demo, tmp_path)
    assert "in epoch 2 at step 2" in str(info.value)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (2, 0)
    assert all(torch.isfinite(t).all() for t in state["model"].values())
