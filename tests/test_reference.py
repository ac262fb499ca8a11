"""Reference runs: the archive in parts, the budgeted runner on the CPU over the demo data,
the merge and each of its refusals, the priority order, and the paper rendered from a folder
with runs missing."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tinycnn import reference
from tinycnn.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ROOT.parent / "shared" / "realdata" / "split"
sys.path.insert(0, str(ROOT / "scripts"))
import reference_runs  # noqa: E402

DEMO_ARCHIVE = ROOT / "presets/demo/tiny-imagenet-demo.zip"
DEMO_CONFIG = ["config.yaml", "presets/demo.yaml"]
# What the demo's runs project to on this CPU: M1 cheap, everything else far past any budget.
CPU_RATES = {
    "train_images": 1400,
    "val_images": 300,
    "classes": 10,
    "eval_speedup": 3.0,
    "overhead_s": 5,
    "safety": 1.0,
    "models": {
        arch: {"train_img_s": 2000.0 if arch == "m1" else 1.0, "compile_s": 0, "eager_img_s": 1.0}
        for arch in (
            "m1",
            "m4",
            "alexnet",
            "resnet18",
            "resnet34",
            "resnet34_preact",
            "densenet161",
            "m1_bn",
            "m4_bn",
            "resnet18_64",
        )
    },
}


# --- the archive in parts ---------------------------------------------------------------------


@pytest.fixture
def parts(tmp_path: Path) -> tuple[Path, bytes]:
    """A 2.5 MiB archive cut into 1 MiB parts by the shared `split` script."""
    if not SPLIT.is_file():
        pytest.skip(f"{SPLIT} is not here (the shared folder beside the repository)")
    data = os.urandom(5 << 19)
    archive = tmp_path / "tiny-imagenet-200.zip"
    archive.write_bytes(data)
    out = tmp_path / "parts"
    subprocess.run(
        ["bash", str(SPLIT), str(archive), str(out), "1"], check=True, capture_output=True
    )
    return out, data


def test_parts_join_and_verify(parts: tuple[Path, bytes], tmp_path: Path) -> None:
    folder, data = parts
    assert sorted(p.name for p in folder.glob("part-*")) == ["part-1", "part-2", "part-3"]
    joined = reference_runs.join_parts(folder, tmp_path / "joined")
    assert joined.read_bytes() == data


def test_a_missing_part_stops_everything(parts: tuple[Path, bytes], tmp_path: Path) -> None:
    folder, _ = parts
    (folder / "part-2").unlink()
    with pytest.raises(UserError, match=r"part-2 missing .* no run starts on partial data"):
        reference_runs.join_parts(folder, tmp_path / "joined")
    assert not (tmp_path / "joined").exists()


def test_a_damaged_part_is_refused(parts: tuple[Path, bytes], tmp_path: Path) -> None:
    folder, _ = parts
    with open(folder / "part-3", "r+b") as fh:
        fh.write(b"x")
    with pytest.raises(UserError, match="part-3 is damaged"):
        reference_runs.join_parts(folder, tmp_path / "joined")


# --- the order and the projections ------------------------------------------------------------


def test_priority_order_of_the_reference_config() -> None:
    config = reference.load_config()
    rates = reference.load_rates(ROOT / reference.RATES)
    order = reference.priority_order(config, rates)
    groups = reference.run_groups(config)
    paper, modern, variants = groups["paper"], groups["beyond"], groups["ablations"]
    first = [e for e, _ in order[: len(paper)]]
    assert sorted(first) == sorted(paper) and len(paper) == 11
    costs = [
        reference.project_seconds(reference.training_settings(config, e), rates) for e in first
    ]
    assert costs == sorted(costs)  # cheapest first
    assert first[0] == "m1_set1" and first[-1] == "densenet161"
    n = len(paper) + len(modern)
    assert sorted(e for e, _ in order[len(paper) : n]) == sorted(modern)
    assert sorted(e for e, _ in order[n : n + len(variants)]) == sorted(variants)
    assert all(seed == 0 for _, seed in order[: n + len(variants)])
    rest = order[n + len(variants) :]
    assert sorted(rest) == sorted((e, s) for e in [*paper, *modern, *variants] for s in (1, 2))
    assert len(set(order)) == len(order)


def test_projection_counts_epochs_images_compile_and_overhead() -> None:
    rates = copy.deepcopy(CPU_RATES)
    rates["models"]["m1"] = {"train_img_s": 1000.0, "compile_s": 7, "eager_img_s": 500.0}
    rates["models"]["m1"]["online_share"] = 0.5
    config = reference.load_config(DEMO_CONFIG)
    settings = reference.training_settings(config, "m1_lr1e-3")
    settings["epochs"], settings["subset"] = 3, {}
    # 2 sets x 1,400 images at 1,000 img/s, 300 validation images at 3,000 img/s.
    expected = 3 * (2800 / 1000 + 300 / 3000) + 7 + 5
    assert reference.project_seconds(settings, rates) == pytest.approx(expected)
    settings["augmentation"]["mode"] = "online"  # plus half an eager step an image
    expected += 3 * 2800 * 0.5 / 500
    assert reference.project_seconds(settings, rates) == pytest.approx(expected)
    rates["models"].pop("m1")
    with pytest.raises(UserError, match="no rates for architecture 'm1'"):
        reference.project_seconds(settings, rates)


# --- the runner on the CPU over the demo data, then the merge ---------------------------------


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The runner over the demo archive: M1's run 1 fits its budget, AlexNet's does not."""
    tmp = tmp_path_factory.mktemp("runner")
    rates = tmp / "rates.json"
    rates.write_text(json.dumps(CPU_RATES))
    out = tmp / "records.tar.gz"
    code = reference_runs.main(
        [
            "--archive", str(DEMO_ARCHIVE),
            "--work", str(tmp / "work"),
            "--out", str(out),
            "--budget", "240",
            "--commit", "0123456789abcdef0123456789abcdef01234567",
            "--config", *DEMO_CONFIG,
            "--rates", str(rates),
            "--reference", str(tmp / "empty"),
            "--only", "m1_set1:0", "alexnet:0",
        ]
    )  # fmt: skip
    assert code == 0
    return out


