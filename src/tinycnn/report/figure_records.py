"""The paper's figures as records the templates caption (captions.html.j2 of the paper's source):
the aggregate's figures, the preview grids of the sets, and a run's head (what its paragraph
and its curves' caption name)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tinycnn.report import (
    facts,
    formatting,
    words,
)
from tinycnn.report.elements import Figure, Image, Numbering
from tinycnn.report.inputs import Results, data_uri

# --- figures -----------------------------------------------------------------------------------


def aggregate_figure(
    numbering: Numbering,
    results: Results,
    spec: Mapping,
    prefix: str = "",
    about: Mapping[str, Any] | None = None,
) -> Figure:
    """A figure of figures.json, captioned by the template for its kind; ``about``: what that
    caption names of what it draws (a run's curves, a comparison's runs)."""
    title = spec.get("title") or spec["file"]
    return Figure(
        *numbering.figure(prefix),
        [Image(data_uri(results.folder / spec["file"]), title)],
        spec["kind"],
        title,
        dict(about or {}),
    )


def curves_about(e: Mapping[str, Any]) -> dict[str, Any]:
    """What the caption of a run's curves names (captions.html.j2): the run's head
    (:func:`run_head`: model, sets, learning rate, the paper's number and epoch), its mode,
    scheduler and seeds, and the rest of what the paper says of it."""
    train = e.get("paper_train_accuracy")
    return {
        **run_head(e),
        "experiment": e["experiment"],
        "mode": e["mode"],
        "scheduler": e["scheduler"],
        "seeds": facts.seeds(e),
        "at_best": not facts.bounded(e),  # a bound is no best
        "paper_figure": e.get("paper_figure"),
        "paper_train": formatting.fmt_short(train) if train is not None else None,
    }


def preview_figure(
    numbering: Numbering, config: Mapping, previews: Mapping[str, Path], skip: Sequence[str] = ()
) -> Figure | None:
    """The preview grids of the sets (those of ``skip`` left out); None when none is left."""
    names = [
        s
        for s in dict.fromkeys([*config["augmentation"]["sets"], *previews])
        if s in previews and s not in skip
    ]
    if not names:
        return None
    one = len(names) == 1  # one panel: no "(a)", the caption names its set
    images = [
        Image(data_uri(Path(previews[s])), f"preview of {s}", "" if one else f"({chr(97 + i)}) {s}")
        for i, s in enumerate(names)
    ]
    draws = config["augmentation"].get("preview", {}).get("draws")
    composed = {
        n: parts for n in names if (parts := composition(config["augmentation"]["sets"], n))
    }
    return Figure(
        *numbering.figure(),
        images,
        "preview",
        about={"sets": names, "draws": draws, "composed": composed},
    )


def composition(sets: Mapping[str, Sequence[Mapping]], name: str) -> list[str] | None:
    """The sets whose operations ``name``'s are, one after the other (``["set1", "set2"]``
    for set1_then_set2: set1's operations but its last normalization, then set2's), so that a
    caption can say what a set no table lists does; None where it is no such chain."""
    ops = list(sets.get(name) or [])
    for first, head in sets.items():
        if first == name or not head or len(head) >= len(ops):
            continue
        body = list(head[:-1]) if head[-1].get("op") == "normalize" else list(head)
        if ops[: len(body)] != body:
            continue
        for second, tail in sets.items():
            if second not in (name, first) and list(tail) == ops[len(body) :]:
                return [first, second]
    return None


def run_head(e: Mapping[str, Any]) -> dict[str, Any]:
    """A run's settings as the head of its paragraph prints them (2_models.html.j2), and the
    paper's number for a run not yet run."""
    epoch = e.get("paper_best_epoch")
    return {
        "name": words.capitalized(words.run_label(e)),
        "model": e["model"],
        "sets": e["sets"],
        "lr": formatting.fmt_lr(e["lr"]) if e.get("lr") is not None else "—",
        "schedule": (
            "constant learning rate" if e["scheduler"] in (None, "none") else e["scheduler"]
        ),
        "epochs": int(e["epochs"]),
        # The machine that trained it (runs.csv: each seed's, joined when they differ).
        "device": e.get("device_name") if facts.has_results(e) else None,
        "paper": words.paper_text(e) if facts.has_paper(e) else None,
        "paper_epoch": int(epoch) if epoch is not None else None,
    }
