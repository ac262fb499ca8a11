"""Training throughput of the project's own train step, per model, against plain eager fp32.

For each of the paper's seven models (config.yaml's `models`), on the device at hand:

- the trainer's path: `tinycnn.training.loop.train_step` on `new_run_state(...).step_model` with
  the device's default numerics (`default_numerics`: on CUDA bf16 autocast, channels_last and
  torch.compile reduce-overhead, whose compile time is reported; on the CPU fp32
  channels_last, eager, the freed memory kept as `tinycnn train` keeps it), batches taken
  from a device-resident uint8 array by `FixedTrainData` exactly as a run takes them;
- the same step with other numerics, eager (plain fp32 contiguous is the baseline of every
  ratio, plus fp32 channels_last and bf16 channels_last where they differ from the default;
  `--paths` names the ones to time besides the default and the baseline).

Columns: images per second and ms per step (median of `--repeats` timed blocks of `--steps`
steps after `--warmup` steps), the share of the step spent producing the batch (indexing the
uint8 array, and normalization; `online` also augments set 1 and set 2 on the device), the
achieved TFLOP/s of the trainer's path, peak device memory (CUDA only), and the ratio of each
path's img/s to the eager fp32 baseline. FLOPs are counted with `torch.utils.flop_counter`
(forward and backward of one step; a multiply-add counts 2; convolutions and matrix products
only, the optimizer step and elementwise ops not counted).

From the trainer's rates and a timed validation pass (10,000 images), it projects the wall time
of the paper's grid (config.yaml's 11 runs, their epochs and training-set sizes, 100,000 images
a set, one validation pass an epoch) on this device.

The images are random uint8 (not zeros, which can run faster than real data).

`--preset presets/modern.yaml` times the runs beyond the paper that a preset defines instead
(`beyond_paper.experiments`), each through its own recipe: its optimizer, its loss, its schedule
stepped as the trainer steps it, and its augmentation drawn online on the device when its mode
is online (the data share then times its own sets); the projection is then each of those runs:
its epochs x (100,000 images / img/s + one validation pass).

`--compile default max-autotune` adds the default numerics under those `torch.compile` modes
(the model's forward and backward; reduce-overhead also replays them as CUDA graphs), with the
seconds their first steps took (the compilation). From the rates of every path that all models
have, the grid is also projected per path.

Run: `.venv/bin/python benchmarks/train_throughput.py` (CUDA when available), `--quick` for a
seconds-long smoke run (M1 or the preset's first run, two paths, batch 32), `--markdown FILE` to
also write the tables.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tinycnn.config import beyond_paper  # noqa: E402
from tinycnn.config.merge import deep_merge  # noqa: E402
from tinycnn.config.resolve import resolve_experiment, training_settings  # noqa: E402
from tinycnn.data.augment import FixedTrainData, OnlineTrainData, parse_set  # noqa: E402
from tinycnn.shared.files import write_json  # noqa: E402
from tinycnn.shared.hardware import cpu_model  # noqa: E402
from tinycnn.training.device import keep_freed_memory, run_machine  # noqa: E402
from tinycnn.training.loop import (  # noqa: E402
    Numerics,
    _prepare,
    default_numerics,
    describe_numerics,
    evaluate,
    new_run_state,
    train_step,
)

CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
# The models only the ablations train (M1-BN, M4-BN): timed beside the paper's seven, so that
# the rates file projects every reference run.
ABLATION_MODELS = yaml.safe_load((ROOT / "presets/ablations.yaml").read_text())["models"]
TRAIN_PER_SET = 100_000  # Tiny ImageNet: 500 training images in each of 200 classes
VAL_IMAGES = 10_000
CLASSES = 200
MEAN, STD = [0.48, 0.45, 0.40], [0.28, 0.27, 0.28]  # any normalization costs the same


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device, steps: int, repeats: int) -> float:
    """Median seconds per call over ``repeats`` blocks of ``steps`` calls (after the caller's
    warm-up); the device is synchronized around each block."""
    blocks = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            fn()
        sync(device)
        blocks.append((time.perf_counter() - start) / steps)
    return statistics.median(blocks)


def batch_stream(data: FixedTrainData | OnlineTrainData, batch: int):
    """Endless uint8 batches in the trainer's order, epoch after epoch."""
    epoch = 1
    while True:
        yield from data.batches(epoch, batch)
        epoch += 1