def demo_config() -> dict:
    return reference.load_config(DEMO_CONFIG)


def test_runner_records_what_fits_and_starts_nothing_else(records: Path) -> None:
    manifest, files = reference.read_records(records)
    runs = {r["experiment"]: r for r in manifest["runs"]}
    assert runs["m1_set1"]["status"] == "recorded"
    assert runs["alexnet"]["status"] == "not started: does not fit the budget"
    assert "wall_seconds" not in runs["alexnet"]  # never started
    m1 = runs["m1_set1"]
    for key in ("projected_seconds", "wall_seconds", "train_seconds", "validation_seconds"):
        assert m1[key] > 0, key
    assert m1["train_seconds"] + m1["validation_seconds"] <= m1["wall_seconds"]
    assert sorted(n for n in files if n.startswith("runs/")) == [
        f"runs/m1_set1/seed0/{name}" for name in sorted(reference.RUN_FILES)
    ]
    assert not any(n.endswith(".pt") for n in files)  # no weights
    assert {"data/stats.json", "data/classes.tsv", "data/set1_preview.png"} <= set(files)
    identity = manifest["identity"]
    assert identity["archive"]["md5"] == "bd37d950035ffb53b6eda235c0908d17"
    assert set(identity["packed"]) == set(reference.PACKED_ARRAYS)
    assert manifest["code"]["commit"].startswith("0123456789abcdef")
    assert len(manifest["code"]["source_sha256"]) == 64
    assert manifest["machine"]["torch"]
    summary = json.loads(files["runs/m1_set1/seed0/summary.json"])
    assert summary["code"]["commit"] == manifest["code"]["commit"]
    assert summary["data"]["archive_md5"] == identity["archive"]["md5"]
    for name, digest in identity["packed"].items():
        assert summary["data"]["arrays"][name] == digest
    assert reference.record_problems({k.split("/")[-1]: v for k, v in files.items()}) == []


