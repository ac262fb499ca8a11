"""Render the regenerated paper: one self-contained HTML file, then a PDF with WeasyPrint.

Inputs are those of docs/report-contract.md: the aggregate folder (experiments.csv, runs.csv,
epochs.csv, figures.json and its PNGs), the merged config, the packed data's stats.json and
classes.tsv, the augmentation preview grids, and provenance (``collect_provenance``).

The document is assembled here in reading order: every table and figure is created, and so
numbered, in the order it appears; the computed sentences that cite them (``tinycnn.prose``)
are written afterwards. The template (report/paper.html.j2) holds the layout and the narrative
prose, which takes every number from this context; report/paper.css the A4 print style.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from tinycnn import formatting, prose
from tinycnn.atomic import atomic_path, write_text
from tinycnn.config import resolve_experiment
from tinycnn.errors import UserError
from tinycnn.models import build_model, layer_table
from tinycnn.pack import read_classes
from tinycnn.provenance import collect_provenance
from tinycnn.tinyimagenet import IMAGE_SIZE

__all__ = ["collect_provenance", "render_html", "render_pdf"]

REPORT_DIR = Path(__file__).resolve().parents[2] / "report"
# Sequential models whose layers the original tabulates, with its table number.
LAYER_TABLES = {"m1": 1, "m4": 2}
SUMMARY_KINDS = ("paper_vs_ours", "accuracy_vs_parameters", "accuracy_vs_time")
EXAMPLE_CLASSES = 5  # class names quoted in Section 1


@dataclass
class Image:
    src: str
    alt: str
    label: str = ""


@dataclass
class Figure:
    id: str
    label: str
    caption: Markup
    images: list[Image]
    kind: str


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
    id: str
    label: str
    caption: Markup
    columns: list[Column]
    rows: list[Row]
    note: Markup | None = None
    cls: str = ""
    key: str = ""  # the model of an architecture table


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
    number: str
    title: str
    experiments: list[dict[str, Any]]
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    paragraphs: list[Markup] = field(default_factory=list)


@dataclass
class Numbering:
    """Hands out figure and table labels in reading order, per prefix ("", "A", "B")."""

    counts: Counter = field(default_factory=Counter)

    def next(self, kind: str, prefix: str = "") -> tuple[str, str]:
        self.counts[kind, prefix] += 1
        n = f"{prefix}{self.counts[kind, prefix]}"
        return f"{kind.lower()}-{n}", f"{kind} {n}"


# --- inputs ------------------------------------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise UserError(f"{path} is missing: run the aggregate step first.")
    return pd.read_csv(path)


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of Python values, missing values as None."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


@dataclass
class Results:
    """The aggregate folder, read: experiments in paper order, per-epoch metrics, figures."""

    folder: Path
    experiments: list[dict[str, Any]]
    epochs: pd.DataFrame
    figures: list[dict[str, Any]]

    @classmethod
    def load(cls, folder: Path) -> Results:
        experiments = _read_csv(folder / "experiments.csv")
        experiments = experiments.sort_values("run", kind="stable", na_position="last")
        figures_json = folder / "figures.json"
        if not figures_json.is_file():
            raise UserError(f"{figures_json} is missing: run the aggregate step first.")
        return cls(
            folder,
            _records(experiments),
            _read_csv(folder / "epochs.csv"),
            json.loads(figures_json.read_text(encoding="utf-8")),
        )

    def history(self, experiment: str) -> pd.DataFrame:
        """Per-epoch metrics of one experiment, averaged over its seeds."""
        rows = self.epochs[self.epochs["experiment"] == experiment]
        rows = rows.drop(columns=["experiment", "seed"])
        return rows.groupby("epoch").mean(numeric_only=True).reset_index()


def _data_uri(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"figure {path} is missing: run the step that makes it again.")
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _class_names(classes_tsv: Path) -> list[str]:
    """Class names in label order: the first synonym of each class's words."""
    return [words.split(",")[0].strip() for _, words in read_classes(classes_tsv)]


# --- tables ------------------------------------------------------------------------------------


