"""The reference runs' notice (`tinycnn paper-html --reference FILE`): the data and hardware that
made the numbers, and every stale run marked."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from handmade_aggregate import CLAIMS_SHOWN, Render, _config
from rendered_paper import _cells, _html_tables, _plain

REFERENCE = {
    "folder": "reference",
    "archive": {"name": "tiny-imagenet-200.zip", "md5": "c5708d893903748360198ec594d04568",
                "size": 241828375},
    "hardware": ["NVIDIA H200, driver 580.159.04, torch 2.11.0+cu130, CUDA 13.0"],
    "stale": [{"experiment": "m1_lr1e-3", "seed": 0, "differs": ["optimizer.lr", "epochs"]}],
    "planned": [{"experiment": "densenet161", "seed": 0}],
    "order": [{"experiment": "m1_set1", "seed": 0}, {"experiment": "densenet161", "seed": 0}],
    "experiments": 2,
    "seeds_each": 1,
    "waiting": {"cpu": 0, "gpu": 1},
    "official": {"url": "http://cs231n.stanford.edu/tiny-imagenet-200.zip",
                 "md5": "90528d7ca1a48142e341f4ef8d21d0de", "size": 248100043},
}  # fmt: skip


def test_reference_notice_and_stale_runs(render: Render, tmp_path: Path) -> None:
    """With --reference: the first lines say what data and hardware made the numbers; every
    table row and sentence that shows a stale run's number marks it, and a note says which
    settings differ and that the run must be redone."""
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(REFERENCE))
    html = render(tmp_path / "paper.html", reference=reference).read_text()
    text = _plain(html)
    first = text[:700]
    # 7 jobs of runs.csv, 2 seeds of the run beyond the paper, 3 of the ablation variants
    assert (
        "Numbers from 12 reference runs (reference), trained on the real Tiny ImageNet-200 "
        "archive (tiny-imagenet-200.zip, MD5 c5708d893903748360198ec594d04568, 241,828,375 "
        "bytes: the official images, rebuilt from a public snapshot into other zip bytes than "
        "the official archive's (http://cs231n.stanford.edu/tiny-imagenet-200.zip, MD5 "
        "90528d7ca1a48142e341f4ef8d21d0de, 248,100,043 bytes), hence another MD5). The plan "
        "counts 2 runs (2 experiments, 1 seed each): 1 recorded, 1 not yet run, of which 0 "
        "wait for their turn on a CPU and 1 for a GPU (Table 3). Hardware: NVIDIA H200, driver "
        "580.159.04, torch 2.11.0+cu130, CUDA 13.0."
    ) in first
    assert "1 of them is stale (‡ stale)" in first
    assert html.index('id="reference-notice"') < html.index('class="title-block"')
    tables = _html_tables(html)
    (table,) = tables["results"]
    marks = {a["data-experiment"]: (a.get("class"), c[7]) for a, c in table["rows"]}
    assert marks.pop("m1_lr1e-3") == ("stale", "29.6 ± 0.7 ‡ stale")
    assert all("‡" not in cell and cls != "stale" for cls, cell in marks.values())
    assert (
        "‡ Stale: run 2, seed 0: optimizer.lr, epochs. These runs recorded settings that today's "
        "configuration resolves otherwise; their numbers stand for what they recorded, and each "
        "must be redone."
    ) in text
    assert (
        "‡ stale: seed 0 recorded settings that today's configuration changes (optimizer.lr, "
        "epochs); the run must be redone."
    ) in text
    assert (
        "M4 (run 5) beats M1 (run 2) by 12.7 points (42.3% against 29.6 ± 0.7% over 2 seeds "
        "‡ stale)"
    ) in text
    # Every sentence or cell that prints run 2's accuracy marks it.
    at = [m.start() for m in re.finditer(r"29\.6", text)]
    assert len(at) >= 3 and all("‡ stale" in text[i : i + 40] for i in at)
    (timing,) = tables["timing"]
    jobs = {(c[1], c[2]) for c in _cells(timing)}
    assert ("m1_lr1e-3 ‡ stale", "0") in jobs and ("m1_lr1e-3", "1") in jobs
    (claims,) = tables["claims"]
    measured = {a["data-experiment"]: c[2] for a, c in claims["rows"]}
    assert measured["m4_beats_m1"] == CLAIMS_SHOWN["m4_beats_m1"][1] + " ‡ stale"
    assert measured["m1_overfits"].endswith("‡ stale")
    assert measured["densenet_epoch_time"] == "—a"  # no number: no stale mark
    assert "a run recorded with settings that today's configuration resolves otherwise" in text


def test_reference_file_needs_stale_and_planned(render: Render, tmp_path: Path) -> None:
    from tinycnn.shared.errors import UserError

    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps({"folder": "reference", "stale": []}))
    with pytest.raises(UserError, match="`stale` and `planned`"):
        render(tmp_path / "paper.html", reference=reference)


def test_paper_html_command_takes_the_reference(aggregate: Path, tmp_path: Path) -> None:
    """`tinycnn paper-html --reference FILE` passes the file to the report."""
    from tinycnn.cli import main

    root = aggregate.parent
    (tmp_path / "config.json").write_text(json.dumps(_config()))
    (tmp_path / "reference.json").write_text(json.dumps(REFERENCE))
    args = ["paper-html", "--config", str(tmp_path / "config.json"), "--workflow-dir", str(root)]
    args += ["--aggregate", str(aggregate), "--stats", str(root / "stats.json")]
    args += [
        "--classes",
        str(root / "classes.tsv"),
        "--reference",
        str(tmp_path / "reference.json"),
    ]
    args += [f"--preview={s}={root / f'{s}_preview.png'}" for s in ("set1", "set2")]
    assert main([*args, "--out", str(tmp_path / "paper.html")]) == 0
    first = _plain((tmp_path / "paper.html").read_text())[:700]
    assert (
        "Numbers from 12 reference runs (reference)" in first and "Hardware: NVIDIA H200" in first
    )
