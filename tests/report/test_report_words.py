"""The report's words: number formats, and the sentences prose, words, claim_words, ablation_words,
beyond_words and provenance_words compute from the numbers."""

from __future__ import annotations

import re
from typing import Any

from tinycnn.report import (
    ablation_words,
    beyond_words,
    claim_words,
    facts,
    formatting,
    prose,
    provenance_words,
    words,
)


def test_number_formats() -> None:
    assert formatting.fmt_paper(22.0, "approx") == "~22"
    assert formatting.fmt_paper(20.0, "below") == "< 20"
    assert formatting.fmt_paper(29.5, "exact") == "29.5"
    assert formatting.fmt_paper(None, None) == "—"
    assert formatting.fmt_acc(29.6, 0.7071, 2) == "29.6 ± 0.7"
    assert formatting.fmt_acc(29.64, 0.0, 1) == "29.6"
    assert formatting.fmt_diff(6.4) == "+6.4"
    assert formatting.fmt_diff(-2.2) == "\u22122.2"
    assert formatting.fmt_diff(-0.04) == "0.0"
    assert formatting.fmt_lr(1e-3) == "1e-3"
    assert formatting.fmt_lr(2.5e-4) == "2.5e-4"
    assert formatting.fmt_runs([6, 1, 2, 3, 4, 5, 8]) == "runs 1–6 and 8"
    assert formatting.fmt_runs([3, 4]) == "runs 3 and 4"


def _exp(acc: float, paper: float | None = None, stated: str = "exact", **more: Any) -> dict:
    return {
        "experiment": f"e{acc}",
        "model": "M",
        "run": None,
        "best_val_acc_mean": acc,
        "n_seeds": 1,
        "paper_accuracy": paper,
        "paper_stated": stated,
        **more,
    }


def test_comparisons_at_chance_are_counted_apart() -> None:
    learnt = [_exp(30.0, 29.5), _exp(36.0, 35.9)]
    guess = [_exp(10.1, 20.0, "below", at_chance=True), _exp(10.0, 45.0, at_chance=True)]
    drawn = [("A", learnt), ("B", [learnt[1], guess[1]]), ("C", [guess[0], learnt[0]])]
    assert prose.comparisons_count(drawn) == (
        " Section 2 draws 3 comparisons between runs. The paper states the order of 3 of them: 1 "
        "comes out in the same order here; 2 comparisons involve a run at chance level and "
        "settle nothing."
    )
    assert prose.comparisons_count(drawn[1:]).endswith(
        "The paper states the order of 2 of them: each involves a run at chance level and "
        "settles nothing."
    )
    assert prose.comparisons_count([]) == ""


def test_a_run_at_chance_is_named_and_compared_with_nothing() -> None:
    # 10 classes: 10.3% against 10.0% is a guess, not "beats by 0.3 points".
    chance = {"at_chance": True, "chance_acc": 10.0}
    a, b = _exp(10.3, 35.9, **chance), _exp(10.0, 29.5, **chance)
    assert (
        prose.compare(a, b, "A", "B") == "Neither A nor B rises above chance level: no comparison."
    )
    c = _exp(45.0, 45.0)
    said = prose.compare(c, a, "C", "A")
    assert said == "C and A are not compared: A is at chance level."
    assert prose.compare(a, c, "A", "C") == "A and C are not compared: A is at chance level."
    ranking = prose.compare_group([c, a, _exp(30.0)])
    assert "Ranked by accuracy:" in ranking and "e10.3 (" not in ranking
    assert ranking.endswith("at chance level, and not ranked.")
    # Its paragraph says so, and reads no trend into losses that only wander; a validation loss
    # ending far above a guess's (2 ln 10 = 4.6) is named as diverged.
    history = [{"epoch": 1, "val_loss": 2.3029, "train_loss": 2.3031},
               {"epoch": 2, "val_loss": 2.3027, "train_loss": 2.3033}]  # fmt: skip
    e = {**_exp(10.0, 35.9, **chance), "run": 5, "model": "M4", "sets": "set1+set2", "lr": 1e-3,
         "scheduler": "none", "epochs": 2, "best_val_top5_mean": 50.0, "final_val_acc_mean": 10.0,
         "diff": -25.9, "within_tolerance": False}  # fmt: skip
    text = prose.run_paragraph(e, history, None)
    assert "peaks at a validation accuracy of 10.0%, chance level for 10 classes, with" in text
    assert "lowest at the last epoch" not in text and "overfitting" not in text
    assert "diverged" not in text
    blown = [{"epoch": 1, "val_loss": 8.89, "train_loss": 2.4},
             {"epoch": 2, "val_loss": 23.37, "train_loss": 4.35}]  # fmt: skip
    text = prose.run_paragraph(e, blown, None)
    assert "Its validation loss diverged, from 8.89 at epoch 1 to 23.37." in text
    # a loss in the millions is printed in thousands, not to the hundredth
    far = [*blown[:1], {"epoch": 2, "val_loss": 14745576.76, "train_loss": 4.35}]
    assert "from 8.89 at epoch 1 to 14,745,577." in prose.run_paragraph(e, far, None)


