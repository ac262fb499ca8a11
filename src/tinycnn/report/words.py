"""The paper's small words: how an experiment, a run list, an accuracy, a stale mark and a
reference are named, used by every module that words the results (:mod:`prose`,
:mod:`claim_words`, :mod:`ablation_words`, :mod:`beyond_words`, :mod:`provenance_words`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from markupsafe import Markup

from tinycnn.config.merge import HELD_OUT
from tinycnn.report import facts
from tinycnn.report.facts import Experiment
from tinycnn.report.formatting import (
    fmt_acc,
    fmt_duration,
    fmt_int,
    fmt_list,
    fmt_paper,
    fmt_runs,
    fmt_setting,
    fmt_short,
)
from tinycnn.report.sentences import text

# What a table cell or a sentence says in place of a number of an experiment without results.
NOT_RUN = "not yet run"
# The mark after every number of a stale run (recorded under settings today's config changes).
STALE = "‡ stale"
# The mark after the accuracy of a run at chance level (every seed within what guessing reaches).
CHANCE = "°"


# --- small pieces --------------------------------------------------------------------------------


def ref(item: Any, text: str | None = None) -> Markup:
    """A link to a figure or table, by its label (or ``text``: the number alone in a list)."""
    return Markup('<a class="ref" href="#{}">{}</a>').format(item.id, text or item.label)


def and_list(items: Sequence[Any]) -> Markup:
    """``a, b and c`` of text and links: text escaped, links kept (:func:`fmt_list` joins plain
    strings; ``str + Markup`` would escape the links before the last). The template's
    ``and_list``."""
    escaped = [Markup.escape(item) for item in items]
    if len(escaped) <= 1:
        return Markup("").join(escaped)
    return Markup(", ").join(escaped[:-1]) + Markup(" and ") + escaped[-1]


def refs(items: Sequence[Any]) -> Markup:
    """Links to several figures or tables of one kind, each number a link: ``Table 7``,
    ``Tables 7 and 8``, ``Tables 7–15`` (consecutive), ``Tables 7, 9 and 12``."""
    if len(items) == 1:
        return ref(items[0])
    kinds = {item.label.split()[0] for item in items}
    if len(kinds) != 1:
        return and_list([ref(item) for item in items])
    numbers = [item.label.split()[1] for item in items]
    links = [ref(item, number) for item, number in zip(items, numbers, strict=True)]
    digits = [re.fullmatch(r"([A-Z]?)(\d+)", n) for n in numbers]
    consecutive = (
        all(digits)
        and len({d[1] for d in digits}) == 1
        and [int(d[2]) for d in digits]
        == list(range(int(digits[0][2]), int(digits[0][2]) + len(items)))
    )
    joined = (
        Markup("–").join([links[0], links[-1]])
        if consecutive and len(items) > 2
        else and_list(links)
    )
    return Markup("{}s {}").format(kinds.pop(), joined)


def capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def plural(n: int, word: str, plural: str | None = None) -> str:
    """``1 run``, ``2 runs``; ``plural`` for irregular words."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def run_label(e: Experiment) -> str:
    """``run 5`` (the paper's run number), or the experiment's name."""
    run = int(e["run"]) if e.get("run") is not None else None
    return text("words", "run_label", run, e["experiment"])


def model_name(e: Experiment) -> str:
    """``M4 (run 5)``."""
    return f"{e['model']} ({run_label(e)})"


def stale_mark(e: Mapping[str, Any]) -> str:
    """`` ‡ stale`` after a number of a stale run (:func:`tinycnn.report.facts.stale`);
    else empty."""
    return f" {STALE}" if facts.stale(e) else ""


def chance_mark(e: Mapping[str, Any]) -> str:
    """`` °`` after the accuracy of a run at chance level (:func:`tinycnn.report.facts.at_chance`),
    which the table's note explains; else empty."""
    return f" {CHANCE}" if facts.has_results(e) and facts.at_chance(e) else ""


def chance_levels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The chance levels of the runs at chance level among ``rows``, for a table's note:
    ``["0.5% for 200 classes"]``."""
    levels = {facts.classes(e) for e in rows if chance_mark(e)}
    return [text("words", "chance_level", fmt_short(100 / n), n) for n in sorted(levels)]


def acc_text(e: Experiment) -> str:
    """Our accuracy with a percent sign and, for several seeds, how many; marked if stale."""
    n = facts.seeds(e)
    number = fmt_acc(e["best_val_acc_mean"], e.get("best_val_acc_std"), n)
    return text("words", "accuracy", number, n) + stale_mark(e)


def paper_text(e: Experiment) -> str:
    """The paper's accuracy with a percent sign, as stated."""
    return fmt_paper(e.get("paper_accuracy"), e.get("paper_stated")) + "%"


