"""Render the regenerated paper: one self-contained HTML file, then a PDF with WeasyPrint.

Inputs are those of docs/report-contract.md, files only: the aggregate folder (experiments.csv,
epochs.csv, settings.json, architectures.json, claims.csv, figures.json and its PNGs; runs.csv
through the provenance), the config snapshot (the paper's numbers and the report's settings),
the packed data's stats.json and classes.tsv, the augmentation preview grids, and provenance
(``collect_provenance``). What a run was trained with, and its model's layers, come from what
the run recorded, never from today's config or model code; nothing here imports torch.

Experiments the config names without results (the paper's, the ablation variants that train,
the runs beyond the paper) are shown as not yet run: a row, a paragraph, a cell that says so,
never a number; their settings are read from the config snapshot, as configured. With
``--reference`` (:func:`read_reference`), the paper says in its first lines what data and
hardware made the reference runs' numbers, and marks every number of a stale run.

The document is assembled here in reading order: every table and figure is created, and so
numbered, in the order it appears; the computed sentences that cite them (``tinycnn.report.prose``)
are written afterwards. The template (templates/paper.html.j2, package data) holds the layout
and the fixed narrative; templates/paper.css the A4 print style.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from tinycnn.config import beyond_paper
from tinycnn.config.merge import recipe_of
from tinycnn.data.pack import read_classes
from tinycnn.data.tinyimagenet import IMAGE_SIZE
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
from tinycnn.report.provenance import collect_provenance
from tinycnn.shared.contract import AGGREGATE_FILES, EXPERIMENTS_CSV_COLUMNS, PAPER_KEYS
from tinycnn.shared.errors import UserError
from tinycnn.shared.files import write_bytes, write_text

__all__ = ["collect_provenance", "render_html", "render_pdf"]

# The paper's template and styles ship with the package (package data).
TEMPLATES = Path(__file__).resolve().parent / "templates"
SUMMARY_KINDS = ("paper_vs_ours", "accuracy_vs_parameters", "accuracy_vs_time")
EXAMPLE_CLASSES = 5  # class names quoted in Section 1


@dataclass
class Image:
    src: str
    alt: str
    label: str = ""


@dataclass
class Figure:
    """A numbered figure, captioned by the template for its ``kind`` (captions.html.j2)."""

    id: str
    label: str
    images: list[Image]
    kind: str
    title: str = ""
    about: dict[str, Any] = field(default_factory=dict)  # what its caption of ``kind`` needs


@dataclass
class Column:
    title: str
    align: str = "text"  # "text" or "num"


@dataclass
class Row:
    cells: list[Any]
    cls: str = ""
    key: str = ""


@dataclass
class Table:
    """A numbered table; ``caption`` None takes the caption of its ``kind`` from the template
    (captions.html.j2), which also gives the fixed part of the note of a kind that has one
    ("<kind>_note"), before ``note``, the part that depends on the results."""

    id: str
    label: str
    caption: Markup | None
    columns: list[Column]
    rows: list[Row]
    note: Markup | None = None
    cls: str = ""
    key: str = ""  # the model of an architecture table
    kind: str = ""
    # What the template's fixed words of this table need (captions.html.j2's ``legend`` and
    # its caption of ``kind``): ``part``, the table giving the images of the runs on part of
    # the data (†); ``not_run``, whether a row is not yet run; ``stale``, the stale runs
    # described (‡, the results table); ``stale_ref``, the table whose note explains ‡.
    about: dict[str, Any] = field(default_factory=dict)


@dataclass
class Comparison:
    """A ``report.comparisons`` entry whose experiments all have results."""

    id: str
    title: str
    experiments: list[dict[str, Any]]
    section: str  # the section of its last experiment in paper order
    figure: Figure | None = None


@dataclass
class ModelSection:
    title: str
    experiments: list[dict[str, Any]]
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    architecture: Markup = field(default_factory=Markup)
    # each run: its settings as the template's head of the run's paragraph prints them, and
    # what follows the head (None for a run not yet run, whose words are the template's)
    runs: list[tuple[dict[str, Any], Markup | None]] = field(default_factory=list)
    paragraphs: list[Markup] = field(default_factory=list)  # the comparisons, the previous


@dataclass
class Numbering:
    """Hands out figure and table labels in reading order, per prefix ("", "A", "B")."""

    counts: Counter = field(default_factory=Counter)

    def next(self, kind: str, prefix: str = "") -> tuple[str, str]:
        self.counts[kind, prefix] += 1
        n = f"{prefix}{self.counts[kind, prefix]}"
        return f"{kind.lower()}-{n}", f"{kind} {n}"


# --- inputs ------------------------------------------------------------------------------------


def _missing(path: Path) -> UserError:
    return UserError(f"{path} is missing: run the aggregate step first.")


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise _missing(path)
    return pd.read_csv(path)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise _missing(path)
    return json.loads(path.read_text(encoding="utf-8"))


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of Python values, missing values as None."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


@dataclass
class Results:
    """The aggregate folder, read: experiments in paper order, per-epoch metrics, the runs'
    recorded settings (by experiment) and architectures (by arch), figures."""

    folder: Path
    experiments: list[dict[str, Any]]
    epochs: pd.DataFrame
    settings: dict[str, dict[str, Any]]
    architectures: dict[str, dict[str, Any]]
    figures: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    ablations: list[dict[str, Any]]
    beyond: list[dict[str, Any]]
    numbers: dict[str, str]  # numbers.json: every number, formatted, by name

    @classmethod
    def load(cls, folder: Path) -> Results:
        def path(name: str) -> Path:
            return folder / AGGREGATE_FILES[name]

        experiments = _read_csv(path("experiments"))
        experiments = experiments.sort_values("run", kind="stable", na_position="last")
        return cls(
            folder,
            _records(experiments),
            _read_csv(path("epochs")),
            _read_json(path("settings")),
            _read_json(path("architectures")),
            _read_json(path("figures_json")),
            _records(_read_csv(path("claims"))),
            _records(_read_csv(path("ablations"))),
            _records(_read_csv(path("beyond"))),
            _read_json(path("numbers")),
        )

    def history(self, experiment: str) -> list[dict[str, Any]]:
        """Per-epoch metrics of one experiment, averaged over its seeds, as records."""
        rows = self.epochs[self.epochs["experiment"] == experiment]
        rows = rows.drop(columns=["experiment", "seed"])
        return _records(rows.groupby("epoch").mean(numeric_only=True).reset_index())


# --- what the config says of the runs not yet made, and the reference runs ----------------------


def not_run_record(
    name: str, entry: Mapping[str, Any], config: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """An experiment the config names without results, as a record with experiments.csv's
    columns: its settings as configured (``settings``: :func:`tinycnn.config.merge.recipe_of`)
    and the paper's numbers; every measured column None, ``n_seeds`` 0, marked not run."""
    paper = entry.get("paper") or {}
    model = entry["model"]
    augmentation = settings.get("augmentation") or {}
    return {
        **dict.fromkeys(EXPERIMENTS_CSV_COLUMNS),
        "experiment": name,
        "run": paper.get("run"),
        "model": model,
        "arch": (config["models"].get(model) or {}).get("arch"),
        "section": (config["models"].get(model) or {}).get("section", model),
        "sets": "+".join(augmentation.get("sets") or []),
        "mode": augmentation.get("mode"),
        "lr": (settings.get("optimizer") or {}).get("lr"),
        "scheduler": formatting.fmt_scheduler(settings.get("scheduler")),
        "epochs": settings.get("epochs"),
        "batch_size": settings.get("batch_size"),
        "n_seeds": 0,
        **{f"paper_{k}": paper.get(k) for k in PAPER_KEYS},
        facts.NOT_RUN: True,
    }


