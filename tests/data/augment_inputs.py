"""The augmentation tests' inputs and comparisons (test_augment_*.py).

Test images are sklearn's handwritten digits upscaled to 64x64, one digit a channel, so that
channels differ and no image is symmetric (a flip or a rotation the wrong way would show);
SET1 and SET2 are the paper's sets, CROP a random resized crop's; torchvision's op applied
image by image, and the difference in grey levels, compare an op with torchvision.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from sklearn.datasets import load_digits
from torchvision.transforms import InterpolationMode

from tinycnn.data.augment_ops import RandomResizedCrop

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


def resized_crops(op: RandomResizedCrop, x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """torchvision's resized_crop of each image with its box (uint8 in: its CPU uint8 kernel)."""
    mode = InterpolationMode(op.interpolation)
    return per_sample(
        lambda img, box: TF.resized_crop(img, *box, list(op.size), mode, op.antialias), x, boxes
    )
