"""The paper rendered from a realistic results folder (tests/report/realistic_results.py: the real
configuration, 200 classes, accuracies of 5-45%, a diverged run, a missing run, seeds for some
runs), aggregated by the real aggregate, figures included, and read as a reviewer would."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from paper_checks import (
    escaped_twice,
    half_empty_pages,
    identifier_openings,
    numeral_openings,
    repeated_phrases,
    repeated_sentences,
    split_blocks,
    unreferenced,
    words_outside_the_text_box,
)
from realistic_results import BEST, DIVERGED, MISSING, ROOT, config, write_results

from tinycnn.report.aggregate import aggregate
from tinycnn.report.provenance import collect_provenance
from tinycnn.report.render import render_html, render_pdf

STATS = {
    "archive": "tiny-imagenet-200.zip", "classes": 200, "train": 100000, "val": 10000,
    "grayscale": 1821, "source_modes": {"CMYK": 1, "L": 1821, "RGB": 108178},
    "mean": [0.4802, 0.4481, 0.3975], "std": [0.2770, 0.2691, 0.2821],
}  # fmt: skip


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """results/: runs, aggregate/ and paper.html (paper.pdf where poppler can read it)."""
    root = tmp_path_factory.mktemp("paper200")
    cfg = config()
    run_dirs = write_results(root, cfg)
    folder = root / "aggregate"
    aggregate(run_dirs, cfg, folder)
    (root / "stats.json").write_text(json.dumps(STATS))
    rows = [f"{i}\tn{i:08d}\tclass {i}" for i in range(200)]
    (root / "classes.tsv").write_text("index\twnid\twords\n" + "\n".join(rows) + "\n")
    files = [ROOT / p for p in ("config.yaml", "presets/ablations.yaml", "presets/modern.yaml")]
    provenance = collect_provenance(root, files, cfg, folder / "jobs.csv")
    render_html(
        folder, cfg, root / "stats.json", root / "classes.tsv", {}, root / "paper.html",
        provenance=provenance,
    )  # fmt: skip
    return root


@pytest.fixture(scope="module")
def html(paper: Path) -> str:
    return (paper / "paper.html").read_text()


@pytest.fixture(scope="module")
def pdf(paper: Path) -> Path:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    render_pdf(paper / "paper.html", paper / "paper.pdf")
    return paper / "paper.pdf"


def _section(html: str, id_: str) -> str:
    start = html.index(f'id="{id_}"')
    return html[start : html.index("</section>", start)]


def _plain(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", fragment))


def test_the_fixture_is_what_it_says(paper: Path) -> None:
    exps = pd.read_csv(paper / "aggregate" / "experiments.csv")
    assert MISSING not in set(exps["experiment"])
    ran = exps[exps["experiment"] != DIVERGED]
    assert ran["best_val_acc_mean"].between(5, 46).all()
    assert (exps["n_seeds"] > 1).sum() >= 2
    assert set(exps.loc[exps["at_chance"], "experiment"]) == {DIVERGED}
    assert (pd.read_csv(paper / "aggregate" / "runs.csv")["classes"] == 200).all()


def test_no_sentence_is_said_more_than_twice(html: str) -> None:
    assert repeated_sentences(html) == {}


def test_no_eight_words_are_said_five_times_before_appendix_a(html: str) -> None:
    assert repeated_phrases(html) == {}


def test_no_sentence_opens_with_a_numeral(html: str) -> None:
    assert numeral_openings(html) == []


def test_no_sentence_opens_with_an_identifier(html: str) -> None:
    assert identifier_openings(html) == []


def test_nothing_is_escaped_twice(html: str) -> None:
    assert escaped_twice(html) == []
    assert escaped_twice("<p>the paper&amp;#39;s 29.5% &amp;amp; more</p>") == [
        "&amp;#39;",
        "&amp;amp;",
    ]


def test_every_figure_and_table_is_referred_to(html: str) -> None:
    assert unreferenced(html) == []


def test_no_word_past_the_margins(pdf: Path) -> None:
    assert words_outside_the_text_box(pdf) == []


def test_no_page_left_half_empty(pdf: Path) -> None:
    assert half_empty_pages(pdf) == []


def test_no_paragraph_or_table_split_with_a_line_or_row_left_behind(paper: Path) -> None:
    assert split_blocks(paper / "paper.html") == []


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """Each check finds what it looks for: a sentence said three times, a figure nothing
    refers to, a table past the margin, a page left half empty by a table pushed on."""
    said = "<p>Run 3 is at chance level. Run 3 is at chance level.</p>"
    html = f"<html><body>{said}<p>Run 3 is at chance level.</p></body></html>"
    assert repeated_sentences(html) == {"Run 3 is at chance level.": 3}
    assert repeated_sentences(html.replace("</p></body>", " Once.</p></body>"), most=3) == {}
    opening = "<body><p>Of the 9 runs, 7 agree. 2 of them fail.</p><p>3 runs wait.</p>"
    opening += "<p>Blocks (He et al. 2016) and J. 2 words.</p></body>"
    assert numeral_openings(opening) == ["2 of them fail.", "3 runs wait."]
    named = "<body><p>Runs beyond it. modern_resnet18 reaches 36%. The run m1_set1 ends.</p></body>"
    assert identifier_openings(named) == ["modern_resnet18 reaches 36%. The"]  # four words
    form = "".join(f"<p>Run {i}: chance level for 10 classes, with a top-5 accuracy of 50%.</p>"
                   for i in range(5))  # fmt: skip
    phrase = "chance level for 10 classes, with a top-5"
    assert repeated_phrases(f"<body>{form}</body>")[phrase] == 5
    assert repeated_phrases(f"<body>{form}<h2>Appendix A</h2>{form}</body>", most=5) == {}
    assert repeated_phrases(f"<body>{form}</body>", most=5) == {}
    figures = '<p>See <a href="#figure-1">Figure 1</a>.</p><figure id="figure-1"></figure>'
    figures += (
        '<figure id="figure-2"><figcaption><a href="#figure-2">Figure 2</a></figcaption></figure>'
    )
    assert unreferenced(f"<body>{figures}</body>") == ["figure-2"]
    tables = "".join(f'<figure id="table-{n}"></figure>' for n in range(3, 9))
    span = '<p>Tables <a href="#table-4">4</a>–<a class="ref" href="#table-7">7</a></p>'
    assert unreferenced(f"<body>{span}{tables}</body>") == ["table-3", "table-8"]
    from weasyprint import HTML

    css = (
        "<style>@page { size: A4; margin: 22mm 20mm 24mm 20mm } td { white-space: nowrap }</style>"
    )
    wide = "<table><tr>" + "<td>a_very_long_unbreakable_cell_value</td>" * 6 + "</tr></table>"
    HTML(string=css + wide).write_pdf(tmp_path / "wide.pdf")
    assert words_outside_the_text_box(tmp_path / "wide.pdf")
    rows = "".join(f"<tr><td>row {i}</td></tr>" for i in range(60))
    pushed = "<p>One line.</p><table style='break-inside: avoid'>" + rows + "</table><p>End.</p>"
    HTML(string=css + pushed).write_pdf(tmp_path / "pushed.pdf")
    assert [p.split(":")[0] for p in half_empty_pages(tmp_path / "pushed.pdf")] == ["page 1"]
    # a paragraph and a table split by a page with one line, one row, left on the first page
    loose = css.replace("</style>", " p { orphans: 1; widows: 1 } </style>")
    filler = "<div style='height: 236mm'></div>"  # one line, one row left below it
    text = "<p>" + " ".join(["A line of words"] * 80) + "</p>"
    (tmp_path / "split.html").write_text(loose + filler + text)
    split = split_blocks(tmp_path / "split.html")
    assert len(split) == 1 and split[0].endswith("{1: 1, 2: 16} lines by page"), split
    filler = filler.replace("236", "240")
    (tmp_path / "rows.html").write_text(f"{css}{filler}<table><tbody>{rows}</tbody></table>")
    split = split_blocks(tmp_path / "rows.html")
    assert len(split) == 1 and split[0].startswith("'a table': {1: 1,"), split


def test_the_diverged_run_is_named_and_left_out(html: str) -> None:
    text = _plain(html)
    run = re.search(r"Run 6 \(AlexNet[^)]*\)[^<]*?(?=Run 7|Against|Figure)", text)
    assert run, "no paragraph of run 6"
    assert "diverged" in run.group(0) and "chance" in run.group(0)
    assert "AlexNet (run 6) against" not in text.replace("no comparison", "")


def test_a_run_at_chance_is_marked_in_the_table_and_set_against_nothing(
    paper: Path, html: str
) -> None:
    """The results table marks the accuracy of each run at chance level (°), gives it no Δ, and
    its note says what guessing reaches; runs above chance carry no mark."""
    exps = pd.read_csv(paper / "aggregate" / "experiments.csv")
    at_chance = set(exps.loc[exps["at_chance"], "experiment"])
    assert at_chance == {DIVERGED}  # the fixture's one diverged run ends at chance level
    results = html[html.index('class="table-figure results') :]
    results = results[: results.index("</figure>")]
    for name in exps["experiment"]:
        row = re.search(rf'data-experiment="{re.escape(name)}">(.*?)</tr>', results, re.S)
        cells = [unescape(_plain(c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1])]
        assert cells[-3].endswith(" °") == (name in at_chance), (name, cells)
        assert (cells[-1] == "—") == (name in at_chance), (name, cells)
    assert "° At chance level (0.5% for 200 classes)" in " ".join(_plain(results).split())


def test_the_missing_run_is_in_the_table_of_runs_not_yet_trained(html: str) -> None:
    # The paper's run first, then the ablation variants without runs; each once, there only.
    rows = re.findall(r'<tr class="not-run" data-experiment="([^"]+)"', html)
    assert rows[0] == MISSING and len(rows) == len(set(rows))
    assert not set(rows) & set(BEST)
    waiting = html[html.index('class="table-figure waiting') :]
    assert rows == re.findall(r'data-experiment="([^"]+)"', waiting[: waiting.index("</figure>")])


def test_seeds_are_counted(html: str) -> None:
    text = _plain(html)
    assert f"over {len(BEST['m1_lr1e-3'])} seeds" in text


def test_section_numbers_come_from_the_template(html: str) -> None:
    """The template numbers the subsections of Section 2 in page order; the conclusion cites
    the ablations' section by the number its heading has."""
    numbers = re.findall(r"<h3>2\.(\d+)&ensp;", html)
    assert [int(n) for n in numbers] == list(range(1, len(numbers) + 1))
    (ablations,) = re.findall(r"<h3>(2\.\d+)&ensp;Where the differences come from</h3>", html)
    conclusion = _plain(_section(html, "conclusion"))
    assert f"tried in Section {ablations}," in conclusion


