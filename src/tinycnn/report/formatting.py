"""Numbers as the regenerated paper prints them (one place, so text and tables agree).

- our accuracies: percent with one decimal (``29.5``); with several seeds ``29.5 ± 0.4``
  (mean ± std over seeds, as the aggregate computes them) and the number of seeds beside it;
- the paper's accuracies as the paper states them: ``29.5``, ``24``, ``~22``, ``< 20``;
- differences: percentage points, signed, one decimal, a true minus sign (``+1.2``, ``−3.4``);
- learning rates ``1e-3``; counts with thousands separators; parameters in millions;
  losses with two decimals; data statistics with three; durations in s, min or h;
- settings as configured (``0.5``, ``(0.9, 0.999)``).

Figure captions, tables and sentences all print through these functions; only the labels
inside a plot (:func:`fmt_stated`) spell an upper bound as a word.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

MINUS = "\u2212"


def fmt_num(x: float, decimals: int = 1, *, sign: bool = False) -> str:
    """``x`` with ``decimals`` decimals, a true minus sign, no negative zero."""
    text = f"{x:+.{decimals}f}" if sign else f"{x:.{decimals}f}"
    if float(text) == 0:
        text = f"{0:.{decimals}f}"
    return text.replace("-", MINUS)


def fmt_acc(mean: float, std: float | None = None, n: int = 1) -> str:
    """Our accuracy: ``29.5``, or ``29.5 ± 0.4`` over several seeds."""
    if n > 1 and std is not None:
        return f"{fmt_num(mean)} ± {fmt_num(std)}"
    return fmt_num(mean)


def fmt_short(x: float) -> str:
    """A reported number as printed: ``24``, ``29.5`` (no trailing zeros)."""
    return f"{x:g}"


def fmt_paper(accuracy: float | None, stated: str | None) -> str:
    """The paper's accuracy as it states it: ``29.5``, ``~22``, ``< 20``; ``—`` if none."""
    if accuracy is None:
        return "—"
    prefix = {"approx": "~", "below": "< "}.get(stated or "exact", "")
    return prefix + fmt_short(accuracy)


def fmt_stated(accuracy: float, stated: str) -> str:
    """The paper's accuracy as a plot labels it: ``29.5%``, ``~22%``, ``below 20%``."""
    return {"exact": "", "approx": "~", "below": "below "}[stated] + f"{fmt_short(accuracy)}%"


def fmt_diff(diff: float | None) -> str:
    """A signed difference in points: ``+1.2``, ``−3.4``, ``0.0``; ``—`` if none."""
    return "—" if diff is None else fmt_num(diff, sign=True)


def fmt_delta(diff: float | None, stated: str | None, at_chance: bool) -> str:
    """The results table's Δ: ours − the paper's stated accuracy (:func:`fmt_diff`); against a
    bound ("< 20"), no number to subtract from, whether ours is below it; ``—`` for a run at
    chance level, which is set against no number of the paper."""
    if at_chance or diff is None:
        return "—"
    if stated == "below":
        return "below" if diff < 0 else "not below"
    return fmt_diff(diff)


def fmt_lr(lr: float) -> str:
    """A learning rate as ``1e-3`` or ``2.5e-4``."""
    mantissa, exponent = f"{lr:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def fmt_int(n: float) -> str:
    return f"{round(n):,}"


def fmt_loss(x: float) -> str:
    """A loss: ``3.14``; a diverged one in thousands, not to the hundredth: ``14,745,577``."""
    return f"{x:.2f}" if abs(x) < 1000 else fmt_int(x)


def fmt_stat(x: float) -> str:
    """A data statistic (pixel mean or std on the unit interval): ``0.480``."""
    return f"{x:.3f}"


def fmt_value(v: Any) -> str:
    """A setting as configured: ``0.5``, ``56``, a list as ``(0.9, 0.999)``."""
    return f"({', '.join(map(str, v))})" if isinstance(v, list | tuple) else str(v)


def fmt_setting(column: str, value: Any) -> str:
    """A setting that tells experiments apart: ``1e-3`` for ``lr``, ``20`` for ``20.0``."""
    if column == "lr" and value is not None:
        return fmt_lr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def fmt_scheduler(scheduler: Mapping[str, Any] | None) -> str:
    """A learning-rate schedule as runs.csv names it: ``none``, ``StepLR(7, 0.1)`` (the
    paper's), another with its parameters by name: ``warmup_cosine(warmup_epochs=1, ...)``."""
    if scheduler is None:
        return "none"
    if scheduler["name"] == "StepLR":
        return f"{scheduler['name']}({scheduler['step_size']}, {scheduler['gamma']})"
    params = ", ".join(f"{k}={v}" for k, v in scheduler.items() if k != "name")
    return f"{scheduler['name']}({params})"


def fmt_params(n: float) -> str:
    """Parameters in millions, three significant digits: ``0.584 M``, ``61.3 M``."""
    return f"{n / 1e6:.3g} M"


def fmt_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fmt_list(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def fmt_runs(numbers: Sequence[int]) -> str:
    """Run numbers with ranges: ``run 4``, ``runs 1–5``, ``runs 1, 3 and 6–11``."""
    numbers = sorted(set(numbers))
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][-1] + 1:
            spans[-1].append(n)
        else:
            spans.append([n])
    parts = [p for s in spans for p in ([f"{s[0]}–{s[-1]}"] if len(s) > 2 else map(str, s))]
    return ("run " if len(numbers) == 1 else "runs ") + fmt_list(parts)
