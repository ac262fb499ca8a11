"""The aggregate's inputs: broken or clashing run folders and the error a user can cause with them,
no runs at all, runs beyond the paper alone, each run's commit."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aggregate_runs import (
    BEYOND_COLUMNS,
    CLAIMS,
    COMMIT,
    EPOCH_COLUMNS,
    EXPERIMENT_COLUMNS,
    EXPERIMENTS,
    RUN_COLUMNS,
    read,
    write_run,
)
from handmade_aggregate import architecture

from tinycnn.config.merge import deep_merge
from tinycnn.report.aggregate import aggregate
from tinycnn.shared.errors import UserError


def test_no_beyond_runs_no_beyond_rows(config: dict[str, Any], tmp_path: Path) -> None:
    """Without runs beyond the paper (or none configured), beyond.csv has its header only."""
    dirs = [write_run(tmp_path / "r", config, "two_seeds", 0)]
    aggregate(dirs, config, tmp_path / "a")
    assert list(read(tmp_path / "a", "beyond").columns) == BEYOND_COLUMNS
    assert read(tmp_path / "a", "beyond").empty


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("summary.json", None, "summary.json is missing"),
        ("summary.json", "{", "summary.json is not valid JSON"),
        ("summary.json", "{}", "summary.json lacks experiment, model, seed"),
        ("metrics.csv", None, "metrics.csv is missing"),
        ("metrics.csv", "", "metrics.csv is not a valid CSV"),
        ("metrics.csv", "epoch,lr\n1,0.1\n", "metrics.csv should have the columns epoch, lr"),
    ],
)
def test_broken_run_folder(
    config: dict[str, Any], tmp_path: Path, name: str, text: str | None, message: str
) -> None:
    run_dir = write_run(tmp_path, config, "approx", 0)
    if text is None:
        (run_dir / name).unlink()
    else:
        (run_dir / name).write_text(text)
    with pytest.raises(UserError, match=re.escape(f"{run_dir}/{message}")):
        aggregate([run_dir], config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_summary_without_architecture_names_the_run(config: dict[str, Any], tmp_path: Path) -> None:
    run_dir = write_run(tmp_path, config, "approx", 0)
    summary = json.loads((run_dir / "summary.json").read_text())
    del summary["architecture"]
    (run_dir / "summary.json").write_text(json.dumps(summary))
    folder = re.escape(str(run_dir))
    message = rf"{folder}/summary\.json lacks architecture: the run folder {folder} was written"
    with pytest.raises(UserError, match=message):
        aggregate([run_dir], config, tmp_path / "out")
    summary["architecture"] = {"arch": "m1", "layers": [{"name": "conv1"}]}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(UserError, match=r"`architecture` should hold arch, description, layers"):
        aggregate([run_dir], config, tmp_path / "out")


def test_seeds_with_different_settings(config: dict[str, Any], tmp_path: Path) -> None:
    dirs = [write_run(tmp_path, config, "two_seeds", s) for s in (0, 1)]
    summary = json.loads((dirs[1] / "summary.json").read_text())
    summary["resolved"]["optimizer"]["lr"] = 1e-4
    (dirs[1] / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(UserError, match=r"experiment 'two_seeds' recorded different settings"):
        aggregate(dirs, config, tmp_path / "out")


def test_runs_with_different_architectures_keep_the_first(
    config: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = [write_run(tmp_path, config, e, 0) for e in ("approx", "two_seeds")]
    summary = json.loads((dirs[1] / "summary.json").read_text())
    summary["architecture"]["description"] = "Edited since."
    (dirs[1] / "summary.json").write_text(json.dumps(summary))
    aggregate(dirs, config, tmp_path / "out")
    recorded = json.loads((tmp_path / "out" / "architectures.json").read_text())
    assert recorded["m1"] == architecture("m1")  # run 1 (approx) comes first
    assert "experiment 'two_seeds' seed 0 recorded another architecture 'm1'" in (
        capsys.readouterr().err
    )


def test_experiment_not_in_config(
    config: dict[str, Any], run_dirs: list[Path], tmp_path: Path
) -> None:
    fewer = {**config, "experiments": {k: v for k, v in EXPERIMENTS.items() if k != "below"}}
    fewer["report"] = {**config["report"], "comparisons": []}
    with pytest.raises(UserError, match=r"summary\.json: experiment 'below' is not defined"):
        aggregate(run_dirs, fewer, tmp_path / "out")


def test_duplicate_run(config: dict[str, Any], run_dirs: list[Path], tmp_path: Path) -> None:
    with pytest.raises(UserError, match="both hold experiment 'below' with seed 0"):
        below = next(d for d in run_dirs if d.parent.name == "below")
        aggregate([*run_dirs, below], config, tmp_path / "out")


def test_no_runs(config: dict[str, Any], tmp_path: Path) -> None:
    """No run folder: every file is written, the run tables with their header and no rows;
    every claim is untested (no_results), every ablation reading has no seeds."""
    aggregate([], config, tmp_path / "out")
    out = tmp_path / "out"
    for name, columns in (
        ("runs", RUN_COLUMNS),
        ("experiments", EXPERIMENT_COLUMNS),
        ("epochs", EPOCH_COLUMNS),
        ("beyond", BEYOND_COLUMNS),
    ):
        assert (out / f"{name}.csv").read_text() == ",".join(columns) + "\n", name
    for name in ("settings.json", "architectures.json"):
        assert json.loads((out / name).read_text()) == {}
    assert json.loads((out / "figures.json").read_text()) == []
    assert not list(out.glob("figures/*.png"))
    claims = read(out, "claims")
    assert list(claims["id"]) == [c["id"] for c in CLAIMS]
    assert set(claims["verdict"]) == {"untested"} and set(claims["reason"]) == {"no_results"}
    ablations = read(out, "ablations")
    assert len(ablations) == 6 and set(ablations["n_seeds"]) == {0}
    assert ablations["accuracy_mean"].isna().all()


def test_no_runs_from_the_command_line(config: dict[str, Any], tmp_path: Path) -> None:
    """`tinycnn aggregate --config C --out O` with no run folder writes the empty tables."""
    from tinycnn.cli import main

    (tmp_path / "config.json").write_text(json.dumps(config))
    args = ["aggregate", "--config", str(tmp_path / "config.json"), "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert read(tmp_path / "o", "runs").empty and list(read(tmp_path / "o", "runs")) == RUN_COLUMNS


def test_only_runs_beyond_the_paper(config: dict[str, Any], tmp_path: Path) -> None:
    """Runs beyond the paper without any of the paper's: its tables empty, beyond.csv the run."""
    dirs = [write_run(tmp_path / "r", config, "modern", seed) for seed in (0, 1)]
    aggregate(dirs, config, tmp_path / "a")
    assert read(tmp_path / "a", "runs").empty and read(tmp_path / "a", "experiments").empty
    beyond = read(tmp_path / "a", "beyond")
    assert list(beyond["experiment"]) == ["modern"] and list(beyond["n_seeds"]) == [2]
    figures = json.loads((tmp_path / "a" / "figures.json").read_text())
    assert [f["kind"] for f in figures] == ["beyond"]  # no figure of the paper's runs


