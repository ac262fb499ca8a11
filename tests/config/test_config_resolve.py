"""The config describes the paper: config.yaml holds its 11 runs, each resolving to the paper's
settings; presets merge over it; each experiment is resolved once."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from config_errors import _error

from tinycnn.config.checks import validate
from tinycnn.config.merge import deep_merge
from tinycnn.config.resolve import resolve_experiment, training_settings

ROOT = Path(__file__).resolve().parents[2]


def test_paper_config_is_valid_and_holds_the_11_runs(paper_config):
    validate(paper_config)
    runs = {e["paper"]["run"]: name for name, e in paper_config["experiments"].items()}
    assert sorted(runs) == list(range(1, 12))
    figures = [paper_config["experiments"][runs[r]]["paper"]["figure"] for r in range(1, 12)]
    assert figures == list(range(2, 13))


# (run, model, sets, lr, scheduler step, epochs, reported accuracy) from PAPER.md.
PAPER_TABLE = [
    (1, "M1", ["set1"], 1e-3, None, 20, 22.0),
    (2, "M1", ["set1", "set2"], 1e-3, None, 20, 29.5),
    (3, "M1", ["set1", "set2"], 1e-4, None, 20, 22.8),
    (4, "M4", ["set1", "set2"], 1e-4, None, 20, 24.0),
    (5, "M4", ["set1", "set2"], 1e-3, None, 20, 35.9),
    (6, "AlexNet", ["set1", "set2"], 1e-3, 7, 20, 20.0),
    (7, "ResNet18", ["set1", "set2"], 1e-3, 7, 20, 45.0),
    (8, "ResNet18", ["set1", "set2"], 1e-4, 7, 20, 34.5),
    (9, "ResNet34", ["set1", "set2"], 1e-3, 7, 20, 46.5),
    (10, "ResNet34-PreAct", ["set1", "set2"], 1e-3, 7, 20, 48.0),
    (11, "DenseNet161", ["set1", "set2"], 1e-3, 7, 8, 51.0),
]


@pytest.mark.parametrize("row", PAPER_TABLE, ids=[f"run{r[0]}" for r in PAPER_TABLE])
def test_resolved_experiments_match_the_paper(paper_config, row):
    run, model, sets, lr, step, epochs, accuracy = row
    (experiment,) = [
        name for name, entry in paper_config["experiments"].items() if entry["paper"]["run"] == run
    ]
    resolved = resolve_experiment(paper_config, experiment)
    assert resolved["model"] == model
    assert resolved["augmentation"]["sets"] == sets and resolved["augmentation"]["mode"] == "fixed"
    assert list(resolved["augmentation"]["ops"]) == sets
    assert resolved["subset"] == {"train_per_class": None, "val_per_class": None}
    assert resolved["optimizer"] == {
        "name": "RAdam",
        "lr": lr,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "weight_decay": 1e-4,
    }
    if step is None:
        assert resolved["scheduler"] is None
    else:
        assert resolved["scheduler"] == {"name": "StepLR", "step_size": step, "gamma": 0.1}
    assert resolved["epochs"] == epochs
    assert resolved["batch_size"] == 256
    assert resolved["seeds"] == [0]
    assert resolved["paper"]["accuracy"] == accuracy


def test_augmentation_sets_match_the_paper(paper_config):
    sets = paper_config["augmentation"]["sets"]
    assert [op["op"] for op in sets["set1"]] == [
        "random_horizontal_flip",
        "center_crop",
        "resize",
        "normalize",
    ]
    assert sets["set1"][1]["size"] == 56 and sets["set1"][2]["size"] == 64
    assert [op["op"] for op in sets["set2"]] == [
        "random_rotation",
        "random_horizontal_flip",
        "random_vertical_flip",
        "gaussian_blur",
        "normalize",
    ]
    assert sets["set2"][0]["degrees"] == 10
    assert sets["set2"][3] == {"op": "gaussian_blur", "kernel_size": 5, "sigma": [0.1, 2.0]}
    used = {
        s
        for name in paper_config["experiments"]
        for s in resolve_experiment(paper_config, name)["augmentation"]["sets"]
    }
    assert used == {"set1", "set2"}
    assert {
        resolve_experiment(paper_config, name)["augmentation"]["mode"]
        for name in paper_config["experiments"]
    } == {"fixed"}


def test_editing_one_experiment_changes_only_its_resolved_settings(paper_config):
    edited = copy.deepcopy(paper_config)
    edited["experiments"]["resnet18_lr1e-3"]["epochs"] = 3
    for name in paper_config["experiments"]:
        same = resolve_experiment(paper_config, name) == resolve_experiment(edited, name)
        assert same == (name != "resnet18_lr1e-3")


def test_training_jobs_ignore_the_reported_numbers_and_the_seed_list(paper_config):
    edited = copy.deepcopy(paper_config)
    edited["experiments"]["alexnet"]["paper"]["accuracy"] = 19.0
    edited["training"]["seeds"] = [0, 1]
    for name in paper_config["experiments"]:
        assert training_settings(paper_config, name) == training_settings(edited, name)
    settings = training_settings(paper_config, "m1_set1")
    assert "paper" not in settings and "seeds" not in settings
    assert settings["augmentation"]["ops"] == {"set1": paper_config["augmentation"]["sets"]["set1"]}


def test_presets_merge_over_the_paper_config(paper_config):
    preset = yaml.safe_load((ROOT / "presets" / "demo.yaml").read_text())
    merged = deep_merge(paper_config, preset)
    validate(merged)
    assert merged["name"] == "demo"
    # Only what the preset names changes; the rest is the paper's.
    assert merged["augmentation"]["sets"] == paper_config["augmentation"]["sets"]
    assert merged["models"] == paper_config["models"]
    assert list(merged["experiments"]) == list(paper_config["experiments"])
    for name, entry in paper_config["experiments"].items():
        assert merged["experiments"][name]["paper"] == entry["paper"]
        assert merged["experiments"][name]["model"] == entry["model"]
    assert merged["report"]["demo"] is True and paper_config["report"]["demo"] is False


def _seeds(config):
    return {name: resolve_experiment(config, name)["seeds"] for name in config["experiments"]}


def test_seed_presets(paper_config):
    """presets/seeds.yaml: three seeds for every experiment; the demo: two seeds for two small
    M1 runs (its seed statistics run in CI), one for the rest; an experiment's own list wins."""
    preset = {
        p: yaml.safe_load((ROOT / "presets" / f"{p}.yaml").read_text()) for p in ("seeds", "demo")
    }
    seeds = deep_merge(paper_config, preset["seeds"])
    validate(seeds)
    assert set(map(tuple, _seeds(seeds).values())) == {(0, 1, 2)}
    demo = deep_merge(paper_config, preset["demo"])
    several = {name: s for name, s in _seeds(demo).items() if s != [0]}
    assert several == {"m1_set1": [0, 1], "m1_lr1e-3": [0, 1]}
    both = _seeds(deep_merge(demo, preset["seeds"]))
    assert both["m1_set1"] == [0, 1] and both["alexnet"] == [0, 1, 2]


