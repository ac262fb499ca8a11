"""The sentences of the regenerated paper, computed from the results.

Numbers are formatted by :mod:`tinycnn.formatting`. Comparative sentences compare the
displayed (rounded) values, so that "A beats B" never contradicts the numbers printed beside
it, and a rounded gap of zero reads as a tie. An experiment is a mapping with the columns of
``experiments.csv`` (missing values are None). ``Writer`` writes the paper's computed
paragraphs from the results; the narrative around them lives in the template.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
from markupsafe import Markup

from tinycnn.formatting import (
    fmt_acc,
    fmt_diff,
    fmt_duration,
    fmt_int,
    fmt_list,
    fmt_lr,
    fmt_num,
    fmt_paper,
    fmt_params,
    fmt_runs,
    fmt_short,
)

Experiment = Mapping[str, Any]
# Columns that tell two experiments apart, with how a qualifier names each.
DISTINGUISHING = {
    "sets": "sets {}",
    "lr": "lr {}",
    "scheduler": "scheduler {}",
    "epochs": "{} epochs",
    "mode": "{} mode",
    "batch_size": "batch {}",
}


# --- one experiment ----------------------------------------------------------------------------


def acc(e: Experiment) -> float:
    """Our best validation accuracy as displayed (rounded to one decimal)."""
    return round(e["best_val_acc_mean"], 1)


def acc_text(e: Experiment) -> str:
    """Our accuracy with a percent sign and, for several seeds, how many."""
    n = int(e.get("n_seeds") or 1)
    text = fmt_acc(e["best_val_acc_mean"], e.get("best_val_acc_std"), n) + "%"
    return f"{text} over {n} seeds" if n > 1 else text


def paper_text(e: Experiment) -> str:
    """The paper's accuracy with a percent sign, as stated."""
    return fmt_paper(e.get("paper_accuracy"), e.get("paper_stated")) + "%"


def has_paper(e: Experiment) -> bool:
    return e.get("paper_accuracy") is not None


def name(e: Experiment) -> str:
    """``run 5`` (the paper's run number), or the experiment's name."""
    return f"run {int(e['run'])}" if e.get("run") is not None else e["experiment"]


def within(e: Experiment) -> bool:
    """The aggregate's verdict: within the tolerance of the paper (False without a paper)."""
    return str(e.get("within_tolerance")).lower() == "true"


def labels(exps: Sequence[Experiment]) -> list[str]:
    """Names that tell ``exps`` apart: the model, qualified by the settings that differ."""
    varying = [c for c in DISTINGUISHING if len({str(e.get(c)) for e in exps}) > 1]
    out = []
    for e in exps:
        quals = [DISTINGUISHING[c].format(_setting(c, e.get(c))) for c in varying]
        out.append(f"{e['model']} ({', '.join(quals)})" if quals else e["model"])
    if len(set(out)) < len(out):
        out = [f"{e['model']} ({name(e)})" for e in exps]
    return out


def _setting(column: str, value: Any) -> str:
    if column == "lr" and value is not None:
        return fmt_lr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- orders ------------------------------------------------------------------------------------


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def paper_order(a: Experiment, b: Experiment) -> int | None:
    """+1 when the paper puts ``a`` above ``b``, −1 below, 0 level, None when it cannot say.

    "below X" is the interval up to X: it orders only against a number at or above X.
    """
    if not (has_paper(a) and has_paper(b)):
        return None
    pa, pb = a["paper_accuracy"], b["paper_accuracy"]
    below_a, below_b = a.get("paper_stated") == "below", b.get("paper_stated") == "below"
    if below_a and below_b:
        return None
    if below_a:
        return -1 if pa <= pb else None
    if below_b:
        return 1 if pb <= pa else None
    return _sign(pa - pb)


def our_order(a: Experiment, b: Experiment) -> int:
    return _sign(round(acc(a) - acc(b), 1))


