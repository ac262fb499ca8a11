"""Shared fixtures: a small valid Tiny ImageNet archive built with the layout writer.

``tiny_spec`` holds the writer's inputs (3 classes, 12 training and 4 validation images each,
2 test images; some grayscale and one CMYK image); ``tiny_archive`` is that zip and
``tiny_packed`` its packed folder (both built once per session); ``make_archive`` writes a
variant, e.g. a broken one with ``overrides``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tinycnn.data.pack import pack_archive
from tinycnn.data.tinyimagenet import write_archive

# The training tests' shared fixtures and helpers (tests/training/train_fixtures.py), imported by
# the test modules before pytest loads them as a plugin: their asserts are rewritten all the same.
pytest.register_assert_rewrite("train_fixtures")
pytest.register_assert_rewrite("paper_checks")

# Not sorted: the class order is wnids.txt's order.
WNIDS = ("n01629819", "n01443537", "n01641577")
WORDS = {
    "n01443537": "goldfish, Carassius auratus",
    "n01629819": "European fire salamander, Salamandra salamandra",
    "n01641577": "bullfrog, Rana catesbeiana",
}
EXTRA_WORDS = {"n00001740": "entity", "n00001930": "physical entity"}
TRAIN_PER_CLASS = 12  # numbers up to 11: numeric order differs from the names' sort order
VAL_PER_CLASS = 4
# (class index, image number) of the training images stored in another mode than RGB.
TRAIN_MODES = {(0, 3): "L", (1, 10): "L", (2, 7): "CMYK"}
VAL_MODES = {5: "L"}


def gradient_image(seed: int, mode: str = "RGB", size: int = 64) -> Image.Image:
    """A smooth two-colour gradient with a soft disc, different for every seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / (size - 1)
    cy, cx, r = rng.uniform(0.3, 0.7, 3)
    disc = np.clip((r * 0.6 - np.hypot(y - cy, x - cx)) * 8, 0, 1)
    c0, c1, c2 = rng.uniform(0, 255, (3, 3))
    ramp = x[..., None] * c0 + (1 - x[..., None]) * c1
    pixels = ramp * (1 - disc[..., None]) + c2 * disc[..., None]
    return Image.fromarray(np.rint(pixels).astype(np.uint8)).convert(mode)


@pytest.fixture(scope="session")
def tiny_spec() -> dict[str, Any]:
    """The write_archive arguments of the small valid archive."""
    train = {
        wnid: [
            gradient_image(100 * c + i, TRAIN_MODES.get((c, i), "RGB"))
            for i in range(TRAIN_PER_CLASS)
        ]
        for c, wnid in enumerate(WNIDS)
    }
    val = [
        (gradient_image(1000 + i, VAL_MODES.get(i, "RGB")), WNIDS[i % len(WNIDS)])
        for i in range(VAL_PER_CLASS * len(WNIDS))
    ]
    test = [gradient_image(2000 + i) for i in range(2)]
    return {"words": WORDS, "train": train, "val": val, "test": test, "extra_words": EXTRA_WORDS}


@pytest.fixture(scope="session")
def tiny_archive(tiny_spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny") / "tiny-imagenet-200.zip"
    write_archive(path, **tiny_spec)
    return path


@pytest.fixture(scope="session")
def tiny_packed(tiny_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-packed")
    pack_archive(tiny_archive, out, workers=1)
    return out


@pytest.fixture
def make_archive(tiny_spec: dict[str, Any], tmp_path: Path) -> Callable[..., Path]:
    """``make_archive(overrides=..., **changes)``: the small archive with changes, in tmp_path."""

    def make(overrides: dict[str, bytes | None] | None = None, **changes: Any) -> Path:
        path = tmp_path / "variant.zip"
        write_archive(path, **{**tiny_spec, **changes}, overrides=overrides)
        return path

    return make
