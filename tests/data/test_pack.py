"""Packing: arrays, order, conversion, stats, memory mapping, workers, and every refusal."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile
from small_archive import (
    TRAIN_MODES,
    TRAIN_PER_CLASS,
    VAL_MODES,
    VAL_PER_CLASS,
    WNIDS,
    WORDS,
    gradient_image,
)

from tinycnn.data import pack
from tinycnn.data import tinyimagenet as ti
from tinycnn.data.pack import OUTPUTS, load_packed, pack_archive
from tinycnn.shared.digests import read_digest
from tinycnn.shared.errors import UserError

TOP = ti.TOP


def m(rel: str) -> str:
    """Full member name in the small archive."""
    return ti.member(TOP, rel)


def decode(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    with Image.open(io.BytesIO(zf.read(name))) as image:
        return np.asarray(image.convert("RGB"))


def test_writer_layout(tiny_archive: Path, tiny_spec: dict[str, Any], tmp_path: Path) -> None:
    with zipfile.ZipFile(tiny_archive) as zf:
        names = zf.namelist()
        words = zf.read(m(ti.WORDS)).decode()
        wnids = zf.read(m(ti.WNIDS)).decode()
        boxes = zf.read(m(ti.boxes_file(WNIDS[0]))).decode()
        annotations = zf.read(m(ti.VAL_ANNOTATIONS)).decode()
        modes = {n: Image.open(zf.open(n)).mode for n in names if n.endswith(".JPEG")}
    assert names[:3] == [f"{TOP}/", f"{TOP}/test/", f"{TOP}/test/images/"]
    for wnid in WNIDS:
        assert {f"{TOP}/train/{wnid}/", f"{TOP}/train/{wnid}/images/"} <= set(names)
        assert f"{TOP}/train/{wnid}/images/{wnid}_11.JPEG" in names
        assert f"{TOP}/train/{wnid}/{wnid}_boxes.txt" in names
    assert {f"{TOP}/val/images/val_11.JPEG", f"{TOP}/test/images/test_1.JPEG"} <= set(names)
    assert names[-3:] == [m("val/val_annotations.txt"), m("wnids.txt"), m("words.txt")]
    assert wnids == "".join(f"{w}\n" for w in WNIDS)
    assert words.splitlines()[0] == "n00001740\tentity"  # sorted by wnid, with extra ids
    assert len(words.splitlines()) == 5
    assert boxes.splitlines()[10] == f"{WNIDS[0]}_10.JPEG\t0\t0\t63\t63"
    assert annotations.splitlines()[4] == f"val_4.JPEG\t{WNIDS[1]}\t0\t0\t63\t63"
    assert modes[m(ti.train_image(WNIDS[0], 3))] == "L"  # grayscale JPEG kept grayscale
    assert modes[m(ti.train_image(WNIDS[2], 7))] == "CMYK"
    ti.write_archive(tmp_path / "again.zip", **tiny_spec)
    assert (tmp_path / "again.zip").read_bytes() == tiny_archive.read_bytes()


def test_arrays_labels_and_classes(tiny_archive: Path, tiny_packed: Path) -> None:
    data = load_packed(tiny_packed)
    with zipfile.ZipFile(tiny_archive) as zf:
        train = [decode(zf, m(ti.train_image(w, i))) for w in WNIDS for i in range(12)]
        val = [decode(zf, m(ti.val_image(i))) for i in range(12)]
    assert data["train_images"].shape == (36, 64, 64, 3)
    assert data["train_images"].dtype == np.uint8
    np.testing.assert_array_equal(data["train_images"], np.stack(train))
    np.testing.assert_array_equal(data["val_images"], np.stack(val))
    assert data["train_labels"].dtype == np.int64
    assert data["train_labels"].tolist() == [c for c in range(3) for _ in range(TRAIN_PER_CLASS)]
    assert data["val_labels"].tolist() == [i % 3 for i in range(VAL_PER_CLASS * 3)]
    assert data["classes"] == [(w, WORDS[w]) for w in WNIDS]
    tsv = (tiny_packed / "classes.tsv").read_text().splitlines()
    assert tsv[0] == "index\twnid\twords"
    assert tsv[1] == f"0\t{WNIDS[0]}\t{WORDS[WNIDS[0]]}"


def test_grayscale_converted_and_counted(tiny_packed: Path) -> None:
    data = load_packed(tiny_packed)
    gray_train = [c * TRAIN_PER_CLASS + i for (c, i), mode in TRAIN_MODES.items() if mode == "L"]
    for image in [*data["train_images"][gray_train], *data["val_images"][list(VAL_MODES)]]:
        assert (image == image[..., :1]).all()  # R == G == B
    assert (data["train_images"][1][..., 0] != data["train_images"][1][..., 1]).any()
    stats = data["stats"]
    assert stats["grayscale"] == 3
    assert stats["source_modes"] == {"CMYK": 1, "L": 3, "RGB": 36 + 12 - 4}


def test_stats_match_numpy(tiny_packed: Path) -> None:
    stats = json.loads((tiny_packed / "stats.json").read_text())
    pixels = np.load(tiny_packed / "train_images.npy").astype(np.float64) / 255
    np.testing.assert_allclose(stats["mean"], pixels.mean(axis=(0, 1, 2)), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], pixels.std(axis=(0, 1, 2)), rtol=1e-12)
    assert stats["archive"] == "tiny-imagenet-200.zip"
    assert (stats["classes"], stats["train"], stats["val"]) == (3, 36, 12)


def test_arrays_load_memory_mapped(tiny_packed: Path) -> None:
    data = load_packed(tiny_packed)
    for name in pack.ARRAYS:
        assert isinstance(data[name], np.memmap)
        direct = np.load(tiny_packed / f"{name}.npy", mmap_mode="r")
        assert isinstance(direct, np.memmap) and direct.shape == data[name].shape
    assert sorted(p.name for p in tiny_packed.iterdir()) == sorted(OUTPUTS + pack.DIGESTS)


def test_workers_give_identical_bytes(
    tiny_archive: Path, tiny_packed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pack, "CHUNK", 5)  # many tasks, so both workers get some
    stats = pack_archive(tiny_archive, tmp_path, workers=2)
    for name in OUTPUTS:
        assert (tmp_path / name).read_bytes() == (tiny_packed / name).read_bytes(), name
    assert stats == json.loads((tiny_packed / "stats.json").read_text())


def test_top_folder_is_found(make_archive: Callable[..., Path], tiny_packed: Path) -> None:
    archive = make_archive(top="downloads/tiny")
    out = archive.parent / "out"
    pack_archive(archive, out, workers=1)
    for name in pack.ARRAYS:
        assert (out / f"{name}.npy").read_bytes() == (tiny_packed / f"{name}.npy").read_bytes()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


CLASS, OTHER = WNIDS[1], WNIDS[2]
IMAGE = m(ti.train_image(CLASS, 7))
VAL_ANN = m(ti.VAL_ANNOTATIONS)


def annotations(skip: int | None = None, replace: dict[int, str] | None = None) -> bytes:
    """val_annotations.txt of the small archive without line ``skip``, some lines replaced."""
    lines = {i: f"val_{i}.JPEG\t{WNIDS[i % 3]}\t0\t0\t63\t63" for i in range(12) if i != skip}
    lines |= replace or {}
    return "".join(line + "\n" for _, line in sorted(lines.items())).encode()


# (id, overrides, other write_archive changes, fragments the message must contain)
BROKEN: list[tuple[str, dict[str, bytes | None], dict[str, Any], list[str]]] = [
    (
        "corrupt-jpeg",
        {IMAGE: b"\xff\xd8\xff\xe0 this is not a JPEG"},
        {},
        ["cannot decode", IMAGE, "The archive is damaged: delete it and run the download again"],
    ),
    (
        "truncated-jpeg",
        {IMAGE: ti.encode_jpeg(gradient_image(1))[:-150]},
        {},
        ["cannot decode", IMAGE, "truncated", "damaged"],
    ),
    ("png-not-jpeg", {IMAGE: png(gradient_image(1))}, {}, [IMAGE, "is a PNG image, expected JPEG"]),
    (
        "wrong-size",
        {IMAGE: ti.encode_jpeg(gradient_image(1, size=32))},
        {},
        [IMAGE, "is 32x32, expected 64x64", "Tiny ImageNet-200"],
    ),
    (
        "missing-annotation-line",
        {VAL_ANN: annotations(skip=5)},
        {},
        [f"{m('val/images/val_5.JPEG')} has no line in {VAL_ANN}", "damaged"],
    ),
    (
        "annotation-without-image",
        {m(ti.val_image(2)): None},
        {},
        [f"{VAL_ANN} line 3 annotates val_2.JPEG", f"{m('val/images/val_2.JPEG')} is not in"],
    ),
    (
        "annotation-unknown-class",
        {VAL_ANN: annotations(replace={4: "val_4.JPEG\tn09999999\t0\t0\t63\t63"})},
        {},
        [f"{VAL_ANN} line 5: n09999999 is not a class listed in {m('wnids.txt')}"],
    ),
    (
        "annotation-twice",
        {VAL_ANN: annotations(replace={4: "val_3.JPEG\tn01443537\t0\t0\t63\t63"})},
        {},
        [f"{VAL_ANN} lists val_3.JPEG twice"],
    ),
    (
        "annotation-bad-line",
        {VAL_ANN: annotations(replace={2: "val_2.JPEG\tn01641577\t0\t0\t63"})},
        {},
        [f"{VAL_ANN} line 3 has 5 tab-separated fields, expected 6"],
    ),
    (
        "image-missing-vs-boxes",
        {m(ti.train_image(CLASS, 11)): None},
        {},
        [
            f"class {CLASS}: {m(ti.boxes_file(CLASS))} lists 12 images, "
            f"{m(ti.train_images_dir(CLASS))} holds 11 ({CLASS}_11.JPEG is missing)"
        ],
    ),
    (
        "image-not-in-boxes",
        {m(ti.train_image(CLASS, 12)): ti.encode_jpeg(gradient_image(1))},
        {},
        [f"lists 12 images, {m(ti.train_images_dir(CLASS))} holds 13 ({CLASS}_12.JPEG is not"],
    ),
    (
        "unexpected-image-name",
        {
            m(ti.boxes_file(CLASS)): f"{CLASS}_x.JPEG\t0\t0\t63\t63\n".encode(),
            m(ti.train_images_dir(CLASS) + f"{CLASS}_x.JPEG"): ti.encode_jpeg(gradient_image(1)),
        }
        | {m(ti.train_image(CLASS, i)): None for i in range(12)},
        {},
        [f"{m(ti.train_images_dir(CLASS))}{CLASS}_x.JPEG has an unexpected name"],
    ),
    (
        "wnid-missing-from-words",
        {},
        {"words": {w: WORDS[w] for w in WNIDS if w != OTHER}},
        [f"class {OTHER} (listed in {m('wnids.txt')}) has no entry in {m('words.txt')}"],
    ),
    (
        "class-without-train-folder",
        {m("wnids.txt"): "".join(f"{w}\n" for w in (*WNIDS, "n00001740")).encode()},
        {},
        [f"class n00001740 (listed in {m('wnids.txt')}) has no folder {m('train/n00001740/')}"],
    ),
    (
        "train-folder-not-a-class",
        {m("wnids.txt"): "".join(f"{w}\n" for w in WNIDS[:2]).encode()},
        {},
        [f"{m('train/' + OTHER + '/')} is not a class listed in {m('wnids.txt')}"],
    ),
    (
        "boxes-file-missing",
        {m(ti.boxes_file(CLASS)): None},
        {},
        [f"class {CLASS} has no boxes file {m(ti.boxes_file(CLASS))}"],
    ),
    (
        "wnid-twice",
        {m("wnids.txt"): "".join(f"{w}\n" for w in (*WNIDS, CLASS)).encode()},
        {},
        [f"{m('wnids.txt')} lists {CLASS} twice"],
    ),
    (
        "boxes-twice",
        {m(ti.boxes_file(CLASS)): f"{CLASS}_1.JPEG\t0\t0\t63\t63\n".encode() * 2},
        {},
        [f"{m(ti.boxes_file(CLASS))} lists {CLASS}_1.JPEG twice"],
    ),
    (
        "class-without-images",
        {m(ti.boxes_file(CLASS)): b""} | {m(ti.train_image(CLASS, i)): None for i in range(12)},
        {},
        [f"class {CLASS} has no training images"],
    ),
    (
        "no-val-images",
        {VAL_ANN: b""} | {m(ti.val_image(i)): None for i in range(12)},
        {},
        [f"{VAL_ANN} lists no validation images"],
    ),
    ("no-wnids", {m("wnids.txt"): None}, {}, ["holds no wnids.txt", "Tiny ImageNet-200 layout"]),
    (
        "two-wnids",
        {"other/wnids.txt": b"n01443537\n"},
        {},
        [f"holds several wnids.txt (other/wnids.txt, {m('wnids.txt')})"],
    ),
    ("empty-wnids", {m("wnids.txt"): b"\n"}, {}, [f"{m('wnids.txt')} lists no classes"]),
    (
        "wnids-not-text",
        {m("wnids.txt"): b"\xff\xfe\x00n0"},
        {},
        ["cannot read", f"{m('wnids.txt')}: 'utf-8' codec can't decode"],
    ),
    ("no-words", {m("words.txt"): None}, {}, [f"holds no {m('words.txt')}"]),
    ("no-annotations", {VAL_ANN: None}, {}, [f"holds no {VAL_ANN}"]),
]


@pytest.mark.parametrize(
    ("overrides", "changes", "fragments"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_archive_is_refused(
    make_archive: Callable[..., Path],
    tiny_packed: Path,
    tmp_path: Path,
    overrides: dict[str, bytes | None],
    changes: dict[str, Any],
    fragments: list[str],
) -> None:
    archive = make_archive(overrides, **changes)
    out = tmp_path / "out"
    shutil.copytree(tiny_packed, out)  # a previous pack must not survive a failed one
    with pytest.raises(UserError) as error:
        pack_archive(archive, out, workers=1)
    message = str(error.value)
    assert str(archive) in message
    for fragment in fragments:
        assert fragment in message
    assert list(out.iterdir()) == []


def test_truncated_jpeg_refused_even_if_pil_was_told_to_accept_it(
    make_archive: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # WeasyPrint sets this on import; a process that rendered a report must still pack safely.
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    archive = make_archive({IMAGE: ti.encode_jpeg(gradient_image(1))[:-150]})
    with pytest.raises(UserError, match=f"cannot decode {archive}: {IMAGE}: .*truncated"):
        pack_archive(archive, tmp_path / "out", workers=1)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_corrupt_jpeg_refused_across_processes(
    make_archive: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pack, "CHUNK", 5)
    archive = make_archive({IMAGE: b"garbage"})
    with pytest.raises(UserError, match=f"cannot decode {archive}: {IMAGE}: .*damaged"):
        pack_archive(archive, tmp_path / "out", workers=2)
    assert list((tmp_path / "out").iterdir()) == []


def test_truncated_zip_refused(tiny_archive: Path, tmp_path: Path) -> None:
    archive = tmp_path / "tiny-imagenet-200.zip"
    archive.write_bytes(tiny_archive.read_bytes()[: tiny_archive.stat().st_size // 2])
    with pytest.raises(UserError) as error:
        pack_archive(archive, tmp_path / "out")
    assert f"{archive} is not a complete zip archive (truncated download?)" in str(error.value)
    assert "delete it and run the download again" in str(error.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_flipped_byte_is_refused(tiny_archive: Path, tmp_path: Path) -> None:
    data = bytearray(tiny_archive.read_bytes())
    with zipfile.ZipFile(tiny_archive) as zf:
        info = zf.getinfo(IMAGE)
    data[info.header_offset + 30 + len(IMAGE) + 200] ^= 0xFF  # inside the JPEG's bytes
    archive = tmp_path / "flipped.zip"
    archive.write_bytes(bytes(data))
    with pytest.raises(UserError, match=f"cannot read {archive}: {IMAGE}: Bad CRC-32"):
        pack_archive(archive, tmp_path / "out", workers=1)


def test_missing_archive_and_bad_arguments(
    tiny_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UserError, match="not found: run the download first"):
        pack_archive(tmp_path / "nope.zip", tmp_path / "out")
    with pytest.raises(UserError, match="workers must be at least 1"):
        pack_archive(tiny_archive, tmp_path / "out", workers=0)
    monkeypatch.setattr(pack.shutil, "disk_usage", lambda _: SimpleNamespace(free=10))
    with pytest.raises(UserError, match=r"not enough space in .*needs 1 MB, 0 MB free"):
        pack_archive(tiny_archive, tmp_path / "out")
    with pytest.raises(UserError, match="no complete packed dataset: run `tinycnn pack` first"):
        load_packed(tmp_path / "out")


# --- faults: kills, stale temporaries, damaged arrays, recorded digests -----------------------


def test_packed_arrays_record_their_sha256(tiny_packed: Path) -> None:
    for name in pack.ARRAYS:
        path = tiny_packed / f"{name}.npy"
        assert read_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_killed_packs_temporaries_do_not_survive_the_rerun(
    tiny_archive: Path, tiny_packed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stale = []
    for name in ("train_images.npy", "val_images.npy", "stats.json"):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out)
        os.write(fd, b"\0" * 4096)
        os.close(fd)
        stale.append(tmp)
    pack_archive(tiny_archive, out, workers=1)
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS + pack.DIGESTS)


def test_sigterm_during_pack_leaves_nothing(
    tiny_archive: Path, tiny_packed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiny_packed, out)

    def terminated(*args: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        pytest.fail("SIGTERM was not handled")

    monkeypatch.setattr(pack, "_decode_all", terminated)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stop:
        pack_archive(tiny_archive, out, workers=1)
    assert stop.value.code == 128 + signal.SIGTERM
    assert list(out.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before


WORKER_PARENT = """
import multiprocessing, os, sys, time
from concurrent.futures import ProcessPoolExecutor
from tinycnn.data import pack

