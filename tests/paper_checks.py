"""Checks a reviewer makes of any rendered paper, shared by the tests of the report (the
realistic 200-class fixture), of the demo pipeline and of the reference paper:

- :func:`words_outside_the_text_box`: every word of the PDF lies between the page's left and
  right margins (a table past the margin shows here);
- :func:`repeated_sentences`: no sentence of the HTML is said more than twice (a thing is said
  once, where it belongs: a table note, a legend);
- :func:`numeral_openings`: no sentence opens with a numeral;
- :func:`identifier_openings`: nor with an identifier of the configuration;
- :func:`escaped_twice`: no entity escaped twice ("&amp;#39;" for an apostrophe);
- :func:`unreferenced`: the text refers to every figure and table, outside its own caption;
- :func:`half_empty_pages`: no page left half empty by a table or figure pushed on;
- :func:`split_blocks`: a paragraph split by a page keeps three lines on each page, a table
  three rows (paper.css's orphans, widows and long tables), read from WeasyPrint's layout;
- :func:`findings`: all of them at once, for a test that checks a whole paper.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter, defaultdict
from html import unescape
from pathlib import Path
from typing import Any

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
    """The pages whose text ends above ``filled`` of the text box's height, but the last page:
    a table or figure pushed to the next page where letting it continue there would have
    filled this one, or a section that starts a page after a few lines. A page that ends in a
    figure ends in its caption, so its last words are low."""
    height = 297 * MM
    top, bottom = TOP_MM * MM, height - BOTTOM_MM * MM
    lowest: dict[int, float] = {}
    for page, _, _, y1, _ in pdf_words(pdf):
        if top <= y1 <= bottom:  # the running title and the page number are outside
            lowest[page] = max(lowest.get(page, 0.0), y1)
    last = max(lowest)
    return [
        f"page {page}: text ends {100 * (y - top) / (bottom - top):.0f}% down the page"
        for page, y in sorted(lowest.items())
        if page != last and (y - top) < filled * (bottom - top)
    ]


def _text(fragment: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def _blocks(html: str) -> list[str]:
    """The text of every paragraph, caption, note and list item of the paper's body."""
    body = html[html.index("<body") :]
    body = re.sub(r"<(style|script)\b.*?</\1>", "", body, flags=re.S)
    return [
        re.sub(r"^(Figure|Table) [A-Z]?\d+\. ", "", _text(block))
        for tag in ("p", "figcaption", "li")
        for block in re.findall(rf"<{tag}\b[^>]*>(.*?)</{tag}>", body, flags=re.S)
    ]


ABBREVIATIONS = re.compile(r"(?:\b(?:al|e\.g|i\.e|cf|vs|Fig|No)|\b[A-Z])\.$")  # no sentence's end


def _openings(html: str, first_word: str) -> list[str]:
    """The first words of each sentence whose first word matches the pattern ``first_word``
    (up to four words); "He et al. 2016" ends no sentence."""
    return [
        m.group(1)
        for block in _blocks(html)
        for m in re.finditer(rf"(?:^|(?<=[.!?]) )({first_word}(?: \S+){{0,3}})", block)
        if not ABBREVIATIONS.search(block[: max(m.start(), 0)].rstrip())
    ]


def numeral_openings(html: str) -> list[str]:
    """Each sentence that opens with a numeral ("7 of the 9 runs …", which reads as the end of
    the sentence before): a sentence opens with a word."""
    return _openings(html, r"\d\S*")


def identifier_openings(html: str) -> list[str]:
    """Each sentence of the prose that opens with an identifier ("modern_resnet18 reaches …"):
    a name from the configuration is no word to open a sentence with."""
    return _openings(html, r"\S*_\S*")


def escaped_twice(html: str) -> list[str]:
    """Each entity escaped twice ("&amp;#39;" shows as "&#39;" where "'" was meant): words
    joined as Markup and escaped again on their way to the page."""
    return re.findall(r"&amp;(?:#\d+|#x[0-9a-f]+|[a-z]+);", html, flags=re.I)


def sentences(html: str) -> list[str]:
    """The sentences of the paper's body: those of every paragraph, caption, note and list
    item, and each table cell of six words or more (a cell of a few words is a value)."""
    body = html[html.index("<body") :]
    found = [
        sentence
        for text in _blocks(html)
        for sentence in re.split(r"(?<=[.;:!?])\s+(?=[A-Z(])", text)
        if len(sentence.split()) >= 4
    ]
    for cell in re.findall(r"<td\b[^>]*>(.*?)</td>", body, flags=re.S):
        text = _text(cell)
        if len(text.split()) >= 6:
            found.append(text)
    return found


