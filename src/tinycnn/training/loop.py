"""One step, one epoch, one evaluation, and the state a run carries between them.

Read it like torchvision's ``references/classification/train.py``: :func:`train_step` is one
optimizer step, :func:`train_one_epoch` one pass over the training view, :func:`evaluate` one
over the validation images. :class:`Numerics` says how a step computes (precision, layout,
compile), :class:`RunState` is everything a resumed run needs, saved as one checkpoint dict,
and :func:`new_run_state` builds it from the recipe's registries (model, optimizer, schedule,
loss)."""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from tinycnn.data.augment import (
    FixedTrainData,
    OnlineTrainData,
    normalize,
)
from tinycnn.training import recipe
from tinycnn.training.models import build_model

# Steps between NaN checks, per device type. A check forces a device sync, so on a GPU it runs
# every 25 steps; the CPU has nothing to overlap and checks every step.
CHECK_EVERY = {"cpu": 1}


CHECK_EVERY_OTHER = 25


class NonFiniteLoss(Exception):
    """Raised by :func:`train_one_epoch` at the first check after a NaN or infinite loss."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"the training loss became {loss} in epoch {epoch} at step {step}")
        self.epoch, self.step, self.loss = epoch, step, loss


class StopFlag:
    """Turns SIGTERM, SIGUSR1 (SLURM's warning) and SIGINT (Ctrl-C) into a flag the loop checks
    between steps."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None

    def _handle(self, signum: int, _frame: object) -> None:
        self.signum = signum

    @contextmanager
    def installed(self) -> Iterator[StopFlag]:
        previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        try:
            yield self
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)


@dataclass(frozen=True)
class Numerics:
    """How a step computes: the autocast dtype (None: plain fp32), the memory format, and the
    torch.compile mode of the steps ("none": eager)."""

    autocast: torch.dtype | None
    channels_last: bool
    compile: str = "none"


def default_numerics(
    device: torch.device, precision: str = "auto", compile: str = "auto"
) -> Numerics:
    """The settings' ``precision`` and ``compile`` on ``device`` (benchmarks/RESULTS.md has the
    measurements behind each choice).

    - ``precision: auto``: bf16 autocast on CUDA (bf16 keeps fp32's range, so no loss scaling is
      needed), fp32 elsewhere; ``fp32`` or ``bf16`` force it.
    - The layout: channels_last on CUDA and the CPU, where it measured faster for these models
      (CPU: 1.4-1.6x for M1); contiguous on MPS (never measured).
    - ``compile: auto``: ``reduce-overhead`` (torch.compile plus CUDA-graph replay) on CUDA,
      1.7-4.2x eager fp32 for every model on an H200 after 6-121 s of compiling; ``none``
      elsewhere, where no gain was measured. A mode forces it.
    """
    channels_last = device.type in ("cuda", "cpu")
    autocast = None
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        autocast = torch.bfloat16
    if compile == "auto":
        compile = "reduce-overhead" if device.type == "cuda" else "none"
    return Numerics(autocast, channels_last, compile)


def run_numerics(settings: Mapping[str, Any], device: torch.device) -> Numerics:
    """The numerics of a run with ``settings`` on ``device`` (their precision and compile)."""
    return default_numerics(
        device, settings.get("precision", "auto"), settings.get("compile", "auto")
    )


def describe_numerics(numerics: Numerics, with_compile: bool = True) -> str:
    """In words, for logs, checkpoints and the summary: "bf16 autocast, channels_last", plus
    ", torch.compile reduce-overhead" when compiled (``with_compile``)."""
    dtype = "bf16 autocast" if numerics.autocast == torch.bfloat16 else "fp32"
    words = f"{dtype}, {'channels_last' if numerics.channels_last else 'contiguous'}"
    if with_compile and numerics.compile != "none":
        words += f", torch.compile {numerics.compile}"
    return words


def _autocast(device: torch.device, numerics: Numerics):
    enabled = numerics.autocast is not None
    return torch.autocast(device.type, dtype=numerics.autocast, enabled=enabled)


