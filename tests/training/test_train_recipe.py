"""The recipe a run trains with: every setting of the optimizer, the schedule and the loss
reaches its part; precision and compile are applied and recorded.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from demo_runs import (
    ALL_IMAGES,
    NUM_CLASSES,
    SMALL,
    experiment,
    modern_experiment,
    run,
    weights,
)

import tinycnn.training.loop as loop_mod
from tinycnn.config.resolve import training_settings
from tinycnn.training import recipe
from tinycnn.training.models import build_model

pytestmark = pytest.mark.usefixtures("_restore_torch_threads")


# --- optimizer, schedule, loss -------------------------------------------------------------------


def test_optimizer_and_scheduler_take_every_setting(demo_config: dict[str, Any]) -> None:
    """The optimizer gets the settings' learning rate, betas, eps and weight decay (as L2, not
    decoupled), for every parameter of the model; the scheduler its step size and gamma. The
    values differ from torch's defaults, so a setting dropped on the way fails."""
    opt = {"lr": 2.5e-4, "betas": [0.8, 0.95], "eps": 1e-6, "weight_decay": 3e-4}
    sched = {"name": "StepLR", "step_size": 5, "gamma": 0.3}
    exp = experiment(demo_config, optimizer=opt, scheduler=sched)
    torch.manual_seed(0)
    state = loop_mod.new_run_state(exp, NUM_CLASSES, torch.device("cpu"))
    assert type(state.optimizer) is torch.optim.RAdam
    (group,) = state.optimizer.param_groups
    assert group["lr"] == 2.5e-4 and tuple(group["betas"]) == (0.8, 0.95)
    assert group["eps"] == 1e-6 and group["weight_decay"] == 3e-4
    assert group["decoupled_weight_decay"] is False
    assert [id(p) for p in group["params"]] == [id(p) for p in state.model.parameters()]
    assert type(state.scheduler) is torch.optim.lr_scheduler.StepLR
    assert (state.scheduler.step_size, state.scheduler.gamma) == (5, 0.3)
    assert state.scheduler.base_lrs == [2.5e-4]

    # Every experiment of the config, through build_optimizer: its own recipe, no scheduler
    # where it names none.
    for name in demo_config["experiments"]:
        settings = training_settings(demo_config, name)
        optimizer, scheduler = loop_mod.build_optimizer(torch.nn.Linear(2, 2), settings, 1)
        (group,) = optimizer.param_groups
        recorded = settings["optimizer"]
        assert group["lr"] == recorded["lr"], name
        assert list(group["betas"]) == list(recorded["betas"]), name
        assert (group["eps"], group["weight_decay"]) == (recorded["eps"], recorded["weight_decay"])
        if settings["scheduler"] is None:
            assert scheduler is None, name
        else:
            steps = (scheduler.step_size, scheduler.gamma)
            assert steps == (settings["scheduler"]["step_size"], settings["scheduler"]["gamma"])


def test_sgd_adamw_warmup_cosine_and_label_smoothing_take_every_setting(
    demo_config: dict[str, Any],
) -> None:
    """Each new part of the recipe gets every setting: SGD its momentum, Nesterov flag and
    weight decay; AdamW its betas, eps and decoupled weight decay; warmup_cosine follows its
    closed form batch by batch from the warm-up to the final factor; the loss smooths labels."""
    torch.manual_seed(0)
    state = loop_mod.new_run_state(
        modern_experiment(demo_config), NUM_CLASSES, torch.device("cpu"), steps_per_epoch=4
    )
    assert type(state.optimizer) is torch.optim.SGD and state.per_step
    (group,) = state.optimizer.param_groups
    assert (group["momentum"], group["nesterov"], group["weight_decay"]) == (0.8, True, 3e-4)
    # 0.5 epochs of 4 batches: a warm-up of 2 batches, then cosine to the last of the run's.
    total = 4 * modern_experiment(demo_config)["epochs"]
    rates = []
    for _ in range(total):
        rates.append(state.lr)
        state.optimizer.step()  # no gradients: changes nothing, but comes first, as in training
        state.end_step()
    factors = [recipe.warmup_cosine_factor(k, 2, total, 0.1) for k in range(total)]
    assert rates == pytest.approx([0.05 * f for f in factors], rel=1e-12)
    assert rates[:3] == pytest.approx([0.025, 0.05, 0.05])  # warm-up, then the peak
    assert state.lr == pytest.approx(0.05 * 0.1)  # the final factor after the last batch
    assert rates == sorted(rates[:2]) + sorted(rates[2:], reverse=True)
    state.end_epoch({"epoch": 1})  # a per-batch schedule does not step at the epoch's end
    assert state.lr == pytest.approx(0.05 * 0.1)

    logits, labels = torch.randn(8, NUM_CLASSES), torch.arange(8)
    expected = F.cross_entropy(logits, labels, label_smoothing=0.2)
    assert torch.equal(state.loss(logits, labels), expected)
    assert not torch.equal(expected, F.cross_entropy(logits, labels))
    plain = loop_mod.new_run_state(experiment(demo_config), NUM_CLASSES, torch.device("cpu"))
    assert torch.equal(plain.loss(logits, labels), F.cross_entropy(logits, labels))
    assert not plain.per_step

    adamw = {"name": "AdamW", "lr": 3e-4, "betas": [0.85, 0.99], "eps": 1e-7, "weight_decay": 0.05}
    exp = {**experiment(demo_config), "optimizer": adamw}
    optimizer, scheduler = loop_mod.build_optimizer(torch.nn.Linear(2, 2), exp, 1)
    (group,) = optimizer.param_groups
    assert type(optimizer) is torch.optim.AdamW and scheduler is None
    assert (group["lr"], tuple(group["betas"]), group["eps"]) == (3e-4, (0.85, 0.99), 1e-7)
    assert group["weight_decay"] == 0.05 and group["decoupled_weight_decay"] is True


