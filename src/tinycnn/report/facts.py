"""The facts the paper states, computed from plain records: no words, no formatting.

An experiment is a mapping with the columns of experiments.csv (missing values None); its
settings are the run's recorded ``resolved`` settings (aggregate/settings.json); a history is
a list of per-epoch records (epochs.csv columns, mean over seeds). Comparisons use the
displayed accuracy (one decimal), so that "A beats B" never contradicts the numbers printed
beside it, and a rounded gap of zero is a tie. :mod:`tinycnn.report.prose` puts these facts
in words.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from itertools import pairwise
from typing import Any, NamedTuple

from tinycnn.config.merge import validation_of

Experiment = Mapping[str, Any]
# Settings that tell two experiments apart, in the order a label names them.
DISTINGUISHING = ("sets", "lr", "scheduler", "epochs", "mode", "batch_size")
# The parts of a run's `subset` setting, in the order they are named.
SUBSET_PARTS = ("train_per_class", "val_per_class")
# The keys the report adds to a record: an experiment the config names without results (its
# settings as configured, no measurement), and the stale runs behind a record's numbers
# (``--reference``'s ``stale`` entries: seed and the settings that differ from today's config).
NOT_RUN = "not_run"
STALE = "stale"


# --- one experiment ------------------------------------------------------------------------------


def acc(e: Experiment) -> float:
    """Our best validation accuracy as displayed (rounded to one decimal)."""
    return round(e["best_val_acc_mean"], 1)


def seeds(e: Experiment) -> int:
    return int(e.get("n_seeds") or 1)


def has_results(e: Experiment) -> bool:
    """Whether the experiment has results (the report marks those without as not run)."""
    return not e.get(NOT_RUN)


def with_results(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments with results."""
    return [e for e in exps if has_results(e)]


