"""The paper's tables, each numbered where it is made: the augmentation sets, the recipe, a
model's layers, the results against the paper, the claims, the ablations, the runs beyond the
paper, the software and the timing of the training jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

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
from tinycnn.report.elements import Column, Numbering, Row, Table
from tinycnn.report.sentences import text

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
        *numbering.table(),
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
        ("learning_rate", lambda e: e["lr"], formatting.fmt_lr),
        ("betas", optimizer("betas"), formatting.fmt_value),
        ("eps", optimizer("eps"), formatting.fmt_lr),
        ("weight_decay", optimizer("weight_decay"), formatting.fmt_lr),
        ("batch_size", lambda e: int(e["batch_size"]), str),
        ("epochs", lambda e: int(e["epochs"]), str),
        ("scheduler", lambda e: e["scheduler"], str),
        ("augmentation_sets", lambda e: e["sets"], str),
        ("augmentation_drawn", lambda e: words.mode_words(e["mode"]), str),
        ("training_images", images("train"), str),
        ("validation_images", images("val"), str),
        ("seeds_per_run", lambda e: int(e["n_seeds"]) if facts.has_results(e) else None, str),
    ]
    rows = []
    for title, get, fmt in rows_spec:
        values = [(e, get(e)) for e in exps]
        values = [(e, v) for e, v in values if v is not None]
        if values:
            rows.append(
                Row([text("tables", "heading", title), words.common_with_exceptions(values, fmt)])
            )
    return Table(
        *numbering.table(),
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
        *numbering.table(),
        None,
        [Column("name"), Column("layer"), Column("output_shape"), Column("parameters", "num")],
        rows,
        cls="layers",
        key=model,
        kind="layers",
        about={"arch": architecture["arch"]},
    )


def _reproduction_row(e: Mapping[str, Any], subsets: Mapping[str, str]) -> Row:
    """One run of the results table: its settings, the paper's number, ours, n and Δ."""
    if facts.has_results(e):
        n = int(e["n_seeds"])
        ours = formatting.fmt_acc(e["best_val_acc_mean"], e.get("best_val_acc_std"), n)
        measured = [ours + words.stale_mark(e) + words.chance_mark(e), n, _delta(e)]
        beyond = facts.has_paper(e) and not facts.agrees(e)
        cls = " ".join(
            c for c, on in (("beyond-tolerance", beyond), ("stale", facts.stale(e))) if on
        )
    else:
        measured, cls = [words.NOT_RUN, "—", "—"], "not-run"
    return Row(
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


def _delta(e: Mapping[str, Any]) -> str:
    """The Δ column, as numbers.json's ``.diff`` (:func:`~tinycnn.report.formatting.fmt_delta`)."""
    return formatting.fmt_delta(e.get("diff"), e.get("paper_stated"), facts.at_chance(e))


def reproduction_table(
    numbering: Numbering,
    exps: Sequence[Mapping],
    subsets: Mapping[str, str],
    tolerance: float,
    recipe: Table,
    stale: Sequence[str] = (),
    waiting: Table | None = None,
) -> Table:
    """Every run of ``exps`` beside the paper: ours, n and Δ (a run without results says "not
    yet run"); † marks a run on part of the images, which ``recipe`` gives; ``stale``: the
    stale runs described, for the note; ``waiting``: the table of the runs not yet trained."""
    rows = [_reproduction_row(e, subsets) for e in exps]
    head = [("run", "num"), ("model", ""), ("augmentation", ""), ("lr", ""), ("scheduler", "")]
    head += [("epochs", "num"), ("paper", "num"), ("ours", "num"), ("n", "num"), ("delta", "num")]
    return Table(
        *numbering.table(),
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
            "waiting": waiting,
            "chance": words.chance_levels(exps),
        },
    )


