"""Augmentation: each op against torchvision, per-sample draws, seeds, config errors, both modes.

Test images are sklearn's handwritten digits upscaled to 64x64, one digit a channel, so that
channels differ and no image is symmetric (a flip or a rotation the wrong way would show).
"""

from __future__ import annotations

import errno
import hashlib
import math
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image
from sklearn.datasets import load_digits
from torchvision.transforms import InterpolationMode, v2

import tinycnn.shared.arrays
import tinycnn.shared.files
from tinycnn.data.augment import (
    FixedTrainData,
    OnlineTrainData,
    normalize,
    parse_set,
    preview_grid,
    split_samples,
    stream_seed,
    write_augmented,
    write_preview,
)
from tinycnn.data.augment_ops import (
    CenterCrop,
    GaussianBlur,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomRotation,
    RandomVerticalFlip,
    Resize,
)
from tinycnn.shared.digests import read_digest
from tinycnn.shared.errors import UserError

SET1 = [
    {"op": "random_horizontal_flip", "p": 0.5},
    {"op": "center_crop", "size": 56},
    {"op": "resize", "size": 64},
    {"op": "normalize"},
]
SET2 = [
    {"op": "random_rotation", "degrees": 10},
    {"op": "random_horizontal_flip", "p": 0.5},
    {"op": "random_vertical_flip", "p": 0.5},
    {"op": "gaussian_blur", "kernel_size": 5, "sigma": [0.1, 2.0]},
    {"op": "normalize"},
]
CROP = [
    {"op": "random_resized_crop", "size": 64, "scale": [0.35, 1.0]},
    {"op": "random_horizontal_flip", "p": 0.5},
    {"op": "normalize"},
]


def digit_images(n: int, size: int = 64) -> torch.Tensor:
    """n uint8 RGB images (n, 3, size, size): upscaled digits, a different digit per channel."""
    small = torch.from_numpy(load_digits().images[: n + 2]).float()[:, None] * (255 / 16)
    big = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    rgb = torch.stack([big[:n], big[1 : n + 1].flip(-1) * 0.7 + 40, 255 - big[2 : n + 2]], 1)
    return rgb.clamp(0, 255).round().to(torch.uint8)


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One torch thread: the ops are deterministic at any count, and small batches run 20x
    slower with two threads when other processes load this 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return digit_images(48)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def per_sample(ref: Any, x: torch.Tensor, param: torch.Tensor | None = None) -> torch.Tensor:
    """torchvision's op applied image by image (with that image's drawn parameter)."""
    if param is None:
        return torch.stack([ref(img) for img in x])
    return torch.stack([ref(img, p) for img, p in zip(x, param.tolist(), strict=True)])


