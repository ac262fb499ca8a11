"""The paper and the README's table rendered from a reference folder: the committed folder against
its records, runs missing, stale records redone and superseded."""

from __future__ import annotations

import json
import re
from pathlib import Path

from demo_records import DEMO_CONFIG, ROOT, _edited, demo_config
from paper_checks import findings
from rendered_paper import _html_tables

from tinycnn import reference
from tinycnn.config.resolve import training_settings
from tinycnn.shared.hardware import machine_words


def test_readme_shows_what_the_reference_folder_holds() -> None:
    """The README's block is the table of the committed folder (make paper-reference writes it)."""
    text = (ROOT / "README.md").read_text()
    block = text.split(reference.README_BEGIN, 1)[1].split(reference.README_END, 1)[0]
    expected = reference.readme_table(ROOT / reference.FOLDER, reference.load_config())
    assert block.strip() == expected


def test_readme_table_gives_recorded_numbers_and_not_yet_run(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    summary = json.loads((folder / "runs/m1_set1/seed0/summary.json").read_text())
    rows = {
        r.split("|")[2].strip(" `"): [c.strip() for c in r.split("|")[1:-1]]
        for r in reference.readme_table(folder, demo_config()).splitlines()[2:]
    }
    assert len(rows) == 11
    cpu = f"{summary['machine']['cpu']} CPU ({summary['machine']['cores']} core"
    assert rows["m1_set1"][5:7] == [f"{summary['best_val_acc']:.1f}", "1"]
    assert rows["m1_set1"][7].startswith(cpu)  # the machine that trained it
    assert rows["m1_set1"][4] == "~22"
    assert all(r[5:] == ["not yet run", "0", ""] for n, r in rows.items() if n != "m1_set1")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{reference.README_BEGIN}\nold\n{reference.README_END}\nrest\n")
    assert reference.update_readme(readme, "new table")
    assert readme.read_text() == (
        f"intro\n{reference.README_BEGIN}\nnew table\n{reference.README_END}\nrest\n"
    )
    assert not reference.update_readme(readme, "new table")


def _render(folder: Path, out: Path, config_files: list[str], *, pdf: bool = False) -> str:
    from tinycnn import cli

    args = ["reference", "render", "--folder", str(folder), "--out", str(out)]
    args += ["--config", *config_files] + ([] if pdf else ["--html-only"])
    assert cli.main(args) == 0
    return (out / "paper.html").read_text()


def _tables(html: str) -> dict:
    return _html_tables(html)


def check_against_records(html: str, folder: Path, config: dict) -> int:
    """The paper's tables against the folder's records, cell by cell: the runs not yet trained
    (one table), the reproduction table (every paper run with records, its number from them),
    the claims that involve a run not yet recorded (untested), and Appendix B (each run's
    commit). The runs shown."""
    from tinycnn.report.formatting import fmt_acc, fmt_delta, fmt_lr, fmt_paper, fmt_scheduler

    shown, stale, _ = reference.runs_in_paper(folder, config)
    stale_keys = {(s["experiment"], s["seed"]) for s in stale}
    summaries: dict[str, list[dict]] = {}
    for (experiment, _seed), run_dir in sorted(shown.items()):
        summaries.setdefault(experiment, []).append(
            json.loads((run_dir / "summary.json").read_text())
        )
    tables = _tables(html)
    experiments = sorted(
        config["experiments"], key=lambda e: config["experiments"][e]["paper"]["run"]
    )
    # The runs not yet trained: one table, an experiment a row, with the seeds still planned.
    waiting = {attrs["data-experiment"]: cells for attrs, cells in tables["waiting"][0]["rows"]}
    for name in experiments:
        if name not in summaries:
            assert name in waiting, name
            assert waiting[name][0] == str(config["experiments"][name]["paper"]["run"]), name
    with_runs = [e for e in experiments if e in summaries]
    if not with_runs:
        assert "results" not in tables
        return len(shown)
    (results,) = tables["results"]
    assert [attrs["data-experiment"] for attrs, _ in results["rows"]] == with_runs
    for (_, cells), name in zip(results["rows"], with_runs, strict=True):
        paper = config["experiments"][name]["paper"]
        runs = summaries[name]
        settings = runs[0]["resolved"]
        cells[1] = cells[1].removesuffix(" †")  # the mark of a run on a subset of the images
        assert cells[:7] == [
            str(paper["run"]),
            settings["model"],
            "+".join(settings["augmentation"]["sets"]),
            fmt_lr(settings["optimizer"]["lr"]),
            fmt_scheduler(settings.get("scheduler")),
            str(settings["epochs"]),
            fmt_paper(paper["accuracy"], paper["stated"]),
        ], name
        accs = [r["best_val_acc"] for r in runs]
        mean = sum(accs) / len(accs)
        std = (sum((a - mean) ** 2 for a in accs) / (len(accs) - 1)) ** 0.5 if len(accs) > 1 else 0
        assert cells[7].startswith(fmt_acc(mean, std, len(accs))), name
        if any((name, r["seed"]) in stale_keys for r in runs):
            assert "stale" in cells[7], name
        delta = fmt_delta(mean - paper["accuracy"], paper["stated"], at_chance=False)
        assert cells[8:] == [str(len(accs)), delta], name
    claims = {attrs["data-experiment"]: cells for attrs, cells in tables["claims"][0]["rows"]}
    for claim in config["report"]["claims"]:
        if any(e not in summaries for e in claim["experiments"]):
            assert claims[claim["id"]][3] == "untested", claim["id"]
            mark = claims[claim["id"]][2].removeprefix("—")  # the note says what the mark means
            reason = f"{mark} a run it involves is not yet trained"
            assert reason in re.sub(r"<[^>]+>", "", html), claim["id"]
    (timing,) = tables["timing"]
    commits = sorted(
        json.loads((d / "summary.json").read_text())["code"]["commit"][:12] for d in shown.values()
    )
    if "commit" in timing["head"]:
        column = timing["head"].index("commit")
        assert sorted(cells[column] for _, cells in timing["rows"]) == commits
    else:  # every job trained at one commit: the caption says it once
        assert len(set(commits)) == 1 and f"at commit {commits[0]}" in html
    return len(shown)


def test_committed_reference_paper_matches_its_records(tmp_path: Path) -> None:
    """What CI checks of the committed folder: the paper renders from it (PDF included), and its
    tables say what its records say."""
    folder = ROOT / reference.FOLDER
    config = reference.load_config()
    html = _render(folder, tmp_path, list(reference.CONFIG_FILES), pdf=True)
    assert (tmp_path / "paper.pdf").stat().st_size > 10_000
    # What a reviewer checks of any paper (tests/paper_checks.py).
    assert findings(tmp_path / "paper.html", tmp_path / "paper.pdf") == {}
    shown = check_against_records(html, folder, config)
    context = json.loads((tmp_path / "reference.json").read_text())
    assert context["recorded"] == shown
    assert context["archive"]["md5"] == config["data"]["md5"]
    assert "c5708d893903748360198ec594d04568" in html  # the data named in the first lines
    if not shown:
        assert "No reference run recorded yet" in html
    # What needs no run is there: the layer tables of both small models, trained or not.
    captions = re.findall(
        r'class="table-figure layers.*?<figcaption>(.*?)</figcaption>', html, re.S
    )
    named = {m for c in captions for m in re.findall(r"The (\S+) architecture", c)}
    assert {"M1", "M4"} <= named, named
    # A model no section describes is defined where a reader first meets it: the waiting table.
    waiting = html[html.index('class="table-figure waiting') :]
    waiting = " ".join(waiting[: waiting.index("</figure>")].split())
    sectioned = {e["model"] for e in config["experiments"].values()}
    for name, model in config["models"].items():
        if f'<td class="text">{name}</td>' in waiting and name not in sectioned:
            assert f"{name}: {model['description']}." in waiting, name
    assert "M1-BN: M1 with batch normalization after every convolution." in waiting
    # A part of the paper with no result says so once, not in a table of placeholders: the
    # runs beyond the paper, while none of them or their baselines is recorded.
    beyond = set(config["beyond_paper"]["experiments"]) | set(config["beyond_paper"]["baselines"])
    if not any(experiment in beyond for experiment, _ in reference.run_folders(folder)):
        assert "No run of the comparison beyond the paper has results yet" in html
        assert "beyond" not in _tables(html)  # the recipe table alone ("recipe beyond")
        assert "not yet run: as configured" not in html


def test_render_with_runs_missing(records: Path, tmp_path: Path) -> None:
    """One run recorded (m1_set1 of the demo config): its number, every other run not yet run,
    the notice's facts; then the same run made stale by a config change is marked."""
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    html = _render(folder, tmp_path / "out", DEMO_CONFIG)
    assert check_against_records(html, folder, demo_config()) == 1
    notice = html.split("<h1", 1)[0]
    assert "bd37d950035ffb53b6eda235c0908d17" in notice and str(folder.name) in notice
    words = " ".join(notice.split())
    # The demo's archive is no rebuild of the official one: no word of the official's MD5.
    assert "official" not in words
    # The order in words: its experiments and seeds, what a CPU trains and what waits for a GPU
    # (the committed CPU rates: M1's runs here, every other model waits).
    order = reference.priority_order(
        demo_config(), reference.load_rates(ROOT / reference.RATES, "cpu")
    )
    assert f"The plan counts {len(order)} runs (" in words
    assert "wait for their turn on a CPU and" in words
    assert "for a GPU (" in words and "Table 3</a>)." in words
    summary = json.loads((folder / "runs/m1_set1/seed0/summary.json").read_text())
    assert f"{summary['best_val_acc']:.1f}" in html
    # Which machine made which run: in the first lines, and in the head of the run's paragraph.
    machine = summary["machine"]
    words = f"{machine['cpu']} CPU ({machine['cores']} core"
    assert f"Hardware: run 1 seed 0 on {words}" in " ".join(notice.split())
    # torch and the numerics every run shares, once, in a reader's words
    assert f"; every run with torch {summary['torch_version']}, in fp32, " in notice
    assert "channels_last" not in notice and "contiguous" not in notice
    # one run, so one machine: said once above the runs' paragraphs, not in each head
    assert f"Every run of the sections below trained on {machine_words(summary)}." in " ".join(
        html.split()
    )
    # Today's config gives m1_set1 another learning rate: the record is stale, and marked.
    edited = tmp_path / "stale.yaml"
    edited.write_text("experiments:\n  m1_set1: {optimizer: {lr: 1.0e-2}}\n")
    html = _render(folder, tmp_path / "out2", [*DEMO_CONFIG, str(edited)])
    stale = reference.load_config([*DEMO_CONFIG, str(edited)])
    assert check_against_records(html, folder, stale) == 1
    assert "‡ stale" in html and "optimizer.lr" in html


def test_a_stale_record_is_replaced_by_its_redone_run_and_superseded(
    records: Path, tmp_path: Path
) -> None:
    """A record made stale by a config change is run again: the merge replaces it (and says so),
    and while another seed is still stale, the paper shows the fresh runs and leaves it out."""
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    config = demo_config()
    config["experiments"]["m1_set1"]["optimizer"] = {"lr": 1.0e-2}
    redone = training_settings(config, "m1_set1")

    def redo(seed: int):
        def edit(manifest: dict, files: dict) -> None:
            for name in [n for n in files if n.startswith("runs/")]:
                data = files.pop(name)
                if name.endswith("summary.json"):
                    summary = json.loads(data)
                    summary.update(resolved=redone, seed=seed)
                    data = json.dumps(summary).encode()
                elif name.endswith("settings.json"):
                    data = json.dumps(redone).encode()
                files[name.replace("seed0", f"seed{seed}")] = data

        return edit

    added = reference.merge(_edited(records, tmp_path, redo(0)), folder, config)
    assert added.runs[0].endswith("(replaces its stale record)")
    assert reference.runs_in_paper(folder, config).stale == []  # nothing stale now
    # Back to the old settings: seed 0 is stale again; a fresh seed 1 supersedes it.
    old = demo_config()
    (folder / "runs/m1_set1/seed1").mkdir()
    for name in reference.RUN_FILES:
        (folder / "runs/m1_set1/seed1" / name).write_bytes(
            (folder / "runs/m1_set1/seed0" / name).read_bytes()
        )
    summary = json.loads((folder / "runs/m1_set1/seed1/summary.json").read_text())
    summary.update(seed=1, resolved=training_settings(old, "m1_set1"))
    (folder / "runs/m1_set1/seed1/summary.json").write_text(json.dumps(summary))
    shown, stale, left_out = reference.runs_in_paper(folder, old)
    assert list(shown) == [("m1_set1", 1)] and stale == []
    assert left_out == [{"experiment": "m1_set1", "seed": 0, "why": "superseded"}]


def test_the_committed_folder_names_the_official_archive_beside_the_rebuilt_one() -> None:
    """The rebuilt archive (presets/real.yaml) has the official file name and another MD5: the
    paper says why, naming the official archive, so that a reader's MD5 check is not a surprise."""
    from tinycnn.config.load import read_config_file

    config = reference.load_config()
    official = read_config_file(ROOT / "config.yaml")["data"]
    order = reference.priority_order(config, reference.load_rates(ROOT / reference.RATES, "cpu"))
    context = reference.context(ROOT / reference.FOLDER, config, order, official=official)
    assert context["archive"]["md5"] != official["md5"]
    assert context["official"] == {
        "url": official["urls"][0], "md5": official["md5"], "size": official.get("size")
    }  # fmt: skip
    assert context["experiments"] == 21 and context["seeds_each"] == 3


def test_the_hardware_line_names_runs_a_reader_knows() -> None:
    """The first lines name the paper's runs by number and count the others by kind: an
    ablation's or a modern run's experiment name is an identifier no reader knows there."""
    from tinycnn.config import ablations
    from tinycnn.reference.folder import _runs_in_words

    config = demo_config()
    variants = ablations.trained(config)
    modern = ["modern_resnet18"]  # not the paper's, no ablation: a run beyond the paper
    assert variants
    ablation = variants[0].experiment
    runs = [("m1_set1", 0), (ablation, 0), (ablation, 1), (modern[0], 2)]
    words = _runs_in_words(runs, config)
    model = config["experiments"][variants[0].base]["model"]
    assert words == (
        f"run 1 seed 0, 2 ablation runs of {model} (seeds 0 and 1) and 1 run beyond the paper "
        "(seed 2)"
    )
    variants = [v.experiment for v in variants]
    assert not any(name in words for name in [*variants, *modern])
