"""Atomic writes leave either the complete result or nothing under the final name."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tinycnn.atomic import atomic_npy, atomic_path, save_npy, write_json


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