def _op_params(spec: Mapping[str, Any]) -> str:
    if spec["op"] == "normalize":
        return "mean and std of the training set"

    def value(v: Any) -> str:
        return f"({', '.join(map(str, v))})" if isinstance(v, list | tuple) else str(v)

    return ", ".join(f"{k} = {value(v)}" for k, v in spec.items() if k != "op") or "—"


def augmentation_table(numbering: Numbering, config: Mapping) -> Table:
    rows = [
        Row([name if i == 1 else "", i, prose.op_name(spec["op"]), _op_params(spec)])
        for name, ops in config["augmentation"]["sets"].items()
        for i, spec in enumerate(ops, 1)
    ]
    return Table(
        *numbering.next("Table"),
        Markup("The augmentation sets as configured, operations in the order applied."),
        [Column("set"), Column("step", "num"), Column("operation"), Column("parameters")],
        rows,
    )


def recipe_table(numbering: Numbering, exps: Sequence[Mapping], resolved: Mapping) -> Table:
    """The shared recipe; where runs depart from the most common value, which and how."""

    def optimizer(key: str) -> Callable[[Mapping], Any]:
        def get(e: Mapping) -> Any:
            settings = resolved.get(e["experiment"])
            return settings["optimizer"][key] if settings else None

        return get

    settings = [
        ("optimizer", optimizer("name"), str),
        ("learning rate", lambda e: e["lr"], formatting.fmt_lr),
        ("betas", optimizer("betas"), lambda v: f"({', '.join(map(str, v))})"),
        ("eps", optimizer("eps"), formatting.fmt_lr),
        ("weight decay", optimizer("weight_decay"), formatting.fmt_lr),
        ("batch size", lambda e: int(e["batch_size"]), str),
        ("epochs", lambda e: int(e["epochs"]), str),
        ("scheduler", lambda e: e["scheduler"], str),
        ("augmentation sets", lambda e: e["sets"], str),
        ("augmentation mode", lambda e: e["mode"], str),
        ("seeds per run", lambda e: int(e["n_seeds"]), str),
    ]
    rows = []
    for title, get, fmt in settings:
        values = [(e, get(e)) for e in exps]
        values = [(e, v) for e, v in values if v is not None]
        if values:
            rows.append(Row([title, prose.common_with_exceptions(values, fmt)]))
    return Table(
        *numbering.next("Table"),
        Markup("The training recipe; values that differ in some runs follow in parentheses."),
        [Column("setting"), Column("value")],
        rows,
        cls="recipe",
    )


def layer_table_of(numbering: Numbering, arch: str, model: str, classes: int) -> Table:
    """One of the original's architecture tables, generated from the model definition."""
    layers = layer_table(build_model(arch, num_classes=classes))
    rows = [
        Row(
            [
                r.name,
                r.layer,
                " × ".join(map(str, r.output_shape)),
                formatting.fmt_int(r.parameters),
            ]
        )
        for r in layers
    ]
    rows.append(
        Row(["total", "", "", formatting.fmt_int(sum(r.parameters for r in layers))], "total")
    )
    return Table(
        *numbering.next("Table"),
        Markup(
            "The {} architecture (Table {} of the original), generated from the model "
            "definition: output shape for one image and trainable parameters per layer."
        ).format(model, LAYER_TABLES[arch]),
        [Column("name"), Column("layer"), Column("output shape"), Column("parameters", "num")],
        rows,
        cls="layers",
        key=model,
    )


def reproduction_table(
    numbering: Numbering, exps: Sequence[Mapping], subsets: Mapping[str, str], tolerance: float
) -> Table:
    rows = []
    for e in exps:
        n = int(e["n_seeds"])
        rows.append(
            Row(
                [
                    "" if e.get("run") is None else int(e["run"]),
                    e["model"] + (" †" if e["experiment"] in subsets else ""),
                    e["sets"],
                    formatting.fmt_lr(e["lr"]),
                    e["scheduler"],
                    int(e["epochs"]),
                    formatting.fmt_paper(e.get("paper_accuracy"), e.get("paper_stated")),
                    formatting.fmt_acc(e["best_val_acc_mean"], e.get("best_val_acc_std"), n),
                    n,
                    formatting.fmt_diff(e.get("diff")),
                ],
                "beyond-tolerance" if prose.has_paper(e) and not prose.within(e) else "",
                e["experiment"],
            )
        )
    head = [("run", "num"), ("model", ""), ("augmentation", ""), ("lr", ""), ("scheduler", "")]
    head += [("epochs", "num"), ("paper", "num"), ("ours", "num"), ("n", "num"), ("Δ", "num")]
    return Table(
        *numbering.next("Table"),
        Markup("Every run: the best validation accuracy (%) the paper reports and ours."),
        [Column(title, align or "text") for title, align in head],
        rows,
        prose.reproduction_note(
            [
                f"{prose.name(e)}, {subsets[e['experiment']]}"
                for e in exps
                if e["experiment"] in subsets
            ],
            tolerance,
        ),
        "results",
    )


