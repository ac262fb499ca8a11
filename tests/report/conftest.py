"""The report tests' shared fixtures.

- The paper rendered from the hand-written aggregate (handmade_aggregate.py), for
  test_report_*.py: ``aggregate`` (the folder, previews and packed files, PNGs drawn once),
  ``render`` (the paper's HTML of it, with other config, data or reference files) and ``html``.
- Run folders with known numbers aggregated (aggregate_runs.py), for test_aggregate_*.py:
  ``config``, ``run_dirs``, ``checked`` (the settings files and data beside them) and ``out``
  (their aggregate).

All are module-scoped, as they were in the modules they came from: each test module builds
its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aggregate_runs
import pandas as pd
import pytest
import yaml
from handmade_aggregate import (
    ABLATIONS,
    BEYOND,
    CLAIMS,
    ROOT,
    STATS,
    Render,
    _architectures,
    _classes_tsv,
    _config,
    _figures,
    _jobs,
    _png,
    _settings,
    _tables,
)

from tinycnn.config.checks import validate
from tinycnn.config.merge import deep_merge
from tinycnn.report.aggregate import aggregate as run_aggregate
from tinycnn.report.aggregate import numbers_record
from tinycnn.report.provenance import collect_provenance
from tinycnn.report.records import DataIdentity
from tinycnn.report.render import render_html
from tinycnn.shared.contract import ABLATIONS_CSV_COLUMNS, BEYOND_CSV_COLUMNS, CLAIMS_CSV_COLUMNS

# --- the paper rendered from the hand-written aggregate (test_report_*.py) ---------------------


@pytest.fixture(scope="module")
def aggregate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The aggregate folder, previews and packed files, with PNGs drawn once."""
    root = tmp_path_factory.mktemp("report")
    folder = root / "aggregate"
    config = _config()
    runs, exps, epochs = _tables()
    folder.mkdir()
    runs.to_csv(folder / "runs.csv", index=False)
    _jobs(runs).to_csv(folder / "jobs.csv", index=False)
    claims = pd.DataFrame(CLAIMS, columns=list(CLAIMS_CSV_COLUMNS))
    (folder / "numbers.json").write_text(json.dumps(numbers_record(exps, claims, _jobs(runs))))
    exps.to_csv(folder / "experiments.csv", index=False)
    epochs.to_csv(folder / "epochs.csv", index=False)
    (folder / "settings.json").write_text(json.dumps(_settings(config)))
    (folder / "architectures.json").write_text(json.dumps(_architectures()))
    pd.DataFrame(CLAIMS, columns=list(CLAIMS_CSV_COLUMNS)).to_csv(
        folder / "claims.csv", index=False
    )
    pd.DataFrame(ABLATIONS, columns=list(ABLATIONS_CSV_COLUMNS)).to_csv(
        folder / "ablations.csv", index=False
    )
    pd.DataFrame(BEYOND, columns=list(BEYOND_CSV_COLUMNS)).to_csv(
        folder / "beyond.csv", index=False
    )
    figures = _figures(config)
    (folder / "figures.json").write_text(json.dumps(figures, indent=2))
    for i, spec in enumerate(figures):
        _png(folder / spec["file"], spec["title"], i)
    for name in ("set1", "set2", "modern"):
        _png(root / f"{name}_preview.png", f"preview {name}", 100 + len(name))
    (root / "stats.json").write_text(json.dumps(STATS[False]))
    (root / "demo_stats.json").write_text(json.dumps(STATS[True]))
    _classes_tsv(root / "classes.tsv", 200)
    _classes_tsv(root / "demo_classes.tsv", 10)
    return folder


@pytest.fixture(scope="module")
def render(aggregate: Path) -> Render:
    """``render(out, config=None, demo=False, folder=None, reference=None)``: the paper's
    HTML (``reference``: the JSON of ``tinycnn paper-html --reference``)."""
    root = aggregate.parent

    def run(
        out: Path,
        config: dict[str, Any] | None = None,
        demo: bool = False,
        folder: Path | None = None,
        reference: Path | None = None,
    ) -> Path:
        config = config or _config(demo=demo)
        folder = folder or aggregate
        provenance = collect_provenance(root, [ROOT / "config.yaml"], config, folder / "jobs.csv")
        render_html(
            folder,
            config,
            root / ("demo_stats.json" if demo else "stats.json"),
            root / ("demo_classes.tsv" if demo else "classes.tsv"),
            {s: root / f"{s}_preview.png" for s in ("set1", "set2", "modern")},
            out,
            provenance=provenance,
            reference=reference,
        )
        return out

    return run


@pytest.fixture(scope="module")
def html(render: Render, tmp_path_factory: pytest.TempPathFactory) -> str:
    return render(tmp_path_factory.mktemp("html") / "paper.html").read_text()


# --- run folders with known numbers, aggregated (test_aggregate_*.py) ----------------------


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg = {
        **base,
        "experiments": aggregate_runs.EXPERIMENTS,
        "ablations": aggregate_runs.ABLATIONS,
        "beyond_paper": aggregate_runs.BEYOND,
    }
    cfg["training"] = {**base["training"], "epochs": 3}  # as aggregate_runs.RUNS trained
    report = {
        "tolerance": 3.0,
        "comparisons": aggregate_runs.COMPARISONS,
        "claims": aggregate_runs.CLAIMS,
    }
    cfg["report"] = deep_merge(base["report"], report)
    validate(cfg)
    return cfg


@pytest.fixture(scope="module")
def run_dirs(config: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("results")
    # Not in the paper's order: the tables must sort.
    return [aggregate_runs.write_run(root, config, e, s) for e, s in reversed(aggregate_runs.RUNS)]


@pytest.fixture(scope="module")
def checked(config: dict[str, Any], run_dirs: list[Path]) -> tuple[Path, Path, dict[str, Path]]:
    """The settings folder and the data beside the run folders: (settings, packed, sets)."""
    root = run_dirs[0].parents[2]
    return aggregate_runs.write_settings(root, config), *aggregate_runs.write_data(root)


@pytest.fixture(scope="module")
def out(
    config: dict[str, Any],
    run_dirs: list[Path],
    checked: tuple[Path, Path, dict[str, Path]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """The aggregate of every run, each checked against its settings file and the data."""
    out = tmp_path_factory.mktemp("aggregate")
    settings, packed, sets = checked
    data = DataIdentity.of_files(packed, sets)
    run_aggregate(run_dirs, config, out, settings_dir=settings, data=data)
    return out