def test_a_family_comparison_sets_the_papers_best_of_each_against_ours() -> None:
    # Our best M4 is its lr 1e-4 run (the paper's 24%), the paper's best M4 its lr 1e-3 run
    # (35.9%): the paper has M4 ahead of M1 (29.5%), as its claim says, not behind.
    m4 = [_exp(30.0, 24.0, model="M4", run=4), _exp(25.0, 35.9, model="M4", run=5)]
    m1 = [_exp(28.0, 29.5, model="M1", run=2)]
    said = prose.against_previous(m4, m1)
    assert "M4 (run 4) beats M1 (run 2) by 2.0 points" in said
    assert (
        "the paper's best of each, M4 (run 5) and M1 (run 2), have the same order (35.9% vs 29.5%)"
    ) in said
    assert "opposite" not in said and "24%" not in said
    # The conclusion counts it the same way: by the paper's best of each family.
    drawn = facts.Drawn("M4 against M1", [m1[0], m4[0]], (m1[0], m4[1]))
    assert facts.settled([drawn]) == {"M4 against M1": True}  # 35.9 > 29.5, ours 30 > 28
    assert facts.settled([drawn[:2]]) == {"M4 against M1": False}  # 24% against 29.5% instead
    # Where our best is the paper's best too, the paper's numbers are those of the two runs.
    said = prose.against_previous(m4[1:], m1)
    assert (
        "M4 (run 5) trails M1 (run 2) by 3.0 points (25.0% against 28.0%); the paper has the "
        "opposite order (35.9% vs 29.5%)."
    ) in said


def test_runs_are_told_apart_by_their_sets_named_once() -> None:
    # "M1 (set1)" and "M1 (set1+set2)", not "M1 (sets set1)".
    a, b = _exp(21.8, model="M1", sets="set1"), _exp(29.6, model="M1", sets="set1+set2")
    assert words.labels([a, b]) == ["M1 (set1)", "M1 (set1+set2)"]


def test_a_comparison_names_what_it_does_not_hold_equal() -> None:
    """Both sets concatenated show a run twice the images an epoch; more epochs, a longer
    budget: the comparison says so, and says nothing where the two are alike."""
    a = _exp(22.5, model="M1", sets="set1+set2", epochs=20)
    b = _exp(17.7, model="M1", sets="set1", epochs=20)
    text = str(prose.compare(a, b, "M1 (set1+set2)", "M1 (set1)"))
    assert "M1 (set1+set2) beats M1 (set1) by 4.8 points" in text
    assert ", seeing twice the images an epoch" in text
    assert ", seeing half the images an epoch" in str(prose.compare(b, a, "B", "A"))
    longer = _exp(25.0, model="M1", sets="set1", epochs=30)
    assert ", in 30 epochs against 20" in str(prose.compare(longer, b, "C", "B"))
    alike = str(prose.compare(_exp(20.0, model="M1", sets="set1", epochs=20), b, "D", "B"))
    assert "seeing" not in alike and "epochs against" not in alike


