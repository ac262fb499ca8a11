"""The words of the ablations (ablations.csv): each reading's cells, the question's finding and
the conclusion's sentence on all questions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from tinycnn.report import facts
from tinycnn.report.formatting import (
    fmt_acc,
    fmt_diff,
    fmt_list,
    fmt_paper,
)
from tinycnn.report.words import (
    NOT_RUN,
    capitalized,
    stale_mark,
)

# --- the ablations (ablations.csv) ---------------------------------------------------------------


def ablation_reading(row: Mapping[str, Any]) -> str:
    """A reading's name: ``base (m1_lr1e-3)`` or the variant's id."""
    return f"base ({row['experiment']})" if row["variant"] == "base" else row["variant"]


def ablation_changes(row: Mapping[str, Any]) -> str:
    """What a reading changes: its description in the config ("augmentation drawn anew every
    epoch"), else its overrides (``augmentation.mode=online``); ``—`` for the base."""
    return row.get("description") or row.get("overrides") or "—"


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


# How "the base already agrees" is worded, in turn: several questions share one base.
ALREADY = (
    "The base already {} the paper's {} ({}, Δ {} points)",
    "As it stands, the base {} the paper's {} ({}, Δ {} points)",
    "Here too the base {} the paper's {} ({}, Δ {} points)",
)


def ablation_sentence(rows: Sequence[Mapping[str, Any]], turn: int = 0) -> Markup:
    """The question's finding: the reading closest to the paper, and whether it closes the gap
    the base leaves, in the ``turn``-th wording. ``rows``: the question's rows of
    ablations.csv, the base first."""
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
            text = Markup(ALREADY[turn % len(ALREADY)]).format(
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
    return Markup(
        "The reading closest to the paper's {} is {}: {}, Δ {} points, against {}; {}.{}"
    ).format(paper, names, _reading_accuracy(best), fmt_diff(best["gap"]), against, verdict, tail)


def ablation_leaks(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the reading closest to the paper, a variant, leaks (the template says what
    that means after :func:`ablation_sentence`)."""
    closest = [r for r in rows if r.get("closest")]
    return not any(r["variant"] == "base" for r in closest) and any(map(_leaks, closest))


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
        Markup(" Of their readings, {} {} {}.").format(
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
