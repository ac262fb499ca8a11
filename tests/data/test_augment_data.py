"""Augmented data: sets materialized once (one seeded draw, the recorded digest, a full disk),
previews, and the training data fixed and online, mid-epoch starts included."""

from __future__ import annotations

import errno
import hashlib
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from augment_inputs import CROP, SET1, SET2, digit_images, gen, grey_levels, resized_crops
from PIL import Image

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
from tinycnn.data.augment_ops import RandomHorizontalFlip, RandomResizedCrop
from tinycnn.shared.digests import read_digest
from tinycnn.shared.errors import UserError

# One torch thread (conftest.py): the ops are deterministic at any count.
pytestmark = pytest.mark.usefixtures("one_thread")


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
