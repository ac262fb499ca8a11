"""SLURM: the profile's dry run, and the demo pipeline on a real single-node SLURM on localhost.

The real test (marked ``slurm``) starts the local cluster of ``scripts/local-slurm.sh`` (the
script users run to try the profile) with its state in a temporary folder, runs the demo through
``snakemake --profile profiles/slurm`` and interrupts two train jobs on the way: one with
``scancel`` (SIGTERM), one with ``scancel --signal=USR1`` (what ``--signal=USR1@300`` sends
before a time limit). It needs root and Debian's packages (``make slurm-setup``); skip it with
``pytest -m "not slurm"`` or ``make test SLURM=0``. Every daemon is stopped by PID afterwards,
also when the test fails.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from itertools import combinations
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCRIPT = ROOT / "scripts/local-slurm.sh"
PROFILE = ROOT / "profiles/slurm"
DEMO = ROOT / "presets/demo.yaml"
# The demo, shorter; two runs long enough to interrupt.
PRESET = ROOT / "tests/integration/slurm/preset.yaml"
# The two runs the test interrupts, and how (the signal SLURM delivers to the job step).
INTERRUPT = {"m1_lr1e-3": "TERM", "m1_lr1e-4": "USR1"}
TIMING_COLUMNS = ("epoch_seconds", "images_per_second")
# metrics_sha256 hashes metrics.csv, its timing columns included: it differs as they do.
TIMING_KEYS = ("train_seconds", "wall_seconds", "images_per_second", "metrics_sha256")
START_LINE = re.compile(
    r"^started (?P<time>\S+) on (?P<host>\S+): SLURM_JOB_ID=(?P<job>\S+) "
    r"CUDA_VISIBLE_DEVICES=(?P<gpu>\S+)$",
    flags=re.M,
)


def snakemake_cmd(*args: str) -> list[str]:
    return [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), *args]


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def job_blocks(output: str) -> dict[str, list[str]]:
    """The dry run's job blocks, by rule."""
    blocks: dict[str, list[str]] = {}
    for block in re.split(r"\n(?=\S*rule \w+:\n)", output):
        m = re.search(r"rule (\w+):\n", block)
        if m:
            blocks.setdefault(m[1], []).append(block)
    return blocks


def resources(block: str) -> str:
    return re.search(r"^\s+resources: (.*)$", block, flags=re.M)[1]


