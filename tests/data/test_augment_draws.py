"""Augmentation draws: per sample, distributed as the spec says (torchvision's for random resized
crops), from the seed alone; and the config errors that name the op and the parameter."""

from __future__ import annotations

import math
import zlib
from typing import Any

import pytest
import torch
from augment_inputs import SET2, gen
from torchvision.transforms import v2

from tinycnn.data.augment import parse_set, stream_seed
from tinycnn.data.augment_ops import (
    CenterCrop,
    GaussianBlur,
    RandomResizedCrop,
    RandomRotation,
    Resize,
)
from tinycnn.shared.errors import UserError

# One torch thread (conftest.py): the ops are deterministic at any count.
pytestmark = pytest.mark.usefixtures("one_thread")


def test_draws_are_per_sample(images: torch.Tensor) -> None:
    same = images[:1].expand(32, -1, -1, -1)
    angle, hflip, vflip, sigma = parse_set("set2", SET2).draw(32, gen())
    assert len(set(angle.tolist())) == 32 and len(set(sigma.tolist())) == 32
    assert 0 < hflip.sum() < 32 and 0 < vflip.sum() < 32
    out = parse_set("set2", SET2)(same, gen())
    assert len({bytes(img.numpy()) for img in out}) == 32  # one image, 32 different results


def test_draw_distributions_match_the_spec() -> None:
    n = 20_000
    angle, hflip, vflip, sigma = parse_set("set2", SET2).draw(n, gen())
    assert -10 <= angle.min() < -9.99 and 9.99 < angle.max() <= 10
    assert abs(angle.mean()) < 0.2  # uniform: sd of the mean 5.8/sqrt(n) = 0.04
    assert 0.1 <= sigma.min() < 0.11 and 1.99 < sigma.max() <= 2.0
    for flips in (hflip, vflip):
        assert abs(flips.float().mean() - 0.5) < 0.02  # sd 0.0035
    rare = parse_set("s", [{"op": "random_vertical_flip", "p": 0.2}]).draw(n, gen())[0]
    assert abs(rare.float().mean() - 0.2) < 0.02
    never = parse_set("s", [{"op": "random_horizontal_flip", "p": 0}]).draw(n, gen())[0]
    assert not never.any()


def torchvision_boxes(op: RandomResizedCrop, n: int, size: tuple[int, int]) -> torch.Tensor:
    """n boxes from torchvision's RandomResizedCrop.make_params for (h, w) images (it draws from
    the global generator: seeded here, and left as it was)."""
    ref = v2.RandomResizedCrop(list(op.size), op.scale, op.ratio)
    image = [torch.zeros(1, *size, dtype=torch.uint8)]
    keys = ("top", "left", "height", "width")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return torch.tensor([[ref.make_params(image)[k] for k in keys] for _ in range(n)])


def test_random_resized_crop_draws_match_torchvisions_spec() -> None:
    n, op = 20_000, RandomResizedCrop((64, 64))  # scale [0.08, 1], ratio [3/4, 4/3]
    boxes = op.draw(n, gen(), size=(64, 64))
    assert boxes.shape == (n, 4) and boxes.dtype == torch.int64
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all() and (h > 0).all() and (w > 0).all()
    assert (top + h <= 64).all() and (left + w <= 64).all()  # inside the image
    # The sides are sqrt(area * aspect) and sqrt(area / aspect) rounded: each within 0.5.
    assert ((h - 0.5) * (w - 0.5) <= 64 * 64).all() and (
        (h + 0.5) * (w + 0.5) >= 0.08 * 64 * 64
    ).all()
    assert ((w + 0.5) / (h - 0.5) >= 3 / 4).all() and ((w - 0.5) / (h + 0.5) <= 4 / 3).all()
    # The position uniform over the places that fit: every one reached, centred on average
    # (sd of the mean below 0.15).
    assert (top == 0).any() and (top == 64 - h).any() and (left == 0).any()
    assert abs((top - (64 - h) / 2).mean()) < 0.5 and abs((left - (64 - w) / 2).mean()) < 0.5
    # As torchvision's own draws, rejected tries included (sd of a difference of means < 0.3).
    ref = torchvision_boxes(op, 5000, (64, 64)).double()
    assert (boxes.double().mean(0) - ref.mean(0)).abs().max() < 1.5

    # On a large image where every try fits (at most half the area), the area share and the log
    # of the aspect ratio are uniform: their deciles within 0.01 of the uniform ones (sd 0.002).
    big = RandomResizedCrop((64, 64), (0.08, 0.5))
    _, _, h, w = big.draw(n, gen(1), size=(1000, 1000)).T.double()
    deciles = torch.linspace(0.1, 0.9, 9, dtype=torch.float64)
    share = (h * w / 1e6).quantile(deciles)
    assert (share - (0.08 + 0.42 * deciles)).abs().max() < 0.01
    log_aspect = (w / h).log().quantile(deciles)
    low, high = math.log(3 / 4), math.log(4 / 3)
    assert (log_aspect - (low + (high - low) * deciles)).abs().max() < 0.01


