"""The paper's tables, cell by cell, against the aggregate's files: the reproduction, claims,
ablation, beyond-the-paper, recipe, augmentation, layer and data tables, and the sections left out
when their file is empty."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from handmade_aggregate import (
    ABLATIONS,
    ABLATIONS_SHOWN,
    BEYOND_RECIPE_SHOWN,
    BEYOND_SHOWN,
    CLAIMS_SHOWN,
    EXPECTED,
    STATS,
    Render,
    _config,
    _csv,
)
from rendered_paper import _cells, _html_tables, _plain

from tinycnn.report import claim_words, formatting, prose, words
from tinycnn.shared.contract import ABLATIONS_CSV_COLUMNS, BEYOND_CSV_COLUMNS, CLAIMS_CSV_COLUMNS


def _common(values: list[tuple[Any, str]]) -> str:
    """A setting as the recipe table states it: the value most runs share, and the one other
    value with the runs that have it (the fixture has at most one other)."""
    counts: dict[str, list[Any]] = {}
    for run, value in values:
        counts.setdefault(value, []).append(run)
    common, *others = sorted(counts, key=lambda v: -len(counts[v]))
    assert len(others) <= 1, counts
    return common + "".join(f" ({v}: {formatting.fmt_runs(counts[v])})" for v in others)


def test_reproduction_table_cell_by_cell(html: str, aggregate: Path) -> None:
    exps = sorted(_csv(aggregate, "experiments"), key=lambda e: e["run"])
    (table,) = _html_tables(html)["results"]
    assert table["head"] == [
        *("run", "model", "augmentation", "lr", "scheduler", "epochs"),
        *("paper", "ours", "n", "Δ"),
    ]
    expected = []
    for e in exps:
        n = int(e["n_seeds"])
        agrees = e["bound_met"] if e["paper_stated"] == "below" else e["within_tolerance"]
        beyond = {} if agrees else {"class": "beyond-tolerance"}
        cells = [
            str(int(e["run"])),
            e["model"],
            e["sets"],
            formatting.fmt_lr(e["lr"]),
            e["scheduler"],
            str(int(e["epochs"])),
            formatting.fmt_paper(e["paper_accuracy"], e["paper_stated"]),
            formatting.fmt_acc(e["best_val_acc_mean"], e["best_val_acc_std"], n),
            str(n),
            # against a bound, whether ours is below it: a bound is not a number to subtract from
            ("below" if e["bound_met"] else "not below")
            if e["paper_stated"] == "below"
            else formatting.fmt_diff(e["diff"]),
        ]
        expected.append(({"data-experiment": e["experiment"], **beyond}, cells))
    assert table["rows"] == expected
    # the fixture's numbers, written out: each on its experiment's row
    shown = {attrs["data-experiment"]: (cells[7], cells[6]) for attrs, cells in table["rows"]}
    assert shown == EXPECTED
    assert [c[9] for a, c in table["rows"] if a["data-experiment"] == "alexnet"] == ["below"]


def test_claims_table_cell_by_cell(html: str, aggregate: Path) -> None:
    """The claims table: claims.csv's rows in order, each with its statement, its test, what
    was measured (with the seeds' spread and n) and its computed verdict."""
    claims = _csv(aggregate, "claims")
    (table,) = _html_tables(html)["claims"]
    assert table["head"] == ["the paper says", "test", "measured", "verdict"]
    assert table["rows"] == [
        (
            {"class": "verdict-" + c["verdict"].replace(" ", "-"), "data-experiment": c["id"]},
            [
                c["statement"],
                claim_words.claim_test(c),
                claim_words.claim_measured(c) if c["measured"] is not None else "—a",
                c["verdict"],
            ],
        )
        for c in claims
    ]
    # Why a claim is untested is said once, in the note, by the letter that marks its cell.
    assert "No measurement (—), because: a a run it involves is not yet trained." in _plain(html)
    shown = {attrs["data-experiment"]: (cells[1], cells[2]) for attrs, cells in table["rows"]}
    assert shown == CLAIMS_SHOWN
    assert {cells[3] for cells in _cells(table)} == {"holds", "fails", "within seed noise",
                                                      "untested"}  # fmt: skip
    text = _plain(html)
    assert "<h3>2.7&ensp;The paper's claims, checked</h3>" in html  # after 2.6, all runs
    assert (
        "Of the paper's 7 checked claims, 3 hold here, 2 fail, 1 is within seed noise and 1 "
        "could not be tested."
    ) in text
    assert text.count("Of the paper's 7 checked claims") == 2  # Section 2.6 and the conclusion


def test_no_claims_no_claims_section(render: Render, aggregate: Path, tmp_path: Path) -> None:
    folder = tmp_path / "aggregate"
    shutil.copytree(aggregate, folder)
    pd.DataFrame(columns=list(CLAIMS_CSV_COLUMNS)).to_csv(folder / "claims.csv", index=False)
    html = render(tmp_path / "paper.html", folder=folder).read_text()
    assert "claims" not in _html_tables(html) and "checked claims" not in _plain(html)


def test_ablation_tables_cell_by_cell(html: str) -> None:
    """Where the differences come from: one table per question of ablations.csv, its readings
    in order (the closest marked), and one computed sentence naming the closest reading."""
    assert "<h3>2.8&ensp;Where the differences come from</h3>" in html  # after 2.7, the claims
    tables = _html_tables(html)["ablations"]
    assert len(tables) == len(ABLATIONS_SHOWN)
    text = _plain(html)
    for table, (question, (cells, sentence)) in zip(tables, ABLATIONS_SHOWN.items(), strict=True):
        assert table["head"] == ["reading", "changes", "ours", "n", "Δ", "closes the gap?"]
        assert _cells(table) == [[c.replace("−", "\u2212") for c in row] for row in cells]
        marked = [attrs.get("class") == "closest" for attrs, _ in table["rows"]]
        rows = [r for r in ABLATIONS if r["question"] == question]
        assert marked == [bool(r["closest"]) for r in rows]
        assert sentence in text
    assert "the choices the paper leaves unstated, each tried both ways" in text
    assert "Tables 7–9 set every reading beside the base" in text
    assert text.count("Closes the gap: within the tolerance of 3 points") == 1  # one note
    bases = {r["question"]: r for r in ABLATIONS if r["variant"] == "base"}
    draw, split = (f"“{bases[q]['title']}”" for q in ("draw_m4", "split_m4"))
    assert (
        f"Of the 3 questions the paper leaves open and tried in Section 2.8, 2 have a reading "
        f"that closes the gap its base leaves to the paper's number: {draw} and {split}. For "
        f"{split} that reading is a leak, validation on held-out augmented copies of training "
        "images, not a reading of the paper's method."
    ) in text


def test_no_ablations_no_ablations_section(render: Render, aggregate: Path, tmp_path: Path) -> None:
    folder = tmp_path / "aggregate"
    shutil.copytree(aggregate, folder)
    pd.DataFrame(columns=list(ABLATIONS_CSV_COLUMNS)).to_csv(folder / "ablations.csv", index=False)
    html = render(tmp_path / "paper.html", folder=folder).read_text()
    assert "ablations" not in _html_tables(html)
    assert "Where the differences come from" not in html and "leaves open" not in _plain(html)


def test_beyond_the_paper_cell_by_cell(html: str) -> None:
    """Beyond the paper: the runs of beyond.csv beside the paper's (the beyond run marked),
    each run's recipe as it recorded it, the preview of the set only it uses (and not in
    Section 1's figure), and the computed paragraph."""
    assert "<h3>2.9&ensp;Beyond the paper</h3>" in html  # after 2.8, the ablations
    (results,) = _html_tables(html)["beyond"]
    assert results["head"] == [
        *("run", "model", "params", "epochs", "ours", "epoch 8", "paper", "time", "img/s"),
    ]
    assert _cells(results) == BEYOND_SHOWN
    assert [a.get("class") == "beyond" for a, _ in results["rows"]] == [False, False, True]
    (recipe,) = _html_tables(html)["recipe beyond"]
    assert recipe["head"] == ["setting", "resnet34", "alexnet", "modern_resnet18_64"]
    assert _cells(recipe) == BEYOND_RECIPE_SHOWN
    section = html[html.index('<section id="beyond">') :]
    section = section[: section.index("</section>")]
    assert 'alt="preview of modern"' in section
    # The curves of beyond.csv's runs (figures.json's kind beyond), here and nowhere else.
    assert '<figure id="figure-' in section and 'class="figure beyond"' in section
    assert html.count('class="figure beyond"') == 1
    words = re.sub(r"\s+", " ", section)  # the template's words, wrapped in its source
    assert "The runs beyond the paper beside the paper's runs they are compared with" in words
    assert "label smoothing is the smoothed loss it minimized" in words
    assert html.count('alt="preview of modern"') == 1  # not in Section 1's figure
    # one panel alone is not "(a)": its caption names its set
    assert "(a) modern" not in section and "The augmentation set modern at work" in section
    text = _plain(html)
    assert (
        "modern_resnet18_64 reaches 58.4 ± 0.6% over 2 seeds at its best epoch (20 of 20), "
        "12.3 points above resnet34 and 41.2 points above alexnet; after epoch 8 it "
        "stood at 31.7%. It took 7.8 min at 4,400 training images per second."
    ) in text
    assert "and what the same budget buys with today's training recipe" in text
    assert "on the same training and validation images" in text


def test_no_beyond_runs_no_beyond_section(render: Render, aggregate: Path, tmp_path: Path) -> None:
    folder = tmp_path / "aggregate"
    shutil.copytree(aggregate, folder)
    pd.DataFrame(columns=list(BEYOND_CSV_COLUMNS)).to_csv(folder / "beyond.csv", index=False)
    html = render(tmp_path / "paper.html", folder=folder).read_text()
    assert "beyond" not in _html_tables(html) and "Beyond the paper" not in html
    assert "today's training recipe" not in _plain(html)
    assert 'class="figure beyond"' not in html  # its figure goes with the section
    # Without runs that use it, the modern set's preview stays in Section 1's figure.
    assert html.count('alt="preview of modern"') == 1


def test_recipe_table_cell_by_cell(html: str, aggregate: Path) -> None:
    exps = sorted(_csv(aggregate, "experiments"), key=lambda e: e["run"])
    settings = json.loads((aggregate / "settings.json").read_text())
    (table,) = _html_tables(html)["recipe"]

    def row(get: Callable[[dict[str, Any]], str]) -> str:
        return _common([(int(e["run"]), get(e)) for e in exps])

    def optimizer(key: str, fmt: Callable[[Any], str]) -> Callable[[dict[str, Any]], str]:
        return lambda e: fmt(settings[e["experiment"]]["optimizer"][key])

    assert _cells(table) == [
        ["optimizer", row(optimizer("name", str))],
        ["learning rate", row(lambda e: formatting.fmt_lr(e["lr"]))],
        ["betas", row(optimizer("betas", formatting.fmt_value))],
        ["eps", row(optimizer("eps", formatting.fmt_lr))],
        ["weight decay", row(optimizer("weight_decay", formatting.fmt_lr))],
        ["batch size", row(lambda e: str(int(e["batch_size"])))],
        ["epochs", row(lambda e: str(int(e["epochs"])))],
        ["scheduler", row(lambda e: e["scheduler"])],
        ["augmentation sets", row(lambda e: e["sets"])],
        ["augmentation drawn", row(lambda e: {"fixed": "once, before training"}[e["mode"]])],
        # Every run's images are part of its recorded settings (the fixture's: all of them).
        ["training images", "all"],
        ["validation images", "all"],
        ["seeds per run", row(lambda e: str(int(e["n_seeds"])))],
    ]
    # what config.yaml's recipe gives, written out
    assert _cells(table)[1:5] == [
        ["learning rate", "1e-3"],
        ["betas", "(0.9, 0.999)"],
        ["eps", "1e-8"],
        ["weight decay", "1e-4"],
    ]
    assert _cells(table)[7] == ["scheduler", "none (StepLR(7, 0.1): runs 6, 9 and 10)"]


def test_data_tables_cell_by_cell(html: str, aggregate: Path) -> None:
    """The augmentation table (the sets' ops as the runs recorded them, in the config's set
    order), the layer tables (architectures.json) and the data set's numbers (stats.json)."""
    tables = _html_tables(html)
    settings = json.loads((aggregate / "settings.json").read_text())
    recorded: dict[str, list[dict[str, Any]]] = {}
    for experiment in settings.values():
        for name, ops in experiment["augmentation"]["ops"].items():
            recorded.setdefault(name, ops)
    order = [s for s in _config()["augmentation"]["sets"] if s in recorded]
    (augmentation,) = tables[""]
    assert _cells(augmentation) == [
        [
            name if i == 1 else "",
            str(i),
            words.op_name(spec["op"]),
            prose.op_params(spec, formatting.fmt_value),
        ]
        for name in order
        for i, spec in enumerate(recorded[name], 1)
    ]
    assert _cells(augmentation)[0] == ["set1", "1", "RandomHorizontalFlip", "p = 0.5"]

    architectures = json.loads((aggregate / "architectures.json").read_text())
    expected = []
    for arch in ("m1", "m4"):  # the order of their sections
        layers = architectures[arch]["layers"]
        rows = [
            [r["name"], r["layer"], " × ".join(map(str, r["output"])), f"{r['parameters']:,}"]
            for r in layers
        ]
        expected.append([*rows, ["total", "", "", f"{sum(r['parameters'] for r in layers):,}"]])
    assert [_cells(t) for t in tables["layers"]] == expected

    stats, text = STATS[False], _plain(html)
    count = formatting.fmt_int
    assert (
        f"It holds {stats['classes']} classes, {count(stats['train'])} training images "
        f"({count(stats['train'] // stats['classes'])} per class) and {count(stats['val'])} "
        f"labelled validation images ({count(stats['val'] // stats['classes'])} per class)"
    ) in text
    modes = stats["source_modes"]
    assert (
        f"Of the {count(sum(modes.values()))} images, {count(stats['grayscale'])} are stored as "
        f"single-channel grayscale JPEGs, and {modes['CMYK']} in other modes (CMYK: 1)"
    ) in text
    for what in ("mean", "std"):
        assert "(" + ", ".join(map(formatting.fmt_stat, stats[what])) + ")" in text
    assert "mean is (0.480, 0.448, 0.398) and the standard deviation (0.277, 0.269, 0.282)" in text