def test_train_accuracy_claims_take_the_papers_number(paper_config):
    """A train_accuracy claim without `value` needs the experiment's paper.train_accuracy."""
    config = copy.deepcopy(paper_config)
    claim = next(c for c in config["report"]["claims"] if c["kind"] == "train_accuracy")
    assert "value" not in claim
    del config["experiments"][claim["experiments"][0]]["paper"]["train_accuracy"]
    assert "set `value`, the paper's number (or give the experiment paper.train_accuracy)" in (
        _error(config)
    )


def test_each_experiment_is_resolved_once(paper_config, monkeypatch):
    """Validation reads every variant's entry a fixed number of times, not once per
    experiment (1,000 variants took 17.7 s; benchmarks/config_scale.py measures it)."""
    from tinycnn.config import checks

    config = copy.deepcopy(paper_config)
    variants = {f"lr{i}": {"optimizer": {"lr": 2e-3 + 1e-6 * i}} for i in range(50)}
    config["ablations"] = {"q": {"title": "t", "base": "m1_lr1e-3", "variants": variants}}
    calls = []
    original = checks.experiment_entries
    monkeypatch.setattr(checks, "experiment_entries", lambda c: calls.append(1) or original(c))
    validate(config)
    assert len(calls) <= 3, len(calls)


def test_a_variants_description_is_words_not_a_setting(paper_config):
    """Editing the words a variant's change is read in retrains nothing: its settings are the
    same with or without them."""
    config = copy.deepcopy(paper_config)
    variant = {"augmentation": {"mode": "online"}}
    config["ablations"] = {"q": {"title": "t", "base": "m1_lr1e-3", "variants": {"v": variant}}}
    described = copy.deepcopy(config)
    described["ablations"]["q"]["variants"]["v"]["description"] = "drawn anew every epoch"
    validate(described)
    settings = training_settings(described, "q__v")
    assert settings == training_settings(config, "q__v")
    assert "description" not in str(settings) and settings["augmentation"]["mode"] == "online"