@pytest.mark.parametrize(
    ("op", "size", "box"),
    [
        # no try fits: a ratio of 3 to 4 at 90% of the area is wider than the image
        (RandomResizedCrop((64, 64), (0.9, 1.0), (3.0, 4.0)), (64, 64), [21, 0, 21, 64]),
        # a tall image: any box of half its area is too wide
        (RandomResizedCrop((64, 64), (0.5, 1.0)), (200, 20), [86, 0, 27, 20]),
        # the whole image, fallback or not: only an aspect rounding to 1 fits at scale 1
        (RandomResizedCrop((64, 64), (1.0, 1.0), (0.5, 2.0)), (64, 64), [0, 0, 64, 64]),
    ],
)
def test_random_resized_crop_falls_back_to_torchvisions_central_crop(
    op: RandomResizedCrop, size: tuple[int, int], box: list[int]
) -> None:
    assert (op.draw(1000, gen(), size=size) == torch.tensor(box)).all()
    assert (torchvision_boxes(op, 20, size) == torch.tensor(box)).all()


def test_random_resized_crop_draws_depend_on_the_seed_only() -> None:
    op = RandomResizedCrop((64, 64))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the global generator plays no part
        boxes = op.draw(100, gen(5), size=(64, 64))
        torch.manual_seed(1)
        assert torch.equal(op.draw(100, gen(5), size=(64, 64)), boxes)
    assert (op.draw(100, gen(6), size=(64, 64)) != boxes).any(1).float().mean() > 0.9
    assert len({tuple(b) for b in boxes.tolist()}) > 90  # per sample


def test_seeds_and_batching(images: torch.Tensor) -> None:
    set2 = parse_set("set2", SET2)
    out = set2(images, gen(5))
    assert torch.equal(out, set2(images, gen(5)))
    assert not torch.equal(out, set2(images, gen(6)))
    # the result depends on the draws only, not on how the samples are batched
    params = set2.draw(len(images), gen(5))
    halves = [set2.apply(images[s], [p[s] for p in params]) for s in (slice(0, 20), slice(20, 48))]
    assert torch.equal(torch.cat(halves), out)


