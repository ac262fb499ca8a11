"""The report stage: a small aggregate folder written by hand per docs/report-contract.md,
rendered to HTML and PDF, and the numbers, figures and computed sentences checked."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from report_fixtures import (
    ABLATIONS,
    ABLATIONS_SHOWN,
    BEYOND,
    BEYOND_RECIPE_SHOWN,
    BEYOND_SHOWN,
    CLAIMS,
    CLAIMS_SHOWN,
    LAYERS,
    architecture,
)

from tinycnn.config.merge import deep_merge
from tinycnn.config.resolve import training_settings
from tinycnn.report import (
    ablation_words,
    beyond_words,
    claim_words,
    facts,
    formatting,
    prose,
    provenance_words,
    words,
)
from tinycnn.report.aggregate import numbers_record
from tinycnn.report.provenance import collect_provenance, config_hash
from tinycnn.report.render import render_html, render_pdf
from tinycnn.shared.contract import (
    ABLATIONS_CSV_COLUMNS,
    BEYOND_CSV_COLUMNS,
    CLAIMS_CSV_COLUMNS,
    JOB_COLUMNS,
)

ROOT = Path(__file__).resolve().parents[2]
TOLERANCE = 3.0

# The fixture's experiments: names and settings of config.yaml, accuracies made up. Columns:
# experiment | run | model | arch | section | sets | scheduler | best accuracy per seed |
# paper accuracy | stated | paper's best epoch | paper's figure
FIXTURE = """
m1_set1         |  1 | M1              | m1              | M1       | set1      | none           | 21.84     | 22   | approx |    | 2
m1_lr1e-3       |  2 | M1              | m1              | M1       | set1+set2 | none           | 29.1 30.1 | 29.5 | exact  |  7 | 3
m4_lr1e-3       |  5 | M4              | m4              | M4       | set1+set2 | none           | 42.3      | 35.9 | exact  |    | 6
alexnet         |  6 | AlexNet         | alexnet         | AlexNet  | set1+set2 | StepLR(7, 0.1) | 17.2      | 20   | below  |    | 7
resnet34        |  9 | ResNet34        | resnet34        | ResNet34 | set1+set2 | StepLR(7, 0.1) | 46.1      | 46.5 | exact  | 12 | 10
resnet34_preact | 10 | ResNet34-PreAct | resnet34_preact | ResNet34 | set1+set2 | StepLR(7, 0.1) | 45.8      | 48   | exact  |    | 11
"""  # noqa: E501
EXPERIMENTS = {
    fields[0]: fields
    for fields in ([f.strip() for f in line.split("|")] for line in FIXTURE.strip().splitlines())
}
PARAMETERS = {"m1": 584120, "m4": 2343080, "alexnet": 61301040, "resnet34": 21387272,
              "resnet34_preact": 21385480}  # fmt: skip
# What the reproduction table must print for each experiment (ours, paper).
EXPECTED = {
    "m1_set1": ("21.8", "~22"),
    "m1_lr1e-3": ("29.6 ± 0.7", "29.5"),
    "m4_lr1e-3": ("42.3", "35.9"),
    "alexnet": ("17.2", "< 20"),
    "resnet34": ("46.1", "46.5"),
    "resnet34_preact": ("45.8", "48"),
}
STATS = {  # stats.json of Tiny ImageNet and of the demo data
    False: {
        "archive": "tiny-imagenet-200.zip", "classes": 200, "train": 100000, "val": 10000,
        "grayscale": 1821, "source_modes": {"CMYK": 1, "L": 1821, "RGB": 108178},
        "mean": [0.4802, 0.4481, 0.3975], "std": [0.2770, 0.2691, 0.2821],
    },
    True: {
        "archive": "tiny-imagenet-demo.zip", "classes": 10, "train": 1400, "val": 300,
        "grayscale": 243, "source_modes": {"L": 243, "RGB": 1457},
        "mean": [0.45, 0.44, 0.46], "std": [0.3, 0.29, 0.31],
    },
}  # fmt: skip


def _config(**report: Any) -> dict[str, Any]:
    """config.yaml with the fixture's experiments and the comparisons they complete."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["experiments"] = {k: v for k, v in config["experiments"].items() if k in EXPERIMENTS}
    config["report"]["comparisons"] = [
        c
        for c in config["report"]["comparisons"]
        if all(e in EXPERIMENTS for e in c["experiments"])
    ]
    config["report"].update(report)
    return config


def _png(path: Path, title: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(6.3, 2.4), dpi=60)
    ax.plot(np.cumsum(rng.normal(size=20)), label="train")
    ax.plot(np.cumsum(rng.normal(size=20)), label="val")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def commit(experiment: str) -> str:
    """runs.csv's commit of the fixture's runs: one of digits only, with a leading zero."""
    return "012345678901" if experiment == "m1_set1" else "0123456789ab"


def _tables(accuracies: dict[str, list[float]] | None = None) -> tuple[pd.DataFrame, ...]:
    """runs.csv, experiments.csv and epochs.csv of the fixture, as the contract describes them;
    ``accuracies`` replaces an experiment's best accuracy per seed."""
    runs, exps, epochs = [], [], []
    for name, (_, run, model, arch, section, sets, sched, accs, paper, stated, best_epoch,
               figure) in EXPERIMENTS.items():  # fmt: skip
        run, paper = int(run), float(paper)
        accs = (accuracies or {}).get(name) or [float(a) for a in accs.split()]
        common = {
            "experiment": name, "run": run, "model": model, "arch": arch, "section": section,
            "sets": sets, "mode": "fixed", "lr": 1e-3, "scheduler": sched, "epochs": 20,
            "batch_size": 256, "parameters": PARAMETERS[arch], "device_name": "NVIDIA H100",
            "precision": "bf16 autocast, channels_last", "compile": "none",
            "paper_accuracy": paper, "paper_stated": stated,
            "paper_best_epoch": int(best_epoch) if best_epoch else None,
            "paper_train_accuracy": 55.0 if name == "m1_lr1e-3" else None,
            "paper_figure": int(figure),
        }  # fmt: skip
        for seed, best in enumerate(accs):
            runs.append({
                **common, "seed": seed, "best_val_acc": best, "best_val_top5": best + 25,
                "final_val_acc": best - 2, "final_val_top5": best + 23, "best_epoch": 7,
                "final_train_acc": best + 20, "train_seconds": 600.0 * run,
                "wall_seconds": 610.0 * run, "images_per_second": 20000.0 / run,
                "device": "cuda", "diff": best - paper, "commit": commit(name),
            })  # fmt: skip
            epochs += [
                {
                    "experiment": name, "seed": seed, "epoch": epoch, "lr": 1e-3,
                    "train_loss": 5.0 - 0.2 * epoch, "train_acc": 2.0 * epoch,
                    "val_loss": 3.0 + 0.02 * (epoch - 7) ** 2, "val_acc": best - abs(epoch - 7),
                    "val_top5": best + 20, "epoch_seconds": 30.0, "images_per_second": 20000.0,
                }
                for epoch in range(1, 21)
            ]  # fmt: skip
        mean = float(np.mean(accs))
        diff = mean - paper
        # A bound is met or not; only a stated accuracy has a tolerance.
        within = None if stated == "below" else abs(diff) <= TOLERANCE
        bound_met = round(diff, 1) <= 0 if stated == "below" else None
        means = {"best_val_acc": mean, "best_val_top5": mean + 25, "final_val_acc": mean - 2,
                 "final_train_acc": mean + 20, "wall_seconds": 610.0 * run,
                 "images_per_second": 20000.0 / run}  # fmt: skip
        exps.append({
            **common, "n_seeds": len(accs), "best_epoch": 7, "diff": diff,
            "within_tolerance": within, "bound_met": bound_met, "chance_acc": 0.5,
            **{f"{m}_mean": v for m, v in means.items()},
            **{f"{m}_std": 0.0 for m in means},
            "best_val_acc_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
        })  # fmt: skip
    return pd.DataFrame(runs), pd.DataFrame(exps), pd.DataFrame(epochs)