def compare(a: Experiment, b: Experiment, label_a: str, label_b: str) -> Markup:
    """One sentence: how ``a`` does against ``b`` here, and whether the paper agrees."""
    gap = round(acc(a) - acc(b), 1)
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
    stds = [e.get("best_val_acc_std") or 0.0 for e in (a, b) if int(e.get("n_seeds") or 1) > 1]
    if stds and gap != 0 and abs(gap) <= max(stds):
        text += Markup(", a gap no larger than the spread between seeds")
    return text + paper_clause(a, b) + Markup(".")


def paper_clause(a: Experiment, b: Experiment) -> Markup:
    """``; the paper has the same order (35.9% vs 29.5%)`` and its variants; empty without."""
    if not (has_paper(a) and has_paper(b)):
        return Markup("")
    numbers = f"{paper_text(a)} vs {paper_text(b)}"
    theirs, ours = paper_order(a, b), our_order(a, b)
    if theirs is None:
        return Markup("; the paper's figures ({}) do not order the two").format(numbers)
    if theirs == ours:
        same = "level" if theirs == 0 else "the same order"
        return Markup("; the paper has {} ({})").format(same, numbers)
    if theirs == 0 or ours == 0:
        return Markup("; the paper has {}").format(numbers)
    return Markup("; the paper has the opposite order ({})").format(numbers)


def compare_group(exps: Sequence[Experiment]) -> Markup:
    """A comparison of two experiments (the last against the first), or a ranking of more."""
    names = labels(exps)
    if len(exps) == 2:
        return compare(exps[1], exps[0], names[1], names[0])
    ranked = sorted(zip(exps, names, strict=True), key=lambda p: -acc(p[0]))
    parts = [Markup("{} ({})").format(n, acc_text(e)) for e, n in ranked]
    return Markup("Ranked by accuracy: {}.").format(Markup(", ").join(parts))


def pair_agreement(exps: Sequence[Experiment]) -> tuple[int, int]:
    """(pairs ordered as the paper orders them, pairs the paper orders) over ``exps``."""
    agree = total = 0
    for i, a in enumerate(exps):
        for b in exps[i + 1 :]:
            theirs = paper_order(a, b)
            if theirs is not None:
                total += 1
                agree += theirs == our_order(a, b)
    return agree, total


# --- the whole set of runs ---------------------------------------------------------------------


