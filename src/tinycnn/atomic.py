"""Atomic writes: a result appears complete under its final name, or not at all.

A result is written to a temporary ``.<name>.XXXXXXXX.tmp`` beside it and renamed into place.
A writer killed outright (SIGKILL, a "Bus error") leaves its temporary behind; the next write of
the same output removes it first (:func:`remove_stale`), so a rerun frees the space.

A write that fails for lack of space (ENOSPC, EDQUOT, EFBIG) becomes one :class:`UserError`
naming the file and the space it needs, and leaves nothing behind. Large arrays check the free
space before they start and reserve their blocks before they are filled through a memory map.

Arrays (:func:`save_npy`, :func:`atomic_npy`) record their SHA-256 in ``<file>.sha256`` (one
line, the hex digest), written once the array is in place; :func:`read_digest` reads it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tinycnn.errors import UserError

# Errors that mean "no room": a full disk, an exhausted quota, a file larger than allowed.
SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
DIGEST_SUFFIX = ".sha256"
HASH_CHUNK = 1 << 24
# tempfile's random part: 8 characters of this alphabet (tempfile._RandomNameSequence).
_RANDOM = "[a-z0-9_]{8}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _size(n: int) -> str:
    if n >= 10**9:
        return f"{n / 1e9:,.1f} GB"
    if n >= 10**6:
        return f"{n / 1e6:,.1f} MB"
    return f"{n:,} bytes"


def stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """The temporaries of ``path`` that earlier (killed) writers left beside it."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{_RANDOM}\.tmp")
    try:
        names = os.listdir(path.parent)
    except FileNotFoundError:
        return []
    return [path.parent / name for name in sorted(names) if pattern.fullmatch(name)]


def remove_stale(path: str | os.PathLike[str]) -> None:
    """Remove what killed writers of ``path`` left (each output has one writer at a time)."""
    for tmp in stale_temporaries(path):
        tmp.unlink(missing_ok=True)


def _free(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def _no_space(path: Path, needed: int | None, reason: str) -> UserError:
    free = _free(path.parent)
    need = f"it needs {_size(needed)}" if needed is not None else "it needs more"
    return UserError(
        f"cannot write {path}: not enough disk space ({reason}); {need}, {_size(free)} free "
        f"in {path.parent}. Free some space (or move the results to a larger disk) and run "
        "again; nothing was left behind."
    )


def check_space(path: str | os.PathLike[str], needed: int) -> None:
    """Raise :class:`UserError` unless ``needed`` bytes are free where ``path`` goes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if _free(path.parent) < needed:
        raise _no_space(path, needed, "the disk is too full")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place on success.

    The temporary file lives in the same directory (same file system), so the
    final ``os.replace`` is atomic. On any exception the temporary is removed
    and ``path`` is left untouched. Temporaries of ``path`` left by killed
    writers are removed first. ``size`` (bytes, when known) is checked against
    the free space before anything is written; a write that fails for lack of
    space raises one :class:`UserError` naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(path)
    if size is not None:
        check_space(path, size)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp_path = Path(tmp)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; results get the usual mode
        os.close(fd)
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        if exc.errno in SPACE_ERRNOS:
            raise _no_space(path, size, exc.strerror or str(exc)) from exc
        raise
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path, size=len(data)) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


# --- arrays and their recorded digests -------------------------------------------------------


def digest_path(path: str | os.PathLike[str]) -> Path:
    """The sidecar that records the SHA-256 of ``path``: ``<path>.sha256``."""
    path = Path(path)
    return path.with_name(path.name + DIGEST_SUFFIX)


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def content_id(path: str | os.PathLike[str]) -> str:
    """``sha256:<hex>`` of ``path``: the digest recorded when it was written
    (:func:`read_digest`) where that still describes it, else its hash."""
    return "sha256:" + (read_digest(path) or sha256_file(path))


def read_digest(path: str | os.PathLike[str]) -> str | None:
    """The SHA-256 (64 lowercase hex digits) recorded when ``path`` was written, or None.

    None when there is no sidecar ``<path>.sha256``, or when ``path`` was modified after the
    sidecar was written (the record no longer describes it). A sidecar that does not hold a
    digest raises :class:`UserError`.
    """
    path, sidecar = Path(path), digest_path(path)
    try:
        text = sidecar.read_text(encoding="ascii", errors="replace")
        recorded = sidecar.stat().st_mtime_ns
        written = path.stat().st_mtime_ns
    except FileNotFoundError:
        return None
    if written > recorded:
        return None
    value = text.strip()
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise UserError(
            f"{sidecar} does not hold a SHA-256 digest: delete {path} and {sidecar} and rerun "
            "the step that writes them."
        )
    return value


def recorded_mismatch(path: str | os.PathLike[str]) -> str | None:
    """Whether ``path`` still holds what its sidecar ``<path>.sha256`` recorded when it was
    written, whatever its time stamps say: None when it does (or when no sidecar was written),
    else the SHA-256 it holds now. Reads the whole file."""
    sidecar = digest_path(path)
    try:
        recorded = sidecar.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return None
    actual = sha256_file(path)
    return None if actual == recorded else actual


@contextlib.contextmanager
def _recorded(path: Path, size: int) -> Iterator[Path]:
    """``atomic_path`` that also records the file's SHA-256 once it is in place.

    The old record goes first, so that a record, when present, always describes the file.
    """
    sidecar = digest_path(path)
    sidecar.unlink(missing_ok=True)
    with atomic_path(path, size=size) as tmp:
        yield tmp
        digest = sha256_file(tmp)
    write_text(sidecar, digest + "\n")


def write_bytes_recorded(path: str | os.PathLike[str], data: bytes) -> None:
    """:func:`write_bytes`, and its SHA-256 in the sidecar ``<path>.sha256``
    (:func:`recorded_mismatch` checks a file against it)."""
    with _recorded(Path(path), len(data)) as tmp:
        tmp.write_bytes(data)


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
    with _recorded(Path(path), array.nbytes + 4096) as tmp, open(tmp, "wb") as fh:
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
    with _recorded(Path(path), size) as tmp:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        try:
            _reserve(tmp, os.path.getsize(tmp))
            yield mm
            mm.flush()
        finally:
            del mm
