"""render_pdf: a kill during the (long) rendering leaves no temporary file behind."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from tinycnn.report.render import render_pdf


def test_no_temporary_exists_while_the_pdf_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # paper_pdf killed while WeasyPrint worked left a 0-byte `.paper.pdf.*.tmp`.
    out = tmp_path / "out" / "paper.pdf"
    seen: list[list[str]] = []

    class HTML:
        def __init__(self, filename: str) -> None:
            self.filename = filename

        def write_pdf(self, target: object = None) -> bytes | None:
            seen.append(sorted(p.name for p in out.parent.iterdir()) if out.parent.exists() else [])
            if target is not None:
                Path(str(target)).write_bytes(b"%PDF-fake")
                return None
            return b"%PDF-fake"

    monkeypatch.setitem(sys.modules, "weasyprint", types.SimpleNamespace(HTML=HTML))
    render_pdf(tmp_path / "paper.html", out)
    assert seen == [[]]  # nothing on disk during the rendering, which a kill would leave
    assert out.read_bytes() == b"%PDF-fake"
    assert [p.name for p in out.parent.iterdir()] == ["paper.pdf"]
