"""Ops that change the image size: refused at config time (the models validate on 64x64), with
the sizes computed by the one torch-free module the ops use too."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from tinycnn.config.checks import validate
from tinycnn.data.augment_ops import parse_set
from tinycnn.data.op_geometry import ops_output_size
from tinycnn.shared.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def paper_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


@pytest.mark.parametrize(
    ("ops", "size"),
    [
        ([{"op": "resize", "size": 32}], "32x32"),
        ([{"op": "center_crop", "size": 56}], "56x56"),
        ([{"op": "resize", "size": 128}, {"op": "center_crop", "size": 100}], "100x100"),
        ([{"op": "random_resized_crop", "size": 32}, {"op": "random_horizontal_flip"}], "32x32"),
        (
            [{"op": "center_crop", "size": 40}, {"op": "random_resized_crop", "size": [64, 48]}],
            "64x48",
        ),
    ],
)
def test_a_set_that_changes_the_image_size_is_refused_naming_it(
    paper_config: dict, ops: list, size: str
) -> None:
    config = copy.deepcopy(paper_config)
    config["augmentation"]["sets"]["set1"] = [*ops, {"op": "normalize"}]
    with pytest.raises(UserError) as info:
        validate(config)
    message = str(info.value)
    assert f"augmentation.sets.set1: its ops turn the 64x64 training images into {size}" in message
    # The fix it suggests: the random resized crop's own size where that op sets it last.
    last = [op["op"] for op in ops if op["op"] != "random_horizontal_flip"][-1]
    if last == "random_resized_crop":
        assert "(set its random_resized_crop's size to 64)" in message
    else:
        assert "(e.g. add {op: resize, size: 64} after the crop)" in message


def test_a_crop_larger_than_the_image_is_refused(paper_config: dict) -> None:
    config = copy.deepcopy(paper_config)
    config["augmentation"]["sets"]["set2"] = [{"op": "center_crop", "size": 80}]
    with pytest.raises(UserError, match=r"augmentation.sets.set2: center_crop: size \[80, 80\]"):
        validate(config)


@pytest.mark.parametrize("size", [64, [64, 64]])
def test_a_set_ending_with_a_random_resized_crop_to_64x64_is_accepted(
    paper_config: dict, size: int | list[int]
) -> None:
    config = copy.deepcopy(paper_config)
    crop = {"op": "random_resized_crop", "size": size, "scale": [0.35, 1.0]}
    crop.update(ratio=[0.75, 1.3333333], interpolation="bilinear", antialias=True)
    config["augmentation"]["sets"]["set1"] = [
        {"op": "resize", "size": 32},  # whatever it gets: its output is its size
        crop,
        {"op": "random_horizontal_flip"},
        {"op": "normalize"},
    ]
    validate(config)


def test_the_papers_sets_keep_64x64(paper_config: dict) -> None:
    validate(paper_config)
    for ops in paper_config["augmentation"]["sets"].values():
        assert ops_output_size(ops, 64, 64) == (64, 64)


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "center_crop", "size": 40}],
        [{"op": "resize", "size": 48}],
        [{"op": "resize", "size": 96}, {"op": "center_crop", "size": 70}],
        [{"op": "random_rotation", "degrees": 10}, {"op": "center_crop", "size": 56}],
        [{"op": "random_resized_crop", "size": 64}],
        [{"op": "center_crop", "size": 40}, {"op": "random_resized_crop", "size": [48, 56]}],
    ],
)
def test_the_ops_produce_the_size_the_config_check_computes(ops: list) -> None:
    images = torch.randint(0, 256, (4, 3, 64, 64), dtype=torch.uint8)
    pipeline = parse_set("s", ops)
    out = pipeline(images, torch.Generator().manual_seed(0))
    assert tuple(out.shape[-2:]) == ops_output_size(ops, 64, 64) == pipeline.out_size(64, 64)
