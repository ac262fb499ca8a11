"""The aggregate trusts nothing it did not check: each run's summary against its metrics, its
settings against its experiment's settings file, its data against the data given; a run that does
not hold together is refused with a message naming it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from aggregate_runs import (
    ARCHIVE_MD5,
    PACKED_DATA,
    SET_DATA,
    _sha256,
    read,
    write_data,
    write_run,
    write_settings,
)

from tinycnn.report.aggregate import aggregate
from tinycnn.report.records import DataIdentity
from tinycnn.shared.errors import UserError


def _checked_aggregate(
    config: dict[str, Any], root: Path, dirs: list[Path], sets: list[str] | None = None
) -> Path:
    """The aggregate of ``dirs`` checked against root's settings files and data (written here
    unless already there), with the sets ``sets`` given (all by default)."""
    if not (root / "settings").exists():
        write_settings(root, config)
        write_data(root)
    given = {s: root / "augmented" / f"{s}.npy" for s in (SET_DATA if sets is None else sets)}
    data = DataIdentity.of_files(root / "packed", given)
    aggregate(dirs, config, root / "out", settings_dir=root / "settings", data=data)
    return root / "out"


def _edit_summary(run_dir: Path, **changes: Any) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.update(changes)
    (run_dir / "summary.json").write_text(json.dumps(summary))


def _refused(config: dict[str, Any], root: Path, dirs: list[Path], *messages: str, **kw) -> str:
    """The aggregate fails with one message naming the run folder and each of ``messages``,
    and writes nothing."""
    with pytest.raises(UserError) as err:
        _checked_aggregate(config, root, dirs, **kw)
    text = str(err.value)
    assert f"{dirs[0]}: " in text and "train the run again" in text, text
    for message in messages:
        assert message in text, text
    assert not (root / "out").exists()
    return text


def test_checked_runs_pass(config: dict[str, Any], tmp_path: Path) -> None:
    """Runs that hold together pass every check: the control of the tests below."""
    dirs = [write_run(tmp_path, config, e, s) for e, s in (("approx", 0), ("modern", 0))]
    out = _checked_aggregate(config, tmp_path, dirs)
    assert list(read(out, "runs")["experiment"]) == ["approx"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"best_val_acc": 99.9}, "summary best_val_acc 99.9 but metrics.csv says 18.5"),
        ({"best_epoch": 3}, "summary best_epoch 3 but metrics.csv says 2"),
        ({"final_train_acc": 80.0}, "summary final_train_acc 80.0 but metrics.csv says 47"),
        ({"final_val_top5": 1.0}, "summary final_val_top5 1.0 but metrics.csv says 37"),
        ({"epochs": 2}, "3 epochs in metrics.csv, 2 in the summary, 3 in its settings"),
        ({"train_seconds": 20.0}, "summary train_seconds 20.0 but metrics.csv's epoch_seconds"),
    ],
    ids=["best_val_acc", "best_epoch", "final_train_acc", "final_val_top5", "epochs", "seconds"],
)
def test_an_edited_summary_is_refused(
    config: dict[str, Any], tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    """A summary edited after the run (best_val_acc from 18.5 to 99.9 would make the abstract
    say so) disagrees with its metrics: refused, checked or not against settings and data."""
    run_dir = write_run(tmp_path, config, "approx", 0)
    _edit_summary(run_dir, **changes)
    _refused(config, tmp_path, [run_dir], message)
    with pytest.raises(UserError, match=re.escape(message)):
        aggregate([run_dir], config, tmp_path / "unchecked")


def test_metrics_of_another_run_are_refused(config: dict[str, Any], tmp_path: Path) -> None:
    dirs = [write_run(tmp_path, config, e, s) for e, s in (("approx", 0), ("two_seeds", 1))]
    shutil.copy(dirs[1] / "metrics.csv", dirs[0] / "metrics.csv")
    _refused(
        config,
        tmp_path,
        dirs,
        "summary best_val_acc 18.5 but metrics.csv says 35",
        "summary final_train_acc 47.0 but metrics.csv says 65",
    )


def test_a_run_with_other_settings_than_its_settings_file_is_refused(
    config: dict[str, Any], tmp_path: Path
) -> None:
    """A run folder made with another learning rate than its experiment's settings file (the
    recipe table would say 1e-2 where the appendix says 1e-3); and a settings file rewritten
    since (the config changed): either way the run is refused."""
    run_dir = write_run(tmp_path, config, "approx", 0)
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["resolved"]["optimizer"]["lr"] = 1e-2
    (run_dir / "summary.json").write_text(json.dumps(summary))
    settings = tmp_path / "settings" / "approx.json"
    text = _refused(
        config, tmp_path, [run_dir], f"it ran with other settings than {settings}: optimizer.lr"
    )
    assert "optimizer.lr 0.01 (in " in text and ": 0.001)" in text
    # The run as trained, the settings file rewritten since: the same refusal.
    summary["resolved"]["optimizer"]["lr"] = 1e-3
    (run_dir / "summary.json").write_text(json.dumps(summary))
    changed = json.loads(settings.read_text())
    changed["augmentation"]["mode"] = "online"
    settings.write_text(json.dumps(changed))
    _refused(config, tmp_path, [run_dir], 'augmentation.mode "fixed" (in ')
    settings.unlink()
    _refused(config, tmp_path, [run_dir], f"its experiment's settings file {settings} is missing")


def test_a_run_of_other_data_is_refused(config: dict[str, Any], tmp_path: Path) -> None:
    """The data a run names is not the data given: another packed array, another set, a set
    the aggregate is not given."""
    run_dir = write_run(tmp_path, config, "two_seeds", 0)
    _checked_aggregate(config, tmp_path, [run_dir])  # the control
    shutil.rmtree(tmp_path / "out")
    packed = tmp_path / "packed" / "train_images.npy"
    packed.write_bytes(b"train images, packed again from another archive")
    _refused(
        config,
        tmp_path,
        [run_dir],
        f"its train_images.npy is {_sha256(PACKED_DATA['train_images.npy'])}, {packed} is "
        f"{_sha256(packed.read_bytes())}",
    )
    packed.write_bytes(PACKED_DATA["train_images.npy"])
    drawn = tmp_path / "augmented" / "set2.npy"
    drawn.write_bytes(b"set2 drawn with another seed")
    _refused(config, tmp_path, [run_dir], f"its augmented/set2 is {_sha256(SET_DATA['set2'])}")
    drawn.write_bytes(SET_DATA["set2"])
    _refused(
        config,
        tmp_path,
        [run_dir],
        "it was trained on augmented/set2, which is not among the data given",
        sets=["set1"],
    )


def test_a_run_of_another_archive_is_refused(config: dict[str, Any], tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, config, "approx", 0)
    summary = json.loads((run_dir / "summary.json").read_text())
    stats = json.dumps({"archive_md5": "f" * 32}).encode()
    summary["data"]["archive_md5"] = "f" * 32
    summary["data"]["arrays"]["stats.json"] = _sha256(stats)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    _refused(
        config,
        tmp_path,
        [run_dir],
        f"trained on the archive with MD5 {'f' * 32}, {tmp_path / 'packed' / 'stats.json'} "
        f"names {ARCHIVE_MD5}",
        "its stats.json is",
    )


def test_a_recorded_digest_stands_for_its_file(config: dict[str, Any], tmp_path: Path) -> None:
    """The digest the data stage recorded beside a file (``<file>.sha256``) stands for it
    while the file is not newer; a file written since is hashed."""
    import os

    run_dir = write_run(tmp_path, config, "approx", 0)
    write_settings(tmp_path, config)
    packed, _ = write_data(tmp_path)
    array = packed / "val_images.npy"
    sidecar = packed / "val_images.npy.sha256"
    sidecar.write_text("0" * 64 + "\n")
    os.utime(array, ns=(1, 1))
    _refused(config, tmp_path, [run_dir], f"{array} is sha256:{'0' * 64}")
    os.utime(array)  # written after its record: hashed, and so it matches again
    _checked_aggregate(config, tmp_path, [run_dir])


@pytest.mark.parametrize("key", ["data", "code"])
def test_a_summary_without_its_data_or_code_is_refused(
    config: dict[str, Any], tmp_path: Path, key: str
) -> None:
    """An older run, which recorded neither: train it again."""
    run_dir = write_run(tmp_path, config, "approx", 0)
    summary = json.loads((run_dir / "summary.json").read_text())
    del summary[key]
    (run_dir / "summary.json").write_text(json.dumps(summary))
    _refused(config, tmp_path, [run_dir], f"the summary does not record its {key}")
    with pytest.raises(UserError, match=f"(?s)does not record its {key}.*train the run again"):
        aggregate([run_dir], config, tmp_path / "unchecked")


def test_a_summary_in_another_run_s_folder_is_refused(
    config: dict[str, Any], tmp_path: Path
) -> None:
    run_dir = write_run(tmp_path, config, "approx", 0)
    moved = tmp_path / "runs" / "approx" / "seed3"
    run_dir.rename(moved)
    _refused(config, tmp_path, [moved], "its summary is of approx seed 0, its folder approx/seed3")


def test_every_run_that_does_not_hold_together_is_named(
    config: dict[str, Any], tmp_path: Path
) -> None:
    dirs = [write_run(tmp_path, config, e, s) for e, s in (("approx", 0), ("below", 0))]
    for run_dir in dirs:
        _edit_summary(run_dir, best_val_acc=99.9)
    text = _refused(config, tmp_path, dirs, "2 run folders do not hold together")
    assert f"{dirs[1]}: summary best_val_acc 99.9" in text


def test_checks_from_the_command_line(config: dict[str, Any], tmp_path: Path) -> None:
    """`tinycnn aggregate --settings-dir DIR --data-dir DIR --augmented SET=PATH RUN...`."""
    from tinycnn.cli import main

    run_dir = write_run(tmp_path, config, "two_seeds", 0)
    write_settings(tmp_path, config)
    packed, sets = write_data(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    args = ["aggregate", "--config", str(tmp_path / "config.json"), "--out", str(tmp_path / "o")]
    args += ["--settings-dir", str(tmp_path / "settings"), "--data-dir", str(packed)]
    args += [f"--augmented={name}={path}" for name, path in sets.items()]
    assert main([*args, str(run_dir)]) == 0
    assert list(read(tmp_path / "o", "runs")["experiment"]) == ["two_seeds"]
    sets["set1"].write_bytes(b"another draw")
    assert main([*args, str(run_dir)]) == 1
    assert main(["aggregate", "--config", "c", "--out", "o", "--augmented", "set1=x"]) == 1