def _jobs(runs: pd.DataFrame) -> pd.DataFrame:
    """jobs.csv: the paper's runs, then a job of each seed of the ablation variants and of the
    runs beyond the paper that the fixture's ablations.csv and beyond.csv say trained."""
    trained = [
        ("ablation", r) for r in ABLATIONS if r["variant"] != "base" and "__" in r["experiment"]
    ]
    trained += [("beyond", r) for r in BEYOND if r["role"] == "beyond"]
    others = [
        {"role": role, "experiment": row["experiment"], "seed": seed, "model": "M4",
         "epochs": 20, "device_name": "NVIDIA H100", "commit": "0123456789ab",
         "precision": "bf16 autocast, channels_last", "compile": "none",
         "train_seconds": 590.0, "wall_seconds": 600.0, "images_per_second": 2000.0}
        for role, row in trained
        for seed in range(int(row["n_seeds"] or 0))
    ]  # fmt: skip
    return pd.concat([runs.assign(role="paper"), pd.DataFrame(others)], ignore_index=True).reindex(
        columns=list(JOB_COLUMNS)
    )


def _settings(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """settings.json: what the fixture's runs recorded as their resolved settings, those of
    presets/modern.yaml's run beyond the paper included."""
    modern = yaml.safe_load((ROOT / "presets" / "modern.yaml").read_text())
    with_modern = deep_merge(config, modern)
    return {
        **{name: training_settings(config, name) for name in EXPERIMENTS},
        "modern_resnet18_64": training_settings(with_modern, "modern_resnet18_64"),
    }


def _architectures() -> dict[str, dict[str, Any]]:
    """architectures.json: what the fixture's runs recorded about their models."""
    return {fields[3]: architecture(fields[3]) for fields in EXPERIMENTS.values()}


def _figures(config: dict[str, Any]) -> list[dict[str, Any]]:
    figures = [
        {
            "file": f"figures/curves_{name}.png",
            "kind": "curves",
            "experiment": name,
            "comparison": None,
            "title": f"{name} curves",
        }
        for name in EXPERIMENTS
    ]
    figures.append(
        {
            "file": "figures/paper_vs_ours.png",
            "kind": "paper_vs_ours",
            "experiment": None,
            "comparison": None,
            "title": "Paper vs ours",
        }
    )
    figures += [
        {
            "file": f"figures/comparison_{c['id']}.png",
            "kind": "comparison",
            "experiment": None,
            "comparison": c["id"],
            "title": c["title"],
        }
        for c in config["report"]["comparisons"]
    ]
    figures += [
        {
            "file": f"figures/{kind}.png",
            "kind": kind,
            "experiment": None,
            "comparison": None,
            "title": kind,
        }
        for kind in ("accuracy_vs_parameters", "accuracy_vs_time")
    ]
    figures.append(
        {
            "file": "figures/beyond.png",
            "kind": "beyond",
            "experiment": None,
            "comparison": None,
            "title": "Beyond the paper",
        }
    )
    return figures


def _classes_tsv(path: Path, n: int) -> None:
    words = ["goldfish, Carassius auratus", "European fire salamander", "bullfrog"]
    rows = [f"{i}\tn{i:08d}\t{words[i] if i < len(words) else f'class {i}'}" for i in range(n)]
    path.write_text("index\twnid\twords\n" + "\n".join(rows) + "\n")


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


Render = Callable[..., Path]


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


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed")


@pytest.fixture(scope="module")
def pdf(render: Render, tmp_path_factory: pytest.TempPathFactory) -> Path:
    _needs("pdftotext")
    folder = tmp_path_factory.mktemp("pdf")
    out = folder / "paper.pdf"
    render_pdf(render(folder / "paper.html"), out)
    return out


def _text(path: Path, *args: str) -> str:
    done = subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True)
    return done.stdout


def _plain(html: str) -> str:
    """The HTML's text with tags removed and white space collapsed."""
    body = html[html.index("<body>") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body)).replace("&lt;", "<")


def _row(html: str, experiment: str) -> str:
    match = re.search(
        rf'<tr[^>]*data-experiment="{re.escape(experiment)}"[^>]*>.*?</tr>', html, re.S
    )
    assert match, experiment
    return match.group(0)