def test_appendix_b_counts_every_job_from_the_numbers_file(paper: Path, html: str) -> None:
    numbers = json.loads((paper / "aggregate" / "numbers.json").read_text())
    jobs = pd.read_csv(paper / "aggregate" / "jobs.csv")
    assert numbers["jobs.count"] == str(len(jobs)) == str(sum(map(len, BEST.values())))
    appendix = _plain(_section(html, "appendix-b"))
    assert re.search(
        rf"The {len(jobs)} training jobs ran on .+ and took {numbers['jobs.wall']} of wall time "
        "in all",
        appendix,
    )


def test_the_ablations_are_introduced_with_their_tables(html: str) -> None:
    text = _plain(_section(html, "ablations"))
    tables = re.findall(r'<figure id="(table-\d+)" class="table-figure ablations', html)
    first, last = (int(t.split("-")[1]) for t in (tables[0], tables[-1]))
    assert len(tables) > 2 and last - first == len(tables) - 1
    assert f"may have done; Tables {first}–{last} set every reading beside" in text


def test_the_runs_beyond_define_only_the_models_the_paper_lacks(html: str) -> None:
    text = _plain(_section(html, "beyond"))
    assert "modern_resnet18_64 (ResNet18-64: ResNet18 with a 3x3 stride-1 stem" in text
    assert "modern_resnet18 (ResNet18) beside" in text  # the paper's ResNet18: its own section


