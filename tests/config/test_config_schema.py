"""The config rejects mistakes with one message naming the key: the schema's checks, the ops and
recipe parts it allows (exactly those the code reads), YAML 1.1 floats, names that leave results/,
numbers that are not finite or not integers, and what a job would refuse."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from config_errors import _error

from tinycnn.config.checks import validate
from tinycnn.config.load import load_schema
from tinycnn.config.merge import deep_merge

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["data"].update(urll=["x"]),
            "data.urll: unknown key 'urll' (allowed here: archive, filename, md5, size, urls);"
            " did you mean 'urls'?",
        ),
        (
            lambda c: c["training"]["optimizer"].update(learning_rate=1e-3),
            "training.optimizer.learning_rate: unknown key 'learning_rate'",
        ),
        (
            lambda c: c["experiments"]["m1_set1"].update(model="M2"),
            "experiments.m1_set1.model: unknown model 'M2' (defined in models: M1, M4,",
        ),
        (
            lambda c: c["experiments"]["m4_lr1e-3"]["optimizer"].update(lr=-0.001),
            "experiments.m4_lr1e-3.optimizer.lr: -0.001 must be greater than 0",
        ),
        (
            lambda c: c["models"]["M1"].update(arch="m2"),
            "models.M1.arch: 'm2' is not one of m1, m4, alexnet",
        ),
        (
            lambda c: c["augmentation"]["sets"]["set2"][0].update(degres=10),
            "augmentation.sets.set2.0.degres: unknown key 'degres'",
        ),
        (
            lambda c: c["augmentation"]["sets"]["set2"][3].update(kernel_size=4),
            "augmentation.sets.set2.3.kernel_size: 4 is not allowed (must be odd)",
        ),
        (
            lambda c: c["augmentation"]["sets"]["set1"].insert(
                0, {"op": "random_resized_crop", "size": 64, "scale": [0.5, 1.5]}
            ),
            "augmentation.sets.set1.0.scale.1: 1.5 must be at most 1",
        ),
        (
            lambda c: c["augmentation"]["sets"]["set1"].insert(
                0, {"op": "random_resized_crop", "scale": [0.5, 1.0]}
            ),
            "augmentation.sets.set1.0: 'size' is missing",
        ),
        (
            lambda c: c["augmentation"]["sets"]["set1"].insert(
                0, {"op": "random_resized_crop", "size": [64]}
            ),
            "augmentation.sets.set1.0.size: [64] is too short",
        ),
        (
            lambda c: c["experiments"]["alexnet"].update(scheduler={"name": "StepLR"}),
            "experiments.alexnet.scheduler: 'step_size' is missing",
        ),
        (
            lambda c: c["experiments"]["m1_set1"].update(augmentation={"sets": ["set3"]}),
            "experiments.m1_set1.augmentation.sets: unknown set 'set3'",
        ),
        (
            lambda c: c["training"]["augmentation"].update(mode="sometimes"),
            "training.augmentation.mode: 'sometimes' is not one of fixed, online",
        ),
        (
            lambda c: c["data"].update(md5="xyz"),
            "data.md5: 'xyz' does not match the pattern",
        ),
        (lambda c: c["training"].pop("epochs"), "training: 'epochs' is missing"),
        (
            lambda c: c["report"]["comparisons"][0]["experiments"].append("m9"),
            "report.comparisons.0.experiments: unknown experiment 'm9'",
        ),
        (
            lambda c: c["augmentation"]["sets"]["set1"].reverse(),
            "augmentation.sets.set1: 'normalize' must be the last op",
        ),
        (
            lambda c: c["report"]["claims"][0]["experiments"].__setitem__(1, "m1_set2"),
            "report.claims.0 (augmentation_m1): unknown experiment 'm1_set2' (defined in "
            "experiments: m1_set1, m1_lr1e-3,",
        ),
        (
            lambda c: c["report"]["claims"][3].update(kind="ranking"),
            "report.claims.3.kind: 'ranking' is not one of order, difference, threshold",
        ),
        (
            lambda c: c["report"]["claims"][3]["experiments"].append("m4_lr1e-3"),
            "report.claims.3 (lr_m1): a claim of kind order names exactly 2 experiments, not 3",
        ),
        (
            lambda c: c["report"]["claims"][0].pop("tolerance"),
            "report.claims.0 (augmentation_m1): set `tolerance`",
        ),
        (
            lambda c: c["report"]["claims"][8].pop("value"),
            "report.claims.8 (alexnet_below_20): set `value`, the paper's number",
        ),
        (
            lambda c: c["report"]["claims"][3].update(value=1.0),
            "report.claims.3 (lr_m1): a claim of kind order holds when ours is above zero, against "
            "no paper number: remove value",
        ),
        (
            lambda c: c["report"]["claims"][4].update(id="lr_m1"),
            "report.claims.4 (lr_m1): another claim has this id",
        ),
        (
            lambda c: c["report"]["claims"][0].update(tolerence=3),
            "report.claims.0.tolerence: unknown key 'tolerence'",
        ),
    ],
)
def test_mistakes_give_one_clear_message_naming_the_key(paper_config, mutate, expected):
    config = copy.deepcopy(paper_config)
    mutate(config)
    message = _error(config)
    assert expected in message
    assert message.startswith("the config is not valid:")
    assert "Traceback" not in message


def test_several_mistakes_are_reported_together(paper_config):
    config = copy.deepcopy(paper_config)
    config["data"]["urll"] = []
    config["training"]["batch_size"] = 0
    message = _error(config)
    assert "data.urll" in message and "training.batch_size: 0 must be at least 1" in message


def test_the_schema_allows_exactly_the_ops_and_parameters_the_code_reads():
    # augment_ops.OP_PARAMETERS is the one list of ops: an op or a parameter added on one side
    # only fails here.
    from tinycnn.data.augment_ops import OP_PARAMETERS

    op = load_schema()["$defs"]["op"]
    assert sorted(op["properties"]["op"]["enum"]) == sorted(OP_PARAMETERS)
    allowed = _schema_cases(op, "op")
    assert allowed == {name: set(params) for name, params in OP_PARAMETERS.items()}


def _schema_cases(definition: dict, key: str) -> dict[str, set[str]]:
    """The parameters a schema definition allows for each value of ``key`` (its allOf if/then
    cases), each value in one case only, each case closed."""
    allowed: dict[str, set[str]] = {}
    for case in definition["allOf"]:
        condition = case["if"]["properties"][key]
        for name in condition.get("enum", [condition.get("const")]):
            assert name not in allowed, f"{name} has two cases in the schema"
            allowed[name] = set(case["then"]["properties"]) - {key}
            assert case["then"]["additionalProperties"] is False, name
    return allowed


@pytest.mark.parametrize(
    ("text", "fixed"), [("1e-3", "1.0e-3"), ("5E4", "5.0e+4"), ("2.5e1", "2.5e+1")]
)
def test_a_float_that_yaml_reads_as_text_gets_a_hint(paper_config, text, fixed):
    config = copy.deepcopy(paper_config)
    config["training"]["optimizer"]["lr"] = yaml.safe_load(f"lr: {text}")["lr"]
    assert isinstance(config["training"]["optimizer"]["lr"], str)  # YAML 1.1, as PyYAML reads
    message = _error(config)
    assert f"training.optimizer.lr: '{text}' should be of type number" in message
    assert f"write {fixed}" in message
    assert isinstance(yaml.safe_load(f"lr: {fixed}")["lr"], float)  # the hint is right


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.update(name=".."),
        lambda c: c.update(name="."),
        lambda c: c.update(name=".hidden"),
        lambda c: c["experiments"].update({"..": c["experiments"].pop("m1_set1")}),
        lambda c: c["models"].update({"..": c["models"]["M1"]}),
    ],
    ids=["name ..", "name .", "hidden name", "experiment ..", "model .."],
)
def test_names_cannot_leave_or_hide_in_results(paper_config, mutate):
    config = copy.deepcopy(paper_config)
    mutate(config)
    message = _error(config)
    assert "not start with a dot" in message, message


def test_names_with_inner_dots_stay_valid(paper_config):
    config = copy.deepcopy(paper_config)
    config["name"] = "paper.v2"
    config["experiments"]["m4_lr1e-3.b"] = config["experiments"].pop("m4_lr1e-3")
    config["report"]["comparisons"] = []
    config["report"]["claims"] = []
    validate(config)


def test_the_schema_allows_exactly_the_recipe_parts_the_code_reads():
    # tinycnn.training.recipe's registries are the one list of optimizers, schedules and losses,
    # each with its parameters: an entry or a parameter added on one side only fails here.
    from tinycnn.training import recipe

    defs = load_schema()["$defs"]
    optimizer = defs["optimizer"]
    assert sorted(optimizer["properties"]["name"]["enum"]) == sorted(recipe.OPTIMIZERS)
    allowed = _schema_cases(optimizer, "name")
    assert allowed == {name: set(p.params) for name, p in recipe.OPTIMIZERS.items()}
    assert set(optimizer["properties"]) - {"name"} == set().union(*allowed.values())

    schedules = [s for s in defs["scheduler"]["oneOf"] if s.get("type") == "object"]
    assert {s["properties"]["name"]["const"]: set(s["required"]) - {"name"} for s in schedules} == {
        name: set(p.params) for name, p in recipe.SCHEDULERS.items()
    }
    for s in schedules:
        assert set(s["properties"]) == set(s["required"]) and s["additionalProperties"] is False
    loss = defs["loss"]
    assert loss["properties"]["name"]["enum"] == list(recipe.LOSSES)
    assert {n: set(loss["required"]) - {"name"} for n in recipe.LOSSES} == {
        n: set(p.params) for n, p in recipe.LOSSES.items()
    }
    assert recipe.SCHEDULERS["StepLR"].interval == "epoch"
    assert recipe.SCHEDULERS["warmup_cosine"].interval == "step"


def _set(path: str, value):
    """A mutation setting the dotted ``path`` (list indices as numbers) to ``value``."""

    def mutate(config: dict) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = config
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _modern_set(mutate):
    def both(config: dict) -> None:
        config.update(
            deep_merge(config, yaml.safe_load((ROOT / "presets/modern.yaml").read_text()))
        )
        mutate(config)

    return both


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set("report.tolerance", NAN), "report.tolerance: nan is not a finite number"),
        (_set("report.claims.0.tolerance", INF), "report.claims.0.tolerance: inf is not a finite"),
        (_set("report.claims.0.value", NAN), "report.claims.0.value: nan is not a finite number"),
        (_set("training.optimizer.lr", NAN), "training.optimizer.lr: nan is not a finite number"),
        (_set("training.optimizer.betas.1", -INF), "training.optimizer.betas.1: -inf is not a"),
        (_set("experiments.m1_set1.paper.accuracy", NAN), "m1_set1.paper.accuracy: nan is not"),
        (
            _modern_set(_set("beyond_paper.experiments.modern_resnet18.loss.label_smoothing", NAN)),
            "beyond_paper.experiments.modern_resnet18.loss.label_smoothing: nan is not a finite",
        ),
        (
            _modern_set(
                _set("beyond_paper.experiments.modern_resnet18.scheduler.warmup_epochs", NAN)
            ),
            "modern_resnet18.scheduler.warmup_epochs: nan is not a finite number",
        ),
    ],
    ids=["tolerance", "claim-tolerance", "claim-value", "lr", "beta", "paper-number",
         "label-smoothing", "warmup"],
)  # fmt: skip
def test_nan_and_infinity_are_refused_wherever_they_are(paper_config, mutate, expected):
    config = copy.deepcopy(paper_config)
    mutate(config)
    message = _error(config)
    assert expected in message and "write a number" in message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_set("augmentation.sets.set1.1.size", 56.0), "sets.set1.1.size: 56.0 should be of type"),
        (_set("training.batch_size", 16.0), "training.batch_size: 16.0 should be of type integer"),
        (_set("training.epochs", 20.0), "epochs: 20.0 should be of type integer; write 20"),
        (_set("training.subset.train_per_class", 10.0), "subset.train_per_class: 10.0 should be"),
        (_set("augmentation.seed", 0.0), "augmentation.seed: 0.0 should be of type integer"),
        (_set("training.seeds", [1.0]), "training.seeds.0: 1.0 should be of type integer; write 1"),
        (_set("training.seeds", [2**64]), "seeds.0: 18446744073709551616 must be at most 42949"),
        (_set("training.seeds", [2**32]), "seeds.0: 4294967296 must be at most 4294967295"),
        (_set("augmentation.seed", 2**70), "augmentation.seed: 1180591620717411303424 must be at"),
        (_set("training.batch_size", True), "training.batch_size: True should be of type integer"),
    ],
    ids=["crop-size", "batch", "epochs", "subset", "aug-seed", "seed-float", "seed-2^64",
         "seed-2^32", "aug-seed-huge", "bool"],
)  # fmt: skip
def test_integers_are_integers_and_seeds_32_bits(paper_config, mutate, expected):
    config = copy.deepcopy(paper_config)
    mutate(config)
    assert expected in _error(config)


def test_the_largest_seed_is_valid(paper_config):
    config = copy.deepcopy(paper_config)
    config["training"]["seeds"] = [0, 2**32 - 1]
    config["augmentation"]["seed"] = 2**32 - 1
    validate(config)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _modern_set(_set("augmentation.sets.modern.0.scale", [0.9, 0.3])),
            "augmentation.sets.modern.0.scale: [0.9, 0.3] is [min, max] with min above max; "
            "write [0.3, 0.9]",
        ),
        (
            _modern_set(_set("augmentation.sets.modern.0.ratio", [1.3, 0.75])),
            "augmentation.sets.modern.0.ratio: [1.3, 0.75] is [min, max] with min above max",
        ),
        (
            _set("augmentation.sets.set2.3.sigma", [2.0, 0.1]),
            "augmentation.sets.set2.3.sigma: [2.0, 0.1] is [min, max] with min above max",
        ),
        (
            _modern_set(_set("beyond_paper.experiments.modern_resnet18.optimizer.momentum", 0)),
            "beyond_paper.experiments.modern_resnet18.optimizer: nesterov needs a momentum above 0",
        ),
        (
            _modern_set(_set("beyond_paper.experiments.modern_resnet18.epochs", 1)),
            "beyond_paper.experiments.modern_resnet18.scheduler.warmup_epochs: a warm-up of 1 "
            "epochs in a run of 1 never reaches the cosine decay",
        ),
    ],
    ids=["scale", "ratio", "sigma", "nesterov-momentum-0", "warmup-whole-run"],
)
def test_what_a_job_would_refuse_is_refused_by_the_config_check(paper_config, mutate, expected):
    config = copy.deepcopy(paper_config)
    mutate(config)
    assert expected in _error(config)


def test_every_min_max_parameter_of_the_schema_is_checked():
    """The schema's [min, max] parameters (by their description) are config.RANGE_PARAMS."""
    from tinycnn.config.checks import RANGE_PARAMS

    cases = _schema_cases(load_schema()["$defs"]["op"], "op")
    ranges = {}
    for case in load_schema()["$defs"]["op"]["allOf"]:
        op = case.get("if", {}).get("properties", {}).get("op", {}).get("const")
        if op is None:
            continue
        for name, spec in case["then"].get("properties", {}).items():
            if isinstance(spec, dict) and spec.get("description", "").startswith("[min, max]"):
                ranges.setdefault(op, set()).add(name)
    assert ranges == {op: set(params) for op, params in RANGE_PARAMS.items()}
    assert set(ranges) <= set(cases)
