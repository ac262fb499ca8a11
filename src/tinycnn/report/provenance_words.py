"""The words of the paper's provenance: what the notice of the reference runs says, the
references (the paper source's references.yaml, :mod:`tinycnn.report.source`), a run's numerics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from tinycnn.report.formatting import (
    fmt_int,
)
from tinycnn.report.words import precision as precision_words

# --- the reference runs (tinycnn paper-html --reference) ----------------------------------------


def reference_facts(
    reference: Mapping[str, Any], recorded: int, stale: int, devices: Sequence[str]
) -> dict[str, Any]:
    """What the reference notice (the paper source's paper/00_notices.html.j2) says with
    ``--reference``: the folder, the ``recorded`` runs (``stale`` of them stale), the hardware
    (``devices`` where the reference names none), the archive's details and how many runs of
    the order are planned, not yet run."""
    archive = reference.get("archive") or {}
    details = [
        str(archive["name"]) if archive.get("name") else "",
        f"MD5 {archive['md5']}" if archive.get("md5") else "",
        f"{fmt_int(archive['size'])} bytes" if archive.get("size") else "",
    ]
    official = reference.get("official") or {}
    return {
        "folder": reference.get("folder") or "",
        "recorded": recorded,
        "stale": stale,
        "planned": len(reference["planned"]),
        "hardware": list(reference.get("hardware") or devices),
        "archive": [d for d in details if d],
        # The whole order in words a reader knows: 21 experiments, 3 seeds each.
        "order": max(len(reference.get("order") or []), len(reference["planned"])),
        "experiments": reference.get("experiments"),
        "seeds_each": reference.get("seeds_each"),
        # Of the runs not yet recorded, how many a CPU trains and how many wait for a GPU.
        "waiting": reference.get("waiting"),
        # The official archive, where the rebuilt one has another MD5 (other zip bytes).
        "official": (
            {**official, "size": fmt_int(official["size"]) if official.get("size") else None}
            if official
            else None
        ),
    }


# --- references ----------------------------------------------------------------------------------


def references(config: Mapping, known: Mapping[str, str | None]) -> list[tuple[str, Markup]]:
    """(key, entry) in citation order (``known``: the paper source's references.yaml); the
    original's entry comes from ``report``."""
    report = config["report"]
    original = report.get("original") or {}
    who = original.get("author", "The original author")
    where = ", ".join(str(original[k]) for k in ("affiliation", "year") if original.get(k))
    entry = f"{who}. {report['title']}." + (f" {where}." if where else "")
    entries = dict(known, original=entry)
    return [(key, Markup.escape(text)) for key, text in entries.items()]


def numerics(precision: str | None, compile_mode: str | None) -> str:
    """How a run computed, for the timing table: "bf16 mixed precision, channels-last layout;
    compiled (reduce-overhead)"."""
    words = precision_words(precision)
    if compile_mode and compile_mode != "none":
        words += f"; compiled ({compile_mode})"
    return words
