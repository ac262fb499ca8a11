"""Reference runs: the archive in parts, the budgeted runner on the CPU over the demo data,
the merge and each of its refusals, the priority order, and the paper rendered from a folder
with runs missing."""

from __future__ import annotations

import copy
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from paper_checks import findings

from tinycnn import reference
from tinycnn.config.resolve import training_settings
from tinycnn.reference import runner
from tinycnn.report.records import read_metrics
from tinycnn.shared.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
SPLIT = ROOT.parent / "shared" / "realdata" / "split"


DEMO_ARCHIVE = ROOT / "presets/demo/tiny-imagenet-demo.zip"
DEMO_CONFIG = ["config.yaml", "presets/demo.yaml"]
# What the demo's runs project to on this CPU: M1 cheap, everything else past what a CPU trains
# (tinycnn.reference.CPU_LIMIT_HOURS): it waits for a GPU.
CPU_RATES = {
    "train_images": 1400,
    "val_images": 300,
    "classes": 10,
    "eval_speedup": 3.0,
    "overhead_s": 5,
    "safety": 1.0,
    "device": "cpu",
    "models": {
        arch: {"train_img_s": 2000.0 if arch == "m1" else 0.01, "compile_s": 0, "eager_img_s": 1.0}
        for arch in (
            "m1",
            "m4",
            "alexnet",
            "resnet18",
            "resnet34",
            "resnet34_preact",
            "densenet161",
            "m1_bn",
            "m4_bn",
            "resnet18_64",
        )
    },
}


def run_reference(argv: list[str]) -> int:
    """`tinycnn reference run ARGS` in the repository's root."""
    return runner.main(argv, root=ROOT)


# --- the archive in parts ---------------------------------------------------------------------


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


# --- the order and the projections ------------------------------------------------------------


def test_priority_order_of_the_reference_config() -> None:
    config = reference.load_config()
    rates = reference.load_rates(ROOT / reference.RATES, "cuda")
    order = reference.priority_order(config, rates)
    groups = reference.run_groups(config)
    paper, modern, variants = groups["paper"], groups["beyond"], groups["ablations"]
    first = [e for e, _ in order[: len(paper)]]
    assert sorted(first) == sorted(paper) and len(paper) == 11
    costs = [reference.project_seconds(training_settings(config, e), rates) for e in first]
    assert costs == sorted(costs)  # cheapest first
    assert first[0] == "m1_set1" and first[-1] == "densenet161"
    n = len(paper) + len(modern)
    assert sorted(e for e, _ in order[len(paper) : n]) == sorted(modern)
    assert sorted(e for e, _ in order[n : n + len(variants)]) == sorted(variants)
    assert all(seed == 0 for _, seed in order[: n + len(variants)])
    rest = order[n + len(variants) :]
    assert sorted(rest) == sorted((e, s) for e in [*paper, *modern, *variants] for s in (1, 2))
    # Further seeds: the paper's runs first, in the order of their seed 0, then the others.
    assert [e for e, _ in rest[: 2 * len(paper)]] == [e for e in first for _ in (1, 2)]
    assert len(set(order)) == len(order)


def test_the_cpu_plan_trains_m1_and_leaves_the_rest_to_a_gpu() -> None:
    """On the committed CPU rates (benchmarks/rates.json, written by the benchmark on the
    development machine): the paper's M1 runs and M1's ablation variants are the CPU's, every
    run of a larger model waits for a GPU, and a run of an unmeasured architecture waits too."""
    config = reference.load_config()
    rates = reference.load_rates(ROOT / reference.RATES, "cpu")
    plan = reference.plan(config, rates)
    here = [r for r in plan if r["waits_for"] is None]
    arch = {r["experiment"]: training_settings(config, r["experiment"])["arch"]
            for r in plan}  # fmt: skip
    assert {"m1_set1", "m1_lr1e-3", "m1_lr1e-4"} <= {r["experiment"] for r in here}
    assert {arch[r["experiment"]] for r in here} <= {"m1", "m1_bn"}
    for r in plan:
        if arch[r["experiment"]] in ("m4", "alexnet", "resnet34", "densenet161"):
            assert r["waits_for"] == "a GPU", r
            assert r["seconds"] > reference.CPU_LIMIT_HOURS * 3600
    assert all(r["seconds"] <= reference.CPU_LIMIT_HOURS * 3600 for r in here)
    trimmed = {**rates, "models": {k: v for k, v in rates["models"].items() if k != "m1_bn"}}
    bn = [r for r in reference.plan(config, trimmed) if arch[r["experiment"]] == "m1_bn"]
    assert bn and all(r["waits_for"] == "no cpu rate for its architecture" for r in bn)
    assert all(r["seconds"] is None for r in bn)