class _Tables(HTMLParser):
    """The rendered tables, in order: each {"cls", "head": [th texts], "rows": [(attributes
    of the tr, [td texts])]}, texts with entities decoded and white space collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, Any]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"cls": dict(attrs).get("class") or "", "head": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append((dict(attrs), []))
        elif tag in ("td", "th") and self.tables:
            self.cell = []

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            text = re.sub(r"\s+", " ", "".join(self.cell)).strip()
            table = self.tables[-1]
            (table["head"] if tag == "th" else table["rows"][-1][1]).append(text)
            self.cell = None
        elif tag == "tr" and self.tables and not self.tables[-1]["rows"][-1][1]:
            self.tables[-1]["rows"].pop()  # the header row


def _html_tables(html: str) -> dict[str, list[dict[str, Any]]]:
    """The rendered tables by class ("" for the augmentation table), in order."""
    parser = _Tables()
    parser.feed(html)
    out: dict[str, list[dict[str, Any]]] = {}
    for table in parser.tables:
        out.setdefault(table["cls"], []).append(table)
    return out


def _cells(table: dict[str, Any]) -> list[list[str]]:
    return [cells for _, cells in table["rows"]]


# --- formatting rules ------------------------------------------------------------------------


def test_number_formats() -> None:
    assert formatting.fmt_paper(22.0, "approx") == "~22"
    assert formatting.fmt_paper(20.0, "below") == "< 20"
    assert formatting.fmt_paper(29.5, "exact") == "29.5"
    assert formatting.fmt_paper(None, None) == "—"
    assert formatting.fmt_acc(29.6, 0.7071, 2) == "29.6 ± 0.7"
    assert formatting.fmt_acc(29.64, 0.0, 1) == "29.6"
    assert formatting.fmt_diff(6.4) == "+6.4"
    assert formatting.fmt_diff(-2.2) == "\u22122.2"
    assert formatting.fmt_diff(-0.04) == "0.0"
    assert formatting.fmt_lr(1e-3) == "1e-3"
    assert formatting.fmt_lr(2.5e-4) == "2.5e-4"
    assert formatting.fmt_runs([6, 1, 2, 3, 4, 5, 8]) == "runs 1–6 and 8"
    assert formatting.fmt_runs([3, 4]) == "runs 3 and 4"


def _exp(acc: float, paper: float | None = None, stated: str = "exact", **more: Any) -> dict:
    return {
        "experiment": f"e{acc}",
        "model": "M",
        "run": None,
        "best_val_acc_mean": acc,
        "n_seeds": 1,
        "paper_accuracy": paper,
        "paper_stated": stated,
        **more,
    }


def test_the_conclusion_counts_every_comparison_section_2_draws(html: str) -> None:
    # The fixture's Section 2 draws 2 configured comparisons and 3 of a family against the one
    # before: the conclusion counts all 5, not the configured ones alone.
    text = _plain(html)
    assert text.count("Against the previous family,") == 3
    assert (
        "Section 2 draws 5 comparisons between runs. The paper states the order of 5 of them: 4 "
        "come out in the same order here; not so “ResNet34: basic vs full pre-activation blocks”."
    ) in text


def test_comparisons_at_chance_are_counted_apart() -> None:
    learnt = [_exp(30.0, 29.5), _exp(36.0, 35.9)]
    guess = [_exp(10.1, 20.0, "below", at_chance=True), _exp(10.0, 45.0, at_chance=True)]
    drawn = [("A", learnt), ("B", [learnt[1], guess[1]]), ("C", [guess[0], learnt[0]])]
    assert prose.comparisons_count(drawn) == (
        " Section 2 draws 3 comparisons between runs. The paper states the order of 3 of them: 1 "
        "comes out in the same order here; 2 comparisons involve a run at chance level and "
        "settle nothing."
    )
    assert prose.comparisons_count(drawn[1:]).endswith(
        "The paper states the order of 2 of them: each involves a run at chance level and "
        "settles nothing."
    )
    assert prose.comparisons_count([]) == ""


def test_a_run_at_chance_is_named_and_compared_with_nothing() -> None:
    # 10 classes: 10.3% against 10.0% is a guess, not "beats by 0.3 points".
    chance = {"at_chance": True, "chance_acc": 10.0}
    a, b = _exp(10.3, 35.9, **chance), _exp(10.0, 29.5, **chance)
    assert prose.compare(a, b, "A", "B") == "A and B are both at chance level, and not compared."
    c = _exp(45.0, 45.0)
    said = prose.compare(c, a, "C", "A")
    assert said == "C and A are not compared: A is at chance level."
    assert prose.compare(a, c, "A", "C") == "A and C are not compared: A is at chance level."
    ranking = prose.compare_group([c, a, _exp(30.0)])
    assert "Ranked by accuracy:" in ranking and "e10.3 (" not in ranking
    assert ranking.endswith("at chance level, and not ranked.")
    # Its paragraph says so, and reads no trend into losses that only wander; a validation loss
    # ending far above a guess's (2 ln 10 = 4.6) is named as diverged.
    history = [{"epoch": 1, "val_loss": 2.3029, "train_loss": 2.3031},
               {"epoch": 2, "val_loss": 2.3027, "train_loss": 2.3033}]  # fmt: skip
    e = {**_exp(10.0, 35.9, **chance), "run": 5, "model": "M4", "sets": "set1+set2", "lr": 1e-3,
         "scheduler": "none", "epochs": 2, "best_val_top5_mean": 50.0, "final_val_acc_mean": 10.0,
         "diff": -25.9, "within_tolerance": False}  # fmt: skip
    text = prose.run_paragraph(e, history, None)
    assert "peaks at a validation accuracy of 10.0%, chance level for 10 classes, with" in text
    assert "lowest at the last epoch" not in text and "overfitting" not in text
    assert "diverged" not in text
    blown = [{"epoch": 1, "val_loss": 8.89, "train_loss": 2.4},
             {"epoch": 2, "val_loss": 23.37, "train_loss": 4.35}]  # fmt: skip
    text = prose.run_paragraph(e, blown, None)
    assert "Its validation loss diverged, from 8.89 at epoch 1 to 23.37." in text
    # a loss in the millions is printed in thousands, not to the hundredth
    far = [*blown[:1], {"epoch": 2, "val_loss": 14745576.76, "train_loss": 4.35}]
    assert "from 8.89 at epoch 1 to 14,745,577." in prose.run_paragraph(e, far, None)


def test_a_family_comparison_sets_the_papers_best_of_each_against_ours() -> None:
    # Our best M4 is its lr 1e-4 run (the paper's 24%), the paper's best M4 its lr 1e-3 run
    # (35.9%): the paper has M4 ahead of M1 (29.5%), as its claim says, not behind.
    m4 = [_exp(30.0, 24.0, model="M4", run=4), _exp(25.0, 35.9, model="M4", run=5)]
    m1 = [_exp(28.0, 29.5, model="M1", run=2)]
    said = prose.against_previous(m4, m1)
    assert "M4 (run 4) beats M1 (run 2) by 2.0 points" in said
    assert (
        "the paper's best of each, M4 (run 5) and M1 (run 2), have the same order (35.9% vs 29.5%)"
    ) in said
    assert "opposite" not in said and "24%" not in said
    # The conclusion counts it the same way: by the paper's best of each family.
    drawn = facts.Drawn("M4 against M1", [m1[0], m4[0]], (m1[0], m4[1]))
    assert facts.settled([drawn]) == {"M4 against M1": True}  # 35.9 > 29.5, ours 30 > 28
    assert facts.settled([drawn[:2]]) == {"M4 against M1": False}  # 24% against 29.5% instead
    # Where our best is the paper's best too, the paper's numbers are those of the two runs.
    said = prose.against_previous(m4[1:], m1)
    assert (
        "M4 (run 5) trails M1 (run 2) by 3.0 points (25.0% against 28.0%); the paper has the "
        "opposite order (35.9% vs 29.5%)."
    ) in said


def test_runs_are_told_apart_by_their_sets_named_once() -> None:
    # "M1 (set1)" and "M1 (set1+set2)", not "M1 (sets set1)".
    a, b = _exp(21.8, model="M1", sets="set1"), _exp(29.6, model="M1", sets="set1+set2")
    assert words.labels([a, b]) == ["M1 (set1)", "M1 (set1+set2)"]


def test_the_order_sentence_counts_in_words() -> None:
    # one pair, or one of several, is singular: never "Of the 1 pairs ..., 1 come out"
    a, b = _exp(30.0, 29.5), _exp(20.0, 22.0, stated="approx")
    assert prose.order_sentence([a, b]) == (
        "The one pair of runs whose order the paper's figures settle comes out in the same "
        "order here."
    )
    flipped = [_exp(20.0, 29.5), _exp(30.0, 22.0, stated="approx")]
    assert "comes out in another order here." in prose.order_sentence(flipped)
    three = prose.order_sentence([a, b, _exp(10.0, 35.0)])
    assert three == (  # the paper has c above a above b, ours a above b above c
        "Of the 3 pairs of runs whose order the paper's figures settle, 1 comes out in the same "
        "order here."
    )


def test_several_tables_are_referred_to_as_a_range_or_a_list() -> None:
    def item(label: str) -> Any:
        return type("T", (), {"id": label.lower().replace(" ", "-"), "label": label})()

    def text(markup: str) -> str:
        return re.sub(r"<[^>]+>", "", markup)

    tables = [item(f"Table {n}") for n in (7, 8, 9, 10)]
    assert text(words.refs(tables[:1])) == "Table 7"
    assert text(words.refs(tables[:2])) == "Tables 7 and 8"
    assert text(words.refs(tables)) == "Tables 7–10"  # not "Table 7, Table 8, ... and Table 10"
    assert text(words.refs([tables[0], tables[2], tables[3]])) == "Tables 7, 9 and 10"
    assert text(words.refs([item("Figure A1"), item("Figure A2"), item("Figure A3")])) == (
        "Figures A1–A3"
    )
    # each end of a range, each number of a list, is a link; the links survive the list
    assert words.refs(tables).count('<a class="ref" href="#table-') == 2
    assert words.refs([tables[0], tables[2], tables[3]]).count('href="#table-') == 3
    mixed = words.refs([item("Table 7"), item("Figure 2")])
    assert text(mixed) == "Table 7 and Figure 2" and mixed.count("<a ") == 2


def test_the_size_paragraph_says_each_fact_once() -> None:
    fig = type("F", (), {"id": "figure-8", "label": "Figure 8"})()
    m1 = _exp(72.7, model="M1", parameters=535_290)
    chance = {"at_chance": True, "chance_acc": 10.0}
    alexnet = _exp(10.0, model="AlexNet", parameters=61_110_850, **chance)
    text = re.sub(r"<[^>]+>", "", prose.size_paragraph([m1, alexnet], fig))
    # a run at chance is compared with nothing; the smallest, the most accurate, named once
    assert text == (
        "Figure 8 relates accuracy to model size. The largest model, AlexNet (61.1 M "
        "parameters), stays at chance level (10.0%); the smallest, M1 (0.535 M), is the most "
        "accurate, with 72.7%."
    )
    learnt = {**alexnet, "best_val_acc_mean": 20.0, "at_chance": False}
    text = re.sub(r"<[^>]+>", "", prose.size_paragraph([m1, learnt], fig))
    assert text.endswith(
        "reaches 20.0% at best, against 72.7% for the most accurate, M1 (0.535 M), which is "
        "also the smallest."
    )


def test_a_run_beyond_the_paper_at_chance_is_set_against_no_run() -> None:
    table = type("T", (), {"id": "table-8", "label": "Table 8"})()
    common = {"role": "beyond", "model": "ResNet18", "n_seeds": 1, "best_epoch": 1,
              "epochs": 2, "wall_seconds_mean": 4.0, "images_per_second_mean": 51.0,
              "chance_acc": 10.0}  # fmt: skip
    base = {**common, "experiment": "resnet18_lr1e-3", "role": "baseline",
            "best_val_acc_mean": 11.0, "at_chance": True}  # fmt: skip
    modern = {**common, "experiment": "modern_resnet18", "best_val_acc_mean": 10.0,
              "at_chance": True}  # fmt: skip
    text = re.sub(r"<[^>]+>", "", beyond_words.beyond_paragraph([base, modern], table, table, {}))
    assert "modern_resnet18 reaches 10.0% at its best epoch (1 of 2), chance level for 10 " in text
    assert "classes, set against no run." in text and "points below" not in text
    learnt = {**modern, "best_val_acc_mean": 40.0, "at_chance": False}
    text = re.sub(r"<[^>]+>", "", beyond_words.beyond_paragraph([base, learnt], table, table, {}))
    assert "(1 of 2), resnet18_lr1e-3 being at chance level." in text


def test_a_claim_of_the_best_model_says_behind_not_negative_ahead() -> None:
    row = {"kind": "best", "measured": -69.2, "spread": None, "n": 1,
           "experiments": "m1_lr1e-3 densenet161", "reason": None}  # fmt: skip
    assert claim_words.claim_measured(row) == "69.2 points behind densenet161 (n = 1)"
    assert (
        claim_words.claim_measured({**row, "measured": 0.3})
        == "0.3 points ahead of densenet161 (n = 1)"
    )


def test_no_gap_no_gap_to_close() -> None:
    from report_fixtures import _ablation

    agrees = {"closes_gap": True, "closest": True, "gap": -0.9, "accuracy_mean": 28.6}
    groups = [
        [_ablation("q", "Q", "base", "m1_lr1e-3", **agrees),
         _ablation("q", "Q", "online", "q__online", closes_gap=True, closest=False, gap=1.3,
                   accuracy_mean=30.8)],
    ]  # fmt: skip
    said = ablation_words.ablations_summary(groups, "2.10")
    assert said == (
        "Of the one question the paper leaves open and tried in Section 2.10, none has a gap to "
        "explain: its base already lands within the tolerance of the paper's number."
    )
    assert beyond_words._as_clause("A residual network.") == "a residual network"
    assert beyond_words._as_clause("ResNet18 with a 3x3 stem") == "ResNet18 with a 3x3 stem"


def test_a_question_without_results_says_so_once() -> None:
    from report_fixtures import _ablation

    unrun = {"n_seeds": 0, "closest": None, "closes_gap": None, "gap": None}
    rows = [_ablation("q", "Q", "base", "m4_lr1e-3", **unrun),
            _ablation("q", "Q", "split", "q__split", **unrun)]  # fmt: skip
    assert (
        ablation_words.ablation_sentence(rows)
        == "Neither base (m4_lr1e-3) nor split has results yet."
    )
    rows.append(_ablation("q", "Q", "late", "q__late", **unrun))
    assert ablation_words.ablation_sentence(rows) == (
        "None of base (m4_lr1e-3), split and late has results yet."
    )


def test_comparisons_flip_and_tie() -> None:
    a, b = _exp(35.9, 35.9), _exp(29.5, 29.5)
    assert "A beats B by 6.4 points" in prose.compare(a, b, "A", "B")
    assert "the same order" in prose.compare(a, b, "A", "B")
    assert "A trails B by 6.4 points" in prose.compare(b, a, "A", "B")
    assert "A matches B" in prose.compare(_exp(30.04), _exp(29.96), "A", "B")
    assert "opposite order" in prose.compare(_exp(40.0, 20.0), _exp(30.0, 30.0), "A", "B")
    seeded = {"n_seeds": 3, "best_val_acc_std": 0.6}
    c, d = _exp(30.0, **seeded), _exp(29.5, n_seeds=2, best_val_acc_std=0.8)
    assert "a gap within the spread of the seeds (±1.0 points)" in prose.compare(c, d, "C", "D")
    far = {**d, "best_val_acc_mean": 27.0}
    assert "a gap beyond the spread of the seeds (±1.0 points)" in prose.compare(c, far, "C", "D")
    assert "spread" not in prose.compare(c, _exp(27.0), "C", "D")  # one seed: not measured
    tie = [_exp(46.12, 45.0, model="A"), _exp(46.08, 48.0, model="B")]
    assert "A (e46.12) and B (e46.08) share the best accuracy, 46.1%" in prose.best_sentence(tie)
    assert "; the paper's best, B (e46.08) with 48%, is among them." in prose.best_sentence(tie)
    assert "as in the paper (48%)" in prose.best_sentence(tie[1:])
    other = [tie[0], _exp(1.0, 48.0, model="C")]
    assert "; the paper's best is C (e1.0) with 48%." in prose.best_sentence(other)
    # "below 20" orders only against a number at or above 20
    assert facts.paper_order(_exp(1, 20.0, "below"), _exp(1, 45.0)) == -1
    assert facts.paper_order(_exp(1, 20.0, "below"), _exp(1, 15.0)) is None


# --- the rendered paper ----------------------------------------------------------------------


def test_html_is_self_contained_with_every_figure(html: str, aggregate: Path) -> None:
    figures = json.loads((aggregate / "figures.json").read_text())
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) == len(figures) + 3  # and the three preview grids (modern: Beyond)
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<link" not in html and "<style>" in html
    for label in ("Figure 1.", "Figure A1.", "Table 1.", "Table B1."):
        assert label in html
    # figure numbers appear in reading order
    numbers = [int(n) for n in re.findall(r'<span class="label">Figure (\d+)\.', html)]
    assert numbers == list(range(1, len(numbers) + 1))


def test_tables_from_the_model_definitions(html: str) -> None:
    text = _plain(html)
    # the original's numbers of its tables of layers (captions.html.j2) for the archs it prints
    assert "The M1 architecture (Table 1 of the original)" in text
    assert "The M4 architecture (Table 2 of the original)" in text
    assert "ConvReLU(5x5, 16)" in text and "584,120" in text  # M1 total, 200 classes
    assert "2,343,080" in text  # M4 total


def test_recorded_layers_match_the_model_code() -> None:
    """The fixture's recorded layer tables are what today's model code gives."""
    from tinycnn.training.models import build_model, layer_table

    for arch, rows in LAYERS.items():
        table = layer_table(build_model(arch, num_classes=200))
        assert [(r.name, r.layer, list(r.output_shape), r.parameters) for r in table] == rows


def test_report_side_imports_no_torch() -> None:
    """The aggregate and the report read files only: importing them loads no torch, and none
    of the modules that resolve settings or build models."""
    code = (
        "import sys, tinycnn.cli, tinycnn.report.aggregate, tinycnn.report.render; "
        "print(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "tinycnn.report.render" in loaded and "tinycnn.report.aggregate" in loaded
    heavy = {"torch", "torchvision"}
    forbidden = {
        "tinycnn.training.models",
        "tinycnn.training.train",
        "tinycnn.config",
        "tinycnn.data.augment",
    }
    forbidden |= {
        "tinycnn.data.augment_ops",
        "tinycnn.training.gpu_lease",
        "tinycnn.training.checkpoint",
    }
    assert not {m for m in loaded if m.split(".")[0] in heavy}
    assert not loaded & forbidden


def _parts(html: str) -> dict[str, Any]:
    """The parts of the paper that describe how the runs were trained."""
    pattern = r'<figure id="table-\d+" class="table-figure ({})(?: long)?".*?</figure>'
    figures = re.findall(pattern.format("recipe|layers"), html, re.S)
    tables = re.findall(pattern.format("?:recipe|layers"), html, re.S)
    schedules = re.search(r"As for the learning rate, (.*?)\. A run", _plain(html))
    assert figures == ["recipe", "layers", "layers"] and schedules
    return {"tables": tables, "schedules": schedules.group(1)}


def test_tables_follow_the_runs_not_the_live_config(
    render: Render, aggregate: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Editing the config or the model code after training changes nothing in the paper's
    description of the runs until the runs are redone (their records change)."""
    from torch import nn

    from tinycnn.training import models

    before = _parts(render(tmp_path / "before.html").read_text())
    assert "divide it by 10 every 7 epochs (StepLR)" in before["schedules"]
    assert "RAdam" in before["tables"][0] and "1e-4" in before["tables"][0]  # weight decay

    config = _config()
    config["training"]["optimizer"].update(name="Adam", lr=5e-4, weight_decay=0.0)
    config["training"]["scheduler"] = {"name": "StepLR", "step_size": 3, "gamma": 0.5}
    for exp in config["experiments"].values():
        exp.pop("scheduler", None)
        exp.pop("optimizer", None)
    monkeypatch.setitem(models.MODELS, "m1", lambda num_classes=200: nn.Sequential(nn.Flatten()))
    monkeypatch.setattr(models, "layer_table", lambda *args, **kwargs: [])
    after = _parts(render(tmp_path / "after.html", config=config).read_text())
    assert after == before

    # The runs are redone: what they record changes, and so does the paper.
    folder = tmp_path / "redone"
    shutil.copytree(aggregate, folder)
    (folder / "settings.json").write_text(json.dumps(_settings(config)))
    redone = _architectures()
    redone["m1"]["layers"][0].update(layer="ConvReLU(7x7, 16)", parameters=2368)
    (folder / "architectures.json").write_text(json.dumps(redone))
    changed = _parts(render(tmp_path / "redone.html", config=config, folder=folder).read_text())
    assert changed["schedules"] == "all runs divide it by 2 every 3 epochs (StepLR)"
    assert "Adam" in changed["tables"][0] and "RAdam" not in changed["tables"][0]
    assert "ConvReLU(7x7, 16)" in changed["tables"][1] and "585,272" in changed["tables"][1]
    assert changed["tables"][2] == before["tables"][2]  # M4's record is unchanged


