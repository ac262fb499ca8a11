"""Which code made a result: the git commit and a hash of the package's source files.

A run records both in its summary (``code``), so that a record kept in the repository
(``reference/``) names the code that trained it. The hash is the truth where the commit may
not be: a working tree copied to another machine can carry a stale ``.git``, so a caller that
knows the commit better passes it in ``TINYCNN_COMMIT`` (``tinycnn reference run --commit``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import tinycnn

PACKAGE = Path(tinycnn.__file__).resolve().parent  # the whole package, not this folder
UNKNOWN = "unknown"
COMMIT_ENV = "TINYCNN_COMMIT"


def source_sha256(package: Path = PACKAGE) -> str:
    """SHA-256 of the package's Python files: each relative path, then its bytes, sorted."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def git(folder: Path, *args: str) -> str | None:
    """Output of ``git args`` in ``folder``; None without git or outside a repository."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_commit(folder: Path = PACKAGE) -> str:
    """``TINYCNN_COMMIT`` when set, else ``git rev-parse HEAD`` in ``folder``, else "unknown"."""
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    return (git(folder, "rev-parse", "HEAD") or "").strip() or UNKNOWN


def code_identity() -> dict[str, str]:
    """``commit`` and ``source_sha256``, as a run's summary records them."""
    return {"commit": git_commit(), "source_sha256": source_sha256()}
