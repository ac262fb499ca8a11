"""The reference runner: the archive joined from its parts, the budgeted runner on the CPU over the
demo data (what fits is recorded, nothing else starts), a run stopped and resumed at the next
sitting."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from demo_records import CPU_RATES, DEMO_ARCHIVE, DEMO_CONFIG, ROOT, run_reference

from tinycnn import reference
from tinycnn.reference import runner
from tinycnn.report.records import read_metrics
from tinycnn.shared.errors import UserError

SPLIT = ROOT.parent / "shared" / "realdata" / "split"


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Path, bytes]:
    """A 2.5 MiB archive cut into 1 MiB parts by the shared `split` script."""
    if not SPLIT.is_file():
        pytest.skip(f"{SPLIT} is not here (the shared folder beside the repository)")
    data = os.urandom(5 << 19)
    archive = tmp_path / "tiny-imagenet-200.zip"
    archive.write_bytes(data)
    out = tmp_path / "parts"
    subprocess.run(
        ["bash", str(SPLIT), str(archive), str(out), "1"], check=True, capture_output=True
    )
    return out, data


def test_parts_join_and_verify(parts: tuple[Path, bytes], tmp_path: Path) -> None:
    folder, data = parts
    assert sorted(p.name for p in folder.glob("part-*")) == ["part-1", "part-2", "part-3"]
    joined = runner.join_parts(folder, tmp_path / "joined")
    assert joined.read_bytes() == data


def test_a_missing_part_stops_everything(parts: tuple[Path, bytes], tmp_path: Path) -> None:
    folder, _ = parts
    (folder / "part-2").unlink()
    with pytest.raises(UserError, match=r"part-2 missing .* no run starts on partial data"):
        runner.join_parts(folder, tmp_path / "joined")
    assert not (tmp_path / "joined").exists()


def test_a_damaged_part_is_refused(parts: tuple[Path, bytes], tmp_path: Path) -> None:
    folder, _ = parts
    with open(folder / "part-3", "r+b") as fh:
        fh.write(b"x")
    with pytest.raises(UserError, match="part-3 is damaged"):
        runner.join_parts(folder, tmp_path / "joined")


def test_stop_status_says_why_a_run_stopped() -> None:
    assert runner.stop_status(-15, True) == "stopped at the deadline (checkpoint kept)"
    assert runner.stop_status(143, True) == "stopped by SIGTERM (checkpoint kept)"
    assert runner.stop_status(-15, False) == "stopped at the deadline (no checkpoint yet)"
    assert runner.stop_status(1, True) == "failed (1)"


def test_a_run_starts_when_it_fits_or_resumes_later() -> None:
    """Where the work folder is kept (the CPU), a run longer than what is left starts and
    resumes at the next sitting; on a machine given back after the call, only what fits."""
    import time

    sitting = runner.Runner.__new__(runner.Runner)
    sitting.deadline = time.monotonic() + 1000
    sitting.args = type("Args", (), {"resume_later": False})()
    assert sitting.starts(900) and not sitting.starts(1100)
    sitting.args.resume_later = True
    assert sitting.starts(50_000)
    sitting.deadline = time.monotonic() + runner.MIN_SITTING - 5
    assert not sitting.starts(10)


def test_runner_records_what_fits_and_starts_nothing_else(records: Path) -> None:
    manifest, files = reference.read_records(records)
    runs = {r["experiment"]: r for r in manifest["runs"]}
    assert runs["m1_set1"]["status"] == "recorded"
    assert runs["alexnet"]["status"] == "not started: waits for a GPU"
    assert "wall_seconds" not in runs["alexnet"]  # never started
    m1 = runs["m1_set1"]
    for key in ("projected_seconds", "wall_seconds", "train_seconds", "validation_seconds"):
        assert m1[key] > 0, key
    assert m1["train_seconds"] + m1["validation_seconds"] <= m1["wall_seconds"]
    assert sorted(n for n in files if n.startswith("runs/")) == [
        f"runs/m1_set1/seed0/{name}" for name in sorted(reference.RUN_FILES)
    ]
    assert not any(n.endswith(".pt") for n in files)  # no weights
    assert {"data/stats.json", "data/classes.tsv", "data/set1_preview.png"} <= set(files)
    identity = manifest["identity"]
    assert identity["archive"]["md5"] == "bd37d950035ffb53b6eda235c0908d17"
    assert set(identity["packed"]) == set(reference.PACKED_ARRAYS)
    assert manifest["code"]["commit"].startswith("0123456789abcdef")
    assert len(manifest["code"]["source_sha256"]) == 64
    assert manifest["machine"]["torch"] and manifest["machine"]["device"] == "cpu"
    assert "cuda" not in manifest["machine"]  # torch's build of CUDA is no CUDA of this machine
    assert manifest["machine"]["cpu"] and manifest["machine"]["cores"] >= 1
    run_machine = json.loads(files["runs/m1_set1/seed0/summary.json"])["machine"]
    assert run_machine["device"] == "cpu" and run_machine["cpu"] == manifest["machine"]["cpu"]
    assert run_machine["threads"] == run_machine["cores"] == manifest["machine"]["cores"]
    summary = json.loads(files["runs/m1_set1/seed0/summary.json"])
    assert summary["code"]["commit"] == manifest["code"]["commit"]
    assert summary["data"]["archive_md5"] == identity["archive"]["md5"]
    for name, digest in identity["packed"].items():
        assert summary["data"]["arrays"][name] == digest
    assert reference.record_problems({k.split("/")[-1]: v for k, v in files.items()}) == []


def test_a_stopped_run_resumes_from_its_checkpoint_at_the_next_sitting(
    records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGTERM after the first epoch's checkpoint: the first sitting records nothing and says
    why the run stopped; the next, with the same work folder, resumes the run from its
    checkpoint and records it, with the metrics of the run that was never stopped."""
    import signal
    import threading
    import time

    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"cpu": CPU_RATES}))
    popen = subprocess.Popen

    def stopping(args, **kwargs):  # the train job gets SIGTERM once its checkpoint exists
        proc = popen(args, **kwargs)
        if "train" in args:
            checkpoint = Path(args[args.index("--checkpoint") + 1])

            def stop() -> None:
                while not checkpoint.is_file() and proc.poll() is None:
                    time.sleep(0.02)
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGTERM)

            threading.Thread(target=stop, daemon=True).start()
        return proc

    def sitting(out: Path) -> tuple[dict, dict]:
        code = run_reference(
            [
                "--archive", str(DEMO_ARCHIVE), "--work", str(tmp_path / "work"),
                "--out", str(out), "--budget", "900", "--config", *DEMO_CONFIG,
                "--rates", str(rates), "--reference", str(tmp_path / "empty"),
                "--only", "m1_set1:0",
            ]
        )  # fmt: skip
        assert code == 0
        return reference.read_records(out)

    # The data stage as the records fixture left it (packed, sets, previews), its runs not.
    shutil.copytree(
        records.parent / "work", tmp_path / "work",
        ignore=shutil.ignore_patterns("runs", "checkpoints", "logs", "settings", "*.tar.gz"),
    )  # fmt: skip
    monkeypatch.setattr(subprocess, "Popen", stopping)
    manifest, files = sitting(tmp_path / "first.tar.gz")
    (run,) = manifest["runs"]
    assert run["status"] == "stopped by SIGTERM (checkpoint kept)"
    assert not any(name.startswith("runs/") for name in files)  # a run cut short: no record
    monkeypatch.undo()
    manifest, files = sitting(tmp_path / "second.tar.gz")
    (run,) = manifest["runs"]
    assert run["status"] == "recorded"
    assert b"resuming m1_set1 seed 0 from" in files["runs/m1_set1/seed0/train.log"]

    def results(metrics: bytes) -> list[tuple]:
        rows = read_metrics(metrics.decode())
        return [(r["epoch"], r["train_loss"], r["val_loss"], r["val_acc"]) for r in rows]

    _, uninterrupted = reference.read_records(records)
    name = "runs/m1_set1/seed0/metrics.csv"
    assert results(files[name]) == results(uninterrupted[name])


