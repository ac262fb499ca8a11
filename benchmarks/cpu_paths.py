"""The CPU's training paths for the models a CPU trains: torch threads, torch.compile and the C
allocator's handling of freed memory, against today's CPU default, in one run.

For M1 and M1-BN (the models of the runs `tinycnn reference order` gives a CPU), each path is
the trainer's own step (`new_run_state` + `train_step`, batches from a uint8 array through
`FixedTrainData`, as a run takes them) on the paper's recipe for the model as
`train_throughput.py` times it (`recipes`: the config's optimizer), with the CPU default's
numerics (fp32, channels_last) and:

- threads: 1, the usable cores (`tinycnn.shared.hardware.usable_cores`), and twice that;
- compile: none (eager, today's default), or torch.compile in the modes of `--compile`
  (inductor, default mode; its first steps, the compile, are reported apart);
- allocator (`--allocators`): `keep`, the freed memory kept for the next step
  (`keep_freed_memory`, what `tinycnn train` does on the CPU), or `default`, glibc's own
  handling (large blocks mapped and unmapped each time).

Each path runs in its own process (a thread count is fixed for inductor's kernels when they
are generated, the allocator's setting is the whole process's, and one process must not warm
another's caches), `--rounds` times, the paths' order reversed every other round so that a
drift of the machine's load touches every path alike. The table gives each path's median
img/s over the rounds and its ratio to the default path (eager, the usable cores' threads, the
memory kept) of the same model.

Run: `.venv/bin/python benchmarks/cpu_paths.py` (`--models`, `--rounds`, `--steps`,
`--compile`, `--allocators`, `--batch`); `--compile --allocators keep default` compares the
allocators alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tinycnn.shared.hardware import cpu_model, usable_cores  # noqa: E402

MODELS = ["M1", "M1-BN"]  # what a CPU trains (tinycnn reference order): config names


def child(
    model: str, threads: int, mode: str, allocator: str, batch: int, steps: int, warmup: int
) -> dict:
    """One path in this process: the median seconds a step over three blocks of ``steps``."""
    # torch only in a path's own process; the trainer's recipe for the model as
    # train_throughput.py times it (this folder is on the path of a script run from it)
    from train_throughput import CLASSES, CONFIG, MEAN, STD, recipes

    from tinycnn.training.device import keep_freed_memory

    if allocator == "keep" and not keep_freed_memory():
        raise SystemExit("this C library cannot keep freed memory: time --allocators default")
    import numpy as np
    import torch

    from tinycnn.data.augment import FixedTrainData
    from tinycnn.training.loop import Numerics, new_run_state, train_step

    torch.set_num_threads(threads)
    device = torch.device("cpu")
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4 * batch, 64, 64, 3), dtype=np.uint8)
    data = FixedTrainData([images], rng.integers(0, CLASSES, len(images)), seed=0)
    torch.manual_seed(0)
    numerics = Numerics(None, channels_last=True, compile=mode)
    state = new_run_state(recipes(CONFIG)[0][model], CLASSES, device, numerics)

    def batches():
        epoch = 1
        while True:
            yield from data.batches(epoch, batch)
            epoch += 1

    stream = batches()

    def step() -> None:
        x, y = next(stream)
        train_step(state.step_model, state.optimizer, x, y, (MEAN, STD), numerics, state.loss)

    start = time.perf_counter()
    for _ in range(warmup):
        step()
    first = time.perf_counter() - start
    blocks = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        blocks.append((time.perf_counter() - start) / steps)
    return {"step_s": statistics.median(blocks), "first_s": first}


def paths(compile_modes: list[str], allocators: list[str]) -> list[tuple[int, str, str]]:
    cores = usable_cores()
    threads = sorted({1, cores, 2 * cores})
    modes = ["none", *compile_modes]
    return [(t, mode, a) for a in allocators for mode in modes for t in threads]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--compile", nargs="*", default=["default"], metavar="MODE")
    parser.add_argument("--allocators", nargs="+", default=["keep"], choices=["keep", "default"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="timed steps a block (3 blocks)")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one path, in its own process
        model, threads, mode, allocator = args.child.split(":")
        warmup = 3 if mode != "none" else 1  # a compiled path compiles on its first steps
        result = child(model, int(threads), mode, allocator, args.batch, args.steps, warmup)
        print(json.dumps(result))
        return 0

    cores = usable_cores()
    default = (cores, "none", "keep" if "keep" in args.allocators else "default")
    chosen = paths(args.compile, args.allocators)
    runs: dict[tuple[str, int, str, str], list[dict]] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for r in range(args.rounds):
        order = [(m, *path) for m in args.models for path in chosen]
        for model, threads, mode, allocator in order if r % 2 == 0 else order[::-1]:
            print(
                f"round {r + 1}: {model}, {threads} threads, compile {mode}, allocator {allocator}",
                file=sys.stderr,
            )
            path = f"{model}:{threads}:{mode}:{allocator}"
            done = subprocess.run(
                [sys.executable, __file__, "--child", path,
                 "--batch", str(args.batch), "--steps", str(args.steps)],
                capture_output=True, text=True, env=env, check=True,
            )  # fmt: skip
            runs.setdefault((model, threads, mode, allocator), []).append(
                json.loads(done.stdout.strip().splitlines()[-1])
            )
    print(
        f"Machine: {cpu_model()}, {cores} usable cores (load average at the end "
        f"{os.getloadavg()[0]:.1f}); batch {args.batch}; median img/s of {args.rounds} rounds "
        f"(each the median of 3 blocks of {args.steps} steps); the default is eager with "
        f"{cores} threads, allocator {default[2]}.\n\n"
        "| model | threads | compile | allocator | img/s | first steps (s) | vs default |\n"
        "|---|---:|---|---|---:|---:|---:|"
    )
    for model in args.models:
        rate = {
            path: statistics.median(args.batch / x["step_s"] for x in runs[(model, *path)])
            for path in chosen
        }
        for (threads, mode, allocator), img_s in rate.items():
            first = statistics.median(x["first_s"] for x in runs[(model, threads, mode, allocator)])
            print(
                f"| {model} | {threads} | {mode} | {allocator} | {img_s:,.0f} | {first:.1f} "
                f"| {img_s / rate[default]:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