def test_the_order_sentence_counts_in_words() -> None:
    # one pair, or one of several, is singular: never "Of the 1 pairs ..., 1 come out"
    a, b = _exp(30.0, 29.5), _exp(20.0, 22.0, stated="approx")
    assert prose.order_sentence([a, b]) == (
        "The one pair of runs whose order the paper's figures settle comes out in the same "
        "order here."
    )
    flipped = [_exp(20.0, 29.5), _exp(30.0, 22.0, stated="approx")]
    assert "comes out in another order here." in prose.order_sentence(flipped)
    three = prose.order_sentence([a, b, _exp(10.0, 35.0)])
    assert three == (  # the paper has c above a above b, ours a above b above c
        "Of the 3 pairs of runs whose order the paper's figures settle, 1 comes out in the same "
        "order here."
    )


def test_several_tables_are_referred_to_as_a_range_or_a_list() -> None:
    def item(label: str) -> Any:
        return type("T", (), {"id": label.lower().replace(" ", "-"), "label": label})()

    def text(markup: str) -> str:
        return re.sub(r"<[^>]+>", "", markup)

    tables = [item(f"Table {n}") for n in (7, 8, 9, 10)]
    assert text(words.refs(tables[:1])) == "Table 7"
    assert text(words.refs(tables[:2])) == "Tables 7 and 8"
    assert text(words.refs(tables)) == "Tables 7–10"  # not "Table 7, Table 8, ... and Table 10"
    assert text(words.refs([tables[0], tables[2], tables[3]])) == "Tables 7, 9 and 10"
    assert text(words.refs([item("Figure A1"), item("Figure A2"), item("Figure A3")])) == (
        "Figures A1–A3"
    )
    # each end of a range, each number of a list, is a link; the links survive the list
    assert words.refs(tables).count('<a class="ref" href="#table-') == 2
    assert words.refs([tables[0], tables[2], tables[3]]).count('href="#table-') == 3
    mixed = words.refs([item("Table 7"), item("Figure 2")])
    assert text(mixed) == "Table 7 and Figure 2" and mixed.count("<a ") == 2


def test_the_size_paragraph_says_each_fact_once() -> None:
    fig = type("F", (), {"id": "figure-8", "label": "Figure 8"})()
    m1 = _exp(72.7, model="M1", parameters=535_290)
    chance = {"at_chance": True, "chance_acc": 10.0}
    alexnet = _exp(10.0, model="AlexNet", parameters=61_110_850, **chance)
    text = re.sub(r"<[^>]+>", "", prose.size_paragraph([m1, alexnet], fig))
    # a run at chance is compared with nothing; the smallest, the most accurate, named once
    assert text == (
        "Figure 8 relates accuracy to model size. The largest model, AlexNet (61.1 M "
        "parameters), stays at chance level (10.0%); the smallest, M1 (0.535 M), is the most "
        "accurate, with 72.7%."
    )
    learnt = {**alexnet, "best_val_acc_mean": 20.0, "at_chance": False}
    text = re.sub(r"<[^>]+>", "", prose.size_paragraph([m1, learnt], fig))
    assert text.endswith(
        "reaches 20.0% at best, against 72.7% for the most accurate, M1 (0.535 M), which is "
        "also the smallest."
    )


