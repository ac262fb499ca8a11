"""Determinism and resume: the same seed gives the same numbers, and a run interrupted by
SIGKILL, SIGTERM, SIGUSR1 or SIGINT, then run again, ends with the metrics and weights of
a run never interrupted (in-process and through ``python -m tinycnn train``, as the
Snakemake rule runs it).
"""

from __future__ import annotations

import math
import re
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from demo_runs import (
    CUDA,
    EXPERIMENT,
    LONG,
    MODERN,
    NUM_CLASSES,
    SMALL,
    cli_command,
    experiment,
    modern_experiment,
    read_metrics,
    rerun,
    run,
    same_weights,
    signal_at,
    start_and_reach_epoch_2,
    untimed,
    weights,
)

import tinycnn.training.loop as loop_mod
from tinycnn.training import recipe
from tinycnn.training.train import Interrupted

pytestmark = pytest.mark.usefixtures("_restore_torch_threads")


# --- determinism ---------------------------------------------------------------------------------


def test_same_seed_same_numbers_other_seed_differs(
    demo: SimpleNamespace, demo_config: dict[str, Any], small_reference: Path, tmp_path: Path
) -> None:
    exp = experiment(demo_config, **SMALL)
    run(exp, 0, demo, tmp_path / "again")
    run(exp, 1, demo, tmp_path / "seed1")
    again, seed1 = tmp_path / "again" / "out", tmp_path / "seed1" / "out"
    assert untimed(again) == untimed(small_reference)
    assert same_weights(weights(again), weights(small_reference))
    reference = untimed(small_reference)
    assert [r["train_loss"] for r in untimed(seed1)] != [r["train_loss"] for r in reference]
    assert not same_weights(weights(seed1), weights(small_reference))


# --- interruption and resume ---------------------------------------------------------------------


def test_resume_after_sigkill_mid_epoch_matches_uninterrupted_run(
    demo: SimpleNamespace, demo_config: dict[str, Any], long_reference: Path, tmp_path: Path
) -> None:
    cmd = cli_command(experiment(demo_config, **LONG), 0, demo, tmp_path)
    proc, _ = start_and_reach_epoch_2(cmd, tmp_path)
    proc.kill()  # SIGKILL: no handler runs, the end-of-epoch-1 checkpoint is all there is
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not (tmp_path / "out" / "summary.json").exists()
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert (state["epoch"], state["step"], len(state["metrics"])) == (2, 0, 1)

    result = rerun(cmd, tmp_path)
    ckpt = tmp_path / "ckpt.pt"
    assert f"resuming {EXPERIMENT} seed 0 from {ckpt} at epoch 2\n" in result.stderr
    assert untimed(tmp_path / "out") == untimed(long_reference)
    assert same_weights(weights(tmp_path / "out"), weights(long_reference))
    assert not ckpt.exists()


