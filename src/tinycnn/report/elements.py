"""The paper's elements as the templates draw them: numbered tables and figures, their rows and
columns, a model family's section, and the numbering that labels them in reading order."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup


@dataclass
class Image:
    src: str
    alt: str
    label: str = ""


@dataclass
class Figure:
    """A numbered figure, captioned by the template for its ``kind`` (captions.html.j2)."""

    id: str
    label: str
    images: list[Image]
    kind: str
    title: str = ""
    about: dict[str, Any] = field(default_factory=dict)  # what its caption of ``kind`` needs


@dataclass
class Column:
    title: str  # a key the paper's source words (sentences/tables.html.j2), else printed as is
    align: str = "text"  # "text" or "num"
    number: int | None = None  # a number the heading names ("epoch 30")


@dataclass
class Row:
    cells: list[Any]
    cls: str = ""
    key: str = ""


@dataclass
class Table:
    """A numbered table; ``caption`` None takes the caption of its ``kind`` from the template
    (captions.html.j2), which also gives the fixed part of the note of a kind that has one
    ("<kind>_note"), before ``note``, the part that depends on the results."""

    id: str
    label: str
    caption: Markup | None
    columns: list[Column]
    rows: list[Row]
    note: Markup | None = None
    cls: str = ""
    key: str = ""  # the model of an architecture table
    kind: str = ""
    # What the template's fixed words of this table need (captions.html.j2's ``legend`` and
    # its caption of ``kind``): ``part``, the table giving the images of the runs on part of
    # the data (†); ``not_run``, whether a row is not yet run; ``stale``, the stale runs
    # described (‡, the results table); ``stale_ref``, the table whose note explains ‡.
    about: dict[str, Any] = field(default_factory=dict)


@dataclass
class Comparison:
    """A ``report.comparisons`` entry whose experiments all have results."""

    id: str
    title: str
    experiments: list[dict[str, Any]]
    section: str  # the section of its last experiment in paper order
    figure: Figure | None = None


@dataclass
class ModelSection:
    title: str
    experiments: list[dict[str, Any]]
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    architecture: Markup = field(default_factory=Markup)
    # each run: its settings as the template's head of the run's paragraph prints them, and
    # what follows the head (None for a run not yet run, whose words are the template's)
    runs: list[tuple[dict[str, Any], Markup | None]] = field(default_factory=list)
    paragraphs: list[Markup] = field(default_factory=list)  # the comparisons, the previous


@dataclass
class Numbering:
    """Hands out figure and table labels in reading order, per prefix ("", "A", "B")."""

    counts: Counter = field(default_factory=Counter)

    def next(self, kind: str, prefix: str = "") -> tuple[str, str]:
        self.counts[kind, prefix] += 1
        n = f"{prefix}{self.counts[kind, prefix]}"
        return f"{kind.lower()}-{n}", f"{kind} {n}"

    def table(self, prefix: str = "") -> tuple[str, str]:
        """The next table's id and label: ``("table-3", "Table 3")``."""
        return self.next("Table", prefix)

    def figure(self, prefix: str = "") -> tuple[str, str]:
        """The next figure's id and label: ``("figure-A2", "Figure A2")``."""
        return self.next("Figure", prefix)
