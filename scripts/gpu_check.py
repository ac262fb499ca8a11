"""`make gpu-check`: prove the CUDA path in one short run and write one Markdown results file.

On a CUDA machine, in order (the most informative first, each with its own time limit inside
one overall budget, `--budget`, default 8 minutes):

1. modern recipe: `benchmarks/train_throughput.py --preset presets/modern.yaml --paths`: the
   runs beyond the paper (ResNet18 with the 64x64 stem, and ResNet18) at real shapes (batch
   256 of 64x64 images, 200 classes) through their own recipe (SGD, label smoothing, the
   schedule stepped every batch, random resized crops and flips drawn on the GPU), compiled
   default against eager fp32, and each run's projected time against the 10-minute budget;
2. throughput: `benchmarks/train_throughput.py --paths` for all seven models: the trainer's
   default path (on CUDA: bf16 autocast, channels_last, torch.compile reduce-overhead; the
   compile time is reported) against eager fp32 (img/s, data share, TFLOP/s, peak memory,
   ratio, the projected paper grid). Its tables are written after each model, so a run stopped
   at its limit keeps what it measured and is reported "incomplete", not failed;
3. gpu tests: `pytest -m gpu` (CUDA learns the demo digits, SIGTERM and exact resume on CUDA,
   with an every-epoch schedule and with the modern recipe's per-batch one, CUDA augmentation,
   random_resized_crop included, equals the CPU's within its tolerance);
4. demo on CUDA: `make demo`'s pipeline (the runs beyond the paper included) through
   Snakemake with `--resources gpu=1` and every run on CUDA, up to the HTML paper (the PDF too
   where WeasyPrint imports). Its runs are eager (`compile: none`): compiling each of the 17
   demo runs would cost about 4 minutes, and the compiled path is proven by the gpu tests
   (learns, resumes exactly) and timed by checks 1 and 2;
5. lease: two of those train jobs forced to rerun together with `--resources gpu=2` on one GPU:
   the lease must make one wait, and both must finish.

It needs torch with CUDA, numpy, pandas, matplotlib, jinja2, pillow, pyyaml, tqdm and pytest;
Snakemake and jsonschema are installed from wheels in `--wheels` (default `.whl/`, made by
`make gpu-wheels` on a machine with PyPI access) into a temporary folder when they are missing;
without them the checks that need them are skipped and say so. No network is used.

Without CUDA it says so in one line, runs the benchmark's smoke run (so CI exercises this
script), and exits 0. The results file is `<out>/gpu-check.md`; the exit status is non-zero
when any check failed.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# `make demo`'s configs (the Makefile's DEMO_CONFIG).
DEMO_CONFIG = ["presets/demo.yaml", "presets/modern.yaml", "presets/demo/modern.yaml"]


@dataclass
class Check:
    name: str
    status: str  # passed, failed, skipped
    seconds: float
    detail: str


def run(cmd: list[str], log: Path, timeout: float, env: dict[str, str]) -> tuple[int, str]:
    """Run ``cmd`` in the repository with output to ``log``; (exit status, last lines)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        # Its own process group, so that a check past its limit is stopped with every job it
        # started (Snakemake's included), leaving no process and no lock behind.
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            code = 124
            fh.write(f"\n(stopped after its limit of {timeout:.0f} s)\n")
    lines = log.read_text(errors="replace").splitlines()
    return code, "\n".join(lines[-25:])


def environment() -> list[str]:
    import torch
    import torchvision

    rows = [
        ("date", datetime.now().astimezone().isoformat(timespec="seconds")),
        ("host", platform.node()),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        (
            "torch",
            f"{torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
            f"{torch.backends.cudnn.version()})",
        ),
        ("torchvision", torchvision.__version__),
        ("CPU cores", str(os.cpu_count())),
    ]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        rows.append(
            (
                "GPU",
                f"{props.name}, {props.total_memory / 2**30:.0f} GiB, "
                f"{props.multi_processor_count} SMs",
            )
        )
    smi = shutil.which("nvidia-smi")
    if smi:
        out = subprocess.run(
            [
                smi,
                "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                "--format=csv,noheader",
            ],
            capture_output=True,
            text=True,
        ).stdout.strip()
        rows.append(("nvidia-smi", out or "(no answer)"))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    rows.append(("git HEAD", commit.stdout.strip() if commit.returncode == 0 else "(no git)"))
    # A copied working tree can carry a stale .git: name the code by its content too.
    digest = hashlib.sha256()
    for path in sorted([*ROOT.glob("src/tinycnn/*.py"), *ROOT.glob("benchmarks/*.py")]):
        digest.update(path.name.encode() + path.read_bytes())
    rows.append(("source sha256", f"{digest.hexdigest()[:16]} (src/tinycnn, benchmarks)"))
    return [f"| {k} | {v} |" for k, v in rows]


