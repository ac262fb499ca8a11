"""The words of the paper's provenance: the notice of the reference runs, the references (from
templates/references.yaml) and their citation links, a run's numerics."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from markupsafe import Markup

from tinycnn.formatting import (
    fmt_int,
)
from tinycnn.report.words import (
    NOT_RUN,
    STALE,
    plural,
)

# --- the reference runs (tinycnn paper-html --reference) ----------------------------------------


def reference_notice(
    reference: Mapping[str, Any], recorded: int, stale: int, devices: Sequence[str]
) -> Markup:
    """The paper's first lines with ``--reference``: what data and hardware made its numbers
    (``recorded`` runs, ``stale`` of them stale; ``devices`` where the reference names no
    hardware), and how many runs of the order are not yet run; or that none is recorded."""
    folder = reference.get("folder")
    where = f" ({folder})" if folder else ""
    planned = len(reference["planned"])
    if not recorded:
        return Markup(
            "<strong>No reference run recorded yet.</strong> No run has been recorded in the "
            "reference folder{} yet, so nothing in this paper is measured: every result reads "
            "“{}”. {} of the order {} planned."
        ).format(where, NOT_RUN, plural(planned, "run"), "is" if planned == 1 else "are")
    hardware = list(reference.get("hardware") or devices)
    archive = reference.get("archive") or {}
    details = [
        str(archive["name"]) if archive.get("name") else "",
        f"MD5 {archive['md5']}" if archive.get("md5") else "",
        f"{fmt_int(archive['size'])} bytes" if archive.get("size") else "",
    ]
    details = [d for d in details if d]
    data = Markup("the real Tiny ImageNet-200 archive{}").format(
        f" ({', '.join(details)})" if details else ""
    )
    if planned:
        rest = Markup("{} of the order {} {}").format(
            plural(planned, "run"), "is" if planned == 1 else "are", NOT_RUN
        )
    else:
        rest = Markup("every run of the order is recorded")
    text = Markup(
        "<strong>Reference runs.</strong> Numbers from {} reference {}{}{}, trained on {}; {}."
    ).format(
        recorded,
        "run" if recorded == 1 else "runs",
        f" on {'; '.join(hardware)}" if hardware else "",
        where,
        data,
        rest,
    )
    if stale:
        text += Markup(
            " {} of them {} stale ({}): {} recorded settings that today's configuration "
            "resolves otherwise, and every number of {} is marked; {} must be redone."
        ).format(
            stale,
            "is" if stale == 1 else "are",
            STALE,
            "it" if stale == 1 else "they",
            "it" if stale == 1 else "theirs",
            "it" if stale == 1 else "they",
        )
    return text


# --- references ----------------------------------------------------------------------------------

# The references (templates/references.yaml: the paper's source), in citation order.
REFERENCES: dict[str, str | None] = yaml.safe_load(
    (Path(__file__).resolve().parent / "templates" / "references.yaml").read_text(encoding="utf-8")
)
CITE = {
    key: Markup('<a class="cite" href="#ref-{}">[{}]</a>').format(key, i)
    for i, key in enumerate(REFERENCES, 1)
}


def references(config: Mapping) -> list[tuple[str, Markup]]:
    """(key, entry) in citation order; the original's entry comes from ``report``."""
    report = config["report"]
    original = report.get("original") or {}
    who = original.get("author", "The original author")
    where = ", ".join(str(original[k]) for k in ("affiliation", "year") if original.get(k))
    entry = f"{who}. {report['title']}." + (f" {where}." if where else "")
    entries = dict(REFERENCES, original=entry)
    return [(key, Markup.escape(text)) for key, text in entries.items()]


def numerics(precision: str | None, compile_mode: str | None) -> str:
    """How a run computed, for the timing table: "bf16 autocast, channels_last; compiled
    (reduce-overhead)"."""
    words = precision or ""
    if compile_mode and compile_mode != "none":
        words += f"; compiled ({compile_mode})"
    return words
