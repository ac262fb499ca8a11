"""Checks a reviewer makes of any rendered paper, shared by the tests of the report (the
realistic 200-class fixture), of the demo pipeline and of the reference paper:

- :func:`words_outside_the_text_box`: every word of the PDF lies between the page's left and
  right margins (a table past the margin shows here);
- :func:`repeated_sentences`: no sentence of the HTML is said more than twice (a thing is said
  once, where it belongs: a table note, a legend);
- :func:`unreferenced`: the text refers to every figure and table, outside its own caption.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from html import unescape
from pathlib import Path

MM = 72 / 25.4  # PDF points per millimetre
MARGIN_MM = 20.0  # paper.css: @page's left and right margins
SLACK = 1.0  # points: a glyph's side bearing past the box is not a word past it


def pdf_words(pdf: Path) -> list[tuple[int, float, float, float, str]]:
    """(page, xMin, xMax, yMax, word) of every word, read with poppler's ``pdftotext -bbox``."""
    done = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    )
    words, page, width = [], 0, 0.0
    for line in done.stdout.splitlines():
        if m := re.search(r'<page width="([\d.]+)"', line):
            page, width = page + 1, float(m.group(1))
        elif m := re.search(
            r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="([\d.]+)">(.*)</word>',
            line,
        ):
            x0, x1, y1 = (float(v) for v in m.group(1, 2, 3))
            words.append((page, x0, x1, y1, unescape(m.group(4))))
    assert width > 0, f"pdftotext found no page in {pdf}"
    return words


def words_outside_the_text_box(pdf: Path, margin_mm: float = MARGIN_MM) -> list[str]:
    """Each word of ``pdf`` that reaches into the left or right margin, with its page."""
    width = 210 * MM  # A4
    left, right = margin_mm * MM - SLACK, width - margin_mm * MM + SLACK
    return [
        f"page {page}: {word!r} at x {x0:.0f}-{x1:.0f} pt (text box {left:.0f}-{right:.0f})"
        for page, x0, x1, _, word in pdf_words(pdf)
        if x0 < left or x1 > right
    ]


TOP_MM, BOTTOM_MM = 22.0, 24.0  # paper.css: @page's top and bottom margins


def half_empty_pages(pdf: Path, filled: float = 0.5) -> list[str]:
    """The pages whose text ends above ``filled`` of the text box's height, but the last page
    and those before an appendix (which starts a page): a table or figure pushed to the next
    page where letting it continue there would have filled this one. A page that ends in a
    figure ends in its caption, so its last words are low."""
    height = 297 * MM
    top, bottom = TOP_MM * MM, height - BOTTOM_MM * MM
    lowest: dict[int, float] = {}
    first: dict[int, str] = {}
    for page, _, _, y1, word in pdf_words(pdf):
        if top <= y1 <= bottom:  # the running title and the page number are outside
            lowest[page] = max(lowest.get(page, 0.0), y1)
            first.setdefault(page, word)
    last = max(lowest)
    return [
        f"page {page}: text ends {100 * (y - top) / (bottom - top):.0f}% down the page"
        for page, y in sorted(lowest.items())
        if page != last
        and first.get(page + 1) != "Appendix"
        and (y - top) < filled * (bottom - top)
    ]


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def sentences(html: str) -> list[str]:
    """The sentences of the paper's body: those of every paragraph, caption, note and list
    item, and each table cell of six words or more (a cell of a few words is a value)."""
    body = html[html.index("<body") :]
    body = re.sub(r"<(style|script)\b.*?</\1>", "", body, flags=re.S)
    found = []
    for tag in ("p", "figcaption", "li"):
        for block in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", body, flags=re.S):
            text = re.sub(r"^(Figure|Table) [A-Z]?\d+\. ", "", _text(block))
            for sentence in re.split(r"(?<=[.;:!?])\s+(?=[A-Z(])", text):
                if len(sentence.split()) >= 4:
                    found.append(sentence)
    for cell in re.findall(r"<td\b[^>]*>(.*?)</td>", body, flags=re.S):
        text = _text(cell)
        if len(text.split()) >= 6:
            found.append(text)
    return found


def repeated_sentences(html: str, most: int = 2) -> dict[str, int]:
    """The sentences said more than ``most`` times, with their counts."""
    return {s: n for s, n in Counter(sentences(html)).items() if n > most}


def unreferenced(html: str) -> list[str]:
    """The ids of the figures and tables that no link outside their own ``<figure>`` names."""
    figures = re.findall(r'<figure id="([^"]+)"', html)
    outside = re.sub(r"<figure\b.*?</figure>", "", html, flags=re.S)
    return [f for f in figures if f'href="#{f}"' not in outside]