def test_sigterm_mid_epoch_checkpoints_and_resumes_at_that_step(
    demo: SimpleNamespace, demo_config: dict[str, Any], long_reference: Path, tmp_path: Path
) -> None:
    cmd = cli_command(experiment(demo_config, **LONG), 0, demo, tmp_path)
    proc, log = start_and_reach_epoch_2(cmd, tmp_path)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM, log.read_text()
    ckpt = tmp_path / "ckpt.pt"
    message = log.read_text()
    found = re.search(
        r"SIGTERM received in epoch 2 after step (\d+): checkpoint written to "
        rf"{re.escape(str(ckpt))}; run the job again to resume",
        message,
    )
    assert found, message
    assert "Traceback" not in message
    step = int(found[1])
    state = torch.load(ckpt, weights_only=True)
    assert (state["epoch"], state["step"], len(state["metrics"])) == (2, step, 1)
    assert 0 < step < 1600 // 64, "the signal was meant to land mid-epoch"
    assert state["partial"]["seen"] == 64 * step
    assert not (tmp_path / "out" / "summary.json").exists()
    assert not (tmp_path / "out" / "metrics.csv").exists(), "a partial metrics.csv stayed"

    result = rerun(cmd, tmp_path)
    assert f"resuming {EXPERIMENT} seed 0 from {ckpt} at epoch 2, step {step}\n" in result.stderr
    assert untimed(tmp_path / "out") == untimed(long_reference)
    assert same_weights(weights(tmp_path / "out"), weights(long_reference))
    assert not ckpt.exists()


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGINT], ids=["SIGUSR1", "SIGINT"])
def test_sigusr1_and_sigint_checkpoint_at_the_step_and_resume_identically(
    signum: signal.Signals,
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    small_reference: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exp = experiment(demo_config, **SMALL)
    handler = signal.getsignal(signum)
    with monkeypatch.context() as patch:
        signal_at(patch, epoch=2, step=3, signum=signum)
        with pytest.raises(Interrupted) as info:
            run(exp, 0, demo, tmp_path)
    ckpt = tmp_path / "ckpt.pt"
    assert info.value.signum == signum
    assert str(info.value) == (
        f"{signum.name} received in epoch 2 after step 3: checkpoint written to {ckpt}; "
        "run the job again to resume"
    )
    assert signal.getsignal(signum) == handler, "the previous handler is restored"
    assert not (tmp_path / "out" / "metrics.csv").exists(), "no partial metrics.csv"
    state = torch.load(ckpt, weights_only=True)
    assert (state["epoch"], state["step"], state["partial"]["seen"]) == (2, 3, 3 * 64)
    assert [row["epoch"] for row in state["metrics"]] == [1]
    capsys.readouterr()

    run(exp, 0, demo, tmp_path)
    assert f"from {ckpt} at epoch 2, step 3\n" in capsys.readouterr().err
    assert untimed(tmp_path / "out") == untimed(small_reference)
    assert same_weights(weights(tmp_path / "out"), weights(small_reference))


@pytest.mark.parametrize("device", ["cpu", CUDA])
def test_a_per_batch_schedule_resumes_exactly_mid_epoch(
    device: str,
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SGD with Nesterov momentum, warm-up and cosine stepped every batch, label smoothing and
    online draws: stopped after step 3 of epoch 2, the run resumes with the schedule at that
    batch and ends with the metrics and weights of a run never stopped. The lr column is the
    rate of each epoch's first batch. On CUDA (`make gpu-check`): the default numerics there
    (bf16, compiled with CUDA graphs) and cuDNN's deterministic kernels."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    exp = modern_experiment(demo_config, **SMALL, device=device)
    reference = run(exp, 0, demo, tmp_path / "reference", lock_dir=tmp_path / "locks")
    rows = read_metrics(tmp_path / "reference" / "out")
    steps = math.ceil(20 * NUM_CLASSES / 64)  # one set, online: N images an epoch
    warmup, total = round(0.5 * steps), 2 * steps
    expected = [0.05 * recipe.warmup_cosine_factor(e * steps, warmup, total, 0.1) for e in (0, 1)]
    assert [float(r["lr"]) for r in rows] == pytest.approx(expected, rel=1e-12)
    assert reference["resolved"]["loss"] == MODERN["loss"]

    where = tmp_path / "cut"
    with monkeypatch.context() as patch:
        signal_at(patch, epoch=2, step=3, signum=signal.SIGUSR1)
        with pytest.raises(Interrupted):
            run(exp, 0, demo, where, lock_dir=tmp_path / "locks")
    state = torch.load(where / "ckpt.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (2, 3)
    assert state["scheduler"]["last_epoch"] == steps + 3  # batches done, not epochs
    run(exp, 0, demo, where, lock_dir=tmp_path / "locks")
    assert untimed(where / "out") == untimed(tmp_path / "reference" / "out")
    assert same_weights(weights(where / "out"), weights(tmp_path / "reference" / "out"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sigterm_on_cuda_resumes_exactly(
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM mid-epoch on CUDA, with a rate that changes every epoch: the resumed run ends with
    the metrics and weights of a run never interrupted (cuDNN's deterministic kernels, so that
    two uninterrupted runs agree bit for bit first)."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    exp = experiment(
        demo_config,
        **SMALL,
        device="cuda",
        scheduler={"name": "StepLR", "step_size": 1, "gamma": 0.5},
    )
    locks = tmp_path / "locks"
    for name in ("a", "b"):
        run(exp, 0, demo, tmp_path / name, lock_dir=locks)
    a, b = tmp_path / "a" / "out", tmp_path / "b" / "out"
    assert untimed(a) == untimed(b), "two uninterrupted CUDA runs differ: not deterministic"
    assert same_weights(weights(a), weights(b))
    assert [float(r["lr"]) for r in read_metrics(a)] == [1e-3, 5e-4]

    with monkeypatch.context() as patch:
        signal_at(patch, epoch=2, step=3, signum=signal.SIGTERM)
        with pytest.raises(Interrupted):
            run(exp, 0, demo, tmp_path / "cut", lock_dir=locks)
    state = torch.load(tmp_path / "cut" / "ckpt.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (2, 3) and "cuda" in state["rng"]
    run(exp, 0, demo, tmp_path / "cut", lock_dir=locks)
    assert untimed(tmp_path / "cut" / "out") == untimed(a)
    assert same_weights(weights(tmp_path / "cut" / "out"), weights(a))


# --- resume, whatever the run (issue 9) ----------------------------------------------------------


# M1 with a dropout layer before its classifier (cheaper than AlexNet, the paper's one dropout
# model, on two CPU cores), in this process and in the CLI's.
DROPOUT = """
import sys
from collections import OrderedDict
from torch import nn
import tinycnn.training.loop as loop_mod
build = loop_mod.build_model
def with_dropout(arch, num_classes=200):
    *body, head = build(arch, num_classes=num_classes).named_children()
    return nn.Sequential(OrderedDict([*body, ("dropout", nn.Dropout(0.5)), head]))
loop_mod.build_model = with_dropout
"""


def test_dropout_and_an_every_epoch_schedule_resume_exactly_after_sigkill_then_sigterm(
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A dropout model (the RNG state matters) with a rate halved every epoch (the scheduler's
    state matters), killed by SIGKILL in epoch 2 and stopped by SIGTERM in epoch 3, ends with
    the metrics and weights of a run never interrupted."""
    original = loop_mod.build_model
    namespace: dict[str, Any] = {}
    exec(
        DROPOUT, namespace
    )  # replaces tinycnn.training.loop.build_model for good: put it back, then
    loop_mod.build_model = original  # patch it with monkeypatch, which undoes it after the test
    monkeypatch.setattr(loop_mod, "build_model", namespace["with_dropout"])
    exp = experiment(
        demo_config,
        **{**LONG, "epochs": 3},
        scheduler={"name": "StepLR", "step_size": 1, "gamma": 0.5},
    )
    summary = run(exp, 0, demo, tmp_path / "reference")
    reference = tmp_path / "reference" / "out"
    assert [float(r["lr"]) for r in read_metrics(reference)] == [1e-3, 5e-4, 2.5e-4]
    assert "dropout" in [layer["name"] for layer in summary["architecture"]["layers"]]

    where = tmp_path / "cut"
    where.mkdir()
    cmd = cli_command(exp, 0, demo, where)
    cmd[1:3] = ["-c", DROPOUT + "from tinycnn.cli import main\nsys.exit(main(sys.argv[1:]))\n"]
    proc, _ = start_and_reach_epoch_2(cmd, where)
    proc.kill()
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert torch.load(where / "ckpt.pt", weights_only=True)["epoch"] == 2

    with monkeypatch.context() as patch:
        signal_at(patch, epoch=3, step=4, signum=signal.SIGTERM)
        with pytest.raises(Interrupted):
            run(exp, 0, demo, where)
    state = torch.load(where / "ckpt.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (3, 4)
    assert state["scheduler"]["last_epoch"] == 2 and state["scheduler"]["_last_lr"] == [2.5e-4]

    run(exp, 0, demo, where)
    assert untimed(where / "out") == untimed(reference)
    assert same_weights(weights(where / "out"), weights(reference))
    assert not (where / "ckpt.pt").exists() and not (where / "ckpt.metrics.csv").exists()
