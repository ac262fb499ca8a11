"""Recorded digests: a file's SHA-256, written beside it in ``<file>.sha256`` when it is written.

A sidecar holds one line, the hex digest, written once the file is in place (the old one goes
first, so that a sidecar, when present, always describes its file). :func:`read_digest` trusts it
while the file is not newer; :func:`recorded_mismatch` rehashes the file to check it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from tinycnn.shared.errors import UserError
from tinycnn.shared.files import atomic_path, write_text

DIGEST_SUFFIX = ".sha256"
HASH_CHUNK = 1 << 24


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
def recorded_path(path: Path, size: int) -> Iterator[Path]:
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
    with recorded_path(Path(path), len(data)) as tmp:
        tmp.write_bytes(data)
