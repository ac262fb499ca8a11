"""The words of the paper's claims (claims.csv): each claim's test, what was measured, why it is
untested, and the count of verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from tinycnn.report import facts
from tinycnn.report.formatting import (
    fmt_num,
    fmt_short,
)
from tinycnn.report.words import (
    plural,
)

# --- the paper's claims (claims.csv) -------------------------------------------------------------

# Why a claim is untested, or fails outright (contract.CLAIM_REASONS).
CLAIM_REASONS = {
    # one reason for every such claim, said once: the claim names its runs, Table 3 lists them
    "no_results": "a run it involves is not yet trained",
    "no_rival": "no other experiment to compare with",
    "one_epoch": "a run of one epoch has no curve",
    "ends_at_low": "the validation loss is lowest at the last epoch: no epoch follows its low",
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


def claim_reason(row: Mapping[str, Any]) -> str:
    """Why a claim has no measurement: ``a run involved is at chance level``, ``a run it
    involves is not yet trained`` (one reason for every such claim, not a footnote each: the
    claim names its runs); the table marks its cell and says it once, in its note."""
    return CLAIM_REASONS.get(row.get("reason") or "", "")


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