def software_table(numbering: Numbering, provenance: Mapping) -> Table:
    return Table(
        *numbering.next("Table", "B"),
        Markup("Software that rendered this report."),
        [Column("package"), Column("version")],
        [Row([package, version]) for package, version in provenance["packages"].items()],
        cls="software",
    )


def timing_table(numbering: Numbering, provenance: Mapping) -> Table:
    rows = [
        Row(
            [
                "" if r.get("run") is None else int(r["run"]),
                r["experiment"],
                r["seed"],
                r.get("device_name") or "",
                formatting.fmt_duration(r["wall_seconds"]),
                formatting.fmt_int(r["images_per_second"]),
            ]
        )
        for r in provenance["runs"]
    ]
    return Table(
        *numbering.next("Table", "B"),
        Markup("Every training job: device, wall time and training throughput."),
        [
            *(Column("run", "num"), Column("experiment"), Column("seed", "num")),
            *(Column("device"), Column("wall time", "num"), Column("images/s", "num")),
        ],
        rows,
        cls="timing",
    )


# --- figures -----------------------------------------------------------------------------------


def aggregate_figure(
    numbering: Numbering, results: Results, spec: Mapping, prefix: str = ""
) -> Figure:
    return Figure(
        *numbering.next("Figure", prefix),
        Markup.escape(spec["caption"]),
        [Image(_data_uri(results.folder / spec["file"]), spec.get("title") or spec["file"])],
        spec["kind"],
    )


def preview_figure(numbering: Numbering, config: Mapping, previews: Mapping[str, Path]) -> Figure:
    names = [
        s for s in dict.fromkeys([*config["augmentation"]["sets"], *previews]) if s in previews
    ]
    images = [
        Image(_data_uri(Path(previews[s])), f"preview of {s}", f"({chr(ord('a') + i)}) {s}")
        for i, s in enumerate(names)
    ]
    return Figure(
        *numbering.next("Figure"),
        prose.preview_caption(config["augmentation"].get("preview", {}).get("draws")),
        images,
        "preview",
    )


# --- assembly ----------------------------------------------------------------------------------


