"""The data tests' shared fixtures.

- A small valid Tiny ImageNet archive built with the layout writer (test_pack.py):
  ``tiny_spec`` holds the writer's inputs (small_archive.py: 3 classes, 12 training and 4
  validation images each, 2 test images; some grayscale and one CMYK image); ``tiny_archive`` is
  that zip and ``tiny_packed`` its packed folder (both built once per session); ``make_archive``
  writes a variant, e.g. a broken one with ``overrides``.
- ``one_thread`` and ``images`` (digit images) for the augmentation tests (test_augment_*.py,
  which use ``one_thread`` through their ``pytestmark``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from augment_inputs import digit_images
from small_archive import (
    EXTRA_WORDS,
    TRAIN_MODES,
    TRAIN_PER_CLASS,
    VAL_MODES,
    VAL_PER_CLASS,
    WNIDS,
    WORDS,
    gradient_image,
)

from tinycnn.data.pack import pack_archive
from tinycnn.data.tinyimagenet import write_archive


@pytest.fixture(scope="module")
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
