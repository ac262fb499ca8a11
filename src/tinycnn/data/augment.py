"""Augmentation sets for training: materialized once (mode ``fixed``) or drawn anew (``online``).

``write_augmented`` materializes one set over the packed training images, ``write_preview`` draws
its preview grid (a job of its own, so a preview's size never reruns a set);
``FixedTrainData`` serves the materialized sets, ``OnlineTrainData`` draws every epoch
anew on the training device. Both show the sets concatenated: sample ``k * N + i`` is training
image i through set k. The ops themselves are in ``tinycnn.data.augment_ops``.

Random streams, each a CPU ``torch.Generator`` seeded with ``stream_seed(seed, *parts)``, a
zlib.crc32 of the parts joined by "/" (stable across runs, machines and Python versions):
``(seed, set)`` materializes a set, ``(seed, set, "preview")`` draws its preview grid,
``(seed, set, "epoch", e)`` draws online epoch e and ``(seed, "order", e)`` shuffles epoch e.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from tinycnn.config.merge import COMBINE_DEFAULT
from tinycnn.data.augment_ops import Param, Pipeline, normalize, parse_set
from tinycnn.shared.arrays import atomic_npy, npy_size
from tinycnn.shared.errors import UserError
from tinycnn.shared.files import atomic_path, check_space

__all__ = [
    "FixedTrainData",
    "OnlineTrainData",
    "Pipeline",
    "normalize",
    "parse_set",
    "preview_grid",
    "stream_seed",
    "write_augmented",
    "write_preview",
]


def stream_seed(seed: int, *parts: str | int) -> int:
    """Stable 32-bit seed of one random stream: ``zlib.crc32("seed/part/...")``."""
    return zlib.crc32("/".join(str(p) for p in (seed, *parts)).encode())


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def _take(params: Sequence[Param], index: torch.Tensor | slice) -> list[Param]:
    return [None if p is None else p[index] for p in params]


# --- materialization (mode `fixed`) and preview ----------------------------------------------


def _augment_nhwc(pipeline: Pipeline, images: np.ndarray, params: Sequence[Param]) -> np.ndarray:
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2)
    return pipeline.apply(x, params).permute(0, 2, 3, 1).numpy()


def _load_train_images(path: str | os.PathLike[str]) -> np.ndarray:
    try:
        images = np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise UserError(
            f"{path}: no packed training images here; run the pack step first"
        ) from None
    except ValueError as e:
        raise UserError(f"{path}: not a .npy array ({e}); pack the data again") from None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise UserError(
            f"{path}: expected packed uint8 images (N, H, W, 3), "
            f"got {images.dtype} {images.shape}; pack the data again"
        )
    return images


def preview_grid(
    images: np.ndarray, pipeline: Pipeline, seed: int, *, rows: int, draws: int, scale: int = 2
) -> np.ndarray:
    """An (H, W, 3) uint8 grid: ``rows`` evenly spaced images, the original then ``draws`` draws.

    Tiles are upscaled ``scale`` times (nearest) on white with 4-pixel gaps.
    """
    index = np.unique(np.linspace(0, len(images) - 1, rows).round().astype(int))
    originals = np.array(images[index])
    params = pipeline.draw(
        len(index) * draws,
        _generator(stream_seed(seed, pipeline.name, "preview")),
        size=originals.shape[1:3],
    )
    augmented = _augment_nhwc(pipeline, np.repeat(originals, draws, axis=0), params)
    tiles = [[originals[r], *augmented[r * draws : (r + 1) * draws]] for r in range(len(index))]
    gap = 4
    cell_h = max(t.shape[0] for row in tiles for t in row) * scale
    cell_w = max(t.shape[1] for row in tiles for t in row) * scale
    grid = np.full(
        (gap + len(tiles) * (cell_h + gap), gap + (draws + 1) * (cell_w + gap), 3), 255, np.uint8
    )
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            tile = tile.repeat(scale, axis=0).repeat(scale, axis=1)
            top = gap + r * (cell_h + gap) + (cell_h - tile.shape[0]) // 2
            left = gap + c * (cell_w + gap) + (cell_w - tile.shape[1]) // 2
            grid[top : top + tile.shape[0], left : left + tile.shape[1]] = tile
    return grid


def write_preview(
    images_path: str | os.PathLike[str],
    ops: Sequence[Mapping[str, Any]],
    seed: int,
    set_name: str,
    preview_path: str | os.PathLike[str],
    *,
    rows: int = 8,
    draws: int = 6,
) -> None:
    """Draw set ``set_name``'s preview grid (``preview_grid``) to a PNG, atomically.

    Its own stream, ``(seed, set_name, "preview")``: the grid never depends on, and never changes,
    the materialized set."""
    pipeline = parse_set(set_name, ops)
    images = _load_train_images(images_path)
    grid = preview_grid(images, pipeline, seed, rows=rows, draws=draws)
    with atomic_path(preview_path) as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")


def write_augmented(
    images_path: str | os.PathLike[str],
    ops: Sequence[Mapping[str, Any]],
    seed: int,
    set_name: str,
    out_path: str | os.PathLike[str],
    *,
    batch_size: int = 256,
    threads: int = 2,
) -> None:
    """Materialize set ``set_name`` once over the packed training images.

    One draw per image from stream ``(seed, set_name)``; writes a uint8 (N, H, W, 3) .npy to
    ``out_path`` atomically, and the array's SHA-256 to ``<out_path>.sha256``. Too little free
    space for the array is refused before anything is written.
    """
    pipeline = parse_set(set_name, ops)
    images = _load_train_images(images_path)
    n, h, w, _ = images.shape
    out_h, out_w = pipeline.out_size(h, w)
    # Before any work: a full disk is one message naming the file, never a "Bus error".
    check_space(out_path, npy_size(np.uint8, (n, out_h, out_w, 3)))
    torch.set_num_threads(threads)
    params = pipeline.draw(n, _generator(stream_seed(seed, set_name)), size=(h, w))
    with atomic_npy(out_path, np.uint8, (n, out_h, out_w, 3)) as out:
        for start in range(0, n, batch_size):
            batch = slice(start, min(start + batch_size, n))
            out[batch] = _augment_nhwc(pipeline, images[batch], _take(params, batch))


# --- training data ---------------------------------------------------------------------------


def _order(seed: int, epoch: int, n: int, shuffle: bool) -> torch.Tensor:
    if shuffle:
        return torch.randperm(n, generator=_generator(stream_seed(seed, "order", epoch)))
    return torch.arange(n)


# How the sets make up an epoch (a run's `augmentation.combine`): every image through every set
# (k·N samples, the default, tinycnn.config.merge.COMBINE_DEFAULT), or through one set drawn per
# image and epoch (N).
COMBINE = (COMBINE_DEFAULT, "random_per_image")


def _check_combine(combine: str) -> None:
    if combine not in COMBINE:
        raise UserError(f"augmentation.combine: unknown {combine!r} (known: {', '.join(COMBINE)})")


def _samples(seed: int, epoch: int, n: int, k: int, combine: str, shuffle: bool) -> torch.Tensor:
    """The epoch's samples, in order, as indices ``set * n + image`` into the k·N view.

    concat: all k·N, shuffled from (seed, epoch). random_per_image: each of the N images once,
    through the set drawn for it from stream (seed, "combine", epoch), in the image order of
    (seed, epoch)."""
    _check_combine(combine)
    if combine == "concat":
        return _order(seed, epoch, k * n, shuffle)
    order = _order(seed, epoch, n, shuffle)
    sets = torch.randint(k, (n,), generator=_generator(stream_seed(seed, "combine", epoch)))
    return sets[order] * n + order


def split_samples(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(kept, held out): ``n`` samples split at random (stream (seed, "validation split")),
    ``round(fraction * n)`` of them held out (at least one), each part in ascending order."""
    order = torch.randperm(n, generator=_generator(stream_seed(seed, "validation split")))
    held = max(1, round(fraction * n))
    return order[held:].sort().values, order[:held].sort().values