def test_load_rates_names_the_device_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"cpu": CPU_RATES}))
    assert reference.load_rates(path, "cpu")["models"]["m1"]["train_img_s"] == 2000.0
    with pytest.raises(UserError, match=r"no rates for the device 'cuda'.*--device cuda"):
        reference.load_rates(path, "cuda")
    path.write_text("{")
    with pytest.raises(UserError, match="is not JSON"):
        reference.load_rates(path, "cpu")


def test_projection_counts_epochs_images_compile_and_overhead() -> None:
    rates = copy.deepcopy(CPU_RATES)
    rates["models"]["m1"] = {"train_img_s": 1000.0, "compile_s": 7, "eager_img_s": 500.0}
    rates["models"]["m1"]["online_share"] = 0.5
    config = reference.load_config(DEMO_CONFIG)
    settings = training_settings(config, "m1_lr1e-3")
    settings["epochs"], settings["subset"] = 3, {}
    # 2 sets x 1,400 images at 1,000 img/s, 300 validation images at 3,000 img/s.
    expected = 3 * (2800 / 1000 + 300 / 3000) + 7 + 5
    assert reference.project_seconds(settings, rates) == pytest.approx(expected)
    rates["models"]["m1"]["eval_img_s"] = 600.0  # measured: it replaces the assumed speed-up
    assert reference.project_seconds(settings, rates) == pytest.approx(expected + 3 * 0.4)
    del rates["models"]["m1"]["eval_img_s"]
    settings["augmentation"]["mode"] = "online"  # plus half an eager step an image
    expected += 3 * 2800 * 0.5 / 500
    assert reference.project_seconds(settings, rates) == pytest.approx(expected)
    rates["models"].pop("m1")
    with pytest.raises(UserError, match="no cpu rates for architecture 'm1'"):
        reference.project_seconds(settings, rates)


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