def test_a_run_beyond_the_paper_at_chance_is_set_against_no_run() -> None:
    table = type("T", (), {"id": "table-8", "label": "Table 8"})()
    common = {"role": "beyond", "model": "ResNet18", "n_seeds": 1, "best_epoch": 1,
              "epochs": 2, "wall_seconds_mean": 4.0, "images_per_second_mean": 51.0,
              "chance_acc": 10.0}  # fmt: skip
    base = {**common, "experiment": "resnet18_lr1e-3", "role": "baseline",
            "best_val_acc_mean": 11.0, "at_chance": True}  # fmt: skip
    modern = {**common, "experiment": "modern_resnet18", "best_val_acc_mean": 10.0,
              "at_chance": True}  # fmt: skip
    text = re.sub(r"<[^>]+>", "", beyond_words.beyond_paragraph([base, modern], table, table, {}))
    assert (
        "The run modern_resnet18 reaches 10.0% at its best epoch (1 of 2), chance level for "
        in text
    )
    assert "classes, set against no run." in text and "points below" not in text
    learnt = {**modern, "best_val_acc_mean": 40.0, "at_chance": False}
    text = re.sub(r"<[^>]+>", "", beyond_words.beyond_paragraph([base, learnt], table, table, {}))
    assert "(1 of 2), resnet18_lr1e-3 being at chance level." in text
    # A run whose loss blew up (modern_resnet18's rose from 55 to 443 in the demo) is called
    # diverged, not merely at chance level.
    blown = {**modern, "val_loss_low": 55.0, "val_loss_low_epoch": 1, "val_loss_last": 443.0}
    text = re.sub(r"<[^>]+>", "", beyond_words.beyond_paragraph([base, blown], table, table, {}))
    assert (
        "The run modern_resnet18 reaches 10.0% at its best epoch (1 of 2), diverged (its "
        "validation loss rose from 55.00 at epoch 1 to 443.00), set against no run."
    ) in text
    assert "chance level for 10 classes, set against" not in text


def test_a_claim_of_the_best_model_says_behind_not_negative_ahead() -> None:
    row = {"kind": "best", "measured": -69.2, "spread": None, "n": 1,
           "experiments": "m1_lr1e-3 densenet161", "reason": None}  # fmt: skip
    assert claim_words.claim_measured(row) == "69.2 points behind densenet161 (n = 1)"
    assert (
        claim_words.claim_measured({**row, "measured": 0.3})
        == "0.3 points ahead of densenet161 (n = 1)"
    )


def test_no_gap_no_gap_to_close() -> None:
    from handmade_aggregate import _ablation

    agrees = {"closes_gap": True, "closest": True, "gap": -0.9, "accuracy_mean": 28.6}
    groups = [
        [_ablation("q", "Q", "base", "m1_lr1e-3", **agrees),
         _ablation("q", "Q", "online", "q__online", closes_gap=True, closest=False, gap=1.3,
                   accuracy_mean=30.8)],
    ]  # fmt: skip
    said = ablation_words.ablations_summary(groups, "2.10")
    assert said == (
        "Of the one question the paper leaves open and tried in Section 2.10, none has a gap to "
        "explain: its base already lands within the tolerance of the paper's number."
    )
    assert beyond_words._as_clause("A residual network.") == "a residual network"
    assert beyond_words._as_clause("ResNet18 with a 3x3 stem") == "ResNet18 with a 3x3 stem"


def test_a_question_without_results_says_so_once() -> None:
    from handmade_aggregate import _ablation

    unrun = {"n_seeds": 0, "closest": None, "closes_gap": None, "gap": None}
    rows = [_ablation("q", "Q", "base", "m4_lr1e-3", **unrun),
            _ablation("q", "Q", "split", "q__split", **unrun)]  # fmt: skip
    assert (
        ablation_words.ablation_sentence(rows)
        == "Neither base (m4_lr1e-3) nor split has results yet."
    )
    rows.append(_ablation("q", "Q", "late", "q__late", **unrun))
    assert ablation_words.ablation_sentence(rows) == (
        "None of base (m4_lr1e-3), split and late has results yet."
    )


