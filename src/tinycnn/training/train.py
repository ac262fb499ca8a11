"""Train one experiment with one seed: the loop, metrics, checkpoints and resume.

Read it top to bottom like torchvision's ``references/classification/train.py``:
:func:`train_step` is one optimizer step, :func:`train_one_epoch` one pass over the
training view, :func:`evaluate` one over the validation images, and :func:`train_run`
the run (the checkpoint's check, device, data, :class:`RunState`, the epoch loop,
:func:`write_outputs`). It takes the resolved settings of one experiment (see
:func:`tinycnn.config.resolve.training_settings`) and writes the run folder:

- ``metrics.csv``: one row an epoch (learning rate, training loss and top-1,
  validation loss, top-1 and top-5, epoch seconds, training images per second);
- ``summary.json``: best and final accuracy, parameter count, device, versions,
  wall time, seed and the resolved experiment;
- ``model.pt``: the final weights (a ``state_dict``).

A checkpoint outside the run folder is written atomically after every epoch and
when SIGTERM or SIGUSR1 arrives (SLURM's warnings before a time limit); the next
run of the same job resumes from it (when its :class:`~tinycnn.training.checkpoint.RunKey`
matches: settings and seed, input data, numerics) and ends with the same metrics as
a run that was never interrupted. The checkpoint is removed once the outputs are
written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import platform
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from tinycnn.config.merge import COMBINE_DEFAULT, combine_of
from tinycnn.data.augment import (
    FixedTrainData,
    OnlineTrainData,
    Pipeline,
    normalize,
    parse_set,
    split_samples,
)
from tinycnn.data.pack import load_packed, open_array
from tinycnn.shared.code_version import code_identity
from tinycnn.shared.contract import METRIC_COLUMNS, RUN_DATA_FILES, VALIDATION_FRACTION
from tinycnn.shared.digests import content_id, digest_path, recorded_mismatch
from tinycnn.shared.errors import UserError
from tinycnn.shared.files import atomic_path, check_space, write_json, write_text
from tinycnn.shared.hardware import cpu_model, machine
from tinycnn.training import checkpoint, recipe
from tinycnn.training.gpu_lease import lease_gpu, visible_gpu_uuids
from tinycnn.training.models import architecture_record, build_model, count_parameters

# Steps between NaN checks, per device type. A check forces a device sync, so on a GPU it runs
# every 25 steps; the CPU has nothing to overlap and checks every step.
CHECK_EVERY = {"cpu": 1}
CHECK_EVERY_OTHER = 25


class Interrupted(Exception):
    """A signal asked the run to stop; a checkpoint has been written."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


class Diverged(UserError):
    """The loss became NaN or infinite."""


class NonFiniteLoss(Exception):
    """Raised by :func:`train_one_epoch` at the first check after a NaN or infinite loss."""

    def __init__(self, epoch: int, step: int, loss: float) -> None:
        super().__init__(f"the training loss became {loss} in epoch {epoch} at step {step}")
        self.epoch, self.step, self.loss = epoch, step, loss


# --- device ------------------------------------------------------------------------------------


def device_type(requested: str) -> str:
    """The settings' ``device``, resolved: ``auto`` is CUDA, then MPS, then CPU; a device asked
    for by name must be there."""
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("device: cuda was asked for, but no CUDA device is available")
    if requested == "mps" and not torch.backends.mps.is_available():
        raise UserError("device: mps was asked for, but MPS is not available")
    return requested


def pick_device(requested: str, stack: ExitStack, lock_dir: Path | None = None) -> torch.device:
    """The device of :func:`device_type`; a CUDA device is leased for the run's lifetime."""
    kind = device_type(requested)
    if kind == "cuda":
        lease = stack.enter_context(lease_gpu(visible_gpu_uuids(), lock_dir))
        _log(f"leased GPU {lease.index} ({lease.uuid})")
        return torch.device("cuda", lease.index)
    return torch.device(kind)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    threads = torch.get_num_threads()
    return f"{cpu_model()} ({threads} thread{'' if threads == 1 else 's'})"


