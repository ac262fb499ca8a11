"""The rendered paper read back, shared by the report tests and the reference tests: its
text without tags (:func:`_plain`), its tables cell by cell (:func:`_html_tables`,
:func:`_cells`), and a skip where a poppler tool that reads the PDF is missing (:func:`_needs`).
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from typing import Any

import pytest


def _needs(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} (poppler-utils) is not installed")


def _plain(html: str) -> str:
    """The HTML's text with tags removed and white space collapsed."""
    body = html[html.index("<body>") :]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", body)).replace("&lt;", "<")


class _Tables(HTMLParser):
    """The rendered tables, in order: each {"cls", "head": [th texts], "rows": [(attributes
    of the tr, [td texts])]}, texts with entities decoded and white space collapsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, Any]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append({"cls": dict(attrs).get("class") or "", "head": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append((dict(attrs), []))
        elif tag in ("td", "th") and self.tables:
            self.cell = []

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            text = re.sub(r"\s+", " ", "".join(self.cell)).strip()
            table = self.tables[-1]
            (table["head"] if tag == "th" else table["rows"][-1][1]).append(text)
            self.cell = None
        elif tag == "tr" and self.tables and not self.tables[-1]["rows"][-1][1]:
            self.tables[-1]["rows"].pop()  # the header row


def _html_tables(html: str) -> dict[str, list[dict[str, Any]]]:
    """The rendered tables by class ("" for the augmentation table), in order."""
    parser = _Tables()
    parser.feed(html)
    out: dict[str, list[dict[str, Any]]] = {}
    for table in parser.tables:
        out.setdefault(table["cls"], []).append(table)
    return out


def _cells(table: dict[str, Any]) -> list[list[str]]:
    return [cells for _, cells in table["rows"]]
