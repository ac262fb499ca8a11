"""The paper's claims (config `report.claims`): what each kind measures and the verdict rule
(tinycnn.report.facts), on hand-made results whose answers are known: for every kind a claim that
holds, one that fails and, where seeds measure a spread, one lost in seed noise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tinycnn.config.load import load_schema
from tinycnn.report import facts
from tinycnn.shared.contract import CLAIM_KINDS, CLAIM_REASONS, CLAIM_STATED, CLAIM_VALUED, VERDICTS

ROOT = Path(__file__).resolve().parents[2]


def exp(name: str, accs: list[float], **more: Any) -> dict[str, Any]:
    """An experiments.csv record over seeds with best accuracies ``accs``."""
    mean, std = facts.seed_stats(accs)
    return {
        "experiment": name,
        "model": "M",
        "n_seeds": len(accs),
        "best_val_acc_mean": mean,
        "best_val_acc_std": std or 0.0,
        **more,
    }


def run(
    best_epoch: int, val_acc: list[float], val_loss: list[float] | None = None, **more: Any
) -> dict[str, Any]:
    """A runs.csv record with its history: ``lr`` per epoch, ``train_loss`` falling."""
    epochs = len(val_acc)
    lrs = more.pop("lr", [1e-3] * epochs)
    train = more.pop("train_loss", [5.0 - 0.1 * e for e in range(epochs)])
    val_loss = val_loss or [3.0] * epochs
    history = [
        {"epoch": e + 1, "lr": lrs[e], "val_acc": val_acc[e], "val_loss": val_loss[e],
         "train_loss": train[e]}
        for e in range(epochs)
    ]  # fmt: skip
    return {"best_epoch": best_epoch, "history": history, **more}


def verdict(claim: dict[str, Any], exps: list[dict], runs: dict | None = None) -> str:
    measure = facts.measure_claim(claim, {e["experiment"]: e for e in exps}, runs or {})
    return facts.claim_verdict(claim, measure)[0]


def claim(kind: str, *names: str, **more: Any) -> dict[str, Any]:
    return {"id": "c", "kind": kind, "experiments": list(names), "statement": "s", **more}


# --- the kinds -----------------------------------------------------------------------------------


def test_order() -> None:
    c = claim("order", "a", "b")
    assert verdict(c, [exp("a", [35.9]), exp("b", [29.5])]) == "holds"
    assert verdict(c, [exp("a", [29.5]), exp("b", [35.9])]) == "fails"
    assert verdict(c, [exp("a", [30.0]), exp("b", [30.04])]) == "fails"  # a tie beats nothing
    # A gap of 1.0 against a spread of sqrt(1.0² + 1.0²) = 1.4: not distinguishable.
    noisy = [exp("a", [30.0, 32.0]), exp("b", [29.0, 31.0])]
    assert verdict(c, noisy) == "within seed noise"
    # One seed in b: the spread is not measured, the verdict is plain.
    assert verdict(c, [exp("a", [30.0, 32.0]), exp("b", [30.0])]) == "holds"


def test_difference() -> None:
    c = claim("difference", "a", "b", value=7.5, stated="approx", tolerance=3.0)
    assert verdict(c, [exp("a", [29.5]), exp("b", [22.0])]) == "holds"
    assert verdict(c, [exp("a", [29.5]), exp("b", [25.0])]) == "holds"  # 4.5: the boundary
    assert verdict(c, [exp("a", [29.5]), exp("b", [27.5])]) == "fails"  # 2.0
    # 11.0 lies 0.5 outside the band; the seeds spread by 1.4.
    assert verdict(c, [exp("a", [32.0, 34.0]), exp("b", [21.0, 23.0])]) == "within seed noise"
    # 4.5 on the boundary, spread 1.4: not distinguishable either.
    assert verdict(c, [exp("a", [28.5, 30.5]), exp("b", [24.0, 26.0])]) == "within seed noise"


def test_threshold() -> None:
    below = claim("threshold", "a", value=20.0, stated="below")
    assert verdict(below, [exp("a", [17.2])]) == "holds"
    assert verdict(below, [exp("a", [20.0])]) == "holds"  # at the bound, as "below 20" reads
    assert verdict(below, [exp("a", [22.0])]) == "fails"
    assert verdict(below, [exp("a", [19.0, 22.0])]) == "within seed noise"  # 20.5 ± 2.1
    near = claim("threshold", "a", value=23.8, stated="approx", tolerance=3.0)
    assert verdict(near, [exp("a", [22.8])]) == "holds"
    assert verdict(near, [exp("a", [28.0])]) == "fails"
    above = claim("threshold", "a", value=40.0, stated="above")
    assert verdict(above, [exp("a", [45.0])]) == "holds"
    assert verdict(above, [exp("a", [35.0])]) == "fails"


def test_train_accuracy() -> None:
    c = claim("train_accuracy", "a", value=55.0, stated="approx", tolerance=5.0)

    def e(mean: float, std: float = 0.0, n: int = 1) -> dict[str, Any]:
        more = {"final_train_acc_mean": mean, "final_train_acc_std": std}
        return {**exp("a", [30.0] * n), **more}

    assert verdict(c, [e(57.0)]) == "holds"
    assert verdict(c, [e(40.0)]) == "fails"
    assert verdict(c, [e(61.0, 2.0, 3)]) == "within seed noise"  # 1 outside, spread 2
    assert verdict(c, [e(70.0, 2.0, 3)]) == "fails"


def test_peak_epoch() -> None:
    c = claim("peak_epoch", "a", value=7, stated="below")
    runs = {"a": [run(6, [1.0] * 20)]}
    assert verdict(c, [exp("a", [30.0])], runs) == "holds"
    assert verdict(c, [exp("a", [30.0])], {"a": [run(12, [1.0] * 20)]}) == "fails"
    noisy = {"a": [run(6, [1.0] * 20), run(9, [1.0] * 20)]}  # 7.5 ± 2.1
    assert verdict(c, [exp("a", [30.0, 31.0])], noisy) == "within seed noise"
    measure = facts.measure_claim(c, {"a": exp("a", [30.0, 31.0])}, noisy)
    assert (measure.value, measure.spread, measure.n) == (7.5, 2.1, 2)


def test_a_peak_not_yet_seen_leaves_the_claim_untested_unless_it_decides_it() -> None:
    # A 4-epoch run best at epoch 4 peaks at epoch 4 or later: "by epoch 7" cannot fail in it.
    rising = {"a": [run(4, [1.0, 2.0, 3.0, 4.0])]}
    below = claim("peak_epoch", "a", value=7, stated="below")
    measure = facts.measure_claim(below, {"a": exp("a", [4.0])}, rising)
    assert (measure.value, measure.reason) == (None, "still_rising")
    assert verdict(below, [exp("a", [4.0])], rising) == "untested"
    # One seed still rising is enough: the mean is then only a lower bound.
    mixed = {"a": [run(3, [1.0, 2.0, 3.0, 2.5]), run(4, [1.0, 2.0, 3.0, 4.0])]}
    assert verdict(below, [exp("a", [3.0, 4.0])], mixed) == "untested"
    # A lower bound decides what it can: a run best at its epoch 12 of 12 does not peak by 7,
    # and one best at its epoch 9 of 9 peaks at 8 or later.
    late = {"a": [run(12, [float(e) for e in range(1, 13)])]}
    assert verdict(below, [exp("a", [12.0])], late) == "fails"
    above = claim("peak_epoch", "a", value=8, stated="above")
    assert verdict(above, [exp("a", [9.0])], {"a": [run(9, [1.0] * 8 + [2.0])]}) == "holds"
    assert verdict(above, [exp("a", [4.0])], rising) == "untested"
    # A peak inside the run is measured as before.
    assert verdict(below, [exp("a", [4.0])], {"a": [run(3, [1.0, 2.0, 3.0, 2.0])]}) == "holds"


def test_a_claim_on_a_run_at_chance_is_untested() -> None:
    # Its accuracy, order and curves are a guess's: no claim on them holds or fails. Its speed
    # is measured all the same.
    guess, learnt = exp("a", [10.2], at_chance=True), exp("b", [35.0])
    order = claim("order", "b", "a")
    measure = facts.measure_claim(order, {"a": guess, "b": learnt}, {})
    assert (measure.value, measure.reason) == (None, "at_chance")
    assert verdict(order, [guess, learnt]) == "untested"
    assert verdict(claim("threshold", "a", value=5, stated="above"), [guess]) == "untested"
    # "b is the best" is measured against the runs above chance only.
    best = facts.measure_claim(claim("best", "b"), {"a": guess, "b": learnt}, {})
    assert (best.value, best.reason) == (None, "no_rival")
    ratio = claim("ratio", "a", "b", value=1.0, stated="above")
    timed = {"history": [{"epoch": 1, "epoch_seconds": 5.0}], "train_images": 100}
    runs = {"a": [{**timed, "best_epoch": 1}], "b": [{**timed, "best_epoch": 1}]}
    assert verdict(ratio, [guess, learnt], runs) == "holds"


def test_overfitting() -> None:
    c = claim("overfitting", "a")
    up = [3.0, 2.0, 2.2, 2.6]  # lowest at epoch 2, then climbs back by 0.6
    runs = {"a": [run(2, [1.0] * 4, up)]}
    assert verdict(c, [exp("a", [30.0])], runs) == "holds"
    # Still falling at the last epoch: what follows the low is untested, not a failure (the
    # demo printed "validation loss 0.00 ± 0.00 after its low ... fails").
    falling = {"a": [run(4, [1.0] * 4, [3.0, 2.6, 2.3, 2.0])]}
    measure = facts.measure_claim(c, {"a": exp("a", [30.0])}, falling)
    assert (measure.value, measure.reason) == (None, "ends_at_low")
    assert verdict(c, [exp("a", [30.0])], falling) == "untested"
    flat_train = {"a": [run(2, [1.0] * 4, up, train_loss=[4.0, 3.0, 3.2, 3.5])]}
    measure = facts.measure_claim(c, {"a": exp("a", [30.0])}, flat_train)
    assert measure.reason == "training_loss_rises"
    assert facts.claim_verdict(c, measure)[0] == "fails"  # no overfitting, outright
    # Two seeds: one rises by 0.6, the other not at all (spread 0.42); their mean curve (3.0,
    # 2.3, 2.25, 2.3) rises by 0.05 from its low.
    seeds = {"a": [run(2, [1.0] * 4, up), run(4, [1.0] * 4, [3.0, 2.6, 2.3, 2.0])]}
    measure = facts.measure_claim(c, {"a": exp("a", [30.0, 31.0])}, seeds)
    assert measure.value == 0.05 and measure.spread == pytest.approx(0.42)
    assert facts.claim_verdict(c, measure)[0] == "within seed noise"
    one_epoch = {"a": [run(1, [1.0])]}
    assert verdict(c, [exp("a", [30.0])], one_epoch) == "untested"
    # Two seeds that agree exactly, both low at epoch 2 and back to it at the end: no rise and
    # no spread, so it fails (a zero spread explains no margin).
    same = {"a": [run(4, [1.0] * 4, [3.0, 2.0, 2.4, 2.0])] * 2}
    measure = facts.measure_claim(c, {"a": exp("a", [30.0, 30.0])}, same)
    assert measure.spread == 0.0 and facts.claim_verdict(c, measure)[0] == "fails"


def test_peak_at_rate_drop() -> None:
    c = claim("peak_at_rate_drop", "a", "b", value=50.0, stated="above", window=1)
    step = [1e-3] * 7 + [1e-4] * 7 + [1e-5] * 6  # drops at epochs 8 and 15
    exps = [exp("a", [30.0, 31.0]), exp("b", [40.0])]

    def runs(*best: int) -> dict[str, list]:
        made = [run(b, [1.0] * 20, lr=step) for b in best]
        return {"a": made[:2], "b": made[2:]}

    assert verdict(c, exps, runs(8, 16, 3)) == "holds"  # 2 of 3 runs: 8 and 16 (15 + 1)
    assert verdict(c, exps, runs(8, 12, 3)) == "fails"  # 1 of 3
    measure = facts.measure_claim(c, {e["experiment"]: e for e in exps}, runs(8, 16, 3))
    assert (measure.value, measure.spread, measure.n) == (66.7, None, 3)  # each seed a run
    constant = {"a": [run(3, [1.0] * 4)] * 2, "b": [run(3, [1.0] * 4)]}
    assert verdict(c, exps, constant) == "untested"  # no run reaches a drop


def test_ratio() -> None:
    # "An epoch of a takes about 3 times one of b": training seconds an epoch, not images/s.
    c = claim("ratio", "a", "b", value=3.0, stated="approx", tolerance=1.0)

    def e(name: str, n: int = 1, device: str = "H100") -> dict:
        return {**exp(name, [30.0] * n), "device_name": device}

    def timed(*seconds: list[float], images: int = 1000) -> list[dict]:
        """A run per list: its epochs' training seconds; ``images`` trained an epoch."""
        runs = []
        for s in seconds:
            history = [{"epoch": i + 1, "epoch_seconds": x} for i, x in enumerate(s)]
            runs.append({"best_epoch": 1, "history": history, "train_images": images})
        return runs

    def measure(a: list[dict], b: list[dict], **more: Any) -> facts.Measure:
        n = min(len(a), len(b))
        exps = {"a": e("a", n, **more), "b": e("b", n)}
        return facts.measure_claim(c, exps, {"a": a, "b": b})

    # 31 s and 29 s an epoch (mean 30) against 10 s: 3.0x.
    assert measure(timed([31.0, 29.0]), timed([10.0, 10.0])).value == 3.0
    assert verdict(c, [e("a"), e("b")], {"a": timed([31.0]), "b": timed([10.0])}) == "holds"
    assert verdict(c, [e("a"), e("b")], {"a": timed([60.0]), "b": timed([10.0])}) == "fails"
    noisy = measure(timed([40.0], [44.0]), timed([10.0], [10.0]))  # 4.2 ± 0.3
    assert (noisy.value, noisy.spread, noisy.n) == (4.2, 0.3, 2)
    # Epochs of different sizes do not compare, whatever their throughput says; nor devices.
    other = measure(timed([30.0]), timed([10.0], images=500))
    assert (other.value, other.reason) == (None, "epochs_differ")
    assert measure(timed([30.0]), timed([10.0]), device="A100").reason == "devices_differ"


