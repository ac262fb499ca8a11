"""Train one experiment with one seed: the loop, metrics, checkpoints and resume.

One function, :func:`train_run`, takes a resolved experiment (see
:func:`tinycnn.config.resolve_experiment`) and writes the run folder:

- ``metrics.csv``: one row an epoch (learning rate, training loss and top-1,
  validation loss, top-1 and top-5, epoch seconds, training images per second);
- ``summary.json``: best and final accuracy, parameter count, device, versions,
  wall time, seed and the resolved experiment;
- ``model.pt``: the final weights (a ``state_dict``).

A checkpoint outside the run folder is written atomically after every epoch and
when SIGTERM or SIGUSR1 arrives (SLURM's warnings before a time limit); the next
run of the same job resumes from it and ends with the same metrics as a run that
was never interrupted. The checkpoint is removed once the outputs are written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from tinycnn import checkpoint
from tinycnn.atomic import atomic_path, write_json, write_text
from tinycnn.augment import FixedTrainData, OnlineTrainData, Pipeline, normalize, parse_set
from tinycnn.contract import METRIC_COLUMNS
from tinycnn.errors import UserError
from tinycnn.gpu_lease import lease_gpu, visible_gpu_uuids
from tinycnn.hardware import cpu_model
from tinycnn.models import build_model, count_parameters
from tinycnn.pack import load_packed

# Settings that do not change what a run computes: they are left out of the
# checkpoint's fingerprint, so moving a run to another device can resume it.
NOT_FINGERPRINTED = ("device", "paper", "seeds")


class Interrupted(Exception):
    """A signal asked the run to stop; a checkpoint has been written."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


class Diverged(UserError):
    """The loss became NaN or infinite."""


# --- device ------------------------------------------------------------------------------------


def pick_device(requested: str, stack: ExitStack, lock_dir: Path | None = None) -> torch.device:
    """``auto``: CUDA, then MPS, then CPU. A CUDA device is leased for the run's lifetime."""
    if requested == "auto":
        if torch.cuda.is_available():
            requested = "cuda"
        elif torch.backends.mps.is_available():
            requested = "mps"
        else:
            requested = "cpu"
    if requested == "cuda":
        if not torch.cuda.is_available():
            raise UserError("device: cuda was asked for, but no CUDA device is available")
        lease = stack.enter_context(lease_gpu(visible_gpu_uuids(), lock_dir))
        return torch.device("cuda", lease.index)
    if requested == "mps" and not torch.backends.mps.is_available():
        raise UserError("device: mps was asked for, but MPS is not available")
    return torch.device(requested)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple MPS"
    return f"{cpu_model()} ({torch.get_num_threads()} threads)"


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


def load_data(
    exp: Mapping[str, Any],
    seed: int,
    data_dir: Path,
    augmented: Mapping[str, Path],
    device: torch.device,
) -> tuple[FixedTrainData | OnlineTrainData, torch.Tensor, torch.Tensor, Any, int]:
    """Training view (fixed or online), validation images and labels on ``device``,
    normalization (mean, std or None), number of classes."""
    packed = load_packed(data_dir)
    aug = exp["augmentation"]
    pipelines = [parse_set(name, aug["ops"][name]) for name in aug["sets"]]
    subset = exp.get("subset") or {}
    train_idx = _subset(np.asarray(packed["train_labels"]), subset.get("train_per_class"))
    val_idx = _subset(np.asarray(packed["val_labels"]), subset.get("val_per_class"))
    labels = np.asarray(packed["train_labels"])[train_idx]
    if aug["mode"] == "fixed":
        missing = [s for s in aug["sets"] if s not in augmented]
        if missing:
            raise UserError(f"no materialized array given for augmentation set(s) {missing}")
        arrays = [np.load(augmented[s], mmap_mode="r")[train_idx] for s in aug["sets"]]
        train = FixedTrainData(arrays, labels, seed=seed, device=device)
    else:
        images = np.asarray(packed["train_images"][train_idx])
        train = OnlineTrainData(images, labels, pipelines, seed=seed, device=device)
    val_x = torch.from_numpy(np.asarray(packed["val_images"][val_idx])).to(device)
    val_y = torch.from_numpy(np.asarray(packed["val_labels"])[val_idx]).long().to(device)
    norm = _normalization(pipelines, packed["stats"])
    return train, val_x.permute(0, 3, 1, 2), val_y, norm, len(packed["classes"])


# --- one epoch ---------------------------------------------------------------------------------


