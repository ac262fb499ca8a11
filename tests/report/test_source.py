"""The paper's source is the repository's report/: found from an argument, the environment, or
the checkout; an edit of it changes the paper; a folder that is no paper source is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tinycnn.report import source
from tinycnn.shared.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


def test_the_checkout_s_report_folder_is_the_default(monkeypatch):
    monkeypatch.delenv(source.ENV, raising=False)
    assert source.paper_source() == ROOT / "report"
    assert (ROOT / "report" / source.TEMPLATE).is_file()
    # Snakemake's captions live beside the paper's, in the same folder a user looks in first.
    assert (ROOT / "report" / "snakemake" / "paper.rst").is_file()


def test_an_argument_wins_over_the_environment(tmp_path, monkeypatch):
    given = tmp_path / "given"
    env = tmp_path / "env"
    for folder in (given, env):
        folder.mkdir()
        (folder / source.TEMPLATE).write_text("x")
    monkeypatch.setenv(source.ENV, str(env))
    assert source.paper_source() == env
    assert source.paper_source(given) == given


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_a_folder_without_the_paper_template_is_one_clear_error(tmp_path, monkeypatch, how):
    monkeypatch.setenv(source.ENV, str(tmp_path))
    with pytest.raises(UserError) as err:
        source.paper_source(tmp_path if how == "argument" else None)
    message = str(err.value)
    assert f"{tmp_path} (" in message and source.TEMPLATE in message
    assert "--paper-source" in message and source.ENV in message


def test_the_references_are_read_in_citation_order_and_cited_by_number():
    refs = source.read_references(ROOT / "report")
    cite = source.citations(refs)
    assert list(cite) == list(refs) and len(refs) >= 3
    first = next(iter(refs))
    assert cite[first] == f'<a class="cite" href="#ref-{first}">[1]</a>'


@pytest.mark.parametrize("text", ["- a list\n", "key: [1, 2]\n", "key: 'a\n"])
def test_references_that_are_not_key_to_text_are_refused(tmp_path, text):
    (tmp_path / source.REFERENCES).write_text(text)
    with pytest.raises(UserError, match="references"):
        source.read_references(tmp_path)


def test_a_word_changed_in_the_source_changes_the_paper(render, tmp_path, monkeypatch):
    # The renderer reads the folder it finds (here by the environment), not a package copy: a
    # sentence added to a section and a style changed both reach the rendered paper.
    copy = tmp_path / "report"
    shutil.copytree(ROOT / "report", copy)
    part = copy / "paper" / "01_title.html.j2"
    part.write_text(part.read_text() + "\n<p>A sentence of my own.</p>\n")
    style = copy / source.STYLESHEET
    style.write_text(style.read_text() + "\n.my-own-rule { color: teal; }\n")
    monkeypatch.setenv(source.ENV, str(copy))
    html = render(tmp_path / "paper.html").read_text()
    assert "A sentence of my own." in html and ".my-own-rule" in html
    monkeypatch.delenv(source.ENV)
    html = render(tmp_path / "again.html").read_text()
    assert "A sentence of my own." not in html and ".my-own-rule" not in html
