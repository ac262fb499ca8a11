"""Arrays in .npy files, written atomically with their recorded digest (:mod:`.digests`).

:func:`save_npy` writes an array held in memory; :func:`atomic_npy` hands out a memory map to
fill in place (100,000 x 64 x 64 x 3 images without a second copy in memory), its free space
checked and its blocks reserved first.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tinycnn.shared.digests import recorded_path
from tinycnn.shared.files import SPACE_ERRNOS


def npy_size(dtype: Any, shape: tuple[int, ...]) -> int:
    """Bytes of a .npy file holding an array of ``dtype`` and ``shape`` (header included)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header,
        {
            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
            "fortran_order": False,
            "shape": tuple(shape),
        },
    )
    return len(header.getvalue()) + int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Save ``array`` in .npy format (loadable with ``np.load(..., mmap_mode='r')``)."""
    array = np.ascontiguousarray(array)
    with recorded_path(Path(path), array.nbytes + 4096) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def _reserve(path: Path, size: int) -> None:
    """Allocate the blocks of ``path`` now: a memory-mapped write never finds the disk full."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in SPACE_ERRNOS:
            raise
        # The file system cannot preallocate (EOPNOTSUPP, EINVAL): the free-space check stands.
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_npy(
    path: str | os.PathLike[str], dtype: Any, shape: tuple[int, ...]
) -> Iterator[np.memmap]:
    """Yield a writable .npy memory map that appears under ``path`` only when complete.

    Large arrays (100,000 x 64 x 64 x 3) are filled in place without holding a
    second copy in memory. The free space is checked and the file's blocks are
    reserved before the map is handed out.
    """
    size = npy_size(dtype, shape)
    with recorded_path(Path(path), size) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        try:
            _reserve(tmp, os.path.getsize(tmp))
            yield mm
            mm.flush()
        finally:
            del mm
