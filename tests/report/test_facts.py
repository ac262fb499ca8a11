"""The paper's facts (tinycnn.report.facts) on small plain records: gaps, orders, ties, agreement,
overfitting, speed, sizes. No words here: tests/report/test_report_words.py checks the sentences."""

from __future__ import annotations

from typing import Any

import pytest

from tinycnn.report import facts


def exp(acc: float, paper: float | None = None, stated: str = "exact", **more: Any) -> dict:
    return {
        "experiment": more.pop("experiment", f"e{acc}"),
        "model": more.pop("model", "M"),
        "best_val_acc_mean": acc,
        "n_seeds": 1,
        "paper_accuracy": paper,
        "paper_stated": stated,
        **more,
    }


def test_gap_and_order_use_the_displayed_accuracy() -> None:
    assert facts.acc(exp(29.96)) == 30.0
    assert facts.gap(exp(35.9), exp(29.5)) == 6.4
    assert facts.gap(exp(30.04), exp(29.96)) == 0  # both print as 30.0: a tie
    assert facts.our_order(exp(30.04), exp(29.96)) == 0
    assert facts.our_order(exp(29.5), exp(35.9)) == -1


@pytest.mark.parametrize(
    ("a", "b", "order"),
    [
        ((40.0, "exact"), (30.0, "approx"), 1),
        ((30.0, "exact"), (30.0, "exact"), 0),
        ((20.0, "below"), (45.0, "exact"), -1),
        ((20.0, "below"), (20.0, "exact"), -1),
        ((20.0, "below"), (15.0, "exact"), None),
        ((45.0, "exact"), (20.0, "below"), 1),
        ((20.0, "below"), (30.0, "below"), None),
        ((None, "exact"), (30.0, "exact"), None),
    ],
)
def test_paper_order(a: tuple, b: tuple, order: int | None) -> None:
    assert facts.paper_order(exp(1, *a), exp(1, *b)) == order


def test_pair_agreement_counts_only_pairs_the_paper_orders() -> None:
    exps = [exp(30.0, 29.5), exp(40.0, 35.9), exp(10.0, 20.0, "below"), exp(5.0)]
    # Ordered by the paper: (0, 1), (0, 2), (1, 2); ours agree on all three.
    assert facts.pair_agreement(exps) == (3, 3)
    flipped = [exp(30.0, 40.0), exp(40.0, 35.9)]
    assert facts.pair_agreement(flipped) == (0, 1)


def test_best_and_ties() -> None:
    tie = [exp(46.12, 45.0, model="A"), exp(46.08, 48.0, model="B"), exp(1.0, 50.0, "below")]
    assert [e["model"] for e in facts.best(tie)] == ["A", "B"]
    assert [e["model"] for e in facts.paper_best(tie)] == ["B"]  # an upper bound never wins
    assert facts.paper_best([exp(1.0)]) == []
    assert facts.ranked([exp(1.0), exp(3.0), exp(2.0), exp(3.0)]) == [1, 3, 2, 0]


def test_agreement_beyond_and_mean_distance() -> None:
    exps = [
        exp(30.0, 29.5, within_tolerance=True, diff=0.5),
        exp(42.3, 35.9, within_tolerance=False, diff=6.4),
        exp(17.2, 20.0, "below", within_tolerance=None, bound_met="True", diff=-2.8),
        exp(23.1, 20.0, "below", within_tolerance=None, bound_met="False", diff=3.1),
        exp(5.0),
    ]
    # Only the runs with a stated accuracy count against the tolerance; a bound is met or not.
    assert facts.agreement(exps) == (1, 2)
    assert [e["best_val_acc_mean"] for e in facts.outside_tolerance(exps)] == [42.3]
    assert [e["best_val_acc_mean"] for e in facts.bounds_missed(exps)] == [23.1]
    assert [facts.agrees(e) for e in exps] == [True, False, True, False, False]
    assert facts.mean_abs_diff(exps) == pytest.approx((0.5 + 6.4) / 2)  # the bounds left out
    assert facts.mean_abs_diff([exp(5.0)]) is None


def test_sides_of_the_paper() -> None:
    exps = [exp(30.0, 29.5), exp(29.0, 29.5), exp(29.54, 29.5), exp(31.0, 30.0)]
    assert facts.sides(exps) == {1: 2, -1: 1, 0: 1}