def test_stream_seeds_are_stable_and_distinct() -> None:
    assert stream_seed(0, "set1") == zlib.crc32(b"0/set1")
    assert stream_seed(3, "set2", "epoch", 4) == zlib.crc32(b"3/set2/epoch/4")
    seeds = {stream_seed(0, "set1"), stream_seed(0, "set2"), stream_seed(1, "set1")}
    assert len(seeds) == 3


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        ([{"op": "solarize"}], "op 1 (solarize): unknown op 'solarize'"),
        ([{"op": "resize", "size": 64, "max_size": 80}], "(resize): unknown parameter 'max_size'"),
        ([{"op": "random_horizontal_flip", "p": 1.5}], "parameter 'p' must be"),
        ([{"op": "random_vertical_flip", "p": True}], "parameter 'p' must be"),
        ([{"op": "random_rotation"}], "(random_rotation): parameter 'degrees' is required"),
        ([{"op": "random_rotation", "degrees": -3}], "parameter 'degrees' must be"),
        ([{"op": "random_rotation", "degrees": [5, -5]}], "parameter 'degrees' must be"),
        ([{"op": "random_rotation", "degrees": 5, "fill": 256}], "parameter 'fill' must be"),
        (
            [{"op": "random_rotation", "degrees": 5, "interpolation": "bicubic"}],
            "parameter 'interpolation' must be nearest or bilinear",
        ),
        ([{"op": "gaussian_blur", "kernel_size": 4}], "(gaussian_blur): parameter 'kernel_size'"),
        ([{"op": "gaussian_blur", "kernel_size": 5, "sigma": 0}], "parameter 'sigma' must be"),
        ([{"op": "center_crop", "size": [56]}], "(center_crop): parameter 'size' must be"),
        ([{"op": "resize", "size": 0}], "(resize): parameter 'size' must be"),
        ([{"op": "resize", "size": 64, "antialias": "yes"}], "parameter 'antialias' must be"),
        (
            [{"op": "random_resized_crop", "scale": [0.5, 1.0]}],
            "(random_resized_crop): parameter 'size' is required",
        ),
        (
            [{"op": "random_resized_crop", "size": 64, "scale": [0.9, 0.2]}],
            "(random_resized_crop): parameter 'scale' must be [min, max] with 0 < min <= max <= 1,",
        ),
        (
            [{"op": "random_resized_crop", "size": 64, "scale": [0.5, 1.5]}],
            "parameter 'scale' must be [min, max] with 0 < min <= max <= 1, got [0.5, 1.5]",
        ),
        (
            [{"op": "random_resized_crop", "size": 64, "ratio": [0, 1]}],
            "parameter 'ratio' must be [min, max] with 0 < min <= max, got [0, 1]",
        ),
        (
            [{"op": "random_resized_crop", "size": 64, "crop": [8, 8]}],
            "(random_resized_crop): unknown parameter 'crop' (allowed: antialias, interpolation,",
        ),
        ([{"op": "random_resized_crop", "size": [64]}], "parameter 'size' must be a positive int"),
        ([{"op": "normalize"}, {"op": "resize", "size": 8}], "normalize may only be the last op"),
        ([{"op": "normalize", "mean": [0.5] * 3}], "(normalize): unknown parameter 'mean'"),
        (["resize"], "op 1 (None): expected a mapping with an 'op' key"),
    ],
)
def test_config_errors_name_the_op_and_parameter(ops: list[Any], message: str) -> None:
    with pytest.raises(UserError, match="augmentation set 'bad', op") as err:
        parse_set("bad", ops)
    assert message in str(err.value)


def test_optional_parameters_are_read() -> None:
    pipeline = parse_set(
        "s",
        [
            {"op": "random_rotation", "degrees": [-5, 15], "interpolation": "bilinear", "fill": 9},
            {"op": "gaussian_blur", "kernel_size": [3, 5], "sigma": 1.5},
            {"op": "center_crop", "size": [40, 50]},
            {"op": "resize", "size": [32, 30], "interpolation": "nearest", "antialias": False},
        ],
    )
    assert pipeline.ops == (
        RandomRotation((-5.0, 15.0), "bilinear", 9),
        GaussianBlur((3, 5), (1.5, 1.5)),
        CenterCrop((40, 50)),
        Resize((32, 30), "nearest", False),
    )
    assert not pipeline.normalize
    assert pipeline.out_size(64, 64) == (32, 30)
    with pytest.raises(UserError, match=r"center_crop: size \[40, 50\] is larger"):
        pipeline.out_size(32, 64)
    crop = {"op": "random_resized_crop", "size": [48, 40]}
    assert parse_set("s", [crop]).ops == (RandomResizedCrop((48, 40), (0.08, 1.0), (3 / 4, 4 / 3)),)
    crop.update(scale=[0.35, 1], ratio=[1, 2], interpolation="nearest", antialias=False)
    assert parse_set("s", [crop]).ops == (
        RandomResizedCrop((48, 40), (0.35, 1.0), (1.0, 2.0), "nearest", False),
    )
    assert parse_set("s", [crop]).out_size(20, 100) == (48, 40)  # whatever the input