def test_beyond_tolerance_row_is_marked(html: str) -> None:
    assert 'class="beyond-tolerance"' in _row(html, "m4_lr1e-3")
    for name in EXPERIMENTS.keys() - {"m4_lr1e-3"}:
        assert "beyond-tolerance" not in _row(html, name), name


def test_computed_sentences(html: str) -> None:
    text = _plain(html)
    assert "M4 (run 5) beats M1 (run 2) by 12.7 points" in text
    assert "ResNet34-PreAct trails ResNet34 by 0.3 points" in text
    assert "the paper has the opposite order (48% vs 46.5%)" in text
    assert "The best model is ResNet34 (run 9) with 46.1%" in text
    # A bound (run 6, "< 20%") is met or not: it is not counted against the tolerance.
    assert (
        "of the 5 runs with a stated accuracy, 4 are within ±3 points of it; run 6, which the "
        "paper reports only as below 20%, stays below that."
    ) in text
    assert (
        "Over the 5 runs with a stated accuracy, ours lies on average 1.9 points from it." in text
    )
    assert "reports only that it stays below 20%, as ours does" in text


def test_sentences_follow_the_numbers(render: Render, aggregate: Path, tmp_path: Path) -> None:
    folder = tmp_path / "aggregate"
    shutil.copytree(aggregate, folder)
    exps = _tables({"m4_lr1e-3": [25.0], "resnet34_preact": [46.4]})[1]
    exps.to_csv(folder / "experiments.csv", index=False)
    text = _plain(render(tmp_path / "paper.html", folder=folder).read_text())
    assert "M4 (run 5) trails M1 (run 2) by 4.6 points" in text
    assert "ResNet34-PreAct beats ResNet34 by 0.3 points" in text
    assert "the paper has the same order (48% vs 46.5%)" in text
    assert "Beyond the tolerance: run 5 (M4, \u221210.9 points)" in text


