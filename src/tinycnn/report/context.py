"""Everything the paper's templates render, assembled in reading order.

Tables and figures are made, and so numbered, in the order they appear; the computed sentences
that cite them (:mod:`tinycnn.report.prose` and the ``*_words`` modules) are written afterwards.
Experiments the config names without results are shown as not yet run; ``reference``
(:func:`~tinycnn.report.inputs.read_reference`) names the stale runs."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup

from tinycnn.config import ablations, beyond_paper
from tinycnn.config.merge import merge_settings, recipe_of
from tinycnn.data.tinyimagenet import IMAGE_SIZE
from tinycnn.report import (
    ablation_words,
    beyond_words,
    facts,
    formatting,
    prose,
    provenance_words,
    words,
)
from tinycnn.report.elements import Comparison, Figure, ModelSection, Numbering, Table
from tinycnn.report.figure_records import aggregate_figure, curves_about, preview_figure, run_head
from tinycnn.report.inputs import Results, not_run_record, order_key, stale_runs, stale_words
from tinycnn.report.source import citations
from tinycnn.report.tables import (
    ablation_tables,
    augmentation_table,
    beyond_recipe,
    beyond_tables,
    claims_table,
    layer_table_of,
    recipe_table,
    recorded_sets,
    reproduction_table,
    software_table,
    timing_table,
    waiting_table,
)
from tinycnn.shared.contract import AGGREGATE_FILES
from tinycnn.shared.errors import UserError

SUMMARY_KINDS = ("paper_vs_ours", "accuracy_vs_parameters", "accuracy_vs_time")
EXAMPLE_CLASSES = 5  # class names quoted in Section 1

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


def _architecture(results: Results, arch: str, trained: bool = True) -> dict[str, Any]:
    """The record of ``arch``: a trained architecture's must be in the aggregate; one without
    runs has the model code's (rule architectures') where the aggregate was given it, else
    none."""
    if not trained:
        return results.architectures.get(arch) or {}
    if arch not in results.architectures:
        path = results.folder / AGGREGATE_FILES["architectures"]
        raise UserError(f"{path} has no entry for architecture {arch!r}: aggregate again.")
    return results.architectures[arch]


def _section_text(
    section: ModelSection,
    previous: ModelSection | None,
    results: Results,
    config: Mapping,
    curves: Mapping[str, Figure],
    cite: Mapping[str, Markup],
) -> None:
    """The architecture, every run, the configured comparisons, the previous family."""
    members = []
    for model in dict.fromkeys(e["model"] for e in section.experiments):
        of_model = [e for e in section.experiments if e["model"] == model]
        e = (facts.with_results(of_model) or of_model)[-1]
        record = _architecture(results, e["arch"], trained=facts.has_results(e))
        if not facts.has_results(e):  # its parameter count from the model code's record
            e = {**e, "parameters": record.get("parameters")}
        fallback = config["models"].get(model, {}).get("description", model)
        text = prose.description(record.get("description"), e["arch"], fallback, cite)
        table = next((t for t in section.tables if t.key == model), None)
        members.append((e, text, table))
    section.architecture = prose.architecture_paragraph(members)
    section.runs = [  # the runs not yet trained are the waiting table's
        (
            run_head(e),
            prose.run_paragraph(
                e,
                results.history(e["experiment"]),
                curves.get(e["experiment"]),
                int(e.get("run") or 0),
            ),
        )
        for e in facts.with_results(section.experiments)
    ]
    # A comparison that waits for a run not yet trained says nothing: the waiting table has it.
    section.paragraphs = [
        prose.comparison_paragraph(c.title, c.figure, c.experiments)
        for c in section.comparisons
        if not facts.pending(c.experiments)
    ]
    both = previous is not None and all(
        facts.with_results(s.experiments) for s in (section, previous)
    )
    if both:
        section.paragraphs.append(prose.against_previous(section.experiments, previous.experiments))


def _one_device(sections: Sequence[ModelSection]) -> str | None:
    """The machine every run of the sections trained on, said once above them (and then in no
    run's head), or None where they trained on several."""
    devices = {head["device"] for s in sections for head, _ in s.runs}
    if len(devices) != 1 or None in devices:
        return None
    for s in sections:
        s.runs = [({**head, "device": None}, text) for head, text in s.runs]
    return devices.pop()


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


@dataclass
class _Paper:
    """What the sections of the paper are made from: the inputs, the runs sorted into those with
    results and those not yet run, and the numbering the tables and figures take in order."""

    results: Results
    config: Mapping[str, Any]
    stale: dict[str, list[dict[str, Any]]]  # the stale runs by experiment
    jobs: list[dict[str, Any]]  # every training job, the stale marked
    made: list[dict[str, Any]]  # the experiments with results
    planned: dict[str, dict[str, Any]]  # the settings, as configured, of those without
    not_run: list[dict[str, Any]]  # the paper's experiments without results
    exps: list[dict[str, Any]]  # both, in paper order
    settings: dict[str, Any]  # every experiment's settings: as recorded, else as configured
    beyond_rows: list[dict[str, Any]]
    specs: dict[str, list[Mapping]]  # figures.json by kind
    tolerance: float
    numbering: Numbering = field(default_factory=Numbering)

    @property
    def paper_jobs(self) -> list[dict[str, Any]]:
        """The paper's training jobs: those the summary's figures time."""
        return [j for j in self.jobs if j["role"] == "paper"]


def _paper(
    results: Results, config: Mapping, provenance: Mapping, stale: dict[str, list[dict[str, Any]]]
) -> _Paper:
    """The runs of the paper, those with results and those the config names without, the
    stale ones marked (``stale``: :func:`stale_runs`)."""
    jobs = [
        {**r, **({facts.STALE: [s]} if (s := _stale_seed(stale, r)) else {})}
        for r in provenance.get("runs") or []
    ]
    for record in [*results.experiments, *results.ablations]:
        if record["experiment"] in stale and (record.get("n_seeds") or 0):
            record[facts.STALE] = stale[record["experiment"]]
    made = results.experiments
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
    beyond_rows = _beyond_rows(results, config, made, planned)
    for r in beyond_rows:
        if r["experiment"] in stale and facts.has_results(r):
            r[facts.STALE] = stale[r["experiment"]]
    specs: dict[str, list[Mapping]] = {}
    for spec in results.figures:
        specs.setdefault(spec["kind"], []).append(spec)
    return _Paper(
        results, config, stale, jobs, made, planned, not_run,
        sorted([*made, *not_run], key=order_key(config)), {**planned, **results.settings},
        beyond_rows, specs, float(config["report"]["tolerance"]),
    )  # fmt: skip


def _data_section(p: _Paper, previews: Mapping[str, Path]) -> dict[str, Any]:
    """Section 1's tables and figure: the augmentation sets, their previews, the recipe. The
    sets that only the runs beyond the paper use are shown in their own section."""
    sets = recorded_sets(p.exps, p.settings, list(p.config["augmentation"]["sets"]))
    aug_table = augmentation_table(p.numbering, sets)
    beyond_sets = [
        s
        for r in p.beyond_rows
        if r["role"] == "beyond"
        for s in ((p.settings.get(r["experiment"]) or {}).get("augmentation") or {}).get("sets", [])
        if s not in sets
    ]
    return {
        "aug_table": aug_table,
        "preview": preview_figure(p.numbering, p.config, previews, skip=beyond_sets),
        "recipe": recipe_table(p.numbering, p.exps, p.settings),
        "set_names": list(sets),
        "beyond_sets": beyond_sets,
    }


def _waiting_rows(p: _Paper, reference: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The runs not yet trained, one row an experiment: the reference's planned runs (their
    seeds, what they wait for, a seed's projection on a CPU), in the plan's order; without a
    reference, every experiment the config names that has no results (the paper's, the
    ablation variants', those beyond the paper), with the seeds the config plans."""
    models = ablations.models_by_experiment(p.config)
    papers = {name: entry.get("paper") or {} for name, entry in p.config["experiments"].items()}
    if reference is not None:
        planned = facts.grouped_by(reference.get("planned") or [], lambda r: r["experiment"])
        rows = [
            {
                "experiment": name,
                "seeds": [r["seed"] for r in runs],
                "waits_for": runs[0].get("waits_for"),
                "cpu_seconds": runs[0].get("cpu_seconds"),
            }
            for name, runs in planned.items()
        ]
    else:
        done = {e["experiment"] for e in p.made}
        done |= {r["experiment"] for r in p.beyond_rows if facts.has_results(r)}
        done |= {r["experiment"] for r in p.results.ablations if r.get("n_seeds")}
        names = [e["experiment"] for e in p.not_run]
        names += [v.experiment for v in ablations.trained(p.config)]
        names += [r["experiment"] for r in p.beyond_rows if r["role"] == "beyond"]
        rows = [
            {"experiment": n, "seeds": list(_planned_seeds(p, n))}
            for n in dict.fromkeys(names)
            if n not in done
        ]
    for row in rows:
        paper = papers.get(row["experiment"], {})
        row.update(
            run=paper.get("run"),
            model=models.get(row["experiment"], "—"),
            paper_accuracy=paper.get("accuracy"),
            paper_stated=paper.get("stated"),
        )
    return rows


def _planned_seeds(p: _Paper, name: str) -> list[int]:
    """The seeds the config plans for experiment ``name`` (its settings as configured)."""
    settings = p.planned.get(name)
    variant = next((v for v in ablations.trained(p.config) if v.experiment == name), None)
    if settings is None and variant is not None:  # its base's entry with its overrides
        entry = merge_settings(p.config["experiments"][variant.base], variant.overrides)
        settings = recipe_of(p.config, entry)
    return list((settings or {}).get("seeds") or [])


def _model_sections(p: _Paper, comparison_specs: dict[Any, Mapping]) -> list[ModelSection]:
    """Section 2's subsections, a model family each: its layer tables, then the figures of the
    comparisons it closes (taken from ``comparison_specs``)."""
    sections = _sections(p.exps)
    comparisons = _comparisons(p.config, p.exps)
    for section in sections:
        # Every model's layer table, trained or not: a model without runs has the model code's
        # (rule architectures'), where the aggregate was given it.
        trained = {e["arch"] for e in facts.with_results(section.experiments)}
        for arch in dict.fromkeys(e["arch"] for e in section.experiments if e.get("arch")):
            architecture = _architecture(p.results, arch, trained=arch in trained)
            if architecture.get("layers"):
                model = next(e["model"] for e in section.experiments if e["arch"] == arch)
                section.tables.append(layer_table_of(p.numbering, architecture, model))
        for comparison in comparisons:
            if comparison.section != section.title:
                continue
            section.comparisons.append(comparison)
            spec = comparison_specs.pop(comparison.id, None)
            if spec and not facts.pending(comparison.experiments):
                about = {
                    "title": comparison.title,
                    # (the paper's run number or None, the experiment): as the legend names it
                    "runs": [
                        (None if e.get("run") is None else int(e["run"]), e["experiment"])
                        for e in comparison.experiments
                    ],
                }
                comparison.figure = aggregate_figure(p.numbering, p.results, spec, "", about)
                section.figures.append(comparison.figure)
    return sections


def _results_tables(
    p: _Paper, recipe: Table, waiting: Table | None
) -> tuple[Table | None, Table | None, list]:
    """The runs with results against the paper (None when no run has any: ``waiting`` lists
    them all), the claims, the ablations' tables."""
    subsets = words.subsets(p.exps, p.settings)
    made = facts.with_results(p.exps)
    table = (
        reproduction_table(
            p.numbering, made, subsets, p.tolerance, recipe, stale_words(made, p.stale), waiting
        )
        if made
        else None
    )
    claims = (
        claims_table(p.numbering, p.results.claims, list(p.stale), table)
        if p.results.claims
        else None
    )
    shown, _ = _ablation_questions(p.results.ablations)
    return table, claims, ablation_tables(p.numbering, shown, p.tolerance, table)


def _ablation_questions(rows: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping], list[str]]:
    """ablations.csv's rows of the questions with a variant trained (or read) beside the
    base, and the titles of those without: no table of placeholders, one sentence instead."""
    shown, waiting = [], []
    for group in facts.grouped_by(rows, lambda r: r["question"]).values():
        if any(ablation_words.ablation_ran(r) for r in group if r["variant"] != "base"):
            shown += group
        else:
            waiting.append(group[0]["title"])
    return shown, waiting


def _summary_figures(p: _Paper, comparison_specs: Mapping[Any, Mapping]) -> list[Figure]:
    """The summary's figures, in SUMMARY_KINDS order, then any other kind figures.json holds,
    and the comparison figures the config no longer names."""
    placed = ("curves", "comparison", "beyond")  # each in its own section
    leftover = [s for k, v in p.specs.items() if k not in placed for s in v]
    leftover += comparison_specs.values()
    order = [*SUMMARY_KINDS, *(s["kind"] for s in leftover)]
    leftover.sort(key=lambda s: order.index(s["kind"]))
    return [aggregate_figure(p.numbering, p.results, spec) for spec in leftover]


def _beyond_section(
    p: _Paper, previews: Mapping[str, Path], beyond_sets: Sequence[str], results_table: Table
) -> dict[str, Any] | None:
    """Section 2's last subsection, after the summary's figures and the ablations' tables: the
    runs beyond the paper beside their baselines (None when the config names none)."""
    if not p.beyond_rows:
        return None
    rows = p.beyond_rows
    if not any(facts.has_results(r) for r in rows):  # the recipe each will train with, once
        return {
            "table": None,
            "recipe": beyond_recipe(p.numbering, rows, p.settings),
            "figure": None,
            "preview": preview_figure(
                p.numbering, p.config, {s: f for s, f in previews.items() if s in beyond_sets}
            ),
            "text": None,
            "names": [r["experiment"] for r in rows if r["role"] == "beyond"],
        }
    table, recipe = beyond_tables(p.numbering, rows, p.settings, results_table)
    curves_spec = (p.specs.get("beyond") or [None])[0]
    figure = aggregate_figure(p.numbering, p.results, curves_spec) if curves_spec else None
    preview = preview_figure(
        p.numbering, p.config, {s: f for s, f in previews.items() if s in beyond_sets}
    )
    text = beyond_words.beyond_paragraph(
        rows,
        table,
        recipe,
        {r["experiment"]: p.settings.get(r["experiment"]) for r in rows},
        _model_descriptions(p.results, p.config, rows),
        figure,
        preview,
    )
    return {"table": table, "recipe": recipe, "figure": figure, "preview": preview, "text": text}


def _curves(p: _Paper) -> dict[str, Figure]:
    """Appendix A: each run's learning curves, by experiment."""
    specs = {s["experiment"]: s for s in p.specs.get("curves", [])}
    return {
        e["experiment"]: aggregate_figure(
            p.numbering, p.results, specs[e["experiment"]], "A", curves_about(e)
        )
        for e in p.made
        if e["experiment"] in specs
    }


def _summary(
    p: _Paper, table: Table | None, figures: Sequence[Figure], waiting: Table | None
) -> list[Markup]:
    """The summary's paragraphs: the results against the paper, then one a summary figure."""
    kinds = {f.kind: f for f in figures}
    summary = [prose.summary_paragraph(p.made, p.tolerance, table, p.not_run, waiting)]
    if "paper_vs_ours" in kinds:
        summary.append(prose.sides_paragraph(p.made, kinds["paper_vs_ours"]))
    if "accuracy_vs_parameters" in kinds:
        summary.append(prose.size_paragraph(p.made, kinds["accuracy_vs_parameters"]))
    if "accuracy_vs_time" in kinds:
        summary.append(prose.time_paragraph(p.paper_jobs, kinds["accuracy_vs_time"]))
    return summary


def _text(
    p: _Paper, stats: Mapping, summary: list[Markup], ablations: Sequence, settled: Sequence
) -> dict[str, Any]:
    """The computed sentences of the fixed narrative (``text.*`` in the templates)."""
    subsets = words.subsets(p.exps, p.settings)
    return {
        "findings": prose.findings(p.made, p.tolerance, p.not_run),
        "modes": prose.modes(p.exps, subsets, stats["train"], p.config["augmentation"].get("seed")),
        "schedules": prose.schedules(p.exps, p.settings),
        "summary": summary,
        # the number of its section comes from the template, which numbers the sections
        "ablations_summary": functools.partial(
            ablation_words.ablations_summary, [rows for _, rows in ablations]
        ),
        "conclusion": prose.conclusion(p.made, p.tolerance, p.not_run),
        "comparisons": prose.comparisons_count(settled),
        "suspects": prose.suspects(p.made),
        "not_run": words.runs_phrase(p.not_run) if p.not_run else "",
    }


def _notice(p: _Paper, reference: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What the reference notice says (00_notices.html.j2), with ``--reference`` only."""
    if reference is None:
        return None
    return provenance_words.reference_facts(
        reference,
        len(p.jobs),  # every training job: the paper's, the ablations' and those beyond it
        sum(len(v) for v in p.stale.values()),
        facts.devices(p.jobs),
    )


def _facts(p: _Paper, stats: Mapping, classes: Sequence[str]) -> dict[str, Any]:
    """The facts the fixed narrative states: the data, the models, the runs, their count."""
    modes = dict(stats.get("source_modes") or {})
    return {
        "title": p.config["report"]["title"],
        "original": p.config["report"].get("original") or {},
        "demo": bool(p.config["report"].get("demo")),
        "stats": stats,
        "image_size": IMAGE_SIZE,
        "tolerance": formatting.fmt_short(p.tolerance),  # the fixed notes' (captions.html.j2)
        "numbers": p.results.numbers,  # the aggregate's numbers.json, for the fixed narrative
        # the devices of the paper's runs, which the figure of accuracy against time draws
        "time_devices": facts.devices(p.paper_jobs),
        "class_examples": list(classes[:EXAMPLE_CLASSES]),
        "n_images": sum(modes.values()) or stats["train"] + stats["val"],
        "other_modes": {m: n for m, n in modes.items() if m not in ("RGB", "L")},
        "models": list(dict.fromkeys(e["model"] for e in p.made)),
        "n_runs": len(p.made),
        "several_seeds": any(facts.seeds(e) > 1 for e in p.made),
        "n_not_run": len(p.not_run),
        "n_rows": len(p.exps),
    }


def _ablation(table: Table, rows: Sequence[Mapping[str, Any]], turn: int) -> dict[str, Any]:
    """One ablation question's table and the sentences that follow it (the ``turn``-th
    question's wording)."""
    return {
        "table": table,
        "text": ablation_words.ablation_sentence(rows, turn),
        "leak": ablation_words.ablation_leaks(rows),
    }


def build_context(
    results: Results,
    config: Mapping,
    stats: Mapping,
    classes: Sequence[str],
    previews: Mapping[str, Path],
    provenance: Mapping,
    reference: Mapping[str, Any] | None = None,
    references: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Everything the template renders, its tables and figures made in reading order, then the
    sentences that cite them. ``references``: the paper source's (:mod:`.source`)."""
    references = references or {}
    cite = citations(references)
    stale = stale_runs(reference)
    p = _paper(results, config, provenance, stale)
    data = _data_section(p, previews)
    waiting_rows = _waiting_rows(p, reference)
    # The models of the ablations and the runs beyond the paper, which no section describes.
    sectioned = {e["model"] for e in p.exps}
    defined = {
        name: model.get("description") or name
        for name, model in config["models"].items()
        if name not in sectioned
    }
    waiting = waiting_table(p.numbering, waiting_rows, defined) if waiting_rows else None
    comparison_specs = {s.get("comparison"): s for s in p.specs.get("comparison", [])}
    sections = _model_sections(p, comparison_specs)
    table, claims, ablations = _results_tables(p, data["recipe"], waiting)
    summary_figures = _summary_figures(p, comparison_specs)
    beyond = _beyond_section(p, previews, data.pop("beyond_sets"), table)
    curves = _curves(p)
    software = software_table(p.numbering, {**provenance, "runs": p.jobs})
    timing = timing_table(p.numbering, {**provenance, "runs": p.jobs}, stale) if p.jobs else None
    for i, section in enumerate(sections):
        _section_text(section, sections[i - 1] if i else None, p.results, config, curves, cite)
    one_device = _one_device(sections)
    summary = _summary(p, table, summary_figures, waiting)
    return {
        **data,
        "sections": sections,
        "one_device": one_device,
        "waiting": waiting,
        "results_table": table,
        "claims_table": claims,
        "ablations": [_ablation(t, rows, i) for i, (t, rows) in enumerate(ablations)],
        "ablations_waiting": _ablation_questions(p.results.ablations)[1],
        "summary_figures": summary_figures,
        "curves": curves,
        "software": software,
        "timing": timing,
        "reference": _notice(p, reference),
        "text": _text(p, stats, summary, ablations, _drawn_comparisons(sections)),
        **_facts(p, stats, classes),
        "beyond": beyond,
        "provenance": {**provenance, "runs": p.jobs},
        "references": provenance_words.references(config, references),
        "cite": cite,
    }


def _stale_seed(
    stale: Mapping[str, Sequence[Mapping[str, Any]]], job: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """The stale entry of one training job (experiment and seed), if it is stale."""
    return next((s for s in stale.get(job["experiment"], []) if s["seed"] == job["seed"]), None)
