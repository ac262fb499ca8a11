"""What the config refuses before any job (issue 33): names that take another command's folder
or overflow a file name, ablation variants that repeat each other, a blur wider than its image,
and the messages that used to mislead."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tinycnn.config.checks import NAME_LIMIT, validate
from tinycnn.config.merge import deep_merge
from tinycnn.shared.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paper() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.fixture(scope="module")
def with_ablations(paper: dict) -> dict:
    return deep_merge(paper, yaml.safe_load((ROOT / "presets/ablations.yaml").read_text()))


def refused(config: dict) -> str:
    with pytest.raises(UserError) as err:
        validate(config)
    return str(err.value)


def test_the_reference_render_s_name_is_reserved(paper: dict) -> None:
    config = {**copy.deepcopy(paper), "name": "reference"}
    assert "name: 'reference' is reserved (`tinycnn reference render` writes" in refused(config)


def test_names_too_long_for_a_file_are_refused(paper: dict) -> None:
    config = copy.deepcopy(paper)
    long = "m" * (NAME_LIMIT + 150)
    config["experiments"][long] = copy.deepcopy(config["experiments"]["m1_set1"])
    config["experiments"][long]["paper"]["run"] = 12
    message = refused(config)
    assert f"experiments: the name '{'m' * 40}'... has {NAME_LIMIT + 150} characters" in message
    assert f"at most {NAME_LIMIT}" in message
    del config["experiments"][long]
    config["experiments"]["m" * NAME_LIMIT] = copy.deepcopy(config["experiments"]["m1_set1"])
    config["experiments"]["m" * NAME_LIMIT]["paper"]["run"] = 12
    validate(config)  # at the limit


def test_a_set_named_like_another_input_of_the_paper_rule_is_kept_apart() -> None:
    """A set named `stats` (or config, classes, runs) gets its own input name in the paper rule
    (common.smk's preview_key), so it cannot take the place of stats.json."""
    common = (ROOT / "workflow/rules/common.smk").read_text()
    report = (ROOT / "workflow/rules/report.smk").read_text()
    assert "inputs.update({preview_key(s): preview(s) for s in AUG_SETS})" in common
    assert "input[preview_key(s)]" in report


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        (
            {"a": {"optimizer": {"lr": 3.0e-4}}, "b": {"optimizer": {"lr": 3.0e-4}}},
            "ablations.q.variants.b: trains exactly what ablations.q.variants.a trains",
        ),
        (
            {"a": {"optimizer": {"lr": 3.0e-4}}, "b": {"optimizer": {"lr": 3.0e-4},
                                                      "device": "cpu"}},
            "ablations.q.variants.b: trains exactly what ablations.q.variants.a trains",
        ),
        ({"a": {"reported": "best"}}, "reported: best reads m1_lr1e-3 as the base itself"),
        (
            {"a": {"reported": "last"}, "b": {"reported": "last"}},
            "ablations.q.variants.b: reads m1_lr1e-3 exactly as ablations.q.variants.a does",
        ),
        ({"a": {"description": "words only"}}, "ablations.q.variants.a: overrides nothing"),
    ],
    ids=["repeated", "device-only", "reported-best", "reported-twice", "description-only"],
)  # fmt: skip
def test_variants_that_repeat_each_other_are_refused(
    paper: dict, variants: dict, message: str
) -> None:
    config = copy.deepcopy(paper)
    config["ablations"] = {"q": {"title": "Q", "base": "m1_lr1e-3", "variants": variants}}
    assert message in refused(config)


def test_the_ablations_preset_passes(with_ablations: dict) -> None:
    validate(with_ablations)


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([{"op": "gaussian_blur", "kernel_size": 129, "sigma": [0.1, 2.0]}],
         "augmentation.sets.set2.0.kernel_size: 129 is too large for the 64x64 images it "
         "blurs: at most 127"),
        ([{"op": "center_crop", "size": 20},
          {"op": "gaussian_blur", "kernel_size": 41, "sigma": [0.1, 2.0]},
          {"op": "resize", "size": 64}],
         "augmentation.sets.set2.1.kernel_size: 41 is too large for the 20x20 images it "
         "blurs: at most 39"),
    ],
)  # fmt: skip
def test_a_blur_wider_than_its_image_is_refused(paper: dict, ops: list, message: str) -> None:
    config = copy.deepcopy(paper)
    config["augmentation"]["sets"]["set2"] = [*ops, {"op": "normalize"}]
    assert message in refused(config)
    config["augmentation"]["sets"]["set2"][0] = {
        "op": "gaussian_blur", "kernel_size": 127, "sigma": [0.1, 2.0]
    }  # fmt: skip
    if len(ops) == 1:
        validate(config)


def test_a_quoted_integer_is_hinted_as_an_integer(paper: dict) -> None:
    config = copy.deepcopy(paper)
    config["training"]["batch_size"] = "64"
    message = refused(config)
    assert "write it as a number, without quotes (e.g. 64)" in message
    assert "64.0" not in message


def test_a_scheduler_s_errors_are_its_own(paper: dict) -> None:
    config = copy.deepcopy(paper)
    config["training"]["scheduler"] = {"name": "StepLR", "step_size": 0, "gamma": 0.1}
    message = refused(config)
    assert "training.scheduler.step_size: 0 must be at least 1" in message
    assert "warmup" not in message
    config["training"]["scheduler"] = {"name": "Cosine"}
    assert "training.scheduler.name: 'Cosine' is not one of StepLR, warmup_cosine" in refused(
        config
    )


def test_the_validation_defaults_are_read_in_one_place() -> None:
    """What a run validates on, its defaults included (contract.VALIDATION_FRACTION, the
    source "official"), is config.merge.validation_of's, which the train job, the report and
    the reference plan call; the schema's description says the same number."""
    from tinycnn.config.merge import validation_of
    from tinycnn.shared.contract import VALIDATION_FRACTION

    assert validation_of({}) == ("official", None)
    assert validation_of({"validation": {"source": "augmented_split"}}) == (
        "augmented_split",
        VALIDATION_FRACTION,
    )
    assert validation_of({"validation": {"source": "augmented_split", "fraction": 0.2}})[1] == 0.2
    for module in ("training/run_data.py", "report/facts.py", "reference/plan.py"):
        text = (ROOT / "src/tinycnn" / module).read_text()
        assert "validation_of(" in text and '"fraction"' not in text, module
        assert '"official"' not in text and '"augmented_split"' not in text, module
    schema = (ROOT / "src/tinycnn/config/schema.yaml").read_text()
    assert f"fraction, default {VALIDATION_FRACTION}" in schema