def test_best() -> None:
    c = claim("best", "a")
    assert verdict(c, [exp("a", [51.0]), exp("b", [48.0]), exp("c", [46.5])]) == "holds"
    assert verdict(c, [exp("a", [47.0]), exp("b", [48.0]), exp("c", [46.5])]) == "fails"
    noisy = [exp("a", [50.0, 52.0]), exp("b", [49.0, 51.0]), exp("c", [10.0])]
    assert verdict(c, noisy) == "within seed noise"  # ahead by 1.0 of b, spread 1.4
    measure = facts.measure_claim(c, {e["experiment"]: e for e in noisy}, {})
    assert measure.experiments == ("a", "b")  # the claimed best, then the runner-up
    assert verdict(c, [exp("a", [51.0])]) == "untested"  # nothing to beat


def test_stability() -> None:
    c = claim("stability", "a", "b")
    smooth = [10.0, 20.0, 25.0, 27.0]
    bumpy = [10.0, 20.0, 15.0, 27.0, 24.0]  # falls 5 and 3 over 4 transitions: 2.0
    exps = [exp("a", [27.0]), exp("b", [27.0])]
    assert verdict(c, exps, {"a": [run(4, smooth)], "b": [run(4, bumpy)]}) == "holds"
    assert verdict(c, exps, {"a": [run(4, bumpy)], "b": [run(4, smooth)]}) == "fails"
    two = [exp("a", [27.0, 27.0]), exp("b", [27.0, 27.0])]
    noisy = {"a": [run(4, smooth), run(4, bumpy)], "b": [run(4, bumpy), run(4, smooth)]}
    assert verdict(c, two, noisy) == "within seed noise"  # 0 ± 2.0
    assert facts.fall_back(run(4, bumpy)["history"]) == 2.0
    assert facts.fall_back(run(4, smooth)["history"]) == 0.0
    assert facts.fall_back(run(1, [1.0])["history"]) is None


def test_missing_results_are_untested() -> None:
    c = claim("order", "a", "absent")
    measure = facts.measure_claim(c, {"a": exp("a", [30.0])}, {})
    assert measure.reason == "no_results" and facts.claim_verdict(c, measure) == ("untested", None)


# --- the lists agree -----------------------------------------------------------------------------


def test_the_schema_lists_the_kinds_of_the_contract() -> None:
    schema = load_schema()
    item = schema["properties"]["report"]["properties"]["claims"]["items"]["properties"]
    assert item["kind"]["enum"] == list(CLAIM_KINDS)
    assert item["stated"]["enum"] == list(CLAIM_STATED)
    assert set(CLAIM_VALUED) <= set(CLAIM_KINDS)
    assert VERDICTS == ("holds", "fails", "within seed noise", "untested")
    assert len(set(CLAIM_REASONS)) == len(CLAIM_REASONS)


def test_the_papers_claims_cover_every_kind() -> None:
    claims = yaml.safe_load((ROOT / "config.yaml").read_text())["report"]["claims"]
    assert {c["kind"] for c in claims} == set(CLAIM_KINDS)
    assert len({c["id"] for c in claims}) == len(claims) >= 12