def waiting_table(
    numbering: Numbering,
    rows: Sequence[Mapping[str, Any]],
    defined: Mapping[str, str] | None = None,
) -> Table:
    """The runs not yet trained, one row an experiment (:func:`tinycnn.report.context` gives
    them): the paper's run, the experiment, its model, the seeds still to train, what they wait
    for and the paper's number. ``waits_for``: ``cpu`` (their turn on a CPU), ``gpu``, or None
    where no plan says (a workflow's render); ``cpu_seconds``, a seed's projection on a CPU.
    ``defined``: each model of the rows the paper has no section of, with its description, for
    the note (a reader meets "M1-BN" here first)."""
    out = []
    for r in rows:
        seeds = ", ".join(str(s) for s in r["seeds"]) if r.get("seeds") else "—"
        out.append(
            Row(
                [
                    "—" if r.get("run") is None else int(r["run"]),
                    r["experiment"],
                    r["model"],
                    seeds,
                    words.waits_for(r.get("waits_for"), r.get("cpu_seconds")),
                    formatting.fmt_paper(r.get("paper_accuracy"), r.get("paper_stated")),
                ],
                "not-run",
                r["experiment"],
            )
        )
    head = [("run", "num"), ("experiment", ""), ("model", ""), ("seeds", ""), ("waits_for", "")]
    return Table(
        *numbering.table(),
        None,
        [Column(title, align or "text") for title, align in [*head, ("paper", "num")]],
        out,
        None,
        "waiting",
        kind="waiting",
        about={
            "planned": any(r.get("waits_for") for r in rows),
            "models": {
                m: d for m, d in (defined or {}).items() if any(r["model"] == m for r in rows)
            },
        },
    )


def claims_table(
    numbering: Numbering,
    claims: Sequence[Mapping],
    stale: Sequence[str] = (),
    results: Table | None = None,
) -> Table:
    """The paper's claims (claims.csv), one row each: statement, test, measured, verdict;
    ``stale`` the experiments with stale runs (a measurement from one is marked; ``results``,
    the reproduction table, explains the mark)."""
    rows, marked, reasons = [], False, {}
    for c in claims:
        names = str(c.get("experiments") or "").split()
        if c.get("measured") is None:  # why, marked here and said once in the note
            why = claim_words.claim_reason(c)
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
        *numbering.table(),
        None,
        [Column("paper_says"), Column("test"), Column("measured"), Column("verdict")],
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
            *numbering.table(),
            ablation_words.ablation_caption(group),
            [
                *(Column("reading"), Column("changes"), Column("ours", "num")),
                *(Column("n", "num"), Column("delta", "num"), Column("closes_the_gap")),
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
    mark, chance = words.stale_mark(r), words.chance_mark(r)
    at_common = r.get("common_epoch_val_acc_mean")
    return [
        r["experiment"],
        r["model"],
        parameters,
        epochs,
        formatting.fmt_acc(r["best_val_acc_mean"], r["best_val_acc_std"], r["n_seeds"])
        + mark
        + chance,
        formatting.fmt_num(at_common) + mark if at_common is not None else "—",
        paper,
        formatting.fmt_duration(r["wall_seconds_mean"]) + mark,
        formatting.fmt_int(r["images_per_second_mean"]) + mark,
    ]


# The rows of the recipe beyond the paper: (title, the cell of a run's recorded settings).
BEYOND_RECIPE = [
    ("optimizer", lambda s: beyond_words.optimizer_words(s["optimizer"])),
    ("learning_rate", lambda s: formatting.fmt_lr(s["optimizer"]["lr"])),
    ("weight_decay", lambda s: formatting.fmt_lr(s["optimizer"]["weight_decay"])),
    ("schedule", lambda s: beyond_words.schedule_words(s.get("scheduler"))),
    ("loss", lambda s: beyond_words.loss_words(s.get("loss"))),
    ("augmentation", lambda s: beyond_words.augmentation_words(s["augmentation"])),
    ("batch_size", lambda s: str(s["batch_size"])),
    ("epochs", lambda s: str(s["epochs"])),
    ("training_images", lambda s: words.images_words(s, "train")),
    ("validation_images", lambda s: words.images_words(s, "val")),
]


def beyond_recipe(numbering: Numbering, rows: Sequence[Mapping], settings: Mapping) -> Table:
    """Each run's recipe as the runs recorded it (as configured for a run not yet made, which
    its column says; where no run has results, the caption says it once)."""
    planned = not any(facts.has_results(r) for r in rows)
    recorded = {r["experiment"]: settings.get(r["experiment"]) or {} for r in rows}
    recipe_rows = [
        Row(
            [
                text("tables", "heading", title),
                *(get(recorded[n]) if recorded[n] else "—" for n in recorded),
            ]
        )
        for title, get in BEYOND_RECIPE
    ]
    recipe_rows.append(
        Row(["precision", *(words.precision(r.get("precision")) or "—" for r in rows)])
    )
    titles = [
        text("tables", "run_column", r["experiment"], planned or facts.has_results(r)) for r in rows
    ]
    return Table(
        *numbering.table(),
        None,
        [Column("setting"), *(Column(t) for t in titles)],
        recipe_rows,
        None,
        cls="recipe beyond",
        kind="beyond_recipe_planned" if planned else "beyond_recipe",
    )


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
        *numbering.table(),
        beyond_words.beyond_caption(common),
        [
            *(Column("run"), Column("model"), Column("params", "num"), Column("epochs", "num")),
            Column("ours", "num"),
            Column("epoch", "num", common) if common is not None else Column("common_epoch", "num"),
            *(Column("paper", "num"), Column("time", "num"), Column("img_per_second", "num")),
        ],
        cells,
        None,
        "beyond",
        about={
            "stale_ref": reproduction if marked else None,
            "chance": words.chance_levels(rows),
        },
    )
    return results, beyond_recipe(numbering, rows, settings)


