"""A small offline stand-in for Tiny ImageNet, built from scikit-learn's handwritten digits.

scikit-learn bundles the UCI optdigits test set (1,797 images, 8x8, values 0..16). Each digit
is upscaled to 64x64 (bicubic) and painted with a foreground and background colour drawn per
image from a seeded generator; every 7th image stays grayscale on purpose, like the grayscale
JPEGs in the real archive. Classes get clearly fake ids ``n00000000``..``n00000009``. The zip
has exactly the Tiny ImageNet-200 layout (see :mod:`tinycnn.data.tinyimagenet`), and the same
library versions always give the same bytes.

Usage: ``python -m tinycnn.data.demo_data OUT.zip`` prints the archive's md5 and size.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from tinycnn.data.tinyimagenet import IMAGE_SIZE, write_archive

SEED = 20220101
TRAIN_PER_CLASS = 140  # the smallest class has 174 images
VAL_PER_CLASS = 30  # the rest (97 images) become the unlabeled test split
GRAY_EVERY = 7  # images 0, 7, 14... of the data set stay grayscale
NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
WNIDS = tuple(f"n{digit:08d}" for digit in range(10))
WORDS = {wnid: f"digit {name}" for wnid, name in zip(WNIDS, NAMES, strict=True)}
# Like the real words.txt, which covers all of ImageNet, list some ids that are not classes.
EXTRA_WORDS = {
    "n00000100": "numeral, digit, figure (not a class here)",
    "n00000101": "handwriting, hand, script (not a class here)",
    "n00000102": "symbol (not a class here)",
}


def render(pixels: np.ndarray, fg: np.ndarray, bg: np.ndarray, gray: bool) -> Image.Image:
    """One 8x8 digit (0..16) as a 64x64 image: ``fg`` ink on ``bg`` (RGB 0..255), or "L"."""
    small = Image.fromarray(np.rint(pixels * (255 / 16)).astype(np.uint8))
    ink = np.asarray(small.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)) / 255
    if gray:
        fg, bg = fg.mean(keepdims=True), bg.mean(keepdims=True)
    pixels64 = bg + (fg - bg) * ink[..., None]
    image = np.rint(pixels64).astype(np.uint8)
    return Image.fromarray(image[..., 0]) if gray else Image.fromarray(image)


def demo_images() -> tuple[list[Image.Image], np.ndarray]:
    """All digits rendered, in data set order, and their labels."""
    digits = load_digits()
    rng = np.random.default_rng(SEED)
    n = len(digits.images)
    bright = rng.integers(150, 256, size=(n, 3))
    dark = rng.integers(0, 100, size=(n, 3))
    dark_ink = rng.random(n) < 0.5
    images = []
    for i, pixels in enumerate(digits.images):
        fg, bg = (dark[i], bright[i]) if dark_ink[i] else (bright[i], dark[i])
        images.append(render(pixels, fg.astype(float), bg.astype(float), i % GRAY_EVERY == 0))
    return images, digits.target


def build_demo_archive(path: Path) -> tuple[str, int]:
    """Write the demo archive to ``path``; return its md5 (hex) and size in bytes."""
    images, labels = demo_images()
    rng = np.random.default_rng(SEED + 1)
    train, val, test = {}, [], []
    for digit, wnid in enumerate(WNIDS):
        order = rng.permutation(np.flatnonzero(labels == digit))
        train[wnid] = [images[i] for i in order[:TRAIN_PER_CLASS]]
        val += [(images[i], wnid) for i in order[TRAIN_PER_CLASS : TRAIN_PER_CLASS + VAL_PER_CLASS]]
        test += [images[i] for i in order[TRAIN_PER_CLASS + VAL_PER_CLASS :]]
    val = [val[i] for i in rng.permutation(len(val))]
    test = [test[i] for i in rng.permutation(len(test))]
    write_archive(path, words=WORDS, train=train, val=val, test=test, extra_words=EXTRA_WORDS)
    data = Path(path).read_bytes()
    return hashlib.md5(data).hexdigest(), len(data)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the zip to write")
    args = parser.parse_args(argv)
    md5, size = build_demo_archive(args.out)
    print(f"md5  {md5}\nsize {size}")


if __name__ == "__main__":
    main()
