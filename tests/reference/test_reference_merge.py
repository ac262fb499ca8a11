"""Merging a records file into the reference folder, and each of its refusals (members it does not
expect, malformed files, edited summaries and metrics, other data, other settings); the render's
checks of a folder edited since its merge."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from demo_records import DEMO_CONFIG, _edited, demo_config

from tinycnn import reference
from tinycnn.shared.errors import UserError


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