@pytest.mark.parametrize(
    ("alexnet", "words"),
    [
        (9.5, "stays below that"),  # 10.5 points under "< 20%": the bound is met, nothing more
        (23.0, "exceeds it by 3.0 points"),  # within 3 points of 20, yet not below it
    ],
)
def test_a_bound_is_met_or_not_never_within_a_tolerance(
    render: Render, aggregate: Path, tmp_path: Path, alexnet: float, words: str
) -> None:
    folder = tmp_path / "aggregate"
    shutil.copytree(aggregate, folder)
    _tables({"alexnet": [alexnet]})[1].to_csv(folder / "experiments.csv", index=False)
    html = render(tmp_path / "paper.html", folder=folder).read_text()
    text = _plain(html)
    assert (
        "of the 5 runs with a stated accuracy, 4 are within ±3 points of it; run 6, which the "
        f"paper reports only as below 20%, {words}."
    ) in text
    # The run's own paragraph names the bound and no tolerance; the table shades a bound missed.
    said = re.search(r"The paper reports only that it stays below 20%[^.]*\.", text).group(0)
    assert "tolerance" not in said
    assert ("beyond-tolerance" in _row(html, "alexnet")) is (alexnet > 20)


def test_missing_experiment_still_renders(render: Render, tmp_path: Path) -> None:
    config = _config()
    comparisons = yaml.safe_load((ROOT / "config.yaml").read_text())["report"]["comparisons"]
    config["report"]["comparisons"] = comparisons  # lr_m1 names m1_lr1e-4, absent everywhere
    text = _plain(render(tmp_path / "paper.html", config=config).read_text())
    assert "M1: learning rate 1e-3 vs 1e-4" not in text
    assert "M1: augmentation set 1 alone vs both sets" in text


