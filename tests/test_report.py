"""The report stage: a small aggregate folder written by hand per docs/report-contract.md,
rendered to HTML and PDF, and the numbers, figures and computed sentences checked."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from report_fixtures import LAYERS, architecture

from tinycnn import facts, formatting, prose
from tinycnn.config import training_settings
from tinycnn.provenance import collect_provenance, config_hash
from tinycnn.report import render_html, render_pdf

ROOT = Path(__file__).resolve().parents[1]
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
                "device": "cuda", "diff": best - paper,
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
        within = diff <= TOLERANCE if stated == "below" else abs(diff) <= TOLERANCE
        means = {"best_val_acc": mean, "best_val_top5": mean + 25, "final_val_acc": mean - 2,
                 "final_train_acc": mean + 20, "wall_seconds": 610.0 * run,
                 "images_per_second": 20000.0 / run}  # fmt: skip
        exps.append({
            **common, "n_seeds": len(accs), "best_epoch": 7, "diff": diff,
            "within_tolerance": within,
            **{f"{m}_mean": v for m, v in means.items()},
            **{f"{m}_std": 0.0 for m in means},
            "best_val_acc_std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
        })  # fmt: skip
    return pd.DataFrame(runs), pd.DataFrame(exps), pd.DataFrame(epochs)


def _settings(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """settings.json: what the fixture's runs recorded as their resolved settings."""
    return {name: training_settings(config, name) for name in EXPERIMENTS}


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
            "caption": f"Loss and accuracy per epoch of {name}.",
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
            "caption": "Our best validation accuracy against the paper's.",
        }
    )
    figures += [
        {
            "file": f"figures/comparison_{c['id']}.png",
            "kind": "comparison",
            "experiment": None,
            "comparison": c["id"],
            "title": c["title"],
            "caption": f"{c['title']}: curves.",
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
            "caption": f"Best validation accuracy against {kind.split('_vs_')[1]}.",
        }
        for kind in ("accuracy_vs_parameters", "accuracy_vs_time")
    ]
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
    exps.to_csv(folder / "experiments.csv", index=False)
    epochs.to_csv(folder / "epochs.csv", index=False)
    (folder / "settings.json").write_text(json.dumps(_settings(config)))
    (folder / "architectures.json").write_text(json.dumps(_architectures()))
    figures = _figures(config)
    (folder / "figures.json").write_text(json.dumps(figures, indent=2))
    for i, spec in enumerate(figures):
        _png(folder / spec["file"], spec["title"], i)
    for name in ("set1", "set2"):
        _png(root / f"{name}_preview.png", f"preview {name}", 100 + len(name))
    (root / "stats.json").write_text(json.dumps(STATS[False]))
    (root / "demo_stats.json").write_text(json.dumps(STATS[True]))
    _classes_tsv(root / "classes.tsv", 200)
    _classes_tsv(root / "demo_classes.tsv", 10)
    return folder


Render = Callable[..., Path]