def grey_levels(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    assert a.shape == b.shape and a.dtype == b.dtype == torch.uint8
    return (a.int() - b.int()).abs()


# --- each op equals torchvision for the drawn parameters -------------------------------------


@pytest.mark.parametrize(
    ("op", "ref"),
    [(RandomHorizontalFlip(0.5), TF.hflip), (RandomVerticalFlip(0.5), TF.vflip)],
)
def test_flips_equal_torchvision_exactly(op: Any, ref: Any, images: torch.Tensor) -> None:
    flip = op.draw(len(images), gen())
    assert 0 < flip.sum() < len(images)  # both outcomes occur in this batch
    expected = per_sample(lambda img, f: ref(img) if f else img, images, flip)
    assert torch.equal(op(images, flip), expected)  # pure data movement: exact


@pytest.mark.parametrize("fill", [0, 77])
def test_nearest_rotation_equals_torchvision(fill: int, images: torch.Tensor) -> None:
    op = RandomRotation((-10.0, 10.0), "nearest", fill)
    angle = op.draw(len(images), gen())
    expected = per_sample(
        lambda img, a: TF.rotate(img, a, interpolation=InterpolationMode.NEAREST, fill=fill),
        images,
        angle,
    )
    diff = grey_levels(op(images, angle), expected)
    # Identical here (100.0%): our sampling grid has the same float32 values as torchvision's
    # (elementwise where it uses a bmm) and goes through the same grid_sample. The bound leaves
    # room for a BLAS that rounds torchvision's bmm differently, which can move a pixel lying
    # exactly on a rounding boundary to its neighbour.
    assert (diff == 0).float().mean() >= 0.9999


@pytest.mark.parametrize("fill", [0, 200])
def test_bilinear_rotation_equals_torchvision(fill: int, images: torch.Tensor) -> None:
    op = RandomRotation((-30.0, 30.0), "bilinear", fill)
    angle = op.draw(len(images), gen(1))
    expected = per_sample(
        lambda img, a: TF.rotate(img, a, interpolation=InterpolationMode.BILINEAR, fill=fill),
        images,
        angle,
    )
    # Identical here; <= 1 grey level: a float32 value near .5 may round the other way.
    assert grey_levels(op(images, angle), expected).max() <= 1


def test_rotation_is_counter_clockwise_for_positive_angles() -> None:
    x = torch.zeros(1, 3, 64, 64, dtype=torch.uint8)
    x[..., 30:34, 54:58] = 255  # a dot right of the centre
    op = RandomRotation((80.0, 80.0))
    out = op(x, op.draw(1, gen()))
    rows, cols = out[0, 0].nonzero().float().mean(0)
    assert rows < 16 and 28 < cols < 44  # now above the centre


def test_gaussian_blur_equals_torchvision_within_one_grey_level(images: torch.Tensor) -> None:
    for kernel_size in [(5, 5), (3, 7)]:
        op = GaussianBlur(kernel_size, (0.1, 2.0))
        sigma = op.draw(len(images), gen(2))
        expected = per_sample(
            lambda img, s, k=kernel_size: TF.gaussian_blur(img, list(k), [s, s]), images, sigma
        )
        diff = grey_levels(op(images, sigma), expected)
        # Two 1-D passes add the same products as torchvision's one 2-D kernel, in another
        # order; a float32 sum within rounding error of .5 then rounds to the other grey level
        # (measured: 14 of 589,824 values for 5x5).
        assert diff.max() <= 1
        assert (diff == 0).float().mean() >= 0.9999


def test_center_crop_and_resize_equal_torchvision(images: torch.Tensor) -> None:
    crop = CenterCrop((56, 56))
    cropped = crop(images, None)
    assert torch.equal(cropped, TF.center_crop(images, [56, 56]))  # slicing: exact
    odd = CenterCrop((41, 30))(images, None)
    assert torch.equal(odd, TF.center_crop(images, [41, 30]))

    bilinear = Resize((64,))(cropped, None)
    expected = TF.resize(cropped, [64, 64], antialias=True)
    # Identical on CPUs (the same ATen uint8 kernel). Elsewhere we resize in float32 and round,
    # as torchvision does on GPUs: <= 1 grey level from the CPU result.
    assert grey_levels(bilinear, expected).max() <= 1
    # antialias matters only when shrinking: downscale 56 -> 24, where the two results differ.
    no_aa = Resize((24, 24), antialias=False)(cropped, None)
    expected_no_aa = TF.resize(cropped, [24, 24], antialias=False)
    assert grey_levels(no_aa, expected_no_aa).max() <= 1
    with_aa = TF.resize(cropped, [24, 24], antialias=True)
    assert grey_levels(with_aa, expected_no_aa).max() > 10  # the flag has an effect here
    assert grey_levels(Resize((24, 24))(cropped, None), with_aa).max() <= 1
    nearest = Resize((64, 64), "nearest")(cropped, None)
    assert torch.equal(nearest, TF.resize(cropped, [64, 64], InterpolationMode.NEAREST))
    # an int size is the smaller edge, as in torchvision
    short = Resize((20,))(odd, None)
    assert short.shape[-2:] == (27, 20)
    assert grey_levels(short, TF.resize(odd, 20, antialias=True)).max() <= 1


def resized_crops(op: RandomResizedCrop, x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """torchvision's resized_crop of each image with its box (uint8 in: its CPU uint8 kernel)."""
    mode = InterpolationMode(op.interpolation)
    return per_sample(
        lambda img, box: TF.resized_crop(img, *box, list(op.size), mode, op.antialias), x, boxes
    )


@pytest.mark.parametrize(
    ("op", "identical"),
    [
        (RandomResizedCrop((64, 64), (0.35, 1.0)), 0.845),
        (RandomResizedCrop((64, 64), (0.35, 1.0), antialias=False), 0.845),
        (RandomResizedCrop((48, 40)), 0.83),
        (RandomResizedCrop((24, 24), (0.5, 1.0)), 0.875),
        (RandomResizedCrop((24, 24), (0.5, 1.0), antialias=False), 0.825),
    ],
    ids=repr,
)
def test_bilinear_random_resized_crop_equals_torchvision(
    op: RandomResizedCrop, identical: float, images: torch.Tensor
) -> None:
    boxes = op.draw(len(images), gen(3), size=(64, 64))
    out = op(images, boxes)
    diff = grey_levels(out, resized_crops(op, images, boxes))
    # Within 1 grey level of torchvision's CPU uint8 kernel, whose fixed-point weights and uint8
    # result between its two passes round differently from our float32 (as Resize's float path,
    # below). Identical pixels, measured here: 86.2% (64, with and without antialias: growing,
    # the same weights), 84.3% (48x40), 89.0% (24) and 84.1% (24, no antialias); each bound lies
    # about 1.5 points below.
    assert diff.max() <= 1 and (diff == 0).float().mean() >= identical
    # torchvision's float path (what it runs on a GPU), on the CPU: our weights are ATen's and
    # the sums agree but for float32 rounding (measured: 100%, 100%, 99.87%, 99.99%, 99.75%
    # identical).
    floats = per_sample(
        lambda img, box: TF.resized_crop(img.float(), *box, list(op.size), antialias=op.antialias),
        images,
        boxes,
    )
    diff = grey_levels(out, floats.round().to(torch.uint8))
    assert diff.max() <= 1 and (diff == 0).float().mean() >= 0.995


def test_random_resized_crop_antialias_has_an_effect_when_shrinking(images: torch.Tensor) -> None:
    with_aa = RandomResizedCrop((24, 24), (0.5, 1.0))
    no_aa = RandomResizedCrop((24, 24), (0.5, 1.0), antialias=False)
    boxes = with_aa.draw(len(images), gen(3), size=(64, 64))
    assert (boxes[:, 2:] > 24).all()  # every box shrinks to 24x24
    assert grey_levels(with_aa(images, boxes), no_aa(images, boxes)).max() > 10
    assert grey_levels(*(resized_crops(op, images, boxes) for op in (with_aa, no_aa))).max() > 10
    # growing, antialias changes nothing: 64x64 from boxes of at most 64x64
    grow = RandomResizedCrop((64, 64), (0.35, 1.0))
    boxes = grow.draw(len(images), gen(3), size=(64, 64))
    assert torch.equal(
        grow(images, boxes), RandomResizedCrop((64, 64), antialias=False)(images, boxes)
    )


@pytest.mark.parametrize("size", [(64, 64), (24, 30)])
def test_nearest_random_resized_crop_equals_torchvision_exactly(
    size: tuple[int, int], images: torch.Tensor
) -> None:
    # the same float32 source indices as ATen's nearest: a copy of the same pixels
    op = RandomResizedCrop(size, (0.35, 1.0), interpolation="nearest")
    boxes = op.draw(len(images), gen(3), size=(64, 64))
    assert torch.equal(op(images, boxes), resized_crops(op, images, boxes))


def test_random_resized_crop_refuses_boxes_for_another_size(images: torch.Tensor) -> None:
    op = RandomResizedCrop((32, 32))
    with pytest.raises(ValueError, match="input size"):
        op.draw(4, gen())
    with pytest.raises(ValueError, match="boxes drawn for images larger than 48x48"):
        op(images[..., :48, :48], torch.tensor([[0, 0, 64, 64]] * len(images)))


def test_normalize_equals_torchvision_exactly(images: torch.Tensor) -> None:
    mean, std = [0.48, 0.45, 0.40], [0.28, 0.27, 0.29]
    expected = TF.normalize(TF.to_dtype(images, torch.float32, scale=True), mean, std)
    out = normalize(images, mean, std)
    assert out.dtype == torch.float32
    assert torch.equal(out, expected)  # the same float32 operations in the same order


@pytest.mark.parametrize(
    "op",
    [
        RandomHorizontalFlip(0.5),
        RandomVerticalFlip(0.5),
        RandomRotation((-10.0, 10.0)),
        RandomRotation((-10.0, 10.0), "bilinear", 9),
        GaussianBlur((5, 5), (0.1, 2.0)),
        CenterCrop((40, 50)),
        Resize((40,)),
        Resize((30, 20), "nearest"),
        RandomResizedCrop((40, 50), (0.2, 1.0)),
        RandomResizedCrop((24, 24), (0.5, 1.0)),
        RandomResizedCrop((30, 20), interpolation="nearest"),
    ],
    ids=repr,
)
def test_ops_accept_channels_last_and_cropped_views(op: Any, images: torch.Tensor) -> None:
    # the training data hands the ops NHWC memory seen as NCHW; set 1 crops before it resizes.
    # Drawn for the view's size (57x59), which the whole images contain.
    param = op.draw(len(images), gen(), size=(57, 59))
    channels_last = images.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)
    assert torch.equal(op(channels_last, param), op(images, param))
    view = images[..., 3:60, 2:61]
    assert torch.equal(op(view, param), op(view.contiguous(), param))


def test_set1_and_set2_compose_the_ops(images: torch.Tensor) -> None:
    set1, set2 = parse_set("set1", SET1), parse_set("set2", SET2)
    assert set1.ops == (RandomHorizontalFlip(0.5), CenterCrop((56, 56)), Resize((64,)))
    assert set2.ops == (
        RandomRotation((-10.0, 10.0)),
        RandomHorizontalFlip(0.5),
        RandomVerticalFlip(0.5),
        GaussianBlur((5, 5), (0.1, 2.0)),
    )
    assert set1.normalize and set2.normalize
    assert set1.out_size(64, 64) == set2.out_size(64, 64) == (64, 64)
    angle, hflip, vflip, sigma = params = set2.draw(len(images), gen())
    expected = []
    for img, a, h, v, s in zip(images, angle, hflip, vflip, sigma, strict=True):
        img = TF.rotate(img, float(a), interpolation=InterpolationMode.NEAREST, fill=0)
        img = TF.hflip(img) if h else img
        img = TF.vflip(img) if v else img
        expected.append(TF.gaussian_blur(img, [5, 5], [float(s), float(s)]))
    diff = grey_levels(set2.apply(images, params), torch.stack(expected))
    assert diff.max() <= 1 and (diff == 0).float().mean() >= 0.9999  # as the blur alone


# --- draws: per sample, distribution, seeds --------------------------------------------------


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


# --- config errors ---------------------------------------------------------------------------


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


# --- materialization and preview -------------------------------------------------------------


@pytest.fixture
def packed(tmp_path: Path) -> Path:
    path = tmp_path / "train_images.npy"
    np.save(path, digit_images(20).permute(0, 2, 3, 1).numpy())
    return path


def test_write_augmented_materializes_one_seeded_draw(packed: Path, tmp_path: Path) -> None:
    out = tmp_path / "set2.npy"
    write_augmented(packed, SET2, 7, "set2", out, threads=1)
    written = np.load(out)
    assert written.shape == (20, 64, 64, 3) and written.dtype == np.uint8

    set2 = parse_set("set2", SET2)
    x = torch.from_numpy(np.load(packed)).permute(0, 3, 1, 2)
    expected = set2(x, gen(stream_seed(7, "set2"))).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(written, expected)

    other = tmp_path / "other.npy"
    write_augmented(packed, SET2, 7, "set2", other, batch_size=3, threads=1)  # batches of 3
    assert np.array_equal(np.load(other), written)
    write_augmented(packed, SET2, 7, "set2b", other, threads=1)  # another set: another stream
    assert not np.array_equal(np.load(other), written)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "other.npy",
        "other.npy.sha256",
        "set2.npy",
        "set2.npy.sha256",
        "train_images.npy",
    ]  # no temporaries left behind


