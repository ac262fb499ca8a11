"""Output sizes of the augmentation ops, torch-free: the ops (augment_ops) and the config check
(tinycnn.config.checks, at workflow parse time, before torch is imported) compute them with
these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tinycnn.shared.errors import UserError


def crop_size(size: Sequence[int], h: int, w: int) -> tuple[int, int]:
    """center_crop of an h x w image to ``size`` (h, w)."""
    if size[0] > h or size[1] > w:
        raise UserError(f"center_crop: size {list(size)} is larger than the image ({h}x{w})")
    return size[0], size[1]


def resize_size(size: Sequence[int], h: int, w: int) -> tuple[int, int]:
    """resize of an h x w image: ``(edge,)`` sets the smaller edge (torchvision's int), the
    other keeps the aspect ratio; ``(h, w)`` sets both."""
    if len(size) == 2:
        return size[0], size[1]
    edge = size[0]
    long = int(edge * max(h, w) / min(h, w))
    return (edge, long) if h <= w else (long, edge)


def ops_output_size(ops: Sequence[Mapping[str, Any]], h: int, w: int) -> tuple[int, int]:
    """The size a set's ops (as config.yaml writes them) turn an h x w image into."""
    for op in ops:
        size = op.get("size")
        size = [size, size] if isinstance(size, int) else size
        if op.get("op") == "center_crop":
            h, w = crop_size(size, h, w)
        elif op.get("op") == "resize":
            h, w = resize_size(size[:1] if isinstance(op["size"], int) else size, h, w)
        elif op.get("op") == "random_resized_crop":  # its size, whatever the input's
            h, w = size[0], size[1]
    return h, w
