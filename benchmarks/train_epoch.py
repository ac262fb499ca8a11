"""One training epoch end to end against the bare train step: what the loop costs besides steps.

On the device at hand, for one model (default M1) on the paper's recipe as `train_throughput.py`
times it, batch 256, over random uint8 images served by `FixedTrainData` (two sets
concatenated, as the paper's runs 2-11 train), in one process (on the CPU, the freed memory kept
as `tinycnn train` keeps it):

- bare: `tinycnn.training.loop.train_step` on the epoch's batches and nothing else (what
  `train_throughput.py` times);
- epoch: `tinycnn.training.loop.train_one_epoch` over the same batches: the step, plus the running
  loss and accuracy sums on the device, the NaN check every `CHECK_EVERY` steps, the stop flag
  and the (disabled) progress bar;
- validation: `tinycnn.training.loop.evaluate` over `--val` images.

Bare and epoch alternate for `--repeats` rounds after one warm-up epoch; the medians are
compared. It prints img/s of each, the epoch's ratio to bare, and, for the paper's run 2
(200,000 training images and 10,000 validation images an epoch), the projected end-to-end
rate: 200,000 / (200,000 / the epoch's img/s + the time to validate 10,000 images).

Run: `.venv/bin/python benchmarks/train_epoch.py` (`--model`, `--images`, `--repeats`,
`--threads`, `--device`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# The trainer's recipe for each model, as train_throughput.py times it (this folder is on the
# path of a script run from it).
from train_throughput import CLASSES, CONFIG, MEAN, STD, recipes  # noqa: E402

from tinycnn.data.augment import FixedTrainData  # noqa: E402
from tinycnn.shared.hardware import cpu_model  # noqa: E402
from tinycnn.training.device import keep_freed_memory  # noqa: E402
from tinycnn.training.loop import (  # noqa: E402
    StopFlag,
    describe_numerics,
    evaluate,
    new_run_state,
    train_one_epoch,
    train_step,
)

BATCH = 256
NORM = (MEAN, STD)
RUN2_TRAIN, RUN2_VAL = 200_000, 10_000  # the paper's run 2, an epoch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="M1", help="a config or ablation model name")
    parser.add_argument("--images", type=int, default=4_096, help="per set; two sets an epoch")
    parser.add_argument("--val", type=int, default=2_048, help="validation images timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads on the CPU")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cuda, cpu")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
    device = torch.device("cuda" if cuda else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cpu":
        keep_freed_memory()  # as `tinycnn train` does on the CPU, for every timing alike

    rng = np.random.default_rng(0)
    sets = [rng.integers(0, 256, (args.images, 64, 64, 3), dtype=np.uint8) for _ in range(2)]
    labels = rng.integers(0, CLASSES, args.images)
    data = FixedTrainData(sets, labels, seed=0, device=device)
    val_x = torch.from_numpy(rng.integers(0, 256, (args.val, 3, 64, 64), dtype=np.uint8))
    val_y = torch.from_numpy(rng.integers(0, CLASSES, args.val))
    val_x, val_y = val_x.to(device), val_y.to(device)

    torch.manual_seed(0)
    state = new_run_state(recipes(CONFIG)[0][args.model], CLASSES, device)
    stop = StopFlag()  # never raised here: the loop checks it as in a run

    def bare() -> float:
        state.step_model.train()
        sync(device)
        start = time.perf_counter()
        for x, y in data.batches(1, BATCH):
            train_step(state.step_model, state.optimizer, x, y, NORM, state.numerics)
        sync(device)
        return time.perf_counter() - start

    def epoch() -> float:
        state.step, state.partial = 0, None
        sync(device)
        start = time.perf_counter()
        totals = train_one_epoch(state, data, NORM, BATCH, stop, epochs=1, progress=False)
        sync(device)
        assert totals is not None and totals.seen == len(data)
        return time.perf_counter() - start

    def validation() -> float:
        sync(device)
        start = time.perf_counter()
        evaluate(state.step_model, val_x, val_y, NORM, BATCH, device, state.numerics)
        sync(device)
        return time.perf_counter() - start

    epoch(), validation()  # warm-up (and the compile, where the numerics compile)
    rounds = [(bare(), epoch()) for _ in range(args.repeats)]
    bare_s = statistics.median(r[0] for r in rounds)
    epoch_s = statistics.median(r[1] for r in rounds)
    val_s = statistics.median(validation() for _ in range(args.repeats))
    n = len(data)
    bare_rate, epoch_rate, val_rate = n / bare_s, n / epoch_s, args.val / val_s
    run2 = RUN2_TRAIN / (RUN2_TRAIN / epoch_rate + RUN2_VAL / val_rate)
    name = torch.cuda.get_device_name(device) if cuda else cpu_model()
    print(
        f"Device: {name} ({device.type}); torch {torch.__version__}; torch threads "
        f"{torch.get_num_threads()}; {args.model}, {describe_numerics(state.numerics)}; batch "
        f"{BATCH}; {n:,} training images an epoch, {args.val:,} validation images; median of "
        f"{args.repeats} rounds.\n\n"
        "| timing | img/s | vs bare step |\n"
        "|---|---:|---:|\n"
        f"| bare train_step | {bare_rate:,.0f} | 1.00x |\n"
        f"| train_one_epoch | {epoch_rate:,.0f} | {epoch_rate / bare_rate:.2f}x |\n"
        f"| evaluate (forward only) | {val_rate:,.0f} | {val_rate / bare_rate:.2f}x |\n"
        f"| run 2 projected end to end (200,000 + 10,000 validation an epoch) | {run2:,.0f} "
        f"| {run2 / bare_rate:.2f}x |\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
