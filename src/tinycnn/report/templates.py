"""The paper's templates: the Jinja environment over the paper's source folder (:mod:`.source`),
with the report's filters, for the layout (:mod:`.render`) and the sentences (:mod:`.sentences`)
alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from tinycnn.report import formatting, words

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
        num=formatting.fmt_num,
        diff=formatting.fmt_diff,
        loss=formatting.fmt_loss,
        params=formatting.fmt_params,
        duration=formatting.fmt_duration,
    )
    env.filters["capitalize_first"] = words.capitalized
    env.filters["breakable"] = breakable
    env.globals.update(ref=words.ref, refs=words.refs, plural=words.plural)
    return env
