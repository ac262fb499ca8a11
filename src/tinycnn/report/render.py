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

import jinja2
from markupsafe import Markup

from tinycnn.report import formatting, source, words
from tinycnn.report.context import build_context
from tinycnn.report.inputs import Results, class_names, read_reference
from tinycnn.report.provenance import collect_provenance
from tinycnn.shared.files import write_bytes, write_text

__all__ = ["collect_provenance", "render_html", "render_pdf"]


# Where a long token of a table cell may break: after _ . = / ; , and before an inner capital
# (RandomHorizontal|Flip), never inside a number. Tokens shorter than this stay whole.
BREAK_AFTER = 14
_BREAK = re.compile(r"(?<=[_=/;,])(?=\S)|(?<=[a-z])(?=[A-Z])|(?<=[a-z]\.)(?=[a-z])")


NBSP_PM = "\u00a0±\u00a0"  # ± between non-breaking spaces


def _unbroken(text: str) -> str:
    """``text`` with non-breaking spaces where a line must not break: around a spread's ± and
    inside a count (``n = 1``)."""
    return re.sub(r"\b(\w) = (\d)", "\\1\u00a0=\u00a0\\2", text.replace(" ± ", NBSP_PM))


def breakable(cell: Any) -> Markup:
    """A table cell whose long tokens may wrap at their joints (``<wbr>``), so that a narrow
    column wraps ``Random·Horizontal·Flip`` rather than running into the margin or breaking a
    word anywhere; Markup (links, marks) is left as it is. A spread ("55 ± 5%") and a count
    ("n = 1") never break: non-breaking spaces hold them together."""
    if isinstance(cell, Markup):
        return Markup(_unbroken(str(cell)))
    out = []
    for word in _unbroken(str(cell)).split(" "):
        if len(word) < BREAK_AFTER:
            out.append(Markup.escape(word))
            continue
        out.append(Markup("<wbr>").join(Markup.escape(p) for p in _BREAK.split(word)))
    return Markup(" ").join(out)


def environment(source: Path) -> jinja2.Environment:
    """The templates of the paper's source folder ``source`` (:mod:`.source`), with the
    report's filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(source),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        count=formatting.fmt_int,
        and_list=words.and_list,
        stat=formatting.fmt_stat,
        stat_short=formatting.fmt_short,
    )
    env.filters["capitalize_first"] = words.capitalized
    env.filters["breakable"] = breakable
    env.globals.update(ref=words.ref, refs=words.refs, plural=words.plural)
    return env


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
    context = build_context(
        results, config, stats, classes, previews, provenance, reference, references
    )
    css = Markup((folder / source.STYLESHEET).read_text(encoding="utf-8"))
    template = environment(folder).get_template(source.TEMPLATE)
    write_text(out_html, template.render(css=css, **context))


def render_pdf(html_path: Path, out_pdf: Path) -> None:
    """Render the HTML paper to an A4 PDF with WeasyPrint, atomically.

    Rendered in memory: a kill during the rendering (the long part) leaves no temporary file."""
    import weasyprint

    write_bytes(out_pdf, weasyprint.HTML(filename=str(html_path)).write_pdf())