def best(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments with the highest displayed accuracy (several on a tie)."""
    top = max(acc(e) for e in exps)
    return [e for e in exps if acc(e) == top]


def best_sentence(exps: Sequence[Experiment]) -> Markup:
    """``The best model is DenseNet161 (run 11) with 51.0%`` (ties named together)."""
    winners = best(exps)
    who = fmt_list([f"{e['model']} ({name(e)})" for e in winners])
    if len(winners) == 1:
        out = Markup("The best model is {} with {}").format(who, acc_text(winners[0]))
    else:
        out = Markup("{} share the best accuracy, {}%").format(who, fmt_num(acc(winners[0])))
    reported = [e for e in exps if has_paper(e) and e.get("paper_stated") != "below"]
    if not reported:
        return out + Markup(".")
    top = max(e["paper_accuracy"] for e in reported)
    theirs = [e for e in reported if e["paper_accuracy"] == top]
    ours = {e["experiment"] for e in winners}
    named = fmt_list([f"{e['model']} ({name(e)})" for e in theirs])
    if {e["experiment"] for e in theirs} == ours:
        return out + Markup(", as in the paper ({}).").format(paper_text(theirs[0]))
    if any(e["experiment"] in ours for e in theirs):
        return out + Markup("; the paper's best, {} with {}, is among them.").format(
            named, paper_text(theirs[0])
        )
    return out + Markup("; the paper's best is {} with {}.").format(named, paper_text(theirs[0]))


def tolerance_sentence(exps: Sequence[Experiment], tolerance: float) -> Markup:
    """``8 of 11 runs are within ±3 points of the accuracy the paper reports.``"""
    total = sum(has_paper(e) for e in exps)
    if total == 0:
        return Markup("The paper reports no accuracy to compare with.")
    n = sum(has_paper(e) and within(e) for e in exps)
    if total == 1:
        count = "The one run with a reported accuracy is" if n else "The one run is not"
    elif n == total:
        count = f"All {total} runs are"
    elif n == 0:
        count = f"None of the {total} runs is"
    else:
        count = f"{n} of {total} runs {'is' if n == 1 else 'are'}"
    return Markup("{} within ±{} points of the accuracy the paper reports.").format(
        count, fmt_short(tolerance)
    )


def order_sentence(exps: Sequence[Experiment]) -> Markup:
    """How many pairs of runs the regeneration orders as the paper does."""
    agree, total = pair_agreement(exps)
    if total == 0:
        return Markup("")
    return Markup(
        "Of the {} pairs of runs whose order the paper's figures settle, {} come out in the "
        "same order here."
    ).format(total, agree)


def mean_abs_diff(exps: Sequence[Experiment]) -> float | None:
    """Mean |ours − paper| over the runs with a stated (not upper-bound) accuracy."""
    diffs = [
        abs(e["diff"])
        for e in exps
        if e.get("diff") is not None and e.get("paper_stated") != "below"
    ]
    return sum(diffs) / len(diffs) if diffs else None


# --- small pieces the tables and captions use ---------------------------------------------------


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
    groups: dict[str, list[Experiment]] = {}
    for e, v in values:
        groups.setdefault(fmt(v), []).append(e)
    ordered = sorted(groups.items(), key=lambda item: -len(item[1]))
    main, rest = ordered[0][0], ordered[1:]
    if not rest:
        return main
    return f"{main} ({'; '.join(f'{v}: {runs_phrase(es)}' for v, es in rest)})"


def subsets(exps: Sequence[Experiment], resolved: Mapping[str, Mapping]) -> dict[str, str]:
    """Experiments trained or validated on part of the data, and on which part."""
    out = {}
    for e in exps:
        subset = (resolved.get(e["experiment"]) or {}).get("subset") or {}
        parts = [
            f"{subset[key]:,} {what}"
            for key, what in (("train_per_class", "training"), ("val_per_class", "validation"))
            if subset.get(key)
        ]
        if parts:
            out[e["experiment"]] = f"the first {fmt_list(parts)} images of each class"
    return out


def reproduction_note(partial: Sequence[str], tolerance: float) -> Markup:
    """The reproduction table's legend; ``partial``: runs on part of the data, described."""
    note = Markup(
        "Paper: as the paper states it (~ approximate, &lt; an upper bound). Ours: the best "
        "top-1 validation accuracy over the epochs; with several seeds, mean ± standard "
        "deviation over the n seeds. Δ: ours minus the paper's, in points. Shaded rows differ "
        "from the paper by more than the ±{}-point tolerance."
    ).format(fmt_short(tolerance))
    if partial:
        note += Markup(" † Trained on part of the data: {}.").format("; ".join(partial))
    return note


def preview_caption(draws: int | None) -> Markup:
    what = f"{draws} independent draws" if draws else "independent draws"
    return Markup(
        "The augmentation sets at work: in each grid a row is one training image, the original "
        "on the left followed by {} of the set."
    ).format(what)


# --- references --------------------------------------------------------------------------------

REFERENCES = {
    "original": "",  # from the config
    "tiny": "Y. Le and X. Yang. Tiny ImageNet visual recognition challenge. CS231n course "
    "report, Stanford University, 2015. Data: http://cs231n.stanford.edu/tiny-imagenet-200.zip.",
    "ting": "J. Ting. Course project report on Tiny ImageNet classification, CS231n: "
    "Convolutional Neural Networks for Visual Recognition, Stanford University (the source of "
    "models M1 and M4).",
    "alexnet": "A. Krizhevsky, I. Sutskever and G. E. Hinton. ImageNet classification with deep "
    "convolutional neural networks. NeurIPS, 2012.",
    "resnet": "K. He, X. Zhang, S. Ren and J. Sun. Deep residual learning for image "
    "recognition. CVPR, 2016.",
    "preact": "K. He, X. Zhang, S. Ren and J. Sun. Identity mappings in deep residual networks. "
    "ECCV, 2016.",
    "densenet": "G. Huang, Z. Liu, L. van der Maaten and K. Q. Weinberger. Densely connected "
    "convolutional networks. CVPR, 2017.",
    "radam": "L. Liu, H. Jiang, P. He, W. Chen, X. Liu, J. Gao and J. Han. On the variance of "
    "the adaptive learning rate and beyond. ICLR, 2020.",
}
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


# What each architecture is, in words (citations by key). Unknown architectures get the config's
# description instead.
ARCH_NOTES = {
    "m1": "J. Ting's baseline {ting}: a plain stack of convolution–ReLU layers, each followed "
    "by max-pooling, then a fully connected hidden layer and the classifier.",
    "m4": "J. Ting's best model {ting}: deeper and wider than M1, with pairs of convolution–ReLU "
    "layers before each max-pooling and the same classifier head.",
    "alexnet": "The ImageNet network of Krizhevsky et al. {alexnet}, kept whole up to its "
    "ImageNet-sized output and followed by one more fully connected layer that maps that output "
    "to the classes here; it has no batch normalization.",
    "resnet18": "A residual network {resnet}: stages of basic blocks whose output adds the "
    "block's input back through a shortcut, with batch normalization after every convolution.",
    "resnet34": "A deeper residual network {resnet} of basic blocks, each of which adds its "
    "input back to its output through a shortcut, with batch normalization after every "
    "convolution.",
    "resnet34_preact": "ResNet34 rebuilt from full pre-activation blocks {preact}: batch "
    "normalization and ReLU come before each convolution, and the shortcut carries the signal "
    "with no nonlinearity on its path.",
    "densenet161": "A densely connected network {densenet}: inside a dense block every layer "
    "receives the feature maps of all the layers before it, and transition layers between the "
    "blocks compress and downsample.",
}


# --- the text of the paper ----------------------------------------------------------------------


def ref(item: Any) -> Markup:
    """A link to a figure or table, by its label."""
    return Markup('<a class="ref" href="#{}">{}</a>').format(item.id, item.label)


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def plural(n: int, word: str, plural: str | None = None) -> str:
    """``1 run``, ``2 runs``; ``plural`` for irregular words."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


class Writer:
    """The paper's computed text, written from the results; cites the document's items.

    ``doc`` holds the model ``sections``, the ``results_table``, the ``summary_figures`` and the
    ``curves`` by experiment; ``history(experiment)`` gives per-epoch metrics (seed mean).
    """

    def __init__(
        self,
        exps: Sequence[Experiment],
        config: Mapping,
        stats: Mapping,
        resolved: Mapping[str, Mapping],
        history: Callable[[str], pd.DataFrame],
        provenance: Mapping,
        doc: Mapping[str, Any],
    ) -> None:
        self.exps = list(exps)
        self.config = config
        self.report = config["report"]
        self.tolerance = float(self.report["tolerance"])
        self.stats = stats
        self.resolved = resolved
        self.history = history
        self.provenance = provenance
        self.doc = doc
        self.subsets = subsets(self.exps, resolved)

    def front(self) -> dict[str, Any]:
        """The computed text outside the model subsections, by place in the template."""
        return {
            "findings": Markup(" ").join(
                [
                    best_sentence(self.exps),
                    tolerance_sentence(self.exps, self.tolerance),
                    order_sentence(self.exps),
                ]
            ),
            "modes": self._modes(),
            "schedules": self._schedules(),
            "summary": self.summary(),
            "conclusion": self.conclusion(),
        }

    def _modes(self) -> Markup:
        by_mode: dict[str, list[Experiment]] = {}
        for e in self.exps:
            by_mode.setdefault(e["mode"], []).append(e)
        parts = []
        for mode, exps in by_mode.items():
            who = "All runs use" if len(by_mode) == 1 else f"{capitalized(runs_phrase(exps))} use"
            if mode != "fixed":
                parts.append(
                    Markup("{} the {} mode: the operations are drawn anew in every epoch.").format(
                        who, mode
                    )
                )
                continue
            common = Counter(e["sets"] for e in exps if e["experiment"] not in self.subsets)
            size = ""
            if common:
                sets = common.most_common(1)[0][0]
                images = len(sets.split("+")) * self.stats["train"]
                size = Markup(", so that a run on {} sees {} images an epoch").format(
                    sets, fmt_int(images)
                )
            seed = self.config["augmentation"].get("seed")
            parts.append(
                Markup(
                    "{} the fixed mode: each set is drawn once, before training{}, and the same "
                    "augmented images return in every epoch{}."
                ).format(who, f" (seed {seed})" if seed is not None else "", size)
            )
        return Markup(" ").join(parts)

    def _schedules(self) -> Markup:
        """How each group of runs treats the learning rate: ``runs 1–5 keep it constant; ...``."""
        schedules: dict[str, list[Experiment]] = {}
        for e in self.exps:
            schedules.setdefault(self._schedule(e), []).append(e)
        return Markup("; ").join(
            Markup("{} {}").format("all runs" if len(schedules) == 1 else runs_phrase(es), what)
            for what, es in schedules.items()
        )

    def _schedule(self, e: Experiment) -> str:
        scheduler = (self.resolved.get(e["experiment"]) or {}).get("scheduler")
        if scheduler and scheduler.get("name") == "StepLR":
            return (
                f"divide it by {fmt_short(1 / scheduler['gamma'])} every "
                f"{plural(scheduler['step_size'], 'epoch')} (StepLR)"
            )
        if e["scheduler"] in (None, "none"):
            return "keep it constant"
        return f"follow the schedule {e['scheduler']}"

    def model_section(self, section: Any) -> list[Markup]:
        """The architecture, every run, the configured comparisons, the previous family."""
        paragraphs = [self._architectures(section)]
        paragraphs += [self.run_paragraph(e) for e in section.experiments]
        for c in section.comparisons:
            where = Markup("{} ({})").format(ref(c.figure), c.title) if c.figure else c.title
            paragraphs.append(Markup("{}: {}").format(where, compare_group(c.experiments)))
        sections = list(self.doc["sections"])
        index = sections.index(section)
        if index > 0:
            paragraphs.append(self._against(section, sections[index - 1]))
        return paragraphs

    def _architectures(self, section: Any) -> Markup:
        parts = []
        for model, e in {e["model"]: e for e in section.experiments}.items():
            note = ARCH_NOTES.get(e["arch"])
            description = self.config["models"].get(model, {}).get("description", model)
            text = Markup(note).format(**CITE) if note else Markup("{}.").format(description)
            if e.get("parameters") is not None:
                table = next((t for t in section.tables if t.key == model), None)
                text += Markup(" {} has {} trainable parameters{}.").format(
                    model,
                    fmt_int(e["parameters"]),
                    Markup(" ({})").format(ref(table)) if table else "",
                )
            parts.append(text)
        return Markup(" ").join(parts)

    def run_paragraph(self, e: Experiment) -> Markup:
        n = int(e.get("n_seeds") or 1)
        schedule = "constant learning rate" if e["scheduler"] in (None, "none") else e["scheduler"]
        where = ""
        if e.get("best_epoch") is not None:
            where = f" ({'best seed: ' if n > 1 else ''}epoch {int(e['best_epoch'])})"
        text = Markup(
            "<strong>{}</strong> ({}; {}, lr {}, {}, {}) peaks at a validation accuracy of {}{}, "
            "with a top-5 accuracy of {}%, and ends at {}%. "
        ).format(
            capitalized(name(e)),
            e["model"],
            e["sets"],
            fmt_lr(e["lr"]),
            schedule,
            plural(int(e["epochs"]), "epoch"),
            acc_text(e),
            where,
            fmt_num(e["best_val_top5_mean"]),
            fmt_num(e["final_val_acc_mean"]),
        )
        if e["experiment"] in self.subsets:
            text += Markup("It trains on {}. ").format(self.subsets[e["experiment"]])
        text += self._against_paper(e) + self._overfitting(e["experiment"])
        if e.get("final_train_acc_mean") is not None:
            theirs = e.get("paper_train_accuracy")
            text += Markup(" Training accuracy ends at {}%{}.").format(
                fmt_num(e["final_train_acc_mean"]),
                f" (the paper: about {fmt_short(theirs)}%)" if theirs is not None else "",
            )
        figure = self.doc["curves"].get(e["experiment"])
        return text + (Markup(" Curves: {}.").format(ref(figure)) if figure else "")

    def _against_paper(self, e: Experiment) -> Markup:
        if not has_paper(e):
            return Markup("The paper reports no accuracy for this run.")
        tolerance = f"the ±{fmt_short(self.tolerance)}-point tolerance"
        verdict = f"within {tolerance}" if within(e) else f"beyond {tolerance}"
        diff = e.get("diff") or 0.0
        if e.get("paper_stated") == "below":
            bound = fmt_short(e["paper_accuracy"])
            if round(diff, 1) <= 0:
                return Markup(
                    "The paper reports only that it stays below {}%, as ours does."
                ).format(bound)
            return Markup(
                "The paper reports only that it stays below {}%; ours exceeds that by {} "
                "points, {}."
            ).format(bound, fmt_num(diff), verdict)
        epoch = e.get("paper_best_epoch")
        return Markup("The paper reports {}{}: a difference of {} points, {}.").format(
            paper_text(e),
            f", at epoch {int(epoch)}" if epoch is not None else "",
            fmt_diff(diff),
            verdict,
        )

    def _overfitting(self, experiment: str) -> Markup:
        h = self.history(experiment)
        if len(h) < 2 or not {"val_loss", "train_loss"} <= set(h.columns):
            return Markup("")
        low, last = h.loc[h["val_loss"].idxmin()], h.iloc[-1]
        if int(low["epoch"]) == int(last["epoch"]):
            return Markup(" Its validation loss is still falling at the last epoch.")
        text = Markup(" Its validation loss is lowest at epoch {} ({}) and ends at {}").format(
            int(low["epoch"]), f"{low['val_loss']:.2f}", f"{last['val_loss']:.2f}"
        )
        if last["val_loss"] > low["val_loss"] and last["train_loss"] < low["train_loss"]:
            text += Markup(" while the training loss keeps falling, a sign of overfitting")
        return text + Markup(".")

    def _against(self, section: Any, previous: Any) -> Markup:
        a, b = best(section.experiments)[0], best(previous.experiments)[0]
        text = Markup("Against the previous family: {}").format(
            compare(a, b, f"{a['model']} ({name(a)})", f"{b['model']} ({name(b)})")
        )
        speed_a, speed_b = a.get("images_per_second_mean"), b.get("images_per_second_mean")
        if speed_a and speed_b and a.get("device_name") == b.get("device_name"):
            ratio = round(speed_b / speed_a, 1)
            if ratio == 1:
                pace = "as fast"
            elif ratio > 1:
                pace = f"{fmt_short(ratio)}× slower"
            else:
                pace = f"{fmt_short(round(speed_a / speed_b, 1))}× faster"
            text += Markup(" On the same device {} trains at {} images/s against {}, {}.").format(
                a["model"], fmt_int(speed_a), fmt_int(speed_b), pace
            )
        return text

    # summary and conclusion

    def summary(self) -> list[Markup]:
        """The text around the reproduction table and the summary figures."""
        beyond = [e for e in self.exps if has_paper(e) and not within(e)]
        text = Markup("{} sets every run beside the paper. {}").format(
            ref(self.doc["results_table"]), tolerance_sentence(self.exps, self.tolerance)
        )
        if beyond:
            text += Markup(" Beyond it: {}.").format(
                fmt_list(
                    [f"{name(e)} ({e['model']}, {fmt_diff(e.get('diff'))} points)" for e in beyond]
                )
            )
        mean = mean_abs_diff(self.exps)
        if mean is not None:
            text += Markup(" On average ours lies {} points from the paper's figure.").format(
                fmt_num(mean)
            )
        done = {e["experiment"] for e in self.exps}
        missing = [n for n in self.config.get("experiments", {}) if n not in done]
        if missing:
            text += Markup(" The configuration names {} with no results yet: {}.").format(
                plural(len(missing), "more experiment", "more experiments"), fmt_list(missing)
            )
        paragraphs = [text + Markup(" ") + order_sentence(self.exps)]
        kinds = {f.kind: f for f in self.doc["summary_figures"]}
        if "paper_vs_ours" in kinds:
            paragraphs.append(self._sides(kinds["paper_vs_ours"]))
        if "accuracy_vs_parameters" in kinds:
            paragraphs.append(self._size(kinds["accuracy_vs_parameters"]))
        if "accuracy_vs_time" in kinds:
            paragraphs.append(self._time(kinds["accuracy_vs_time"]))
        return paragraphs

    def _sides(self, figure: Any) -> Markup:
        """Which runs land above and which below the paper's stated accuracy."""
        stated = [e for e in self.exps if has_paper(e) and e.get("paper_stated") != "below"]
        text = Markup("{} plots our accuracies against the paper's.").format(ref(figure))
        if not stated:
            return text
        sides = Counter(
            our_order(e, {**e, "best_val_acc_mean": e["paper_accuracy"]}) for e in stated
        )
        counts = [(sides[1], "above"), (sides[-1], "below"), (sides[0], "level with")]
        return text + Markup(" Of the {} with a stated accuracy, {} the paper's figure.").format(
            plural(len(stated), "run"),
            fmt_list([f"{n} {'lands' if n == 1 else 'land'} {where}" for n, where in counts if n]),
        )

    def _size(self, figure: Any) -> Markup:
        text = Markup("{} relates accuracy to model size.").format(ref(figure))
        sized = [e for e in self.exps if e.get("parameters") is not None]
        if not sized:
            return text

        def top(model: str) -> str:
            return fmt_num(max(acc(e) for e in sized if e["model"] == model)) + "%"

        largest = max(sized, key=lambda e: e["parameters"])
        smallest = min(sized, key=lambda e: e["parameters"])
        winner = best(sized)[0]
        text += Markup(" The largest model, {} ({} parameters), ").format(
            largest["model"], fmt_params(largest["parameters"])
        )
        if largest["model"] == winner["model"]:
            text += Markup("is also the most accurate")
        else:
            text += Markup("reaches {} at best, against {} for {} ({})").format(
                top(largest["model"]),
                top(winner["model"]),
                winner["model"],
                fmt_params(winner["parameters"]),
            )
        return text + Markup("; the smallest, {} ({}), reaches {}.").format(
            smallest["model"], fmt_params(smallest["parameters"]), top(smallest["model"])
        )

    def _time(self, figure: Any) -> Markup:
        text = Markup("{} relates accuracy to training time.").format(ref(figure))
        runs = self.provenance.get("runs") or []
        if not runs:
            return text
        longest = max(runs, key=lambda r: r["wall_seconds"])
        job = f"{longest['experiment']}, seed {longest['seed']}"
        if longest.get("run") is not None:
            job = f"run {int(longest['run'])} ({longest.get('model', longest['experiment'])}, "
            job += f"seed {longest['seed']})"
        devices = fmt_list(
            list(dict.fromkeys(r["device_name"] for r in runs if r.get("device_name")))
        )
        return text + Markup(
            " The {} took {} of wall time in all{}; the longest, {}, took {}."
        ).format(
            plural(len(runs), "training job"),
            fmt_duration(sum(r["wall_seconds"] for r in runs)),
            f" on {devices}" if devices else "",
            job,
            fmt_duration(longest["wall_seconds"]),
        )

    def conclusion(self) -> Markup:
        """Best model, agreement with the paper, and which comparisons turn out as it says."""
        text = Markup("{} {}").format(
            best_sentence(self.exps), tolerance_sentence(self.exps, self.tolerance)
        )
        settled = {}  # comparison title -> same direction as the paper (last against first)
        for section in self.doc["sections"]:
            for c in section.comparisons:
                first, last = c.experiments[0], c.experiments[-1]
                if (theirs := paper_order(last, first)) is not None:
                    settled[c.title] = theirs == our_order(last, first)
        if not settled:
            return text
        differ = [f"“{title}”" for title, same in settled.items() if not same]
        text += Markup(" Of the {} drawn in Section 2, {} as in the paper").format(
            plural(len(settled), "comparison"),
            plural(len(settled) - len(differ), "comes out", "come out"),
        )
        if differ:
            text += Markup("; not so {}").format(fmt_list(differ))
        return text + Markup(".")
