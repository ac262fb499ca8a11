"""The recipe beyond the paper (presets/modern.yaml): its runs beside the paper's, another optimizer
replacing the shared one, and the mistakes named by their key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from config_errors import _error

from tinycnn.config.checks import validate
from tinycnn.config.merge import deep_merge
from tinycnn.config.resolve import experiment_entries, training_settings

ROOT = Path(__file__).resolve().parents[2]


def _modern(paper_config: dict) -> dict:
    return deep_merge(paper_config, yaml.safe_load((ROOT / "presets/modern.yaml").read_text()))


def test_the_modern_preset_adds_two_runs_beside_the_papers(paper_config):
    """presets/modern.yaml: two more experiments with the modern recipe (SGD replacing RAdam
    whole, warm-up and cosine per batch, label smoothing, random resized crops and flips drawn
    online); the paper's runs resolve to exactly what they are without it."""
    config = _modern(paper_config)
    validate(config)
    entries = list(experiment_entries(config))
    assert entries == [*paper_config["experiments"], "modern_resnet18_64", "modern_resnet18"]
    assert config["beyond_paper"]["baselines"] == ["resnet18_lr1e-3", "densenet161"]
    for name in paper_config["experiments"]:
        assert training_settings(config, name) == training_settings(paper_config, name), name
    s64, s18 = (training_settings(config, n) for n in ("modern_resnet18_64", "modern_resnet18"))
    assert (s64["arch"], s18["arch"]) == ("resnet18_64", "resnet18")
    assert {k: v for k, v in s64.items() if k not in ("arch", "model", "name")} == {
        k: v for k, v in s18.items() if k not in ("arch", "model", "name")
    }  # the same recipe
    assert s64["optimizer"] == {
        "name": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4
    }  # fmt: skip
    assert s64["scheduler"] == {"name": "warmup_cosine", "warmup_epochs": 1, "final_factor": 0.0}
    assert s64["loss"] == {"name": "cross_entropy", "label_smoothing": 0.1}
    assert (s64["epochs"], s64["batch_size"], s64["precision"]) == (20, 256, "auto")
    assert s64["augmentation"]["mode"] == "online" and s64["augmentation"]["sets"] == ["modern"]
    ops = [op["op"] for op in s64["augmentation"]["ops"]["modern"]]
    assert ops == ["random_resized_crop", "random_horizontal_flip", "normalize"]
    assert all(v is None for v in s64["subset"].values())  # every image


def test_another_optimizer_replaces_the_shared_one_and_needs_all_its_settings(paper_config):
    config = copy.deepcopy(paper_config)
    sgd = {"name": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 0.0}
    config["experiments"]["m1_set1"]["optimizer"] = sgd
    validate(config)
    assert training_settings(config, "m1_set1")["optimizer"] == sgd  # no betas, no eps
    config["experiments"]["m1_set1"]["optimizer"] = {"name": "AdamW", "lr": 1e-3}
    assert (
        "experiments.m1_set1.optimizer: AdamW needs betas, eps, weight_decay (another "
        "optimizer than the shared one takes nothing from it)"
    ) in _error(config)
    # Naming the shared optimizer, or none, still merges: the rest comes from `training`.
    config["experiments"]["m1_set1"]["optimizer"] = {"name": "RAdam", "lr": 5e-4}
    validate(config)
    resolved = training_settings(config, "m1_set1")["optimizer"]
    assert resolved == {**paper_config["training"]["optimizer"], "lr": 5e-4}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda b: b.update(baselines=["resnet18"]),
            "beyond_paper.baselines: unknown experiment 'resnet18'",
        ),
        (
            lambda b: b["experiments"].update(alexnet={"model": "AlexNet"}),
            "beyond_paper.experiments.alexnet: already an experiment's name; rename it",
        ),
        (
            lambda b: b["experiments"]["modern_resnet18"].update(model="ResNet-18"),
            "beyond_paper.experiments.modern_resnet18.model: unknown model 'ResNet-18'",
        ),
        (
            lambda b: b["experiments"]["modern_resnet18"]["augmentation"].update(sets=["mdrn"]),
            "beyond_paper.experiments.modern_resnet18.augmentation.sets: unknown set 'mdrn'",
        ),
        (
            lambda b: b["experiments"]["modern_resnet18"]["scheduler"].pop("final_factor"),
            "beyond_paper.experiments.modern_resnet18.scheduler",
        ),
        (
            lambda b: b["experiments"]["modern_resnet18"]["loss"].update(label_smoothing=1.0),
            "beyond_paper.experiments.modern_resnet18.loss.label_smoothing: 1.0 must be less",
        ),
    ],
)
def test_beyond_paper_mistakes_name_the_key(paper_config, mutate, expected):
    config = _modern(paper_config)
    mutate(config["beyond_paper"])
    assert expected in _error(config)
