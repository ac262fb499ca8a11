"""`tinycnn check-config` and `tinycnn train --settings`: the files they read, bad or missing, and a
full disk, each in one line without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tinycnn.cli import main
from tinycnn.config.resolve import training_settings

ROOT = Path(__file__).resolve().parents[2]


def test_check_config_command(tmp_path, capsys):
    assert main(["check-config", str(ROOT / "config.yaml"), str(ROOT / "presets/demo.yaml")]) == 0
    assert capsys.readouterr().out == "config OK: 11 experiments, 1 ablation variant that trains\n"
    stacked = [str(ROOT / f"presets/{f}") for f in ("demo.yaml", "modern.yaml", "demo/modern.yaml")]
    assert main(["check-config", str(ROOT / "config.yaml"), *stacked]) == 0
    out = capsys.readouterr().out
    assert (
        out
        == "config OK: 11 experiments, 1 ablation variant that trains, 2 runs beyond the paper\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {epochs: -1}\n")
    assert main(["check-config", str(ROOT / "config.yaml"), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the config is not valid:")
    assert "training.epochs: -1 must be at least 1" in err


def test_train_command_reads_the_settings_file(paper_config, tmp_path, monkeypatch, capsys):
    import tinycnn.training.device
    import tinycnn.training.train
    from tinycnn.shared.files import write_json

    calls, kept = [], []
    monkeypatch.setattr(
        tinycnn.training.train, "train_run", lambda *args, **kw: calls.append((args, kw))
    )
    # A CPU run's process keeps the memory its steps free (not this test's process).
    monkeypatch.setattr(tinycnn.training.device, "keep_freed_memory", lambda: kept.append(1))
    settings = training_settings(paper_config, "m1_set1")
    path = tmp_path / "settings" / "m1_set1.json"
    write_json(path, settings)
    common = ["--seed", "3", "--data", "packed", "--out", "run", "--checkpoint", "c.pt"]
    argv = ["train", "--settings", str(path), *common, "--augmented", "set1=a.npy"]
    assert main(argv) == 0
    ((args, kw),) = calls
    assert args == (settings, 3, Path("packed"), {"set1": Path("a.npy")}, Path("run"), Path("c.pt"))
    assert kw == {"threads": 2}
    on_cpu = tinycnn.training.device.device_type(settings.get("device", "auto")) == "cpu"
    assert kept == ([1] if on_cpu else [])

    assert main(["train", "--settings", str(tmp_path / "missing.json"), *common]) == 1
    assert "error: cannot read the settings file" in capsys.readouterr().err
    path.write_text("[1, 2]\n")
    assert main(["train", "--settings", str(path), *common]) == 1
    assert "does not hold a JSON object" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the config file {path}: No such file or directory"),
        ("training: {epochs: [1\n", "{path} is not valid YAML"),
        ("- name: demo\n", "{path} must hold a mapping of keys (as config.yaml does), not a list"),
        ("42\n", "{path} must hold a mapping of keys (as config.yaml does), not a int"),
    ],
    ids=["missing", "bad yaml", "top-level list", "scalar"],
)
def test_check_config_reads_bad_files_without_a_traceback(tmp_path, capsys, content, expected):
    path = tmp_path / "preset.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["check-config", str(ROOT / "config.yaml"), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: " + expected.format(path=path)), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3


def test_a_full_disk_anywhere_is_one_line_without_a_traceback(tmp_path, monkeypatch, capsys):
    import errno

    import tinycnn.data.download

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(tinycnn.data.download, "fetch", full)
    argv = ["download", "--url", "file:///a.zip", "--md5", "0" * 32, "--out", str(tmp_path / "x")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {tmp_path / 'x'}: not enough disk space"), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("training:\n  epochs: 5\n  epochs: 6\n", "the key 'epochs' is written twice (lines 2 and"),
        (
            "ablations:\n  q:\n    title: t\n    base: m1_lr1e-3\n    variants:\n"
            "      online: {augmentation: {mode: online}}\n"
            "      online: {optimizer: {lr: 1.0e-2}}\n",
            "the key 'online' is written twice (lines 6 and 7)",
        ),
    ],
    ids=["setting", "variant"],
)  # fmt: skip
def test_a_key_written_twice_is_refused(tmp_path, capsys, content, line):
    path = tmp_path / "preset.yaml"
    path.write_text(content)
    assert main(["check-config", str(ROOT / "config.yaml"), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path} is not valid YAML at line "), err
    assert line in err and "keep one" in err