def software_table(numbering: Numbering, provenance: Mapping) -> Table:
    return Table(
        *numbering.table("B"),
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
    times; a stale job (``stale``: by experiment, the stale seeds) is marked. A device, commit or
    numerics every job shares is said once, in the caption (``about["common"]``), not on every
    row."""
    seeds = {(name, int(s["seed"])) for name, runs in (stale or {}).items() for s in runs}
    runs = provenance["runs"]
    shared = {
        "device": [r.get("device_name") or "" for r in runs],
        "commit": [r.get("commit") or "unknown" for r in runs],
        "precision": [
            provenance_words.numerics(r.get("precision"), r.get("compile")) for r in runs
        ],
    }
    common = {k: v[0] for k, v in shared.items() if len(set(v)) == 1 and v[0]}
    kept = [k for k in shared if k not in common]
    # Several machines: a letter each in the rows, the machine named once in the caption.
    keys = {d: chr(ord("A") + i) for i, d in enumerate(dict.fromkeys(shared["device"]))}
    if "device" in kept:
        shared["device"] = [keys[d] for d in shared["device"]]
    rows = [
        Row(
            [
                "" if r.get("run") is None else int(r["run"]),
                r["experiment"]
                + (f" {words.STALE}" if (r["experiment"], r["seed"]) in seeds else ""),
                r["seed"],
                *(shared[k][i] for k in kept),
                formatting.fmt_duration(r["wall_seconds"]),
                formatting.fmt_int(r["images_per_second"]),
            ]
        )
        for i, r in enumerate(runs)
    ]
    return Table(
        *numbering.table("B"),
        None,
        [
            *(Column("run", "num"), Column("experiment"), Column("seed", "num")),
            *(Column(k) for k in kept),
            *(Column("wall_time", "num"), Column("images_per_second", "num")),
        ],
        rows,
        cls="timing",
        kind="timing",
        about={
            "common": common,
            "devices": [] if "device" in common else [(k, d) for d, k in keys.items()],
        },
    )