def numerics_variants(
    device: torch.device, quick: bool = False, compile_modes: list[str] | None = None
) -> dict[str, Numerics]:
    """The trainer's default first, then the baseline and the other combinations (eager), then
    the default numerics under each extra torch.compile mode."""
    default = default_numerics(device)
    variants = {
        "default": default,
        "fp32": Numerics(None, channels_last=False),
        "fp32 channels_last": Numerics(None, channels_last=True),
        "bf16 channels_last": Numerics(torch.bfloat16, channels_last=True),
        **{compiled_label(m): replace(default, compile=m) for m in compile_modes or []},
    }
    out = {"default": variants["default"], "fp32": variants["fp32"]}
    for name, numerics in variants.items():
        if numerics not in out.values():
            out[name] = numerics
    if out["default"] == out["fp32"]:  # the baseline is the default: time it once
        del out["fp32"]
    return dict(list(out.items())[:2]) if quick else out


def compiled_label(mode: str) -> str:
    return f"default + torch.compile({mode})"


def recipes(config: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """What is timed, by name, as the settings a run gets, and each projected run's name.

    With runs beyond the paper (a preset's ``beyond_paper``): each of them, with its resolved
    settings, projected as itself. Otherwise each of the paper's models with the paper's recipe
    (the shared optimizer, a constant rate, cross-entropy, materialized sets), and the paper's
    runs projected on their models' rates."""
    modern = beyond_paper.experiments(config)
    if modern:
        return {n: training_settings(config, n) for n in modern}, {n: n for n in modern}
    shared = {
        "optimizer": config["training"]["optimizer"],
        "scheduler": None,
        "epochs": config["training"]["epochs"],
        "augmentation": {"mode": "fixed"},
    }
    models = {**config["models"], **ABLATION_MODELS}
    timed_ = {m: {**shared, "arch": spec["arch"]} for m, spec in models.items()}
    runs = {e: resolve_experiment(config, e)["model"] for e in config["experiments"]}
    return timed_, runs


def measure_model(
    name: str,
    settings: dict[str, Any],
    data: FixedTrainData | OnlineTrainData,
    online: OnlineTrainData,
    val: tuple[torch.Tensor, torch.Tensor],
    args: argparse.Namespace,
    device: torch.device,
) -> dict[str, Any]:
    """Each path's rate through the trainer's own objects: ``new_run_state`` builds the model
    (compiled when the numerics say so), its optimizer, schedule and loss, and ``train_step``
    steps ``state.step_model`` on batches of ``data``, the schedule moving on as in a run."""
    steps_per_epoch = math.ceil(len(data) / args.batch)
    norm = (MEAN, STD)
    result: dict[str, Any] = {"model": name, "paths": {}}
    for label, numerics in numerics_variants(device, args.quick, args.compile).items():
        # The default, the baseline of every ratio and the compiled paths asked for: always.
        wanted = label in ("default", "fp32") or label.startswith("default + torch.compile")
        if args.paths is not None and label not in args.paths and not wanted:
            continue
        torch.manual_seed(0)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        state = new_run_state(settings, CLASSES, device, numerics, steps_per_epoch)
        stream = batch_stream(data, args.batch)

        def step(state=state, stream=stream, numerics=numerics) -> None:
            x, y = next(stream)
            train_step(state.step_model, state.optimizer, x, y, norm, numerics, state.loss)
            state.end_step()

        compiled = numerics.compile != "none"
        try:
            sync(device)
            start = time.perf_counter()
            for _ in range(max(args.warmup, 3) if compiled else args.warmup):
                step()  # a compiled path compiles on its first steps
            sync(device)
            first = time.perf_counter() - start
            seconds = timed(step, device, args.steps, args.repeats)
        except Exception as error:  # one path's failure (a compile) must not hide the others
            result["paths"][label] = {"error": f"{type(error).__name__}: {error}"}
            del state, stream
            continue
        path = {"step_s": seconds, "img_s": args.batch / seconds}
        if compiled:
            path["first_s"] = first
        if device.type == "cuda":
            path["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
        if label == "default":
            x, y = next(stream)
            with FlopCounterMode(display=False) as counter:  # counted on the eager model
                train_step(
                    state.model, state.optimizer, x, y, norm, replace(numerics, compile="none")
                )
            path["flops"] = counter.get_total_flops()
            # Producing the batch alone: indexing (+ augmentation) and normalization.
            sources = (("data_fixed_s", data), ("data_online_s", online))
            if isinstance(data, OnlineTrainData):  # a run drawn online: its own sets only
                sources = (("data_online_s", data),)
            for key, source in sources:
                produce = batch_stream(source, args.batch)

                def make(produce=produce, numerics=numerics) -> None:
                    _prepare(next(produce)[0], norm, numerics)

                make()
                path[key] = timed(make, device, args.steps, args.repeats)
            vx, vy = val
            # One full pass first: a compiled model compiles for each batch size it meets.
            evaluate(state.step_model, vx, vy, norm, args.batch, device, numerics)
            sync(device)
            start = time.perf_counter()
            evaluate(state.step_model, vx, vy, norm, args.batch, device, numerics)
            sync(device)
            path["val_s"] = time.perf_counter() - start
            path["val_img_s"] = len(vy) / path["val_s"]
        result["paths"][label] = path
        del state, stream
    return result


def projection(
    results: dict[str, dict[str, Any]],
    runs: dict[str, str],
    config: dict[str, Any],
    path: str = "default",
) -> list[dict[str, Any]]:
    """Each run's projected time on one path (``runs``: run -> the name it was timed as):
    epochs x (its training images / the path's img/s + one validation pass, timed on the
    default path)."""
    rows = []
    for exp_name, timed_as in runs.items():
        settings = resolve_experiment(config, exp_name)
        if timed_as not in results:
            continue
        default = results[timed_as]["paths"]["default"]
        images = TRAIN_PER_SET * len(settings["augmentation"]["sets"])
        rate = results[timed_as]["paths"][path]["img_s"]
        epoch_s = images / rate + VAL_IMAGES / default["val_img_s"]
        rows.append(
            {
                "run": exp_name,
                "model": settings["model"],
                "epochs": settings["epochs"],
                "images": images,
                "seconds": settings["epochs"] * epoch_s,
            }
        )
    return rows


def grid_by_path(
    results: dict[str, dict[str, Any]], runs: dict[str, str], config: dict[str, Any]
) -> dict[str, float]:
    """Projected seconds of the whole grid for every path that every model has a rate for."""
    labels = [label for label in next(iter(results.values()))["paths"]]
    return {
        label: sum(r["seconds"] for r in projection(results, runs, config, label))
        for label in labels
        if all("img_s" in result["paths"].get(label, {}) for result in results.values())
    }


def markdown(
    results: dict[str, dict[str, Any]], grid: list[dict], by_path: dict[str, float], args, device
) -> str:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    lines = [
        f"Device: {name} ({device.type}); torch {torch.__version__}; Python "
        f"{platform.python_version()}; batch {args.batch}; {args.warmup} warm-up steps, median "
        f"of {args.repeats} blocks of {args.steps} steps; torch threads "
        f"{torch.get_num_threads()}.",
        "",
        "| model | path | img/s | ms/step | data share fixed / online | TFLOP/s | peak GiB "
        "| vs eager fp32 |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for model, result in results.items():
        base = result["paths"].get("fp32", result["paths"]["default"])["img_s"]
        for label, p in result["paths"].items():
            share = ""
            if "data_online_s" in p:  # a run drawn online has no fixed share ("—")
                fixed = p.get("data_fixed_s")
                fixed_text = f"{100 * fixed / p['step_s']:.1f}%" if fixed else "—"
                share = f"{fixed_text} / {100 * p['data_online_s'] / p['step_s']:.1f}%"
            if "error" in p:
                lines.append(f"| {model} | {label} | failed: {p['error'][:200]} | | | | | |")
                continue
            tflops = f"{p['flops'] / p['step_s'] / 1e12:.3g}" if "flops" in p else ""
            peak = f"{p['peak_gib']:.1f}" if "peak_gib" in p else ""
            ratio = f"{p['img_s'] / base:.2f}x"
            shown = (
                f"default ({describe_numerics(default_numerics(device))})"
                if label == "default"
                else label
            )
            if "first_s" in p:
                shown += f", first steps {p['first_s']:.0f} s"
            lines.append(
                f"| {model} | {shown} | {p['img_s']:,.0f} | {1000 * p['step_s']:.1f} | {share} "
                f"| {tflops} | {peak} | {ratio} |"
            )
    if grid:
        total = sum(r["seconds"] for r in grid)
        what = "runs of the preset" if args.preset else "paper grid"
        lines += [
            "",
            f"Projected {what} on this device (trainer's path; training images per epoch / "
            "img/s + one validation pass of 10,000 images, per epoch):",
            "",
            "| run | model | epochs | images/epoch | projected |",
            "|---|---|---:|---:|---:|",
        ]
        for r in grid:
            lines.append(
                f"| {r['run']} | {r['model']} | {r['epochs']} | {r['images']:,} "
                f"| {r['seconds'] / 60:.1f} min |"
            )
        lines.append(f"| **all {len(grid)} runs** | | | | **{total / 60:.1f} min** |")
    if len(by_path) > 1:
        lines += [
            "",
            "The whole grid by path (each path's training rate; validation as timed on the "
            "default path):",
            "",
            "| path | all runs |",
            "|---|---:|",
        ]
        lines += [f"| {label} | {seconds / 60:.1f} min |" for label, seconds in by_path.items()]
    return "\n".join(lines) + "\n"


def rates_entry(
    results: dict[str, dict[str, Any]],
    recipes_: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    device: torch.device,
) -> dict[str, Any]:
    """The rates file's entry for this device kind (tinycnn.reference.load_rates): per
    architecture, the trainer's default path's training rate, its validation rate, its eager
    rate (the default numerics without compiling) and the share of an eager step that drawing
    set 1 and set 2 online adds, and the compile time where the default compiles."""
    default = default_numerics(device)
    eager = replace(default, compile="none")
    eager_label = next(
        label
        for label, n in numerics_variants(device, compile_modes=args.compile).items()
        if n == eager
    )
    models = {}
    for name, result in results.items():
        paths = result["paths"]
        path = paths.get("default", {})
        if "img_s" not in path:
            continue
        entry = {
            "train_img_s": round(path["img_s"], 1),
            "eval_img_s": round(path["val_img_s"], 1),
            "eager_img_s": round(paths.get(eager_label, path).get("img_s", path["img_s"]), 1),
            "batch": args.batch,
        }
        eager_step = args.batch / entry["eager_img_s"]
        if "data_online_s" in path:
            entry["online_share"] = round(path["data_online_s"] / eager_step, 4)
        if "first_s" in path:
            entry["compile_s"] = round(path["first_s"], 1)
        models[recipes_[name]["arch"]] = entry
    return {
        "machine": run_machine(device),
        "numerics": describe_numerics(default),
        "measured": time.strftime("%Y-%m-%d"),
        "command": "benchmarks/train_throughput.py " + " ".join(sys.argv[1:]),
        "train_images": TRAIN_PER_SET,
        "val_images": VAL_IMAGES,
        "classes": CLASSES,
        "eval_speedup": 3.0,  # assumption, used only for a model with no eval_img_s
        "overhead_s": 20,  # assumption: a run's start-up (loading the arrays)
        "safety": 1.2,  # assumption: what the projection leaves out
        "models": models,
    }


def write_rates(path: Path, entry: dict[str, Any], device: torch.device) -> None:
    """Put ``entry`` into the rates file at ``path`` as this device kind's rates: its models
    join the ones measured before on the same machine and numerics; another machine's or other
    numerics' entry is replaced whole (rates of two machines never mix)."""
    import json

    rates = json.loads(path.read_text()) if path.is_file() else {}
    old = rates.get(device.type) or {}
    same = {k: old.get("machine", {}).get(k) for k in ("cpu", "cores", "gpu")} == {
        k: entry["machine"].get(k) for k in ("cpu", "cores", "gpu")
    } and old.get("numerics") == entry["numerics"]
    if same:
        entry = {**entry, "models": {**old.get("models", {}), **entry["models"]}}
    rates[device.type] = entry
    write_json(path, rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cuda, cpu")
    parser.add_argument(
        "--models", nargs="*", help="config.yaml model names, or the preset's runs (default: all)"
    )
    parser.add_argument(
        "--preset",
        type=Path,
        help="time the runs beyond the paper of this preset (e.g. presets/modern.yaml), each "
        "with its own recipe, in place of the paper's models",
    )
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=None, help="timed steps a block")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument("--images", type=int, default=None, help="size of the uint8 array")
    parser.add_argument("--threads", type=int, default=None, help="torch threads on the CPU")
    parser.add_argument("--quick", action="store_true", help="a smoke run: M1, batch 32, 2 steps")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    parser.add_argument(
        "--write-rates",
        type=Path,
        metavar="FILE",
        help="also write the measured rates into this rates file (benchmarks/rates.json), as "
        "this device kind's entry: what tinycnn reference order and the runner project from",
    )
    parser.add_argument(
        "--compile",
        nargs="*",
        metavar="MODE",
        help="also time the default path with torch.compile in these modes (default, "
        "reduce-overhead: CUDA graphs, ...); the compile time is reported",
    )
    parser.add_argument(
        "--paths",
        nargs="*",
        metavar="PATH",
        help="time only these eager paths besides the default and the eager fp32 baseline "
        "('fp32 channels_last', 'bf16 channels_last'); none named: those two alone",
    )
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available() and args.device in ("auto", "cuda")
    device = torch.device("cuda" if cuda else "cpu")
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cpu":
        keep_freed_memory()  # as `tinycnn train` does on the CPU, for every path alike
    config = CONFIG
    if args.preset:
        config = deep_merge(CONFIG, yaml.safe_load(args.preset.read_text()))
    recipes_, runs = recipes(config)
    if args.quick:
        args.models = args.models or [next(iter(recipes_))]
        args.batch, args.steps, args.warmup, args.repeats = 32, 2, 1, 1
        args.images = args.images or 256
    args.steps = args.steps or (20 if cuda else 3)
    args.warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    args.images = args.images or (TRAIN_PER_SET if cuda else 2_048)
    chosen = args.models or list(recipes_)
    unknown = sorted(set(chosen) - set(recipes_))
    if unknown:
        parser.error(f"unknown model(s) or run(s) {unknown}; known: {list(recipes_)}")

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, 64, 64, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, args.images)
    data = FixedTrainData([images], labels, seed=0, device=device)
    sets = CONFIG["augmentation"]["sets"]
    pipelines = [parse_set(s, sets[s]) for s in ("set1", "set2")]
    online = OnlineTrainData(images, labels, pipelines, seed=0, device=device)
    n_val = VAL_IMAGES if cuda else min(VAL_IMAGES, 4 * args.batch)
    val_x = torch.from_numpy(rng.integers(0, 256, (n_val, 3, 64, 64), dtype=np.uint8)).to(device)
    val_y = torch.from_numpy(rng.integers(0, CLASSES, n_val)).to(device)

    results = {}
    for model in chosen:
        print(f"measuring {model} on {device.type} ...", file=sys.stderr, flush=True)
        settings = recipes_[model]
        source: FixedTrainData | OnlineTrainData = data
        if settings["augmentation"]["mode"] == "online":  # its own sets, drawn on the device
            ops = settings["augmentation"]["ops"]
            own = [parse_set(s, ops[s]) for s in settings["augmentation"]["sets"]]
            source = OnlineTrainData(images, labels, own, seed=0, device=device)
        results[model] = measure_model(
            model, settings, source, online, (val_x, val_y), args, device
        )
        # The projection needs every model's rate and a full validation pass: CUDA runs only.
        full = cuda and len(results) == len(recipes_)
        grid = projection(results, runs, config) if full else []
        by_path = grid_by_path(results, runs, config) if full else {}
        text = markdown(results, grid, by_path, args, device)
        if args.markdown:  # after every model: a run stopped at its limit keeps what it measured
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            tmp = args.markdown.with_name(args.markdown.name + ".tmp")
            tmp.write_text(text)
            tmp.replace(args.markdown)
        if args.write_rates:  # after every model too
            write_rates(args.write_rates, rates_entry(results, recipes_, args, device), device)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
