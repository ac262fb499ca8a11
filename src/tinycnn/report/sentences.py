"""The paper's sentences that depend on the results: Python gathers each sentence's facts
(numbers, verdicts, names), a macro of the paper's source words them.

The macros live in the paper's source folder (:mod:`.source`), ``sentences/*.html.j2``, one
file per part of the paper; :func:`say` calls one with its facts and returns its words as
Markup, each run of whitespace (a template's line breaks) made one space and the ends stripped.
The folder is the one being rendered (:func:`source_folder`, set by :mod:`.render`), else the
one :func:`.source.paper_source` finds.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

_FOLDER: ContextVar[Path | None] = ContextVar("paper_source", default=None)


@contextmanager
def source_folder(folder: Path) -> Iterator[None]:
    """Word every sentence said inside the block with the macros of ``folder``."""
    token = _FOLDER.set(folder)
    try:
        yield
    finally:
        _FOLDER.reset(token)


@functools.cache
def _environment(folder: Path) -> jinja2.Environment:
    from tinycnn.report.templates import environment  # its filters use the small words

    return environment(folder)


def say(part: str, macro: str, /, *args: Any, **facts: Any) -> Markup:
    """The words of macro ``macro`` of ``sentences/<part>.html.j2`` for ``facts``."""
    from tinycnn.report.source import paper_source

    folder = _FOLDER.get() or paper_source()
    module = _environment(folder).get_template(f"sentences/{part}.html.j2").module
    words = getattr(module, macro)(*args, **facts)
    return Markup(" ".join(str(words).split()))


def text(part: str, macro: str, /, *args: Any, **facts: Any) -> str:
    """:func:`say` as plain text, for a table cell or a piece that Python joins to other text
    and escapes with it (an apostrophe said as Markup would be escaped twice)."""
    return say(part, macro, *args, **facts).unescape()
