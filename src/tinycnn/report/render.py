"""Render the regenerated paper: one self-contained HTML file, then a PDF with WeasyPrint.

Inputs are those of docs/report-contract.md, files only: the aggregate folder (experiments.csv,
epochs.csv, settings.json, architectures.json, claims.csv, figures.json and its PNGs; runs.csv
through the provenance), the config snapshot (the paper's numbers and the report's settings),
the packed data's stats.json and classes.tsv, the augmentation preview grids, and provenance
(``collect_provenance``). What a run was trained with, and its model's layers, come from what
the run recorded, never from today's config or model code; nothing here imports torch.

Experiments the config names without results (the paper's, the ablation variants that train,
the runs beyond the paper) are shown as not yet run: a row, a paragraph, a cell that says so,
never a number; their settings are read from the config snapshot, as configured. With
``--reference`` (:func:`read_reference`), the paper says in its first lines what data and
hardware made the reference runs' numbers, and marks every number of a stale run.

The modules, by job: :mod:`.inputs` reads the files, :mod:`.tables` and :mod:`.figure_records`
make the numbered tables and figures (:mod:`.elements`), :mod:`.context` assembles them in
reading order with the sentences that cite them; this module writes HTML and PDF. The paper's
source (:mod:`.source`: the repository's ``report/``) holds the layout and the fixed words
(paper.html.j2 and its sections), the captions, the references and paper.css, the A4 style.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from markupsafe import Markup

from tinycnn.report import sentences, source
from tinycnn.report.context import build_context
from tinycnn.report.inputs import Results, class_names, read_reference
from tinycnn.report.provenance import collect_provenance
from tinycnn.report.templates import environment
from tinycnn.shared.files import write_bytes, write_text

__all__ = ["collect_provenance", "render_html", "render_pdf"]


def render_html(
    aggregate_dir: Path,
    config: Mapping,
    stats_json: Path,
    classes_tsv: Path,
    previews: Mapping[str, Path],
    out_html: Path,
    *,
    provenance: Mapping,
    reference: Path | Mapping[str, Any] | None = None,
    paper_source: Path | None = None,
) -> None:
    """Write the paper as one self-contained HTML file (CSS and images inlined), atomically.

    Experiments the config names without results, all of them included, are shown as not yet
    run. ``reference``: the reference runs' JSON file (or its content, see
    :func:`read_reference`): the paper's first lines then say what made its numbers, and every
    number of a stale run is marked."""
    results = Results.load(Path(aggregate_dir))
    stats = json.loads(Path(stats_json).read_text(encoding="utf-8"))
    classes = class_names(Path(classes_tsv))
    if reference is not None and not isinstance(reference, Mapping):
        reference = read_reference(Path(reference))
    folder = source.paper_source(paper_source)
    references = source.read_references(folder)
    with sentences.source_folder(folder):
        context = build_context(
            results, config, stats, classes, previews, provenance, reference, references
        )
    css = Markup((folder / source.STYLESHEET).read_text(encoding="utf-8"))
    template = environment(folder).get_template(source.TEMPLATE)
    write_text(out_html, without_closing_space(template.render(css=css, **context)))


# The end tags of the blocks that hold text; the templates put their text on lines of its own.
TEXT_END = re.compile(r"\s+(</(?:p|li|figcaption|td|th|h[1-6])>)")


def without_closing_space(html: str) -> str:
    """``html`` without the white space before the end tag of a paragraph, list item, caption,
    cell or heading. A browser drops it; WeasyPrint counts it in the last line, and where the
    last line fits only without it, breaks the paragraph at its first break instead: the
    reference paper had "... every epoch):" / "26.4%," / "Δ −3.1 points, ... closing it." on
    three lines."""
    return TEXT_END.sub(r"\1", html)


def render_pdf(html_path: Path, out_pdf: Path) -> None:
    """Render the HTML paper to an A4 PDF with WeasyPrint, atomically.

    Rendered in memory: a kill during the rendering (the long part) leaves no temporary file."""
    import weasyprint

    write_bytes(out_pdf, weasyprint.HTML(filename=str(html_path)).write_pdf())
