"""Where a real CPU run's time goes that the random-data benchmarks do not see.

`benchmarks/train_throughput.py` and `train_epoch.py` time the train step on a few thousand
random images and a freshly initialized model. A real run (issue 30: run 2 at about 700 img/s
an epoch against the benchmark's 857 with the same 4 threads) differs in three ways, each timed
here against the benchmark's setting, in one process, the paths alternating block by block:

- **data**: batches gathered from the whole training set as a run holds it (100,000 images of
  one materialized set, 1.2 GB, `FixedTrainData`), against a 2,048-image slice of it;
- **weights**: a model trained for some epochs (the runner's checkpoint, `--checkpoint`), whose
  small gradients may be denormal floats, against a new one;
- **denormals**: `torch.set_flush_denormal(True)` (denormals read as zero), against off (the
  default).

Every path is M1's step on the paper's recipe as `train_throughput.py` times it, with the
freed memory kept as `tinycnn train` keeps it on the CPU. Real training images only (never the
validation images: they are the paper's test set).

Run: `.venv/bin/python benchmarks/cpu_real_steps.py --images WORK/augmented/set1.npy
--labels WORK/packed/train_labels.npy --checkpoint WORK/checkpoints/m1_set1_seed0.pt`, WORK the
reference runner's work folder (`~/.cache/tinycnn/reference`).
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

# The trainer's recipe for M1, as train_throughput.py times it (this folder is on the path of a
# script run from it).
from train_throughput import CLASSES, CONFIG, MEAN, STD, recipes  # noqa: E402

from tinycnn.data.augment import FixedTrainData  # noqa: E402
from tinycnn.shared.hardware import cpu_model, usable_cores  # noqa: E402
from tinycnn.training.device import keep_freed_memory  # noqa: E402
from tinycnn.training.loop import Numerics, new_run_state, train_step  # noqa: E402

SETTINGS = recipes(CONFIG)[0]["M1"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True, help="a set's .npy (N, 64, 64, 3)")
    parser.add_argument("--labels", type=Path, required=True, help="train_labels.npy")
    parser.add_argument("--checkpoint", type=Path, help="a run's checkpoint: trained weights")
    parser.add_argument("--steps", type=int, default=8, help="steps a block")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args(argv)
    torch.set_num_threads(usable_cores())
    keep_freed_memory()  # as `tinycnn train` does on the CPU, for every path alike
    images = np.load(args.images, mmap_mode="r")
    labels = np.load(args.labels)
    whole = FixedTrainData([images], labels, seed=0)
    small = FixedTrainData([np.ascontiguousarray(images[:2048])], labels[:2048], seed=0)
    numerics = Numerics(None, channels_last=True)
    models = {"new": new_run_state(SETTINGS, CLASSES, torch.device("cpu"), numerics)}
    if args.checkpoint:
        trained = new_run_state(SETTINGS, CLASSES, torch.device("cpu"), numerics)
        saved = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        trained.model.load_state_dict(saved["model"])
        trained.optimizer.load_state_dict(saved["optimizer"])
        models["trained"] = trained

    def stream(data: FixedTrainData):
        epoch = 1
        while True:
            yield from data.batches(epoch, args.batch)
            epoch += 1

    streams = {"whole set": stream(whole), "2,048 images": stream(small)}
    paths = [
        (data, weights, flush) for weights in models for data in streams for flush in (False, True)
    ]
    times: dict[tuple, list[float]] = {p: [] for p in paths}
    for r in range(args.rounds + 1):  # round 0 warms every path up
        for path in paths if r % 2 else paths[::-1]:
            data, weights, flush = path
            torch.set_flush_denormal(flush)
            state = models[weights]
            start = time.perf_counter()
            for _ in range(args.steps):
                x, y = next(streams[data])
                train_step(state.model, state.optimizer, x, y, (MEAN, STD), numerics, state.loss)
            if r:
                times[path].append((time.perf_counter() - start) / args.steps)
    torch.set_flush_denormal(False)
    base = ("2,048 images", "new", False)
    rate = {p: args.batch / statistics.median(t) for p, t in times.items()}
    print(
        f"Machine: {cpu_model()}, {usable_cores()} threads; M1, fp32 channels_last, batch "
        f"{args.batch}; median of {args.rounds} blocks of {args.steps} steps a path.\n\n"
        "| batches from | weights | flush denormals | img/s | vs random-data setting |\n"
        "|---|---|---|---:|---:|"
    )
    for (data, weights, flush), img_s in rate.items():
        print(
            f"| {data} | {weights} | {'on' if flush else 'off'} | {img_s:,.0f} "
            f"| {img_s / rate[base]:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