def test_demo_notice(render: Render, html: str, tmp_path: Path) -> None:
    assert "demo data" not in _plain(html).lower()
    demo = _plain(render(tmp_path / "paper.html", demo=True).read_text())
    first = demo[:400]
    assert "Demo data: not a reproduction" in first
    assert "handwritten digits (10 classes, 1,400 training and 300 validation images)" in first


# --- the tables, cell by cell, against the aggregate's files ----------------------------------


def _csv(aggregate: Path, name: str) -> list[dict[str, Any]]:
    """A table of the aggregate as records, missing values as None."""
    table = pd.read_csv(aggregate / f"{name}.csv")
    return table.astype(object).where(table.notna(), None).to_dict("records")


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
            formatting.fmt_diff(e["diff"]),
        ]
        expected.append(({"data-experiment": e["experiment"], **beyond}, cells))
    assert table["rows"] == expected
    # the fixture's numbers, written out: each on its experiment's row
    shown = {attrs["data-experiment"]: (cells[7], cells[6]) for attrs, cells in table["rows"]}
    assert shown == EXPECTED


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
    assert "No measurement (—), because: a not yet run." in _plain(html)
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
    assert "the readings the paper leaves open tried one at a time" in text
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


def test_beyond_runs_on_other_images_say_so() -> None:
    # The runs' images are part of their recorded settings: a comparison across validation
    # sets says it compares roughly; one across training shares only, that it is scored alike.
    full, cut = {"subset": {}}, {"subset": {"train_per_class": 12, "val_per_class": 10}}
    held = {"validation": {"source": "augmented_split", "fraction": 0.2}}
    assert words.same_images_clause([full, full]) == (
        ", on the same training and validation images",
        "",
    )
    assert "different validation images" in words.same_images_clause([full, cut])[1]
    assert (
        "the same validation images"
        in words.same_images_clause([full, {"subset": {"train_per_class": 12}}])[1]
    )
    assert "different validation images" in words.same_images_clause([full, held])[1]
    assert words.images_words(cut, "train") == "first 12 a class"
    assert words.images_words(cut, "val") == "first 10 a class"
    assert words.images_words(full, "val") == "all"
    assert words.images_words(held, "val") == "20% of the augmented training samples, held out"


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