def _sections(exps: Sequence[dict[str, Any]]) -> list[ModelSection]:
    """One section per model family (``section``, else the model), in paper run order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for e in exps:
        groups.setdefault(e.get("section") or e["model"], []).append(e)
    return [
        ModelSection(f"2.{i}", title, members)
        for i, (title, members) in enumerate(groups.items(), 2)
    ]


def _comparisons(config: Mapping, exps: Sequence[dict[str, Any]]) -> list[Comparison]:
    """Config comparisons whose experiments all have results; the others are skipped."""
    by_name = {e["experiment"]: e for e in exps}
    out = []
    for entry in config["report"].get("comparisons", []):
        members = [by_name.get(name) for name in entry["experiments"]]
        if len(members) >= 2 and all(members):
            last = max(members, key=exps.index)
            section = last.get("section") or last["model"]
            out.append(Comparison(entry["id"], entry["title"], members, section))
    return out


def build_context(
    results: Results,
    config: Mapping,
    stats: Mapping,
    classes: Sequence[str],
    previews: Mapping[str, Path],
    provenance: Mapping,
) -> dict[str, Any]:
    """Everything the template renders. Tables and figures are made in reading order."""
    exps = results.experiments
    resolved = {
        e["experiment"]: resolve_experiment(config, e["experiment"])
        for e in exps
        if e["experiment"] in config.get("experiments", {})
    }
    specs: dict[str, list[Mapping]] = {}
    for spec in results.figures:
        specs.setdefault(spec["kind"], []).append(spec)
    comparison_specs = {s.get("comparison"): s for s in specs.get("comparison", [])}
    numbering = Numbering()

    aug_table = augmentation_table(numbering, config)
    preview = preview_figure(numbering, config, previews) if previews else None
    recipe = recipe_table(numbering, exps, resolved)
    sections = _sections(exps)
    comparisons = _comparisons(config, exps)
    for section in sections:
        for arch in dict.fromkeys(e["arch"] for e in section.experiments):
            if arch in LAYER_TABLES:
                model = next(e["model"] for e in section.experiments if e["arch"] == arch)
                section.tables.append(layer_table_of(numbering, arch, model, int(stats["classes"])))
        for comparison in comparisons:
            if comparison.section == section.title:
                section.comparisons.append(comparison)
                spec = comparison_specs.pop(comparison.id, None)
                if spec:
                    comparison.figure = aggregate_figure(numbering, results, spec)
                    section.figures.append(comparison.figure)
    subsets = prose.subsets(exps, resolved)
    table = reproduction_table(numbering, exps, subsets, float(config["report"]["tolerance"]))
    leftover = [s for k, v in specs.items() if k not in ("curves", "comparison") for s in v]
    leftover += comparison_specs.values()  # comparison figures the config no longer names
    order = [*SUMMARY_KINDS, *(s["kind"] for s in leftover)]
    leftover.sort(key=lambda s: order.index(s["kind"]))
    summary_figures = [aggregate_figure(numbering, results, spec) for spec in leftover]
    curves = {}
    curve_specs = {s["experiment"]: s for s in specs.get("curves", [])}
    for e in exps:
        if e["experiment"] in curve_specs:
            spec = curve_specs[e["experiment"]]
            curves[e["experiment"]] = aggregate_figure(numbering, results, spec, "A")
    doc = {
        "aug_table": aug_table,
        "preview": preview,
        "recipe": recipe,
        "sections": sections,
        "results_table": table,
        "summary_figures": summary_figures,
        "curves": curves,
        "software": software_table(numbering, provenance),
        "timing": timing_table(numbering, provenance),
    }
    writer = prose.Writer(exps, config, stats, resolved, results.history, provenance, doc)
    for section in sections:
        section.paragraphs = writer.model_section(section)
    modes = dict(stats.get("source_modes") or {})
    return {
        **doc,
        "title": config["report"]["title"],
        "original": config["report"].get("original") or {},
        "demo": bool(config["report"].get("demo")),
        "text": writer.front(),
        "stats": stats,
        "image_size": IMAGE_SIZE,
        "class_examples": list(classes[:EXAMPLE_CLASSES]),
        "n_images": sum(modes.values()) or stats["train"] + stats["val"],
        "other_modes": {m: n for m, n in modes.items() if m not in ("RGB", "L")},
        "set_names": list(config["augmentation"]["sets"]),
        "models": list(dict.fromkeys(e["model"] for e in exps)),
        "n_runs": len(exps),
        "summary_number": f"2.{len(sections) + 2}",
        "provenance": provenance,
        "references": prose.references(config),
        "cite": prose.CITE,
    }


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPORT_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(count=formatting.fmt_int, and_list=formatting.fmt_list)
    env.globals.update(ref=prose.ref, plural=prose.plural)
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
) -> None:
    """Write the paper as one self-contained HTML file (CSS and images inlined), atomically."""
    results = Results.load(Path(aggregate_dir))
    if not results.experiments:
        raise UserError(f"{aggregate_dir}/experiments.csv lists no experiment: nothing to report.")
    stats = json.loads(Path(stats_json).read_text(encoding="utf-8"))
    classes = _class_names(Path(classes_tsv))
    context = build_context(results, config, stats, classes, previews, provenance)
    css = Markup((REPORT_DIR / "paper.css").read_text(encoding="utf-8"))
    write_text(out_html, _environment().get_template("paper.html.j2").render(css=css, **context))


def render_pdf(html_path: Path, out_pdf: Path) -> None:
    """Render the HTML paper to an A4 PDF with WeasyPrint, atomically."""
    import weasyprint

    with atomic_path(out_pdf) as tmp:
        weasyprint.HTML(filename=str(html_path)).write_pdf(str(tmp))