def test_every_term_is_the_readers_or_defined(html: str) -> None:
    """No undefined shorthand: the claims' stability measure is named in words and defined in
    the note, and "reading" is defined where the ablations begin."""
    text = _plain(html)
    assert "fall-back" not in text.lower()
    assert "Mean drop: how far the validation accuracy falls from one epoch to the next" in text
    assert "Each is a reading of what the paper may have done" in text


def test_several_figures_are_named_as_a_range(html: str) -> None:
    # Appendix A names its curves "Figures A1–A10", not "Figure A1 to Figure A10"
    curves = re.findall(r'<figure id="figure-(A\d+)"', html)
    text = _plain(_section(html, "appendix-a"))
    assert f"Figures {curves[0]}–{curves[-1]} show the top-1 accuracy" in text


def test_the_paper_prints_the_numbers_of_numbers_json(paper: Path, html: str) -> None:
    """numbers.json is the one list of the paper's numbers as printed: each run's row of the
    results table and its paragraph print exactly its entries (the tables and the computed
    sentences format through the same functions, so they cannot drift from the flat file)."""
    numbers = json.loads((paper / "aggregate" / "numbers.json").read_text())
    runs = sorted({key.split(".")[0] for key in numbers if key.endswith(".ours")})
    assert len(runs) == 10
    for name in runs:
        row = re.search(rf'<tr[^>]*data-experiment="{re.escape(name)}">(.*?)</tr>', html, re.S)
        assert row, name
        cells = [
            unescape(_plain(c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
        ]
        ours, n, diff = cells[-3:]
        # a run at chance level is marked (°), and the note says what the mark means
        chance = numbers[f"{name}.diff"] == "—" and ours.endswith(" °")
        ours = ours.removesuffix(" °") if chance else ours
        assert (ours, n, diff) == tuple(numbers[f"{name}.{k}"] for k in ("ours", "n", "diff"))
        assert cells[-4] == numbers[f"{name}.paper"]
        paragraph = next(
            (
                _plain(p)
                for p in re.findall(r"<p>(.*?)</p>", html, re.S)
                if re.search(
                    rf"\b{re.escape(numbers[f'{name}.top5'])}% top-5|top-5 accuracy (?:of|is) "
                    rf"{re.escape(numbers[f'{name}.top5'])}%",
                    _plain(p),
                )
                and numbers[f"{name}.ours"] in _plain(p)
            ),
            name,
        )
        assert f"ends at {numbers[f'{name}.final']}%" in paragraph
