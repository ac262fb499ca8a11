"""Atomic writes: a result appears complete under its final name, or not at all.

A result is written to a temporary ``.<name>.XXXXXXXX.tmp`` beside it and renamed into place.
A writer killed outright (SIGKILL, a "Bus error") leaves its temporary behind; the next write of
the same output removes it first (:func:`remove_stale`), so a rerun frees the space.

A write that fails for lack of space (ENOSPC, EDQUOT, EFBIG) becomes one :class:`UserError`
naming the file and the space it needs, and leaves nothing behind. Large arrays check the free
space before they start and reserve their blocks before they are filled through a memory map.

The digests that files record beside them are :mod:`tinycnn.shared.digests`; arrays written in
place, :mod:`tinycnn.shared.arrays`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tinycnn.shared.errors import UserError

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