def test_preview_grid_layout(packed: Path, tmp_path: Path) -> None:
    preview = tmp_path / "set1.png"
    write_preview(packed, SET1, 0, "set1", preview, rows=3)
    grid = np.asarray(Image.open(preview))
    # 3 rows x (original + 6 draws) of 128-pixel tiles (64 x 2, nearest) with 4-pixel gaps
    assert grid.shape == (4 + 3 * 132, 4 + 7 * 132, 3)
    original = np.load(packed)[19]  # rows: images 0, 10 and 19 (evenly spaced)
    assert np.array_equal(grid[268:396:2, 4:132:2], original)
    assert grid[0].min() == 255 and grid[:, 132:136].min() == 255  # white gaps
    draws = [grid[268:396, 4 + 132 * c : 132 * (c + 1)] for c in range(1, 7)]
    assert len({d.tobytes() for d in draws}) > 1  # independent draws differ

    images = np.load(packed)
    again = preview_grid(images, parse_set("set1", SET1), 0, rows=3, draws=6)
    assert np.array_equal(again, grid)  # deterministic
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".png"] == ["set1.png"]

    # Its own stream: drawing the preview leaves the materialized set as it was without one.
    alone, after = tmp_path / "alone.npy", tmp_path / "after.npy"
    write_augmented(packed, SET1, 0, "set1", alone, threads=1)
    write_preview(packed, SET1, 0, "set1", tmp_path / "other.png", rows=5, draws=2)
    write_augmented(packed, SET1, 0, "set1", after, threads=1)
    assert np.array_equal(np.load(alone), np.load(after))