def labels(exps: Sequence[Experiment]) -> list[str]:
    """Names that tell ``exps`` apart: the model, qualified by the settings that differ."""
    varying = facts.varying(exps)
    out = []
    for e in exps:
        quals = [text("words", "qualifier", c, fmt_setting(c, e.get(c))) for c in varying]
        out.append(text("words", "label", e["model"], quals))
    if len(set(out)) < len(out):
        out = [model_name(e) for e in exps]
    return out


def op_name(op: str) -> str:
    """An augmentation op by its torchvision name: ``random_horizontal_flip`` → ``Random...``."""
    return "".join(part.capitalize() for part in op.split("_"))


def chance_words(e: Experiment) -> str:
    """``chance level for 10 classes``: what a run at chance level is said to be."""
    return text("words", "chance", facts.classes(e))


def runs_phrase(exps: Sequence[Experiment]) -> str:
    """``runs 1–5`` (paper run numbers), or the experiments' names where one has none."""
    if all(e.get("run") is not None for e in exps):
        return fmt_runs([int(e["run"]) for e in exps])
    return fmt_list([run_label(e) for e in exps])


def common_with_exceptions(
    values: Sequence[tuple[Experiment, Any]], fmt: Callable[[Any], str]
) -> str:
    """The most common value, then the others with their runs: ``1e-3 (1e-4: runs 3, 4)``."""
    ordered = facts.grouped([(e, fmt(v)) for e, v in values])
    main, rest = ordered[0][0], ordered[1:]
    if not rest:
        return main
    return f"{main} ({'; '.join(f'{v}: {runs_phrase(es)}' for v, es in rest)})"


def subset_phrase(settings: Mapping[str, Any] | None) -> str | None:
    """``the first 50 training images of each class``; None for a run on all the data."""
    parts = [(key, fmt_int(n)) for key, n in facts.subset(settings).items()]
    return text("words", "subset", parts) if parts else None


def mode_words(mode: str) -> str:
    """When a run's augmentation is drawn, in words ("augmentation.mode" is the config's)."""
    return text("words", "mode", mode)


def images_words(settings: Mapping[str, Any] | None, part: str) -> str:
    """A recipe table's cell for ``part`` "train" or "val": ``all``, ``first 12 a class``, or
    for a validation on held-out augmented training samples, ``10% of the augmented training
    samples, held out``."""
    train, val, source, fraction = facts.images(settings)
    if part == "train":
        return text("words", "images", None if train is None else fmt_int(train))
    if source == HELD_OUT:
        return text("words", "images", held_out_percent=fmt_short(100 * fraction))
    return text("words", "images", None if val is None else fmt_int(val))


def same_images_clause(settings: Sequence[Mapping[str, Any] | None]) -> tuple[str, str]:
    """(what follows "sets A beside B", a sentence after it) on whether the runs saw the same
    images: accuracies scored on different validation images compare only roughly."""
    seen = [facts.images(s) for s in settings]
    train_same = len({i[0] for i in seen}) == 1
    val_same = len({i[1:] for i in seen}) == 1
    if train_same and val_same:
        return text("words", "same_images"), ""
    return "", " " + text("words", "other_images", val_same)


def subsets(
    exps: Sequence[Experiment], settings: Mapping[str, Mapping[str, Any]]
) -> dict[str, str]:
    """Experiments trained or validated on part of the data, and on which part."""
    phrases = {e["experiment"]: subset_phrase(settings.get(e["experiment"])) for e in exps}
    return {k: v for k, v in phrases.items() if v}


def waits_for(kind: str | None, cpu_seconds: float | None) -> str:
    """What a run not yet trained waits for, in a cell (the caption says the rest): ``CPU
    (1.7 h)``, its turn on a CPU, a seed there projected to take 1.7 h; ``GPU (15.6 h)``, a GPU,
    as a CPU would take 15.6 h a seed; ``—`` where no plan says."""
    return text("words", "waits_for", kind, fmt_duration(cpu_seconds) if cpu_seconds else None)


def precision(recorded: str | None) -> str:
    """How a run computed, as recorded ("fp32, channels_last"), in a reader's words ("fp32,
    channels-last layout"); empty where nothing is recorded."""
    return text("words", "precision", recorded) if recorded else ""