@pytest.fixture(scope="module")
def render(aggregate: Path) -> Render:
    """``render(out, config=None, demo=False, folder=None)``: the paper's HTML."""
    root = aggregate.parent

    def run(
        out: Path,
        config: dict[str, Any] | None = None,
        demo: bool = False,
        folder: Path | None = None,
    ) -> Path:
        config = config or _config(demo=demo)
        folder = folder or aggregate
        provenance = collect_provenance(root, [ROOT / "config.yaml"], config, folder / "runs.csv")
        render_html(
            folder,
            config,
            root / ("demo_stats.json" if demo else "stats.json"),
            root / ("demo_classes.tsv" if demo else "classes.tsv"),
            {s: root / f"{s}_preview.png" for s in ("set1", "set2")},
            out,
            provenance=provenance,
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


def test_comparisons_flip_and_tie() -> None:
    a, b = _exp(35.9, 35.9), _exp(29.5, 29.5)
    assert "A beats B by 6.4 points" in prose.compare(a, b, "A", "B")
    assert "the same order" in prose.compare(a, b, "A", "B")
    assert "A trails B by 6.4 points" in prose.compare(b, a, "A", "B")
    assert "A matches B" in prose.compare(_exp(30.04), _exp(29.96), "A", "B")
    assert "opposite order" in prose.compare(_exp(40.0, 20.0), _exp(30.0, 30.0), "A", "B")
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
    assert len(images) == len(figures) + 2  # and the two preview grids
    assert all(src.startswith("data:image/png;base64,") for src in images)
    assert "<link" not in html and "<style>" in html
    for label in ("Figure 1.", "Figure A1.", "Table 1.", "Table B1."):
        assert label in html
    # figure numbers appear in reading order
    numbers = [int(n) for n in re.findall(r'<span class="label">Figure (\d+)\.', html)]
    assert numbers == list(range(1, len(numbers) + 1))


def test_tables_from_the_model_definitions(html: str) -> None:
    text = _plain(html)
    assert "The M1 architecture (Table 1 of the original)" in text
    assert "ConvReLU(5x5, 16)" in text and "584,120" in text  # M1 total, 200 classes
    assert "2,343,080" in text  # M4 total


def test_recorded_layers_match_the_model_code() -> None:
    """The fixture's recorded layer tables are what today's model code gives."""
    from tinycnn.models import build_model, layer_table

    for arch, rows in LAYERS.items():
        table = layer_table(build_model(arch, num_classes=200))
        assert [(r.name, r.layer, list(r.output_shape), r.parameters) for r in table] == rows
    # The original's table numbers name architectures the fixture records layers of.
    assert set(prose.ORIGINAL_TABLES) <= set(LAYERS)


def test_report_side_imports_no_torch() -> None:
    """The aggregate and the report read files only: importing them loads no torch, and none
    of the modules that resolve settings or build models."""
    code = (
        "import sys, tinycnn.cli, tinycnn.aggregate, tinycnn.report; "
        "print(' '.join(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "tinycnn.report" in loaded and "tinycnn.aggregate" in loaded
    heavy = {"torch", "torchvision"}
    forbidden = {"tinycnn.models", "tinycnn.train", "tinycnn.config", "tinycnn.augment"}
    forbidden |= {"tinycnn.augment_ops", "tinycnn.gpu_lease", "tinycnn.checkpoint"}
    assert not {m for m in loaded if m.split(".")[0] in heavy}
    assert not loaded & forbidden


def _parts(html: str) -> dict[str, Any]:
    """The parts of the paper that describe how the runs were trained."""
    pattern = r'<figure id="table-\d+" class="table-figure ({})".*?</figure>'
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

    from tinycnn import models

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
    assert "5 of 6 runs are within ±3 points" in text
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
    assert "Beyond it: run 5 (M4, \u221210.9 points)" in text


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


def test_pdf_text_holds_every_number(pdf: Path) -> None:
    text = re.sub(r"\s+", " ", _text(pdf))
    for name, (ours, paper) in EXPECTED.items():
        assert ours in text, name
        assert paper in text, name
    assert "Demo data" not in text


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
    p = collect_provenance(tmp_path, [ROOT / "config.yaml"], config, aggregate / "runs.csv")
    assert p["git"] == {"commit": "unknown", "dirty": "unknown", "changed": 0}
    assert p["config_sha256"] == config_hash(copy.deepcopy(dict(reversed(config.items()))))
    assert set(p["packages"]) >= {"python", "torch", "weasyprint", "snakemake", "jinja2"}
    assert p["hardware"]["training_devices"] == ["NVIDIA H100"]
    assert [r["run"] for r in p["runs"]] == [1, 2, 2, 5, 6, 9, 10]
    json.dumps(p)  # serializable


def test_provenance_in_git(aggregate: Path, tmp_path: Path) -> None:
    _needs("git")
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "config.yaml").write_text("name: x\n")
    subprocess.run([*git, "add", "config.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    p = collect_provenance(tmp_path, [tmp_path / "config.yaml"], {}, aggregate / "runs.csv")
    assert re.fullmatch(r"[0-9a-f]{40}", p["git"]["commit"]) and p["git"]["dirty"] is False
    assert p["config_files"][0]["path"] == "config.yaml"
    (tmp_path / "config.yaml").write_text("name: y\n")
    assert collect_provenance(tmp_path, [], {}, aggregate / "runs.csv")["git"]["dirty"] is True