def test_write_augmented_refuses_bad_input(packed: Path, tmp_path: Path) -> None:
    out, preview = tmp_path / "a.npy", tmp_path / "a.png"
    with pytest.raises(UserError, match="no packed training images"):
        write_augmented(tmp_path / "missing.npy", SET2, 0, "set2", out)
    with pytest.raises(UserError, match="no packed training images"):
        write_preview(tmp_path / "missing.npy", SET2, 0, "set2", preview)
    np.save(tmp_path / "gray.npy", np.zeros((4, 64, 64), np.uint8))
    with pytest.raises(UserError, match=r"expected packed uint8 images \(N, H, W, 3\)"):
        write_augmented(tmp_path / "gray.npy", SET2, 0, "set2", out)
    big_crop = [{"op": "center_crop", "size": 80}]
    with pytest.raises(UserError, match="larger than the image"):
        write_augmented(packed, big_crop, 0, "set3", out)
    with pytest.raises(UserError, match="larger than the image"):
        write_preview(packed, big_crop, 0, "set3", preview)
    assert not out.exists() and not preview.exists()


# --- training data ---------------------------------------------------------------------------


def collect(data: Any, epoch: int, shuffle: bool) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(data.batches(epoch, 16, shuffle=shuffle))
    assert all(len(y) == 16 for _, y in batches[:-1])
    return torch.cat([x for x, _ in batches]), torch.cat([y for _, y in batches])


def nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def test_fixed_train_data_serves_the_materialized_sets() -> None:
    a = nhwc(digit_images(20))
    b = 255 - a
    labels = np.arange(20) % 7
    data = FixedTrainData([a, b], labels, seed=0)
    assert len(data) == 40
    x, y = collect(data, 0, shuffle=False)
    assert x.shape == (40, 3, 64, 64) and x.dtype == torch.uint8
    assert np.array_equal(nhwc(x), np.concatenate([a, b]))
    assert torch.equal(y, torch.from_numpy(np.concatenate([labels, labels])))

    x0, y0 = collect(data, 0, shuffle=True)
    x1, y1 = collect(data, 1, shuffle=True)
    assert not torch.equal(x0, x1)  # another order each epoch ...
    for xs, ys in ((x0, y0), (x1, y1)):  # ... of the same samples, labels kept with images
        order = sorted(range(40), key=lambda i: nhwc(xs[i : i + 1]).tobytes())
        expected = sorted(range(40), key=lambda i: nhwc(x[i : i + 1]).tobytes())
        assert torch.equal(xs[order], x[expected]) and torch.equal(ys[order], y[expected])
    assert torch.equal(collect(data, 1, shuffle=True)[0], x1)

    with pytest.raises(UserError, match="differ in shape"):
        FixedTrainData([a, a[:, :56]], labels, seed=0)


