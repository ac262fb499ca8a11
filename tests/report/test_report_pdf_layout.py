"""The paper as a PDF (poppler's pdftotext, pdfinfo, pdfimages, pdftoppm): every number, each table
row on one line, hashes unbroken, pages with images and ink, the demo notice first."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from handmade_aggregate import CLAIMS_SHOWN, EXPECTED, Render
from rendered_paper import _cells, _html_tables, _needs

from tinycnn.report.render import render_pdf


@pytest.fixture(scope="module")
def pdf(render: Render, tmp_path_factory: pytest.TempPathFactory) -> Path:
    _needs("pdftotext")
    folder = tmp_path_factory.mktemp("pdf")
    out = folder / "paper.pdf"
    render_pdf(render(folder / "paper.html"), out)
    return out


def _text(path: Path, *args: str) -> str:
    done = subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True)
    return done.stdout


def test_pdf_text_holds_every_number(pdf: Path) -> None:
    text = re.sub(r"\s+", " ", _text(pdf))
    for name, (ours, paper) in EXPECTED.items():
        assert ours in text, name
        assert paper in text, name
    assert "Demo data" not in text
    assert "The paper's claims, checked" in text
    for test, measured in CLAIMS_SHOWN.values():
        assert test in text and measured in text, (test, measured)


def _line_of(lines: list[str], cells: list[str], start: int) -> int:
    """The first line from ``start`` on that holds ``cells`` in order, each whole."""
    words = [r"\s+".join(map(re.escape, cell.split())) for cell in cells if cell]
    pattern = re.compile(r"(?<!\S)" + r"\s+".join(words) + r"(?!\S)")
    for i in range(start, len(lines)):
        if pattern.search(lines[i]):
            return i
    raise AssertionError(f"no line from {start} on holds {cells}")


def test_pdf_tables_keep_their_rows(pdf: Path) -> None:
    """Each row of the reproduction, recipe, timing and software tables (checked cell by cell in
    the HTML above) is one line of the PDF's layout text, its cells in order, the rows in
    order; in the timing table, the numerics (the one cell that may wrap there) aside."""
    lines = _text(pdf, "-layout").splitlines()
    tables = _html_tables(pdf.with_name("paper.html").read_text())
    for cls in ("recipe", "results", "software", "timing"):
        (table,) = tables[cls]
        at = _line_of(lines, table["head"], 0) if cls != "recipe" else 0
        for cells in _cells(table):
            if cls != "timing":
                at = _line_of(lines, cells, at + 1)
                continue
            # a long experiment name may wrap at its joints, the numerics at a space
            at = _line_of(lines, cells[2:5], at + 1)
            assert _line_of(lines, cells[6:], at) == at, cells
            first = lines[at].split()[0]
            assert first == cells[0] if cells[0] else cells[1].startswith(first), cells
    row = _line_of(lines, ["5", "M4", "set1+set2", "1e-3", "none", "20", "35.9", "42.3"], 0)
    assert lines[row].split()[-2:] == ["1", "+6.4"]


def test_pdf_prints_hashes_unbroken(pdf: Path) -> None:
    """Every SHA-256 of Appendix B is on one line of the PDF, whole (a hash broken over two
    lines cannot be copied or searched)."""
    hashes = re.findall(r"<code>([0-9a-f]{64})</code>", pdf.with_name("paper.html").read_text())
    assert len(hashes) >= 2  # the configuration file's, the merged configuration's
    lines = _text(pdf).splitlines()
    for h in hashes:
        assert any(h in line for line in lines), h


def test_pdf_pages_images_and_ink(pdf: Path, aggregate: Path, tmp_path: Path) -> None:
    _needs("pdfinfo")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 5 <= pages <= 40, pages
    assert "A4" in info or "595.2" in info
    listing = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True)
    images = [line for line in listing.stdout.splitlines()[2:] if " image " in line]
    figures = json.loads((aggregate / "figures.json").read_text())
    assert len(images) >= len(figures) + 2
    subprocess.run(
        ["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    page = plt.imread(next(tmp_path.glob("page*.png")))
    assert page.std() > 0.05  # not blank


def test_pdf_demo_notice_first(render: Render, tmp_path: Path) -> None:
    _needs("pdftotext")
    out = tmp_path / "paper.pdf"
    render_pdf(render(tmp_path / "paper.html", demo=True), out)
    first_lines = _text(out, "-l", "1").strip().splitlines()[:4]
    assert any("Demo data: not a reproduction" in line for line in first_lines)