def _prepare(x: torch.Tensor, norm: Any, numerics: Numerics) -> torch.Tensor:
    """uint8 batch -> the float input of the model (normalized when the sets say so)."""
    x = normalize(x, *norm) if norm is not None else x.float().div_(255)
    if numerics.channels_last:
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    norm: Any,
    numerics: Numerics,
    loss_fn: Callable[..., torch.Tensor] = F.cross_entropy,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a uint8 batch; the loss (``loss_fn``, in fp32) and logits,
    detached, on the device."""
    x = _prepare(x, norm, numerics)
    with _autocast(x.device, numerics):
        logits = model(x)
        loss = loss_fn(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


@dataclass
class EpochTotals:
    """Running sums of the epoch in progress; a mid-epoch checkpoint keeps them."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    seconds: float = 0.0  # training time, validation excluded
    lr: float | None = None  # the rate of the epoch's first batch (metrics.csv's lr)


@dataclass
class RunState:
    """Everything a resumed run needs, saved and restored as a whole (one checkpoint dict)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # a torch LR scheduler, or None for a constant rate
    device: torch.device
    numerics: Numerics
    step_model: nn.Module  # what steps and validation call: the model, or its compiled form
    loss: Callable[..., torch.Tensor] = F.cross_entropy  # the training loss (recipe.LOSSES)
    per_step: bool = False  # the scheduler steps after every batch, not every epoch
    epoch: int = 1  # the epoch in progress, from 1
    step: int = 0  # batches of it done
    partial: EpochTotals | None = None  # its running sums when stopped mid-epoch
    metrics: list[dict[str, Any]] = field(default_factory=list)  # one row per finished epoch

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    def where(self) -> str:
        """Where a checkpoint of this state stopped, in words."""
        if self.step:
            return f"epoch {self.epoch}, step {self.step}"
        return f"end of epoch {self.epoch - 1}"

    def end_step(self) -> None:
        """After every batch: a per-batch schedule moves on (its state counts the batches)."""
        if self.per_step:
            self.scheduler.step()

    def end_epoch(self, row: Mapping[str, Any]) -> None:
        self.metrics.append(dict(row))
        if self.scheduler is not None and not self.per_step:
            self.scheduler.step()
        self.epoch, self.step, self.partial = self.epoch + 1, 0, None

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else {},
            "rng": _rng_state(self.device),
            "metrics": self.metrics,
            "epoch": self.epoch,
            "step": self.step,
            "partial": vars(self.partial) if self.partial is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"], self.device)
        self.metrics = list(state["metrics"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.partial = EpochTotals(**state["partial"]) if state["partial"] else None


def train_one_epoch(
    state: RunState,
    train: FixedTrainData | OnlineTrainData,
    norm: Any,
    batch_size: int,
    stop: StopFlag,
    *,
    epochs: int,
    progress: bool = True,
) -> EpochTotals | None:
    """Train over the rest of epoch ``state.epoch`` from batch ``state.step``.

    Returns the epoch's totals, or None when a signal stopped it: ``state.step`` and
    ``state.partial`` then say where. Raises :class:`NonFiniteLoss` at the first check after
    a NaN or infinite loss; the state is never positioned past an unchecked step.
    """
    model, device = state.model, state.device
    model.train()
    totals = state.partial or EpochTotals(lr=state.lr)
    loss_sum = torch.tensor(totals.loss, device=device, dtype=torch.float64)
    correct = torch.tensor(totals.correct, device=device, dtype=torch.int64)
    seen = totals.seen
    steps = math.ceil(len(train) / batch_size)
    check_every = CHECK_EVERY.get(device.type, CHECK_EVERY_OTHER)
    bar = tqdm(
        total=steps,
        initial=state.step,
        desc=f"epoch {state.epoch}/{epochs}",
        unit="batch",
        file=sys.stderr,
        disable=not progress,
        mininterval=0.5 if sys.stderr.isatty() else 30.0,
    )
    # The first non-finite loss is kept on the device, so the message can name its step
    # even when the check runs only every few steps.
    bad_step = torch.full((), -1, device=device, dtype=torch.int64)
    bad_loss = torch.zeros((), device=device)
    started = time.perf_counter()

    def so_far() -> EpochTotals:
        seconds = totals.seconds + time.perf_counter() - started
        return EpochTotals(loss_sum.item(), correct.item(), seen, seconds, totals.lr)

    # Resumed mid-epoch: the same order, from the first batch not yet done.
    batches = train.batches(state.epoch, batch_size, start=state.step)
    for s, (x, y) in enumerate(batches, start=state.step):
        loss, logits = train_step(
            state.step_model, state.optimizer, x, y, norm, state.numerics, state.loss
        )
        state.end_step()
        loss_sum += loss.double() * len(y)
        correct += (logits.argmax(1) == y).sum()
        seen += len(y)
        bar.update()
        bad = ~torch.isfinite(loss) & (bad_step < 0)
        bad_step = torch.where(bad, s + 1, bad_step)
        bad_loss = torch.where(bad, loss.float(), bad_loss)
        # A signal checks too: a state that has not passed the check is never saved.
        stopping = stop.signum is not None
        if ((s + 1) % check_every == 0 or s + 1 == steps or stopping) and bad_step.item() >= 0:
            bar.close()
            raise NonFiniteLoss(state.epoch, int(bad_step.item()), bad_loss.item())
        if stopping:
            bar.close()
            state.step, state.partial = s + 1, so_far()
            return None
    bar.close()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return so_far()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    norm: Any,
    batch_size: int,
    device: torch.device,
    numerics: Numerics | None = None,
) -> tuple[float, float, float]:
    """Validation loss, top-1 and top-5 accuracy (percent)."""
    numerics = numerics or default_numerics(device)
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    top1 = torch.zeros((), device=device, dtype=torch.int64)
    top5 = torch.zeros((), device=device, dtype=torch.int64)
    for start in range(0, len(labels), batch_size):
        x = _prepare(images[start : start + batch_size], norm, numerics)
        y = labels[start : start + batch_size]
        with _autocast(device, numerics):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        best = logits.topk(min(5, logits.shape[1]), dim=1).indices
        top1 += (best[:, 0] == y).sum()
        top5 += (best == y[:, None]).any(dim=1).sum()
    n = len(labels)
    return loss_sum.item() / n, 100.0 * top1.item() / n, 100.0 * top5.item() / n


def build_optimizer(
    model: nn.Module, settings: Mapping[str, Any], steps_per_epoch: int
) -> tuple[torch.optim.Optimizer, Any]:
    """The optimizer and schedule (None: a constant rate) that the settings name; a schedule
    that steps per batch learns the run's length here (``steps_per_epoch`` x ``epochs``)."""
    optimizer = recipe.part("optimizer", settings["optimizer"]).build(
        model.parameters(), settings["optimizer"]
    )
    sched = settings.get("scheduler")
    scheduler = None
    if sched is not None:
        scheduler = recipe.part("scheduler", sched).build(
            optimizer, sched, steps_per_epoch, settings["epochs"]
        )
    return optimizer, scheduler


