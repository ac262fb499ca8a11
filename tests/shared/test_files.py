"""Atomic writes leave either the complete result or nothing under the final name."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import tinycnn.shared.arrays
import tinycnn.shared.files
from tinycnn.shared.arrays import atomic_npy, save_npy
from tinycnn.shared.digests import read_digest
from tinycnn.shared.errors import UserError
from tinycnn.shared.files import atomic_path, write_bytes, write_json


def test_failed_write_leaves_no_file_and_no_temporary(tmp_path):
    target = tmp_path / "out" / "result.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_failed_write_keeps_the_previous_version(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("{broken")
        raise RuntimeError("killed")
    assert target.read_text() == '{\n  "v": 1\n}\n'


def test_npy_files_load_with_memory_mapping(tmp_path):
    array = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    save_npy(tmp_path / "a.npy", array)
    with atomic_npy(tmp_path / "b.npy", np.uint8, array.shape) as out:
        out[:] = array
    for name in ("a.npy", "b.npy"):
        loaded = np.load(tmp_path / name, mmap_mode="r")
        assert isinstance(loaded, np.memmap)
        np.testing.assert_array_equal(loaded, array)


def test_interrupted_npy_fill_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt), atomic_npy(tmp_path / "c.npy", np.uint8, (4, 2)) as out:
        out[0] = 1
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_results_get_the_usual_file_mode(tmp_path):
    write_json(tmp_path / "r.json", {})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o666 & ~mask


# --- faults: stale temporaries, full disks, recorded digests ---------------------------------


def stale_temporary(target: Path) -> Path:
    """A temporary of ``target`` as a killed writer leaves it (the name atomic_path uses)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    return Path(tmp)


def test_stale_temporaries_of_an_output_are_removed_before_it_is_written(tmp_path):
    target = tmp_path / "paper.pdf"
    stale = [stale_temporary(target) for _ in range(2)]
    other = stale_temporary(tmp_path / "paper.pdf.sha256")  # another output's temporary
    lookalike = tmp_path / ".paper.pdf.notes.tmp"  # not a name atomic_path makes
    lookalike.write_text("keep")
    write_bytes(target, b"pdf")
    assert not any(p.exists() for p in stale)
    assert other.exists() and lookalike.exists()
    assert target.read_bytes() == b"pdf"


def test_stale_temporary_array_is_removed_before_a_new_fill(tmp_path):
    target = tmp_path / "train_images.npy"
    stale = stale_temporary(target)
    stale.write_bytes(b"\0" * 1000)
    with atomic_npy(target, np.uint8, (2, 2)) as out:
        out[:] = 1
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["train_images.npy", "train_images.npy.sha256"]


def full_disk(monkeypatch, free: int = 10) -> None:
    usage = shutil._ntuple_diskusage(total=100, used=100 - free, free=free)  # type: ignore[attr-defined]
    monkeypatch.setattr(tinycnn.shared.files.shutil, "disk_usage", lambda path: usage)


def test_array_larger_than_the_free_space_is_refused_before_writing(tmp_path, monkeypatch):
    full_disk(monkeypatch, free=1000)
    target = tmp_path / "set1.npy"
    with pytest.raises(UserError) as err, atomic_npy(target, np.uint8, (100, 64, 64, 3)):
        pytest.fail("the fill must not start")
    message = str(err.value)
    assert str(target) in message and "disk" in message and "1.2 MB" in message
    assert list(tmp_path.iterdir()) == []


def test_write_error_for_lack_of_space_is_one_message_and_leaves_nothing(tmp_path):
    target = tmp_path / "model.pt"
    with pytest.raises(UserError) as err, atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")
    message = str(err.value)
    assert str(target) in message and "disk" in message and "No space left" in message
    assert list(tmp_path.iterdir()) == []


def test_space_for_a_memory_mapped_array_is_reserved_before_filling(tmp_path, monkeypatch):
    # A memory-mapped fill of a sparse file dies of SIGBUS ("Bus error") when the disk fills:
    # the blocks are reserved first, and a failed reservation is the one clear message.
    def no_space(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tinycnn.shared.arrays.os, "posix_fallocate", no_space)
    target = tmp_path / "set2.npy"
    with pytest.raises(UserError, match="disk"), atomic_npy(target, np.uint8, (4, 2)):
        pytest.fail("the fill must not start")
    assert list(tmp_path.iterdir()) == []


def test_other_write_errors_pass_unchanged(tmp_path):
    with pytest.raises(PermissionError), atomic_path(tmp_path / "x") as tmp:
        tmp.write_bytes(b"x")
        raise PermissionError(errno.EACCES, "Permission denied")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_arrays_record_their_sha256_beside_them(tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert read_digest(a) is None
    save_npy(a, np.arange(10))
    with atomic_npy(b, np.uint8, (3, 4)) as out:
        out[:] = 7
    for path in (a, b):
        assert read_digest(path) == sha256(path)
        assert (tmp_path / f"{path.name}.sha256").read_text() == sha256(path) + "\n"
    old = read_digest(a)
    save_npy(a, np.arange(11))
    assert read_digest(a) == sha256(a) != old


def test_a_failed_rewrite_leaves_no_digest_of_another_content(tmp_path):
    a = tmp_path / "a.npy"
    save_npy(a, np.arange(10))
    with pytest.raises(RuntimeError), atomic_npy(a, np.uint8, (3,)):
        raise RuntimeError("killed")
    assert read_digest(a) in (None, sha256(a))


def test_a_digest_older_than_its_file_is_not_trusted(tmp_path):
    a = tmp_path / "a.npy"
    save_npy(a, np.arange(10))
    a.write_bytes(b"changed behind the writer's back")
    later = a.stat().st_mtime_ns + 10**9
    os.utime(a, ns=(later, later))
    assert read_digest(a) is None


def test_a_damaged_digest_file_is_refused(tmp_path):
    a = tmp_path / "a.npy"
    save_npy(a, np.arange(10))
    (tmp_path / "a.npy.sha256").write_text("not a digest\n")
    os.utime(tmp_path / "a.npy.sha256", ns=(a.stat().st_mtime_ns,) * 2)
    with pytest.raises(UserError, match=r"a\.npy\.sha256"):
        read_digest(a)
