"""The words of the regenerated paper: every sentence that depends on the results.

This is the one place for the paper's computed English: the paragraphs of Sections 2 and 3,
the captions of its tables and of the aggregate's figures (figures.json), the tables' notes.
The facts behind each sentence come from :mod:`tinycnn.report.facts`, every number is printed by
:mod:`tinycnn.formatting`. The template (templates/paper.html.j2) holds the layout and the fixed
narrative around these sentences, with values inserted through the same formatting filters.

An experiment is a mapping with the columns of experiments.csv (missing values None);
``settings`` maps an experiment to its runs' recorded resolved settings (settings.json).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from markupsafe import Markup

from tinycnn.errors import UserError
from tinycnn.formatting import (
    fmt_acc,
    fmt_diff,
    fmt_duration,
    fmt_int,
    fmt_list,
    fmt_loss,
    fmt_lr,
    fmt_num,
    fmt_paper,
    fmt_params,
    fmt_runs,
    fmt_setting,
    fmt_short,
)
from tinycnn.report import facts
from tinycnn.report.facts import Experiment, acc, has_paper

# How a label qualifies an experiment by a setting that differs (facts.DISTINGUISHING).
QUALIFIERS = {
    "sets": "{}",  # "set1", "set1+set2": the value names itself
    "lr": "lr {}",
    "scheduler": "scheduler {}",
    "epochs": "{} epochs",
    "mode": "{} mode",
    "batch_size": "batch {}",
}
# The original's number of the tables of layers it prints, by architecture; an architecture
# with a recorded layer table that is not here gets its table without the cross-reference.
ORIGINAL_TABLES = {"m1": 1, "m4": 2}
# What a table cell or a sentence says in place of a number of an experiment without results.
NOT_RUN = "not yet run"
# The mark after every number of a stale run (recorded under settings today's config changes).
STALE = "‡ stale"


# --- small pieces --------------------------------------------------------------------------------


def ref(item: Any) -> Markup:
    """A link to a figure or table, by its label."""
    return Markup('<a class="ref" href="#{}">{}</a>').format(item.id, item.label)


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def plural(n: int, word: str, plural: str | None = None) -> str:
    """``1 run``, ``2 runs``; ``plural`` for irregular words."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def name(e: Experiment) -> str:
    """``run 5`` (the paper's run number), or the experiment's name."""
    return f"run {int(e['run'])}" if e.get("run") is not None else e["experiment"]


def model_name(e: Experiment) -> str:
    """``M4 (run 5)``."""
    return f"{e['model']} ({name(e)})"


def stale_mark(e: Mapping[str, Any]) -> str:
    """`` ‡ stale`` after a number of a stale run (:func:`tinycnn.report.facts.stale`);
    else empty."""
    return f" {STALE}" if facts.stale(e) else ""


def acc_text(e: Experiment) -> str:
    """Our accuracy with a percent sign and, for several seeds, how many; marked if stale."""
    n = facts.seeds(e)
    text = fmt_acc(e["best_val_acc_mean"], e.get("best_val_acc_std"), n) + "%"
    return (f"{text} over {n} seeds" if n > 1 else text) + stale_mark(e)


def paper_text(e: Experiment) -> str:
    """The paper's accuracy with a percent sign, as stated."""
    return fmt_paper(e.get("paper_accuracy"), e.get("paper_stated")) + "%"


def labels(exps: Sequence[Experiment]) -> list[str]:
    """Names that tell ``exps`` apart: the model, qualified by the settings that differ."""
    varying = facts.varying(exps)
    out = []
    for e in exps:
        quals = [QUALIFIERS[c].format(fmt_setting(c, e.get(c))) for c in varying]
        out.append(f"{e['model']} ({', '.join(quals)})" if quals else e["model"])
    if len(set(out)) < len(out):
        out = [model_name(e) for e in exps]
    return out


def op_name(op: str) -> str:
    """An augmentation op by its torchvision name: ``random_horizontal_flip`` → ``Random...``."""
    return "".join(part.capitalize() for part in op.split("_"))


def runs_phrase(exps: Sequence[Experiment]) -> str:
    """``runs 1–5`` (paper run numbers), or the experiments' names where one has none."""
    if all(e.get("run") is not None for e in exps):
        return fmt_runs([int(e["run"]) for e in exps])
    return fmt_list([name(e) for e in exps])


def common_with_exceptions(
    values: Sequence[tuple[Experiment, Any]], fmt: Callable[[Any], str]
) -> str:
    """The most common value, then the others with their runs: ``1e-3 (1e-4: runs 3, 4)``."""
    ordered = facts.grouped([(e, fmt(v)) for e, v in values])
    main, rest = ordered[0][0], ordered[1:]
    if not rest:
        return main
    return f"{main} ({'; '.join(f'{v}: {runs_phrase(es)}' for v, es in rest)})"


def subset_phrase(settings: Mapping[str, Any] | None) -> str | None:
    """``the first 50 training images of each class``; None for a run on all the data."""
    what = {"train_per_class": "training", "val_per_class": "validation"}
    parts = [f"{fmt_int(n)} {what[key]}" for key, n in facts.subset(settings).items()]
    return f"the first {fmt_list(parts)} images of each class" if parts else None


def images_words(settings: Mapping[str, Any] | None, part: str) -> str:
    """A recipe table's cell for ``part`` "train" or "val": ``all``, ``first 12 a class``, or
    for a validation on held-out augmented training samples, ``10% of the augmented training
    samples, held out``."""
    train, val, source, fraction = facts.images(settings)
    if part == "train":
        return "all" if train is None else f"first {fmt_int(train)} a class"
    if source == "augmented_split":
        return f"{fmt_short(100 * fraction)}% of the augmented training samples, held out"
    return "all" if val is None else f"first {fmt_int(val)} a class"