def test_merge_adds_the_runs_and_the_data(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    added = reference.merge(records, folder, demo_config())
    assert len(added) == 1 and added[0].startswith("m1_set1 seed 0: ")
    assert list(reference.recorded(folder)) == [("m1_set1", 0)]
    assert (folder / "data/stats.json").is_file() and (folder / "data/set2_preview.png").is_file()
    identity = json.loads((folder / "identity.json").read_text())
    assert set(identity["augmented"]) == {"set1"}
    assert len(json.loads((folder / "manifest.json").read_text())["sessions"]) == 1
    # The same file again changes no record.
    reference.merge(records, folder, demo_config())
    assert list(reference.recorded(folder)) == [("m1_set1", 0)]


def _edited(records: Path, tmp_path: Path, edit) -> Path:
    manifest, files = reference.read_records(records)
    edit(manifest, files)
    out = tmp_path / "edited.tar.gz"
    reference.write_records(out, manifest, files)
    return out


def _summary_edit(**changes):
    def edit(manifest: dict, files: dict) -> None:
        name = "runs/m1_set1/seed0/summary.json"
        summary = json.loads(files[name])
        summary.update(changes)
        files[name] = json.dumps(summary).encode()

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_summary_edit(best_val_acc=99.9), "summary best_val_acc 99.9 but metrics.csv says"),
        (_summary_edit(data={"archive_md5": "0" * 32, "arrays": {}}), "trained on the archive"),
        (_summary_edit(code=None), "does not record its code"),
        (
            lambda m, f: f.update(
                {
                    "runs/m1_set1/seed0/metrics.csv": b"\n".join(
                        f["runs/m1_set1/seed0/metrics.csv"].splitlines()[:-1]
                    )
                }
            ),
            "a run cut short is not a reference run",
        ),
        (lambda m, f: f.pop("runs/m1_set1/seed0/train.log"), "lacks train.log"),
    ],
    ids=["summary-vs-metrics", "run-data", "no-code", "cut-short", "missing-file"],
)
def test_merge_refuses(records: Path, tmp_path: Path, edit, message: str) -> None:
    folder = tmp_path / "ref"
    with pytest.raises(UserError, match=message):
        reference.merge(_edited(records, tmp_path, edit), folder, demo_config())
    assert not folder.exists()  # nothing written


def test_merge_refuses_a_file_of_other_data(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    before = sorted(p.read_bytes() for p in folder.rglob("*") if p.is_file())

    def other_archive(manifest: dict, files: dict) -> None:
        manifest["identity"]["archive"]["md5"] = "f" * 32
        for name in [n for n in files if n.startswith("runs/")]:
            files[name.replace("m1_set1", "m1_lr1e-4")] = files.pop(name)

    with pytest.raises(UserError, match=r"made from other data than .*archive.md5"):
        reference.merge(_edited(records, tmp_path, other_archive), folder, demo_config())
    assert sorted(p.read_bytes() for p in folder.rglob("*") if p.is_file()) == before


def test_merge_refuses_settings_that_today_s_config_no_longer_resolves(
    records: Path, tmp_path: Path
) -> None:
    config = demo_config()
    config["experiments"]["m1_set1"]["optimizer"] = {"lr": 1.0e-2}
    with pytest.raises(UserError, match=r"settings differ .*: optimizer.lr"):
        reference.merge(records, tmp_path / "ref", config)


def test_merge_refuses_a_run_held_with_other_numbers(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())

    def other(manifest: dict, files: dict) -> None:
        name = "runs/m1_set1/seed0/summary.json"
        summary = json.loads(files[name])
        summary["wall_seconds"] += 1
        files[name] = json.dumps(summary).encode()

    with pytest.raises(UserError, match="already holds m1_set1 seed 0"):
        reference.merge(_edited(records, tmp_path, other), folder, demo_config())


def test_stale_record_is_named_in_the_context(records: Path, tmp_path: Path) -> None:
    folder = tmp_path / "ref"
    reference.merge(records, folder, demo_config())
    config = demo_config()
    order = [("m1_set1", 0), ("m1_lr1e-3", 0)]
    context = reference.context(folder, config, order)
    assert context["stale"] == [] and context["recorded"] == 1
    assert context["planned"] == [{"experiment": "m1_lr1e-3", "seed": 0}]
    assert context["archive"]["md5"] == "bd37d950035ffb53b6eda235c0908d17"
    config["training"]["epochs"] = 5
    stale = reference.context(folder, config, order)["stale"]
    assert stale == [{"experiment": "m1_set1", "seed": 0, "differs": ["epochs"]}]


# --- the README's table -----------------------------------------------------------------------


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
    assert rows["m1_set1"][5:] == [f"{summary['best_val_acc']:.1f}", "1"]
    assert rows["m1_set1"][4] == "~22"
    assert all(r[5:] == ["not yet run", "0"] for n, r in rows.items() if n != "m1_set1")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{reference.README_BEGIN}\nold\n{reference.README_END}\nrest\n")
    assert reference.update_readme(readme, "new table")
    assert readme.read_text() == (
        f"intro\n{reference.README_BEGIN}\nnew table\n{reference.README_END}\nrest\n"
    )
    assert not reference.update_readme(readme, "new table")
