"""The facts of the runs beyond the paper (beyond.csv) for their words: their recipe in words,
the table's caption and the section's paragraph; the words are the paper source's
``sentences/beyond.html.j2`` (:mod:`.sentences`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from tinycnn.report import facts
from tinycnn.report.formatting import (
    fmt_duration,
    fmt_int,
    fmt_loss,
    fmt_lr,
    fmt_num,
    fmt_short,
)
from tinycnn.report.sentences import say, text
from tinycnn.report.words import acc_text, chance_words, op_name, same_images_clause, stale_mark

# --- beyond the paper ----------------------------------------------------------------------------
# A row is one of beyond.csv: a run beyond the paper (role "beyond") or a baseline of the paper.


def optimizer_words(spec: Mapping[str, Any]) -> str:
    """``SGD, Nesterov momentum 0.9``, ``RAdam, betas (0.9, 0.999), eps 1e-8``."""
    momentum = spec.get("momentum") or 0
    return text(
        "beyond",
        "optimizer",
        spec["name"],
        momentum=fmt_short(momentum) if momentum else None,
        nesterov=bool(spec.get("nesterov")),
        betas=[fmt_short(b) for b in spec["betas"]] if "betas" in spec else None,
        eps=fmt_lr(spec["eps"]) if "eps" in spec else None,
    )


def schedule_words(spec: Mapping[str, Any] | None) -> str:
    """A learning-rate schedule in words: ``÷10 every 7 epochs``; ``constant``."""
    if spec is None:
        return text("beyond", "schedule")
    name = spec["name"]
    if name == "StepLR":
        more = {"divisor": fmt_short(round(1 / spec["gamma"], 6)), "step": spec["step_size"]}
    elif name == "warmup_cosine":
        final = spec["final_factor"]
        more = {"final": fmt_short(final) if final else None, "warmup": spec["warmup_epochs"]}
    else:
        more = {"params": [(k, v) for k, v in spec.items() if k != "name"]}
    return text("beyond", "schedule", name, **more)


def loss_words(spec: Mapping[str, Any] | None) -> str:
    """``cross-entropy``, ``cross-entropy, label smoothing 0.1``."""
    smoothing = (spec or {}).get("label_smoothing") or 0
    return text("beyond", "loss", fmt_short(smoothing) if smoothing else None)


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
    return say("beyond", "caption", common_epoch)


def _as_clause(text: str) -> str:
    """A description to follow a colon: its first word lowercased where it is a plain word
    ("A residual network" → "a residual network"), a name kept ("ResNet18 with a 3x3 stem")."""
    text = text.rstrip(".")
    first = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if first[1:] == first[1:].lower() else text


def _against(m: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """How run ``m`` stands against baseline ``b``: the gap in words ("3.0 points above",
    "level with"), not a signed number of points, and whether it is beyond the seeds' spread
    (none unless measured)."""
    gap, spread = facts.gap(m, b), facts.spread([m, b])
    side = "level" if round(gap, 1) == 0 else "above" if gap > 0 else "below"
    return {
        "kind": "gap",
        "side": side,
        "points": fmt_num(abs(gap)),
        "experiment": b["experiment"],
        "stale": stale_mark(b),
        "spread": None if spread is None else fmt_num(spread),
        "beyond": spread is not None and abs(gap) > spread,
    }


def _versus(m: Mapping[str, Any], baselines: Sequence[Mapping[str, Any]]) -> list[dict]:
    """What run ``m`` is set against (see the template's ``versus``)."""
    made = facts.with_results(baselines)
    if facts.blew_up(m):  # diverged: its numbers say nothing, set against no run
        vs = [
            {
                "kind": "diverged",
                "low": fmt_loss(m["val_loss_low"]),
                "epoch": int(m["val_loss_low_epoch"]),
                "last": fmt_loss(m["val_loss_last"]),
            }
        ]
    elif facts.at_chance(m):  # its differences are noise: set against no run
        vs = [{"kind": "chance", "words": chance_words(m)}]
    else:
        vs = [_against(m, b) for b in made if not facts.at_chance(b)]
        vs += [_named("at_chance", b) for b in made if facts.at_chance(b)]
    return vs + [_named("pending", b) for b in facts.pending(baselines)]


def _named(kind: str, b: Mapping[str, Any]) -> dict[str, Any]:
    """A baseline ``b`` that a run is set against only by name: at chance level, not yet run."""
    return {"kind": kind, "experiment": b["experiment"]}


def _run(m: Mapping[str, Any], baselines: Sequence[Mapping[str, Any]], common: int | None) -> dict:
    """What a run beyond the paper measured (see the template's ``run``)."""
    if not facts.has_results(m):
        return {"ran": False, "experiment": m["experiment"]}
    at_common = m.get("common_epoch_val_acc_mean")
    shown = at_common is not None and common is not None and common < int(m["epochs"])
    speed = m.get("images_per_second_mean")
    return {
        "ran": True,
        "experiment": m["experiment"],
        "accuracy": acc_text(m),
        "best_epoch": int(m["best_epoch"]),
        "epochs": int(m["epochs"]),
        "versus": _versus(m, baselines),
        "common": common if shown else None,
        "at_common": fmt_num(at_common) if shown else None,
        "stale": stale_mark(m),
        "duration": fmt_duration(m["wall_seconds_mean"]),
        "speed": fmt_int(speed) if speed else None,
    }


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
        first = r["model"] not in [n["model"] for n in modern[: len(named)]]
        named.append((r["experiment"], r["model"], _as_clause(what) if what and first else None))
    return say(
        "beyond",
        "paragraph",
        table,
        recipe,
        named,
        [(r["experiment"], r["model"]) for r in baselines],
        same,
        apart,
        [_run(m, baselines, common) for m in modern],
        figure=figure,
        preview=preview,
        devices=list(dict.fromkeys(r["device_name"] for r in rows if r.get("device_name"))),
    )
