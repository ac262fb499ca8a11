"""What sharing torch.compile's caches between runs saves: the first steps of a compiled model
in a fresh process, with an empty cache against a cache that an earlier process filled.

The reference runner (`tinycnn reference run`) gives every run one `TORCHINDUCTOR_CACHE_DIR`
(with the FX graph and autograd caches on), so that a second run of an architecture loads what
the first compiled instead of compiling again. This measures that, one architecture at a time,
each case a new Python process (as each train job is):

- cold: an empty cache directory (what every run would pay without sharing);
- warm: the same directory again, as the next run of the architecture finds it;
- cold again: a new empty directory, to show the spread of the cold case.

Each process builds the model through `tinycnn.training.loop.new_run_state` with the trainer's
default numerics on the device and `compile` set (default: the trainer's mode on CUDA,
reduce-overhead; `default` on the CPU, where CUDA graphs do not exist), then times its first
`--steps` training
steps (compiling included) and, after them, the median step. It prints the first steps' time
of each case and the ratio cold / warm.

Run: `.venv/bin/python benchmarks/compile_cache.py` (`--model`, `--compile`, `--steps`,
`--batch`, `--threads`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLASSES = 200
NORM = ([0.48, 0.45, 0.40], [0.28, 0.27, 0.28])


def child(args: argparse.Namespace) -> None:
    """One process: build, compile and step; print the timings as JSON."""
    import torch
    import yaml

    sys.path.insert(0, str(ROOT / "src"))
    from tinycnn.training.loop import default_numerics, new_run_state, train_step

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    mode = args.compile or ("reduce-overhead" if device.type == "cuda" else "default")
    settings = {
        "arch": config["models"][args.model]["arch"],
        "optimizer": config["training"]["optimizer"],
        "scheduler": None,
    }
    torch.manual_seed(0)
    state = new_run_state(settings, CLASSES, device, default_numerics(device, "auto", mode))
    x = torch.randint(0, 256, (args.batch, 3, 64, 64), dtype=torch.uint8, device=device)
    y = torch.randint(0, CLASSES, (args.batch,), device=device)

    def step() -> float:
        start = time.perf_counter()
        loss, _ = train_step(state.step_model, state.optimizer, x, y, NORM, state.numerics)
        loss.item()  # waits for the device
        return time.perf_counter() - start

    first = sum(step() for _ in range(args.steps))
    later = statistics.median(step() for _ in range(5))
    print(json.dumps({"first": first, "step": later, "mode": mode, "device": device.type}))


def run_child(args: argparse.Namespace, cache: Path) -> dict:
    env = {
        **os.environ,
        "TORCHINDUCTOR_CACHE_DIR": str(cache),
        "TORCHINDUCTOR_FX_GRAPH_CACHE": "1",
        "TORCHINDUCTOR_AUTOGRAD_CACHE": "1",
    }
    cmd = [sys.executable, __file__, "--child", "--model", args.model, "--steps", str(args.steps)]
    cmd += ["--batch", str(args.batch)]
    cmd += ["--compile", args.compile] if args.compile else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process"] = time.perf_counter() - start
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="M1", help="a config.yaml model name")
    parser.add_argument("--compile", default=None, help="a torch.compile mode")
    parser.add_argument("--steps", type=int, default=3, help="first steps timed (compiling)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        cold = run_child(args, Path(one))
        warm = run_child(args, Path(one))
        cold2 = run_child(args, Path(two))
    print(
        f"{args.model}, torch.compile {cold['mode']} on {cold['device']}, batch {args.batch}; "
        f"first {args.steps} steps of a new process (compiling included), then the median "
        "step.\n\n"
        "| cache | first steps (s) | process (s) | later step (ms) |\n"
        "|---|---:|---:|---:|\n"
        + "".join(
            f"| {name} | {r['first']:.1f} | {r['process']:.1f} | {1000 * r['step']:.1f} |\n"
            for name, r in (("cold", cold), ("warm (shared)", warm), ("cold again", cold2))
        )
        + f"\ncold / warm, first steps: {cold['first'] / warm['first']:.1f}x "
        f"(cold again: {cold2['first'] / warm['first']:.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
