"""The demo archive: reproducible bytes, the committed copy current, Tiny ImageNet layout."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinycnn.data import demo_data
from tinycnn.data import tinyimagenet as ti
from tinycnn.data.demo_data import WNIDS, build_demo_archive
from tinycnn.data.pack import load_packed, pack_archive

COMMITTED = Path(__file__).resolve().parents[2] / "presets" / "demo" / "tiny-imagenet-demo.zip"
N_IMAGES = 1797  # scikit-learn's digits
N_TEST = N_IMAGES - 10 * (demo_data.TRAIN_PER_CLASS + demo_data.VAL_PER_CLASS)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, int]:
    path = tmp_path_factory.mktemp("demo") / "demo.zip"
    return path, *build_demo_archive(path)


@pytest.fixture(scope="module")
def modes() -> dict[str, str]:
    """Mode of every JPEG in the committed archive."""
    with zipfile.ZipFile(COMMITTED) as zf:
        return {n: Image.open(zf.open(n)).mode for n in zf.namelist() if n.endswith(".JPEG")}


def test_build_is_reproducible(
    built: tuple[Path, str, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, digest, size = built
    assert (digest, size) == (md5(path), path.stat().st_size)
    demo_data.main([str(tmp_path / "again.zip")])  # python -m tinycnn.data.demo_data OUT.zip
    assert capsys.readouterr().out == f"md5  {digest}\nsize {size}\n"
    assert (tmp_path / "again.zip").read_bytes() == path.read_bytes()


def test_committed_archive_is_current(built: tuple[Path, str, int]) -> None:
    _, digest, size = built
    committed = md5(COMMITTED)
    assert committed == digest, (
        f"{COMMITTED} (md5 {committed}) is not what build_demo_archive writes now (md5 {digest}, "
        f"{size} bytes): Pillow, libjpeg or scikit-learn probably changed. Regenerate it with "
        "`python -m tinycnn.data.demo_data presets/demo/tiny-imagenet-demo.zip`, put the new md5 "
        "and "
        "size in presets/demo/README.md (and wherever a config pins them), and commit."
    )
    readme = (COMMITTED.parent / "README.md").read_text()
    assert digest in readme and f"{size:,}" in readme, "presets/demo/README.md: update md5, size"


def test_layout_and_naming(modes: dict[str, str]) -> None:
    top = ti.TOP
    with zipfile.ZipFile(COMMITTED) as zf:
        names = set(zf.namelist())
        wnids = zf.read(f"{top}/{ti.WNIDS}").decode().split()
        words = zf.read(f"{top}/{ti.WORDS}").decode().splitlines()
        annotations = zf.read(f"{top}/{ti.VAL_ANNOTATIONS}").decode().splitlines()
    assert wnids == list(WNIDS)
    assert words[0] == "n00000000\tdigit zero" and len(words) > len(WNIDS)
    n_train, n_val = demo_data.TRAIN_PER_CLASS, 10 * demo_data.VAL_PER_CLASS
    expected = {ti.WNIDS, ti.WORDS, ti.VAL_ANNOTATIONS}
    expected |= {ti.train_image(w, i) for w in WNIDS for i in range(n_train)}
    expected |= {ti.boxes_file(w) for w in WNIDS}
    expected |= {ti.val_image(i) for i in range(n_val)} | {ti.test_image(i) for i in range(N_TEST)}
    dirs = {"", "train/", "val/", "test/", ti.VAL_IMAGES_DIR, ti.TEST_IMAGES_DIR}
    dirs |= {f"train/{w}/" for w in WNIDS} | {ti.train_images_dir(w) for w in WNIDS}
    assert names == {f"{top}/{rel}" for rel in expected | dirs}
    assert len(annotations) == n_val
    classes = [line.split("\t")[1] for line in annotations]
    assert {classes.count(w) for w in WNIDS} == {demo_data.VAL_PER_CLASS}
    assert set(modes.values()) == {"RGB", "L"}
    assert list(modes.values()).count("L") == -(-N_IMAGES // demo_data.GRAY_EVERY)


def test_packs_cleanly(modes: dict[str, str], tmp_path: Path) -> None:
    stats = pack_archive(COMMITTED, tmp_path, workers=2)
    labelled = [mode for name, mode in modes.items() if "/test/" not in name]
    assert stats["grayscale"] == labelled.count("L") > 0
    assert (stats["classes"], stats["train"], stats["val"]) == (10, 1400, 300)
    data = load_packed(tmp_path)
    assert np.bincount(data["train_labels"]).tolist() == [demo_data.TRAIN_PER_CLASS] * 10
    assert np.bincount(data["val_labels"]).tolist() == [demo_data.VAL_PER_CLASS] * 10
    assert data["classes"][3] == ("n00000003", "digit three")
