"""The facts of the paper's claims (claims.csv) for their words: each claim's test, what was
measured, why it is untested, and the table's note; the words are the paper source's
``sentences/claims.html.j2`` (:mod:`.sentences`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from tinycnn.report import facts
from tinycnn.report.formatting import fmt_num, fmt_short
from tinycnn.report.sentences import say, text

# the kinds whose measurement is a signed difference ("+6.8"), not a level
SIGNED = ("order", "difference", "best", "overfitting", "stability")


def _claim_number(row: Mapping[str, Any], x: float, sign: bool = False) -> str:
    return fmt_num(x, facts.CLAIM_DECIMALS.get(row["kind"], 1), sign=sign)


def claim_test(row: Mapping[str, Any]) -> str:
    """The test a claim sets: ``gap 7.5 ± 3 points``, ``≤ 20%``, ``best epoch ≤ 7``."""
    value = row.get("paper_value")
    return text(
        "claims",
        "test",
        kind=row["kind"],
        stated=row.get("stated"),
        value=None if value is None else fmt_short(value),
        tolerance=fmt_short(row.get("tolerance") or 0),
        window=None if row.get("window") is None else int(row["window"]),
    )


def claim_reason(row: Mapping[str, Any]) -> str:
    """Why a claim has no measurement: ``a run involved is at chance level``, ``a run it
    involves is not yet trained`` (one reason for every such claim, not a footnote each: the
    claim names its runs); the table marks its cell and says it once, in its note."""
    return text("claims", "reason", row.get("reason"))


def claim_measured(row: Mapping[str, Any]) -> str:
    """What we measured: ``gap +6.8 ± 1.2 points (n = 2)``, ``17.2% (n = 1)``, ``4 of 6 runs
    (66.7%)``; a claim without a measurement has :func:`claim_reason` instead."""
    kind, value, spread, n = row["kind"], row["measured"], row.get("spread"), int(row["n"])
    return text(
        "claims",
        "measured",
        kind=kind,
        n=n,
        value=_claim_number(row, value, sign=kind in SIGNED),
        magnitude=_claim_number(row, abs(value)),
        spread=None if spread is None else _claim_number(row, spread),
        count=round(value * n / 100),
        rival=(str(row.get("experiments") or "").split() or [None])[-1],
        ahead=value >= 0,
        why=row.get("reason"),
    )


def untested_note(reasons: Mapping[str, str]) -> Markup:
    """``No measurement (—), because: a, a run involved is at chance level; b, ...`` from the
    reasons and the letters that mark them in the claims table."""
    return say("claims", "untested_note", [(letter, why) for why, letter in reasons.items()])