class FixedTrainData:
    """Mode ``fixed``: materialized sets (uint8 N, H, W, 3 each) concatenated, on ``device``.

    ``labels`` are the N training labels; sample ``k * N + i`` is image i through set k.
    ``combine`` (:data:`COMBINE`) says which samples make up an epoch; ``samples`` (concat
    only) keeps only those samples of the k·N view (the rest held out for validation).
    """

    def __init__(
        self,
        arrays: Sequence[np.ndarray],
        labels: np.ndarray,
        *,
        seed: int,
        device: torch.device | str = "cpu",
        combine: str = COMBINE_DEFAULT,
        samples: torch.Tensor | None = None,
    ) -> None:
        if samples is not None and combine != "concat":
            raise UserError("a held-out validation split needs augmentation.combine concat")
        if len({a.shape for a in arrays}) != 1 or arrays[0].shape[0] != len(labels):
            raise UserError(
                f"augmented sets differ in shape or from the {len(labels)} labels: "
                f"{[a.shape for a in arrays]}; use sets with the same output size"
            )
        self.images = torch.from_numpy(np.concatenate(arrays)).to(device)  # (2N, H, W, C)
        self.labels = torch.from_numpy(np.tile(labels, len(arrays))).long().to(device)
        self.seed, self.sets, self.combine = seed, len(arrays), combine
        self.kept = None if samples is None else torch.as_tensor(samples).long()
        _check_combine(combine)

    def __len__(self) -> int:
        if self.kept is not None:
            return len(self.kept)
        n = len(self.labels)
        return n if self.combine == "concat" else n // self.sets

    def batches(
        self, epoch: int, batch_size: int, *, shuffle: bool = True, start: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (uint8 (B, C, H, W), int64 labels) on the device; order from (seed, epoch).

        ``start`` skips the epoch's first batches (a run resumed mid-epoch)."""
        n = len(self.labels) // self.sets
        if self.kept is not None:
            samples = self.kept[_order(self.seed, epoch, len(self.kept), shuffle)]
        else:
            samples = _samples(self.seed, epoch, n, self.sets, self.combine, shuffle)
        for index in samples.split(batch_size)[start:]:
            index = index.to(self.images.device)
            yield self.images[index].permute(0, 3, 1, 2), self.labels[index]


class OnlineTrainData:
    """Mode ``online``: the N training images through every pipeline, drawn anew each epoch.

    Same view as ``FixedTrainData``: sample ``k * N + i`` is image i through pipeline k; the
    draws of epoch e come from stream ``(seed, pipeline.name, "epoch", e)``; the ops run on
    ``device``, batch by batch. ``combine`` (:data:`COMBINE`) says which samples make up an
    epoch.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        pipelines: Sequence[Pipeline],
        *,
        seed: int,
        device: torch.device | str = "cpu",
        combine: str = COMBINE_DEFAULT,
    ) -> None:
        n, h, w, c = images.shape
        sizes = {p.out_size(h, w) for p in pipelines}
        if len(sizes) != 1 or n != len(labels):
            raise UserError(
                f"augmentation sets {[p.name for p in pipelines]} give image sizes {sorted(sizes)} "
                f"for {n} images and {len(labels)} labels; use sets with the same output size"
            )
        self.images = torch.from_numpy(np.array(images)).to(device)  # (N, H, W, C)
        self.labels = torch.from_numpy(np.array(labels)).long().to(device)
        self.pipelines = tuple(pipelines)
        self.out_shape = (c, *sizes.pop())
        self.seed, self.combine = seed, combine
        _check_combine(combine)

    def __len__(self) -> int:
        n = len(self.labels)
        return len(self.pipelines) * n if self.combine == "concat" else n

    def batches(
        self, epoch: int, batch_size: int, *, shuffle: bool = True, start: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (uint8 (B, C, H, W), int64 labels) on the device; draws from (seed, epoch).

        ``start`` skips the epoch's first batches without augmenting them."""
        n, device = len(self.labels), self.images.device
        size = self.images.shape[1:3]
        params = [
            p.draw(n, _generator(stream_seed(self.seed, p.name, "epoch", epoch)), size=size)
            for p in self.pipelines
        ]
        samples = _samples(self.seed, epoch, n, len(self.pipelines), self.combine, shuffle)
        for index in samples.split(batch_size)[start:]:
            which, image = index // n, index % n
            out = torch.empty((len(index), *self.out_shape), dtype=torch.uint8, device=device)
            for k, pipeline in enumerate(self.pipelines):
                rows = (which == k).nonzero().squeeze(1)
                if len(rows):
                    x = self.images[image[rows].to(device)].permute(0, 3, 1, 2)
                    out[rows.to(device)] = pipeline.apply(x, _take(params[k], image[rows]))
            yield out, self.labels[image.to(device)]
