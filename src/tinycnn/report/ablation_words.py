"""The facts of the ablations (ablations.csv) for their words: each reading's cells, the
question's finding and the conclusion's sentence on all questions; the words are the paper
source's ``sentences/ablations.html.j2`` (:mod:`.sentences`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from tinycnn.report import facts
from tinycnn.report.formatting import fmt_acc, fmt_diff, fmt_paper
from tinycnn.report.sentences import say, text
from tinycnn.report.words import NOT_RUN, stale_mark

# --- the ablations (ablations.csv) ---------------------------------------------------------------


def ablation_reading(row: Mapping[str, Any]) -> str:
    """A reading's name: ``base (m1_lr1e-3)`` or the variant's id."""
    return text("ablations", "reading", row["variant"], row["experiment"])


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
    return text(
        "ablations",
        "verdict",
        ablation_ran(row),
        row.get("closes_gap"),
        base=row["variant"] == "base",
        bound=row.get("paper_stated") == "below",  # a bound is met or not: no tolerance
        leak=_leaks(row),
        noise=_noise(row),  # the seeds cannot tell it from the base
        narrows=bool(row.get("narrows_gap")),
    )


def _noise(row: Mapping[str, Any]) -> bool:
    return facts.flag(row, "within_seed_noise")


def _leaks(row: Mapping[str, Any]) -> bool:
    return facts.flag(row, "leak")


def ablation_caption(rows: Sequence[Mapping[str, Any]]) -> Markup:
    """A question's caption: its title, its base experiment and the paper's number."""
    base = rows[0]
    paper = fmt_paper(base.get("paper_accuracy"), base.get("paper_stated"))
    return say("ablations", "caption", base["title"], base["experiment"], paper)


def _reading_accuracy(row: Mapping[str, Any]) -> Markup:
    n = int(row["n_seeds"])
    value = fmt_acc(row["accuracy_mean"], row.get("accuracy_std"), n)
    return say("ablations", "accuracy", value, n, stale_mark(row))


def ablation_sentence(rows: Sequence[Mapping[str, Any]], turn: int = 0) -> Markup:
    """The question's finding: the reading closest to the paper, and whether it closes the gap
    the base leaves, in the ``turn``-th wording. ``rows``: the question's rows of
    ablations.csv, the base first."""
    base, variants = rows[0], rows[1:]
    waiting = [ablation_reading(r) for r in variants if not ablation_ran(r)]
    closest = [r for r in rows if r.get("closest")]
    if not closest:
        unrun = [ablation_reading(r) for r in rows if not ablation_ran(r)]
        return say("ablations", "unanswered", unrun, len(rows))
    paper = fmt_paper(base["paper_accuracy"], base["paper_stated"]) + "%"
    if any(r["variant"] == "base" for r in closest):
        # The base is shared by several questions: the nearest variant makes the sentence this
        # question's own.
        ran = [r for r in variants if ablation_ran(r) and r.get("gap") is not None]
        nearest = min(ran, key=lambda r: abs(r["gap"])) if ran else None
        return say(
            "ablations",
            "base_closest",
            turn=turn,
            agreed=bool(base.get("closes_gap")),
            bound=base.get("paper_stated") == "below",
            paper=paper,
            accuracy=_reading_accuracy(base),
            gap=fmt_diff(base["gap"]),
            nearest=None
            if nearest is None
            else (nearest["variant"], _reading_accuracy(nearest), fmt_diff(nearest["gap"])),
            waiting=waiting,
        )
    best = closest[0]
    if not ablation_ran(base):
        verdict = None
    elif best.get("closes_gap") and not base.get("closes_gap"):
        verdict = "closes"
    elif best.get("closes_gap"):
        verdict = "agreed"
    elif _noise(best):
        verdict = "noise"
    else:
        verdict = "narrows"
    return say(
        "ablations",
        "variant_closest",
        paper=paper,
        closest=[(r["variant"], ablation_changes(r)) for r in closest],
        accuracy=_reading_accuracy(best),
        gap=fmt_diff(best["gap"]),
        base_accuracy=_reading_accuracy(base) if ablation_ran(base) else None,
        base_gap=fmt_diff(base.get("gap")),
        verdict=verdict,
        bound=best.get("paper_stated") == "below",
        closes=bool(best.get("closes_gap")),
        waiting=waiting,
    )


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
    return say(
        "ablations",
        "summary",
        n=len(groups),
        number=number,
        readings=sum(len(rows) for rows in groups),
        waiting=sum(not ablation_ran(r) for rows in groups for r in rows),
        agreeing=sum(bool(rows[0].get("closes_gap")) for rows in groups),  # no gap to close
        closing=[title for title, _ in closing],
        leaking=[title for title, r in closing if _leaks(r)],
    )