def pending(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments without results: not yet run."""
    return [e for e in exps if not has_results(e)]


def stale(e: Mapping[str, Any]) -> bool:
    """Whether a record's numbers come from a run whose recorded settings differ from what
    today's config resolves (it must be redone)."""
    return bool(e.get(STALE))


def has_paper(e: Experiment) -> bool:
    return e.get("paper_accuracy") is not None


def flag(row: Mapping[str, Any], column: str) -> bool:
    """A yes/no column of the aggregate's tables as the record holds it (True, or "True" read
    back from a CSV); empty or missing is no."""
    return str(row.get(column)).lower() == "true"


def at_chance(e: Mapping[str, Any]) -> bool:
    """The aggregate's verdict: every seed's best accuracy within what guessing reaches
    (tinycnn.report.aggregate.chance_bound). Such a run is named as such and left out of every
    comparison: its differences are noise."""
    return flag(e, "at_chance")


def blown_up_loss(classes: int) -> float:
    """The loss past which a run has diverged: twice a uniform guess's (2 ln classes)."""
    return 2 * math.log(classes)


def blew_up(e: Mapping[str, Any]) -> bool:
    """Whether a row of beyond.csv diverged: its mean validation loss ends above twice a
    uniform guess's (2 ln classes), as :func:`diverged` reads a curve."""
    last = e.get("val_loss_last")
    return last is not None and last > blown_up_loss(classes(e))


def classes(e: Mapping[str, Any]) -> int:
    """How many classes a run tells apart, from the aggregate's chance level (100 / classes)."""
    return round(100 / e["chance_acc"])


def bounded(e: Experiment) -> bool:
    """Whether the paper states only a bound for the run ("below X"), not an accuracy."""
    return has_paper(e) and e.get("paper_stated") == "below"


def within(e: Experiment) -> bool:
    """The aggregate's verdict on a stated accuracy: within the tolerance of it (False for a
    bound and without a paper number: only a point value has a tolerance)."""
    return flag(e, "within_tolerance")


def bound_met(e: Experiment) -> bool:
    """The aggregate's verdict on a bound: ours at most the paper's "below X" (False for a
    point value and without a paper number)."""
    return flag(e, "bound_met")


def agrees(e: Experiment) -> bool:
    """Whether the run agrees with what the paper states: its bound met, or within the
    tolerance of its stated accuracy."""
    return bound_met(e) if bounded(e) else within(e)


def compared(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments that take part in comparisons, averages and rankings: those with
    results above chance level (a run at chance level differs from others by noise)."""
    return [e for e in exps if has_results(e) and not at_chance(e)]


def outside_tolerance(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments with a stated accuracy (not a bound) outside the tolerance, chance-level
    runs left out."""
    return [e for e in stated(compared(exps)) if not within(e)]


def bounds_missed(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments above the bound the paper states for them."""
    return [e for e in exps if bounded(e) and not bound_met(e)]


def distance_to_paper(gap: float | None, stated: str | None) -> float | None:
    """How far an accuracy lies from the paper's number, as displayed (one decimal): |gap|, or
    for a "below X" statement how far above X it lies (0 at or below); None without a gap."""
    if gap is None or math.isnan(gap):
        return None
    return round(max(gap, 0.0) if stated == "below" else abs(gap), 1)


def subset(settings: Mapping[str, Any] | None) -> dict[str, int]:
    """The non-empty parts of a run's ``subset`` setting (images per class), in order."""
    parts = (settings or {}).get("subset") or {}
    return {key: parts[key] for key in SUBSET_PARTS if parts.get(key)}


def images(settings: Mapping[str, Any] | None) -> tuple[Any, ...]:
    """Which images a run trains on and is scored on, as its settings record them: (training
    images a class, validation images a class; None for all), and the validation's source and
    held-out fraction. Runs with equal ``images`` saw the same images."""
    s = settings or {}
    parts = subset(s)
    source, fraction = validation_of(s)
    return parts.get("train_per_class"), parts.get("val_per_class"), source, fraction


def step_schedule(settings: Mapping[str, Any] | None) -> tuple[float, int] | None:
    """(divisor, step size in epochs) of a StepLR schedule; None for any other."""
    scheduler = (settings or {}).get("scheduler")
    if scheduler and scheduler.get("name") == "StepLR":
        return 1 / scheduler["gamma"], scheduler["step_size"]
    return None


# --- two experiments -----------------------------------------------------------------------------


def sign(x: float) -> int:
    return (x > 0) - (x < 0)


def gap(a: Experiment, b: Experiment) -> float:
    """Our accuracy of ``a`` minus ``b``, as displayed; 0 is a tie."""
    return round(acc(a) - acc(b), 1)


def our_order(a: Experiment, b: Experiment) -> int:
    return sign(gap(a, b))


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
    return sign(pa - pb)


def spread(exps: Sequence[Experiment], metric: str = "best_val_acc") -> float | None:
    """The seeds' spread of a sum or difference of the experiments' means of ``metric``: the
    root sum of squares of their standard deviations over seeds, as displayed (one decimal);
    None unless every one of them has several seeds (one seed measures no noise)."""
    if not exps or any(seeds(e) < 2 for e in exps):
        return None
    return round(math.sqrt(sum((e.get(f"{metric}_std") or 0.0) ** 2 for e in exps)), 1)


def exceeds_spread(a: Experiment, b: Experiment) -> bool | None:
    """Whether the gap of ``a`` over ``b`` is larger than the seeds' spread of it
    (:func:`spread`); None for a tie or where the spread is not measured."""
    s, g = spread([a, b]), gap(a, b)
    return None if s is None or g == 0 else abs(g) > s


def speed_ratio(a: Experiment, b: Experiment) -> float | None:
    """How many times slower ``a`` trains than ``b`` (images/s of b over a, one decimal),
    when both were measured on the same device; None otherwise."""
    speed_a, speed_b = a.get("images_per_second_mean"), b.get("images_per_second_mean")
    if not (speed_a and speed_b and a.get("device_name") == b.get("device_name")):
        return None
    return round(speed_b / speed_a, 1)


# --- a set of experiments ------------------------------------------------------------------------


def pair_agreement(exps: Sequence[Experiment]) -> tuple[int, int]:
    """(pairs ordered as the paper orders them, pairs the paper orders) over ``exps``; a pair
    with a run at chance level is no comparison and not counted."""
    agree = total = 0
    for i, a in enumerate(exps):
        for b in exps[i + 1 :]:
            theirs = paper_order(a, b)
            if theirs is not None and not (at_chance(a) or at_chance(b)):
                total += 1
                agree += theirs == our_order(a, b)
    return agree, total


def best(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments with the highest displayed accuracy (several on a tie): the run a figure
    draws for its family, at chance level or not."""
    top = max(acc(e) for e in exps)
    return [e for e in exps if acc(e) == top]


def best_above_chance(exps: Sequence[Experiment]) -> list[Experiment]:
    """The best of the runs above chance level, the ones a ranking names; none when every run
    is at chance level (an untrained run is not "the best model")."""
    above = compared(exps)
    return best(above) if above else []


def paper_best(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments with the highest accuracy the paper states (not an upper bound)."""
    reported = stated(exps)
    if not reported:
        return []
    top = max(e["paper_accuracy"] for e in reported)
    return [e for e in reported if e["paper_accuracy"] == top]


def stated(exps: Sequence[Experiment]) -> list[Experiment]:
    """The experiments whose paper accuracy is a value, not an upper bound."""
    return [e for e in exps if has_paper(e) and e.get("paper_stated") != "below"]


def ranked(exps: Sequence[Experiment]) -> list[int]:
    """Indices of ``exps`` by our accuracy, highest first (stable on ties)."""
    return sorted(range(len(exps)), key=lambda i: -acc(exps[i]))


def agreement(exps: Sequence[Experiment]) -> tuple[int, int]:
    """(runs within the tolerance, runs with a stated accuracy): a bound is not counted."""
    with_value = stated(compared(exps))
    return sum(within(e) for e in with_value), len(with_value)


def mean_abs_diff(exps: Sequence[Experiment]) -> float | None:
    """Mean |ours − paper| over the runs with a stated (not upper-bound) accuracy above chance
    level (eight untrained runs once made a mean gap of 27.5 points)."""
    diffs = [abs(e["diff"]) for e in stated(compared(exps)) if e.get("diff") is not None]
    return sum(diffs) / len(diffs) if diffs else None


def sides(exps: Sequence[Experiment]) -> Counter[int]:
    """How many runs with a stated accuracy land above (+1), below (−1), level (0) with it."""
    return Counter(our_order(e, {**e, "best_val_acc_mean": e["paper_accuracy"]}) for e in exps)


def varying(exps: Sequence[Experiment]) -> list[str]:
    """The settings of :data:`DISTINGUISHING` whose value differs among ``exps``."""
    return [c for c in DISTINGUISHING if len({str(e.get(c)) for e in exps}) > 1]


def grouped(items: Sequence[tuple[Experiment, Hashable]]) -> list[tuple[Any, list[Experiment]]]:
    """(value, experiments) pairs, the most common value first (first seen on a tie)."""
    groups: dict[Hashable, list[Experiment]] = {}
    for e, value in items:
        groups.setdefault(value, []).append(e)
    return sorted(groups.items(), key=lambda item: -len(item[1]))


def grouped_by(exps: Sequence[Experiment], key: Callable[[Experiment], Hashable]) -> dict:
    """``exps`` grouped by ``key``, in order of first appearance."""
    out: dict[Hashable, list[Experiment]] = {}
    for e in exps:
        out.setdefault(key(e), []).append(e)
    return out


class Sizes(NamedTuple):
    largest: Experiment
    smallest: Experiment
    winner: Experiment  # the most accurate (first on a tie)


def sizes(exps: Sequence[Experiment]) -> Sizes | None:
    """The largest and smallest model by parameters and the most accurate, among the
    experiments with a parameter count."""
    sized = [e for e in exps if e.get("parameters") is not None]
    if not sized:
        return None
    return Sizes(
        max(sized, key=lambda e: e["parameters"]),
        min(sized, key=lambda e: e["parameters"]),
        best(sized)[0],
    )


def top_of_model(exps: Sequence[Experiment], model: str) -> float:
    """The best displayed accuracy among the experiments of ``model``."""
    return max(acc(e) for e in exps if e["model"] == model and e.get("parameters") is not None)


class Drawn(NamedTuple):
    """A comparison the paper draws: its title, its experiments (the later last), and where the
    paper's side is other runs than ours, those (first, last): a family's best in the paper
    against its best here."""

    title: str
    experiments: Sequence[Experiment]
    theirs: tuple[Experiment, Experiment] | None = None


def drawn_order(comparison: Sequence[Any]) -> int | None:
    """The paper's order of a comparison (last against first; see :func:`paper_order`), from
    the paper's side of it."""
    c = Drawn(*comparison)
    first, last = c.theirs or (c.experiments[0], c.experiments[-1])
    return paper_order(last, first)


def against_family(
    section: Sequence[Experiment], previous: Sequence[Experiment], title: str = ""
) -> Drawn | None:
    """A family's best run here against the previous family's (the later last), the paper's
    side being the paper's best of each family, as the claims table checks it, not the
    paper's numbers of the runs that happen to be best here; None where either family has no
    results."""
    ours, before = with_results(section), with_results(previous)
    if not (ours and before):
        return None
    tops = paper_best(previous), paper_best(section)
    theirs = (tops[0][0], tops[1][0]) if all(tops) else None
    return Drawn(title, [best(before)[0], best(ours)[0]], theirs)


def settled(comparisons: Sequence[Sequence[Any]]) -> dict[str, bool]:
    """Of the comparisons (:class:`Drawn`, or (title, experiments)) the paper orders, whether
    ours comes out in the same direction; none where a run is at chance level."""
    out = {}
    for comparison in comparisons:
        c = Drawn(*comparison)
        first, last = c.experiments[0], c.experiments[-1]
        if at_chance(first) or at_chance(last):
            continue
        if (theirs := drawn_order(c)) is not None:
            out[c.title] = theirs == our_order(last, first)
    return out


# --- curves and jobs -----------------------------------------------------------------------------


class Overfitting(NamedTuple):
    low_epoch: int  # epoch of the lowest validation loss
    low_loss: float
    last_epoch: int
    last_loss: float
    overfits: bool  # validation loss up since its low while the training loss kept falling


def overfitting(history: Sequence[Mapping[str, Any]]) -> Overfitting | None:
    """Where the validation loss is lowest, against the last epoch; None with one epoch."""
    if len(history) < 2 or not {"val_loss", "train_loss"} <= set(history[0]):
        return None
    low = min(history, key=lambda r: r["val_loss"])  # the first minimum
    last = history[-1]
    return Overfitting(
        int(low["epoch"]),
        low["val_loss"],
        int(last["epoch"]),
        last["val_loss"],
        last["val_loss"] > low["val_loss"] and last["train_loss"] < low["train_loss"],
    )


def diverged(history: Sequence[Mapping[str, Any]], classes: int) -> Overfitting | None:
    """Where a run's validation loss ends above twice a uniform guess's (2 ln classes): it
    diverged, from its low to its last epoch; None otherwise (and with one epoch)."""
    fit = overfitting(history)
    return fit if fit is not None and fit.last_loss > blown_up_loss(classes) else None


def longest(jobs: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The training job with the longest wall time."""
    return max(jobs, key=lambda r: r["wall_seconds"]) if jobs else None


def devices(jobs: Sequence[Mapping[str, Any]]) -> list[str]:
    """The distinct device names of ``jobs``, in order."""
    return list(dict.fromkeys(r["device_name"] for r in jobs if r.get("device_name")))


def missing(config_experiments: Sequence[str], exps: Sequence[Experiment]) -> list[str]:
    """Experiments the config names that have no results."""
    done = {e["experiment"] for e in exps}
    return [n for n in config_experiments if n not in done]


def epoch_images(sets: str, train_images: int) -> int:
    """Images a run on ``sets`` ("set1+set2", fixed mode) sees an epoch."""
    return len(sets.split("+")) * train_images


# --- the paper's claims --------------------------------------------------------------------------
# A claim is an entry of the config's `report.claims` (kinds: contract.CLAIM_KINDS). A run is a
# record with the columns of runs.csv and "history", its epochs.csv rows in epoch order.

Run = Mapping[str, Any]
# Decimals a claim's measurement is displayed (and so compared) with, by kind; 1 otherwise.
CLAIM_DECIMALS = {"overfitting": 2, "stability": 2}


class Measure(NamedTuple):
    value: float | None  # as displayed; None: untested
    spread: float | None  # the seeds' spread of it; None where not measured
    n: int  # seeds behind it (the fewest of its experiments); peak_at_rate_drop: runs counted
    experiments: tuple[str, ...]  # measured (best: the claimed best, then the runner-up)
    reason: str | None = None  # contract.CLAIM_REASONS: why untested, or why it fails outright


def seed_stats(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None with one value) over seeds."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def mean_history(runs: Sequence[Run]) -> list[dict[str, float]]:
    """The runs' per-epoch metrics averaged over seeds, in epoch order."""
    rows: dict[int, list[Mapping[str, Any]]] = {}
    for run in runs:
        for row in run["history"]:
            rows.setdefault(int(row["epoch"]), []).append(row)
    keys = ("val_loss", "train_loss", "val_acc", "lr")
    return [
        {"epoch": epoch, **{k: sum(r[k] for r in rs) / len(rs) for k in keys}}
        for epoch, rs in sorted(rows.items())
    ]


def fall_back(history: Sequence[Mapping[str, Any]]) -> float | None:
    """How much the validation accuracy falls back from one epoch to the next, mean over the
    epoch transitions (points; rises count 0); None with one epoch."""
    acc_ = [r["val_acc"] for r in history]
    if len(acc_) < 2:
        return None
    return sum(max(0.0, a - b) for a, b in pairwise(acc_)) / (len(acc_) - 1)


def rate_drops(history: Sequence[Mapping[str, Any]]) -> list[int]:
    """The epochs that start at a lower learning rate than the epoch before."""
    return [b["epoch"] for a, b in pairwise(history) if b["lr"] < a["lr"]]


def _rounded(x: float | None, kind: str) -> float | None:
    return None if x is None else round(x, CLAIM_DECIMALS.get(kind, 1))


def measure_claim(
    claim: Mapping[str, Any],
    exps: Mapping[str, Experiment],
    runs: Mapping[str, Sequence[Run]],
) -> Measure:
    """What a claim measures in these results (``exps``: experiments.csv records by name;
    ``runs``: each experiment's runs), as displayed, with the seeds' spread of it."""
    kind, names = claim["kind"], tuple(claim["experiments"])
    if any(name not in exps for name in names):
        return Measure(None, None, 0, names, "no_results")
    es = [exps[name] for name in names]
    # A run at chance tells nothing about accuracy, curves or order; its speed is measured all
    # the same (ratio).
    if kind != "ratio" and any(at_chance(e) for e in es):
        return Measure(None, None, 0, names, "at_chance")
    if kind == "best":
        rivals = [e for name, e in exps.items() if name != names[0] and not at_chance(e)]
        if not rivals:
            return Measure(None, None, 0, names, "no_rival")
        es.append(best(rivals)[0])
        names = (names[0], es[1]["experiment"])
    n = min(seeds(e) for e in es)
    value: float | None
    if kind in ("order", "difference", "best"):
        value, spread_ = gap(es[0], es[1]), spread(es)
    elif kind == "threshold":
        value, spread_ = acc(es[0]), spread(es)
    elif kind == "train_accuracy":
        value, spread_ = es[0]["final_train_acc_mean"], spread(es, "final_train_acc")
    elif kind == "peak_epoch":
        value, spread_ = seed_stats([r["best_epoch"] for r in runs[names[0]]])
        if still_rising(runs[names[0]]) and not _decided_from_below(claim, value):
            return Measure(None, None, n, names, "still_rising")
    elif kind == "overfitting":
        return _overfitting(runs[names[0]], n, names)
    elif kind == "peak_at_rate_drop":
        return _peaks_at_drops(claim, runs, names)
    elif kind == "ratio":
        if es[0].get("device_name") != es[1].get("device_name"):
            return Measure(None, None, n, names, "devices_differ")
        timed = [runs[name] for name in names]
        if len({r.get("train_images") for rs in timed for r in rs}) != 1:
            return Measure(None, None, n, names, "epochs_differ")
        (a, sa), (b, sb) = (seed_stats([epoch_seconds(r) for r in rs]) for rs in timed)
        value = a / b
        spread_ = value * math.hypot(sa / a, sb / b) if sa is not None and sb is not None else None
    elif kind == "stability":
        falls = [[fall_back(r["history"]) for r in runs[name]] for name in names]
        if any(None in fs for fs in falls):
            return Measure(None, None, n, names, "one_epoch")
        (a, sa), (b, sb) = (seed_stats([f for f in fs if f is not None]) for fs in falls)
        value = b - a
        spread_ = math.hypot(sa, sb) if sa is not None and sb is not None else None
    else:
        raise ValueError(f"unknown kind of claim {kind!r}")
    return Measure(_rounded(value, kind), _rounded(spread_, kind), n, names)


def still_rising(runs: Sequence[Run]) -> bool:
    """Whether a run's best epoch is its last: its peak is not seen, only that it lies there or
    later."""
    return any(r["history"] and r["best_epoch"] == r["history"][-1]["epoch"] for r in runs)


def _decided_from_below(claim: Mapping[str, Any], at_least: float) -> bool:
    """Whether a claim on a value known only from below (``at_least``, a peak not yet seen) is
    decided all the same: "at least v" holds once the lower bound reaches v; "below v" and
    "about v" fail once it passes their upper end. Otherwise the run cannot tell."""
    margin = claim_margin(claim, at_least)
    return margin >= 0 if claim.get("stated") == "above" else margin < 0


def epoch_seconds(run: Run) -> float:
    """A run's training seconds an epoch, mean over its epochs (epochs.csv's epoch_seconds)."""
    return sum(h["epoch_seconds"] for h in run["history"]) / len(run["history"])


def _overfitting(runs: Sequence[Run], n: int, names: tuple[str, ...]) -> Measure:
    """The rise of the validation loss from its low to the last epoch, on the mean curve; its
    spread from each seed's own rise."""
    fit = overfitting(mean_history(runs))
    if fit is None:
        return Measure(None, None, n, names, "one_epoch")
    if fit.low_epoch == fit.last_epoch:  # nothing follows the low: nothing to test
        return Measure(None, None, n, names, "ends_at_low")
    rises = [f.last_loss - f.low_loss for r in runs if (f := overfitting(r["history"]))]
    spread_ = seed_stats(rises)[1] if len(rises) == len(runs) else None
    rise = fit.last_loss - fit.low_loss
    reason = "training_loss_rises" if round(rise, 2) > 0 and not fit.overfits else None
    return Measure(
        _rounded(rise, "overfitting"), _rounded(spread_, "overfitting"), n, names, reason
    )


def _peaks_at_drops(
    claim: Mapping[str, Any], runs: Mapping[str, Sequence[Run]], names: tuple[str, ...]
) -> Measure:
    """The share of runs (%) that peak within ``window`` epochs after a drop of the learning
    rate, among the runs that have one; each seed counts as a run."""
    window = claim.get("window", 1)
    at, counted = 0, 0
    for name in names:
        for run in runs[name]:
            drops = rate_drops(run["history"])
            if drops:
                counted += 1
                at += any(d <= run["best_epoch"] <= d + window for d in drops)
    if not counted:
        return Measure(None, None, 0, names, "no_rate_drop")
    return Measure(round(100 * at / counted, 1), None, counted, names)


def claim_margin(claim: Mapping[str, Any], value: float) -> float:
    """How far ``value`` lies inside (+) or outside (−) the claim's boundary: above zero for a
    kind without a value; at most, at least or within ``tolerance`` of the paper's ``value``."""
    if "value" not in claim:
        return value
    paper = claim["value"]
    margin = {
        "below": paper - value,
        "above": value - paper,
        "approx": claim.get("tolerance", 0.0) - abs(value - paper),
    }[claim["stated"]]
    return round(margin, 6)  # so that e.g. 25.5 - 23.8 is 1.7 against a tolerance of 1.7


def within_spread(margin: float, spread: float | None) -> bool:
    """The seed-noise rule: a spread measured and above zero (as displayed), and a margin no
    larger than it. Claims (claim_verdict) and the ablations' narrowing follow it."""
    return bool(spread) and abs(margin) <= spread


def claim_verdict(claim: Mapping[str, Any], measure: Measure) -> tuple[str, float | None]:
    """(verdict, margin): "untested" without a measurement; "fails" outright for a reason (a
    training loss that does not fall); "within seed noise" where the spread is measured, above
    zero, and the margin is no larger; else "holds" (margin above zero, or at least zero against
    a stated value: its boundary counts) or "fails". ``claim`` carries the paper's ``value``
    resolved."""
    if measure.value is None:
        return "untested", None
    margin = claim_margin(claim, measure.value)
    if measure.reason:
        return "fails", margin
    # Seeds that agree exactly (a spread of zero, as displayed) explain no margin, not even 0.
    if within_spread(margin, measure.spread):
        return "within seed noise", margin
    holds = margin >= 0 if "value" in claim else margin > 0
    return ("holds" if holds else "fails"), margin
