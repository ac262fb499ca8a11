"""A records file: the runs one sitting trained, as the runner writes them (a ``.tar.gz``: a
manifest and, per run, metrics.csv, summary.json, settings.json and train.log; what the paper
shows of the data). It comes from another machine: reading it trusts nothing."""

from __future__ import annotations

import io
import json
import re
import tarfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tinycnn.shared.errors import UserError
from tinycnn.shared.files import write_bytes

RUN_FILES = ("metrics.csv", "summary.json", "settings.json", "train.log")
DATA_FILES = ("stats.json", "classes.tsv")
PACKED_ARRAYS = ("train_images.npy", "train_labels.npy", "val_images.npy", "val_labels.npy")


# A records file comes from another machine: only these members are read, each within its
# size limit (bytes); any other member (a path outside these, a link, a device, a folder, a
# second copy) refuses the whole file before anything is read.
MEMBER_LIMITS = {
    "manifest.json": 4 << 20,
    "metrics.csv": 1 << 20,
    "summary.json": 1 << 20,
    "settings.json": 1 << 20,
    "train.log": 16 << 20,
    "stats.json": 1 << 20,
    "classes.tsv": 1 << 20,
    "preview.png": 8 << 20,
}
MAX_MEMBERS = 4096  # 63 runs of 4 files and a few data files leave room
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,119}")


def member_limit(name: str) -> int | None:
    """The size limit of an expected member ``name``; None for a name a records file never
    holds: ``manifest.json``, ``data/<stats.json|classes.tsv|SET_preview.png>``,
    ``runs/EXPERIMENT/seedN/<RUN_FILES>``, with plain names (no ``..``, no slashes inside)."""
    parts = name.split("/")
    if name == "manifest.json":
        return MEMBER_LIMITS[name]
    if len(parts) == 2 and parts[0] == "data":
        if parts[1] in DATA_FILES:
            return MEMBER_LIMITS[parts[1]]
        stem = parts[1].removesuffix("_preview.png")
        if stem != parts[1] and _SAFE_NAME.fullmatch(stem) and ".." not in stem:
            return MEMBER_LIMITS["preview.png"]
        return None
    if (
        len(parts) == 4
        and parts[0] == "runs"
        and _SAFE_NAME.fullmatch(parts[1])
        and ".." not in parts[1]
        and re.fullmatch(r"seed[0-9]{1,6}", parts[2])
        and parts[3] in RUN_FILES
    ):
        return MEMBER_LIMITS[parts[3]]
    return None


def read_records(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A records file: its manifest and every other member, by name. Untrusted: any member
    other than the expected regular files within their limits (:func:`member_limit`), a
    damaged archive or a manifest that is not a JSON object with the data's identity refuses
    the whole file with one line."""
    members: dict[str, bytes] = {}

    def refuse(why: str) -> UserError:
        return UserError(f"{path} is refused, nothing was merged: {why}")

    try:
        with tarfile.open(path, "r:gz") as tar:
            for i, member in enumerate(tar):
                if i >= MAX_MEMBERS:
                    raise refuse(f"it holds more than {MAX_MEMBERS} members")
                name, limit = member.name, member_limit(member.name)
                if limit is None:
                    raise refuse(f"it holds {name!r}, which no records file holds")
                if not member.isfile():
                    raise refuse(f"{name!r} is not a regular file (a link, folder or device)")
                if name in members:
                    raise refuse(f"it holds {name!r} twice")
                if member.size > limit:
                    raise refuse(f"{name!r} is {member.size:,} bytes, over its limit of {limit:,}")
                data = tar.extractfile(member).read(limit + 1)  # type: ignore[union-attr]
                if len(data) != member.size:
                    raise refuse(f"{name!r} is truncated")
                members[name] = data
    except UserError:
        raise
    except (OSError, EOFError, tarfile.TarError, zlib.error) as err:
        raise UserError(
            f"cannot read the records file {path} (damaged or not a .tar.gz: {err}); "
            "nothing was merged"
        ) from None
    if "manifest.json" not in members:
        raise refuse("it holds no manifest.json: it is not a records file")
    try:
        manifest = json.loads(members.pop("manifest.json"))
    except (ValueError, UnicodeDecodeError) as err:
        raise refuse(f"its manifest.json is not JSON ({err})") from None
    identity = manifest.get("identity") if isinstance(manifest, Mapping) else None
    if not (
        isinstance(identity, Mapping)
        and isinstance(identity.get("archive"), Mapping)
        and isinstance(identity.get("packed"), Mapping)
    ):
        raise refuse("its manifest names no data identity (identity.archive, identity.packed)")
    return manifest, members


def write_records(path: Path, manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> None:
    """A records file: the manifest first, then ``files`` (name -> bytes), written atomically."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        entries = {"manifest.json": json.dumps(manifest, indent=2).encode(), **files}
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    write_bytes(path, buffer.getvalue())