def repeated_sentences(html: str, most: int = 2) -> dict[str, int]:
    """The sentences said more than ``most`` times, with their counts."""
    return {s: n for s, n in Counter(sentences(html)).items() if n > most}


def repeated_phrases(html: str, length: int = 8, most: int = 4) -> dict[str, int]:
    """The runs of ``length`` words said more than ``most`` times before Appendix A (a phrase
    repeated run after run, "chance level for 10 classes, with a top-5 accuracy of", reads as a
    form filled in), with their counts; a phrase is counted within one paragraph, caption,
    note or list item, each place once."""
    appendix = re.search(r"<h2\b[^>]*>[^<]*Appendix A", html)
    before = html[: appendix.start()] if appendix else html
    counts: Counter[str] = Counter()
    for block in _blocks(before):
        words = block.split()
        counts.update({" ".join(words[i : i + length]) for i in range(len(words) - length + 1)})
    return {phrase: n for phrase, n in counts.items() if n > most}


def unreferenced(html: str) -> list[str]:
    """The ids of the figures and tables that no link outside their own ``<figure>`` names; a
    range ("Tables 7–15", its ends links) names those between its ends too."""
    figures = re.findall(r'<figure id="([^"]+)"', html)
    outside = re.sub(r"<figure\b.*?</figure>", "", html, flags=re.S)
    named = set(re.findall(r'href="#([^"]+)"', outside))
    for kind, prefix, first, last in re.findall(
        r'href="#(\w+)-([A-Z]?)(\d+)">[^<]*</a>–<a [^>]*href="#\1-\2(\d+)"', outside
    ):
        named |= {f"{kind}-{prefix}{n}" for n in range(int(first), int(last) + 1)}
    return [f for f in figures if f not in named]


LINES, ROWS = 3, 3  # paper.css: a paragraph's orphans and widows; a long table's rows a page


def _boxes(box):
    yield box
    for child in getattr(box, "children", None) or []:
        yield from _boxes(child)


def split_blocks(html: Path, lines: int = LINES, rows: int = ROWS) -> list[str]:
    """Each paragraph a page break leaves with fewer than ``lines`` lines on a page, and each
    table it leaves with fewer than ``rows`` rows, laid out as the PDF is (WeasyPrint's boxes:
    a line box of a ``<p>``, a row of a ``<tbody>``, counted per page)."""
    from weasyprint import HTML
    from weasyprint.formatting_structure.boxes import LineBox, TableRowBox

    document = HTML(filename=str(html)).render()
    root = document.pages[0]._page_box.children[0].element
    parent = {child: node for node in root.iter() for child in node}
    per_page: dict[tuple[str, int], Counter] = defaultdict(Counter)
    names: dict[int, str] = {}
    for number, page in enumerate(document.pages, 1):
        for box in _boxes(page._page_box):
            element = getattr(box, "element", None)
            if isinstance(box, LineBox) and element is not None and element.tag == "p":
                per_page["lines", id(element)][number] += 1
                names[id(element)] = " ".join("".join(element.itertext()).split()[:8])
            elif isinstance(box, TableRowBox) and parent[element].tag == "tbody":
                table = parent[parent[element]]
                per_page["rows", id(table)][number] += 1
                names[id(table)] = parent[table].get("id") or "a table"
    return [
        f"{names[key]!r}: {dict(pages)} {what} by page"
        for (what, key), pages in per_page.items()
        if len(pages) > 1 and min(pages.values()) < (lines if what == "lines" else rows)
    ]


def findings(html: Path, pdf: Path) -> dict[str, Any]:
    """What each check finds in the paper ``html`` and its ``pdf``, by check; only those that
    find something (a paper a reviewer would accept gives ``{}``)."""
    text = html.read_text(encoding="utf-8")
    found = {
        "repeated_sentences": repeated_sentences(text),
        "repeated_phrases": repeated_phrases(text),
        "numeral_openings": numeral_openings(text),
        "identifier_openings": identifier_openings(text),
        "escaped_twice": escaped_twice(text),
        "unreferenced": unreferenced(text),
        "words_outside_the_text_box": words_outside_the_text_box(pdf),
        "half_empty_pages": half_empty_pages(pdf),
        "split_blocks": split_blocks(html),
    }
    return {check: what for check, what in found.items() if what}
