"""Provenance: what collect_provenance records in and outside git, and Appendix B's software and
timing tables."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import platform
import re
import subprocess
from pathlib import Path

from handmade_aggregate import ROOT, _config, _csv
from rendered_paper import _cells, _html_tables, _needs

from tinycnn.report import formatting, words
from tinycnn.report.provenance import collect_provenance, config_hash


def test_provenance_tables_cell_by_cell(html: str, aggregate: Path) -> None:
    """Table B1 (software) and B2 (every job of runs.csv, in its order)."""
    tables = _html_tables(html)
    (software,) = tables["software"]
    provenance = collect_provenance(
        aggregate.parent, [ROOT / "config.yaml"], _config(), aggregate / "jobs.csv"
    )
    assert _cells(software) == [list(item) for item in provenance["packages"].items()]
    versions = dict(_cells(software))
    assert versions["python"] == platform.python_version()
    for package in ("torch", "pandas", "matplotlib", "jinja2", "weasyprint"):
        assert versions[package] == importlib.metadata.version(package), package

    # The jobs are what ran ("Training ran on …: its 14 jobs" had no antecedent for "its").
    jobs = len(provenance["runs"])
    assert re.search(
        rf"The {jobs} training jobs ran on NVIDIA H100 and took \S+ \S+ of", " ".join(html.split())
    )

    (timing,) = tables["timing"]
    # A device, commit or precision every job shares is said once in the caption, not on
    # every row: the fixture's jobs share their device and precision, not their commit.
    (device,) = {r["device_name"] for r in provenance["runs"]}
    (precision,) = {r["precision"] for r in provenance["runs"]}
    assert len({r["commit"] for r in provenance["runs"]}) > 1
    assert timing["head"] == [*("run", "experiment", "seed", "commit", "wall time", "images/s")]
    figure = html[html.index('class="table-figure timing') :]
    caption = " ".join(figure[: figure.index("</figcaption>")].split())
    assert f"Every job ran on {device}, in {words.precision(precision)}." in caption
    # every training job: the paper's runs, then the ablation variants', then those beyond it
    roles = [r["role"] for r in provenance["runs"]]
    assert roles == sorted(roles, key=["paper", "ablation", "beyond"].index)
    assert roles.count("paper") == 7 and "ablation" in roles and "beyond" in roles
    assert _cells(timing) == [
        [
            "" if r["run"] is None else str(int(r["run"])),
            r["experiment"],
            str(int(r["seed"])),
            r["commit"],  # as jobs.csv holds it, text even when all digits
            formatting.fmt_duration(r["wall_seconds"]),
            formatting.fmt_int(r["images_per_second"]),
        ]
        for r in provenance["runs"]
    ]
    assert [r["experiment"] for r in provenance["runs"]] == [
        *(r["experiment"] for r in _csv(aggregate, "runs")),
        *("draw_m4__online", "draw_m4__online", "split_m4__augmented_split"),
        *("modern_resnet18_64", "modern_resnet18_64"),
    ]
    assert _cells(timing)[0][3] == "012345678901"  # a commit of digits, its leading zero kept
    assert _cells(timing)[2] == ["2", "m1_lr1e-3", "1", "0123456789ab", "20.3 min", "10,000"]
    assert "Every job ran on NVIDIA H100, in bf16 mixed precision, channels-last layout." in caption


def test_provenance_outside_git(aggregate: Path, tmp_path: Path) -> None:
    config = _config()
    p = collect_provenance(tmp_path, [ROOT / "config.yaml"], config, aggregate / "jobs.csv")
    assert p["git"] == {"commit": "unknown", "dirty": "unknown", "changed": 0}
    assert p["config_sha256"] == config_hash(copy.deepcopy(dict(reversed(config.items()))))
    assert set(p["packages"]) >= {"python", "torch", "weasyprint", "snakemake", "jinja2"}
    assert p["hardware"]["training_devices"] == ["NVIDIA H100"]
    paper = [r["run"] for r in p["runs"] if r["role"] == "paper"]
    assert paper == [1, 2, 2, 5, 6, 9, 10]
    assert all(r["run"] is None for r in p["runs"] if r["role"] != "paper")
    json.dumps(p)  # serializable


def test_provenance_in_git(aggregate: Path, tmp_path: Path) -> None:
    _needs("git")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "config.yaml").write_text("name: x\n")
    subprocess.run([*git, "add", "config.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    p = collect_provenance(tmp_path, [tmp_path / "config.yaml"], {}, aggregate / "jobs.csv")
    assert re.fullmatch(r"[0-9a-f]{40}", p["git"]["commit"]) and p["git"]["dirty"] is False
    assert p["config_files"][0]["path"] == "config.yaml"
    (tmp_path / "config.yaml").write_text("name: y\n")
    assert collect_provenance(tmp_path, [], {}, aggregate / "jobs.csv")["git"]["dirty"] is True


def test_several_machines_are_named_once_each_and_keyed_in_the_rows() -> None:
    """Table B2 with jobs on two machines: a letter in each row, each machine named once in
    the caption's key (a long machine name on every row repeats itself), the shared precision
    said once."""
    from tinycnn.report.elements import Numbering
    from tinycnn.report.tables import timing_table

    def job(device: str, commit: str) -> dict:
        return {"run": 1, "experiment": "m1", "seed": 0, "device_name": device, "commit": commit,
                "precision": "fp32", "compile": "none", "wall_seconds": 60.0,
                "images_per_second": 100.0}  # fmt: skip

    cpu, gpu = "AMD EPYC CPU (2 cores, 2 threads)", "NVIDIA H200 (driver 580.1)"
    table = timing_table(Numbering(), {"runs": [job(cpu, "a"), job(gpu, "b"), job(cpu, "c")]})
    assert [c.title for c in table.columns] == [  # keys, which the paper source words
        *("run", "experiment", "seed", "device", "commit", "wall_time", "images_per_second")
    ]
    assert [row.cells[3] for row in table.rows] == ["A", "B", "A"]
    assert table.about["devices"] == [("A", cpu), ("B", gpu)]
    assert table.about["common"] == {"precision": "fp32"}
    one = timing_table(Numbering(), {"runs": [job(cpu, "a"), job(cpu, "b")]})
    assert one.about == {"common": {"device": cpu, "precision": "fp32"}, "devices": []}