def have(modules: list[str], env: dict[str, str]) -> bool:
    code = f"import {', '.join(modules)}"
    return (
        subprocess.run([sys.executable, "-c", code], env=env, capture_output=True).returncode == 0
    )


def install_wheels(wheels: Path, env: dict[str, str], log: Path) -> str:
    """Snakemake and jsonschema from ``wheels`` into a temporary folder on PYTHONPATH."""
    if have(["snakemake", "jsonschema"], env):
        return "snakemake and jsonschema already importable"
    files = sorted(glob.glob(str(wheels / "*.whl")))
    if not files:
        return f"snakemake or jsonschema missing and no wheels in {wheels}"
    site = Path(tempfile.mkdtemp(prefix="tinycnn-gpu-check-site-"))
    code, tail = run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--no-deps",
            "--no-compile",
            "--target",
            str(site),
            *files,
        ],
        log,
        300,
        env,
    )
    if code != 0:
        return f"installing the wheels failed:\n{tail}"
    env["PYTHONPATH"] = f"{env['PYTHONPATH']}{os.pathsep}{site}"
    bin_dir = site / "bin"
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return f"installed {len(files)} wheels from {wheels} into {site}"


def tinycnn_command(bin_dir: Path) -> None:
    """The `tinycnn` command the rules call, for this interpreter and this checkout."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "tinycnn"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tinycnn "$@"\n')
    script.chmod(0o755)


def throughput(
    name: str, preset: str | None, out: Path, env: dict[str, str], limit: float, cuda: bool
) -> tuple[Check, str]:
    """benchmarks/train_throughput.py (the paper's models, or a preset's runs beyond the paper):
    the check, and its tables under a heading."""
    start = time.perf_counter()
    table = out / f"{name.replace(' ', '-')}.md"
    bench = [
        sys.executable,
        "benchmarks/train_throughput.py",
        "--paths",
        "--markdown",
        str(table),
        *(["--preset", preset] if preset else []),
        *([] if cuda else ["--quick"]),
    ]
    code, tail = run(bench, out / "logs" / f"{table.stem}.log", limit, env)
    tables = table.read_text() if table.exists() else ""
    if code == 0 and "failed:" not in tables:
        status, detail = "passed", f"see the tables under '{name} tables' below"
    elif code == 124:
        status, detail = "incomplete", "stopped at its limit; the tables hold the models before"
    else:
        status, detail = "failed", f"exit {code}:\n```\n{tail}\n```"
    heading = f"\n## {name} tables\n\n{tables}" if tables else ""
    return Check(name, status, time.perf_counter() - start, detail), heading


def demo_on_cuda(
    out: Path, env: dict[str, str], limit: float, pdf: bool, device: str = "cuda"
) -> Check:
    start = time.perf_counter()
    preset = out / "gpu-check.yaml"
    preset.write_text(f"name: gpu-check\ntraining: {{device: {device}, compile: none}}\n")
    results = ROOT / "results" / "gpu-check"
    shutil.rmtree(results, ignore_errors=True)
    shutil.rmtree(ROOT / "logs" / "gpu-check", ignore_errors=True)
    target = f"results/gpu-check/paper.{'pdf' if pdf else 'html'}"
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        target,  # targets first: --configfile takes every name after it
        "--cores",
        str(os.cpu_count() or 4),
        "--resources",
        "gpu=1",
        "--configfile",
        *DEMO_CONFIG,
        str(preset),
    ]
    code, tail = run(cmd, out / "logs" / "demo.log", limit, env)
    seconds = time.perf_counter() - start
    if code != 0:
        return Check("demo on CUDA", "failed", seconds, f"exit {code}:\n{tail}")
    summaries = sorted(results.glob("runs/*/seed*/summary.json"))
    devices = {p.parent.parent.name: json.loads(p.read_text())["device"] for p in summaries}
    lines = [
        f"{len(summaries)} runs, devices {sorted(set(devices.values()))}; target {target}"
        + ("" if pdf else " (WeasyPrint is not importable here: the PDF step is skipped)")
    ]
    for p in summaries:
        s = json.loads(p.read_text())
        lines.append(
            f"- {s['experiment']}: best {s['best_val_acc']:.1f}% in {s['epochs']} "
            f"epochs, {s['train_seconds']:.1f} s training, "
            f"{s['images_per_second']:,.0f} img/s"
        )
    # Every experiment ran (two of the demo's have a second seed), the demo's ablation variant,
    # and the two runs beyond the paper.
    ok = len(devices) == 14 and set(devices.values()) == {device}
    return Check("demo on CUDA", "passed" if ok else "failed", seconds, "\n".join(lines))


def lease_two_jobs(out: Path, env: dict[str, str], limit: float) -> Check:
    """Force two finished demo train jobs to rerun together with gpu=2 on one GPU."""
    start = time.perf_counter()
    runs = ["m1_lr1e-3", "m1_lr1e-4"]
    targets = [f"results/gpu-check/runs/{r}/seed0/summary.json" for r in runs]
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        *targets,
        "--forcerun",
        *targets,
        "--cores",
        str(os.cpu_count() or 4),
        "--resources",
        "gpu=2",
        "--configfile",
        *DEMO_CONFIG,
        str(out / "gpu-check.yaml"),
    ]
    code, tail = run(cmd, out / "logs" / "lease.log", limit, env)
    seconds = time.perf_counter() - start
    if code != 0:
        return Check("two jobs, one GPU", "failed", seconds, f"exit {code}:\n{tail}")
    logs = [ROOT / "logs" / "gpu-check" / "train" / f"{r}_seed0.log" for r in runs]
    waited = [r for r, log in zip(runs, logs, strict=True) if "waiting up to" in log.read_text()]
    leased = [r for r, log in zip(runs, logs, strict=True) if "leased GPU 0" in log.read_text()]
    ok = len(waited) == 1 and len(leased) == 2
    detail = (
        f"both finished; both leased GPU 0: {leased == runs}; waited for the lease: "
        f"{waited or 'none (the two jobs did not overlap)'}"
    )
    return Check("two jobs, one GPU", "passed" if ok else "failed", seconds, detail)


def write_results(path: Path, env_rows: list[str], checks: list[Check], extra: str) -> None:
    lines = [
        "# make gpu-check",
        "",
        "| | |",
        "|---|---|",
        *env_rows,
        "",
        "| check | result | seconds |",
        "|---|---|---:|",
    ]
    lines += [f"| {c.name} | {c.status} | {c.seconds:.0f} |" for c in checks]
    for c in checks:
        lines += ["", f"## {c.name}: {c.status}", "", c.detail]
    if extra:
        lines += [extra]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "gpu-check-report")
    parser.add_argument("--wheels", type=Path, default=ROOT / ".whl")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for all checks")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.budget
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")
    env["PATH"] = f"{out / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    tinycnn_command(out / "bin")
    results_md = out / "gpu-check.md"
    import torch

    cuda = torch.cuda.is_available()
    env_rows = environment()
    checks: list[Check] = []

    def left(limit: float) -> float:
        return max(10.0, min(limit, deadline - time.monotonic()))

    # First: the benchmark imports the project's config code, which needs jsonschema.
    note = install_wheels(args.wheels, env, out / "logs" / "wheels.log")
    if not cuda:
        print(
            "gpu-check: no CUDA device here; running the parts that need none "
            "(the throughput benchmark's smoke run of the paper's models) and skipping the "
            "GPU checks"
        )
    # The runs beyond the paper first (their own recipe), then the paper's seven models. Without
    # CUDA only the paper's smoke run: ResNet18-64's steps take seconds each on a CPU
    # (tests/integration/test_benchmarks.py runs the preset's cheaper run there).
    extra = ""
    benchmarks = [("modern recipe", "presets/modern.yaml", 150), ("throughput", None, 240)]
    for name, preset, limit in benchmarks:
        if preset and not cuda:
            checks.append(Check(name, "skipped", 0, "no CUDA device"))
            continue
        check, tables = throughput(name, preset, out, env, left(limit), cuda)
        checks.append(check)
        extra += tables
        write_results(results_md, env_rows, checks, extra)
    if cuda:
        start = time.perf_counter()
        code, tail = run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-m",
                "gpu",
                "-q",
                "-p",
                "no:cacheprovider",
                *sorted(
                    str(p.relative_to(ROOT)) for p in ROOT.glob("tests/training/test_train_*.py")
                ),
                "tests/data/test_augment_ops.py",
            ],
            out / "logs" / "pytest-gpu.log",
            left(240),
            env,
        )
        checks.append(
            Check(
                "pytest -m gpu",
                "passed" if code == 0 else "failed",
                time.perf_counter() - start,
                f"```\n{tail}\n```",
            )
        )
        write_results(results_md, env_rows, checks, extra)
        if have(["snakemake", "jsonschema"], env):
            pdf = have(["weasyprint"], env)
            checks.append(demo_on_cuda(out, env, left(300), pdf))
            write_results(results_md, env_rows, checks, extra)
            if checks[-1].status == "passed":
                checks.append(lease_two_jobs(out, env, left(150)))
            else:
                checks.append(Check("two jobs, one GPU", "skipped", 0, "the demo failed"))
        else:
            for name in ("demo on CUDA", "two jobs, one GPU"):
                checks.append(Check(name, "skipped", 0, f"needs snakemake: {note}"))
    else:
        for name in ("pytest -m gpu", "demo on CUDA", "two jobs, one GPU"):
            checks.append(Check(name, "skipped", 0, "no CUDA device"))
    write_results(results_md, env_rows, checks, extra)
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        tar.add(out / "logs", arcname="logs")
    failed = [c.name for c in checks if c.status == "failed"]
    print((out / "gpu-check.md").read_text())
    print(
        f"gpu-check: {len(checks) - len(failed)} of {len(checks)} checks did not fail"
        + (f"; FAILED: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
