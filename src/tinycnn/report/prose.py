"""The words of the regenerated paper that depend on the results, Sections 1 and 2 and the
conclusion: comparisons, a family's and a run's paragraphs, the summary, the conclusion, and the
captions and notes whose words depend on what they show.

This module gathers each sentence's facts (numbers printed by :mod:`tinycnn.report.formatting`,
names and run lists by :mod:`words`, verdicts, counts); the words are the macros of the paper
source's ``sentences/prose.html.j2`` (report/sentences/prose.html.j2, :mod:`.sentences`), one
a sentence or paragraph, named as the function here that calls it. The facts behind each
sentence come from :mod:`tinycnn.report.facts`.

The claims', the ablations', the runs beyond the paper's and the provenance's words are in
:mod:`claim_words`, :mod:`ablation_words`, :mod:`beyond_words` and :mod:`provenance_words`; the
small words they share (names, marks, plurals) in :mod:`words`. The fixed words are the
templates' (the repository's report/: the sections in page order, the captions, the
references).

An experiment is a mapping with the columns of experiments.csv (missing values None);
``settings`` maps an experiment to its runs' recorded resolved settings (settings.json).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from tinycnn.report import facts, sentences
from tinycnn.report.facts import Experiment, acc, has_paper
from tinycnn.report.formatting import (
    fmt_diff,
    fmt_duration,
    fmt_int,
    fmt_loss,
    fmt_num,
    fmt_params,
    fmt_short,
)
from tinycnn.report.words import (
    NOT_RUN,
    STALE,
    acc_text,
    chance_words,
    labels,
    model_name,
    paper_text,
    run_label,
    runs_phrase,
    stale_mark,
)
from tinycnn.shared.errors import UserError

PART = "prose"  # the macros' file: sentences/prose.html.j2


def _say(macro: str, /, *args: Any, **kwargs: Any) -> Markup:
    """The words of macro ``macro`` of sentences/prose.html.j2 for the facts given."""
    return sentences.say(PART, macro, *args, **kwargs)


# --- comparisons ---------------------------------------------------------------------------------


def compare(
    a: Experiment,
    b: Experiment,
    label_a: str,
    label_b: str,
    theirs: tuple[Experiment, Experiment] | None = None,
) -> Markup:
    """One sentence: how ``a`` does against ``b`` here, and whether the paper agrees (by the
    paper's numbers of ``theirs``, default ``a`` and ``b``); no comparison where either is at
    chance level (its differences are noise)."""
    if chance := [label for e, label in ((a, label_a), (b, label_b)) if facts.at_chance(e)]:
        return _say("not_compared", label_a, label_b, chance)
    gap = facts.gap(a, b)
    exceeds = facts.exceeds_spread(a, b)
    return _say(
        "compare",
        label_a=label_a,
        label_b=label_b,
        gap=(gap > 0) - (gap < 0),
        points=fmt_num(abs(gap)),
        acc_a=acc_text(a),
        acc_b=acc_text(b),
        exceeds=exceeds,
        spread=None if exceeds is None else fmt_num(facts.spread([a, b])),
        differs=_unequal(a, b),
        paper=_paper_clause(a, b, theirs),
    )


def _unequal(a: Experiment, b: Experiment) -> dict[str, Any]:
    """:func:`unequal`'s facts: the ratio of the sets an epoch, the two's epochs; None where
    alike."""
    sets_a, sets_b = (len(str(e.get("sets") or "").split("+")) for e in (a, b))
    epochs_a, epochs_b = a.get("epochs"), b.get("epochs")
    differ = epochs_a is not None and epochs_b is not None and int(epochs_a) != int(epochs_b)
    return {
        "ratio": sets_a / sets_b if sets_a != sets_b else None,
        "epochs": (int(epochs_a), int(epochs_b)) if differ else None,
    }


def unequal(a: Experiment, b: Experiment) -> Markup:
    """What a comparison of ``a`` with ``b`` does not hold equal, said with it: ``, seeing
    twice the images an epoch`` (sets concatenated), ``, in 30 epochs against 20``; empty
    where the two see the same images for the same epochs."""
    return _say("unequal", **_unequal(a, b))


def _paper_clause(
    a: Experiment, b: Experiment, theirs: tuple[Experiment, Experiment] | None = None
) -> dict[str, Any] | None:
    """:func:`paper_clause`'s facts; None where the paper has no number for either."""
    pa, pb = theirs or (a, b)
    if not (has_paper(pa) and has_paper(pb)):
        return None
    return {
        "numbers": (paper_text(pa), paper_text(pb)),
        "order": facts.paper_order(pa, pb),
        "ours": facts.our_order(a, b),
        "best_of": None if pa is a and pb is b else (model_name(pa), model_name(pb)),
    }


def paper_clause(
    a: Experiment, b: Experiment, theirs: tuple[Experiment, Experiment] | None = None
) -> Markup:
    """``; the paper has the same order (35.9% vs 29.5%)`` and its variants; empty without.
    ``theirs``: the runs whose paper numbers to set against ours, when they are not ``a`` and
    ``b`` (a family's best in the paper, against its best here): then named."""
    clause = _paper_clause(a, b, theirs)
    return _say("paper_clause", **clause) if clause else Markup("")


def compare_group(exps: Sequence[Experiment]) -> Markup:
    """A comparison of two experiments (the last against the first), or a ranking of more."""
    names = labels(exps)
    if len(exps) == 2:
        return compare(exps[1], exps[0], names[1], names[0])
    ranked = [i for i in facts.ranked(exps) if not facts.at_chance(exps[i])]
    return _say(
        "ranking",
        [(names[i], acc_text(exps[i])) for i in ranked],
        [names[i] for i, e in enumerate(exps) if facts.at_chance(e)],
    )


def best_sentence(exps: Sequence[Experiment], not_run: Sequence[Experiment] = ()) -> Markup:
    """``The best model is DenseNet161 (run 11) with 51.0%`` (ties named together); with
    experiments ``not_run``, the best of the runs made, and whether the paper's best is one of
    those not yet run."""
    winners = facts.best_above_chance(exps)  # none: every run made is at chance level
    theirs = facts.paper_best([*exps, *not_run]) or []
    ours = {e["experiment"] for e in winners}
    if not theirs or facts.pending(theirs):
        agrees = "pending"
    elif {e["experiment"] for e in theirs} == ours:
        agrees = "same"
    else:
        agrees = "among" if any(e["experiment"] in ours for e in theirs) else "other"
    one = len(winners) == 1
    return _say(
        "best_sentence",
        names=[model_name(e) + ("" if one else stale_mark(e)) for e in winners],
        accuracy=(acc_text(winners[0]) if one else fmt_num(acc(winners[0]))) if winners else None,
        so_far=bool(not_run),
        theirs=[model_name(e) for e in theirs],
        paper=paper_text(theirs[0]) if theirs else None,
        agrees=agrees,
        NOT_RUN=NOT_RUN,
    )


def _tolerance(exps: Sequence[Experiment], tolerance: float) -> dict[str, Any]:
    """:func:`tolerance_sentence`'s facts."""
    n, total = facts.agreement(exps)
    bounds = [e for e in facts.compared(exps) if facts.bounded(e)]
    # a run at chance level is set against no number of the paper: said once, here
    chance = [e for e in exps if facts.has_results(e) and facts.at_chance(e) and facts.has_paper(e)]
    one = bounds[0] if len(bounds) == 1 else None
    return {
        "n": n,
        "total": total,
        "tolerance": fmt_short(tolerance),
        "bounds": len(bounds),
        "met": sum(facts.bound_met(e) for e in bounds),
        "bound": None
        if one is None
        else {
            "run": run_label(one),
            "below": fmt_short(one["paper_accuracy"]),
            "met": facts.bound_met(one),
            "diff": fmt_num(one.get("diff") or 0.0),
        },
        "chance": runs_phrase(chance) if chance else None,
        "chance_count": len(chance),
    }


def tolerance_sentence(
    exps: Sequence[Experiment], tolerance: float, capital: bool = True
) -> Markup:
    """``Of the 10 runs with a stated accuracy, 8 are within ±3 points of it; run 6, which the
    paper reports only as below 20%, stays below that.`` A bound is met or not: only a stated
    accuracy has a tolerance, and the count says which runs it covers."""
    return _say("tolerance_sentence", capital=capital, **_tolerance(exps, tolerance))


def _order(exps: Sequence[Experiment]) -> dict[str, int]:
    agree, total = facts.pair_agreement(exps)
    return {"agree": agree, "total": total}


def order_sentence(exps: Sequence[Experiment]) -> Markup:
    """How many pairs of runs the regeneration orders as the paper does."""
    return _say("order_sentence", **_order(exps))


def not_run_sentence(not_run: Sequence[Experiment], total: int) -> Markup:
    """``Of the 11 runs the configuration names, 5 are not yet run (runs 3, 4, 7, 8 and
    11).``"""
    return _say("not_run_sentence", total, len(not_run), runs_phrase(not_run), NOT_RUN)


def nothing_run(not_run: Sequence[Experiment]) -> Markup:
    """The sentence of a paper without results: no number, how many runs are not yet run."""
    return _say("nothing_run", len(not_run), runs_phrase(not_run), NOT_RUN)


def findings(
    exps: Sequence[Experiment], tolerance: float, not_run: Sequence[Experiment] = ()
) -> Markup:
    """The abstract's findings: the best model, the agreement, the order, over the runs made;
    how many the configuration names are not yet run."""
    if not exps:
        return nothing_run(not_run)
    parts = [best_sentence(exps, not_run), tolerance_sentence(exps, tolerance)]
    parts.append(order_sentence(exps))
    if not_run:
        parts = [p for p in parts if p] + [not_run_sentence(not_run, len(exps) + len(not_run))]
    return Markup(" ").join(parts)


# --- Section 1 and the recipe --------------------------------------------------------------------


def modes(
    exps: Sequence[Experiment],
    partial: Mapping[str, str],
    train_images: int,
    seed: int | None,
) -> Markup:
    """How the runs draw their augmentation; ``partial``: the runs on part of the data."""
    groups = []
    for mode, members in facts.grouped_by(exps, lambda e: e["mode"]).items():
        group = {"runs": runs_phrase(members), "mode": mode, "sets": None, "images": None}
        common = Counter(e["sets"] for e in members if e["experiment"] not in partial)
        if mode == "fixed" and common:
            sets = common.most_common(1)[0][0]
            group.update(sets=sets, images=fmt_int(facts.epoch_images(sets, train_images)))
        groups.append(group)
    return _say("modes", groups, seed)


def schedule(e: Experiment, settings: Mapping[str, Any] | None) -> str:
    """What a run does with its learning rate: ``divide it by 10 every 7 epochs (StepLR)``."""
    divisor, step_size = facts.step_schedule(settings) or (None, None)
    return sentences.text(
        PART,
        "schedule",
        None if divisor is None else fmt_short(divisor),
        step_size,
        e["scheduler"],
    )


def schedules(exps: Sequence[Experiment], settings: Mapping[str, Mapping[str, Any]]) -> Markup:
    """How each group of runs treats the learning rate: ``runs 1–5 keep it constant; ...``."""
    groups = facts.grouped_by(exps, lambda e: schedule(e, settings.get(e["experiment"])))
    return _say("schedules", [(runs_phrase(es), what) for what, es in groups.items()])


# --- the augmentation table ------------------------------------------------------------------


def op_params(spec: Mapping[str, Any], fmt: Callable[[Any], str]) -> str:
    """The parameters of an augmentation op: ``p = 0.5``; ``—`` for none."""
    return sentences.text(
        PART, "op_params", spec["op"], [(k, fmt(v)) for k, v in spec.items() if k != "op"]
    )


# --- Section 2: a model family -------------------------------------------------------------------


def description(text: str | None, arch: str, fallback: str, cite: Mapping[str, Markup]) -> Markup:
    """An architecture's recorded description, its {key} citations linked (``cite``:
    :func:`tinycnn.report.source.citations`); ``fallback`` (the config's description) where
    the run recorded none."""
    if not text:
        return Markup("{}.").format(fallback)
    try:
        return Markup(html.escape(text, quote=False)).format(**cite)
    except KeyError as err:
        raise UserError(
            f"the description of architecture {arch!r} cites {err}, which is not a reference "
            f"of the report (known: {', '.join(cite)})"
        ) from None


def architecture_paragraph(
    members: Sequence[tuple[Experiment, Markup, Any]],
) -> Markup:
    """Each model of a section: (its experiment, its description, its layer table or None)."""
    return _say(
        "architecture_paragraph",
        [
            (
                words,
                e["model"],
                None if e.get("parameters") is None else fmt_int(e["parameters"]),
                table,
            )
            for e, words, table in members
        ],
    )


def run_paragraph(
    e: Experiment, history: Sequence[Mapping[str, Any]], curves: Any, turn: int = 0
) -> Markup:
    """One run after the head of its paragraph, which names it with its settings
    (2_models.html.j2): accuracies (at chance level, if so), the paper's number, overfitting
    or divergence, training accuracy, in the wordings ``turn`` picks (each sentence has a few,
    taken in turn by the run's number). Its images are in the recipe table, the tolerance in
    the summary: said once, not in every run's paragraph."""
    chance = facts.at_chance(e)
    stale = None
    if facts.stale(e):
        stale = {
            "seeds": [s["seed"] for s in e["stale"]],
            "differs": list(dict.fromkeys(k for s in e["stale"] for k in s.get("differs") or [])),
        }
    theirs = e.get("paper_train_accuracy")
    training = e.get("final_train_acc_mean")
    return _say(
        "run_paragraph",
        turn=turn,
        acc=acc_text(e),
        seeds=facts.seeds(e),
        best_epoch=None if e.get("best_epoch") is None else int(e["best_epoch"]),
        chance=chance_words(e) if chance else None,
        top5=fmt_num(e["best_val_top5_mean"]),
        final=fmt_num(e["final_val_acc_mean"]),
        stale=stale,
        paper=_against_paper(e),
        loss=_diverged(e, history) if chance else _overfitting(history),
        training=None if training is None else fmt_num(training),
        theirs=None if theirs is None else fmt_short(theirs),
        curves=curves,
        STALE=STALE,
    )


def _against_paper(e: Experiment) -> dict[str, Any]:
    """:func:`against_paper`'s facts: none without a number of the paper."""
    if not has_paper(e):
        return {}
    diff = e.get("diff") or 0.0
    if facts.bounded(e):  # a bound is met or not: no tolerance
        return {
            "kind": "bound",
            "bound": fmt_short(e["paper_accuracy"]),
            "met": facts.bound_met(e),
            "diff": fmt_num(diff),
        }
    epoch = e.get("paper_best_epoch")
    return {
        "kind": "number",
        "paper": paper_text(e),
        "epoch": None if epoch is None else int(epoch),
        "level": round(diff, 1) == 0,
        "points": fmt_num(abs(diff)),
        "higher": diff > 0,
    }


def against_paper(e: Experiment) -> Markup:
    """The paper's number beside ours (whether that is within the tolerance, the summary's
    table and sentences say, once for every run)."""
    return _say("against_paper", **_against_paper(e))


def _diverged(e: Experiment, history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    fit = facts.diverged(history, facts.classes(e))
    if not fit:
        return {}
    low, last = fmt_loss(fit.low_loss), fmt_loss(fit.last_loss)
    return {"kind": "diverged", "low_epoch": fit.low_epoch, "low_loss": low, "last_loss": last}


def diverged(e: Experiment, history: Sequence[Mapping[str, Any]]) -> Markup:
    """Of a run at chance level: the trend of its losses says nothing, but that it diverged
    where its validation loss ends far above a guess's (twice ln classes)."""
    return _say("losses", **_diverged(e, history))


def _overfitting(history: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    fit = facts.overfitting(history)
    if fit is None:
        return {}
    return {
        "kind": "at_last" if fit.low_epoch == fit.last_epoch else "low",
        "low_epoch": fit.low_epoch,
        "low_loss": fmt_loss(fit.low_loss),
        "last_loss": fmt_loss(fit.last_loss),
        "overfits": fit.overfits,
    }


def overfitting(history: Sequence[Mapping[str, Any]], turn: int = 0) -> Markup:
    """Where a run's validation loss is lowest, where it ends, and whether the run overfits
    (the training loss falling on), in the wording ``turn`` picks."""
    return _say("losses", turn, **_overfitting(history))


def comparison_paragraph(title: str, figure: Any, exps: Sequence[Experiment]) -> Markup:
    waiting = facts.pending(exps)
    return _say(
        "comparison_paragraph",
        title,
        figure,
        [model_name(e) for e in waiting],
        None if waiting else compare_group(exps),
        NOT_RUN,
    )


def against_previous(section: Sequence[Experiment], previous: Sequence[Experiment]) -> Markup:
    """The best of a model family against the best of the one before, and their speed; not yet
    run where either family has no results."""
    empty = [group for group in (previous, section) if not facts.with_results(group)]
    if empty:
        models = dict.fromkeys(e["model"] for group in empty for e in group)
        return _say("against_previous", models=list(models), NOT_RUN=NOT_RUN)
    family = facts.against_family(section, previous)
    assert family is not None  # both families have results
    b, a = family.experiments
    theirs = family.theirs[::-1] if family.theirs else None  # (ours', the previous') paper bests
    ratio = facts.speed_ratio(a, b)
    speed = None
    if ratio is not None:
        ips = "images_per_second_mean"
        speed = {
            "model": a["model"],
            "ours": fmt_int(a[ips]),
            "theirs": fmt_int(b[ips]),
            "slower": fmt_short(ratio) if ratio > 1 else None,
            "faster": fmt_short(round(a[ips] / b[ips], 1)) if ratio < 1 else None,
        }
    return _say(
        "against_previous",
        compared=compare(a, b, model_name(a), model_name(b), theirs),
        speed=speed,
    )


# --- all runs against the paper, and the conclusion ----------------------------------------------


def summary_paragraph(
    exps: Sequence[Experiment],
    tolerance: float,
    table: Any,
    missing: Sequence[Experiment],
    waiting: Any = None,
) -> Markup:
    """The text before the reproduction table: ``exps`` the experiments with results,
    ``missing`` those the configuration names without (``waiting``, the table that lists
    them; ``table`` None when no run has results)."""
    if not exps:  # the abstract and the conclusion say that nothing is measured
        return _say("summary_paragraph", False, table, waiting)
    outside = [
        {
            "label": run_label(e),
            "model": e["model"],
            "diff": fmt_diff(e.get("diff")),
            "mark": stale_mark(e),
        }
        for e in facts.outside_tolerance(exps)
    ]
    mean = facts.mean_abs_diff(exps)
    stale = [e for e in exps if facts.stale(e)]
    return _say(
        "summary_paragraph",
        True,
        table,
        waiting,
        tolerance=_tolerance(exps, tolerance),
        outside=outside,
        mean=None if mean is None else fmt_num(mean),
        covered=len(facts.stated(facts.compared(exps))),
        missing=runs_phrase(missing) if missing else None,
        missing_count=len(missing),
        stale=runs_phrase(stale) if stale else None,
        stale_count=len(stale),
        order=_order(exps),
        STALE=STALE,
    )


def sides_paragraph(exps: Sequence[Experiment], figure: Any) -> Markup:
    """Which runs land above and which below the paper's stated accuracy."""
    stated = facts.stated(facts.compared(exps))
    if not stated:
        return _say("sides_paragraph", figure)
    counts = facts.sides(stated)
    return _say(
        "sides_paragraph",
        figure,
        stated=len(stated),
        above=counts[1],
        below=counts[-1],
        level=counts[0],
    )


def size_paragraph(exps: Sequence[Experiment], figure: Any) -> Markup:
    """Accuracy against model size: the largest, the smallest and the most accurate model."""
    sizes = facts.sizes(exps)
    if sizes is None:
        return _say("size_paragraph", figure)

    def model(row: Mapping[str, Any]) -> dict[str, str]:
        value = facts.top_of_model(exps, row["model"])
        at = [e for e in exps if e["model"] == row["model"] and acc(e) == value]
        top = fmt_num(value) + "%" + (stale_mark(at[0]) if at else "")
        return {"name": row["model"], "parameters": fmt_params(row["parameters"]), "top": top}

    largest, smallest, winner = sizes
    return _say(
        "size_paragraph",
        figure,
        largest=model(largest),
        smallest=model(smallest),
        winner=model(winner),
        at_chance=all(facts.at_chance(e) for e in exps if e["model"] == largest["model"]),
    )


def time_paragraph(jobs: Sequence[Mapping[str, Any]], figure: Any) -> Markup:
    """Accuracy against training time: the jobs' wall time in all, and the longest job."""
    longest = facts.longest(jobs)
    if longest is None:
        return _say("time_paragraph", figure)
    return _say(
        "time_paragraph",
        figure,
        longest={
            "jobs": len(jobs),
            "total": fmt_duration(sum(r["wall_seconds"] for r in jobs)),
            "devices": facts.devices(jobs),
            "experiment": longest["experiment"],
            "seed": longest["seed"],
            "run": None if longest.get("run") is None else int(longest["run"]),
            "model": longest.get("model", longest["experiment"]),
            "took": fmt_duration(longest["wall_seconds"]) + stale_mark(longest),
        },
    )


def conclusion(
    exps: Sequence[Experiment], tolerance: float, not_run: Sequence[Experiment] = ()
) -> Markup:
    """Best model and agreement with the paper over the runs made; how many are not yet run.
    The template follows it with the claims' count and :func:`comparisons_count`."""
    if not exps:
        return nothing_run(not_run)
    parts = [best_sentence(exps, not_run), tolerance_sentence(exps, tolerance)]
    if not_run:
        parts.append(not_run_sentence(not_run, len(exps) + len(not_run)))
    return Markup(" ").join(parts)


def suspects(exps: Sequence[Experiment]) -> Markup:
    """The conclusion's paragraph on why the regeneration departs from the paper: what the paper
    leaves unrecorded, and the seeds, said as measured where a run beyond the tolerance has
    several seeds: its gap within their spread (facts.spread, as displayed: the claims' rule,
    facts.within_spread) or beyond it."""
    within: list[dict[str, Any]] = []
    beyond: list[dict[str, Any]] = []
    for e in facts.outside_tolerance(exps):
        spread = facts.spread([e])  # None with one seed: it measures no noise
        if spread is None:
            continue
        said = {
            "label": run_label(e),
            "diff": fmt_diff(e["diff"]),
            "std": fmt_num(spread),
            "seeds": facts.seeds(e),
            "mark": stale_mark(e),
        }
        (within if facts.within_spread(round(e["diff"], 1), spread) else beyond).append(said)
    return _say("suspects", within=within, beyond=beyond)


def comparisons_count(comparisons: Sequence[Sequence[Any]]) -> Markup:
    """`` Section 2 draws 10 comparisons between runs. The paper states the order of 7 of them:
    5 come out in the same order here; not so “A” and “B”.`` over every comparison drawn
    (``comparisons``: facts.Drawn, or title and experiments, the later last), those with a run
    at chance level named apart; empty without any."""
    if not comparisons:
        return Markup("")
    ordered = [facts.Drawn(*c) for c in comparisons if facts.drawn_order(c) is not None]
    chance = [
        c.title
        for c in ordered
        if facts.at_chance(c.experiments[0]) or facts.at_chance(c.experiments[-1])
    ]
    settled = facts.settled(comparisons)
    return Markup(" ") + _say(
        "comparisons_count",
        drawn=len(comparisons),
        ordered=len(ordered),
        settled=len(settled),
        differ=[title for title, same in settled.items() if not same],
        chance=len(chance),
    )
