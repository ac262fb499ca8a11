"""Ablations (presets/ablations.yaml): each variant differs from its base exactly in the keys it
overrides, and a mistake names the question and the variant."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from config_errors import _error

from tinycnn.config import ablations
from tinycnn.config.checks import validate
from tinycnn.config.merge import deep_merge
from tinycnn.config.resolve import experiment_entries, resolve_experiment, training_settings

ROOT = Path(__file__).resolve().parents[2]


def _flat(value, prefix=()):
    """Leaves of nested mappings, by their key path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, (*prefix, key)).items()}
    return {prefix: value}


def _ablations(paper_config):
    preset = yaml.safe_load((ROOT / "presets" / "ablations.yaml").read_text())
    config = deep_merge(paper_config, preset)
    validate(config)
    return config


def test_the_paper_has_no_ablation_jobs(paper_config):
    assert paper_config["ablations"] == {}
    assert list(experiment_entries(paper_config)) == list(paper_config["experiments"])
    # `combine` is set only where an ablation sets it: the paper's settings files stay as they were.
    for name in paper_config["experiments"]:
        assert "combine" not in training_settings(paper_config, name)["augmentation"]


def test_ablation_variants_differ_from_their_base_exactly_in_the_overridden_keys(paper_config):
    """Every variant that trains resolves to its base's settings, except exactly the keys it
    overrides (and its name); a variant with only `reported` trains nothing."""
    config = _ablations(paper_config)
    trained = ablations.trained(config)
    assert [v.experiment for v in trained] == [
        "augmentation_draw_m1__online",
        "augmentation_draw_m4__online",
        "both_sets_m1__random_per_image",
        "both_sets_m1__sequential",
        "batch_norm_m1__batch_norm",
        "batch_norm_m4__batch_norm",
        "validation_m1__augmented_split",
        "validation_m4__augmented_split",
    ]
    assert list(experiment_entries(config)) == [*paper_config["experiments"], *(
        v.experiment for v in trained)]  # fmt: skip
    for v in trained:
        base, variant = (_flat(training_settings(config, e)) for e in (v.base, v.experiment))
        changed = {key for key in base.keys() | variant.keys() if base.get(key) != variant.get(key)}
        # What follows from an override: the model's registry key (`arch`) from its name, the
        # sets' ops (copied from augmentation.sets) from the sets.
        derived = {("arch",)} if "model" in v.overrides else set()
        if "sets" in v.overrides.get("augmentation", {}):
            derived |= {k for k in changed if k[:2] == ("augmentation", "ops")}
            ops = training_settings(config, v.experiment)["augmentation"]["ops"]
            assert ops == {
                s: config["augmentation"]["sets"][s] for s in v.overrides["augmentation"]["sets"]
            }
        assert changed == {("name",), *_flat(v.overrides), *derived}
        assert all(variant[key] == value for key, value in _flat(v.overrides).items())
        assert (
            resolve_experiment(config, v.experiment)["seeds"]
            == (resolve_experiment(config, v.base)["seeds"])
        )
        assert resolve_experiment(config, v.experiment)["paper"] is None
    untrained = [v for v in ablations.variants(config) if not v.overrides]
    assert {(v.question, v.variant, v.experiment, v.reported) for v in untrained} == {
        ("augmentation_draw_m1", "base", "m1_lr1e-3", "best"),
        ("augmentation_draw_m4", "base", "m4_lr1e-3", "best"),
        ("both_sets_m1", "base", "m1_lr1e-3", "best"),
        ("batch_norm_m1", "base", "m1_lr1e-3", "best"),
        ("batch_norm_m4", "base", "m4_lr1e-3", "best"),
        ("validation_m1", "base", "m1_lr1e-3", "best"),
        ("validation_m4", "base", "m4_lr1e-3", "best"),
        ("reported_epoch_m1", "base", "m1_lr1e-3", "best"),
        ("reported_epoch_m1", "last", "m1_lr1e-3", "last"),
        ("reported_epoch_m4", "base", "m4_lr1e-3", "best"),
        ("reported_epoch_m4", "last", "m4_lr1e-3", "last"),
    }