def build_loss(settings: Mapping[str, Any]) -> Callable[..., torch.Tensor]:
    """The training loss the settings name; absent (the paper's runs): plain cross-entropy."""
    spec = settings.get("loss") or recipe.DEFAULT_LOSS
    return recipe.part("loss", spec).build(spec)


def new_run_state(
    settings: Mapping[str, Any],
    num_classes: int,
    device: torch.device,
    numerics: Numerics | None = None,
    steps_per_epoch: int = 1,
) -> RunState:
    """A freshly initialized model (from torch's global RNG) with its optimizer, schedule and
    loss; compiled for the steps when the numerics name a torch.compile mode. A schedule that
    steps per batch needs the epoch's number of batches (``steps_per_epoch``)."""
    numerics = numerics or run_numerics(settings, device)
    model = build_model(settings["arch"], num_classes=num_classes).to(device)
    if numerics.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer, scheduler = build_optimizer(model, settings, steps_per_epoch)
    per_step = scheduler is not None and recipe.part("scheduler", settings["scheduler"]).interval
    # The compiled module shares the model's parameters; checkpoints save the model itself.
    mode = numerics.compile
    step_model = torch.compile(model, mode=mode) if mode != "none" else model
    return RunState(
        model,
        optimizer,
        scheduler,
        device,
        numerics,
        step_model,
        loss=build_loss(settings),
        per_step=per_step == "step",
    )


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