def test_comparisons_flip_and_tie() -> None:
    a, b = _exp(35.9, 35.9), _exp(29.5, 29.5)
    assert "A beats B by 6.4 points" in prose.compare(a, b, "A", "B")
    assert "the same order" in prose.compare(a, b, "A", "B")
    assert "A trails B by 6.4 points" in prose.compare(b, a, "A", "B")
    assert "A matches B" in prose.compare(_exp(30.04), _exp(29.96), "A", "B")
    assert "opposite order" in prose.compare(_exp(40.0, 20.0), _exp(30.0, 30.0), "A", "B")
    seeded = {"n_seeds": 3, "best_val_acc_std": 0.6}
    c, d = _exp(30.0, **seeded), _exp(29.5, n_seeds=2, best_val_acc_std=0.8)
    assert "a gap within the spread of the seeds (±1.0 points)" in prose.compare(c, d, "C", "D")
    far = {**d, "best_val_acc_mean": 27.0}
    assert "a gap beyond the spread of the seeds (±1.0 points)" in prose.compare(c, far, "C", "D")
    assert "spread" not in prose.compare(c, _exp(27.0), "C", "D")  # one seed: not measured
    tie = [_exp(46.12, 45.0, model="A"), _exp(46.08, 48.0, model="B")]
    assert "A (e46.12) and B (e46.08) share the best accuracy, 46.1%" in prose.best_sentence(tie)
    assert "; the paper's best, B (e46.08) with 48%, is among them." in prose.best_sentence(tie)
    assert "as in the paper (48%)" in prose.best_sentence(tie[1:])
    other = [tie[0], _exp(1.0, 48.0, model="C")]
    assert "; the paper's best is C (e1.0) with 48%." in prose.best_sentence(other)
    # "below 20" orders only against a number at or above 20
    assert facts.paper_order(_exp(1, 20.0, "below"), _exp(1, 45.0)) == -1
    assert facts.paper_order(_exp(1, 20.0, "below"), _exp(1, 15.0)) is None


def test_beyond_runs_on_other_images_say_so() -> None:
    # The runs' images are part of their recorded settings: a comparison across validation
    # sets says it compares roughly; one across training shares only, that it is scored alike.
    full, cut = {"subset": {}}, {"subset": {"train_per_class": 12, "val_per_class": 10}}
    held = {"validation": {"source": "augmented_split", "fraction": 0.2}}
    assert words.same_images_clause([full, full]) == (
        ", on the same training and validation images",
        "",
    )
    assert "different validation images" in words.same_images_clause([full, cut])[1]
    assert (
        "the same validation images"
        in words.same_images_clause([full, {"subset": {"train_per_class": 12}}])[1]
    )
    assert "different validation images" in words.same_images_clause([full, held])[1]
    assert words.images_words(cut, "train") == "first 12 a class"
    assert words.images_words(cut, "val") == "first 10 a class"
    assert words.images_words(full, "val") == "all"
    assert words.images_words(held, "val") == "20% of the augmented training samples, held out"


def test_a_narrowing_within_the_seeds_spread_is_not_called_narrowing() -> None:
    # The claims' rule: a change of distance no larger than the seeds' spread is noise.
    row = {"variant": "last", "n_seeds": 2, "accuracy_mean": 32.5, "closes_gap": False,
           "narrows_gap": True, "within_seed_noise": True, "leak": False}  # fmt: skip
    assert ablation_words.ablation_verdict(row) == "within seed noise"
    assert ablation_words.ablation_verdict({**row, "within_seed_noise": False}) == "narrows it"
    assert ablation_words.ablation_verdict({**row, "within_seed_noise": None}) == "narrows it"


def test_every_reason_has_words() -> None:
    from tinycnn.shared.contract import CLAIM_REASONS

    for reason in CLAIM_REASONS:  # the template words each, and no other
        assert claim_words.claim_reason({"reason": reason}), reason
    assert not claim_words.claim_reason({"reason": "no_such_reason"})


def test_numerics_words_name_the_compile_mode() -> None:
    assert provenance_words.numerics("fp32, contiguous", "none") == "fp32, default layout"
    assert provenance_words.numerics("bf16 autocast, channels_last", "reduce-overhead") == (
        "bf16 mixed precision, channels-last layout; compiled (reduce-overhead)"
    )


