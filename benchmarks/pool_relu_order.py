"""M1, M1-BN and M4 trained with the ReLU after the max-pooling (`ConvStack`, the models' own
forward) against the ReLU before it (the paper's order, `nn.Sequential.forward`), in one run.

Both paths are the trainer's own step (`new_run_state` + `train_step`, batches from a uint8
array through `FixedTrainData`) with the device's default precision and layout (on the CPU, the
freed memory kept as `tinycnn train` keeps it), eager (a compiled step would trace one forward
and fuse the rest), from the same seed and the same batches. The two orders compute the same
numbers: after the timed steps the benchmark checks that both models' parameters are equal bit
for bit, and fails if they are not. The paths alternate block by block, their order reversed
every other round, so that a drift of the machine's load touches both alike; the table gives
each path's median img/s and the ratio of the new order to the paper's.

Settings and batches are `train_throughput.py`'s: the paper's recipe for each model
(`recipes`) and the trainer's batch order (`batch_stream`).

Run: `.venv/bin/python benchmarks/pool_relu_order.py` (`--models`, `--device`, `--rounds`,
`--steps`, `--batch`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

# The trainer's recipe and batch order, as train_throughput.py times them (this folder is on
# the path of a script run from it).
from train_throughput import CLASSES, CONFIG, MEAN, STD, batch_stream, recipes  # noqa: E402

from tinycnn.data.augment import FixedTrainData  # noqa: E402
from tinycnn.shared.hardware import cpu_model, usable_cores  # noqa: E402
from tinycnn.training.device import keep_freed_memory  # noqa: E402
from tinycnn.training.loop import default_numerics, new_run_state, train_step  # noqa: E402

MODELS = ["M1", "M1-BN", "M4"]  # config names (config.yaml, presets/ablations.yaml)


def compare(name: str, device: torch.device, batch: int, steps: int, rounds: int) -> dict:
    """Median seconds a step of each order, after the same steps from the same seed."""
    settings = recipes(CONFIG)[0][name]
    numerics = default_numerics(device, compile="none")  # eager: the forward as written
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4 * batch, 64, 64, 3), dtype=np.uint8)
    data = FixedTrainData([images], rng.integers(0, CLASSES, len(images)), seed=0)
    states = {}
    for order in ("ReLU, then pool (the paper's)", "pool, then ReLU (ConvStack)"):
        torch.manual_seed(0)
        states[order] = new_run_state(settings, CLASSES, device, numerics)
    paper, ours = states
    states[paper].model.__class__ = nn.Sequential  # the same modules in the plain forward
    streams = {order: batch_stream(data, batch) for order in states}
    times: dict[str, list[float]] = {order: [] for order in states}
    for r in range(rounds + 1):  # round 0 warms both paths up
        for order in list(states) if r % 2 else list(states)[::-1]:
            state = states[order]
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(steps):
                x, y = next(streams[order])
                train_step(state.model, state.optimizer, x, y, (MEAN, STD), numerics, state.loss)
            if device.type == "cuda":
                torch.cuda.synchronize()
            if r:
                times[order].append((time.perf_counter() - start) / steps)
    trained = (states[paper].model.parameters(), states[ours].model.parameters())
    for a, b in zip(*trained, strict=True):
        if not torch.equal(a, b):
            raise SystemExit(f"{name}: the two orders trained different weights")
    return {order: statistics.median(t) for order, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=4, help="steps a block")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(usable_cores())
        keep_freed_memory()  # as `tinycnn train` does on the CPU, for both orders alike
        machine = f"{cpu_model()}, {usable_cores()} threads"
    else:
        machine = torch.cuda.get_device_name(device)
    print(
        f"Machine: {machine}; batch {args.batch}; median of {args.rounds} blocks of "
        f"{args.steps} steps a path; parameters equal bit for bit after the steps.\n\n"
        "| model | ReLU, then pool: img/s | pool, then ReLU: img/s | ratio |\n"
        "|---|---:|---:|---:|"
    )
    for name in args.models:
        paper, ours = compare(name, device, args.batch, args.steps, args.rounds).values()
        print(
            f"| {name} | {args.batch / paper:,.0f} | {args.batch / ours:,.0f} "
            f"| {paper / ours:.2f}x |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
