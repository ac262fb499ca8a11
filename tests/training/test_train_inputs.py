"""What a train job checks before it trains (issue 33): its settings file, its run folder, every
input against the digest the data stage recorded, the labels against the classes; and what its
summary records of itself (the metrics' digest, the machine)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from demo_runs import SMALL, experiment, run

from tinycnn.shared.digests import digest_path
from tinycnn.shared.errors import UserError
from tinycnn.shared.hardware import usable_cores

pytestmark = pytest.mark.usefixtures("_restore_torch_threads")


def _copy(demo: SimpleNamespace, where: Path) -> SimpleNamespace:
    """The demo's packed data and sets, with their .sha256 sidecars, where a test may spoil them."""
    packed = shutil.copytree(demo.packed, where / "packed")
    augmented = {}
    for name, path in demo.augmented.items():
        augmented[name] = Path(shutil.copy2(path, where / path.name))
        shutil.copy2(digest_path(path), digest_path(augmented[name]))
    return SimpleNamespace(packed=Path(packed), augmented=augmented)


def test_a_set_changed_in_place_is_refused_before_training(
    demo: SimpleNamespace, demo_config: dict, tmp_path: Path
) -> None:
    data = _copy(demo, tmp_path)
    path = data.augmented["set1"]
    raw = bytearray(path.read_bytes())
    raw[-100] ^= 0xFF  # one pixel, the sidecar and the time stamps left as they were
    stat = path.stat()
    path.write_bytes(bytes(raw))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(UserError, match="changed since the data stage wrote it") as err:
        run(experiment(demo_config, **SMALL), 0, data, tmp_path / "run")
    assert str(path) in str(err.value) and "rule augment" in str(err.value)
    assert not (tmp_path / "run" / "ckpt.pt").exists()


def test_labels_outside_the_classes_are_refused_before_training(
    demo: SimpleNamespace, demo_config: dict, tmp_path: Path
) -> None:
    data = _copy(demo, tmp_path)
    labels_path = data.packed / "train_labels.npy"
    labels = np.load(labels_path)
    labels[3] = 99
    np.save(labels_path, labels)  # as a faulty pack would write them, its digest recorded
    digest_path(labels_path).write_text(hashlib.sha256(labels_path.read_bytes()).hexdigest())
    with pytest.raises(UserError, match=r"train_labels.npy holds labels outside 0..9"):
        run(experiment(demo_config, **SMALL), 0, data, tmp_path / "run")


def test_a_run_folder_that_cannot_be_written_is_refused_first(
    demo: SimpleNamespace, demo_config: dict, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="cannot write the run folder"):
        run(experiment(demo_config, **SMALL), 0, demo, blocker)
    assert not (blocker.parent / "ckpt.pt").exists()


def test_a_settings_file_without_a_key_is_one_line(tmp_path: Path, demo_config: dict) -> None:
    settings = experiment(demo_config, **SMALL)
    del settings["epochs"]
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(settings))
    done = subprocess.run(
        [sys.executable, "-m", "tinycnn", "train", "--settings", str(path), "--seed", "0",
         "--data", str(tmp_path), "--out", str(tmp_path / "out"),
         "--checkpoint", str(tmp_path / "ckpt.pt")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {path} lacks epochs: it is not a settings file of this version; let the "
        "workflow write it (rule settings), or take it from results/<name>/settings/"
    ]


def test_the_summary_records_its_metrics_digest_and_its_machine(
    demo: SimpleNamespace, demo_config: dict, tmp_path: Path
) -> None:
    summary = run(experiment(demo_config, **SMALL), 0, demo, tmp_path)
    metrics = (tmp_path / "out" / "metrics.csv").read_bytes()
    assert summary["metrics_sha256"] == hashlib.sha256(metrics).hexdigest()
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["metrics_sha256"] == summary["metrics_sha256"]
    machine = on_disk["machine"]
    assert machine["device"] == "cpu" and machine["cores"] == usable_cores()
    assert machine["threads"] == 1 and machine["torch"] == on_disk["torch_version"]


def test_a_checkpoint_damaged_inside_its_data_is_not_resumed(
    interrupted: tuple[dict, Path], demo: SimpleNamespace, tmp_path: Path
) -> None:
    """One byte of a tensor flipped: torch.load reads it without complaint; its SHA-256 beside
    it does not match, and the run refuses to resume, keeping the file."""
    exp, ckpt = interrupted
    work = tmp_path / "run"
    work.mkdir()
    copy = work / "ckpt.pt"
    shutil.copy2(ckpt, copy)
    shutil.copy2(digest_path(ckpt), digest_path(copy))
    raw = bytearray(copy.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    copy.write_bytes(bytes(raw))
    with pytest.raises(UserError, match="its content differs from the SHA-256 written beside it"):
        run(exp, 0, demo, work)
    assert copy.read_bytes() == bytes(raw)
    assert not (work / "out" / "summary.json").exists()


def test_a_finished_run_leaves_no_checkpoint_nor_its_digest(
    demo: SimpleNamespace, demo_config: dict, tmp_path: Path
) -> None:
    run(experiment(demo_config, **SMALL), 0, demo, tmp_path)
    assert not (tmp_path / "ckpt.pt").exists() and not digest_path(tmp_path / "ckpt.pt").exists()


def test_a_disk_too_full_for_the_outputs_is_refused_before_the_first_epoch(
    demo: SimpleNamespace, demo_config: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tinycnn.shared.arrays
    import tinycnn.shared.files

    usage = shutil.disk_usage(tmp_path)._replace(free=1000)
    monkeypatch.setattr(tinycnn.shared.files.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(UserError, match="the disk is too full"):
        run(experiment(demo_config, **SMALL), 0, demo, tmp_path)
    assert not (tmp_path / "ckpt.pt").exists()
    assert not (tmp_path / "out" / "metrics.csv").exists()