archive, images, labels = sys.argv[1:]
context = multiprocessing.get_context("spawn")
outputs = {"train": images, "val": labels}
with ProcessPoolExecutor(1, context, pack._init_worker, (archive, outputs, os.getpid())) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_decoding_workers_die_with_a_killed_pack(tiny_archive: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "images.npy", np.zeros((2, 2), np.uint8))
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WORKER_PARENT,
            str(tiny_archive),
            *(2 * [str(tmp_path / "images.npy")]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        worker = int(parent.stdout.readline())
        assert _alive(worker)
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(worker), "the pool worker outlived its killed parent"
    finally:
        parent.kill()
        parent.wait()


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_a_damaged_packed_array_names_the_file_and_the_step(
    tiny_packed: Path, tmp_path: Path, damage: str
) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiny_packed, out)
    path = out / "train_images.npy"
    data = path.read_bytes()
    path.write_bytes(
        {"truncated": data[: len(data) // 2], "empty": b"", "garbage": b"x" * 500}[damage]
    )
    with pytest.raises(UserError) as err:
        load_packed(out)
    message = str(err.value)
    assert str(path) in message and "damaged" in message and "`pack`" in message
    with pytest.raises(UserError, match=r"set1\.npy is damaged.*`augment`"):
        path.rename(out / "set1.npy")
        pack.open_array(out / "set1.npy", "augment")
    with pytest.raises(UserError, match=r"nope\.npy is missing"):
        pack.open_array(out / "nope.npy")