def run_machine(device: torch.device, threads: int | None = None) -> dict[str, Any]:
    """The machine of a run (:func:`tinycnn.shared.hardware.machine`): what the reference folder
    requires of every record and the paper names beside each run; also the reference runner's
    manifest and the rates file. ``threads``: torch's own count where not given."""
    cuda = device.type == "cuda"
    return machine(
        device.type,
        gpu=torch.cuda.get_device_name(device) if cuda else None,
        threads=torch.get_num_threads() if threads is None else threads,
        torch=torch.__version__,
        cuda=torch.version.cuda if cuda else None,
    )


# --- data --------------------------------------------------------------------------------------


def _subset(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Indices of the first ``per_class`` images of every class (all when None), in order."""
    if per_class is None:
        return np.arange(len(labels))
    keep = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def _normalization(
    pipelines: Sequence[Pipeline], stats: Mapping[str, Any]
) -> tuple[list[float], list[float]] | None:
    """The training set's mean and std when the sets end with ``normalize``, else None."""
    flags = {p.normalize for p in pipelines}
    if len(flags) > 1:
        raise UserError(
            f"augmentation sets {[p.name for p in pipelines]} disagree about normalize: "
            "end every set of one experiment with it, or none"
        )
    return (stats["mean"], stats["std"]) if flags.pop() else None


class RunData(NamedTuple):
    """What a run trains and validates on (:func:`load_data`), on its device."""

    train: FixedTrainData | OnlineTrainData  # the training view, fixed or online
    val_x: torch.Tensor  # validation images, uint8 (N, C, H, W)
    val_y: torch.Tensor  # their labels, int64
    norm: Any  # the training set's (mean, std) when the sets end with normalize, else None
    num_classes: int


def load_data(
    settings: Mapping[str, Any],
    seed: int,
    data_dir: Path,
    augmented: Mapping[str, Path],
    device: torch.device,
) -> RunData:
    """The run's training view, validation images and labels on ``device``, normalization and
    number of classes."""
    packed = load_packed(data_dir)
    aug = settings["augmentation"]
    pipelines = [parse_set(name, aug["ops"][name]) for name in aug["sets"]]
    subset = settings.get("subset") or {}
    train_idx = _subset(np.asarray(packed["train_labels"]), subset.get("train_per_class"))
    val_idx = _subset(np.asarray(packed["val_labels"]), subset.get("val_per_class"))
    classes = len(packed["classes"])
    for split_name in ("train", "val"):
        all_labels = np.asarray(packed[f"{split_name}_labels"])
        if len(all_labels) and (all_labels.min() < 0 or all_labels.max() >= classes):
            raise UserError(
                f"{data_dir}/{split_name}_labels.npy holds labels outside 0..{classes - 1} (the "
                f"{classes} classes of classes.tsv): delete {data_dir} and pack again"
            )
    labels = np.asarray(packed["train_labels"])[train_idx]
    # Absent from the settings unless set, so that the runs before it existed keep theirs.
    combine = combine_of(settings)
    validation = settings.get("validation") or {}
    split = validation.get("source", "official") == "augmented_split"
    if split and (aug["mode"] != "fixed" or combine != COMBINE_DEFAULT):
        raise UserError(
            "validation.source augmented_split holds out materialized samples: it needs "
            "augmentation mode fixed and combine concat"
        )
    if aug["mode"] == "fixed":
        missing = [s for s in aug["sets"] if s not in augmented]
        if missing:
            raise UserError(f"no materialized array given for augmentation set(s) {missing}")
        arrays = [open_array(augmented[s], "augment")[train_idx] for s in aug["sets"]]
        if split:
            # Augment first, then hold out a share of the augmented samples: another augmented
            # copy of a held-out image stays in training (the leak this reading asks about).
            samples, fraction = (
                len(arrays) * len(labels),
                validation.get("fraction", VALIDATION_FRACTION),
            )
            keep, held = split_samples(samples, fraction, seed)
            if len(keep) == 0:
                raise UserError(
                    f"validation.fraction {fraction} holds out {len(held)} of the {samples} "
                    "augmented samples, all of them, and leaves none to train on: lower the "
                    "fraction, or train on more images a class (subset.train_per_class)"
                )
            train = FixedTrainData(arrays, labels, seed=seed, device=device, samples=keep)
            held = held.to(train.images.device)
            val_x, val_y = train.images[held], train.labels[held]  # (N, H, W, C), as packed
        else:
            train = FixedTrainData(arrays, labels, seed=seed, device=device, combine=combine)
    else:
        images = np.asarray(packed["train_images"][train_idx])
        train = OnlineTrainData(
            images, labels, pipelines, seed=seed, device=device, combine=combine
        )
    if not split:
        val_x = torch.from_numpy(np.asarray(packed["val_images"][val_idx])).to(device)
        val_y = torch.from_numpy(np.asarray(packed["val_labels"])[val_idx]).long().to(device)
    norm = _normalization(pipelines, packed["stats"])
    return RunData(train, val_x.permute(0, 3, 1, 2), val_y, norm, len(packed["classes"]))


# --- one step, one epoch, one evaluation --------------------------------------------------------


class _StopFlag:
    """Turns SIGTERM, SIGUSR1 (SLURM's warning) and SIGINT (Ctrl-C) into a flag the loop checks
    between steps."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None

    def _handle(self, signum: int, _frame: object) -> None:
        self.signum = signum

    @contextmanager
    def installed(self) -> Iterator[_StopFlag]:
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
    stop: _StopFlag,
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


# --- the recipe's parts (tinycnn.training.recipe: one registry each) ---------------------------


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


# --- the run -----------------------------------------------------------------------------------


def _metrics_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in METRIC_COLUMNS})
    return buf.getvalue()


def _rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def input_files(
    settings: Mapping[str, Any], data_dir: Path, augmented: Mapping[str, Path]
) -> dict[str, Path]:
    """Every input file the run reads, by name."""
    files = {name: Path(data_dir) / name for name in RUN_DATA_FILES}
    if settings["augmentation"]["mode"] == "fixed":
        files.update(
            {f"augmented/{s}": Path(augmented[s]) for s in settings["augmentation"]["sets"]}
        )
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise UserError(
            f"input data missing: {', '.join(missing)}; run the data stage (pack, augment) again"
        )
    return files


def verify_inputs(files: Mapping[str, Path]) -> None:
    """Every input file holds what the data stage recorded of it (its ``.sha256`` sidecar),
    before a run trains on it: a set or an array changed in place since is refused, with what
    to delete and rerun."""
    changed = {name: path for name, path in files.items() if recorded_mismatch(path)}
    if changed:
        rules = sorted({"augment" if n.startswith("augmented/") else "pack" for n in changed})
        paths = ", ".join(str(p) for p in changed.values())
        raise UserError(
            f"{paths} changed since the data stage wrote {'it' if len(changed) == 1 else 'them'} "
            f"(the SHA-256 differs from the .sha256 beside it): delete "
            f"{'it' if len(changed) == 1 else 'them'} and the .sha256, and run the workflow "
            f"again (rule {' and '.join(rules)} remakes {'it' if len(changed) == 1 else 'them'})"
        )


# The keys a train job reads of its settings file (rule `settings` writes them all).
SETTINGS_KEYS = ("name", "model", "arch", "epochs", "batch_size", "optimizer", "augmentation")


def check_settings(settings: Mapping[str, Any], path: str = "the settings") -> None:
    """A settings file that lacks what a run reads, refused before anything loads."""
    missing = [k for k in SETTINGS_KEYS if k not in settings]
    aug = settings.get("augmentation")
    if isinstance(aug, Mapping):
        missing += [f"augmentation.{k}" for k in ("sets", "mode", "ops") if k not in aug]
    elif "augmentation" in settings:
        missing.append("augmentation (a mapping)")
    if missing:
        raise UserError(
            f"{path} lacks {', '.join(missing)}: it is not a settings file of this version; "
            "let the workflow write it (rule settings), or take it from results/<name>/settings/"
        )


def check_writable(out_dir: Path) -> None:
    """The run folder can be written, before the first epoch rather than after the last."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".write-check-"):
            pass
    except OSError as err:
        raise UserError(
            f"cannot write the run folder {out_dir} ({err.strerror or err}): make it writable "
            "(or free some space), then run the job again"
        ) from None


def data_record(
    settings: Mapping[str, Any], data_dir: Path, augmented: Mapping[str, Path]
) -> dict[str, Any]:
    """What a finished run's summary records of its input data (``data``): the archive's MD5
    (from stats.json) and every input file's SHA-256, hashed where no valid record of it is
    kept (a record kept apart from its data is checked against these: tinycnn.reference)."""
    arrays = {name: content_id(p) for name, p in input_files(settings, data_dir, augmented).items()}
    stats = json.loads((Path(data_dir) / "stats.json").read_text(encoding="utf-8"))
    return {"archive_md5": stats.get("archive_md5"), "arrays": arrays}


# A mean training loss this many times a uniform guess's (ln of the classes) has diverged: a
# finite 7.7e22 is as lost as NaN (seen with lr 1e6), and no learning run comes near it.
EXPLODED = 100.0


def _blown_up(train_loss: float, val_loss: float, num_classes: int, epoch: int) -> str | None:
    """Why an epoch's losses say the run diverged, or None."""
    if not math.isfinite(val_loss):
        return f"the validation loss became {val_loss} in epoch {epoch}"
    guess = math.log(max(num_classes, 2))
    if not math.isfinite(train_loss) or train_loss > EXPLODED * guess:
        return (
            f"the training loss exploded to {train_loss:.3g} in epoch {epoch} (a uniform guess "
            f"scores {guess:.2f})"
        )
    return None


def _diverged(what: str, saved_at: str | None, checkpoint_path: Path) -> Diverged:
    """The one message of a run that diverged, saying what is kept and what to do."""
    kept = (
        f"The last good checkpoint ({saved_at}) stays at {checkpoint_path}. Lower "
        "optimizer.lr for this experiment, then delete the checkpoint and run again."
        if saved_at is not None
        else "No checkpoint was written. Lower optimizer.lr for this experiment and run again."
    )
    return Diverged(f"{what}; stopped. {kept}")


def progress_path(checkpoint_path: Path) -> Path:
    """The metrics so far, beside the checkpoint, to follow a run (metrics.csv appears only with
    the finished run)."""
    return Path(checkpoint_path).with_suffix(".metrics.csv")


def _run_header(settings: Mapping[str, Any], seed: int, state: RunState, data: RunData) -> str:
    """The run in one line of the log: model, device, images an epoch, numerics."""
    aug = settings["augmentation"]
    combine = combine_of(settings)
    return (
        f"{settings['name']} seed {seed}: {settings['model']} "
        f"({count_parameters(state.model):,} parameters) on {device_name(state.device)}, "
        f"{len(data.train):,} training images an epoch ({aug['mode']} {'+'.join(aug['sets'])}"
        + ("" if combine == COMBINE_DEFAULT else f", {combine}")
        + f"), {len(data.val_y):,} validation images; {describe_numerics(state.numerics)}"
    )


def _metrics_row(
    epoch: int,
    epochs: int,
    totals: EpochTotals,
    val: tuple[float, float, float],
    wall_seconds: float,
) -> dict[str, Any]:
    """The epoch's row of metrics.csv (plus its wall seconds, for the summary), logged."""
    val_loss, val_acc, val_top5 = val
    row = {
        "epoch": epoch,
        "lr": totals.lr,
        "train_loss": totals.loss / totals.seen,
        "train_acc": 100.0 * totals.correct / totals.seen,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "val_top5": val_top5,
        "epoch_seconds": round(totals.seconds, 3),
        "images_per_second": round(totals.seen / totals.seconds, 1),
        "wall_seconds": round(wall_seconds, 3),
    }
    _log(
        f"epoch {epoch}/{epochs}  lr {totals.lr:.2e}  train loss {row['train_loss']:.4f}"
        f" acc {row['train_acc']:.2f}%  val loss {val_loss:.4f} acc {val_acc:.2f}%"
        f" top5 {val_top5:.2f}%  {totals.seconds:.1f}s"
        f"  {row['images_per_second']:.0f} img/s"
    )
    return row


def train_run(
    settings: Mapping[str, Any],
    seed: int,
    data_dir: Path,
    augmented: Mapping[str, Path],
    out_dir: Path,
    checkpoint_path: Path,
    *,
    threads: int = 2,
    lock_dir: Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Train with ``settings`` and ``seed``; write metrics.csv, summary.json and model.pt.

    Resumes from ``checkpoint_path`` when it holds a checkpoint of the same
    :class:`~tinycnn.training.checkpoint.RunKey` (settings and seed, input data, numerics).
    Raises :class:`Interrupted` after checkpointing on SIGTERM/SIGUSR1 and
    :class:`Diverged` on a NaN or infinite loss (the last good checkpoint stays).
    """
    torch.set_num_threads(threads)
    # Where the run is: under SLURM, its job and the GPU it was given (unset elsewhere).
    _log(
        f"started {datetime.now().astimezone().isoformat(timespec='seconds')} on "
        f"{platform.node()}: SLURM_JOB_ID={os.environ.get('SLURM_JOB_ID', '-')} "
        f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '-')}"
    )
    check_settings(settings)
    name, epochs, batch_size = settings["name"], settings["epochs"], settings["batch_size"]
    data_dir, checkpoint_path = Path(data_dir), Path(checkpoint_path)
    check_writable(out_dir)
    # Refuse a checkpoint of other settings, data or numerics before leasing a GPU and loading
    # the data.
    numerics = run_numerics(settings, torch.device(device_type(settings.get("device", "auto"))))
    files = input_files(settings, data_dir, augmented)
    verify_inputs(files)
    key = checkpoint.RunKey.of(settings, seed, files, describe_numerics(numerics))
    saved = checkpoint.load(checkpoint_path, key)
    with ExitStack() as stack:
        # First, so that a signal during the lease or the data loading stops the run cleanly.
        stop = stack.enter_context(_StopFlag().installed())
        device = pick_device(settings.get("device", "auto"), stack, lock_dir)
        torch.manual_seed(seed)
        data = load_data(settings, seed, data_dir, augmented, device)
        steps = math.ceil(len(data.train) / batch_size)
        state = new_run_state(settings, data.num_classes, device, numerics, steps_per_epoch=steps)
        # Room for what the run will write, before its first epoch rather than after its last:
        # a checkpoint (weights and the optimizer's two moments, 3x the weights at most) beside
        # the one it replaces, and the final weights in the run folder.
        weight_bytes = sum(p.numel() * p.element_size() for p in state.model.parameters())
        check_space(checkpoint_path, 2 * 3 * weight_bytes + (1 << 20))
        check_space(Path(out_dir) / "model.pt", weight_bytes + (1 << 20))
        saved_at = None  # where the checkpoint on disk stopped, for the divergence message
        if saved is not None:
            state.load_state_dict(saved)
            saved_at = state.where()
            where = f"epoch {state.epoch}" + (f", step {state.step}" if state.step else "")
            _log(f"resuming {name} seed {seed} from {checkpoint_path} at {where}")
        _log(_run_header(settings, seed, state, data))
        if stop.signum is not None:
            raise Interrupted(
                stop.signum,
                f"{signal.Signals(stop.signum).name} received before training started; "
                "nothing new to checkpoint: run the job again to start or resume",
            )
        while state.epoch <= epochs:
            earlier = state.partial.seconds if state.partial is not None else 0.0
            started = time.perf_counter()
            try:
                totals = train_one_epoch(
                    state, data.train, data.norm, batch_size, stop, epochs=epochs, progress=progress
                )
            except NonFiniteLoss as bad:
                raise _diverged(f"{name} seed {seed}: {bad}", saved_at, checkpoint_path) from None
            if totals is None:
                checkpoint.save(checkpoint_path, state.state_dict(), key)
                raise Interrupted(
                    stop.signum,
                    f"{signal.Signals(stop.signum).name} received in epoch {state.epoch} after "
                    f"step {state.step}: checkpoint written to {checkpoint_path}; run the job "
                    "again to resume",
                )
            val = evaluate(
                state.step_model, data.val_x, data.val_y, data.norm, batch_size, device, numerics
            )
            # A run whose losses left the numbers behind fails here, before anything of the
            # epoch is kept: no metrics row, checkpoint or summary downstream ever sees it.
            blown = _blown_up(totals.loss / totals.seen, val[0], data.num_classes, state.epoch)
            if blown:
                raise _diverged(f"{name} seed {seed}: {blown}", saved_at, checkpoint_path)
            wall = time.perf_counter() - started + earlier
            state.end_epoch(_metrics_row(state.epoch, epochs, totals, val, wall))
            checkpoint.save(checkpoint_path, state.state_dict(), key)
            saved_at = state.where()
            write_text(progress_path(checkpoint_path), _metrics_csv(state.metrics))

        record = data_record(settings, data_dir, augmented)
        summary = _summary(settings, seed, state, record, data)
        write_outputs(Path(out_dir), checkpoint_path, state, summary)
        return summary


def write_outputs(
    out_dir: Path, checkpoint_path: Path, state: RunState, summary: Mapping[str, Any]
) -> None:
    """The finished run's folder, each file written atomically: model.pt (the final weights),
    metrics.csv and summary.json; then the checkpoint and the metrics beside it go."""
    with atomic_path(out_dir / "model.pt") as tmp:
        torch.save(state.model.state_dict(), tmp)
    write_text(out_dir / "metrics.csv", _metrics_csv(state.metrics))
    write_json(out_dir / "summary.json", summary)
    checkpoint_path.unlink(missing_ok=True)
    digest_path(checkpoint_path).unlink(missing_ok=True)
    progress_path(checkpoint_path).unlink(missing_ok=True)


def _summary(
    settings: Mapping[str, Any],
    seed: int,
    state: RunState,
    record: Mapping[str, Any],
    data: RunData,
) -> dict[str, Any]:
    """summary.json: the results (from the metrics rows), what ran, which code and which input
    data (``data``: :func:`data_record`) made the numbers (a record kept apart from its data,
    reference/, is checked against the data it names: tinycnn.reference), and the model as
    trained (what the report prints about it)."""
    rows = state.metrics
    best = max(rows, key=lambda r: r["val_acc"])
    final = rows[-1]
    seconds = sum(r["epoch_seconds"] for r in rows)
    images = sum(r["images_per_second"] * r["epoch_seconds"] for r in rows)
    state.model.eval()
    return {
        "experiment": settings["name"],
        "model": settings["model"],
        "seed": seed,
        "epochs": len(rows),
        "best_val_acc": best["val_acc"],
        "best_val_top5": best["val_top5"],
        "best_epoch": best["epoch"],
        "final_val_acc": final["val_acc"],
        "final_val_top5": final["val_top5"],
        "final_train_acc": final["train_acc"],
        "parameters": count_parameters(state.model),
        "device": state.device.type,
        "device_name": device_name(state.device),
        "torch_version": torch.__version__,
        "machine": run_machine(state.device),
        # The digest of metrics.csv as write_outputs writes it: the aggregate and the merge
        # refuse a metrics.csv edited since (tinycnn.report.records.metrics_digest_problems).
        "metrics_sha256": hashlib.sha256(_metrics_csv(rows).encode("utf-8")).hexdigest(),
        "train_seconds": round(seconds, 3),
        "wall_seconds": round(sum(r["wall_seconds"] for r in rows), 3),
        "images_per_second": round(images / seconds, 1),
        "resolved": json.loads(json.dumps(settings)),
        "code": code_identity(),
        "data": dict(record),
        "classes": data.num_classes,
        "val_images": len(data.val_y),
        "train_images": len(data.train),
        "precision": describe_numerics(state.numerics, with_compile=False),
        "compile": state.numerics.compile,
        "architecture": architecture_record(
            settings["arch"], state.model, image_size=data.val_x.shape[-1]
        ),
    }