def test_an_ablation_variant_overrides_nested_keys_and_the_model(paper_config):
    config = deep_merge(paper_config, {"ablations": {"q": {"title": "t", "base": "m1_set1",
        "variants": {"v": {"optimizer": {"lr": 1e-4}, "model": "M4", "epochs": 3}}}}})  # fmt: skip
    validate(config)
    resolved = resolve_experiment(config, "q__v")
    assert resolved["optimizer"]["lr"] == 1e-4 and resolved["optimizer"]["name"] == "RAdam"
    assert resolved["model"] == "M4" and resolved["arch"] == "m4" and resolved["epochs"] == 3
    assert resolved["augmentation"]["sets"] == ["set1"]  # the base's own override stays


def _with_ablation(base="m1_lr1e-3", variant_id="online", **variant):
    entry = variant or {"augmentation": {"mode": "online"}}
    return lambda c: c.update(
        ablations={
            "augmentation_draw": {"title": "t", "base": base, "variants": {variant_id: entry}}
        }
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _with_ablation(base="m1_lr1e3"),
            "ablations.augmentation_draw.base: unknown experiment 'm1_lr1e3' (defined in "
            "experiments: m1_set1,",
        ),
        (
            _with_ablation(augmentation={"draw": "online"}),
            "ablations.augmentation_draw.variants.online.augmentation.draw: unknown key 'draw'",
        ),
        (
            _with_ablation(learning_rate=1e-4),
            "ablations.augmentation_draw.variants.online.learning_rate: unknown key "
            "'learning_rate'",
        ),
        (
            _with_ablation(model="M2"),
            "ablations.augmentation_draw.variants.online.model: unknown model 'M2'",
        ),
        (
            _with_ablation(augmentation={"sets": ["set3"]}),
            "ablations.augmentation_draw.variants.online.augmentation.sets: unknown set 'set3'",
        ),
        (
            _with_ablation(reported="first"),
            "ablations.augmentation_draw.variants.online.reported: 'first' is not one of best, "
            "last",
        ),
        (_with_ablation(variant_id="a__b"), "'a__b' does not match the pattern"),
        (_with_ablation(variant_id="base"), "'base' is not allowed"),
    ],
)
def test_ablation_mistakes_name_the_question_and_variant(paper_config, mutate, expected):
    config = copy.deepcopy(paper_config)
    mutate(config)
    message = _error(config)
    assert expected in message
    assert "Traceback" not in message


def test_a_held_out_split_needs_the_materialized_sets(paper_config):
    config = copy.deepcopy(paper_config)
    variant = {"validation": {"source": "augmented_split"}, "augmentation": {"mode": "online"}}
    config["ablations"] = {"q": {"title": "t", "base": "m1_set1", "variants": {"v": variant}}}
    assert (
        "ablations.q.variants.v.validation: source augmented_split holds out materialized "
        "samples: it needs augmentation mode fixed and combine concat (here: mode online, "
        "combine concat)"
    ) in _error(config)
    config["ablations"]["q"]["variants"]["v"]["augmentation"]["mode"] = "fixed"
    validate(config)


def test_an_ablation_variant_that_overrides_nothing_is_refused(paper_config):
    config = copy.deepcopy(paper_config)
    config["ablations"] = {"q": {"title": "t", "base": "m1_set1", "variants": {"v": {}}}}
    assert "ablations.q.variants.v: overrides nothing" in _error(config)


@pytest.mark.parametrize(
    "variant",
    [{"model": "M1"}, {"seeds": [5]}, {"device": "cpu"}, {"optimizer": {"lr": 1.0e-3}}],
    ids=["same-model", "seeds-only", "device-only", "same-lr"],
)
def test_a_variant_that_trains_what_its_base_trains_is_refused(paper_config, variant):
    config = copy.deepcopy(paper_config)
    _with_ablation(base="m1_lr1e-3", variant_id="same", **variant)(config)
    assert (
        "ablations.augmentation_draw.variants.same: trains exactly what its base m1_lr1e-3 "
        "trains (it changes nothing but seeds or device)"
    ) in _error(config)
