"""The Snakemake workflow: job graph of the paper's config, config errors, the demo run."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from paper_checks import findings

from tinycnn.config.merge import deep_merge
from tinycnn.config.resolve import experiment_entries, resolve_experiment, training_settings
from tinycnn.training.recipe import warmup_cosine_factor

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The archives' paths: resources/<md5>/<filename>.
PAPER_ARCHIVE = "resources/90528d7ca1a48142e341f4ef8d21d0de/tiny-imagenet-200.zip"
DEMO_ARCHIVE = "resources/bd37d950035ffb53b6eda235c0908d17/tiny-imagenet-demo.zip"


def snakemake(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(BIN / "snakemake"), "--snakefile", str(ROOT / "Snakefile"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:", 1)[1]
    return {m[0]: int(m[1]) for m in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def test_dry_run_of_the_paper_lists_the_data_jobs(tmp_path):
    result = snakemake("-n", "--cores", "8", "--resources", "gpu=1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    counts = job_counts(out)
    assert counts["download"] == 1 and counts["pack"] == 1 and counts["augment"] == 2
    assert counts["preview"] == 2 and counts["train"] == 11
    assert "--url http://cs231n.stanford.edu/tiny-imagenet-200.zip" in out
    assert "--url https://image-net.org/data/tiny-imagenet-200.zip" in out
    assert "--md5 90528d7ca1a48142e341f4ef8d21d0de --size 248100043" in out
    assert PAPER_ARCHIVE in out
    assert "results/paper/augmented/set2.npy" in out
    # Each train job holds a GPU and reads its own experiment's settings file.
    jobs = out.split("rule train:")[1:]
    assert len(jobs) == 11
    assert all("gpu=1" in job for job in jobs)
    assert counts["settings"] == 11
    for job in jobs:
        experiment = re.search(r"wildcards: experiment=([^,\s]+)", job)[1]
        assert f"--settings results/paper/settings/{experiment}.json --seed 0" in job
    # The files hold the paper's settings of each experiment (rule settings, run for real).
    checked = ["densenet161", "m1_lr1e-4", "m1_set1"]
    path = "results/paper/settings/{}.json".format
    written = snakemake("--cores", "2", *map(path, checked), cwd=tmp_path)
    assert written.returncode == 0, written.stdout[-2000:] + written.stderr[-2000:]
    settings = {e: json.loads((tmp_path / path(e)).read_text()) for e in checked}
    assert settings["densenet161"]["epochs"] == 8
    assert settings["densenet161"]["scheduler"] == {"name": "StepLR", "step_size": 7, "gamma": 0.1}
    assert settings["m1_lr1e-4"]["optimizer"]["lr"] == 1e-4
    assert settings["m1_set1"]["augmentation"]["sets"] == ["set1"]
    assert "paper" not in settings["m1_set1"]
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for experiment, written_settings in settings.items():
        assert written_settings == training_settings(config, experiment)


def dry_run_with(preset: str, tmp_path: Path) -> tuple[dict[str, int], dict[str, str]]:
    """A dry run of the paper with ``preset`` on top: the job counts, and each train job's text
    by experiment."""
    result = snakemake(
        "-n", "--cores", "8", "--resources", "gpu=1", "--configfile", preset, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    # Each train job's text up to the next job (Snakemake lists the jobs in no fixed order).
    jobs = {
        re.search(r"wildcards: experiment=([^,\s]+)", job)[1]: re.split(r"\n(?:local)?rule ", job)[
            0
        ]
        for job in out.split("rule train:")[1:]
    }
    return job_counts(out), jobs


def test_dry_run_of_the_ablations_lists_their_train_jobs(tmp_path):
    """presets/ablations.yaml: the paper's 11 jobs and one GPU job per variant that trains, by
    the same rules (settings, train); a variant that only changes `reported` adds none."""
    counts, jobs = dry_run_with(str(ROOT / "presets" / "ablations.yaml"), tmp_path)
    assert counts["train"] == 19 and counts["settings"] == 19 and counts["aggregate"] == 1
    assert counts["augment"] == 3  # set1, set2, and set1_then_set2 of the `both sets` question
    assert len(jobs) == 19 and all("gpu=1" in job for job in jobs.values())
    sequential = jobs["both_sets_m1__sequential"]
    assert "--augmented set1_then_set2=" in sequential and "--augmented set1=" not in sequential
    for variant in ("augmentation_draw_m1__online", "augmentation_draw_m4__online"):
        assert f"--settings results/paper/settings/{variant}.json --seed 0" in jobs[variant]
        assert f"results/paper/runs/{variant}/seed0/summary.json" in jobs[variant]
        # Mode online: the variant reads no materialized set.
        assert "--augmented" not in jobs[variant]
    for variant in ("batch_norm_m1__batch_norm", "batch_norm_m4__batch_norm"):
        assert f"--settings results/paper/settings/{variant}.json --seed 0" in jobs[variant]
        assert "--augmented set1=" in jobs[variant] and "--augmented set2=" in jobs[variant]


def test_dry_run_of_the_modern_preset_lists_its_runs_beside_the_papers(tmp_path):
    """presets/modern.yaml: the paper's 11 jobs and the two modern runs, each holding a GPU and
    reading no materialized set (their augmentation is drawn online)."""
    preset = str(ROOT / "presets" / "modern.yaml")
    counts, jobs = dry_run_with(preset, tmp_path)
    assert counts["train"] == 13 and counts["settings"] == 13 and counts["augment"] == 2
    assert counts["preview"] == 3  # set1, set2, and the modern set
    assert len(jobs) == 13 and all("gpu=1" in job for job in jobs.values())
    for name in ("modern_resnet18_64", "modern_resnet18"):
        assert f"--settings results/paper/settings/{name}.json --seed 0" in jobs[name]
        assert "--augmented" not in jobs[name]
    target = (
        "results/paper/settings/modern_resnet18_64.json"  # first: --configfile takes all after it
    )
    written = snakemake(target, "--cores", "1", "--configfile", preset, cwd=tmp_path)
    assert written.returncode == 0, written.stderr[-2000:]
    settings = json.loads((tmp_path / "results/paper/settings/modern_resnet18_64.json").read_text())
    assert settings["arch"] == "resnet18_64" and settings["optimizer"]["name"] == "SGD"
    assert settings["epochs"] == 20 and settings["batch_size"] == 256


def test_local_archive_replaces_the_urls(tmp_path):
    result = snakemake(
        "-n", "--cores", "1", "--config", "data={'archive': 'mine/tin.zip'}", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    download = out.split("rule download:")[1].split("\n\n")[0]
    assert f"--url {(tmp_path / 'mine/tin.zip').as_uri()} --md5" in download
    assert "cs231n" not in download


def test_local_archive_may_not_be_the_download_output(tmp_path):
    result = snakemake(
        "-n",
        "--cores",
        "1",
        "--config",
        "data={'archive': '" + PAPER_ARCHIVE + "'}",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert f"data.archive points at {PAPER_ARCHIVE}, the download rule's own" in (
        result.stdout + result.stderr
    )


def test_a_bad_config_stops_before_any_job_with_the_key_named(tmp_path):
    preset = tmp_path / "bad.yaml"
    preset.write_text("training:\n  optimizer: {lr: -0.1}\n")
    result = snakemake("-n", "--cores", "1", "--configfile", str(preset), cwd=tmp_path)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "training.optimizer.lr: -0.1 must be greater than 0" in out
    assert "Job stats" not in out


# --- the demo, run once for the tests below --------------------------------------------------

# `make demo`'s configs: the paper's runs cut short, and the runs beyond the paper cut short.
DEMO = [str(ROOT / f"presets/{f}") for f in ("demo.yaml", "modern.yaml", "demo/modern.yaml")]
# Whichever demo test runs first runs the pipeline (the fixture) within its own time limit:
# as long as the snakemake call's own timeout below. A guard against a hang, not a speed test:
# the demo takes about 7 minutes alone on 2 cores, and much longer beside the other test worker.
DEMO_LIMIT = 1800
demo_timeout = pytest.mark.timeout(DEMO_LIMIT)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where `make demo`'s snakemake call has run the whole pipeline."""
    workdir = tmp_path_factory.mktemp("demo")
    # As `make demo`: a core a train job, two at once.
    result = snakemake(
        "--cores", "2", "--set-threads", "train=1", "--configfile", *DEMO, cwd=workdir,
        timeout=DEMO_LIMIT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir


def demo_runs(workdir: Path) -> list[Path]:
    """Every run folder of the demo: each experiment's seeds (two of them have two)."""
    return sorted((workdir / "results/demo/runs").glob("*/seed*"))


def demo_seeds() -> dict[str, list[int]]:
    """The seeds of each demo experiment that trains (its ablation variant's included), as the
    demo preset resolves them."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    for preset in DEMO:
        config = deep_merge(config, yaml.safe_load(Path(preset).read_text()))
    return {name: resolve_experiment(config, name)["seeds"] for name in experiment_entries(config)}


@demo_timeout
def test_demo_downloads_packs_and_augments_offline(demo):
    archive = demo / DEMO_ARCHIVE
    assert archive.read_bytes() == (ROOT / "presets/demo/tiny-imagenet-demo.zip").read_bytes()
    packed = demo / "results/demo/packed"
    stats = json.loads((packed / "stats.json").read_text())
    train = np.load(packed / "train_images.npy", mmap_mode="r")
    assert train.shape == (stats["train"], 64, 64, 3) and train.dtype == np.uint8
    for name in ("set1", "set2"):
        augmented = np.load(demo / f"results/demo/augmented/{name}.npy", mmap_mode="r")
        assert augmented.shape == train.shape
        assert not np.array_equal(augmented, train)
        preview = demo / f"results/demo/augmented/{name}_preview.png"
        assert preview.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "verified" in (demo / "logs/download_tiny-imagenet-demo.zip.log").read_text()


@demo_timeout
def test_demo_trains_every_run_from_its_settings_file(demo):
    runs = demo_runs(demo)
    expected = sorted(f"{e}/seed{s}" for e, seeds in demo_seeds().items() for s in seeds)
    assert [f"{r.parent.name}/{r.name}" for r in runs] == expected
    # 11 experiments, two of them with two seeds, the ablation variant of one of those two, and
    # the two runs beyond the paper
    assert len(runs) == 17
    assert demo_seeds()["augmentation_draw__online"] == [0, 1]
    for run in runs:
        summary = json.loads((run / "summary.json").read_text())
        metrics = list(csv.DictReader((run / "metrics.csv").open()))
        assert len(metrics) == summary["epochs"] == summary["resolved"]["epochs"]
        assert summary["best_val_acc"] == max(float(m["val_acc"]) for m in metrics)
        assert summary["device"] == "cpu"
        assert (run / "model.pt").stat().st_size > 0
        if summary["experiment"].startswith("modern_"):  # warm-up and cosine, every batch
            steps = math.ceil(10 * summary["resolved"]["subset"]["train_per_class"] / 64)
            rates = [0.1 * warmup_cosine_factor(e * steps, steps, 2 * steps, 0.0) for e in (0, 1)]
            assert [float(m["lr"]) for m in metrics] == pytest.approx(rates, rel=1e-9)
            assert summary["resolved"]["loss"]["label_smoothing"] == 0.1
        settings = demo / f"results/demo/settings/{summary['experiment']}.json"
        assert summary["resolved"] == json.loads(settings.read_text())
    assert not list((demo / "results/demo/checkpoints").glob("*.pt"))


@demo_timeout
def test_demo_paper_agrees_with_the_table_and_the_metrics(demo):
    table = {
        r["experiment"]: r
        for r in csv.DictReader((demo / "results/demo/aggregate/experiments.csv").open())
    }
    assert sorted(table) == sorted(_paper_experiments())
    pdf = demo / "results/demo/paper.pdf"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Demo data: not a reproduction." in text.split("Abstract")[0]
    # Appendix B lists the config files in the order they were merged: config.yaml first.
    html = (demo / "results/demo/paper.html").read_text()
    merged = html.split("merged in this order", 1)[1]
    order = [merged.index(f) for f in ("config.yaml", "presets/demo.yaml", "presets/modern.yaml")]
    assert order == sorted(order), order
    summaries: dict[str, list[dict]] = {}
    for run in demo_runs(demo):
        summary = json.loads((run / "summary.json").read_text())
        summaries.setdefault(summary["experiment"], []).append(summary)
    # The ablation variant's runs are in ablations.csv only, those beyond the paper in beyond.csv.
    variant_runs = summaries.pop("augmentation_draw__online")
    beyond_runs = {name: summaries.pop(name) for name in ("modern_resnet18", "modern_resnet18_64")}
    for experiment, seeds in summaries.items():
        row = table[experiment]
        best = [s["best_val_acc"] for s in seeds]
        assert int(row["n_seeds"]) == len(seeds) == len(demo_seeds()[experiment])
        assert float(row["best_val_acc_mean"]) == pytest.approx(np.mean(best))
        if len(seeds) > 1:
            assert float(row["best_val_acc_std"]) == pytest.approx(np.std(best, ddof=1))
        assert int(row["parameters"]) == seeds[0]["parameters"]
        line = next(
            ln for ln in text.splitlines() if re.match(rf"\s*{row['run']}\s+{row['model']}\s", ln)
        )
        assert f"{float(row['best_val_acc_mean']):.1f}" in line
        if len(seeds) > 1:  # mean ± std, and n
            assert f"{float(row['best_val_acc_mean']):.1f} ± " in line, line
    # The claims, checked: one row per claim of the config, each with a verdict, in the PDF.
    claims = list(csv.DictReader((demo / "results/demo/aggregate/claims.csv").open()))
    config_claims = yaml.safe_load((ROOT / "config.yaml").read_text())["report"]["claims"]
    assert [c["id"] for c in claims] == [c["id"] for c in config_claims]
    assert {c["verdict"] for c in claims} <= {"holds", "fails", "within seed noise", "untested"}
    assert any(c["verdict"] != "untested" for c in claims)
    assert "The paper's claims, checked" in text
    two_seeds = next(c for c in claims if c["id"] == "augmentation_m1")  # both with two seeds
    assert int(two_seeds["n"]) == 2 and two_seeds["spread"] != ""
    html = (demo / "results/demo/paper.html").read_text()
    assert html.count("data:image/png;base64") >= 13
    # What a reviewer checks of any paper (tests/paper_checks.py).
    assert findings(demo / "results/demo/paper.html", pdf) == {}
    # The demo's ablation: the base, drawn online (its own two runs), the base's last epochs.
    ablations = list(csv.DictReader((demo / "results/demo/aggregate/ablations.csv").open()))
    rows = {r["variant"]: r for r in ablations}
    assert [r["variant"] for r in ablations] == ["base", "last", "online"]  # then name order
    assert {r["question"] for r in ablations} == {"augmentation_draw"}
    online = [s["best_val_acc"] for s in variant_runs]
    assert int(rows["online"]["n_seeds"]) == len(online) == 2
    assert float(rows["online"]["accuracy_mean"]) == pytest.approx(np.mean(online))
    assert all(s["resolved"]["augmentation"]["mode"] == "online" for s in variant_runs)
    last = [s["final_val_acc"] for s in summaries["m1_set1"]]
    assert rows["last"]["experiment"] == "m1_set1"
    assert float(rows["last"]["accuracy_mean"]) == pytest.approx(np.mean(last))
    assert float(rows["base"]["accuracy_mean"]) == pytest.approx(
        float(table["m1_set1"]["best_val_acc_mean"])
    )
    assert sum(r["closest"] == "True" for r in ablations) >= 1
    assert "Where the differences come from" in text
    # Each variant's change in the words its description gives, not as a setting's key.
    words = " ".join(html.split())
    assert "augmentation drawn anew every epoch" in words and "augmentation.mode=" not in words
    assert "the last epoch&#39;s accuracy, not the best epoch&#39;s" in words
    # Beyond the paper: the paper's ResNet18 and DenseNet161, then the two modern runs, in the
    # table of beyond.csv and in the PDF.
    beyond = list(csv.DictReader((demo / "results/demo/aggregate/beyond.csv").open()))
    assert [(r["experiment"], r["role"]) for r in beyond] == [
        ("resnet18_lr1e-3", "baseline"),
        ("densenet161", "baseline"),
        ("modern_resnet18", "beyond"),
        ("modern_resnet18_64", "beyond"),
    ]
    for r in beyond[2:]:
        best = [s["best_val_acc"] for s in beyond_runs[r["experiment"]]]
        assert float(r["best_val_acc_mean"]) == pytest.approx(np.mean(best))
        assert r["common_epoch"] == "1"  # DenseNet161's one epoch in the demo
        line = next(ln for ln in text.splitlines() if re.match(rf"\s*{r['experiment']}\s", ln))
        assert f"{float(r['best_val_acc_mean']):.1f}" in line, line
    assert "Beyond the paper" in text and "Nesterov" in text  # its recipe table


@demo_timeout
def test_demo_snakemake_report_holds_the_figures_and_the_paper(demo):
    report = snakemake("--configfile", *DEMO, "--report", "report.zip", cwd=demo)
    assert report.returncode == 0, report.stdout[-2000:] + report.stderr[-2000:]
    with zipfile.ZipFile(demo / "report.zip") as bundle:
        names = "\n".join(bundle.namelist())
    # beyond.png: the curves of the runs beyond the paper beside their baselines
    shown = ("paper.pdf", "paper_vs_ours.png", "set2_preview.png", "curves_m1_set1.png")
    for name in (*shown, "beyond.png"):
        assert name in names


@demo_timeout
def test_demo_second_run_has_nothing_to_do(demo):
    again = snakemake("-n", "--cores", "2", "--configfile", *DEMO, cwd=demo)
    assert "Nothing to be done" in again.stdout + again.stderr


@demo_timeout
def test_demo_edit_of_one_experiment_retrains_it_alone(demo):
    # Editing one experiment retrains that job alone; a reported number retrains none (both
    # re-render the paper).
    edited = demo / "edited.yaml"
    edited.write_text(
        "experiments:\n  m1_lr1e-4: {optimizer: {lr: 2.0e-4}}\n  alexnet: {paper: {accuracy: 19}}\n"
    )
    dry = snakemake("-n", "--cores", "2", "--configfile", *DEMO, str(edited), cwd=demo)
    out = dry.stdout + dry.stderr
    report_chain = {"config_snapshot": 1, "aggregate": 1, "paper_html": 1, "paper_pdf": 1}
    assert job_counts(out) == {"settings": 1, "train": 1, **report_chain, "all": 1, "total": 7}
    assert "experiment=m1_lr1e-4" in out


@demo_timeout
@pytest.mark.parametrize(
    "edit, reruns",
    [
        # A mirror beside the demo's source: the archive is known by its checksum.
        (
            "data: {urls: ['file:presets/demo/tiny-imagenet-demo.zip',"
            " 'https://mirror.example.org/tiny-imagenet-demo.zip']}",
            {},
        ),
        # The same archive, from a byte-identical copy elsewhere.
        ("data: {archive: COPY}", {}),
        # The preview grids' size: the previews alone, never a materialized set.
        ("augmentation: {preview: {images: 3, draws: 2}}", {"preview": 3}),
        # A typo in the archive's size: the verified archive is kept, nothing reruns (issue 33).
        ("data: {size: 12345}", {}),
    ],
    ids=["mirror-url", "identical-archive-copy", "preview-size", "size-typo"],
)
def test_demo_cosmetic_edit_reruns_no_data_or_training_job(demo, edit, reruns):
    copy = demo / "elsewhere" / "tiny-imagenet-demo.zip"
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes((ROOT / "presets/demo/tiny-imagenet-demo.zip").read_bytes())
    edited = demo / "cosmetic.yaml"
    edited.write_text(edit.replace("COPY", str(copy)) + "\n")
    dry = snakemake("-n", "--cores", "2", "--configfile", *DEMO, str(edited), cwd=demo)
    out = dry.stdout + dry.stderr
    # The config snapshot changes, so the paper (its appendix shows the config) is rendered again.
    report_chain = {"config_snapshot": 1, "aggregate": 1, "paper_html": 1, "paper_pdf": 1}
    expected = {**reruns, **report_chain, "all": 1}
    assert job_counts(out) == {**expected, "total": sum(expected.values())}, out[-3000:]


@demo_timeout
def test_demo_another_archive_reruns_the_data_and_every_run(demo):
    # The control of the test above: a different archive (another checksum) redoes everything.
    edited = demo / "other-archive.yaml"
    edited.write_text("data: {md5: 0123456789abcdef0123456789abcdef}\n")
    dry = snakemake("-n", "--cores", "2", "--configfile", *DEMO, str(edited), cwd=demo)
    counts = job_counts(dry.stdout + dry.stderr)
    assert counts["download"] == counts["pack"] == 1 and counts["augment"] == 2
    # 17: two experiments have two seeds, and so has the ablation variant of one of them; two
    # runs beyond the paper. Three previews: set1, set2 and the modern recipe's set (online
    # only, so never materialized).
    runs = sum(len(seeds) for seeds in demo_seeds().values())
    assert counts["preview"] == 3 and counts["train"] == runs == 17, counts


@demo_timeout
def test_demo_new_seed_adds_jobs_and_retrains_none(demo):
    seeds = demo / "seeds.yaml"
    seeds.write_text("training: {seeds: [0, 1]}\n")
    dry = snakemake("-n", "--cores", "2", "--configfile", *DEMO, str(seeds), cwd=demo)
    out = dry.stdout + dry.stderr
    counts = job_counts(out)
    # The two experiments with their own seeds [0, 1] keep them (and have seed 1 already).
    assert counts["train"] == 11 and "settings" not in counts, counts
    train_jobs = out.split("rule train:")[1:]
    assert all(re.search(r"wildcards: experiment=\S+, seed=1\n", job) for job in train_jobs)
    trained = {re.search(r"wildcards: experiment=(\S+),", job)[1] for job in train_jobs}
    assert trained == {e for e, s in demo_seeds().items() if s == [0]}


def _paper_experiments() -> list[str]:
    return list(yaml.safe_load((ROOT / "config.yaml").read_text())["experiments"])


def test_real_preset_takes_the_rebuilt_archive_by_path_and_verifies_it(tmp_path):
    """presets/real.yaml: the archive at .realdata/ (relative to the working directory) is the
    download's only source, known by its own MD5; a wrong file there is refused by its size."""
    preset = str(ROOT / "presets" / "real.yaml")
    counts, _ = dry_run_with(preset, tmp_path)
    assert counts["train"] == 11 and counts["download"] == 1
    archive = "resources/c5708d893903748360198ec594d04568/tiny-imagenet-200.zip"
    dry = snakemake("-n", "--cores", "1", "-p", archive, "--configfile", preset, cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr
    local = (tmp_path / ".realdata/tiny-imagenet-200.zip").as_uri()
    assert f"--url {local} --md5 c5708d893903748360198ec594d04568 --size 241828375" in dry.stdout
    (tmp_path / ".realdata").mkdir()
    (tmp_path / ".realdata/tiny-imagenet-200.zip").write_bytes(b"not the archive")
    done = snakemake(archive, "--cores", "1", "--configfile", preset, cwd=tmp_path)
    assert done.returncode != 0
    log = (tmp_path / "logs/download_tiny-imagenet-200.zip.log").read_text()
    assert "241828375" in log or "241,828,375" in log, log
    assert not (tmp_path / archive).exists()


def test_a_preset_with_a_key_written_twice_stops_before_any_job(tmp_path):
    """Snakemake's own YAML reading keeps the last of two equal keys; the workflow refuses it."""
    preset = tmp_path / "twice.yaml"
    preset.write_text("training:\n  epochs: 5\n  batch_size: 64\n  epochs: 6\n")
    result = snakemake("-n", "--cores", "1", "--configfile", str(preset), cwd=tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{preset} is not valid YAML at line 4" in out, out[-2000:]
    assert "the key 'epochs' is written twice (lines 2 and 4); keep one" in out
    assert "Job stats" not in out