class _StopFlag:
    """Turns SIGTERM/SIGUSR1 into a flag the loop checks between steps."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

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


def _autocast(device: torch.device):
    # bf16 on CUDA (no loss scaling needed); full precision elsewhere.
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def _prepare(x: torch.Tensor, norm: Any, device: torch.device) -> torch.Tensor:
    """uint8 batch -> the float input of the model (normalized when the sets say so)."""
    x = normalize(x, *norm) if norm is not None else x.float().div_(255)
    if device.type == "cuda":
        return x.contiguous(memory_format=torch.channels_last)
    return x.contiguous()


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    norm: Any,
    batch_size: int,
    device: torch.device,
) -> tuple[float, float, float]:
    """Validation loss, top-1 and top-5 accuracy (percent)."""
    model.eval()
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    top1 = torch.zeros((), device=device, dtype=torch.int64)
    top5 = torch.zeros((), device=device, dtype=torch.int64)
    for start in range(0, len(labels), batch_size):
        x = _prepare(images[start : start + batch_size], norm, device)
        y = labels[start : start + batch_size]
        with _autocast(device):
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum")
        best = logits.topk(min(5, logits.shape[1]), dim=1).indices
        top1 += (best[:, 0] == y).sum()
        top5 += (best == y[:, None]).any(dim=1).sum()
    n = len(labels)
    return loss_sum.item() / n, 100.0 * top1.item() / n, 100.0 * top5.item() / n


# --- the run -----------------------------------------------------------------------------------


def build_optimizer(model: nn.Module, exp: Mapping[str, Any]):
    opt = exp["optimizer"]
    optimizer = torch.optim.RAdam(
        model.parameters(),
        lr=opt["lr"],
        betas=tuple(opt["betas"]),
        eps=opt["eps"],
        weight_decay=opt["weight_decay"],
    )
    sched = exp.get("scheduler")
    scheduler = None
    if sched is not None:
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=sched["step_size"], gamma=sched["gamma"]
        )
    return optimizer, scheduler


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


def train_run(
    exp: Mapping[str, Any],
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
    """Train ``exp`` with ``seed`` and write metrics.csv, summary.json and model.pt to ``out_dir``.

    Resumes from ``checkpoint_path`` when it holds a checkpoint of the same settings.
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
    out_dir, checkpoint_path = Path(out_dir), Path(checkpoint_path)
    fingerprinted = {k: v for k, v in exp.items() if k not in NOT_FINGERPRINTED}
    fp = checkpoint.fingerprint(fingerprinted, seed)
    # Refuse a checkpoint of other settings before leasing a GPU and loading the data.
    state = checkpoint.load(checkpoint_path, fp)
    with ExitStack() as stack:
        device = pick_device(exp.get("device", "auto"), stack, lock_dir)
        torch.manual_seed(seed)
        train, val_x, val_y, norm, num_classes = load_data(
            exp, seed, Path(data_dir), augmented, device
        )
        model = build_model(exp["arch"], num_classes=num_classes).to(device)
        if device.type == "cuda":
            model = model.to(memory_format=torch.channels_last)
        optimizer, scheduler = build_optimizer(model, exp)
        rows: list[dict[str, Any]] = []
        epoch, step, partial = 1, 0, None
        saved_at = None  # where the checkpoint on disk stopped, for the divergence message
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(state["scheduler"])
            _set_rng_state(state["rng"], device)
            rows = list(state["metrics"])
            epoch, step, partial = state["epoch"], state["step"], state["partial"]
            where = f"epoch {epoch}" + (f", step {step}" if step else "")
            saved_at = f"epoch {epoch}, step {step}" if step else f"end of epoch {epoch - 1}"
            _log(f"resuming {exp['name']} seed {seed} from {checkpoint_path} at {where}")
        params = count_parameters(model)
        _log(
            f"{exp['name']} seed {seed}: {exp['model']} ({params:,} parameters) on "
            f"{device_name(device)}, {len(train):,} training images an epoch "
            f"({exp['augmentation']['mode']} {'+'.join(exp['augmentation']['sets'])}), "
            f"{len(val_y):,} validation images"
        )

        def save(epoch: int, step: int, partial: Mapping[str, Any] | None) -> None:
            checkpoint.save(
                checkpoint_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else {},
                    "rng": _rng_state(device),
                    "metrics": rows,
                    "epoch": epoch,
                    "step": step,
                    "partial": partial,
                },
                fp,
            )

        stop = stack.enter_context(_StopFlag().installed())
        batch_size = exp["batch_size"]
        steps_per_epoch = math.ceil(len(train) / batch_size)
        # Checking the loss forces a device sync: every step on the CPU, every 25 on a GPU.
        check_every = 1 if device.type == "cpu" else 25
        while epoch <= exp["epochs"]:
            model.train()
            acc = partial or {"loss": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
            loss_sum = torch.tensor(acc["loss"], device=device, dtype=torch.float64)
            correct = torch.tensor(acc["correct"], device=device, dtype=torch.int64)
            seen, seconds = acc["seen"], acc["seconds"]
            lr = optimizer.param_groups[0]["lr"]
            bar = tqdm(
                total=steps_per_epoch,
                initial=step,
                desc=f"epoch {epoch}/{exp['epochs']}",
                unit="batch",
                file=sys.stderr,
                disable=not progress,
                mininterval=0.5 if sys.stderr.isatty() else 30.0,
            )
            bad_step = torch.full((), -1, device=device, dtype=torch.int64)
            bad_loss = torch.zeros((), device=device)
            started = time.perf_counter()
            # Resumed mid-epoch: the same order, from the first batch not yet done.
            batches = train.batches(epoch, batch_size, start=step)
            for s, (x, y) in enumerate(batches, start=step):
                x = _prepare(x, norm, device)
                with _autocast(device):
                    logits = model(x)
                    loss = F.cross_entropy(logits.float(), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += loss.detach().double() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                seen += len(y)
                bar.update()
                # The first non-finite loss is kept on the device, so the message can
                # name its step even when the check runs only every few steps.
                bad = ~torch.isfinite(loss.detach()) & (bad_step < 0)
                bad_step = torch.where(bad, s + 1, bad_step)
                bad_loss = torch.where(bad, loss.detach().float(), bad_loss)
                check = (s + 1) % check_every == 0 or s + 1 == steps_per_epoch
                if check and bad_step.item() >= 0:
                    bar.close()
                    kept = (
                        f"The last good checkpoint ({saved_at}) stays at {checkpoint_path}. "
                        "Lower optimizer.lr for this experiment, then delete the checkpoint "
                        "and run again."
                        if saved_at is not None
                        else "No checkpoint was written. Lower optimizer.lr for this "
                        "experiment and run again."
                    )
                    raise Diverged(
                        f"{exp['name']} seed {seed}: the training loss became "
                        f"{bad_loss.item()} in epoch {epoch} at step {bad_step.item()}; "
                        f"stopped. {kept}"
                    )
                if stop.signum is not None:
                    bar.close()
                    partial = {
                        "loss": loss_sum.item(),
                        "correct": correct.item(),
                        "seen": seen,
                        "seconds": seconds + time.perf_counter() - started,
                    }
                    save(epoch, s + 1, partial)
                    name = signal.Signals(stop.signum).name
                    raise Interrupted(
                        stop.signum,
                        f"{name} received in epoch {epoch} after step {s + 1}: checkpoint "
                        f"written to {checkpoint_path}; run the job again to resume",
                    )
            bar.close()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds += time.perf_counter() - started
            val_loss, val_acc, val_top5 = evaluate(model, val_x, val_y, norm, batch_size, device)
            row = {
                "epoch": epoch,
                "lr": lr,
                "train_loss": loss_sum.item() / seen,
                "train_acc": 100.0 * correct.item() / seen,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "val_top5": val_top5,
                "epoch_seconds": round(seconds, 3),
                "images_per_second": round(seen / seconds, 1),
                "wall_seconds": round(time.perf_counter() - started + acc["seconds"], 3),
            }
            rows.append(row)
            if scheduler is not None:
                scheduler.step()
            _log(
                f"epoch {epoch}/{exp['epochs']}  lr {lr:.2e}  train loss {row['train_loss']:.4f}"
                f" acc {row['train_acc']:.2f}%  val loss {val_loss:.4f} acc {val_acc:.2f}%"
                f" top5 {val_top5:.2f}%  {seconds:.1f}s  {row['images_per_second']:.0f} img/s"
            )
            epoch, step, partial = epoch + 1, 0, None
            save(epoch, 0, None)
            saved_at = f"end of epoch {epoch - 1}"
            write_text(out_dir / "metrics.csv", _metrics_csv(rows))

        summary = _summary(exp, seed, rows, params, device)
        with atomic_path(out_dir / "model.pt") as tmp:
            torch.save(model.state_dict(), tmp)
        write_text(out_dir / "metrics.csv", _metrics_csv(rows))
        write_json(out_dir / "summary.json", summary)
        checkpoint_path.unlink(missing_ok=True)
        return summary


def _summary(
    exp: Mapping[str, Any],
    seed: int,
    rows: Sequence[Mapping[str, Any]],
    params: int,
    device: torch.device,
) -> dict[str, Any]:
    best = max(rows, key=lambda r: r["val_acc"])
    final = rows[-1]
    seconds = sum(r["epoch_seconds"] for r in rows)
    images = sum(r["images_per_second"] * r["epoch_seconds"] for r in rows)
    return {
        "experiment": exp["name"],
        "model": exp["model"],
        "seed": seed,
        "epochs": len(rows),
        "best_val_acc": best["val_acc"],
        "best_val_top5": best["val_top5"],
        "best_epoch": best["epoch"],
        "final_val_acc": final["val_acc"],
        "final_val_top5": final["val_top5"],
        "final_train_acc": final["train_acc"],
        "parameters": params,
        "device": device.type,
        "device_name": device_name(device),
        "torch_version": torch.__version__,
        "train_seconds": round(seconds, 3),
        "wall_seconds": round(sum(r["wall_seconds"] for r in rows), 3),
        "images_per_second": round(images / seconds, 1),
        "resolved": json.loads(json.dumps(exp)),
    }
