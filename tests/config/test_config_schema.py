"""The config describes the paper and rejects mistakes with a message naming the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tinycnn.cli import main
from tinycnn.config import ablations
from tinycnn.config.checks import validate
from tinycnn.config.load import load_schema
from tinycnn.config.merge import deep_merge
from tinycnn.config.resolve import experiment_entries, resolve_experiment, training_settings
from tinycnn.shared.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paper_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


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


def _error(config: dict) -> str:
    with pytest.raises(UserError) as info:
        validate(config)
    return str(info.value)


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


def test_check_config_command(tmp_path, capsys):
    assert main(["check-config", str(ROOT / "config.yaml"), str(ROOT / "presets/demo.yaml")]) == 0
    assert capsys.readouterr().out == "config OK: 11 experiments, 1 ablation variant that trains\n"
    stacked = [str(ROOT / f"presets/{f}") for f in ("demo.yaml", "modern.yaml", "demo/modern.yaml")]
    assert main(["check-config", str(ROOT / "config.yaml"), *stacked]) == 0
    out = capsys.readouterr().out
    assert (
        out
        == "config OK: 11 experiments, 1 ablation variant that trains, 2 runs beyond the paper\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {epochs: -1}\n")
    assert main(["check-config", str(ROOT / "config.yaml"), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the config is not valid:")
    assert "training.epochs: -1 must be at least 1" in err


def test_train_command_reads_the_settings_file(paper_config, tmp_path, monkeypatch, capsys):
    import tinycnn.training.train
    from tinycnn.shared.files import write_json

    calls = []
    monkeypatch.setattr(
        tinycnn.training.train, "train_run", lambda *args, **kw: calls.append((args, kw))
    )
    settings = training_settings(paper_config, "m1_set1")
    path = tmp_path / "settings" / "m1_set1.json"
    write_json(path, settings)
    common = ["--seed", "3", "--data", "packed", "--out", "run", "--checkpoint", "c.pt"]
    argv = ["train", "--settings", str(path), *common, "--augmented", "set1=a.npy"]
    assert main(argv) == 0
    ((args, kw),) = calls
    assert args == (settings, 3, Path("packed"), {"set1": Path("a.npy")}, Path("run"), Path("c.pt"))
    assert kw == {"threads": 2}

    assert main(["train", "--settings", str(tmp_path / "missing.json"), *common]) == 1
    assert "error: cannot read the settings file" in capsys.readouterr().err
    path.write_text("[1, 2]\n")
    assert main(["train", "--settings", str(path), *common]) == 1
    assert "does not hold a JSON object" in capsys.readouterr().err


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


# --- faults: messages for YAML 1.1 floats, names that leave results/, unreadable files ---------


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


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read the config file {path}: No such file or directory"),
        ("training: {epochs: [1\n", "{path} is not valid YAML"),
        ("- name: demo\n", "{path} must hold a mapping of keys (as config.yaml does), not a list"),
        ("42\n", "{path} must hold a mapping of keys (as config.yaml does), not a int"),
    ],
    ids=["missing", "bad yaml", "top-level list", "scalar"],
)
def test_check_config_reads_bad_files_without_a_traceback(tmp_path, capsys, content, expected):
    path = tmp_path / "preset.yaml"
    if content is not None:
        path.write_text(content)
    assert main(["check-config", str(ROOT / "config.yaml"), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: " + expected.format(path=path)), err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 3


def test_a_full_disk_anywhere_is_one_line_without_a_traceback(tmp_path, monkeypatch, capsys):
    import errno

    import tinycnn.data.download

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(tinycnn.data.download, "fetch", full)
    argv = ["download", "--url", "file:///a.zip", "--md5", "0" * 32, "--out", str(tmp_path / "x")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot write {tmp_path / 'x'}: not enough disk space"), err
    assert "Traceback" not in err


# --- ablations -------------------------------------------------------------------------------


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


# --- the recipe's parts and the runs beyond the paper (presets/modern.yaml) ---------------------


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


# --- issue 22: numbers the schema refuses, checks made where the user is --------------------


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


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("training:\n  epochs: 5\n  epochs: 6\n", "the key 'epochs' is written twice (lines 2 and"),
        (
            "ablations:\n  q:\n    title: t\n    base: m1_lr1e-3\n    variants:\n"
            "      online: {augmentation: {mode: online}}\n"
            "      online: {optimizer: {lr: 1.0e-2}}\n",
            "the key 'online' is written twice (lines 6 and 7)",
        ),
    ],
    ids=["setting", "variant"],
)  # fmt: skip
def test_a_key_written_twice_is_refused(tmp_path, capsys, content, line):
    path = tmp_path / "preset.yaml"
    path.write_text(content)
    assert main(["check-config", str(ROOT / "config.yaml"), str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path} is not valid YAML at line "), err
    assert line in err and "keep one" in err


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