def _order_key(config: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], tuple[float, float]]:
    """Paper order: the paper's run number, then the config's order (others last)."""
    index = {name: i for i, name in enumerate(config.get("experiments") or {})}
    return lambda e: (
        float(e["run"]) if e.get("run") is not None else float("inf"),
        index.get(e["experiment"], float("inf")),
    )


def read_reference(path: Path) -> dict[str, Any]:
    """``--reference``: the reference runs' folder, archive, hardware, and their ``stale`` and
    ``planned`` runs (both required, lists of {experiment, seed, ...}); the other keys are
    optional."""
    try:
        reference = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the reference file {path}: {err}") from None
    if not isinstance(reference, dict) or any(
        not isinstance(reference.get(key), list) for key in ("stale", "planned")
    ):
        raise UserError(
            f"the reference file {path} should hold a JSON object with the lists `stale` and "
            "`planned` (and optionally folder, archive, hardware, order)"
        )
    for entry in reference["stale"]:
        if not isinstance(entry, dict) or "experiment" not in entry or "seed" not in entry:
            raise UserError(
                f"the reference file {path}: each entry of `stale` needs experiment and seed"
            )
    return reference


def _stale_runs(reference: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The stale runs by experiment: [{seed, differs}], in seed order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in (reference or {}).get("stale") or []:
        out.setdefault(str(entry["experiment"]), []).append(
            {"seed": int(entry["seed"]), "differs": [str(k) for k in entry.get("differs") or []]}
        )
    return {k: sorted(v, key=lambda s: s["seed"]) for k, v in out.items()}


def _stale_words(
    records: Sequence[Mapping[str, Any]], stale: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[str]:
    """Each stale run of ``records``' experiments: ``run 2, seed 0: optimizer.lr, epochs``."""
    return [
        f"{words.run_label(e)}, seed {s['seed']}: {', '.join(s['differs']) or 'settings'}"
        for e in records
        for s in stale.get(e["experiment"], [])
    ]


def _data_uri(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"figure {path} is missing: run the step that makes it again.")
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _class_names(classes_tsv: Path) -> list[str]:
    """Class names in label order: the first synonym of each class's words."""
    return [words.split(",")[0].strip() for _, words in read_classes(classes_tsv)]


# --- tables ------------------------------------------------------------------------------------


def recorded_sets(
    exps: Sequence[Mapping], settings: Mapping[str, Mapping], order: Sequence[str]
) -> dict[str, list[Mapping]]:
    """The augmentation sets the runs recorded (their ops as trained), the sets of ``order``
    (the config's) first; a set several experiments recorded comes from the first of them."""
    sets: dict[str, list[Mapping]] = {}
    for e in exps:
        ops = ((settings.get(e["experiment"]) or {}).get("augmentation") or {}).get("ops") or {}
        for name, spec in ops.items():
            sets.setdefault(name, spec)
    known = [s for s in order if s in sets]
    return {s: sets[s] for s in [*known, *(s for s in sets if s not in known)]}


def augmentation_table(numbering: Numbering, sets: Mapping[str, Sequence[Mapping]]) -> Table:
    rows = [
        Row(
            [
                name if i == 1 else "",
                i,
                words.op_name(spec["op"]),
                prose.op_params(spec, formatting.fmt_value),
            ]
        )
        for name, ops in sets.items()
        for i, spec in enumerate(ops, 1)
    ]
    return Table(
        *numbering.next("Table"),
        None,
        [Column("set"), Column("step", "num"), Column("operation"), Column("parameters")],
        rows,
        kind="augmentation",
    )


def recipe_table(numbering: Numbering, exps: Sequence[Mapping], settings: Mapping) -> Table:
    """The shared recipe as the runs recorded it; where runs depart from the most common
    value, which and how."""

    def optimizer(key: str) -> Callable[[Mapping], Any]:
        def get(e: Mapping) -> Any:
            recorded = settings.get(e["experiment"])
            return recorded["optimizer"][key] if recorded else None

        return get

    def images(part: str) -> Callable[[Mapping], str | None]:
        def get(e: Mapping) -> str | None:
            recorded = settings.get(e["experiment"])
            return words.images_words(recorded, part) if recorded else None

        return get

    rows_spec = [
        ("optimizer", optimizer("name"), str),
        ("learning rate", lambda e: e["lr"], formatting.fmt_lr),
        ("betas", optimizer("betas"), formatting.fmt_value),
        ("eps", optimizer("eps"), formatting.fmt_lr),
        ("weight decay", optimizer("weight_decay"), formatting.fmt_lr),
        ("batch size", lambda e: int(e["batch_size"]), str),
        ("epochs", lambda e: int(e["epochs"]), str),
        ("scheduler", lambda e: e["scheduler"], str),
        ("augmentation sets", lambda e: e["sets"], str),
        ("augmentation mode", lambda e: e["mode"], str),
        ("training images", images("train"), str),
        ("validation images", images("val"), str),
        ("seeds per run", lambda e: int(e["n_seeds"]) if facts.has_results(e) else None, str),
    ]
    rows = []
    for title, get, fmt in rows_spec:
        values = [(e, get(e)) for e in exps]
        values = [(e, v) for e, v in values if v is not None]
        if values:
            rows.append(Row([title, words.common_with_exceptions(values, fmt)]))
    return Table(
        *numbering.next("Table"),
        None,
        [Column("setting"), Column("value")],
        rows,
        cls="recipe",
        kind="recipe",
    )


def layer_table_of(numbering: Numbering, architecture: Mapping, model: str) -> Table:
    """One of the original's architecture tables, as the runs recorded it from the model."""
    layers = architecture["layers"]
    rows = [
        Row(
            [
                r["name"],
                r["layer"],
                " × ".join(map(str, r["output"])),
                formatting.fmt_int(r["parameters"]),
            ]
        )
        for r in layers
    ]
    total = formatting.fmt_int(sum(r["parameters"] for r in layers))
    rows.append(Row(["total", "", "", total], "total"))
    return Table(
        *numbering.next("Table"),
        None,
        [Column("name"), Column("layer"), Column("output shape"), Column("parameters", "num")],
        rows,
        cls="layers",
        key=model,
        kind="layers",
        about={"arch": architecture["arch"]},
    )


def reproduction_table(
    numbering: Numbering,
    exps: Sequence[Mapping],
    subsets: Mapping[str, str],
    tolerance: float,
    recipe: Table,
    stale: Sequence[str] = (),
) -> Table:
    """Every run the config names beside the paper: ours, n and Δ, or "not yet run" for a run
    without results; † marks a run on part of the images, which ``recipe`` gives; ``stale``:
    the stale runs described, for the note."""
    rows = []
    for e in exps:
        if facts.has_results(e):
            n = int(e["n_seeds"])
            ours = formatting.fmt_acc(e["best_val_acc_mean"], e.get("best_val_acc_std"), n)
            measured = [ours + words.stale_mark(e), n, formatting.fmt_diff(e.get("diff"))]
            beyond = facts.has_paper(e) and not facts.agrees(e)
            cls = " ".join(
                c for c, on in (("beyond-tolerance", beyond), ("stale", facts.stale(e))) if on
            )
        else:
            measured, cls = [words.NOT_RUN, "—", "—"], "not-run"
        rows.append(
            Row(
                [
                    "" if e.get("run") is None else int(e["run"]),
                    e["model"] + (" †" if e["experiment"] in subsets else ""),
                    e["sets"],
                    formatting.fmt_lr(e["lr"]) if e.get("lr") is not None else "—",
                    e["scheduler"],
                    int(e["epochs"]) if e.get("epochs") is not None else "—",
                    formatting.fmt_paper(e.get("paper_accuracy"), e.get("paper_stated")),
                    *measured,
                ],
                cls,
                e["experiment"],
            )
        )
    head = [("run", "num"), ("model", ""), ("augmentation", ""), ("lr", ""), ("scheduler", "")]
    head += [("epochs", "num"), ("paper", "num"), ("ours", "num"), ("n", "num"), ("Δ", "num")]
    return Table(
        *numbering.next("Table"),
        None,
        [Column(title, align or "text") for title, align in head],
        rows,
        None,
        "results",
        kind="results",
        about={
            "part": recipe if subsets else None,
            "not_run": bool(facts.pending(exps)),
            "stale": list(stale),
        },
    )


def claims_table(
    numbering: Numbering,
    claims: Sequence[Mapping],
    not_run: Sequence[str] = (),
    stale: Sequence[str] = (),
    results: Table | None = None,
) -> Table:
    """The paper's claims (claims.csv), one row each: statement, test, measured, verdict;
    ``not_run`` the experiments the config names without results (an untested claim names
    those it involves), ``stale`` the experiments with stale runs (a measurement from one is
    marked; ``results``, the reproduction table, explains the mark)."""
    rows, marked, reasons = [], False, {}
    for c in claims:
        names = str(c.get("experiments") or "").split()
        if c.get("measured") is None:  # why, marked here and said once in the note
            why = claim_words.claim_reason(c, [n for n in names if n in not_run])
            letter = reasons.setdefault(why, chr(ord("a") + len(reasons)))
            measured = Markup("—<sup>{}</sup>").format(letter)
        else:  # a number from a stale run is marked (a missing one is not)
            measured = claim_words.claim_measured(c)
            if any(n in stale for n in names):
                measured, marked = f"{measured} {words.STALE}", True
        rows.append(
            Row(
                [c["statement"], claim_words.claim_test(c), measured, c["verdict"]],
                "verdict-" + c["verdict"].replace(" ", "-"),
                c["id"],
            )
        )
    return Table(
        *numbering.next("Table"),
        None,
        [Column("the paper says"), Column("test"), Column("measured"), Column("verdict")],
        rows,
        claim_words.untested_note(reasons),
        "claims",
        kind="claims",
        about={"stale_ref": results if marked else None},
    )


def ablation_tables(
    numbering: Numbering, rows: Sequence[Mapping], tolerance: float, results: Table | None = None
) -> list[tuple[Table, list[Mapping]]]:
    """One table per question of ablations.csv (its rows, the base first), with the rows; a
    reading without results says "not yet run" in its accuracy cell, a stale one is marked
    (``results``, the reproduction table, explains the mark)."""
    out = []
    for question, group in facts.grouped_by(rows, lambda r: r["question"]).items():
        cells = [
            Row(
                [
                    ablation_words.ablation_reading(r),
                    ablation_words.ablation_changes(r),
                    ablation_words.ablation_accuracy(r),
                    *(
                        [int(r["n_seeds"]), formatting.fmt_diff(r.get("gap"))]
                        if ablation_words.ablation_ran(r)
                        else ["—", "—"]
                    ),
                    ablation_words.ablation_verdict(r) if ablation_words.ablation_ran(r) else "—",
                ],
                "closest" if r.get("closest") else "",
                r["experiment"],
            )
            for r in group
        ]
        # the fixed note is the template's, under the first table only (kind below)
        stale = any(facts.stale(r) and ablation_words.ablation_ran(r) for r in group)
        table = Table(
            *numbering.next("Table"),
            ablation_words.ablation_caption(group),
            [
                *(Column("reading"), Column("changes"), Column("ours", "num")),
                *(Column("n", "num"), Column("Δ", "num"), Column("closes the gap?")),
            ],
            cells,
            None,
            "ablations",
            question,
            "ablations" if not out else "",  # the fixed note under the first table only
            {"stale_ref": results if stale else None},
        )
        out.append((table, group))
    return out


def _beyond_cells(r: Mapping[str, Any]) -> list[Any]:
    """A row of beyond.csv as the table prints it; "not yet run" where it has no results."""
    parameters = formatting.fmt_params(r["parameters"]) if r.get("parameters") else "—"
    epochs = int(r["epochs"]) if r.get("epochs") is not None else "—"
    paper = formatting.fmt_paper(r.get("paper_accuracy"), r.get("paper_stated"))
    if not facts.has_results(r):
        # said once a row, as in the other tables; the other measured cells empty
        return [r["experiment"], r["model"], parameters, epochs, words.NOT_RUN, "—", paper,
                "—", "—"]  # fmt: skip
    mark = words.stale_mark(r)
    at_common = r.get("common_epoch_val_acc_mean")
    return [
        r["experiment"],
        r["model"],
        parameters,
        epochs,
        formatting.fmt_acc(r["best_val_acc_mean"], r["best_val_acc_std"], r["n_seeds"]) + mark,
        formatting.fmt_num(at_common) + mark if at_common is not None else "—",
        paper,
        formatting.fmt_duration(r["wall_seconds_mean"]) + mark,
        formatting.fmt_int(r["images_per_second_mean"]) + mark,
    ]


def beyond_tables(
    numbering: Numbering,
    rows: Sequence[Mapping],
    settings: Mapping,
    reproduction: Table | None = None,
) -> tuple[Table, Table]:
    """The runs beyond the paper beside its baselines (beyond.csv; rows not yet run say so),
    then each run's recipe as the runs recorded it (settings.json; as configured for a run not
    yet made, its column says so): one column per run."""
    commons = [r["common_epoch"] for r in rows if r.get("common_epoch") is not None]
    common = int(commons[0]) if commons else None
    cells = [
        Row(_beyond_cells(r), "beyond" if r["role"] == "beyond" else "", r["experiment"])
        for r in rows
    ]
    marked = any(facts.stale(r) and facts.has_results(r) for r in rows)
    results = Table(
        *numbering.next("Table"),
        beyond_words.beyond_caption(common),
        [
            *(Column("run"), Column("model"), Column("params", "num"), Column("epochs", "num")),
            Column("ours", "num"),
            Column(f"epoch {common}" if common is not None else "common epoch", "num"),
            *(Column("paper", "num"), Column("time", "num"), Column("img/s", "num")),
        ],
        cells,
        None,
        "beyond",
        about={"stale_ref": reproduction if marked else None},
    )
    recorded = {r["experiment"]: settings.get(r["experiment"]) or {} for r in rows}
    spec = [
        ("optimizer", lambda s: beyond_words.optimizer_words(s["optimizer"])),
        ("learning rate", lambda s: formatting.fmt_lr(s["optimizer"]["lr"])),
        ("weight decay", lambda s: formatting.fmt_lr(s["optimizer"]["weight_decay"])),
        ("schedule", lambda s: beyond_words.schedule_words(s.get("scheduler"))),
        ("loss", lambda s: beyond_words.loss_words(s.get("loss"))),
        ("augmentation", lambda s: beyond_words.augmentation_words(s["augmentation"])),
        ("batch size", lambda s: str(s["batch_size"])),
        ("epochs", lambda s: str(s["epochs"])),
        ("training images", lambda s: words.images_words(s, "train")),
        ("validation images", lambda s: words.images_words(s, "val")),
    ]
    recipe_rows = [
        Row([title, *(get(recorded[n]) if recorded[n] else "—" for n in recorded)])
        for title, get in spec
    ]
    recipe_rows.append(Row(["precision", *(r.get("precision") or "—" for r in rows)]))
    titles = [
        r["experiment"] + ("" if facts.has_results(r) else f" ({words.NOT_RUN}: as configured)")
        for r in rows
    ]
    recipe = Table(
        *numbering.next("Table"),
        None,
        [Column("setting"), *(Column(t) for t in titles)],
        recipe_rows,
        None,
        "recipe beyond",
        kind="beyond_recipe",
    )
    return results, recipe


def software_table(numbering: Numbering, provenance: Mapping) -> Table:
    return Table(
        *numbering.next("Table", "B"),
        None,
        [Column("package"), Column("version")],
        [Row([package, version]) for package, version in provenance["packages"].items()],
        cls="software",
        kind="software",
    )


def timing_table(
    numbering: Numbering, provenance: Mapping, stale: Mapping[str, Sequence[Mapping]] | None = None
) -> Table:
    """Every training job of runs.csv: its device, the commit it trained at, its numerics and
    times; a stale job (``stale``: by experiment, the stale seeds) is marked."""
    seeds = {(name, int(s["seed"])) for name, runs in (stale or {}).items() for s in runs}
    rows = [
        Row(
            [
                "" if r.get("run") is None else int(r["run"]),
                r["experiment"]
                + (f" {words.STALE}" if (r["experiment"], r["seed"]) in seeds else ""),
                r["seed"],
                r.get("device_name") or "",
                r.get("commit") or "unknown",
                provenance_words.numerics(r.get("precision"), r.get("compile")),
                formatting.fmt_duration(r["wall_seconds"]),
                formatting.fmt_int(r["images_per_second"]),
            ]
        )
        for r in provenance["runs"]
    ]
    return Table(
        *numbering.next("Table", "B"),
        None,
        [
            *(Column("run", "num"), Column("experiment"), Column("seed", "num")),
            *(Column("device"), Column("commit"), Column("precision")),
            *(Column("wall time", "num"), Column("images/s", "num")),
        ],
        rows,
        cls="timing",
        kind="timing",
    )


# --- figures -----------------------------------------------------------------------------------


def aggregate_figure(
    numbering: Numbering,
    results: Results,
    spec: Mapping,
    prefix: str = "",
    about: Mapping[str, Any] | None = None,
) -> Figure:
    """A figure of figures.json, captioned by the template for its kind; ``about``: what that
    caption names of what it draws (a run's curves, a comparison's runs)."""
    title = spec.get("title") or spec["file"]
    return Figure(
        *numbering.next("Figure", prefix),
        [Image(_data_uri(results.folder / spec["file"]), title)],
        spec["kind"],
        title,
        dict(about or {}),
    )


def curves_about(e: Mapping[str, Any]) -> dict[str, Any]:
    """What the caption of a run's curves names (captions.html.j2): the run's head
    (:func:`run_head`: model, sets, learning rate, the paper's number and epoch), its mode,
    scheduler and seeds, and the rest of what the paper says of it."""
    train = e.get("paper_train_accuracy")
    return {
        **run_head(e),
        "experiment": e["experiment"],
        "mode": e["mode"],
        "scheduler": e["scheduler"],
        "seeds": facts.seeds(e),
        "at_best": not facts.bounded(e),  # a bound is no best
        "paper_figure": e.get("paper_figure"),
        "paper_train": formatting.fmt_short(train) if train is not None else None,
    }


def preview_figure(
    numbering: Numbering, config: Mapping, previews: Mapping[str, Path], skip: Sequence[str] = ()
) -> Figure | None:
    """The preview grids of the sets (those of ``skip`` left out); None when none is left."""
    names = [
        s
        for s in dict.fromkeys([*config["augmentation"]["sets"], *previews])
        if s in previews and s not in skip
    ]
    if not names:
        return None
    one = len(names) == 1  # one panel: no "(a)", the caption names its set
    images = [
        Image(
            _data_uri(Path(previews[s])), f"preview of {s}", "" if one else f"({chr(97 + i)}) {s}"
        )
        for i, s in enumerate(names)
    ]
    draws = config["augmentation"].get("preview", {}).get("draws")
    return Figure(
        *numbering.next("Figure"), images, "preview", about={"sets": names, "draws": draws}
    )


# --- assembly ----------------------------------------------------------------------------------


def _family(e: Mapping[str, Any]) -> str:
    """The model family (subsection) of an experiment: its ``section``, else its model."""
    return e.get("section") or e["model"]


def _sections(exps: Sequence[dict[str, Any]]) -> list[ModelSection]:
    """One section per model family, in paper run order."""
    groups = facts.grouped_by(exps, _family)
    return [ModelSection(title, members) for title, members in groups.items()]


def _comparisons(config: Mapping, exps: Sequence[dict[str, Any]]) -> list[Comparison]:
    """Config comparisons whose experiments are all among ``exps`` (those with results and
    those not yet run); the others are skipped."""
    by_name = {e["experiment"]: e for e in exps}
    out = []
    for entry in config["report"].get("comparisons", []):
        members = [by_name.get(name) for name in entry["experiments"]]
        if len(members) >= 2 and all(members):
            last = max(members, key=exps.index)
            out.append(Comparison(entry["id"], entry["title"], members, _family(last)))
    return out


def _drawn_comparisons(sections: Sequence[ModelSection]) -> list[facts.Drawn]:
    """Every comparison Section 2 draws between runs with results, the later run last: each
    section's configured comparisons, then its best run against the previous family's best
    (prose.against_previous), whose paper side is the paper's best of each family."""
    drawn = []
    for i, section in enumerate(sections):
        drawn += [
            facts.Drawn(c.title, c.experiments)
            for c in section.comparisons
            if not facts.pending(c.experiments)
        ]
        if i:
            previous = sections[i - 1]
            title = f"{section.title} against {previous.title}"
            family = facts.against_family(section.experiments, previous.experiments, title)
            drawn += [family] if family else []
    return drawn


def _model_descriptions(
    results: Results, config: Mapping, rows: Sequence[Mapping]
) -> dict[str, str]:
    """What each model of ``rows`` is, in words: its runs' recorded description, else the
    configuration's; the paper's own models are described in their sections."""
    out = {}
    papers = {e.get("model") for e in config["experiments"].values()}
    for r in rows:
        if r["role"] == "baseline" or r["model"] in papers:  # described in its own section
            continue
        recorded = results.architectures.get(r.get("arch"), {}).get("description")
        text = recorded or config["models"].get(r["model"], {}).get("description")
        if text:
            out[r["model"]] = re.sub(r"\s*\{\w+\}", "", text)
    return out


def _architecture(results: Results, arch: str) -> dict[str, Any]:
    if arch not in results.architectures:
        path = results.folder / AGGREGATE_FILES["architectures"]
        raise UserError(f"{path} has no entry for architecture {arch!r}: aggregate again.")
    return results.architectures[arch]


def run_head(e: Mapping[str, Any]) -> dict[str, Any]:
    """A run's settings as the head of its paragraph prints them (2_models.html.j2), and the
    paper's number for a run not yet run."""
    epoch = e.get("paper_best_epoch")
    return {
        "name": words.capitalized(words.run_label(e)),
        "model": e["model"],
        "sets": e["sets"],
        "lr": formatting.fmt_lr(e["lr"]) if e.get("lr") is not None else "—",
        "schedule": (
            "constant learning rate" if e["scheduler"] in (None, "none") else e["scheduler"]
        ),
        "epochs": int(e["epochs"]),
        # The machine that trained it (runs.csv: each seed's, joined when they differ).
        "device": e.get("device_name") if facts.has_results(e) else None,
        "paper": words.paper_text(e) if facts.has_paper(e) else None,
        "paper_epoch": int(epoch) if epoch is not None else None,
    }


def _section_text(
    section: ModelSection,
    previous: ModelSection | None,
    results: Results,
    config: Mapping,
    curves: Mapping[str, Figure],
) -> None:
    """The architecture, every run, the configured comparisons, the previous family."""
    members = []
    for model in dict.fromkeys(e["model"] for e in section.experiments):
        of_model = [e for e in section.experiments if e["model"] == model]
        e = (facts.with_results(of_model) or of_model)[-1]
        record = _architecture(results, e["arch"]) if facts.has_results(e) else {}
        fallback = config["models"].get(model, {}).get("description", model)
        text = prose.description(record.get("description"), e["arch"], fallback)
        table = next((t for t in section.tables if t.key == model), None)
        members.append((e, text, table))
    section.architecture = prose.architecture_paragraph(members)
    section.runs = [
        (
            run_head(e),
            prose.run_paragraph(e, results.history(e["experiment"]), curves.get(e["experiment"]))
            if facts.has_results(e)
            else None,
        )
        for e in section.experiments
    ]
    section.paragraphs = [
        prose.comparison_paragraph(c.title, c.figure, c.experiments) for c in section.comparisons
    ]
    if previous is not None:
        section.paragraphs.append(prose.against_previous(section.experiments, previous.experiments))


def _beyond_rows(
    results: Results,
    config: Mapping,
    exps: Sequence[Mapping[str, Any]],
    planned: Mapping[str, Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """beyond.csv's rows; where the config names runs beyond the paper, one row for each of
    them and of its baselines, in beyond.csv's order: those without results as not yet run, a
    baseline with results that beyond.csv lacks (while no run beyond the paper has results)
    from experiments.csv."""
    rows = [dict(r) for r in results.beyond]
    modern = beyond_paper.experiments(config)
    if not modern:
        return rows
    have = {r["experiment"]: r for r in rows}
    measured = {e["experiment"]: e for e in facts.with_results(exps)}
    entries = {**config["experiments"], **modern}
    out = []
    for name, role in [*((n, "baseline") for n in beyond_paper.baselines(config)),
                       *((n, "beyond") for n in modern)]:  # fmt: skip
        if name in have:
            out.append(have.pop(name))
        elif name in measured:
            out.append({**measured[name], "role": role})
        elif name in entries:
            record = not_run_record(name, entries[name], config, planned[name])
            out.append({**record, "role": role})
    return out + list(have.values())


def build_context(
    results: Results,
    config: Mapping,
    stats: Mapping,
    classes: Sequence[str],
    previews: Mapping[str, Path],
    provenance: Mapping,
    reference: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the template renders. Tables and figures are made in reading order, then
    the sentences that cite them. Experiments the config names without results are shown as
    not yet run; ``reference`` (:func:`read_reference`) names the stale runs."""
    stale = _stale_runs(reference)
    jobs = [
        {**r, **({facts.STALE: [s]} if (s := _stale_seed(stale, r)) else {})}
        for r in provenance.get("runs") or []
    ]
    provenance = {**provenance, "runs": jobs}
    paper_jobs = [j for j in jobs if j["role"] == "paper"]  # those the summary's figures time
    for record in [*results.experiments, *results.ablations]:
        if record["experiment"] in stale and (record.get("n_seeds") or 0):
            record[facts.STALE] = stale[record["experiment"]]
    made = results.experiments  # the experiments with results
    # The config's experiments without results, and their settings as configured.
    entries = {**config.get("experiments", {}), **beyond_paper.experiments(config)}
    done = {e["experiment"] for e in made} | {r["experiment"] for r in results.beyond}
    planned = {
        name: recipe_of(config, entry) for name, entry in entries.items() if name not in done
    }
    not_run = [
        not_run_record(name, entry, config, planned[name])
        for name, entry in config.get("experiments", {}).items()
        if name in planned
    ]
    exps = sorted([*made, *not_run], key=_order_key(config))
    settings = {**planned, **results.settings}
    beyond_rows = _beyond_rows(results, config, made, planned)
    for r in beyond_rows:
        if r["experiment"] in stale and facts.has_results(r):
            r[facts.STALE] = stale[r["experiment"]]
    tolerance = float(config["report"]["tolerance"])
    specs: dict[str, list[Mapping]] = {}
    for spec in results.figures:
        specs.setdefault(spec["kind"], []).append(spec)
    comparison_specs = {s.get("comparison"): s for s in specs.get("comparison", [])}
    numbering = Numbering()

    sets = recorded_sets(exps, settings, list(config["augmentation"]["sets"]))
    aug_table = augmentation_table(numbering, sets)
    # The sets that only the runs beyond the paper use are shown in their own section.
    beyond_sets = [
        s
        for r in beyond_rows
        if r["role"] == "beyond"
        for s in ((settings.get(r["experiment"]) or {}).get("augmentation") or {}).get("sets", [])
        if s not in sets
    ]
    preview = preview_figure(numbering, config, previews, skip=beyond_sets)
    recipe = recipe_table(numbering, exps, settings)
    sections = _sections(exps)
    comparisons = _comparisons(config, exps)
    for section in sections:
        for arch in dict.fromkeys(e["arch"] for e in facts.with_results(section.experiments)):
            architecture = _architecture(results, arch)
            if architecture.get("layers"):
                model = next(e["model"] for e in section.experiments if e["arch"] == arch)
                section.tables.append(layer_table_of(numbering, architecture, model))
        for comparison in comparisons:
            if comparison.section == section.title:
                section.comparisons.append(comparison)
                spec = comparison_specs.pop(comparison.id, None)
                if spec and not facts.pending(comparison.experiments):
                    about = {
                        "title": comparison.title,
                        "runs": [e["experiment"] for e in comparison.experiments],
                    }
                    comparison.figure = aggregate_figure(numbering, results, spec, "", about)
                    section.figures.append(comparison.figure)
    subsets = words.subsets(exps, settings)
    table = reproduction_table(
        numbering, exps, subsets, tolerance, recipe, _stale_words(exps, stale)
    )
    waiting = {name for name in entries if name in planned}
    claims = (
        claims_table(numbering, results.claims, sorted(waiting), list(stale), table)
        if results.claims
        else None
    )
    ablations_ = ablation_tables(numbering, results.ablations, tolerance, table)
    placed = ("curves", "comparison", "beyond")  # each in its own section
    leftover = [s for k, v in specs.items() if k not in placed for s in v]
    leftover += comparison_specs.values()  # comparison figures the config no longer names
    order = [*SUMMARY_KINDS, *(s["kind"] for s in leftover)]
    leftover.sort(key=lambda s: order.index(s["kind"]))
    summary_figures = [aggregate_figure(numbering, results, spec) for spec in leftover]
    # Section 2's last subsection, after the summary's figures and the ablations' tables.
    beyond_section = None
    if beyond_rows:
        beyond_results, beyond_recipe = beyond_tables(numbering, beyond_rows, settings, table)
        beyond_previews = {s: p for s, p in previews.items() if s in beyond_sets}
        curves_spec = (specs.get("beyond") or [None])[0]
        beyond_figure = aggregate_figure(numbering, results, curves_spec) if curves_spec else None
        beyond_preview = preview_figure(numbering, config, beyond_previews)
        beyond_section = {
            "table": beyond_results,
            "recipe": beyond_recipe,
            "figure": beyond_figure,
            "preview": beyond_preview,
            "text": beyond_words.beyond_paragraph(
                beyond_rows,
                beyond_results,
                beyond_recipe,
                {r["experiment"]: settings.get(r["experiment"]) for r in beyond_rows},
                _model_descriptions(results, config, beyond_rows),
                beyond_figure,
                beyond_preview,
            ),
        }
    curves = {}
    curve_specs = {s["experiment"]: s for s in specs.get("curves", [])}
    for e in made:
        if e["experiment"] in curve_specs:
            spec = curve_specs[e["experiment"]]
            about = curves_about(e)
            curves[e["experiment"]] = aggregate_figure(numbering, results, spec, "A", about)
    software = software_table(numbering, provenance)
    timing = timing_table(numbering, provenance, stale)

    for i, section in enumerate(sections):
        previous = sections[i - 1] if i > 0 else None
        _section_text(section, previous, results, config, curves)
    kinds = {f.kind: f for f in summary_figures}
    summary = [prose.summary_paragraph(made, tolerance, table, not_run)]
    if "paper_vs_ours" in kinds:
        summary.append(prose.sides_paragraph(made, kinds["paper_vs_ours"]))
    if "accuracy_vs_parameters" in kinds:
        summary.append(prose.size_paragraph(made, kinds["accuracy_vs_parameters"]))
    if "accuracy_vs_time" in kinds:
        summary.append(prose.time_paragraph(paper_jobs, kinds["accuracy_vs_time"]))
    settled = _drawn_comparisons(sections)
    modes = dict(stats.get("source_modes") or {})
    notice = None
    if reference is not None:
        notice = provenance_words.reference_facts(
            reference,
            len(jobs),  # every training job: the paper's, the ablations' and those beyond it
            sum(len(v) for v in stale.values()),
            facts.devices(jobs),
        )
    return {
        "aug_table": aug_table,
        "preview": preview,
        "recipe": recipe,
        "sections": sections,
        "results_table": table,
        "claims_table": claims,
        "ablations": [
            {
                "table": table,
                "text": ablation_words.ablation_sentence(rows),
                "leak": ablation_words.ablation_leaks(rows),
            }
            for table, rows in ablations_
        ],
        "summary_figures": summary_figures,
        "curves": curves,
        "software": software,
        "timing": timing,
        "title": config["report"]["title"],
        "original": config["report"].get("original") or {},
        "demo": bool(config["report"].get("demo")),
        "reference": notice,  # what the reference notice says (00_notices.html.j2)
        "text": {
            "findings": prose.findings(made, tolerance, not_run),
            "modes": prose.modes(exps, subsets, stats["train"], config["augmentation"].get("seed")),
            "schedules": prose.schedules(exps, settings),
            "summary": summary,
            # the number of its section comes from the template, which numbers the sections
            "ablations_summary": functools.partial(
                ablation_words.ablations_summary, [rows for _, rows in ablations_]
            ),
            "conclusion": prose.conclusion(made, tolerance, not_run),
            "comparisons": prose.comparisons_count(settled),
            "not_run": words.runs_phrase(not_run) if not_run else "",
        },
        "stats": stats,
        "image_size": IMAGE_SIZE,
        "tolerance": formatting.fmt_short(tolerance),  # the fixed notes' (captions.html.j2)
        "numbers": results.numbers,  # the aggregate's numbers.json, for the fixed narrative
        # the devices of the paper's runs, which the figure of accuracy against time draws
        "time_devices": facts.devices(paper_jobs),
        "class_examples": list(classes[:EXAMPLE_CLASSES]),
        "n_images": sum(modes.values()) or stats["train"] + stats["val"],
        "other_modes": {m: n for m, n in modes.items() if m not in ("RGB", "L")},
        "set_names": list(sets),
        "models": list(dict.fromkeys(e["model"] for e in made)),
        "n_runs": len(made),
        "several_seeds": any(facts.seeds(e) > 1 for e in made),
        "n_not_run": len(not_run),
        "n_rows": len(exps),
        "beyond": beyond_section,
        "provenance": provenance,
        "references": provenance_words.references(config),
        "cite": provenance_words.CITE,
    }


def _stale_seed(
    stale: Mapping[str, Sequence[Mapping[str, Any]]], job: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The stale entry of one training job (experiment and seed), if it is stale."""
    return next((s for s in stale.get(job["experiment"], []) if s["seed"] == job["seed"]), None)


# Where a long token of a table cell may break: after _ . = / ; , and before an inner capital
# (RandomHorizontal|Flip), never inside a number. Tokens shorter than this stay whole.
BREAK_AFTER = 14
_BREAK = re.compile(r"(?<=[_=/;,])(?=\S)|(?<=[a-z])(?=[A-Z])|(?<=[a-z]\.)(?=[a-z])")


def breakable(cell: Any) -> Markup:
    """A table cell whose long tokens may wrap at their joints (``<wbr>``), so that a narrow
    column wraps ``Random·Horizontal·Flip`` rather than running into the margin or breaking a
    word anywhere; Markup (links, marks) is left as it is."""
    if isinstance(cell, Markup):
        return cell
    out = []
    for word in str(cell).split(" "):
        if len(word) < BREAK_AFTER:
            out.append(Markup.escape(word))
            continue
        out.append(Markup("<wbr>").join(Markup.escape(p) for p in _BREAK.split(word)))
    return Markup(" ").join(out)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        count=formatting.fmt_int,
        and_list=words.and_list,
        stat=formatting.fmt_stat,
        stat_short=formatting.fmt_short,
    )
    env.filters["capitalize_first"] = words.capitalized
    env.filters["breakable"] = breakable
    env.globals.update(ref=words.ref, refs=words.refs, plural=words.plural)
    return env


def render_html(
    aggregate_dir: Path,
    config: Mapping,
    stats_json: Path,
    classes_tsv: Path,
    previews: Mapping[str, Path],
    out_html: Path,
    *,
    provenance: Mapping,
    reference: Path | Mapping[str, Any] | None = None,
) -> None:
    """Write the paper as one self-contained HTML file (CSS and images inlined), atomically.

    Experiments the config names without results, all of them included, are shown as not yet
    run. ``reference``: the reference runs' JSON file (or its content, see
    :func:`read_reference`): the paper's first lines then say what made its numbers, and every
    number of a stale run is marked."""
    results = Results.load(Path(aggregate_dir))
    stats = json.loads(Path(stats_json).read_text(encoding="utf-8"))
    classes = _class_names(Path(classes_tsv))
    if reference is not None and not isinstance(reference, Mapping):
        reference = read_reference(Path(reference))
    context = build_context(results, config, stats, classes, previews, provenance, reference)
    css = Markup((TEMPLATES / "paper.css").read_text(encoding="utf-8"))
    write_text(out_html, _environment().get_template("paper.html.j2").render(css=css, **context))


def render_pdf(html_path: Path, out_pdf: Path) -> None:
    """Render the HTML paper to an A4 PDF with WeasyPrint, atomically.

    Rendered in memory: a kill during the rendering (the long part) leaves no temporary file."""
    import weasyprint

    write_bytes(out_pdf, weasyprint.HTML(filename=str(html_path)).write_pdf())