def test_a_narrowing_within_the_seeds_spread_is_not_called_narrowing() -> None:
    # The claims' rule: a change of distance no larger than the seeds' spread is noise.
    row = {"variant": "last", "n_seeds": 2, "accuracy_mean": 32.5, "closes_gap": False,
           "narrows_gap": True, "within_seed_noise": True, "leak": False}  # fmt: skip
    assert ablation_words.ablation_verdict(row) == "within seed noise"
    assert ablation_words.ablation_verdict({**row, "within_seed_noise": False}) == "narrows it"
    assert ablation_words.ablation_verdict({**row, "within_seed_noise": None}) == "narrows it"


def test_every_reason_has_words() -> None:
    from tinycnn.shared.contract import CLAIM_REASONS

    assert set(claim_words.CLAIM_REASONS) == set(CLAIM_REASONS)


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
        ["augmentation mode", row(lambda e: e["mode"])],
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

    (timing,) = tables["timing"]
    assert timing["head"] == [
        *("run", "experiment", "seed", "device", "commit", "precision", "wall time", "images/s")
    ]
    # every training job: the paper's runs, then the ablation variants', then those beyond it
    roles = [r["role"] for r in provenance["runs"]]
    assert roles == sorted(roles, key=["paper", "ablation", "beyond"].index)
    assert roles.count("paper") == 7 and "ablation" in roles and "beyond" in roles
    assert _cells(timing) == [
        [
            "" if r["run"] is None else str(int(r["run"])),
            r["experiment"],
            str(int(r["seed"])),
            r["device_name"],
            r["commit"],  # as jobs.csv holds it, text even when all digits
            r["precision"],  # compile "none": nothing added
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
    assert _cells(timing)[0][4] == "012345678901"  # a commit of digits, its leading zero kept
    assert _cells(timing)[2] == [
        *("2", "m1_lr1e-3", "1", "NVIDIA H100", "0123456789ab", "bf16 autocast, channels_last"),
        *("20.3 min", "10,000"),
    ]
    assert _cells(timing)[0][4] == "012345678901"


def test_pdf_text_holds_every_number(pdf: Path) -> None:
    text = re.sub(r"\s+", " ", _text(pdf))
    for name, (ours, paper) in EXPECTED.items():
        assert ours in text, name
        assert paper in text, name
    assert "Demo data" not in text
    assert "The paper's claims, checked" in text
    for test, measured in CLAIMS_SHOWN.values():
        assert test in text and measured in text, (test, measured)


def _line_of(lines: list[str], cells: list[str], start: int) -> int:
    """The first line from ``start`` on that holds ``cells`` in order, each whole."""
    words = [r"\s+".join(map(re.escape, cell.split())) for cell in cells if cell]
    pattern = re.compile(r"(?<!\S)" + r"\s+".join(words) + r"(?!\S)")
    for i in range(start, len(lines)):
        if pattern.search(lines[i]):
            return i
    raise AssertionError(f"no line from {start} on holds {cells}")


def test_pdf_tables_keep_their_rows(pdf: Path) -> None:
    """Each row of the reproduction, recipe, timing and software tables (checked cell by cell in
    the HTML above) is one line of the PDF's layout text, its cells in order, the rows in
    order; in the timing table, the numerics (the one cell that may wrap there) aside."""
    lines = _text(pdf, "-layout").splitlines()
    tables = _html_tables(pdf.with_name("paper.html").read_text())
    for cls in ("recipe", "results", "software", "timing"):
        (table,) = tables[cls]
        at = _line_of(lines, table["head"], 0) if cls != "recipe" else 0
        for cells in _cells(table):
            if cls != "timing":
                at = _line_of(lines, cells, at + 1)
                continue
            # a long experiment name may wrap at its joints, the numerics at a space
            at = _line_of(lines, cells[2:5], at + 1)
            assert _line_of(lines, cells[6:], at) == at, cells
            first = lines[at].split()[0]
            assert first == cells[0] if cells[0] else cells[1].startswith(first), cells
    row = _line_of(lines, ["5", "M4", "set1+set2", "1e-3", "none", "20", "35.9", "42.3"], 0)
    assert lines[row].split()[-2:] == ["1", "+6.4"]


def test_pdf_prints_hashes_unbroken(pdf: Path) -> None:
    """Every SHA-256 of Appendix B is on one line of the PDF, whole (a hash broken over two
    lines cannot be copied or searched)."""
    hashes = re.findall(r"<code>([0-9a-f]{64})</code>", pdf.with_name("paper.html").read_text())
    assert len(hashes) >= 2  # the configuration file's, the merged configuration's
    lines = _text(pdf).splitlines()
    for h in hashes:
        assert any(h in line for line in lines), h


def test_pdf_pages_images_and_ink(pdf: Path, aggregate: Path, tmp_path: Path) -> None:
    _needs("pdfinfo")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 5 <= pages <= 40, pages
    assert "A4" in info or "595.2" in info
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True)
    images = [line for line in listing.stdout.splitlines()[2:] if " image " in line]
    figures = json.loads((aggregate / "figures.json").read_text())
    assert len(images) >= len(figures) + 2
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    page = plt.imread(next(tmp_path.glob("page*.png")))
    assert page.std() > 0.05  # not blank


def test_pdf_demo_notice_first(render: Render, tmp_path: Path) -> None:
    _needs("pdftotext")
    out = tmp_path / "paper.pdf"
    render_pdf(render(tmp_path / "paper.html", demo=True), out)
    first_lines = _text(out, "-l", "1").strip().splitlines()[:4]
    assert any("Demo data: not a reproduction" in line for line in first_lines)


# --- provenance ------------------------------------------------------------------------------


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


def test_numerics_words_name_the_compile_mode() -> None:
    assert provenance_words.numerics("fp32, contiguous", "none") == "fp32, contiguous"
    assert (
        provenance_words.numerics("bf16 autocast, channels_last", "reduce-overhead")
        == "bf16 autocast, channels_last; compiled (reduce-overhead)"
    )


# --- runs not yet run, stale runs, the reference runs ------------------------------------------

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


REFERENCE = {
    "folder": "reference",
    "archive": {"name": "tiny-imagenet-200.zip", "md5": "c5708d893903748360198ec594d04568",
                "size": 241828375},
    "hardware": ["NVIDIA H200, driver 580.159.04, torch 2.11.0+cu130, CUDA 13.0"],
    "stale": [{"experiment": "m1_lr1e-3", "seed": 0, "differs": ["optimizer.lr", "epochs"]}],
    "planned": [{"experiment": "densenet161", "seed": 0}],
    "order": [{"experiment": "m1_set1", "seed": 0}, {"experiment": "densenet161", "seed": 0}],
    "experiments": 2,
    "seeds_each": 1,
    "waiting": {"cpu": 0, "gpu": 1},
    "official": {"url": "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                 "md5": "90528d7ca1a48142e341f4ef8d21d0de", "size": 248100043},
}  # fmt: skip


def test_reference_notice_and_stale_runs(render: Render, tmp_path: Path) -> None:
    """With --reference: the first lines say what data and hardware made the numbers; every
    table row and sentence that shows a stale run's number marks it, and a note says which
    settings differ and that the run must be redone."""
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(REFERENCE))
    html = render(tmp_path / "paper.html", reference=reference).read_text()
    text = _plain(html)
    first = text[:700]
    # 7 jobs of runs.csv, 2 seeds of the run beyond the paper, 3 of the ablation variants
    assert (
        "Numbers from 12 reference runs (reference), trained on the real Tiny ImageNet-200 "
        "archive (tiny-imagenet-200.zip, MD5 c5708d893903748360198ec594d04568, 241,828,375 "
        "bytes: the official images, rebuilt from a public snapshot into other zip bytes than "
        "the official archive's (http://cs231n.stanford.edu/tiny-imagenet-200.zip, MD5 "
        "90528d7ca1a48142e341f4ef8d21d0de, 248,100,043 bytes), hence another MD5). The plan "
        "counts 2 runs (2 experiments, 1 seed each): 1 recorded, 1 not yet run, of which 0 "
        "wait for their turn on a CPU and 1 for a GPU. Hardware: NVIDIA H200, driver "
        "580.159.04, torch 2.11.0+cu130, CUDA 13.0."
    ) in first
    assert "1 of them is stale (‡ stale)" in first
    assert html.index('id="reference-notice"') < html.index('class="title-block"')
    tables = _html_tables(html)
    (table,) = tables["results"]
    marks = {a["data-experiment"]: (a.get("class"), c[7]) for a, c in table["rows"]}
    assert marks.pop("m1_lr1e-3") == ("stale", "29.6 ± 0.7 ‡ stale")
    assert all("‡" not in cell and cls != "stale" for cls, cell in marks.values())
    assert (
        "‡ Stale: run 2, seed 0: optimizer.lr, epochs. These runs recorded settings that today's "
        "configuration resolves otherwise; their numbers stand for what they recorded, and each "
        "must be redone."
    ) in text
    assert (
        "‡ stale: seed 0 recorded settings that today's configuration changes (optimizer.lr, "
        "epochs); the run must be redone."
    ) in text
    assert (
        "M4 (run 5) beats M1 (run 2) by 12.7 points (42.3% against 29.6 ± 0.7% over 2 seeds "
        "‡ stale)"
    ) in text
    # Every sentence or cell that prints run 2's accuracy marks it.
    at = [m.start() for m in re.finditer(r"29\.6", text)]
    assert len(at) >= 3 and all("‡ stale" in text[i : i + 40] for i in at)
    (timing,) = tables["timing"]
    jobs = {(c[1], c[2]) for c in _cells(timing)}
    assert ("m1_lr1e-3 ‡ stale", "0") in jobs and ("m1_lr1e-3", "1") in jobs
    (claims,) = tables["claims"]
    measured = {a["data-experiment"]: c[2] for a, c in claims["rows"]}
    assert measured["m4_beats_m1"] == CLAIMS_SHOWN["m4_beats_m1"][1] + " ‡ stale"
    assert measured["m1_overfits"].endswith("‡ stale")
    assert measured["densenet_epoch_time"] == "—a"  # no number: no stale mark
    assert "a run recorded with settings that today's configuration resolves otherwise" in text


def test_reference_file_needs_stale_and_planned(render: Render, tmp_path: Path) -> None:
    from tinycnn.shared.errors import UserError

    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"folder": "reference", "stale": []}))
    with pytest.raises(UserError, match="`stale` and `planned`"):
        render(tmp_path / "paper.html", reference=reference)


def test_paper_html_command_takes_the_reference(aggregate: Path, tmp_path: Path) -> None:
    """`tinycnn paper-html --reference FILE` passes the file to the report."""
    from tinycnn.cli import main

    root = aggregate.parent
    (tmp_path / "config.json").write_text(json.dumps(_config()))
    (tmp_path / "reference.json").write_text(json.dumps(REFERENCE))
    args = ["paper-html", "--config", str(tmp_path / "config.json"), "--workflow-dir", str(root)]
    args += ["--aggregate", str(aggregate), "--stats", str(root / "stats.json")]
    args += [
        "--classes",
        str(root / "classes.tsv"),
        "--reference",
        str(tmp_path / "reference.json"),
    ]
    args += [f"--preview={s}={root / f'{s}_preview.png'}" for s in ("set1", "set2")]
    assert main([*args, "--out", str(tmp_path / "paper.html")]) == 0
    first = _plain((tmp_path / "paper.html").read_text())[:700]
    assert (
        "Numbers from 12 reference runs (reference)" in first and "Hardware: NVIDIA H200" in first
    )