def test_commit_of_each_run(config: dict[str, Any], tmp_path: Path) -> None:
    """runs.csv's commit: the first 12 characters of summary.json's code.commit; "unknown" for
    a run that recorded it unknown (no git where it trained)."""
    commits = {"two_seeds": "0123456789abcdef0123456789abcdef01234567", "approx": "unknown"}
    dirs = []
    for experiment, seed in (("two_seeds", 0), ("approx", 0), ("below", 0)):
        run_dir = write_run(tmp_path / "r", config, experiment, seed)
        summary = json.loads((run_dir / "summary.json").read_text())
        if experiment in commits:
            summary["code"] = {"commit": commits[experiment], "source_sha256": "ab" * 32}
        (run_dir / "summary.json").write_text(json.dumps(summary))
        dirs.append(run_dir)
    aggregate(dirs, config, tmp_path / "a")
    runs = pd.read_csv(tmp_path / "a" / "runs.csv", dtype={"commit": str})
    assert dict(zip(runs["experiment"], runs["commit"], strict=True)) == {
        "approx": "unknown",
        "two_seeds": "0123456789ab",
        "below": COMMIT[:12],
    }


def test_model_changed_since_the_run(
    config: dict[str, Any], run_dirs: list[Path], tmp_path: Path
) -> None:
    changed = deep_merge(config, {"experiments": {"below": {"model": "M4"}}})
    with pytest.raises(UserError, match=r"the run trained model 'AlexNet'.* model 'M4'"):
        aggregate(run_dirs, changed, tmp_path / "out")