def test_online_train_data_draws_anew_each_epoch() -> None:
    images, labels = nhwc(digit_images(20)), np.arange(20)
    set1, set2 = parse_set("set1", SET1), parse_set("set2", SET2)
    data = OnlineTrainData(images, labels, [set1, set2], seed=3)
    assert len(data) == 40

    x, y = collect(data, 4, shuffle=False)
    assert x.shape == (40, 3, 64, 64) and torch.equal(y, torch.arange(20).repeat(2))
    base = torch.from_numpy(images).permute(0, 3, 1, 2)
    assert torch.equal(x[:20], set1(base, gen(stream_seed(3, "set1", "epoch", 4))))
    assert torch.equal(x[20:], set2(base, gen(stream_seed(3, "set2", "epoch", 4))))

    assert torch.equal(collect(data, 4, shuffle=False)[0], x)  # reproducible per (seed, epoch)
    assert not torch.equal(collect(data, 5, shuffle=False)[0][:20], x[:20])  # new draws
    assert not torch.equal(
        collect(OnlineTrainData(images, labels, [set1], seed=4), 4, False)[0], x[:20]
    )

    xs, ys = collect(data, 4, shuffle=True)  # shuffled: the same samples, labels kept
    for i in range(20):
        pair = xs[ys == i]
        assert len(pair) == 2
        assert {bytes(p.numpy()) for p in pair} == {bytes(x[i].numpy()), bytes(x[20 + i].numpy())}

    crop = parse_set("crop", [{"op": "center_crop", "size": 56}])
    with pytest.raises(UserError, match="same output size"):
        OnlineTrainData(images, labels, [set1, crop], seed=0)


def test_random_resized_crop_in_a_set(packed: Path, tmp_path: Path) -> None:
    crop = parse_set("crop", CROP)
    assert crop.ops == (RandomResizedCrop((64, 64), (0.35, 1.0)), RandomHorizontalFlip(0.5))
    assert crop.normalize and crop.out_size(64, 64) == (64, 64)

    images, labels = np.load(packed), np.arange(20)
    data = OnlineTrainData(images, labels, [crop, parse_set("set2", SET2)], seed=3)
    x, y = collect(data, 4, shuffle=False)
    assert x.shape == (40, 3, 64, 64) and torch.equal(y, torch.arange(20).repeat(2))
    base = torch.from_numpy(images).permute(0, 3, 1, 2)
    boxes, flips = crop.draw(20, gen(stream_seed(3, "crop", "epoch", 4)), size=(64, 64))
    assert torch.equal(x[:20], crop.apply(base, [boxes, flips]))
    expected = resized_crops(crop.ops[0], base, boxes)
    expected = torch.where(flips.view(-1, 1, 1, 1), expected.flip(-1), expected)
    diff = grey_levels(x[:20], expected)
    assert diff.max() <= 1 and (diff == 0).float().mean() >= 0.85  # as the op alone (87.0%)
    assert normalize(x, [0.5] * 3, [0.25] * 3).shape == (40, 3, 64, 64)

    # materialized: the same in any batches (each output one float32 sum in tap order)
    write_augmented(packed, CROP, 7, "crop", tmp_path / "a.npy", threads=1)
    write_augmented(packed, CROP, 7, "crop", tmp_path / "b.npy", batch_size=3, threads=2)
    written = np.load(tmp_path / "a.npy")
    assert written.shape == (20, 64, 64, 3) and np.array_equal(np.load(tmp_path / "b.npy"), written)
    write_preview(packed, CROP, 7, "crop", tmp_path / "crop.png", rows=2, draws=3)
    assert np.asarray(Image.open(tmp_path / "crop.png")).shape == (4 + 2 * 132, 4 + 4 * 132, 3)

    # after a crop, its boxes are drawn for the size it gets
    inner = parse_set("inner", [{"op": "center_crop", "size": 40}, CROP[0]])
    _, boxes = inner.draw(1000, gen(), size=(64, 64))
    assert (boxes[:, :2] + boxes[:, 2:] <= 40).all() and (boxes[:, 2:] > 32).any()
    assert inner(base, gen()).shape == (20, 3, 64, 64)


