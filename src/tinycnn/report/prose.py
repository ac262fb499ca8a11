"""The words of the regenerated paper that depend on the results, Sections 1 and 2 and the
conclusion: comparisons, a family's and a run's paragraphs, the summary, the conclusion, and the
captions and notes whose words depend on what they show.

The claims', the ablations', the runs beyond the paper's and the provenance's words are in
:mod:`claim_words`, :mod:`ablation_words`, :mod:`beyond_words` and :mod:`provenance_words`; the
small words they share (names, marks, plurals) in :mod:`words`. The facts behind each sentence
come from :mod:`tinycnn.report.facts`, every number is printed by
:mod:`tinycnn.report.formatting`. The fixed words are the templates' (the repository's
report/: the sections in page order, the captions, the references).

An experiment is a mapping with the columns of experiments.csv (missing values None);
``settings`` maps an experiment to its runs' recorded resolved settings (settings.json).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from tinycnn.report import facts
from tinycnn.report.facts import Experiment, acc, has_paper
from tinycnn.report.formatting import (
    fmt_diff,
    fmt_duration,
    fmt_int,
    fmt_list,
    fmt_loss,
    fmt_num,
    fmt_params,
    fmt_short,
)
from tinycnn.report.words import (
    NOT_RUN,
    STALE,
    acc_text,
    capitalized,
    chance_words,
    labels,
    model_name,
    paper_text,
    plural,
    ref,
    run_label,
    runs_phrase,
    stale_mark,
)
from tinycnn.shared.errors import UserError

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
        if len(chance) == 2:
            return Markup("Neither {} nor {} rises above chance level: no comparison.").format(
                label_a, label_b
            )
        return Markup("{} and {} are not compared: {} is at chance level.").format(
            label_a, label_b, chance[0]
        )
    gap = facts.gap(a, b)
    if gap == 0:
        text = Markup("{} matches {} ({} and {})").format(
            label_a, label_b, acc_text(a), acc_text(b)
        )
    else:
        text = Markup("{} {} {} by {} points ({} against {})").format(
            label_a,
            "beats" if gap > 0 else "trails",
            label_b,
            fmt_num(abs(gap)),
            acc_text(a),
            acc_text(b),
        )
    exceeds = facts.exceeds_spread(a, b)
    if exceeds is not None:
        text += Markup(", a gap {} the spread of the seeds (±{} points)").format(
            "beyond" if exceeds else "within", fmt_num(facts.spread([a, b]))
        )
    return text + unequal(a, b) + paper_clause(a, b, theirs) + Markup(".")


def unequal(a: Experiment, b: Experiment) -> Markup:
    """What a comparison of ``a`` with ``b`` does not hold equal, said with it: ``, seeing
    twice the images an epoch`` (sets concatenated), ``, in 30 epochs against 20``; empty
    where the two see the same images for the same epochs."""
    out = Markup("")
    sets_a, sets_b = (len(str(e.get("sets") or "").split("+")) for e in (a, b))
    if sets_a != sets_b:
        ratio = sets_a / sets_b
        times = {2.0: "twice", 0.5: "half"}.get(ratio, f"{fmt_short(ratio)} times")
        out += Markup(", seeing {} the images an epoch").format(times)
    epochs_a, epochs_b = a.get("epochs"), b.get("epochs")
    if epochs_a is not None and epochs_b is not None and int(epochs_a) != int(epochs_b):
        out += Markup(", in {} epochs against {}").format(int(epochs_a), int(epochs_b))
    return out


def paper_clause(
    a: Experiment, b: Experiment, theirs: tuple[Experiment, Experiment] | None = None
) -> Markup:
    """``; the paper has the same order (35.9% vs 29.5%)`` and its variants; empty without.
    ``theirs``: the runs whose paper numbers to set against ours, when they are not ``a`` and
    ``b`` (a family's best in the paper, against its best here): then named."""
    pa, pb = theirs or (a, b)
    if not (has_paper(pa) and has_paper(pb)):
        return Markup("")
    numbers = f"{paper_text(pa)} vs {paper_text(pb)}"
    order, ours = facts.paper_order(pa, pb), facts.our_order(a, b)
    who, has = Markup("the paper"), "has"
    if pa is not a or pb is not b:
        who = Markup("the paper's best of each, {} and {},").format(model_name(pa), model_name(pb))
        has = "have"
    if order is None:
        return Markup("; the paper's figures ({}) do not order the two").format(numbers)
    if order == ours:
        same = "level" if order == 0 else "the same order"
        return Markup("; {} {} {} ({})").format(who, has, same, numbers)
    if order == 0 or ours == 0:
        return Markup("; {} {} {}").format(who, has, numbers)
    return Markup("; {} {} the opposite order ({})").format(who, has, numbers)


def compare_group(exps: Sequence[Experiment]) -> Markup:
    """A comparison of two experiments (the last against the first), or a ranking of more."""
    names = labels(exps)
    if len(exps) == 2:
        return compare(exps[1], exps[0], names[1], names[0])
    ranked = [i for i in facts.ranked(exps) if not facts.at_chance(exps[i])]
    parts = [Markup("{} ({})").format(names[i], acc_text(exps[i])) for i in ranked]
    text = Markup("Ranked by accuracy: {}.").format(Markup(", ").join(parts)) if parts else ""
    if chance := [names[i] for i, e in enumerate(exps) if facts.at_chance(e)]:
        text = Markup("{} {}{} at chance level, and not ranked.").format(
            text, fmt_list(chance), " is" if len(chance) == 1 else " are"
        )
    return Markup(text).strip()


def best_sentence(exps: Sequence[Experiment], not_run: Sequence[Experiment] = ()) -> Markup:
    """``The best model is DenseNet161 (run 11) with 51.0%`` (ties named together); with
    experiments ``not_run``, the best of the runs made, and whether the paper's best is one of
    those not yet run."""
    winners = facts.best_above_chance(exps)
    if not winners:  # every run made is at chance level: no best model
        out = Markup("No run made so far rises above chance level, so none is the best")
    elif len(winners) == 1:
        what = "Of the runs made so far, the best model is" if not_run else "The best model is"
        out = Markup("{} {} with {}").format(what, model_name(winners[0]), acc_text(winners[0]))
    else:
        who = fmt_list([model_name(e) + stale_mark(e) for e in winners])
        out = Markup("{} share the best accuracy, {}%").format(who, fmt_num(acc(winners[0])))
        out = Markup("Of the runs made so far, {}").format(out) if not_run else out
    theirs = facts.paper_best([*exps, *not_run])
    if not theirs:
        return out + Markup(".")
    if facts.pending(theirs):
        return out + Markup("; the paper's best, {} with {}, is {}.").format(
            fmt_list([model_name(e) for e in theirs]), paper_text(theirs[0]), NOT_RUN
        )
    ours = {e["experiment"] for e in winners}
    named = fmt_list([model_name(e) for e in theirs])
    if {e["experiment"] for e in theirs} == ours:
        return out + Markup(", as in the paper ({}).").format(paper_text(theirs[0]))
    if any(e["experiment"] in ours for e in theirs):
        return out + Markup("; the paper's best, {} with {}, is among them.").format(
            named, paper_text(theirs[0])
        )
    return out + Markup("; the paper's best is {} with {}.").format(named, paper_text(theirs[0]))


def tolerance_sentence(
    exps: Sequence[Experiment], tolerance: float, capital: bool = True
) -> Markup:
    """``Of the 10 runs with a stated accuracy, 8 are within ±3 points of it; run 6, which the
    paper reports only as below 20%, stays below that.`` A bound is met or not: only a stated
    accuracy has a tolerance, and the count says which runs it covers."""
    n, total = facts.agreement(exps)
    bounds = [e for e in facts.compared(exps) if facts.bounded(e)]
    # a run at chance level is set against no number of the paper: said once, here
    chance = [e for e in exps if facts.has_results(e) and facts.at_chance(e) and facts.has_paper(e)]
    apart = (
        Markup("{} {} at chance level and set against no number of the paper").format(
            runs_phrase(chance), "is" if len(chance) == 1 else "are"
        )
        if chance
        else None
    )
    if total == 0 and not bounds:
        if apart:
            return Markup(capitalized(apart) if capital else apart) + Markup(".")
        return Markup(f"{'T' if capital else 't'}he paper reports no accuracy to compare with.")
    parts = []
    if total:
        if total == 1:
            count = "the one run with a stated accuracy is" + ("" if n else " not")
        elif n == total:
            count = f"all {total} runs with a stated accuracy are"
        elif n == 0:
            count = f"none of the {total} runs with a stated accuracy is"
        else:
            # no sentence opens with a numeral: "of the 9 runs …, 7 are", not "7 of the 9 runs"
            count = f"of the {total} runs with a stated accuracy, {n} {'is' if n == 1 else 'are'}"
        parts.append(Markup("{} within ±{} points of it").format(count, fmt_short(tolerance)))
    if len(bounds) == 1:
        parts.append(
            Markup("{}, which the paper reports only as below {}%, {}").format(
                run_label(bounds[0]),
                fmt_short(bounds[0]["paper_accuracy"]),
                _bound_words(bounds[0]),
            )
        )
    elif bounds:
        met = sum(facts.bound_met(e) for e in bounds)
        parts.append(
            Markup("of the {} runs the paper reports only as a bound, {} {} below it").format(
                len(bounds), met, "stays" if met == 1 else "stay"
            )
        )
    if apart:
        parts.append(apart)
    text = Markup("; ").join(parts) + Markup(".")
    return Markup(capitalized(text)) if capital else text


def _bound_words(e: Experiment) -> str:
    """``stays below that`` or ``exceeds it by 3.1 points``: a bound has no tolerance."""
    if facts.bound_met(e):
        return "stays below that"
    return f"exceeds it by {fmt_num(e.get('diff') or 0.0)} points"


def order_sentence(exps: Sequence[Experiment]) -> Markup:
    """How many pairs of runs the regeneration orders as the paper does."""
    agree, total = facts.pair_agreement(exps)
    if total == 0:
        return Markup("")
    if total == 1:
        return Markup(
            "The one pair of runs whose order the paper's figures settle comes out in {} order "
            "here."
        ).format("the same" if agree else "another")
    return Markup(
        "Of the {} pairs of runs whose order the paper's figures settle, {} {} out in the "
        "same order here."
    ).format(total, agree, "comes" if agree == 1 else "come")


def not_run_sentence(not_run: Sequence[Experiment], total: int) -> Markup:
    """``Of the 11 runs the configuration names, 5 are not yet run (runs 3, 4, 7, 8 and
    11).``"""
    return Markup("Of the {} the configuration names, {} {} {} ({}).").format(
        plural(total, "run"),
        len(not_run),
        "is" if len(not_run) == 1 else "are",
        NOT_RUN,
        runs_phrase(not_run),
    )


def nothing_run(not_run: Sequence[Experiment]) -> Markup:
    """The sentence of a paper without results: no number, how many runs are not yet run."""
    if not not_run:
        return Markup("No run has results yet: nothing in this paper is measured.")
    every = "the one run" if len(not_run) == 1 else f"all {len(not_run)} runs"
    return Markup(
        "No run has results yet: {} the configuration names {} {} ({}), and nothing in this "
        "paper is measured."
    ).format(every, "is" if len(not_run) == 1 else "are", NOT_RUN, runs_phrase(not_run))


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
    by_mode = facts.grouped_by(exps, lambda e: e["mode"])
    parts = []
    for mode, members in by_mode.items():
        who = "All runs use" if len(by_mode) == 1 else f"{capitalized(runs_phrase(members))} use"
        if mode != "fixed":
            parts.append(
                Markup("{} the {} mode: the operations are drawn anew in every epoch.").format(
                    who, mode
                )
            )
            continue
        common = Counter(e["sets"] for e in members if e["experiment"] not in partial)
        size = ""
        if common:
            sets = common.most_common(1)[0][0]
            size = Markup(", so that a run on {} sees {} images an epoch").format(
                sets, fmt_int(facts.epoch_images(sets, train_images))
            )
        parts.append(
            Markup(
                "{} the fixed mode: each set is drawn once, before training{}, and the same "
                "augmented images return in every epoch{}."
            ).format(who, f" (seed {seed})" if seed is not None else "", size)
        )
    return Markup(" ").join(parts)


def schedule(e: Experiment, settings: Mapping[str, Any] | None) -> str:
    """What a run does with its learning rate: ``divide it by 10 every 7 epochs (StepLR)``."""
    if step := facts.step_schedule(settings):
        divisor, step_size = step
        return f"divide it by {fmt_short(divisor)} every {plural(step_size, 'epoch')} (StepLR)"
    if e["scheduler"] in (None, "none"):
        return "keep it constant"
    return f"follow the schedule {e['scheduler']}"


def schedules(exps: Sequence[Experiment], settings: Mapping[str, Mapping[str, Any]]) -> Markup:
    """How each group of runs treats the learning rate: ``runs 1–5 keep it constant; ...``."""
    groups = facts.grouped_by(exps, lambda e: schedule(e, settings.get(e["experiment"])))
    return Markup("; ").join(
        Markup("{} {}").format("all runs" if len(groups) == 1 else runs_phrase(es), what)
        for what, es in groups.items()
    )


# --- the augmentation table ------------------------------------------------------------------


def op_params(spec: Mapping[str, Any], fmt: Callable[[Any], str]) -> str:
    """The parameters of an augmentation op: ``p = 0.5``; ``—`` for none."""
    if spec["op"] == "normalize":
        return "mean and std of the training set"
    return ", ".join(f"{k} = {fmt(v)}" for k, v in spec.items() if k != "op") or "—"


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
    parts = []
    for e, text, table in members:
        if e.get("parameters") is not None:
            text += Markup(" {} has {} trainable parameters{}.").format(
                e["model"],
                fmt_int(e["parameters"]),
                Markup(" ({})").format(ref(table)) if table else "",
            )
        parts.append(text)
    return Markup(" ").join(parts)


# Each sentence of a run's paragraph in a few wordings, taken in turn by the run's number, so
# that eleven paragraphs of the same facts do not read as one form filled in eleven times.
PEAK = (
    "peaks at a validation accuracy of {}{}, with a top-5 accuracy of {}%, and ends at {}%. ",
    "reaches its best validation accuracy, {}{}, with {}% top-5, and ends at {}%. ",
    "is best on the validation images at {}{}, where its top-5 accuracy is {}%, and ends at {}%. ",
)
LOW = (
    " Its validation loss is lowest at epoch {} ({}) and ends at {}",
    " The validation loss bottoms out at epoch {} ({}) and ends at {}",
    " After epoch {}, where its validation loss is lowest ({}), that loss ends at {}",
)
OVERFITS = (
    " while the training loss keeps falling, a sign of overfitting",
    "; the training loss falls on: the model overfits",
    " as the training loss goes on falling, so the run overfits",
)
TRAINING = (
    " Training accuracy ends at {}%{}.",
    " On its training images it ends at {}%{}.",
    " Its last training accuracy is {}%{}.",
)


def run_paragraph(
    e: Experiment, history: Sequence[Mapping[str, Any]], curves: Any, turn: int = 0
) -> Markup:
    """One run after the head of its paragraph, which names it with its settings
    (2_models.html.j2): accuracies (at chance level, if so), the paper's number, overfitting
    or divergence, training accuracy, in the wordings ``turn`` picks. Its images are in the
    recipe table, the tolerance in the summary: said once, not in every run's paragraph."""
    n = facts.seeds(e)
    where = ""
    if e.get("best_epoch") is not None:
        where = f" ({'best seed: ' if n > 1 else ''}epoch {int(e['best_epoch'])})"
    if facts.at_chance(e):
        where += f", {chance_words(e)}"
    text = Markup(PEAK[turn % len(PEAK)]).format(
        acc_text(e),
        where,
        fmt_num(e["best_val_top5_mean"]),
        fmt_num(e["final_val_acc_mean"]),
    )
    if facts.stale(e):
        text += Markup("{}: {} recorded settings that today's configuration changes ({}); the "
                       "run must be redone. ").format(
            STALE, fmt_list([f"seed {s['seed']}" for s in e["stale"]]),
            ", ".join(dict.fromkeys(k for s in e["stale"] for k in s.get("differs") or [])),
        )  # fmt: skip
    text += against_paper(e)
    text += diverged(e, history) if facts.at_chance(e) else overfitting(history, turn)
    if e.get("final_train_acc_mean") is not None:
        theirs = e.get("paper_train_accuracy")
        text += Markup(TRAINING[turn % len(TRAINING)]).format(
            fmt_num(e["final_train_acc_mean"]),
            f" (the paper: about {fmt_short(theirs)}%)" if theirs is not None else "",
        )
    return text + (Markup(" Curves: {}.").format(ref(curves)) if curves else "")


def against_paper(e: Experiment) -> Markup:
    """The paper's number beside ours (whether that is within the tolerance, the summary's
    table and sentences say, once for every run)."""
    if not has_paper(e):
        return Markup("The paper reports no accuracy for this run.")
    diff = e.get("diff") or 0.0
    if facts.bounded(e):
        # A bound is met or not: no tolerance.
        bound = fmt_short(e["paper_accuracy"])
        if facts.bound_met(e):
            return Markup("The paper reports only that it stays below {}%, as ours does.").format(
                bound
            )
        return Markup(
            "The paper reports only that it stays below {}%; ours exceeds that by {} points."
        ).format(bound, fmt_num(diff))
    epoch = e.get("paper_best_epoch")
    at = f" at epoch {int(epoch)}" if epoch is not None else ""
    if round(diff, 1) == 0:
        return Markup("The paper reports {}{}, as ours.").format(paper_text(e), at)
    return Markup("The paper reports {}{}; ours is {} points {}.").format(
        paper_text(e), at, fmt_num(abs(diff)), "higher" if diff > 0 else "lower"
    )


def diverged(e: Experiment, history: Sequence[Mapping[str, Any]]) -> Markup:
    """Of a run at chance level: the trend of its losses says nothing, but that it diverged
    where its validation loss ends far above a guess's (twice ln classes)."""
    if fit := facts.diverged(history, facts.classes(e)):
        return Markup(" Its validation loss diverged, from {} at epoch {} to {}.").format(
            fmt_loss(fit.low_loss), fit.low_epoch, fmt_loss(fit.last_loss)
        )
    return Markup("")


def overfitting(history: Sequence[Mapping[str, Any]], turn: int = 0) -> Markup:
    fit = facts.overfitting(history)
    if fit is None:
        return Markup("")
    if fit.low_epoch == fit.last_epoch:
        return Markup(" Its validation loss is lowest at the last epoch, {}.").format(
            fmt_loss(fit.last_loss)
        )
    text = Markup(LOW[turn % len(LOW)]).format(
        fit.low_epoch, fmt_loss(fit.low_loss), fmt_loss(fit.last_loss)
    )
    if fit.overfits:
        text += Markup(OVERFITS[turn % len(OVERFITS)])
    return text + Markup(".")


def comparison_paragraph(title: str, figure: Any, exps: Sequence[Experiment]) -> Markup:
    if waiting := facts.pending(exps):
        return Markup("The comparison “{}” waits for {}, {} {}.").format(
            title,
            fmt_list([model_name(e) for e in waiting]),
            "which is" if len(waiting) == 1 else "which are",
            NOT_RUN,
        )
    where = Markup("{} ({})").format(ref(figure), title) if figure else title
    return Markup("{}: {}").format(where, compare_group(exps))


def against_previous(section: Sequence[Experiment], previous: Sequence[Experiment]) -> Markup:
    """The best of a model family against the best of the one before, and their speed; not yet
    run where either family has no results."""
    empty = [group for group in (previous, section) if not facts.with_results(group)]
    if empty:
        models = dict.fromkeys(e["model"] for group in empty for e in group)
        return Markup("The comparison with the previous family is {}: no run of {} has "
                      "results yet.").format(NOT_RUN, fmt_list(list(models)))  # fmt: skip
    family = facts.against_family(section, previous)
    assert family is not None  # both families have results
    b, a = family.experiments
    theirs = family.theirs[::-1] if family.theirs else None  # (ours', the previous') paper bests
    text = Markup("Against the previous family, {}").format(
        compare(a, b, model_name(a), model_name(b), theirs)
    )
    ratio = facts.speed_ratio(a, b)
    if ratio is not None:
        if ratio == 1:
            pace = "as fast"
        elif ratio > 1:
            pace = f"{fmt_short(ratio)}× slower"
        else:
            inverse = round(a["images_per_second_mean"] / b["images_per_second_mean"], 1)
            pace = f"{fmt_short(inverse)}× faster"
        text += Markup(" On the same device {} trains at {} images/s against {}, {}.").format(
            a["model"],
            fmt_int(a["images_per_second_mean"]),
            fmt_int(b["images_per_second_mean"]),
            pace,
        )
    return text


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
        return Markup("No run has results yet: {} lists every run and what it waits for.").format(
            ref(waiting)
        )
    # The abstract and the conclusion say the tolerance and not-run sentences as they are;
    # here they are part of the table's own sentence, so that none is said three times.
    text = Markup("{} sets every run{} beside the paper: {}").format(
        ref(table),
        " with results" if missing else "",
        tolerance_sentence(exps, tolerance, capital=False),
    )
    if outside := facts.outside_tolerance(exps):
        named = [
            f"{run_label(e)} ({e['model']}, {fmt_diff(e.get('diff'))} points{stale_mark(e)})"
            for e in outside
        ]
        text += Markup(" Beyond the tolerance: {}.").format(fmt_list(named))
    mean = facts.mean_abs_diff(exps)
    if mean is not None:
        covered = plural(len(facts.stated(facts.compared(exps))), "run")
        text += Markup(
            " Over the {} with a stated accuracy, ours lies on average {} points from it."
        ).format(covered, fmt_num(mean))
    if missing:
        text += Markup(" {} {} not yet trained ({}).").format(
            capitalized(runs_phrase(missing)), "is" if len(missing) == 1 else "are", ref(waiting)
        )
    if stale := [e for e in exps if facts.stale(e)]:
        text += Markup(" {} {} {} ({}): recorded with settings that today's configuration "
                       "resolves otherwise, {} must be redone.").format(
            capitalized(runs_phrase(stale)), "is" if len(stale) == 1 else "are", "stale",
            STALE, "it" if len(stale) == 1 else "they",
        )  # fmt: skip
    return text + Markup(" ") + order_sentence(exps)


def sides_paragraph(exps: Sequence[Experiment], figure: Any) -> Markup:
    """Which runs land above and which below the paper's stated accuracy."""
    stated = facts.stated(facts.compared(exps))
    text = Markup("{} plots our accuracies against the paper's.").format(ref(figure))
    if not stated:
        return text
    counts = facts.sides(stated)
    parts = [(counts[1], "above"), (counts[-1], "below"), (counts[0], "level with")]
    said = [f"{n} {'lands' if n == 1 else 'land'} {where}" for n, where in parts if n]
    if len(said) == 1 and len(stated) > 1:  # one side holds them all
        said = [f"all {said[0]}"]
    return text + Markup(" Of the {} with a stated accuracy, {} the paper's figure.").format(
        plural(len(stated), "run"), fmt_list(said)
    )


def size_paragraph(exps: Sequence[Experiment], figure: Any) -> Markup:
    text = Markup("{} relates accuracy to model size.").format(ref(figure))
    sizes = facts.sizes(exps)
    if sizes is None:
        return text

    def top(model: str) -> str:
        value = facts.top_of_model(exps, model)
        at = [e for e in exps if e["model"] == model and acc(e) == value]
        return fmt_num(value) + "%" + (stale_mark(at[0]) if at else "")

    largest, smallest, winner = sizes
    if largest["model"] == smallest["model"]:  # one model: nothing to relate size to
        return text + Markup(
            " Only {} ({} parameters) has results so far, so size and accuracy are not yet related."
        ).format(largest["model"], fmt_params(largest["parameters"]))
    text += Markup(" The largest model, {} ({} parameters), ").format(
        largest["model"], fmt_params(largest["parameters"])
    )
    at_chance = all(facts.at_chance(e) for e in exps if e["model"] == largest["model"])
    if largest["model"] == winner["model"]:
        text += Markup("is also the most accurate")
    elif at_chance:  # no comparison with a run at chance level
        text += Markup("stays at chance level ({})").format(top(largest["model"]))
    else:
        text += Markup("reaches {} at best, against {} for the most accurate, {} ({})").format(
            top(largest["model"]),
            top(winner["model"]),
            winner["model"],
            fmt_params(winner["parameters"]),
        )
    if smallest["model"] == winner["model"]:
        if at_chance:
            return text + Markup("; the smallest, {} ({}), is the most accurate, with {}.").format(
                smallest["model"], fmt_params(smallest["parameters"]), top(smallest["model"])
            )
        return text + Markup(", which is also the smallest.")
    return text + Markup("; the smallest, {} ({}), reaches {}.").format(
        smallest["model"], fmt_params(smallest["parameters"]), top(smallest["model"])
    )


def time_paragraph(jobs: Sequence[Mapping[str, Any]], figure: Any) -> Markup:
    text = Markup("{} relates accuracy to training time.").format(ref(figure))
    longest = facts.longest(jobs)
    if longest is None:
        return text
    job = f"{longest['experiment']}, seed {longest['seed']}"
    if longest.get("run") is not None:
        job = f"run {int(longest['run'])} ({longest.get('model', longest['experiment'])}, "
        job += f"seed {longest['seed']})"
    devices = fmt_list(facts.devices(jobs))
    return text + Markup(
        " This regeneration's {} of the paper's runs took {} of wall time in all{}; the "
        "longest, {}, took {}."
    ).format(
        plural(len(jobs), "training job"),
        fmt_duration(sum(r["wall_seconds"] for r in jobs)),
        f" on {devices}" if devices else "",
        job,
        fmt_duration(longest["wall_seconds"]) + stale_mark(longest),
    )


def conclusion(
    exps: Sequence[Experiment], tolerance: float, not_run: Sequence[Experiment] = ()
) -> Markup:
    """Best model and agreement with the paper over the runs made; how many are not yet run.
    The template follows it with the claims' count and :func:`comparisons_count`."""
    if not exps:
        return nothing_run(not_run)
    text = Markup("{} {}").format(best_sentence(exps, not_run), tolerance_sentence(exps, tolerance))
    if not_run:
        text += Markup(" ") + not_run_sentence(not_run, len(exps) + len(not_run))
    return text


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
    text = Markup(" Section 2 draws {} between runs.").format(
        plural(len(comparisons), "comparison")
    )
    if not ordered:
        return text + Markup(" The paper states the order of none of them.")
    text += Markup(" The paper states the order of {} of them").format(len(ordered))
    if settled:
        differ = [f"“{title}”" for title, same in settled.items() if not same]
        text += Markup(": {} in the same order here").format(
            plural(len(settled) - len(differ), "comes out", "come out")
        )
        if differ:
            text += Markup("; not so {}").format(fmt_list(differ))
    if chance:
        text += Markup("{} {} {} a run at chance level and {} nothing").format(
            ";" if settled else ":",
            plural(len(chance), "comparison") if settled else "each",
            "involves" if len(chance) == 1 or not settled else "involve",
            "settles" if len(chance) == 1 or not settled else "settle",
        )
    return text + Markup(".")