def test_runs_at_chance_take_no_part_in_averages_lists_sides_or_the_best() -> None:
    """A mean gap of 27.5 points once came from eight untrained runs: a run at chance level is
    said once to be set against nothing, and counts in no average, list, side or best."""
    chance = {"at_chance": True, "chance_acc": 0.5}
    learnt = [
        _exp(28.0, 29.5, run=2, diff=-1.5, model="M1", experiment="m1", within_tolerance=True)
    ]
    guessing = [
        _exp(0.5, 45.0, run=7, diff=-44.5, model="ResNet18", experiment="r18", **chance),
        _exp(0.6, 51.0, run=11, diff=-50.4, model="DenseNet161", experiment="d161", **chance),
        _exp(0.5, 20.0, "below", run=6, diff=-19.5, model="AlexNet", experiment="alex", **chance),
    ]
    exps = learnt + guessing
    assert facts.mean_abs_diff(exps) == 1.5 and facts.outside_tolerance(exps) == []
    assert facts.agreement(exps) == (1, 1) and facts.best(exps) == learnt
    text = re.sub(r"<[^>]+>", "", prose.tolerance_sentence(exps, 3.0))
    assert text == (
        "The one run with a stated accuracy is within ±3 points of it; runs 6, 7 and 11 are at "
        "chance level and set against no number of the paper."
    )
    assert "stays below" not in text  # a guess says nothing of the bound
    fig = type("F", (), {"id": "figure-3", "label": "Figure 3"})()
    sides = re.sub(r"<[^>]+>", "", prose.sides_paragraph(exps, fig))
    assert sides.endswith("Of the 1 run with a stated accuracy, 1 lands below the paper's figure.")
    assert re.sub(r"<[^>]+>", "", prose.best_sentence(exps)).startswith(
        "The best model is M1 (run 2) with 28.0%"
    )
    nothing = re.sub(r"<[^>]+>", "", prose.best_sentence(guessing))
    assert nothing.startswith("No run made so far rises above chance level, so none is the best")


def test_the_conclusion_says_whether_the_seeds_explain_a_gap_where_they_are_measured() -> None:
    """The seeds are a suspect only until measured: a run beyond the tolerance with several
    seeds says whether its gap lies within their standard deviation (as displayed) or beyond."""

    def run(run: int, acc: float, paper: float, std: float | None, n: int, **more: Any) -> dict:
        diff = acc - paper
        return _exp(
            acc, paper, run=run, diff=diff, best_val_acc_std=std, n_seeds=n,
            within_tolerance=abs(diff) <= 3.0, **more,
        )  # fmt: skip

    unknown = "software versions are unknown, and a run's accuracy varies from seed to seed."
    one_seed, agreeing = run(2, 22.5, 29.5, None, 1), run(3, 22.0, 22.8, 0.1, 3)
    assert str(prose.suspects([one_seed, agreeing])).endswith(unknown)  # nothing measured
    assert str(prose.suspects([])).endswith(unknown)
    beyond = run(2, 22.5, 29.5, 0.36, 3)
    said = str(prose.suspects([beyond, agreeing, one_seed]))
    assert said.endswith(
        "software versions are unknown. Seed-to-seed variation does not explain the gap of run 2 "
        "(\u22127.0 points, against a standard deviation of 0.4 over its 3 seeds)."
    )
    # A gap no larger than the spread, as displayed (3.95 shows as 4.0), is within it.
    within = run(5, 31.9, 35.9, 3.95, 2)
    said = str(prose.suspects([beyond, within, run(7, 40.0, 45.0, 1.0, 3)]))
    assert (
        "A run's accuracy varies from seed to seed by as much as the gap of run 5 (\u22124.0 "
        "points, against a standard deviation of 4.0 over its 2 seeds)." in said
    )
    assert said.endswith("does not explain the gaps of run 2 (\u22127.0 points, against a "
                         "standard deviation of 0.4 over its 3 seeds) and run 7 (\u22125.0 points, "
                         "against a standard deviation of 1.0 over its 3 seeds).")  # fmt: skip
    # A run at chance level departs by noise: no sentence about its seeds.
    chance = run(8, 0.5, 34.5, 0.1, 3, at_chance=True)
    assert str(prose.suspects([chance])).endswith(unknown)