# --- precision and compile (issue 10) ------------------------------------------------------------


@pytest.mark.parametrize(("precision", "numerics"), [("auto", "fp32"), ("bf16", "bf16 autocast")])
def test_precision_setting_is_applied_and_recorded(
    precision: str,
    numerics: str,
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen = []
    step = loop_mod.train_step

    def recording(model, optimizer, x, y, norm, numbers, loss_fn):
        seen.append(numbers)
        return step(model, optimizer, x, y, norm, numbers, loss_fn)

    monkeypatch.setattr(loop_mod, "train_step", recording)
    exp = experiment(demo_config, **{**SMALL, "epochs": 1}, precision=precision)
    summary = run(exp, 0, demo, tmp_path)
    assert summary["precision"] == f"{numerics}, channels_last" and summary["compile"] == "none"
    expected = torch.bfloat16 if precision == "bf16" else None
    assert seen and {n.autocast for n in seen} == {expected}
    assert {(n.channels_last, n.compile) for n in seen} == {(True, "none")}


@pytest.mark.parametrize(
    ("device", "precision", "compile", "expected"),
    [
        ("cpu", "auto", "auto", (None, True, "none")),
        ("cuda", "auto", "auto", (torch.bfloat16, True, "reduce-overhead")),
        ("mps", "auto", "auto", (None, False, "none")),
        ("cpu", "bf16", "default", (torch.bfloat16, True, "default")),
        ("cuda", "fp32", "none", (None, True, "none")),
    ],
)
def test_auto_numerics_follow_the_device_and_a_setting_forces_them(
    device: str, precision: str, compile: str, expected: tuple
) -> None:
    """What `precision: auto` and `compile: auto` resolve to (benchmarks/RESULTS.md: compiled with
    CUDA graphs on CUDA, channels_last on CUDA and the CPU); a named value wins on any device."""
    numerics = loop_mod.default_numerics(torch.device(device), precision, compile)
    assert (numerics.autocast, numerics.channels_last, numerics.compile) == expected
    words = loop_mod.describe_numerics(numerics)
    assert words.endswith(f", torch.compile {expected[2]}") == (expected[2] != "none")
    assert ", torch.compile" not in loop_mod.describe_numerics(numerics, with_compile=False)


def test_compile_setting_steps_the_compiled_model_and_saves_the_model(
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """torch.compile stood in for by a wrapper (a real compile takes minutes on two cores; the
    GPU test below compiles for real): the steps call it, the checkpoint saves the model."""
    calls: list[str] = []

    class Compiled(torch.nn.Module):
        def __init__(self, model: torch.nn.Module, mode: str) -> None:
            super().__init__()
            self.model, self.mode = model, mode

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(self.mode)
            return self.model(x)

    monkeypatch.setattr(loop_mod.torch, "compile", lambda model, mode: Compiled(model, mode))
    exp = experiment(demo_config, **{**SMALL, "epochs": 1}, compile="reduce-overhead")
    summary = run(exp, 0, demo, tmp_path)
    assert summary["compile"] == "reduce-overhead"
    assert calls and set(calls) == {"reduce-overhead"}
    model = build_model("m1", NUM_CLASSES)
    model.load_state_dict(weights(tmp_path / "out"))  # the plain model's keys, no wrapper


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_compiled_cuda_run_learns(
    demo: SimpleNamespace, demo_config: dict[str, Any], tmp_path: Path
) -> None:
    exp = experiment(demo_config, **ALL_IMAGES, epochs=3, device="cuda", compile="reduce-overhead")
    summary = run(exp, 0, demo, tmp_path, lock_dir=tmp_path / "locks")
    assert summary["compile"] == "reduce-overhead" and summary["best_val_acc"] >= 40.0
