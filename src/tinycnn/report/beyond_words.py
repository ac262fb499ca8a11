"""The words of the runs beyond the paper (beyond.csv): their recipe in words, the table's
caption and the section's paragraph."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from tinycnn.report import facts
from tinycnn.report.formatting import (
    fmt_duration,
    fmt_int,
    fmt_list,
    fmt_loss,
    fmt_lr,
    fmt_num,
    fmt_short,
)
from tinycnn.report.words import (
    NOT_RUN,
    acc_text,
    chance_words,
    op_name,
    plural,
    ref,
    same_images_clause,
    stale_mark,
)

# --- beyond the paper ----------------------------------------------------------------------------
# A row is one of beyond.csv: a run beyond the paper (role "beyond") or a baseline of the paper.


def optimizer_words(spec: Mapping[str, Any]) -> str:
    """``SGD, Nesterov momentum 0.9``, ``RAdam, betas (0.9, 0.999), eps 1e-8``."""
    name = spec["name"]
    if name == "SGD":
        momentum = spec.get("momentum") or 0
        if not momentum:
            return "SGD"
        return f"SGD, {'Nesterov ' if spec.get('nesterov') else ''}momentum {fmt_short(momentum)}"
    parts = [name]
    if "betas" in spec:
        parts.append(f"betas ({', '.join(fmt_short(b) for b in spec['betas'])})")
    if "eps" in spec:
        parts.append(f"eps {fmt_lr(spec['eps'])}")
    return ", ".join(parts)


def schedule_words(spec: Mapping[str, Any] | None) -> str:
    """A learning-rate schedule in words: ``÷10 every 7 epochs``; ``constant``."""
    if spec is None:
        return "constant"
    if spec["name"] == "StepLR":
        divisor = fmt_short(round(1 / spec["gamma"], 6))
        return f"÷{divisor} every {plural(spec['step_size'], 'epoch')}"
    if spec["name"] == "warmup_cosine":
        final = spec["final_factor"]
        end = "0" if not final else f"{fmt_short(final)} × the rate"
        warmup = spec["warmup_epochs"]
        rise = f"linear warm-up over {plural(warmup, 'epoch')}, then " if warmup else ""
        return f"{rise}cosine decay to {end}, every batch"
    params = ", ".join(f"{k} {v}" for k, v in spec.items() if k != "name")
    return f"{spec['name']} ({params})"


def loss_words(spec: Mapping[str, Any] | None) -> str:
    """``cross-entropy``, ``cross-entropy, label smoothing 0.1``."""
    smoothing = (spec or {}).get("label_smoothing") or 0
    return "cross-entropy" + (f", label smoothing {fmt_short(smoothing)}" if smoothing else "")


def augmentation_words(aug: Mapping[str, Any]) -> str:
    """The sets of a run and their ops: ``set1 (RandomHorizontalFlip, CenterCrop, Resize) +
    set2 (...), fixed``."""
    ops = aug.get("ops") or {}
    sets = [
        f"{s} ({', '.join(op_name(o['op']) for o in ops.get(s, []) if o['op'] != 'normalize')})"
        for s in aug["sets"]
    ]
    return f"{' + '.join(sets)}, {aug['mode']}"


def beyond_caption(common_epoch: int | None) -> Markup:
    """``common_epoch``: the shortest run's length; None while no run beyond the paper ran."""
    after = Markup(
        f"top-1 after epoch {common_epoch} (the shortest run's length)"
        if common_epoch is not None
        else "top-1 after the shortest run's length (once the runs beyond the paper have run)"
    )
    return Markup(
        "The runs beyond the paper beside the paper's runs they are compared with: best "
        "validation top-1 (%) over the epochs (with several seeds, mean ± standard deviation), "
        "{}, the paper's number, the run's wall time (training and validation) and its "
        "training throughput."
    ).format(after)