def test_a_stopped_runner_checkpoints_its_run_records_why_and_starts_nothing_more(
    records: Path, tmp_path: Path
) -> None:
    """Ctrl-C to the runner (SIGINT; its jobs run in their own session, which no terminal's
    signal reaches): the train job at work gets SIGTERM and writes its checkpoint, the records
    file says why the run stopped, the next run never starts, the runner exits with 130, and the
    work folder's lock is free again (the job, which inherits it, has ended too)."""
    import signal
    import sys
    import time

    rates = tmp_path / "rates.json"
    rates.write_text(json.dumps({"cpu": CPU_RATES}))
    work, out = tmp_path / "work", tmp_path / "records.tar.gz"
    shutil.copytree(
        records.parent / "work", work,
        ignore=shutil.ignore_patterns("runs", "checkpoints", "logs", "settings", "*.tar.gz"),
    )  # fmt: skip
    checkpoint = runner.checkpoint_path(work, "m1_set1", 0)
    proc = subprocess.Popen(
        [
            sys.executable, str(ROOT / "scripts/reference_runs.py"),
            "--archive", str(DEMO_ARCHIVE), "--work", str(work), "--out", str(out),
            "--budget", "900", "--config", *DEMO_CONFIG, "--rates", str(rates),
            "--reference", str(tmp_path / "empty"), "--only", "m1_set1:0", "m1_set1:1",
        ],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
        # As in a terminal's foreground: a shell's background job (CI started with `&`) ignores
        # SIGINT, and the runner keeps ignored what it was started ignoring.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not checkpoint.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1]  # still training: its first epoch is kept
    holder = runner.work_in_use(work)  # the lock file says who trains what
    assert holder["pid"] == proc.pid
    assert holder["training"]["experiment"] == "m1_set1" and holder["training"]["seed"] == 0
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGINT, stderr
    manifest, files = reference.read_records(out)
    (run,) = manifest["runs"]  # seed 1 never started
    assert (run["experiment"], run["seed"]) == ("m1_set1", 0)
    assert run["status"] == "stopped: the runner received SIGINT (checkpoint kept)"
    assert manifest["stopped"] == "the runner received SIGINT"
    assert not any(name.startswith("runs/") for name in files)  # a run cut short: no record
    assert checkpoint.is_file()
    assert "stopped by SIGINT: 0 runs recorded" in stderr
    log = (work / "logs/train_m1_set1_seed0.log").read_text()
    assert "checkpoint written to" in log  # the job's own stop: its checkpoint, then exit
    assert runner.work_in_use(work) is None  # free: neither the runner nor its job holds it


def test_a_second_runner_on_a_work_folder_in_use_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runners on one work folder would train the same runs into the same checkpoints: the
    second stops at once, says who holds the folder, and touches nothing."""
    work = tmp_path / "work"
    work.mkdir()
    with runner.work_lock(work):
        code = run_reference(
            ["--archive", str(DEMO_ARCHIVE), "--work", str(work), "--budget", "60",
             "--config", *DEMO_CONFIG]
        )  # fmt: skip
        assert code == 1
        err = capsys.readouterr().err
        assert f"{work} is in use by another runner (pid {os.getpid()}, started" in err
        assert sorted(p.name for p in work.iterdir()) == ["runner.lock"]