def test_profile_dry_run_lists_the_papers_jobs_with_their_gpu_requests(tmp_path):
    # No SLURM needed. The workstation's `--resources gpu=1` is given on purpose: it must
    # not limit a cluster run (gpu is scoped local in the profile).
    result = subprocess.run(
        snakemake_cmd("--profile", str(PROFILE), "-n", "--resources", "gpu=1"),
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    blocks = job_blocks(out)
    counts = {rule: len(b) for rule, b in blocks.items()}
    assert counts == {
        "download": 1,
        "pack": 1,
        "augment": 2,
        "preview": 2,
        "settings": 11,
        "train": 11,
        "config_snapshot": 1,
        "architectures": 1,
        "aggregate": 1,
        "paper_html": 1,
        "paper_pdf": 1,
        "all": 1,
    }, counts
    experiments = set()
    for block in blocks["train"]:
        res = resources(block)
        experiments.add(re.search(r"wildcards: experiment=([^,\s]+)", block)[1])
        assert "gpu=1" in res.split(", ") and "cpus_per_gpu=4" in res, res
        assert "slurm_partition=gpu" in res and "slurm_extra=--signal=USR1@300" in res, res
        assert "runtime=720" in res and "mem_mb=24000" in res, res
        assert "exec tinycnn train " in block
    assert len(experiments) == 11
    for rule, rule_blocks in blocks.items():
        if rule != "train":
            for block in rule_blocks:
                res = resources(block)
                assert "gpu" not in res.replace("slurm_partition=cpu", ""), (rule, res)
                assert "slurm_partition=cpu" in res and "runtime=60" in res, (rule, res)


# --- the real cluster --------------------------------------------------------------------------


def missing_prerequisites() -> list[str]:
    missing = []
    if os.geteuid() != 0:
        missing.append("root (slurmd starts jobs as their user)")
    path = f"{os.environ['PATH']}:/usr/sbin:/sbin"
    for cmd in ("slurmctld", "slurmd", "sbatch", "slurmdbd", "munged", "mariadbd"):
        if shutil.which(cmd, path=path) is None:
            missing.append(cmd)
    return missing


@pytest.fixture(scope="module")
def local_slurm(tmp_path_factory: pytest.TempPathFactory):
    """A running single-node SLURM (scripts/local-slurm.sh), stopped by PID afterwards."""
    missing = missing_prerequisites()
    if missing:
        pytest.fail(
            f"the real-SLURM test needs {', '.join(missing)}: run `make slurm-setup` as root, "
            "or skip the test with `pytest -m 'not slurm'` (make test SLURM=0)"
        )
    state = tmp_path_factory.mktemp("local-slurm")
    # Another local cluster on this machine (a colleague's test run): wait for it to stop.
    script_env = {**os.environ, "LOCAL_SLURM_WAIT": "600"}
    try:
        started = subprocess.run(
            [str(SCRIPT), "start", str(state)],
            env=script_env,
            capture_output=True,
            text=True,
            timeout=720,
        )
        if started.returncode != 0:
            logs = "".join(
                f"\n--- {log.name}\n" + log.read_text(errors="replace")[-2000:]
                for log in sorted((state / "log").glob("*.log"))
            )
            pytest.fail(f"local SLURM did not start:\n{started.stderr}{logs}")
        yield state
    finally:
        stopped = subprocess.run(
            [str(SCRIPT), "stop", str(state)], capture_output=True, text=True, timeout=300
        )
        assert stopped.returncode == 0, stopped.stderr


def slurm(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout


def running_job(experiment: str) -> str | None:
    """The SLURM job id of the running train job of ``experiment`` (seed 0), if any."""
    # The plugin's job comment: rule_train_wildcards_<experiment>_<seed>.
    for line in slurm("squeue", "-h", "-t", "R", "-o", "%i|%k").splitlines():
        job, comment = line.split("|", 1)
        if comment == f"rule_train_wildcards_{experiment}_0":
            return job
    return None


def read_metrics(path: Path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(path.open()))
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def read_summary(path: Path) -> dict:
    summary = json.loads(path.read_text())
    return {k: v for k, v in summary.items() if k not in TIMING_KEYS}


def tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@pytest.mark.slurm
@pytest.mark.timeout(2400)
def test_demo_pipeline_on_a_real_slurm(local_slurm: Path, tmp_path: Path):
    work, reference = tmp_path / "slurm", tmp_path / "local"
    work.mkdir()
    reference.mkdir()
    configs = ["--configfile", str(DEMO), str(PRESET)]
    # Both runs train with 2 threads: the same arithmetic, so the same numbers.
    threads = ["--set-threads", "train=2"]
    targets = [f"results/demo/runs/{e}/seed0/metrics.csv" for e in INTERRUPT]
    # The uninterrupted runs to compare with: local, no SLURM, alongside the cluster run.
    ref_log = (reference / "snakemake.log").open("w")
    ref = subprocess.Popen(
        snakemake_cmd(*targets, "--cores", "2", *threads, *configs),
        cwd=reference,
        env=env(),
        stdout=ref_log,
        stderr=subprocess.STDOUT,
    )
    log_path = work / "snakemake.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        snakemake_cmd(
            "--profile",
            str(PROFILE),
            *configs,
            *threads,
            # The workstation's limit, which must not throttle the cluster run.
            "--resources",
            "gpu=1",
            # Quicker polling than the profile's default suits a one-node test cluster.
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--slurm-keep-successful-logs",
            # Logs each sbatch call.
            "--verbose",
        ),
        cwd=work,
        env=env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    interrupted: dict[str, str] = {}  # experiment -> SLURM job id
    try:
        deadline = time.monotonic() + 1800  # a hang guard; about 7 minutes on 2 cores
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the SLURM run took too long\n" + tail(log_path)
            for experiment, how in INTERRUPT.items():
                checkpoint = work / f"results/demo/checkpoints/{experiment}_seed0.pt"
                if experiment in interrupted or not checkpoint.exists():
                    continue
                # Its first epoch is done and checkpointed: interrupt it mid-run.
                job = running_job(experiment)
                if job is not None:
                    how_arg = [] if how == "TERM" else [f"--signal={how}"]
                    # Fails only when the job has just ended: then it was not interrupted.
                    cancel = subprocess.run(
                        ["scancel", *how_arg, job], capture_output=True, timeout=60
                    )
                    if cancel.returncode == 0:
                        interrupted[experiment] = job
            time.sleep(0.2)
        assert proc.returncode == 0, tail(log_path)
        assert ref.wait(timeout=600) == 0, tail(reference / "snakemake.log")
    finally:
        for p in (proc, ref):
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # Snakemake cancels its SLURM jobs
                try:
                    p.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    p.kill()
        log.close()
        ref_log.close()
    out = log_path.read_text()
    assert interrupted.keys() == INTERRUPT.keys(), f"not interrupted in time: {interrupted}"
    # The profile's status command (see profiles/slurm): squeue, no fallback to sacct.
    assert "command=squeue" in out and "Falling back to 'sacct'" not in out

    # The paper.
    assert (work / "results/demo/paper.pdf").read_bytes()[:5] == b"%PDF-"
    assert (work / "results/demo/paper.html").stat().st_size > 0
    assert not list((work / "results/demo/checkpoints").glob("*.pt"))

    # Every job went through sbatch; what SLURM recorded (sacct, via slurmdbd).
    run_id = re.search(r"SLURM run ID: (\S+)", out)[1]
    fields = "JobIDRaw,Comment,Partition,ReqTRES,AllocTRES,State,Start,End"
    rows = [
        dict(zip(fields.split(","), line.split("|"), strict=True))
        for line in slurm(
            "sacct", "-X", "-n", "-P", "--name", run_id, "-S", "2000-01-01", "-o", fields
        ).splitlines()
    ]
    jobs = {r["JobIDRaw"]: r for r in rows}
    train = {j: r for j, r in jobs.items() if r["Comment"].startswith("rule_train_")}
    others = {j: r for j, r in jobs.items() if j not in train}
    # 11 runs and the demo's ablation variant (tests/integration/slurm/preset.yaml), two of them
    # twice (interrupted, then resumed).
    assert len(train) == 14, rows
    for r in train.values():
        assert r["Partition"] == "gpu", r
        assert "gres/gpu=1" in r["ReqTRES"] and "gres/gpu=1" in r["AllocTRES"], r
    states = sorted(r["State"].split()[0] for r in train.values())
    assert states == ["CANCELLED"] + ["COMPLETED"] * 12 + ["FAILED"], states
    assert others and all(
        "gpu" not in r["ReqTRES"] and r["Partition"] == "cpu" for r in others.values()
    ), others
    sbatch = re.findall(r"^sbatch call: (sbatch .*)$", out, flags=re.M)
    train_calls = [c for c in sbatch if "--comment rule_train_" in c]
    assert len(train_calls) == 14 and len(sbatch) == len(jobs), sbatch
    for call in train_calls:
        assert " -p gpu " in call and " --gpus=1" in call, call
        assert "--cpus-per-gpu=4" in call and "--signal=USR1@300" in call, call
    # The retries of the interrupted runs: attempt 2, with twice the time (720 min an attempt).
    retries = sorted(
        re.search(r"--comment rule_train_wildcards_(\S+)_0 ", c)[1]
        for c in train_calls
        if "--attempt 2 " in c
    )
    assert retries == sorted(INTERRUPT), retries
    assert all((" -t 1440 " in c) == ("--attempt 2 " in c) for c in train_calls)

    # Two train jobs ran at the same time, each on its own GPU (the start line of each run).
    started = {}
    for experiment_log in sorted((work / "logs/demo/train").glob("*.log")):
        m = START_LINE.search(experiment_log.read_text())
        assert m, experiment_log
        started[m["job"]] = m["gpu"]
    assert len(started) == 12 and set(started) <= set(train), (started, train)
    assert set(started.values()) == {"0", "1"}, started

    def span(job: str) -> tuple[datetime, datetime]:
        return (
            datetime.fromisoformat(train[job]["Start"]),
            datetime.fromisoformat(train[job]["End"]),
        )

    overlapping = [
        (a, b)
        for a, b in combinations(started, 2)
        if span(a)[0] < span(b)[1] and span(b)[0] < span(a)[1]
    ]
    assert overlapping, {j: span(j) for j in started}
    for a, b in overlapping:
        assert started[a] != started[b], (a, b, started)

    # The interrupted jobs: the signal reached `tinycnn train`, which checkpointed mid-epoch and
    # exited with 128+signal; the retry resumed there and ended as an uninterrupted run.
    exit_status = {"TERM": 143, "USR1": 138}
    for experiment, how in INTERRUPT.items():
        job = interrupted[experiment]
        assert train[job]["State"].startswith("CANCELLED" if how == "TERM" else "FAILED")
        slurm_log = work / f".snakemake/slurm_logs/rule_train/{experiment}_0/{job}.log"
        assert f"exit status {exit_status[how]}" in slurm_log.read_text(), tail(slurm_log)
        train_log = (work / f"logs/demo/train/{experiment}_seed0.log").read_text()
        checkpoint = f"results/demo/checkpoints/{experiment}_seed0.pt"
        assert re.search(
            rf"^resuming {re.escape(experiment)} seed 0 from {re.escape(checkpoint)} "
            r"at epoch \d+, step \d+$",
            train_log,
            flags=re.M,
        ), train_log[-3000:]
        run, ref_run = (d / f"results/demo/runs/{experiment}/seed0" for d in (work, reference))
        assert read_metrics(run / "metrics.csv") == read_metrics(ref_run / "metrics.csv")
        assert read_summary(run / "summary.json") == read_summary(ref_run / "summary.json")
        weights = torch.load(run / "model.pt", weights_only=True)
        ref_weights = torch.load(ref_run / "model.pt", weights_only=True)
        assert weights.keys() == ref_weights.keys()
        assert all(torch.equal(weights[k], ref_weights[k]) for k in weights)
