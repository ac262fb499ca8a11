"""Train one experiment with one seed: the run, its metrics, checkpoints and resume.

The step, the epoch and the evaluation are :mod:`.loop`'s (read like torchvision's
``references/classification/train.py``), the device :mod:`.device`'s, the data
:mod:`.run_data`'s; :func:`train_run` is the run (the checkpoint's check, device, data,
:class:`~.loop.RunState`, the epoch loop, :func:`write_outputs`). It takes the resolved
settings of one experiment (see :func:`tinycnn.config.resolve.training_settings`) and writes
the run folder:

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
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from tinycnn.config.merge import COMBINE_DEFAULT, combine_of
from tinycnn.shared.code_version import code_identity
from tinycnn.shared.contract import METRIC_COLUMNS
from tinycnn.shared.digests import digest_path
from tinycnn.shared.errors import UserError
from tinycnn.shared.files import atomic_path, check_space, write_json, write_text
from tinycnn.training import checkpoint
from tinycnn.training.device import device_name, device_type, pick_device, run_machine
from tinycnn.training.loop import (
    EpochTotals,
    NonFiniteLoss,
    RunState,
    StopFlag,
    describe_numerics,
    evaluate,
    new_run_state,
    run_numerics,
    train_one_epoch,
)
from tinycnn.training.models import architecture_record, count_parameters
from tinycnn.training.run_data import RunData, data_record, input_files, load_data, verify_inputs


class Interrupted(Exception):
    """A signal asked the run to stop; a checkpoint has been written."""

    def __init__(self, signum: int, message: str) -> None:
        super().__init__(message)
        self.signum = signum


class Diverged(UserError):
    """The loss became NaN or infinite."""


def _metrics_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row[k] for k in METRIC_COLUMNS})
    return buf.getvalue()


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    requested = settings.get("device", "auto")
    numerics = run_numerics(settings, torch.device(device_type(requested)))
    files = input_files(settings, data_dir, augmented)
    verify_inputs(files)
    key = checkpoint.RunKey.of(settings, seed, files, describe_numerics(numerics))
    saved = checkpoint.load(checkpoint_path, key)
    with ExitStack() as stack:
        # First, so that a signal during the lease or the data loading stops the run cleanly.
        stop = stack.enter_context(StopFlag().installed())
        device = pick_device(requested, stack, lock_dir)
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