def _seeds_margin(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    """`` (beyond the seeds' spread of ±s)`` or `` (within ...)``; empty unless measured."""
    s = facts.spread([a, b])
    if s is None:
        return ""
    g = facts.gap(a, b)
    return f" ({'beyond' if abs(g) > s else 'within'} the seeds' spread of ±{fmt_num(s)})"


def _as_clause(text: str) -> str:
    """A description to follow a colon: its first word lowercased where it is a plain word
    ("A residual network" → "a residual network"), a name kept ("ResNet18 with a 3x3 stem")."""
    text = text.rstrip(".")
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[1:] == first[1:].lower() else text


def _points_from(gap: float) -> str:
    """``3.0 points above``, ``1.0 points below``, ``level with``: a gap in words, not a
    signed number of points "against" a run."""
    if round(gap, 1) == 0:
        return "level with"
    return f"{fmt_num(abs(gap))} points {'above' if gap > 0 else 'below'}"


def beyond_paragraph(
    rows: Sequence[Mapping[str, Any]],
    table: Any,
    recipe: Any,
    settings: Mapping[str, Mapping[str, Any] | None],
    models: Mapping[str, str] | None = None,
    figure: Any = None,
    preview: Any = None,
) -> Markup:
    """What the runs beyond the paper measured, against each baseline, at the best epoch and
    at the common epoch, and what they cost; whether they saw the same images (``settings``:
    each run's, as the recipe table shows them). ``models``: what a model the paper does not
    have is (its description), said where its name first appears; ``figure`` (their curves)
    and ``preview`` (their augmentation's draws) are referred to."""
    models = models or {}
    baselines = [r for r in rows if r["role"] == "baseline"]
    modern = [r for r in rows if r["role"] == "beyond"]
    commons = [r["common_epoch"] for r in rows if r.get("common_epoch") is not None]
    common = int(commons[0]) if commons else None
    same, apart = same_images_clause([settings.get(r["experiment"]) for r in rows])
    named = []
    for r in modern:
        what = models.get(r["model"])
        named.append(
            f"{r['experiment']} ({r['model']}: {_as_clause(what)})"
            if what and r["model"] not in [n["model"] for n in modern[: len(named)]]
            else f"{r['experiment']} ({r['model']})"
        )
    text = Markup("{} sets {} beside {}{}, and {} gives the recipe of each.{}").format(
        ref(table),
        fmt_list(named),
        fmt_list([f"the paper's {r['experiment']} ({r['model']})" for r in baselines])
        or "no run of the paper",
        same,
        ref(recipe),
        apart,
    )
    for m in modern:
        if not facts.has_results(m):
            text += Markup(" {} is {}.").format(m["experiment"], NOT_RUN)
            continue
        made = facts.with_results(baselines)
        if facts.blew_up(m):  # diverged: its numbers say nothing, set against no run
            vs = [
                f"diverged (its validation loss rose from {fmt_loss(m['val_loss_low'])} at epoch "
                f"{int(m['val_loss_low_epoch'])} to {fmt_loss(m['val_loss_last'])}), set against "
                "no run"
            ]
        elif facts.at_chance(m):  # its differences are noise: set against no run
            vs = [f"{chance_words(m)}, set against no run"]
        else:
            vs = [
                f"{_points_from(facts.gap(m, b))} {b['experiment']}{stale_mark(b)}"
                f"{_seeds_margin(m, b)}"
                for b in made
                if not facts.at_chance(b)
            ]
            vs += [f"{b['experiment']} being at chance level" for b in made if facts.at_chance(b)]
        vs += [f"{b['experiment']} is {NOT_RUN}" for b in facts.pending(baselines)]
        at_common = m.get("common_epoch_val_acc_mean")
        sentence = Markup(" {} reaches {} at its best epoch ({} of {})").format(
            m["experiment"], acc_text(m), int(m["best_epoch"]), int(m["epochs"])
        )
        if vs:
            sentence += Markup(", {}").format(fmt_list(vs))
        if at_common is not None and common is not None and common < int(m["epochs"]):
            sentence += Markup("; after epoch {} it stood at {}%{}").format(
                common, fmt_num(at_common), stale_mark(m)
            )
        speed = m.get("images_per_second_mean")
        sentence += Markup(". It took {}{}.").format(
            fmt_duration(m["wall_seconds_mean"]) + stale_mark(m),
            f" at {fmt_int(speed)} training images per second" if speed else "",
        )
        text += sentence
    drawn = [f for f in (figure, preview) if f is not None]
    if figure is not None:
        text += Markup(" {} draws their curves beside the paper's runs'").format(ref(figure))
    if preview is not None:
        text += Markup("{} {} shows draws of their augmentation").format(
            ";" if figure is not None else "", ref(preview)
        )
    text += Markup(".") if drawn else Markup("")
    devices = list(dict.fromkeys(r["device_name"] for r in rows if r.get("device_name")))
    if len(devices) > 1:
        text += Markup(
            " The runs ran on different devices ({}): their times do not compare."
        ).format(fmt_list(devices))
    return text