def test_random_per_image_serves_each_image_once_through_a_drawn_set() -> None:
    """combine: random_per_image, "one set at random per image and epoch": N samples an epoch,
    image i through the set drawn for it (from (seed, "combine", epoch)), fixed and online."""
    images, labels = nhwc(digit_images(20)), np.arange(20) % 7
    other = 255 - images
    fixed = FixedTrainData([images, other], labels, seed=5, combine="random_per_image")
    set1, set2 = parse_set("set1", SET1), parse_set("set2", SET2)
    online = OnlineTrainData(images, labels, [set1, set2], seed=5, combine="random_per_image")
    both = OnlineTrainData(images, labels, [set1, set2], seed=5)  # concat: the same draws
    assert len(fixed) == len(online) == 20 and len(both) == 40
    chosen = torch.randint(2, (20,), generator=gen(stream_seed(5, "combine", 3)))
    assert 0 < int(chosen.sum()) < 20  # both sets occur
    x, y = collect(fixed, 3, shuffle=False)
    expected = np.where(chosen.numpy()[:, None, None, None] == 1, other, images)
    assert np.array_equal(nhwc(x), expected) and torch.equal(y, torch.from_numpy(labels))
    xo, yo = collect(online, 3, shuffle=False)
    xb, _ = collect(both, 3, shuffle=False)
    for i in range(20):
        assert torch.equal(xo[i], xb[20 * int(chosen[i]) + i]), i
    assert torch.equal(yo, torch.from_numpy(labels))
    assert torch.equal(collect(fixed, 3, shuffle=False)[0], x)  # reproducible per epoch
    assert not torch.equal(collect(fixed, 4, shuffle=False)[0], x)  # drawn anew
    xs, ys = collect(fixed, 3, shuffle=True)  # shuffled: the same samples, labels kept
    assert sorted(map(bytes, nhwc(xs))) == sorted(map(bytes, nhwc(x)))
    assert sorted(ys.tolist()) == sorted(labels.tolist())
    with pytest.raises(UserError, match=r"augmentation\.combine: unknown 'sometimes'"):
        FixedTrainData([images, other], labels, seed=0, combine="sometimes")


def test_a_held_out_split_of_the_augmented_samples() -> None:
    """validation.source augmented_split: a seeded share of the k·N samples held out, the rest
    served; another set's copy of a held-out image may stay in training (the leak)."""
    kept, held = split_samples(40, 0.1, seed=2)
    assert len(held) == 4 and len(kept) == 36
    assert sorted([*kept.tolist(), *held.tolist()]) == list(range(40))
    assert torch.equal(split_samples(40, 0.1, seed=2)[1], held)  # the same split every time
    assert not torch.equal(split_samples(40, 0.1, seed=3)[1], held)
    images, labels = nhwc(digit_images(20)), np.arange(20) % 7
    data = FixedTrainData([images, 255 - images], labels, seed=0, samples=kept)
    assert len(data) == 36
    x, y = collect(data, 1, shuffle=True)
    served = sorted(bytes(v.numpy()) for v in x)
    every = torch.from_numpy(np.concatenate([images, 255 - images])).permute(0, 3, 1, 2)
    assert served == sorted(bytes(every[i].numpy()) for i in kept.tolist())
    assert sorted(y.tolist()) == sorted(np.tile(labels, 2)[kept.numpy()].tolist())
    with pytest.raises(UserError, match=r"needs augmentation\.combine concat"):
        FixedTrainData([images, images], labels, seed=0, samples=kept, combine="random_per_image")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize(
    ("ops", "identical"),
    [(SET1, 0.8), (SET2, 0.999), (CROP, 0.99)],
    ids=["set1", "set2", "random_resized_crop"],
)
def test_cuda_equals_cpu(ops: list[Any], identical: float, images: torch.Tensor) -> None:
    """Within 1 grey level. Set 1's bilinear resize runs ATen's uint8 kernel on the CPU (fixed-point
    weights, as torchvision) and float-then-round on CUDA: 84% identical pixels on these images,
    measured on an H200, exactly the share of the CPU's own float path (see the next test).
    random_resized_crop runs the same float32 multiply-adds on both devices (a GPU may fuse each
    into one FMA): its 99% is a guess, not yet measured on a GPU."""
    pipeline = parse_set("s", ops)
    params = pipeline.draw(len(images), gen(), size=(64, 64))  # on the CPU for both devices
    cpu = pipeline.apply(images, params)
    cuda = pipeline.apply(images.cuda(), params).cpu()
    diff = grey_levels(cuda, cpu)  # float rounding differs between devices: <= 1 level
    assert diff.max() <= 1 and (diff == 0).float().mean() >= identical


