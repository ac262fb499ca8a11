"""Runs not yet run: experiments the config names without results keep their rows, sections and
sentences, marked "not yet run"; an aggregate of no run at all; runs beyond the paper configured but
not recorded."""

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


def test_missing_runs_say_not_yet_run(render: Render, aggregate: Path, tmp_path: Path) -> None:
    """Experiments the config names without results keep their row (settings as configured,
    the paper's number, "not yet run" in every measured cell), their family's section, and every
    sentence that would compare them says they are not yet run; no number of theirs appears."""
    folder = _without(aggregate, tmp_path / "aggregate", MISSING)
    html = render(tmp_path / "paper.html", folder=folder).read_text()
    text = _plain(html)
    (table,) = _html_tables(html)["results"]
    exps = {e["experiment"]: e for e in _csv(aggregate, "experiments")}
    for attrs, cells in table["rows"]:
        name = attrs["data-experiment"]
        if name in MISSING:
            assert attrs == {"data-experiment": name, "class": "not-run"}
            assert cells == MISSING_ROWS[name], name
            continue
        e, n = exps[name], int(exps[name]["n_seeds"])
        assert cells[7:] == [
            formatting.fmt_acc(e["best_val_acc_mean"], e["best_val_acc_std"], n),
            str(n),
            formatting.fmt_diff(e["diff"]),
        ]
        assert cells[7] == EXPECTED[name][0]
    assert [a["data-experiment"] for a, _ in table["rows"]] == list(EXPERIMENTS)  # paper order
    assert "Not yet run: the configuration names the run, which has no results yet" in text
    # No number of a missing run anywhere: its accuracy, its gap to the paper.
    for number in ("42.3", "45.8", "+6.4", "\u22122.2"):
        assert number not in text, number
    # The M4 family keeps its section, whose run is not yet run.
    m4 = _section(html, "2.3")
    assert m4.startswith("2.3&ensp;M4 ") and "Table 2 of the original" not in m4
    assert (
        "Run 5 (M4; set1+set2, lr 1e-3, constant learning rate, 20 epochs) is not yet run: it "
        "has no results here. The paper reports 35.9%."
    ) in m4
    assert (
        "The comparison with the previous family is not yet run: no run of M4 has results yet."
        in m4
    )
    assert (
        "The comparison with the previous family is not yet run: no run of M4 has results yet."
        in (_section(html, "2.4"))
    )  # AlexNet against M4
    assert (
        "The comparison “ResNet34: basic vs full pre-activation blocks” waits for "
        "ResNet34-PreAct (run 10), which is not yet run."
    ) in text
    assert (
        "Run 10 (ResNet34-PreAct; set1+set2, lr 1e-3, StepLR(7, 0.1), 20 epochs) is not yet run"
        in text
    )
    # The summary, the abstract and the conclusion count what ran and what did not.
    assert (
        "All 3 runs with a stated accuracy are within ±3 points of it; run 6, which the paper "
        "reports only as below 20%, stays below that."
    ) in text
    # Said in the abstract and the conclusion; the summary says it its own way (no sentence
    # three times).
    assert (
        text.count("Of the 6 runs the configuration names, 2 are not yet run (runs 5 and 10).") == 2
    )
    assert "Runs 5 and 10 are not yet run; their rows show the paper's numbers alone." in text
    best = (
        "Of the runs made so far, the best model is ResNet34 (run 9) with 46.1%; the paper's "
        "best, ResNet34-PreAct (run 10) with 48%, is not yet run."
    )
    assert text.count(best) == 2  # abstract and conclusion
    # Claims that involve them: untested, not yet run; the others as measured.
    (claims,) = _html_tables(html)["claims"]
    shown = {a["data-experiment"]: (cells[2], cells[3]) for a, cells in claims["rows"]}
    assert shown["m4_beats_m1"] == ("—a", "untested")
    assert shown["preact_beats_basic"] == ("—b", "untested")
    assert shown["best"] == ("—b", "untested")  # the same reason, the same mark
    assert "No measurement (—), because: a not yet run: m4_lr1e-3; b not yet run: " in text
    assert shown["m1_overfits"] == (CLAIMS_SHOWN["m1_overfits"][1], "holds")
    # The ablations read from m4_lr1e-3's runs: not yet run, said once a row.
    for question in _html_tables(html)["ablations"]:
        assert _cells(question)[0] == ["base (m4_lr1e-3)", "—", NOT_RUN, "—", "—", "—"]
    # No curves of theirs; the appendix says why.
    assert "Runs 5 and 10 are not yet run and have no curves." in text
    assert len(re.findall(r'<span class="label">Figure A\d+\.', html)) == 4


def test_no_results_at_all(render: Render, aggregate: Path, tmp_path: Path) -> None:
    """The aggregate of no run folder renders: every table's measured cells say "not yet run",
    every family keeps its section, no figure but the previews, no number of ours."""
    from tinycnn.report.aggregate import aggregate as run_aggregate

    config = _config()
    names = set(EXPERIMENTS)
    config["report"]["claims"] = [
        c for c in config["report"]["claims"] if set(c["experiments"]) <= names
    ]
    folder = tmp_path / "aggregate"
    run_aggregate([], config, folder)
    reference = tmp_path / "reference.json"
    planned = [{"experiment": name, "seed": 0} for name in EXPERIMENTS]
    reference.write_text(json.dumps({"folder": "reference", "stale": [], "planned": planned}))
    html = render(tmp_path / "paper.html", config=config, folder=folder, reference=reference)
    html = html.read_text()
    text = _plain(html)
    tables = _html_tables(html)
    (table,) = tables["results"]
    assert [a["data-experiment"] for a, _ in table["rows"]] == list(EXPERIMENTS)
    for attrs, cells in table["rows"]:
        assert attrs["class"] == "not-run" and cells[7:] == [NOT_RUN, "—", "—"]
    assert _cells(table)[0] == ["1", "M1", "set1", "1e-3", "none", "20", "~22", NOT_RUN, "—", "—"]
    # Each claim's cell is marked with the letter of its reason, which the note says once.
    reasons: dict[str, str] = {}
    marks = [
        reasons.setdefault(
            f"not yet run: {formatting.fmt_list(c['experiments'])}", "abcdefg"[len(reasons)]
        )
        for c in config["report"]["claims"]
    ]
    assert [(c[2], c[3]) for c in _cells(tables["claims"][0])] == [
        (f"—{mark}", "untested") for mark in marks
    ]
    for why, mark in reasons.items():
        assert f"{mark} {why}" in text
    assert not _cells(tables["timing"][0]) and "No training job has been recorded yet." in text
    for number, title in enumerate(("M1", "M4", "AlexNet", "ResNet34"), 2):
        assert f"<h3>2.{number}&ensp;{title}</h3>" in html
    assert re.findall(r'class="figure (\w+)"', html) == ["preview"]  # no figure needs data
    for ours, _ in EXPECTED.values():
        assert ours not in text
    nothing = (
        "No run has results yet: all 6 runs the configuration names are not yet run (runs 1, "
        "2, 5, 6, 9 and 10), and nothing in this paper is measured."
    )
    assert text.count(nothing) == 2  # abstract and conclusion; the summary its own way
    assert "as none has results yet, its rows show the paper's numbers alone." in text
    first = text[:400]
    assert "No reference run recorded yet." in first
    assert (
        "nothing in this paper is measured" in first
        and "The plan counts 6 runs: 0 recorded, 6 not yet run." in first
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
    assert "modern_resnet18_64 is not yet run. modern_resnet18 is not yet run." in section
    assert 'class="figure beyond"' not in html