# --- the runner on the CPU over the demo data, then the merge ---------------------------------


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runner over the demo archive: M1's run 1 fits its budget, AlexNet's does not."""
    tmp = tmp_path_factory.mktemp("runner")
    rates = tmp / "rates.json"
    rates.write_text(json.dumps({"cpu": CPU_RATES}))
    out = tmp / "records.tar.gz"
    code = run_reference(
        [
            "--archive", str(DEMO_ARCHIVE),
            "--work", str(tmp / "work"),
            "--out", str(out),
            "--budget", "900",
            "--commit", "0123456789abcdef0123456789abcdef01234567",
            "--config", *DEMO_CONFIG,
            "--rates", str(rates),
            "--reference", str(tmp / "empty"),
            "--only", "m1_set1:0", "alexnet:0",
        ]
    )  # fmt: skip
    assert code == 0
    return out


def demo_config() -> dict:
    return reference.load_config(DEMO_CONFIG)


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


def test_merge_adds_the_runs_and_the_data(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    added = reference.merge(records, folder, demo_config())
    assert added.wrote and len(added.runs) == 1 and added.runs[0].startswith("m1_set1 seed 0: ")
    assert list(reference.run_folders(folder)) == [("m1_set1", 0)]
    assert (folder / "data/stats.json").is_file() and (folder / "data/set2_preview.png").is_file()
    identity = json.loads((folder / "identity.json").read_text())
    assert set(identity["augmented"]) == {"set1"}
    assert len(json.loads((folder / "manifest.json").read_text())["sessions"]) == 1
    # The same file again changes nothing, and says so.
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    again = reference.merge(records, folder, demo_config())
    assert again == reference.Merged([], False)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert not list(tmp_path.glob(".ref.merge-*"))  # no staging folder left behind


def _tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info in members:
            payload = data.get(info.name)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("data/../../../../x.png", "which no records file holds"),
        ("evil.png", "which no records file holds"),
        ("../x", "which no records file holds"),
        ("runs/m1_set1/seed0/model.pt", "which no records file holds"),
        ("runs/../seed0/summary.json", "which no records file holds"),
        ("link", "which no records file holds"),
        ("data/set1_preview.png:link", "not a regular file"),
        ("runs/m1_set1/seed0/train.log:big", "over its limit"),
    ],
)
def test_merge_refuses_a_member_it_does_not_expect(
    records: Path, tmp_path: Path, member: str, message: str
) -> None:
    """Traversal, stray, link and oversize members refuse the whole file before any write."""
    manifest, files = reference.read_records(records)
    name, _, kind = member.partition(":")
    members = [_file("manifest.json", json.dumps(manifest).encode())[0]]
    data = {"manifest.json": json.dumps(manifest).encode(), **files}
    members += [_file(n, d)[0] for n, d in files.items() if n != name]
    if kind == "link":
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        members.append(info)
    elif kind == "big":
        info, payload = _file(name, b"x" * (reference.MEMBER_LIMITS["train.log"] + 1))
        members.append(info)
        data[name] = payload
    else:
        info, payload = _file(name, b"pwned")
        members.append(info)
        data[name] = payload
    bad = _tar(tmp_path / "bad.tar.gz", members, data)
    folder = tmp_path / "repo" / "ref"
    with pytest.raises(UserError, match=message):
        reference.merge(bad, folder, demo_config())
    assert not (tmp_path / "repo").exists() and not (tmp_path / "x").exists()
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a gzip at all", "damaged or not a .tar.gz"),
        ("truncated", "damaged or not a .tar.gz"),
        ("manifest:{", "manifest.json is not JSON"),
        ("manifest:[]", "names no data identity"),
        ('manifest:{"runs": []}', "names no data identity"),
    ],
)
def test_merge_refuses_a_malformed_file_in_one_line(
    records: Path, tmp_path: Path, content, message: str
) -> None:
    path = tmp_path / "bad.tar.gz"
    if content == "truncated":
        path.write_bytes(records.read_bytes()[: records.stat().st_size // 2])
    elif isinstance(content, str):
        body = content.split(":", 1)[1].encode()
        _tar(path, [_file("manifest.json", body)[0]], {"manifest.json": body})
    else:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as err:
        reference.merge(path, tmp_path / "ref", demo_config())
    assert "\n" not in str(err.value)
    assert not (tmp_path / "ref").exists()


def test_merge_refuses_a_held_run_with_other_files(records: Path, tmp_path: Path) -> None:
    """The same run again with another log (its summary and metrics the same): not a silent
    replacement of what the folder holds."""
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    before = (folder / "runs/m1_set1/seed0/train.log").read_bytes()
    name = "runs/m1_set1/seed0/train.log"
    other = _edited(records, tmp_path, lambda m, f: f.update({name: f[name] + b"again\n"}))
    with pytest.raises(UserError, match=r"already holds m1_set1 seed 0 with other files \(train"):
        reference.merge(other, folder, demo_config())
    assert (folder / name).read_bytes() == before


def _edited(records: Path, tmp_path: Path, edit) -> Path:
    manifest, files = reference.read_records(records)
    edit(manifest, files)
    out = tmp_path / "edited.tar.gz"
    reference.write_records(out, manifest, files)
    return out


def _summary_edit(**changes):
    def edit(manifest: dict, files: dict) -> None:
        name = "runs/m1_set1/seed0/summary.json"
        summary = json.loads(files[name])
        summary.update(changes)
        files[name] = json.dumps(summary).encode()

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_summary_edit(best_val_acc=99.9), "summary best_val_acc 99.9 but metrics.csv says"),
        (_summary_edit(data={"archive_md5": "0" * 32, "arrays": {}}), "trained on the archive"),
        (_summary_edit(code=None), "does not record its code"),
        (
            lambda m, f: f.update(
                {
                    "runs/m1_set1/seed0/metrics.csv": b"\n".join(
                        f["runs/m1_set1/seed0/metrics.csv"].splitlines()[:-1]
                    )
                }
            ),
            "a run cut short is not a reference run",
        ),
        (lambda m, f: f.pop("runs/m1_set1/seed0/train.log"), "lacks train.log"),
        (_summary_edit(device_name=None), "does not record the machine.*device_name"),
        (_summary_edit(torch_version=""), "does not record the machine.*torch_version"),
    ],
    ids=[
        *("summary-vs-metrics", "run-data", "no-code", "cut-short", "missing-file"),
        *("no-device-name", "no-torch"),
    ],
)
def test_merge_refuses(records: Path, tmp_path: Path, edit, message: str) -> None:
    folder = tmp_path / "ref"
    with pytest.raises(UserError, match=message):
        reference.merge(_edited(records, tmp_path, edit), folder, demo_config())
    assert not folder.exists()  # nothing written


def test_merge_and_aggregate_refuse_an_edited_summary_alike(records: Path, tmp_path: Path) -> None:
    """The merge checks a record's summary against its metrics with the aggregate's own checks
    (tinycnn.report.records): the same edit, the same words, in both."""
    from tinycnn.report.aggregate import aggregate

    edit = _summary_edit(final_train_acc=99.9, train_seconds=0.5)
    edited = _edited(records, tmp_path, edit)
    with pytest.raises(UserError) as merged:
        reference.merge(edited, tmp_path / "ref", demo_config())
    _, files = reference.read_records(edited)
    run_dir = tmp_path / "runs" / "m1_set1" / "seed0"
    run_dir.mkdir(parents=True)
    for name in reference.RUN_FILES:
        (run_dir / name).write_bytes(files[f"runs/m1_set1/seed0/{name}"])
    with pytest.raises(UserError) as aggregated:
        aggregate([run_dir], demo_config(), tmp_path / "out")
    for phrase in (
        "summary final_train_acc 99.9 but metrics.csv says",
        "summary train_seconds 0.5 but metrics.csv's epoch_seconds sum to",
    ):
        assert phrase in str(merged.value) and phrase in str(aggregated.value), phrase
    assert not (tmp_path / "ref").exists() and not (tmp_path / "out").exists()


def test_render_refuses_a_record_edited_since_its_merge(records: Path, tmp_path: Path) -> None:
    """A record of the folder edited after the merge: its summary against its metrics (the
    aggregate's check), its data against the folder's identity.json."""
    from tinycnn import cli

    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    path = folder / "runs/m1_set1/seed0/summary.json"
    original = path.read_text()
    summary = json.loads(original)
    summary["best_val_acc"] = 99.9
    path.write_text(json.dumps(summary))
    args = ["reference", "render", "--folder", str(folder), "--out", str(tmp_path / "out")]
    args += ["--config", *DEMO_CONFIG, "--html-only"]
    assert cli.main(args) == 1
    assert not (tmp_path / "out" / "paper.html").exists()
    problems = reference.folder_problems(folder, [path.parent])
    assert problems == [f"{path.parent}: summary best_val_acc 99.9 but metrics.csv says "
                        f"{json.loads(original)['best_val_acc']:g}",
                        f"{path.parent}: summary.json differ from what the merge recorded in "
                        "digests.json"]  # fmt: skip
    summary = json.loads(original)
    summary["data"]["arrays"]["val_images.npy"] = "sha256:" + "0" * 64
    path.write_text(json.dumps(summary))
    problem, _ = reference.folder_problems(folder, [path.parent])
    assert problem.startswith(f"{path.parent}: its val_images.npy is sha256:{'0' * 64}, ")
    assert cli.main(args) == 1
    path.write_text(original)
    assert cli.main(args) == 0


def _edit_losses(text: bytes) -> bytes:
    """metrics.csv with epoch 1's training loss changed: a column no summary repeats."""
    lines = text.decode().splitlines()
    cells = lines[1].split(",")
    cells[2] = "9.99"
    lines[1] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


def test_an_edited_loss_is_refused_by_merge_aggregate_and_render(
    records: Path, tmp_path: Path
) -> None:
    """The summary's metrics_sha256 (the merge and the aggregate check it) and the folder's
    digests.json (the render checks every file of every run against it)."""
    from tinycnn import cli
    from tinycnn.report.aggregate import aggregate

    name = "runs/m1_set1/seed0/metrics.csv"
    edited = _edited(records, tmp_path, lambda m, f: f.update({name: _edit_losses(f[name])}))
    with pytest.raises(UserError, match=r"metrics.csv is not the file its summary recorded"):
        reference.merge(edited, tmp_path / "ref", demo_config())
    run = tmp_path / "run" / "m1_set1" / "seed0"
    run.mkdir(parents=True)
    _, files = reference.read_records(records)
    for n in reference.RUN_FILES:
        (run / n).write_bytes(files[f"runs/m1_set1/seed0/{n}"])
    (run / "metrics.csv").write_bytes(_edit_losses((run / "metrics.csv").read_bytes()))
    with pytest.raises(UserError, match=r"metrics.csv is not the file its summary recorded"):
        aggregate([run], demo_config(), tmp_path / "aggregate")
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    metrics = folder / name
    metrics.write_bytes(_edit_losses(metrics.read_bytes()))
    problems = reference.folder_problems(folder, [metrics.parent])
    assert any("metrics.csv differ from what the merge recorded in digests.json" in p
               for p in problems)  # fmt: skip
    args = ["reference", "render", "--folder", str(folder), "--out", str(tmp_path / "out")]
    assert cli.main([*args, "--config", *DEMO_CONFIG, "--html-only"]) == 1


def test_render_refuses_a_run_copied_in_by_hand(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    copy_dir = folder / "runs/m1_set1/seed1"
    copy_dir.mkdir()
    for n in reference.RUN_FILES:
        data = (folder / "runs/m1_set1/seed0" / n).read_bytes()
        (copy_dir / n).write_bytes(data.replace(b'"seed": 0', b'"seed": 1'))
    problems = reference.folder_problems(folder, [copy_dir])
    assert problems[-1] == (
        f"{copy_dir}: digests.json has no entry for runs/m1_set1/seed1: it was not merged (copied "
        "in by hand?); merge its records file instead"
    )


def test_merge_refuses_a_file_of_other_data(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    before = sorted(p.read_bytes() for p in folder.rglob("*") if p.is_file())

    def other_archive(manifest: dict, files: dict) -> None:
        manifest["identity"]["archive"]["md5"] = "f" * 32
        for name in [n for n in files if n.startswith("runs/")]:
            files[name.replace("m1_set1", "m1_lr1e-4")] = files.pop(name)

    with pytest.raises(UserError, match=r"made from other data than .*archive.md5"):
        reference.merge(_edited(records, tmp_path, other_archive), folder, demo_config())
    assert sorted(p.read_bytes() for p in folder.rglob("*") if p.is_file()) == before


def test_merge_refuses_settings_that_today_s_config_no_longer_resolves(
    records: Path, tmp_path: Path
) -> None:
    config = demo_config()
    config["experiments"]["m1_set1"]["optimizer"] = {"lr": 1.0e-2}
    with pytest.raises(UserError, match=r"settings differ .*: optimizer.lr"):
        reference.merge(records, tmp_path / "ref", config)


def test_merge_refuses_a_run_held_with_other_numbers(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())

    def other(manifest: dict, files: dict) -> None:
        name = "runs/m1_set1/seed0/summary.json"
        summary = json.loads(files[name])
        summary["wall_seconds"] += 1
        files[name] = json.dumps(summary).encode()

    with pytest.raises(UserError, match="already holds m1_set1 seed 0"):
        reference.merge(_edited(records, tmp_path, other), folder, demo_config())


def test_stale_record_is_named_in_the_context(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    config = demo_config()
    order = [("m1_set1", 0), ("m1_lr1e-3", 0)]
    context = reference.context(folder, config, order)
    assert context["stale"] == [] and context["recorded"] == 1
    assert context["planned"] == [{"experiment": "m1_lr1e-3", "seed": 0}]
    assert context["archive"]["md5"] == "bd37d950035ffb53b6eda235c0908d17"
    config["training"]["epochs"] = 5
    stale = reference.context(folder, config, order)["stale"]
    assert stale == [{"experiment": "m1_set1", "seed": 0, "differs": ["epochs"]}]


# --- the README's table -----------------------------------------------------------------------


def test_readme_shows_what_the_reference_folder_holds() -> None:
    """The README's block is the table of the committed folder (make paper-reference writes it)."""
    text = (ROOT / "README.md").read_text()
    block = text.split(reference.README_BEGIN, 1)[1].split(reference.README_END, 1)[0]
    expected = reference.readme_table(ROOT / reference.FOLDER, reference.load_config())
    assert block.strip() == expected


def test_readme_table_gives_recorded_numbers_and_not_yet_run(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    summary = json.loads((folder / "runs/m1_set1/seed0/summary.json").read_text())
    rows = {
        r.split("|")[2].strip(" `"): [c.strip() for c in r.split("|")[1:-1]]
        for r in reference.readme_table(folder, demo_config()).splitlines()[2:]
    }
    assert len(rows) == 11
    cpu = f"{summary['machine']['cpu']} CPU, {summary['machine']['cores']} core"
    assert rows["m1_set1"][5:7] == [f"{summary['best_val_acc']:.1f}", "1"]
    assert rows["m1_set1"][7].startswith(cpu)  # the machine that trained it
    assert rows["m1_set1"][4] == "~22"
    assert all(r[5:] == ["not yet run", "0", ""] for n, r in rows.items() if n != "m1_set1")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{reference.README_BEGIN}\nold\n{reference.README_END}\nrest\n")
    assert reference.update_readme(readme, "new table")
    assert readme.read_text() == (
        f"intro\n{reference.README_BEGIN}\nnew table\n{reference.README_END}\nrest\n"
    )
    assert not reference.update_readme(readme, "new table")


# --- the paper rendered from a reference folder -------------------------------------------------


def _render(folder: Path, out: Path, config_files: list[str], *, pdf: bool = False) -> str:
    from tinycnn import cli

    args = ["reference", "render", "--folder", str(folder), "--out", str(out)]
    args += ["--config", *config_files] + ([] if pdf else ["--html-only"])
    assert cli.main(args) == 0
    return (out / "paper.html").read_text()


def _tables(html: str) -> dict:
    sys.path.insert(0, str(ROOT / "tests" / "report"))
    from test_report import _html_tables

    return _html_tables(html)


def check_against_records(html: str, folder: Path, config: dict) -> int:
    """The paper's tables against the folder's records, cell by cell: the reproduction table
    (every paper run, its number from its records or "not yet run"), the claims that involve a
    run not yet recorded (untested), and Appendix B (each run's commit). The runs shown."""
    from tinycnn.report.formatting import fmt_acc, fmt_diff, fmt_lr, fmt_paper, fmt_scheduler

    shown, stale, _ = reference.shown_runs(folder, config)
    stale_keys = {(s["experiment"], s["seed"]) for s in stale}
    summaries: dict[str, list[dict]] = {}
    for (experiment, _seed), run_dir in sorted(shown.items()):
        summaries.setdefault(experiment, []).append(
            json.loads((run_dir / "summary.json").read_text())
        )
    tables = _tables(html)
    (results,) = tables["results"]
    experiments = sorted(
        config["experiments"], key=lambda e: config["experiments"][e]["paper"]["run"]
    )
    assert [attrs["data-experiment"] for attrs, _ in results["rows"]] == experiments
    for (attrs, cells), name in zip(results["rows"], experiments, strict=True):
        paper = config["experiments"][name]["paper"]
        runs = summaries.get(name, [])
        settings = runs[0]["resolved"] if runs else training_settings(config, name)
        cells[1] = cells[1].removesuffix(" †")  # the mark of a run on a subset of the images
        assert cells[:7] == [
            str(paper["run"]),
            settings["model"],
            "+".join(settings["augmentation"]["sets"]),
            fmt_lr(settings["optimizer"]["lr"]),
            fmt_scheduler(settings.get("scheduler")),
            str(settings["epochs"]),
            fmt_paper(paper["accuracy"], paper["stated"]),
        ], name
        if not runs:
            assert cells[7:] == ["not yet run", "—", "—"], name
            assert attrs.get("class") == "not-run"
            continue
        accs = [r["best_val_acc"] for r in runs]
        mean = sum(accs) / len(accs)
        std = (sum((a - mean) ** 2 for a in accs) / (len(accs) - 1)) ** 0.5 if len(accs) > 1 else 0
        assert cells[7].startswith(fmt_acc(mean, std, len(accs))), name
        if any((name, r["seed"]) in stale_keys for r in runs):
            assert "stale" in cells[7], name
        assert cells[8:] == [str(len(accs)), fmt_diff(mean - paper["accuracy"])], name
    claims = {attrs["data-experiment"]: cells for attrs, cells in tables["claims"][0]["rows"]}
    for claim in config["report"]["claims"]:
        if any(e not in summaries for e in claim["experiments"]):
            assert claims[claim["id"]][3] == "untested", claim["id"]
            mark = claims[claim["id"]][2].removeprefix("—")  # the note says what the mark means
            assert f"{mark} not yet run: " in re.sub(r"<[^>]+>", "", html), claim["id"]
    (timing,) = tables["timing"]
    commits = sorted(
        json.loads((d / "summary.json").read_text())["code"]["commit"][:12] for d in shown.values()
    )
    assert sorted(cells[4] for _, cells in timing["rows"]) == commits
    return len(shown)


def test_committed_reference_paper_matches_its_records(tmp_path: Path) -> None:
    """What CI checks of the committed folder: the paper renders from it (PDF included), and its
    tables say what its records say."""
    folder = ROOT / reference.FOLDER
    config = reference.load_config()
    html = _render(folder, tmp_path, list(reference.CONFIG_FILES), pdf=True)
    assert (tmp_path / "paper.pdf").stat().st_size > 10_000
    # What a reviewer checks of any paper (tests/paper_checks.py).
    assert findings(tmp_path / "paper.html", tmp_path / "paper.pdf") == {}
    shown = check_against_records(html, folder, config)
    context = json.loads((tmp_path / "reference.json").read_text())
    assert context["recorded"] == shown
    assert context["archive"]["md5"] == config["data"]["md5"]
    assert "c5708d893903748360198ec594d04568" in html  # the data named in the first lines
    if not shown:
        assert "No reference run recorded yet" in html


def test_render_with_runs_missing(records: Path, tmp_path: Path) -> None:
    """One run recorded (m1_set1 of the demo config): its number, every other run not yet run,
    the notice's facts; then the same run made stale by a config change is marked."""
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    html = _render(folder, tmp_path / "out", DEMO_CONFIG)
    assert check_against_records(html, folder, demo_config()) == 1
    notice = html.split("<h1", 1)[0]
    assert "bd37d950035ffb53b6eda235c0908d17" in notice and str(folder.name) in notice
    words = " ".join(notice.split())
    # The demo's archive is no rebuild of the official one: no word of the official's MD5.
    assert "official" not in words
    # The order in words: its experiments and seeds, what a CPU trains and what waits for a GPU
    # (the committed CPU rates: M1's runs here, every other model waits).
    order = reference.priority_order(
        demo_config(), reference.load_rates(ROOT / reference.RATES, "cpu")
    )
    assert f"The plan counts {len(order)} runs (" in words
    assert "wait for their turn on a CPU and" in words and "for a GPU." in words
    summary = json.loads((folder / "runs/m1_set1/seed0/summary.json").read_text())
    assert f"{summary['best_val_acc']:.1f}" in html
    # Which machine made which run: in the first lines, and in the head of the run's paragraph.
    machine = summary["machine"]
    words = f"{machine['cpu']} CPU, {machine['cores']} core"
    assert f"Hardware: run 1 seed 0 on {words}" in " ".join(notice.split())
    assert f"trained on {summary['device_name']})" in " ".join(html.split())
    # Today's config gives m1_set1 another learning rate: the record is stale, and marked.
    edited = tmp_path / "stale.yaml"
    edited.write_text("experiments:\n  m1_set1: {optimizer: {lr: 1.0e-2}}\n")
    html = _render(folder, tmp_path / "out2", [*DEMO_CONFIG, str(edited)])
    stale = reference.load_config([*DEMO_CONFIG, str(edited)])
    assert check_against_records(html, folder, stale) == 1
    assert "‡ stale" in html and "optimizer.lr" in html


def test_a_stale_record_is_replaced_by_its_redone_run_and_superseded(
    records: Path, tmp_path: Path
) -> None:
    """A record made stale by a config change is run again: the merge replaces it (and says so),
    and while another seed is still stale, the paper shows the fresh runs and leaves it out."""
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    config = demo_config()
    config["experiments"]["m1_set1"]["optimizer"] = {"lr": 1.0e-2}
    redone = training_settings(config, "m1_set1")

    def redo(seed: int):
        def edit(manifest: dict, files: dict) -> None:
            for name in [n for n in files if n.startswith("runs/")]:
                data = files.pop(name)
                if name.endswith("summary.json"):
                    summary = json.loads(data)
                    summary.update(resolved=redone, seed=seed)
                    data = json.dumps(summary).encode()
                elif name.endswith("settings.json"):
                    data = json.dumps(redone).encode()
                files[name.replace("seed0", f"seed{seed}")] = data

        return edit

    added = reference.merge(_edited(records, tmp_path, redo(0)), folder, config)
    assert added.runs[0].endswith("(replaces its stale record)")
    assert reference.shown_runs(folder, config)[1] == []  # nothing stale now
    # Back to the old settings: seed 0 is stale again; a fresh seed 1 supersedes it.
    old = demo_config()
    (folder / "runs/m1_set1/seed1").mkdir()
    for name in reference.RUN_FILES:
        (folder / "runs/m1_set1/seed1" / name).write_bytes(
            (folder / "runs/m1_set1/seed0" / name).read_bytes()
        )
    summary = json.loads((folder / "runs/m1_set1/seed1/summary.json").read_text())
    summary.update(seed=1, resolved=training_settings(old, "m1_set1"))
    (folder / "runs/m1_set1/seed1/summary.json").write_text(json.dumps(summary))
    shown, stale, left_out = reference.shown_runs(folder, old)
    assert list(shown) == [("m1_set1", 1)] and stale == []
    assert left_out == [{"experiment": "m1_set1", "seed": 0, "why": "superseded"}]


def test_the_reference_command_outside_the_repository_says_where_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tinycnn import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["reference", "order"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: no config.yaml here ({tmp_path}): run `tinycnn reference` from")


def test_the_committed_folder_names_the_official_archive_beside_the_rebuilt_one() -> None:
    """The rebuilt archive (presets/real.yaml) has the official file name and another MD5: the
    paper says why, naming the official archive, so that a reader's MD5 check is not a surprise."""
    from tinycnn.config.load import read_config_file

    config = reference.load_config()
    official = read_config_file(ROOT / "config.yaml")["data"]
    order = reference.priority_order(config, reference.load_rates(ROOT / reference.RATES, "cpu"))
    context = reference.context(ROOT / reference.FOLDER, config, order, official=official)
    assert context["archive"]["md5"] != official["md5"]
    assert context["official"] == {
        "url": official["urls"][0], "md5": official["md5"], "size": official.get("size")
    }  # fmt: skip
    assert context["experiments"] == 21 and context["seeds_each"] == 3


def test_the_order_read_in_part_ends_quietly() -> None:
    """`tinycnn reference order | head`: no traceback when the reader stops reading."""
    done = subprocess.run(
        f"{sys.executable} -m tinycnn reference order --device cpu | head -2",
        shell=True, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.stdout.startswith("projected on this machine (cpu: ")
    assert len(done.stdout.splitlines()) == 2 and "Traceback" not in done.stderr
    # A reader gone before the first line (`true` reads nothing): the write itself fails.
    done = subprocess.run(
        f"{sys.executable} -m tinycnn reference order --device cpu | true; "
        "echo ${PIPESTATUS[0]}",
        shell=True, executable="/bin/bash", cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.stdout.strip() == "0" and "Traceback" not in done.stderr, done.stderr