def same_images_clause(settings: Sequence[Mapping[str, Any] | None]) -> tuple[str, str]:
    """(what follows "sets A beside B", a sentence after it) on whether the runs saw the same
    images: accuracies scored on different validation images compare only roughly."""
    seen = [facts.images(s) for s in settings]
    train_same = len({i[0] for i in seen}) == 1
    val_same = len({i[1:] for i in seen}) == 1
    if train_same and val_same:
        return ", on the same training and validation images", ""
    if val_same:
        return "", (
            " They trained on different shares of the training images (its rows “training "
            "images”) and are scored on the same validation images."
        )
    return "", (
        " They are scored on different validation images (its rows “training images” and "
        "“validation images”): their accuracies compare only roughly."
    )


def subsets(
    exps: Sequence[Experiment], settings: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """Experiments trained or validated on part of the data, and on which part."""
    phrases = {e["experiment"]: subset_phrase(settings.get(e["experiment"])) for e in exps}
    return {k: v for k, v in phrases.items() if v}


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
            return Markup("{} and {} are both at chance level, and not compared.").format(
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
    return text + paper_clause(a, b, theirs) + Markup(".")


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
    winners = facts.best(exps)
    if len(winners) == 1:
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
    """``8 of the 10 runs with a stated accuracy are within ±3 points of it; run 6, which the
    paper reports only as below 20%, stays below that.`` A bound is met or not: only a stated
    accuracy has a tolerance, and the count says which runs it covers."""
    n, total = facts.agreement(exps)
    bounds = [e for e in exps if facts.bounded(e)]
    if total == 0 and not bounds:
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
            count = f"{n} of the {total} runs with a stated accuracy {'is' if n == 1 else 'are'}"
        parts.append(Markup("{} within ±{} points of it").format(count, fmt_short(tolerance)))
    if len(bounds) == 1:
        parts.append(
            Markup("{}, which the paper reports only as below {}%, {}").format(
                name(bounds[0]), fmt_short(bounds[0]["paper_accuracy"]), _bound_words(bounds[0])
            )
        )
    elif bounds:
        met = sum(facts.bound_met(e) for e in bounds)
        parts.append(
            Markup("{} of the {} runs the paper reports only as a bound stay below it").format(
                met, len(bounds)
            )
        )
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
    """``5 of the 11 runs the configuration names are not yet run (runs 3, 4, 7, 8 and 11).``"""
    return Markup("{} of the {} the configuration names {} {} ({}).").format(
        len(not_run),
        plural(total, "run"),
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
    by_mode = facts.by(exps, lambda e: e["mode"])
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
    groups = facts.by(exps, lambda e: schedule(e, settings.get(e["experiment"])))
    return Markup("; ").join(
        Markup("{} {}").format("all runs" if len(groups) == 1 else runs_phrase(es), what)
        for what, es in groups.items()
    )


# --- table captions and notes --------------------------------------------------------------------


def layers_caption(model: str, arch: str) -> Markup:
    number = ORIGINAL_TABLES.get(arch)
    original = Markup(" (Table {} of the original)").format(number) if number else ""
    return Markup(
        "The {} architecture{}, generated from the model definition: output shape for one "
        "image and trainable parameters per layer."
    ).format(model, original)


def reproduction_note(recipe: Any, not_run: bool = False, stale: Sequence[str] = ()) -> Markup:
    """The reproduction table's note after the template's legend: ``recipe``, the table that
    gives the images of the runs on part of the data (†), None where every run used all of
    them; ``not_run``, whether some rows are not yet run; ``stale``, the stale runs, described."""
    note = Markup("")  # what the columns and the shading mean is the template's
    if recipe is not None:
        note += Markup(" † Trained or scored on part of the images ({} gives which).").format(
            ref(recipe)
        )
    if not_run:
        note += Markup(
            " Not yet run: the configuration names the run, which has no results yet; its "
            "settings are the configuration's."
        )
    if stale:
        note += Markup(" ") + stale_note(stale)
    return note


def stale_note(stale: Sequence[str]) -> Markup:
    """What ‡ stale means, with the stale runs (``run 2, seed 0: optimizer.lr, epochs``)."""
    return Markup(
        "{} Stale: {}. These runs recorded settings that today's configuration resolves "
        "otherwise; their numbers stand for what they recorded, and each must be redone."
    ).format(STALE.split()[0], "; ".join(stale))


def stale_reference(table: Any) -> Markup:
    """The short legend of ‡ stale under a table other than the reproduction table."""
    return Markup(
        "{}: a run recorded with settings that today's configuration resolves otherwise (see "
        "the note of {}); it must be redone."
    ).format(STALE, ref(table))


def preview_caption(draws: int | None, sets: Sequence[str]) -> Markup:
    """What a preview figure shows: the sets by name (and panel, where there are several)."""
    what = f"{draws} independent draws" if draws else "independent draws"
    named = (
        f"set {sets[0]}"
        if len(sets) == 1
        else "sets " + fmt_list([f"{s} ({chr(97 + i)})" for i, s in enumerate(sets)])
    )
    return Markup(
        "The augmentation {} at work: in each grid a row is one training image, the original "
        "on the left followed by {} of the set."
    ).format(named, what)


def op_params(spec: Mapping[str, Any], fmt: Callable[[Any], str]) -> str:
    """The parameters of an augmentation op: ``p = 0.5``; ``—`` for none."""
    if spec["op"] == "normalize":
        return "mean and std of the training set"
    return ", ".join(f"{k} = {fmt(v)}" for k, v in spec.items() if k != "op") or "—"


# --- figure captions -----------------------------------------------------------------------------

# What every figure draws alike (validation solid, training dashed, a colour a model, the seeds'
# mean and spread) is said once, in Section 2.1 of the template; the fixed captions are the
# template's (captions.html.j2); here, those whose words depend on the run drawn.


def curves_caption(e: Experiment) -> str:
    """Which run is drawn, how it was trained, and the paper's numbers for it (the lines that
    draw them are named in the legend and in Appendix A's first paragraph)."""
    seeds = facts.seeds(e)
    caption = (
        f"Experiment {e['experiment']}: {e['model']} on augmentation {e['sets']} ({e['mode']}), "
        f"learning rate {fmt_lr(e['lr'])}"
        + (", constant" if e["scheduler"] == "none" else f", scheduler {e['scheduler']}")
        + (f"; mean of {seeds} seeds" if seeds > 1 else "")
        + "."
    )
    if has_paper(e):
        best = "" if facts.bounded(e) else " at best"
        said = [f"{paper_text(e)}{best} (its Figure {e['paper_figure']})"]
        if e.get("paper_best_epoch") is not None:
            said.append(f"at epoch {int(e['paper_best_epoch'])}")
        if e.get("paper_train_accuracy") is not None:
            said.append(f"training accuracy about {fmt_short(e['paper_train_accuracy'])}%")
        caption += f" The paper: {', '.join(said)}."
    return caption


def comparison_caption(title: str, names: Sequence[str]) -> str:
    return f"{title}: accuracy (left) and loss (right) per epoch of {', '.join(names)}."


# --- Section 2: a model family -------------------------------------------------------------------


def description(text: str | None, arch: str, fallback: str) -> Markup:
    """An architecture's recorded description, its {key} citations linked; ``fallback`` (the
    config's description) where the run recorded none."""
    if not text:
        return Markup("{}.").format(fallback)
    try:
        return Markup(html.escape(text, quote=False)).format(**CITE)
    except KeyError as err:
        raise UserError(
            f"the description of architecture {arch!r} cites {err}, which is not a reference "
            f"of the report (known: {', '.join(CITE)})"
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


def run_paragraph(e: Experiment, history: Sequence[Mapping[str, Any]], curves: Any) -> Markup:
    """One run: settings, accuracies (at chance level, if so), the paper's number, overfitting
    or divergence, training accuracy. Its images are in the recipe table, the tolerance in the
    summary: said once, not in every run's paragraph."""
    n = facts.seeds(e)
    lr_schedule = "constant learning rate" if e["scheduler"] in (None, "none") else e["scheduler"]
    where = ""
    if e.get("best_epoch") is not None:
        where = f" ({'best seed: ' if n > 1 else ''}epoch {int(e['best_epoch'])})"
    if facts.at_chance(e):
        where += f", chance level for {round(100 / e['chance_acc'])} classes"
    text = Markup(
        "<strong>{}</strong> ({}; {}, lr {}, {}, {}) peaks at a validation accuracy of {}{}, "
        "with a top-5 accuracy of {}%, and ends at {}%. "
    ).format(
        capitalized(name(e)),
        e["model"],
        e["sets"],
        fmt_lr(e["lr"]),
        lr_schedule,
        plural(int(e["epochs"]), "epoch"),
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
    text += diverged(e, history) if facts.at_chance(e) else overfitting(history)
    if e.get("final_train_acc_mean") is not None:
        theirs = e.get("paper_train_accuracy")
        text += Markup(" Training accuracy ends at {}%{}.").format(
            fmt_num(e["final_train_acc_mean"]),
            f" (the paper: about {fmt_short(theirs)}%)" if theirs is not None else "",
        )
    return text + (Markup(" Curves: {}.").format(ref(curves)) if curves else "")


def not_run_paragraph(e: Experiment) -> Markup:
    """A run the configuration names that has no results: its settings as configured, and the
    paper's number; no number of ours."""
    lr_schedule = "constant learning rate" if e["scheduler"] in (None, "none") else e["scheduler"]
    text = Markup(
        "<strong>{}</strong> ({}; {}, lr {}, {}, {}) is {}: it has no results here. "
    ).format(
        capitalized(name(e)),
        e["model"],
        e["sets"],
        fmt_lr(e["lr"]) if e.get("lr") is not None else "—",
        lr_schedule,
        plural(int(e["epochs"]), "epoch"),
        NOT_RUN,
    )
    if not has_paper(e):
        return text + Markup("The paper reports no accuracy for this run.")
    epoch = e.get("paper_best_epoch")
    return text + Markup("The paper reports {}{}.").format(
        paper_text(e), f", at epoch {int(epoch)}" if epoch is not None else ""
    )


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
    if fit := facts.diverged(history, round(100 / e["chance_acc"])):
        return Markup(" Its validation loss diverged, from {} at epoch {} to {}.").format(
            fmt_loss(fit.low_loss), fit.low_epoch, fmt_loss(fit.last_loss)
        )
    return Markup("")


def overfitting(history: Sequence[Mapping[str, Any]]) -> Markup:
    fit = facts.overfitting(history)
    if fit is None:
        return Markup("")
    if fit.low_epoch == fit.last_epoch:
        return Markup(" Its validation loss is lowest at the last epoch, {}.").format(
            fmt_loss(fit.last_loss)
        )
    text = Markup(" Its validation loss is lowest at epoch {} ({}) and ends at {}").format(
        fit.low_epoch, fmt_loss(fit.low_loss), fmt_loss(fit.last_loss)
    )
    if fit.overfits:
        text += Markup(" while the training loss keeps falling, a sign of overfitting")
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
    empty = [group for group in (previous, section) if not facts.made(group)]
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
    exps: Sequence[Experiment], tolerance: float, table: Any, missing: Sequence[Experiment]
) -> Markup:
    """The text before the reproduction table: ``exps`` the experiments with results,
    ``missing`` those the configuration names without."""
    if not exps:  # the abstract and the conclusion say that nothing is measured
        return Markup("{} sets every run beside the paper; as none has results yet, its rows "
                      "show the paper's numbers alone.").format(ref(table))  # fmt: skip
    # The abstract and the conclusion say the tolerance and not-run sentences as they are;
    # here they are part of the table's own sentence, so that none is said three times.
    text = Markup("{} sets every run beside the paper: {}").format(
        ref(table), tolerance_sentence(exps, tolerance, capital=False)
    )
    if outside := facts.outside_tolerance(exps):
        named = [
            f"{name(e)} ({e['model']}, {fmt_diff(e.get('diff'))} points{stale_mark(e)})"
            for e in outside
        ]
        text += Markup(" Beyond the tolerance: {}.").format(fmt_list(named))
    mean = facts.mean_abs_diff(exps)
    if mean is not None:
        covered = plural(len(facts.stated(exps)), "run")
        text += Markup(
            " Over the {} with a stated accuracy, ours lies on average {} points from it."
        ).format(covered, fmt_num(mean))
    if missing:
        text += Markup(" {} {} not yet run; {} the paper's numbers alone.").format(
            capitalized(runs_phrase(missing)),
            "is" if len(missing) == 1 else "are",
            "its row shows" if len(missing) == 1 else "their rows show",
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
    stated = facts.stated(exps)
    text = Markup("{} plots our accuracies against the paper's.").format(ref(figure))
    if not stated:
        return text
    counts = facts.sides(stated)
    parts = [(counts[1], "above"), (counts[-1], "below"), (counts[0], "level with")]
    return text + Markup(" Of the {} with a stated accuracy, {} the paper's figure.").format(
        plural(len(stated), "run"),
        fmt_list([f"{n} {'lands' if n == 1 else 'land'} {where}" for n, where in parts if n]),
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
        " The paper's {} took {} of wall time in all{}; the longest, {}, took {}."
    ).format(
        plural(len(jobs), "training job"),
        fmt_duration(sum(r["wall_seconds"] for r in jobs)),
        f" on {devices}" if devices else "",
        job,
        fmt_duration(longest["wall_seconds"]) + stale_mark(longest),
    )


def conclusion(
    exps: Sequence[Experiment],
    tolerance: float,
    comparisons: Sequence[Sequence[Any]],
    claims: Sequence[Mapping[str, Any]] = (),
    not_run: Sequence[Experiment] = (),
) -> Markup:
    """Best model, agreement with the paper, which comparisons turn out as it says, and how its
    claims (claims.csv rows) fare, over the runs made; how many are not yet run."""
    if not exps:
        text = nothing_run(not_run)
    else:
        text = Markup("{} {}").format(
            best_sentence(exps, not_run), tolerance_sentence(exps, tolerance)
        )
        if not_run:
            text += Markup(" ") + not_run_sentence(not_run, len(exps) + len(not_run))
    if claims:
        text += Markup(" ") + claims_count(claims)
    return text + comparisons_count(comparisons)


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


# --- the paper's claims (claims.csv) -------------------------------------------------------------

# Why a claim is untested, or fails outright (contract.CLAIM_REASONS).
CLAIM_REASONS = {
    "no_results": NOT_RUN,
    "no_rival": "no other experiment to compare with",
    "one_epoch": "a run of one epoch has no curve",
    "no_rate_drop": "no run reaches a drop of the learning rate",
    "devices_differ": "the runs were timed on different devices",
    "training_loss_rises": "while the training loss does not fall",
    "still_rising": "the run is best at its last epoch: its peak lies beyond it",
    "at_chance": "a run involved is at chance level",
    "epochs_differ": "their epochs hold different numbers of images",
}
# A claim's quantity as the test and the measurement name it: (before, unit), by kind.
CLAIM_QUANTITIES = {
    "order": ("gap ", " points"),
    "difference": ("gap ", " points"),
    "best": ("", " points"),
    "threshold": ("", "%"),
    "train_accuracy": ("training accuracy ", "%"),
    "peak_epoch": ("best epoch ", ""),
    "overfitting": ("validation loss ", " after its low"),
    "peak_at_rate_drop": ("", "% of runs"),
    "ratio": ("", "×"),
    "stability": ("mean drop ", " points less"),
}
CLAIM_TESTS = {  # the kinds without a paper value: what "above zero" means
    "order": "gap > 0 points",
    "best": "ahead of every other experiment",
    "overfitting": "validation loss climbs back, training loss falls",
    "stability": "a smaller mean drop than the other",
}


def _claim_number(row: Mapping[str, Any], x: float, sign: bool = False) -> str:
    return fmt_num(x, facts.CLAIM_DECIMALS.get(row["kind"], 1), sign=sign)


def claim_test(row: Mapping[str, Any]) -> str:
    """The test a claim sets: ``gap 7.5 ± 3 points``, ``≤ 20%``, ``best epoch ≤ 7``."""
    kind = row["kind"]
    if kind in CLAIM_TESTS:
        return CLAIM_TESTS[kind]
    before, unit = CLAIM_QUANTITIES[kind]
    value = fmt_short(row["paper_value"])
    bound = {
        "approx": f"{value} ± {fmt_short(row.get('tolerance') or 0)}",
        "below": f"≤ {value}",
        "above": f"≥ {value}",
    }[row["stated"]]
    text = f"{before}{bound}{unit}"
    if kind == "peak_at_rate_drop":
        text += f" peak within {plural(int(row['window']), 'epoch')} after a rate drop"
    return text


def claim_reason(row: Mapping[str, Any], not_run: Sequence[str] = ()) -> str:
    """Why a claim has no measurement: ``a run involved is at chance level``, ``not yet run:
    m1_lr1e-4`` (``not_run`` naming the claim's experiments the configuration names without
    results); the table marks its cell and says it once, in its note."""
    reason = CLAIM_REASONS.get(row.get("reason") or "", "")
    if row.get("reason") == "no_results" and not_run:
        return f"{reason}: {fmt_list(list(not_run))}"
    return reason


def claim_measured(row: Mapping[str, Any]) -> str:
    """What we measured: ``gap +6.8 ± 1.2 points (n = 2)``, ``17.2% (n = 1)``, ``4 of 6 runs
    (66.7%)``; a claim without a measurement has :func:`claim_reason` instead."""
    kind, value, spread, n = row["kind"], row["measured"], row.get("spread"), int(row["n"])
    reason = CLAIM_REASONS.get(row.get("reason") or "", "")
    if kind == "peak_at_rate_drop":
        return f"{round(value * n / 100)} of {plural(n, 'run')} ({_claim_number(row, value)}%)"
    signed = kind in ("order", "difference", "best", "overfitting", "stability")
    before, unit = CLAIM_QUANTITIES[kind]
    number = _claim_number(row, value, sign=signed)
    if spread is not None:
        number += f" ± {_claim_number(row, spread)}"
    text = f"{before}{number}{unit}"
    if kind == "best":  # "69.2 points behind densenet161", never "−69.2 points ahead"
        rival = row["experiments"].split()[-1]
        text = f"{_claim_number(row, abs(value))}"
        text += f" ± {_claim_number(row, spread)}" if spread is not None else ""
        text += f" points {'ahead of' if value >= 0 else 'behind'} {rival}"
    if reason:
        text += f", {reason}"
    return text + f" (n = {n})"


def untested_note(reasons: Mapping[str, str]) -> Markup:
    """`` Untested (—), because: a, a run involved is at chance level; b, ...`` from the
    reasons and the letters that mark them in the claims table."""
    if not reasons:
        return Markup("")
    said = [Markup("<sup>{}</sup> {}").format(letter, why) for why, letter in reasons.items()]
    return Markup(" No measurement (—), because: {}.").format(Markup("; ").join(said))


def claims_count(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """``Of the paper's 19 claims, 12 hold here, 3 fail, 2 are within seed noise and 2 could
    not be tested.``"""
    counts = Counter(r["verdict"] for r in rows)
    words = {
        "holds": ("holds here", "hold here"),
        "fails": ("fails", "fail"),
        "within seed noise": ("is within seed noise", "are within seed noise"),
        "untested": ("could not be tested", "could not be tested"),
    }
    parts = [f"{counts[v]} {w[counts[v] != 1]}" for v, w in words.items() if counts[v]]
    return Markup("Of the paper's {}, {}.").format(
        plural(len(rows), "checked claim"), fmt_list(parts)
    )


# --- the ablations (ablations.csv) ---------------------------------------------------------------


def ablation_reading(row: Mapping[str, Any]) -> str:
    """A reading's name: ``base (m1_lr1e-3)`` or the variant's id."""
    return f"base ({row['experiment']})" if row["variant"] == "base" else row["variant"]


def ablation_changes(row: Mapping[str, Any]) -> str:
    """What a reading changes: ``augmentation.mode=online``; ``—`` for the base."""
    return row.get("overrides") or "—"


def ablation_ran(row: Mapping[str, Any]) -> bool:
    """Whether a reading has results (runs of its experiment)."""
    return bool(row.get("n_seeds"))


def ablation_accuracy(row: Mapping[str, Any]) -> str:
    """``30.0 ± 1.4`` over seeds (the n is its own column), marked if stale; ``not yet run``
    without results."""
    if not ablation_ran(row):
        return NOT_RUN
    if row.get("accuracy_mean") is None:
        return "—"
    accuracy = fmt_acc(row["accuracy_mean"], row.get("accuracy_std"), int(row["n_seeds"]))
    return accuracy + stale_mark(row)


def ablation_verdict(row: Mapping[str, Any]) -> str:
    """The table's last column: the base within or beyond tolerance; a variant closes the gap,
    narrows it, or not; ``—`` without a gap; ``not yet run`` without results."""
    if not ablation_ran(row):
        return NOT_RUN
    if row.get("closes_gap") is None:
        return "—"
    if row["variant"] == "base":
        if row.get("paper_stated") == "below":  # a bound is met or not: no tolerance
            return "meets the bound" if row["closes_gap"] else "above the bound"
        return "within tolerance" if row["closes_gap"] else "beyond tolerance"
    leak = " (a leak)" if _leaks(row) else ""
    if row["closes_gap"]:
        return "yes" + leak
    if _noise(row):  # the seeds cannot tell it from the base
        return "within seed noise" + leak
    return "narrows it" + leak if row.get("narrows_gap") else "no"


def _noise(row: Mapping[str, Any]) -> bool:
    return facts.flag(row, "within_seed_noise")


def _leaks(row: Mapping[str, Any]) -> bool:
    return facts.flag(row, "leak")


LEAK_SENTENCE = Markup(
    " This reading is a leak: it validates on held-out augmented copies of training images "
    "whose other augmented copies the model trains on. If it explains the paper's number, that "
    "number was measured on images the model had, in effect, trained on, not on the official "
    "validation images."
)


def ablation_caption(rows: Sequence[Mapping[str, Any]]) -> Markup:
    base = rows[0]
    paper = fmt_paper(base.get("paper_accuracy"), base.get("paper_stated"))
    return Markup("{}: each reading beside the base experiment {} and the paper's {}.").format(
        base["title"], base["experiment"], paper + ("%" if paper != "—" else "")
    )


def _agrees_words(row: Mapping[str, Any], agrees: bool = True) -> str:
    """``lands within the tolerance of`` (or ``beyond``) a stated accuracy; ``meets`` (or
    ``exceeds``) a bound, which has no tolerance."""
    if row.get("paper_stated") == "below":
        return "meets" if agrees else "exceeds"
    return f"lands {'within' if agrees else 'beyond'} the tolerance of"


def _reading_accuracy(row: Mapping[str, Any]) -> str:
    n = int(row["n_seeds"])
    text = fmt_acc(row["accuracy_mean"], row.get("accuracy_std"), n) + "%"
    return text + (f" over {n} seeds" if n > 1 else "") + stale_mark(row)


def _not_run_tail(readings: Sequence[str]) -> str:
    """`` Late is not yet run.``; empty for none."""
    if not readings:
        return ""
    verb = "is" if len(readings) == 1 else "are"
    return f" {capitalized(fmt_list(list(readings)))} {verb} {NOT_RUN}."


def ablation_sentence(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """The question's finding: the reading closest to the paper, and whether it closes the gap
    the base leaves. ``rows``: the question's rows of ablations.csv, the base first."""
    base, variants = rows[0], rows[1:]
    tail = _not_run_tail([ablation_reading(r) for r in variants if not ablation_ran(r)])
    closest = [r for r in rows if r.get("closest")]
    if not closest:
        waiting = [ablation_reading(r) for r in rows if not ablation_ran(r)]
        if len(waiting) == len(rows) == 2:
            return Markup("Neither {} nor {} has results yet.").format(*waiting)
        if len(waiting) == len(rows):
            return Markup("None of {} has results yet.").format(fmt_list(waiting))
        return Markup("No reading of this question can be set beside a paper number yet.{}").format(
            _not_run_tail(waiting)
        )
    paper = fmt_paper(base["paper_accuracy"], base["paper_stated"]) + "%"
    if any(r["variant"] == "base" for r in closest):
        # The base is shared by several questions: the nearest variant makes the sentence this
        # question's own.
        ran = [r for r in variants if ablation_ran(r) and r.get("gap") is not None]
        nearest = min(ran, key=lambda r: abs(r["gap"])) if ran else None
        if base.get("closes_gap"):
            text = Markup("The base already {} the paper's {} ({}, Δ {} points)").format(
                _agrees_words(base), paper, _reading_accuracy(base), fmt_diff(base["gap"])
            )
        else:
            text = Markup(
                "No variant comes closer to the paper's {} than the base ({}, Δ {} points)"
            ).format(paper, _reading_accuracy(base), fmt_diff(base["gap"]))
        if nearest is not None:
            text += Markup("; the nearest variant, {} ({}, Δ {} points), is no closer").format(
                nearest["variant"], _reading_accuracy(nearest), fmt_diff(nearest["gap"])
            )
        elif waiting := [ablation_reading(r) for r in variants if not ablation_ran(r)]:
            text += Markup("; {} {} {}").format(
                fmt_list(waiting), "is" if len(waiting) == 1 else "are", NOT_RUN
            )
            tail = ""
        if not base.get("closes_gap"):
            text += Markup(": none of these readings explains the gap")
        return text + Markup(".") + tail
    best = closest[0]
    against = Markup("the base's {} (Δ {})").format(
        _reading_accuracy(base) if ablation_ran(base) else "—", fmt_diff(base.get("gap"))
    )
    if not ablation_ran(base):
        against = Markup("the base, which is {}").format(NOT_RUN)
        verdict = "it " + _agrees_words(best, best.get("closes_gap")) + " the paper's number"
    elif best.get("closes_gap") and not base.get("closes_gap"):
        verdict = Markup(
            "it closes the gap the base leaves, so this reading can explain the paper's number"
        )
    elif best.get("closes_gap"):
        verdict = "the base already agreed with the paper's number"
    elif _noise(best):
        verdict = "the seeds' spread is as large as the gap it narrows: it explains nothing yet"
    else:
        verdict = "it narrows the gap without closing it"
    names = fmt_list([f"{r['variant']} ({ablation_changes(r)})" for r in closest])
    leak = LEAK_SENTENCE if any(_leaks(r) for r in closest) else Markup("")
    return Markup(
        "The reading closest to the paper's {} is {}: {}, Δ {} points, against {}; {}.{}{}"
    ).format(
        paper,
        names,
        _reading_accuracy(best),
        fmt_diff(best["gap"]),
        against,
        verdict,
        leak,
        tail,
    )


def ablations_summary(groups: Sequence[Sequence[Mapping[str, Any]]], number: str) -> Markup:
    """The conclusion's sentence on the ablations: how many questions have a reading, the
    closest to the paper, that closes the gap its base leaves, which, and which of those leak.
    ``groups``: each question's rows of ablations.csv, the base first."""

    def closer(rows: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        if rows[0].get("closes_gap") or not ablation_ran(rows[0]):
            return None
        return next((r for r in rows[1:] if r.get("closest") and r.get("closes_gap")), None)

    closing = [(rows[0]["title"], r) for rows in groups if (r := closer(rows))]
    what = "the one question" if len(groups) == 1 else f"the {len(groups)} questions"
    waiting = sum(not ablation_ran(r) for rows in groups for r in rows)
    pending = (
        Markup(" {} of their readings {} {}.").format(
            waiting, "is" if waiting == 1 else "are", NOT_RUN
        )
        if waiting
        else Markup("")
    )
    if waiting and waiting == sum(len(rows) for rows in groups):
        return Markup(
            "Of {} the paper leaves open and tried in Section {}, none can be answered yet: "
            "{} {} {}."
        ).format(
            what,
            number,
            "its one reading" if waiting == 1 else f"all {waiting} of their readings",
            "is" if waiting == 1 else "are",
            NOT_RUN,
        )
    agreeing = sum(bool(rows[0].get("closes_gap")) for rows in groups)  # no gap to close
    if not closing and agreeing == len(groups):
        return Markup(
            "Of {} the paper leaves open and tried in Section {}, none has a gap to explain: "
            "{} already lands within the tolerance of the paper's number.{}"
        ).format(what, number, "its base" if len(groups) == 1 else "the base of every one", pending)
    if not closing:
        already = (
            Markup(" (the base of {} of them already agrees with it)").format(agreeing)
            if agreeing
            else Markup("")
        )
        return Markup(
            "Of {} the paper leaves open and tried in Section {}, no reading closes the gap its "
            "base leaves to the paper's number{}.{}"
        ).format(what, number, already, pending)
    text = Markup("Of {} the paper leaves open and tried in Section {}, {} {} a reading that "
                  "closes the gap its base leaves to the paper's number: {}.").format(
        what, number, len(closing), "has" if len(closing) == 1 else "have",
        fmt_list([f"“{title}”" for title, _ in closing]),
    )  # fmt: skip
    leaking = [title for title, r in closing if _leaks(r)]
    if leaking:
        text += Markup(
            " For {} that reading is a leak, validation on held-out augmented copies of "
            "training images, not a reading of the paper's method."
        ).format(fmt_list([f"“{title}”" for title in leaking]))
    return text + pending


# --- beyond the paper ----------------------------------------------------------------------------
# A row is one of beyond.csv: a run beyond the paper (role "beyond") or a baseline of the paper.


def optimizer_words(spec: Mapping[str, Any]) -> str:
    """``SGD, Nesterov momentum 0.9``, ``RAdam, betas (0.9, 0.999), eps 1e-8``."""
    name = spec["name"]
    if name == "SGD":
        momentum = spec.get("momentum") or 0
        if not momentum:
            return "SGD"
        return f"SGD, {'Nesterov ' if spec.get('nesterov') else ''}momentum {fmt_short(momentum)}"
    parts = [name]
    if "betas" in spec:
        parts.append(f"betas ({', '.join(fmt_short(b) for b in spec['betas'])})")
    if "eps" in spec:
        parts.append(f"eps {fmt_lr(spec['eps'])}")
    return ", ".join(parts)


def schedule_words(spec: Mapping[str, Any] | None) -> str:
    """A learning-rate schedule in words: ``÷10 every 7 epochs``; ``constant``."""
    if spec is None:
        return "constant"
    if spec["name"] == "StepLR":
        divisor = fmt_short(round(1 / spec["gamma"], 6))
        return f"÷{divisor} every {plural(spec['step_size'], 'epoch')}"
    if spec["name"] == "warmup_cosine":
        final = spec["final_factor"]
        end = "0" if not final else f"{fmt_short(final)} × the rate"
        warmup = spec["warmup_epochs"]
        rise = f"linear warm-up over {plural(warmup, 'epoch')}, then " if warmup else ""
        return f"{rise}cosine decay to {end}, every batch"
    params = ", ".join(f"{k} {v}" for k, v in spec.items() if k != "name")
    return f"{spec['name']} ({params})"


def loss_words(spec: Mapping[str, Any] | None) -> str:
    """``cross-entropy``, ``cross-entropy, label smoothing 0.1``."""
    smoothing = (spec or {}).get("label_smoothing") or 0
    return "cross-entropy" + (f", label smoothing {fmt_short(smoothing)}" if smoothing else "")


def augmentation_words(aug: Mapping[str, Any]) -> str:
    """The sets of a run and their ops: ``set1 (RandomHorizontalFlip, CenterCrop, Resize) +
    set2 (...), fixed``."""
    ops = aug.get("ops") or {}
    sets = [
        f"{s} ({', '.join(op_name(o['op']) for o in ops.get(s, []) if o['op'] != 'normalize')})"
        for s in aug["sets"]
    ]
    return f"{' + '.join(sets)}, {aug['mode']}"


def beyond_caption(common_epoch: int | None) -> Markup:
    """``common_epoch``: the shortest run's length; None while no run beyond the paper ran."""
    after = Markup(
        f"top-1 after epoch {common_epoch} (the shortest run's length)"
        if common_epoch is not None
        else "top-1 after the shortest run's length (once the runs beyond the paper have run)"
    )
    return Markup(
        "The runs beyond the paper beside the paper's runs they are compared with: best "
        "validation top-1 (%) over the epochs (with several seeds, mean ± standard deviation), "
        "{}, the paper's number, the run's wall time (training and validation) and its "
        "training throughput."
    ).format(after)


def _seeds_margin(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """`` (beyond the seeds' spread of ±s)`` or `` (within ...)``; empty unless measured."""
    s = facts.spread([a, b])
    if s is None:
        return ""
    g = facts.gap(a, b)
    return f" ({'beyond' if abs(g) > s else 'within'} the seeds' spread of ±{fmt_num(s)})"


def _as_clause(text: str) -> str:
    """A description to follow a colon: its first word lowercased where it is a plain word
    ("A residual network" → "a residual network"), a name kept ("ResNet18 with a 3x3 stem")."""
    text = text.rstrip(".")
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[1:] == first[1:].lower() else text


def _points_from(gap: float) -> str:
    """``3.0 points above``, ``1.0 points below``, ``level with``: a gap in words, not a
    signed number of points "against" a run."""
    if round(gap, 1) == 0:
        return "level with"
    return f"{fmt_num(abs(gap))} points {'above' if gap > 0 else 'below'}"


def beyond_paragraph(
    rows: Sequence[Mapping[str, Any]],
    table: Any,
    recipe: Any,
    settings: Mapping[str, Mapping[str, Any] | None],
    models: Mapping[str, str] | None = None,
    figure: Any = None,
    preview: Any = None,
) -> Markup:
    """What the runs beyond the paper measured, against each baseline, at the best epoch and
    at the common epoch, and what they cost; whether they saw the same images (``settings``:
    each run's, as the recipe table shows them). ``models``: what a model the paper does not
    have is (its description), said where its name first appears; ``figure`` (their curves)
    and ``preview`` (their augmentation's draws) are referred to."""
    models = models or {}
    baselines = [r for r in rows if r["role"] == "baseline"]
    modern = [r for r in rows if r["role"] == "beyond"]
    commons = [r["common_epoch"] for r in rows if r.get("common_epoch") is not None]
    common = int(commons[0]) if commons else None
    same, apart = same_images_clause([settings.get(r["experiment"]) for r in rows])
    named = []
    for r in modern:
        what = models.get(r["model"])
        named.append(
            f"{r['experiment']} ({r['model']}: {_as_clause(what)})"
            if what and r["model"] not in [n["model"] for n in modern[: len(named)]]
            else f"{r['experiment']} ({r['model']})"
        )
    text = Markup("{} sets {} beside {}{}, and {} gives the recipe of each.{}").format(
        ref(table),
        fmt_list(named),
        fmt_list([f"the paper's {r['experiment']} ({r['model']})" for r in baselines])
        or "no run of the paper",
        same,
        ref(recipe),
        apart,
    )
    for m in modern:
        if not facts.ran(m):
            text += Markup(" {} is {}.").format(m["experiment"], NOT_RUN)
            continue
        made = facts.made(baselines)
        if facts.at_chance(m):  # its differences are noise: set against no run
            vs = [f"chance level for {round(100 / m['chance_acc'])} classes, set against no run"]
        else:
            vs = [
                f"{_points_from(facts.gap(m, b))} {b['experiment']}{stale_mark(b)}"
                f"{_seeds_margin(m, b)}"
                for b in made
                if not facts.at_chance(b)
            ]
            vs += [f"{b['experiment']} being at chance level" for b in made if facts.at_chance(b)]
        vs += [f"{b['experiment']} is {NOT_RUN}" for b in facts.pending(baselines)]
        at_common = m.get("common_epoch_val_acc_mean")
        sentence = Markup(" {} reaches {} at its best epoch ({} of {})").format(
            m["experiment"], acc_text(m), int(m["best_epoch"]), int(m["epochs"])
        )
        if vs:
            sentence += Markup(", {}").format(fmt_list(vs))
        if at_common is not None and common is not None and common < int(m["epochs"]):
            sentence += Markup("; after epoch {} it stood at {}%{}").format(
                common, fmt_num(at_common), stale_mark(m)
            )
        speed = m.get("images_per_second_mean")
        sentence += Markup(". It took {}{}.").format(
            fmt_duration(m["wall_seconds_mean"]) + stale_mark(m),
            f" at {fmt_int(speed)} training images per second" if speed else "",
        )
        text += sentence
    drawn = [f for f in (figure, preview) if f is not None]
    if figure is not None:
        text += Markup(" {} draws their curves beside the paper's runs'").format(ref(figure))
    if preview is not None:
        text += Markup("{} {} shows draws of their augmentation").format(
            ";" if figure is not None else "", ref(preview)
        )
    text += Markup(".") if drawn else Markup("")
    devices = list(dict.fromkeys(r["device_name"] for r in rows if r.get("device_name")))
    if len(devices) > 1:
        text += Markup(
            " The runs ran on different devices ({}): their times do not compare."
        ).format(fmt_list(devices))
    return text


# --- the reference runs (tinycnn paper-html --reference) ----------------------------------------


def reference_notice(
    reference: Mapping[str, Any], recorded: int, stale: int, devices: Sequence[str]
) -> Markup:
    """The paper's first lines with ``--reference``: what data and hardware made its numbers
    (``recorded`` runs, ``stale`` of them stale; ``devices`` where the reference names no
    hardware), and how many runs of the order are not yet run; or that none is recorded."""
    folder = reference.get("folder")
    where = f" ({folder})" if folder else ""
    planned = len(reference["planned"])
    if not recorded:
        return Markup(
            "<strong>No reference run recorded yet.</strong> No run has been recorded in the "
            "reference folder{} yet, so nothing in this paper is measured: every result reads "
            "“{}”. {} of the order {} planned."
        ).format(where, NOT_RUN, plural(planned, "run"), "is" if planned == 1 else "are")
    hardware = list(reference.get("hardware") or devices)
    archive = reference.get("archive") or {}
    details = [
        str(archive["name"]) if archive.get("name") else "",
        f"MD5 {archive['md5']}" if archive.get("md5") else "",
        f"{fmt_int(archive['size'])} bytes" if archive.get("size") else "",
    ]
    details = [d for d in details if d]
    data = Markup("the real Tiny ImageNet-200 archive{}").format(
        f" ({', '.join(details)})" if details else ""
    )
    if planned:
        rest = Markup("{} of the order {} {}").format(
            plural(planned, "run"), "is" if planned == 1 else "are", NOT_RUN
        )
    else:
        rest = Markup("every run of the order is recorded")
    text = Markup(
        "<strong>Reference runs.</strong> Numbers from {} reference {}{}{}, trained on {}; {}."
    ).format(
        recorded,
        "run" if recorded == 1 else "runs",
        f" on {'; '.join(hardware)}" if hardware else "",
        where,
        data,
        rest,
    )
    if stale:
        text += Markup(
            " {} of them {} stale ({}): {} recorded settings that today's configuration "
            "resolves otherwise, and every number of {} is marked; {} must be redone."
        ).format(
            stale,
            "is" if stale == 1 else "are",
            STALE,
            "it" if stale == 1 else "they",
            "it" if stale == 1 else "theirs",
            "it" if stale == 1 else "they",
        )
    return text


# --- references ----------------------------------------------------------------------------------

# The references (templates/references.yaml: the paper's source), in citation order.
REFERENCES: dict[str, str | None] = yaml.safe_load(
    (Path(__file__).resolve().parent / "templates" / "references.yaml").read_text(encoding="utf-8")
)
CITE = {
    key: Markup('<a class="cite" href="#ref-{}">[{}]</a>').format(key, i)
    for i, key in enumerate(REFERENCES, 1)
}


def references(config: Mapping) -> list[tuple[str, Markup]]:
    """(key, entry) in citation order; the original's entry comes from ``report``."""
    report = config["report"]
    original = report.get("original") or {}
    who = original.get("author", "The original author")
    where = ", ".join(str(original[k]) for k in ("affiliation", "year") if original.get(k))
    entry = f"{who}. {report['title']}." + (f" {where}." if where else "")
    entries = dict(REFERENCES, original=entry)
    return [(key, Markup.escape(text)) for key, text in entries.items()]


def numerics(precision: str | None, compile_mode: str | None) -> str:
    """How a run computed, for the timing table: "bf16 autocast, channels_last; compiled
    (reduce-overhead)"."""
    words = precision or ""
    if compile_mode and compile_mode != "none":
        words += f"; compiled ({compile_mode})"
    return words