def test_resize_float_path_within_one_grey_level_of_the_uint8_kernel(images: torch.Tensor) -> None:
    """The path CUDA takes (float, then round), run on the CPU, against the CPU's uint8 kernel."""
    crop = images[..., 4:60, 4:60]
    uint8 = F.interpolate(crop, size=(64, 64), mode="bilinear", antialias=True)
    by_float = F.interpolate(crop.float(), size=(64, 64), mode="bilinear", antialias=True)
    diff = grey_levels(by_float.round().to(torch.uint8), uint8)
    assert diff.max() <= 1 and (diff == 0).float().mean() >= 0.8


@pytest.mark.parametrize("combine", ["concat", "random_per_image"])
@pytest.mark.parametrize("mode", ["fixed", "online"])
def test_batches_can_start_mid_epoch(mode, combine):
    images = torch.randint(0, 256, (40, 16, 16, 3), dtype=torch.uint8).numpy()
    labels = np.arange(40) % 4
    if mode == "fixed":
        data = FixedTrainData([images, images[::-1].copy()], labels, seed=3, combine=combine)
    else:
        pipeline = parse_set("s", [{"op": "random_horizontal_flip", "p": 0.5}])
        data = OnlineTrainData(images, labels, [pipeline, pipeline], seed=3, combine=combine)
    full = list(data.batches(2, 16))
    tail = list(data.batches(2, 16, start=2))
    assert len(full) == (5 if combine == "concat" else 3) and len(tail) == len(full) - 2
    for (x, y), (x2, y2) in zip(full[2:], tail, strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)


# --- faults: the write path on a full disk, the recorded digest ------------------------------


def test_write_augmented_records_the_sets_sha256(packed: Path, tmp_path: Path) -> None:
    out = tmp_path / "set1.npy"
    write_augmented(packed, SET1, 0, "set1", out, threads=1)
    assert read_digest(out) == hashlib.sha256(out.read_bytes()).hexdigest()


@pytest.mark.parametrize("fault", ["little free space", "reservation fails"])
def test_write_augmented_on_a_full_disk_is_one_message_and_leaves_nothing(
    packed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    # On a full disk a memory-mapped fill died of SIGBUS ("Bus error", an empty log) and left
    # its hidden temporary array behind.
    if fault == "little free space":
        usage = shutil.disk_usage(tmp_path)._replace(free=1000)
        monkeypatch.setattr(tinycnn.shared.files.shutil, "disk_usage", lambda path: usage)
    else:

        def no_space(fd: int, offset: int, length: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(tinycnn.shared.arrays.os, "posix_fallocate", no_space)
    out = tmp_path / "out" / "set2.npy"
    with pytest.raises(UserError) as err:
        write_augmented(packed, SET2, 0, "set2", out, threads=1)
    message = str(err.value)
    assert f"cannot write {out}: not enough disk space" in message
    assert "it needs 245,888 bytes" in message  # 20 x 64 x 64 x 3 and the header
    assert [p.name for p in out.parent.iterdir()] == []
