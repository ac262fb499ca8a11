"""Runs not yet trained: experiments the config names without results are one table, said once;
an aggregate of no run at all; runs beyond the paper configured but not recorded."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import yaml
from handmade_aggregate import (
    ABLATIONS,
    CLAIMS,
    CLAIMS_SHOWN,
    EXPECTED,
    EXPERIMENTS,
    ROOT,
    Render,
    _architectures,
    _config,
    _csv,
)
from rendered_paper import _cells, _html_tables, _plain

from tinycnn.config.merge import deep_merge
from tinycnn.report import formatting
from tinycnn.shared.contract import ABLATIONS_CSV_COLUMNS, BEYOND_CSV_COLUMNS, CLAIMS_CSV_COLUMNS

NOT_RUN = "not yet run"
# The fixture without two experiments: a whole family (M4) and one run of a comparison.
MISSING = ("m4_lr1e-3", "resnet34_preact")
# What the reproduction table prints for them: their settings as configured, the paper's
# number, and "not yet run" in the measured cells (ours, n, Δ).
MISSING_ROWS = {
    "m4_lr1e-3": ["5", "M4", "set1+set2", "1e-3", "none", "20", "35.9", NOT_RUN, "—", "—"],
    "resnet34_preact": [
        *("10", "ResNet34-PreAct", "set1+set2", "1e-3", "StepLR(7, 0.1)", "20", "48"),
        *(NOT_RUN, "—", "—"),
    ],
}


def _without(aggregate: Path, folder: Path, missing: tuple[str, ...]) -> Path:
    """A copy of the fixture's aggregate folder as the aggregate writes it when the experiments
    ``missing`` have no run folder: none of their rows, records or figures, the claims that
    involve them untested (no_results), the ablation readings of their runs without results."""
    shutil.copytree(aggregate, folder)
    for name in ("runs", "experiments", "epochs"):
        table = pd.read_csv(folder / f"{name}.csv", dtype={"commit": str})
        table[~table["experiment"].isin(missing)].to_csv(folder / f"{name}.csv", index=False)
    settings = json.loads((folder / "settings.json").read_text())
    (folder / "settings.json").write_text(
        json.dumps({k: v for k, v in settings.items() if k not in missing})
    )
    kept = {EXPERIMENTS[e][3] for e in EXPERIMENTS if e not in missing}
    (folder / "architectures.json").write_text(
        json.dumps({k: v for k, v in _architectures().items() if k in kept})
    )
    gone = {
        c["id"] for c in _config()["report"]["comparisons"] if set(c["experiments"]) & set(missing)
    }
    figures = [
        f
        for f in json.loads((folder / "figures.json").read_text())
        if f["experiment"] not in missing and f["comparison"] not in gone
    ]
    (folder / "figures.json").write_text(json.dumps(figures))
    claims = [
        {**c, "measured": None, "spread": None, "n": 0, "margin": None, "verdict": "untested",
         "reason": "no_results"}
        if set(c["experiments"].split()) & set(missing) else c
        for c in CLAIMS
    ]  # fmt: skip
    pd.DataFrame(claims, columns=list(CLAIMS_CSV_COLUMNS)).to_csv(
        folder / "claims.csv", index=False
    )
    readings = [
        {**r, "n_seeds": 0, "accuracy_mean": None, "accuracy_std": None, "gap": None,
         "closes_gap": None, "narrows_gap": None, "closest": None}
        if r["experiment"] in missing else r
        for r in ABLATIONS
    ]  # fmt: skip
    pd.DataFrame(readings, columns=list(ABLATIONS_CSV_COLUMNS)).to_csv(
        folder / "ablations.csv", index=False
    )
    return folder


def _section(html: str, number: str) -> str:
    """The text of subsection ``number`` (2.3), up to the next."""
    start = html.index(f"<h3>{number}&ensp;")
    return _plain("<body>" + html[start : html.index("</section>", start)])


def test_runs_not_yet_trained_are_one_table(
    render: Render, aggregate: Path, tmp_path: Path
) -> None:
    """Experiments the config names without results are one table (run, experiment, model,
    seeds, the paper's number), said once: no row of placeholders in the results table, no
    paragraph or comparison of theirs in the sections, no number of theirs anywhere."""
    folder = _without(aggregate, tmp_path / "aggregate", MISSING)
    html = render(tmp_path / "paper.html", folder=folder).read_text()
    text = _plain(html)
    tables = _html_tables(html)
    (waiting,) = tables["waiting"]
    assert _cells(waiting) == [
        ["5", "m4_lr1e-3", "M4", "0", "—", "35.9"],
        ["10", "resnet34_preact", "ResNet34-PreAct", "0", "—", "48"],
    ]
    # The results table: the runs with results only, in paper order, each measured.
    (table,) = tables["results"]
    exps = {e["experiment"]: e for e in _csv(aggregate, "experiments")}
    shown = [a["data-experiment"] for a, _ in table["rows"]]
    assert shown == [e for e in EXPERIMENTS if e not in MISSING]
    for attrs, cells in table["rows"]:
        e, n = exps[attrs["data-experiment"]], int(exps[attrs["data-experiment"]]["n_seeds"])
        assert cells[7:] == [
            formatting.fmt_acc(e["best_val_acc_mean"], e["best_val_acc_std"], n),
            str(n),
            "below" if e["paper_stated"] == "below" else formatting.fmt_diff(e["diff"]),
        ]
    waiting_label = re.search(r'<figure id="(table-\d+)" class="table-figure waiting', html)[1]
    assert "The runs not yet trained are in Table 3." in text and waiting_label == "table-3"
    assert "Runs 5 and 10 are not yet trained (Table 3)." in text
    # No number of a missing run anywhere: its accuracy, its gap to the paper.
    for number in ("42.3", "45.8", "+6.4", "\u22122.2"):
        assert number not in text, number
    # The M4 family keeps its section (its description), which says once that nothing ran;
    # no comparison waits in words for a run not yet trained.
    m4 = _section(html, "2.3")
    assert m4.startswith("2.3&ensp;M4 ") and "Table 2 of the original" not in m4
    assert m4.endswith("No run of M4 has been trained yet (Table 3). "), m4[-200:]
    assert "is not yet run: it has no results here" not in text
    assert "The comparison with the previous family is not yet run" not in text
    assert "waits for ResNet34-PreAct (run 10)" not in text
    assert "Run 10 (ResNet34-PreAct" not in text  # no run head of a run not yet trained
    # A question none of whose readings has results is one sentence, not a table of
    # placeholders; a question with a reading that ran keeps its table.
    assert (
        "The other question has no reading with results yet; it waits for runs of Table 3: "
        "M4: the best epoch or the last"
    ) in text
    assert "<li>M4: the best epoch or the last</li>" in html  # a list of titles, not a sentence
    assert len(tables["ablations"]) == 2
    # The abstract and the conclusion count what ran and what did not.
    assert (
        text.count("Of the 6 runs the configuration names, 2 are not yet run (runs 5 and 10).") == 2
    )
    # Claims that involve them: untested, not yet run; the others as measured.
    (claims,) = tables["claims"]
    shown_claims = {a["data-experiment"]: (cells[2], cells[3]) for a, cells in claims["rows"]}
    assert shown_claims["m4_beats_m1"] == ("—a", "untested")
    assert shown_claims["preact_beats_basic"] == ("—a", "untested")  # one reason, one mark
    assert shown_claims["m1_overfits"] == (CLAIMS_SHOWN["m1_overfits"][1], "holds")
    # The appendix holds the curves of the runs with results; the introduction says so.
    assert "Appendix A holds the learning curves of every run with results" in text
    assert len(re.findall(r'<span class="label">Figure A\d+\.', html)) == 4


def test_no_results_at_all(render: Render, aggregate: Path, tmp_path: Path) -> None:
    """The aggregate of no run folder renders: the runs are one table with what each waits
    for, every family keeps its section and says once that nothing ran, no results table, no
    empty timing table, no figure but the previews, no number of ours."""
    from tinycnn.report.aggregate import aggregate as run_aggregate

    config = _config()
    names = set(EXPERIMENTS)
    config["report"]["claims"] = [
        c for c in config["report"]["claims"] if set(c["experiments"]) <= names
    ]
    folder = tmp_path / "aggregate"
    run_aggregate([], config, folder)
    reference = tmp_path / "reference.json"
    planned = [
        {"experiment": name, "seed": 0, "waits_for": "gpu" if i else "cpu", "cpu_seconds": 3600.0}
        for i, name in enumerate(EXPERIMENTS)
    ]
    reference.write_text(json.dumps({"folder": "reference", "stale": [], "planned": planned}))
    html = render(tmp_path / "paper.html", config=config, folder=folder, reference=reference)
    html = html.read_text()
    text = _plain(html)
    tables = _html_tables(html)
    assert "results" not in tables and "ablations" not in tables
    (waiting,) = tables["waiting"]
    assert [c[1] for c in _cells(waiting)] == list(EXPERIMENTS)
    assert _cells(waiting)[0] == ["1", "m1_set1", "M1", "0", "CPU (1.0 h)", "~22"]
    assert _cells(waiting)[1][4] == "GPU (1.0 h)"
    assert "what each waits for: its turn on a CPU (CPU), or a GPU (GPU)" in text
    # Each claim's cell is marked with the letter of its reason, which the note says once: one
    # reason, and one footnote, for every claim whose runs are not yet trained.
    assert [(c[2], c[3]) for c in _cells(tables["claims"][0])] == [
        ("—a", "untested") for _ in config["report"]["claims"]
    ]
    assert "No measurement (—), because: a a run it involves is not yet trained." in text
    assert "timing" not in tables and "No training job has been recorded yet." in text
    assert "Table B2" not in text and "Where the regeneration departs" not in text
    for number, title in enumerate(("M1", "M4", "AlexNet", "ResNet34"), 2):
        assert f"<h3>2.{number}&ensp;{title}</h3>" in html
        assert f"No run of {title} has been trained yet (Table 3)." in text
    assert re.findall(r'class="figure (\w+)"', html) == ["preview"]  # no figure needs data
    for ours, _ in EXPECTED.values():
        assert ours not in text
    nothing = (
        "No run has results yet: all 6 runs the configuration names are not yet run (runs 1, "
        "2, 5, 6, 9 and 10), and nothing in this paper is measured."
    )
    assert text.count(nothing) == 2  # abstract and conclusion; the summary its own way
    assert "No run has results yet: Table 3 lists every run and what it waits for." in text
    assert "No run has been trained yet, so there are no learning curves" in text
    first = text[:400]
    assert "No reference run recorded yet." in first
    assert (
        "nothing in this paper is measured" in first
        and "The plan counts 6 runs: 0 recorded, 6 not yet run (Table 3)." in first
    )


def test_beyond_the_paper_not_yet_run(render: Render, aggregate: Path, tmp_path: Path) -> None:
    """With runs beyond the paper in the config and none recorded, the section is there: its
    baselines with their numbers, its runs not yet run, their recipe as configured."""
    folder = tmp_path / "aggregate"
    shutil.copytree(aggregate, folder)
    pd.DataFrame(columns=list(BEYOND_CSV_COLUMNS)).to_csv(folder / "beyond.csv", index=False)
    figures = json.loads((folder / "figures.json").read_text())
    (folder / "figures.json").write_text(json.dumps([f for f in figures if f["kind"] != "beyond"]))
    settings = json.loads((folder / "settings.json").read_text())
    del settings["modern_resnet18_64"]
    (folder / "settings.json").write_text(json.dumps(settings))
    config = deep_merge(_config(), yaml.safe_load((ROOT / "presets" / "modern.yaml").read_text()))
    config["beyond_paper"]["baselines"] = ["resnet34", "alexnet"]
    html = render(tmp_path / "paper.html", config=config, folder=folder).read_text()
    assert "Beyond the paper</h3>" in html
    (results,) = _html_tables(html)["beyond"]
    assert results["head"][5] == "common epoch"
    rows = _cells(results)
    assert [r[0] for r in rows] == ["resnet34", "alexnet", "modern_resnet18_64", "modern_resnet18"]
    assert rows[0][4] == "46.1" and rows[1][4] == "17.2"  # the baselines' numbers
    assert rows[2] == ["modern_resnet18_64", "ResNet18-64", "—", "20", NOT_RUN, "—", "—",
                       "—", "—"]  # fmt: skip
    (recipe,) = _html_tables(html)["recipe beyond"]
    assert recipe["head"][3] == "modern_resnet18_64 (not yet run: as configured)"
    assert _cells(recipe)[0][3] == "SGD, Nesterov momentum 0.9"
    section = _section(html, "2.9")
    assert (
        "The run modern_resnet18_64 is not yet run. The run modern_resnet18 is not yet run."
    ) in section
    assert 'class="figure beyond"' not in html