def test_spread_needs_several_seeds_in_every_experiment() -> None:
    a = exp(30.0, n_seeds=3, best_val_acc_std=0.6)
    b = exp(29.5, n_seeds=2, best_val_acc_std=0.8)
    assert facts.spread([a, b]) == 1.0  # sqrt(0.36 + 0.64)
    assert facts.spread([a]) == 0.6
    assert facts.spread([a, exp(29.5, best_val_acc_std=5.0)]) is None  # one seed: not measured
    assert facts.spread([]) is None
    assert facts.exceeds_spread(a, b) is False  # a gap of 0.5 within ±1.0
    assert facts.exceeds_spread(a, {**b, "best_val_acc_mean": 29.0}) is False  # 1.0: the edge
    assert facts.exceeds_spread(a, {**b, "best_val_acc_mean": 28.5}) is True  # 1.5 beyond it
    assert facts.exceeds_spread(b, {**a, "best_val_acc_mean": 31.0}) is True  # either sign
    assert facts.exceeds_spread(a, {**b, "best_val_acc_mean": 30.0}) is None  # a tie is no gap
    assert facts.exceeds_spread(a, exp(28.0)) is None  # b has one seed


def test_speed_ratio_only_on_the_same_device() -> None:
    slow = exp(40.0, images_per_second_mean=1000.0, device_name="H100")
    fast = exp(30.0, images_per_second_mean=3000.0, device_name="H100")
    assert facts.speed_ratio(slow, fast) == 3.0
    assert facts.speed_ratio(fast, slow) == 0.3
    assert facts.speed_ratio(slow, {**fast, "device_name": "A100"}) is None
    assert facts.speed_ratio(slow, {**fast, "images_per_second_mean": None}) is None


def test_overfitting_epoch() -> None:
    def history(val: list[float], train: list[float]) -> list[dict]:
        rows = zip(val, train, strict=True)
        return [{"epoch": i, "val_loss": v, "train_loss": t} for i, (v, t) in enumerate(rows, 1)]

    fit = facts.overfitting(history([3.0, 2.0, 2.0, 2.5], [4.0, 3.0, 2.0, 1.0]))
    assert fit == (2, 2.0, 4, 2.5, True)  # the first lowest epoch
    assert not facts.overfitting(history([3.0, 2.0, 2.5], [4.0, 3.0, 3.5])).overfits
    assert facts.overfitting(history([3.0, 2.0], [4.0, 3.0])).low_epoch == 2  # still falling
    assert facts.overfitting(history([3.0], [4.0])) is None


def test_sizes_and_the_best_of_a_model() -> None:
    exps = [
        exp(30.0, model="M1", parameters=500),
        exp(31.0, model="M1", parameters=500),
        exp(45.0, model="R", parameters=20_000),
        exp(40.0, model="A", parameters=60_000),
        exp(50.0, model="X"),  # no parameter count: left out
    ]
    sizes = facts.sizes(exps)
    assert (sizes.largest["model"], sizes.smallest["model"], sizes.winner["model"]) == (
        "A",
        "M1",
        "R",
    )
    assert facts.top_of_model(exps, "M1") == 31.0
    assert facts.sizes([exp(1.0)]) is None


def test_settled_comparisons() -> None:
    pair = [exp(20.0, 22.0), exp(30.0, 29.5)]
    flipped = [exp(30.0, 22.0), exp(20.0, 29.5)]
    unordered = [exp(20.0, 20.0, "below"), exp(30.0, 15.0)]
    result = facts.settled([("a", pair), ("b", flipped), ("c", unordered)])
    assert result == {"a": True, "b": False}


def test_settings_facts() -> None:
    step = {"scheduler": {"name": "StepLR", "step_size": 7, "gamma": 0.1}}
    assert facts.step_schedule(step) == pytest.approx((10.0, 7))
    assert facts.step_schedule({"scheduler": None}) is None
    assert facts.step_schedule(None) is None
    subset = {"subset": {"train_per_class": 50, "val_per_class": None}}
    assert facts.subset(subset) == {"train_per_class": 50}
    assert facts.subset({"subset": {"val_per_class": 10, "train_per_class": 20}}) == {
        "train_per_class": 20,
        "val_per_class": 10,
    }
    assert facts.epoch_images("set1+set2", 1400) == 2800


def test_groups_and_varying_settings() -> None:
    a, b, c = exp(1.0, lr=1e-3, sets="set1"), exp(2.0, lr=1e-4, sets="set1"), exp(3.0, lr=1e-3)
    assert facts.grouped([(a, "x"), (b, "y"), (c, "x")]) == [("x", [a, c]), ("y", [b])]
    assert facts.varying([a, b]) == ["lr"]
    assert facts.grouped_by([a, b, c], lambda e: e["lr"]) == {1e-3: [a, c], 1e-4: [b]}
    assert facts.missing(["e1.0", "e9"], [a]) == ["e9"]


def test_jobs() -> None:
    jobs = [
        {"wall_seconds": 10.0, "device_name": "H100"},
        {"wall_seconds": 30.0, "device_name": "A100"},
        {"wall_seconds": 20.0, "device_name": "H100"},
    ]
    assert facts.longest(jobs)["wall_seconds"] == 30.0
    assert facts.longest([]) is None
    assert facts.devices(jobs) == ["H100", "A100"]
