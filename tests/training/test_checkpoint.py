"""Checkpoint files: a damaged one, one of another format and a full disk each give one clear
message."""

from __future__ import annotations

import errno
import pathlib
import shutil
from pathlib import Path

import pytest
import torch

import tinycnn.shared.arrays
import tinycnn.shared.files
from tinycnn.shared.errors import UserError
from tinycnn.training import checkpoint

STATE = {"model": {"w": torch.arange(1000.0)}, "epoch": 3}
KEY = checkpoint.RunKey("fp", {"stats.json": "sha256:0"}, "fp32, channels_last")
END = "Delete it to start this run from scratch."


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "run.pt"
    checkpoint.save(path, STATE, KEY)
    return path


def test_save_and_load_round_trip(saved: Path) -> None:
    state = checkpoint.load(saved, KEY)
    assert state["epoch"] == 3 and torch.equal(state["model"]["w"], STATE["model"]["w"])
    assert sorted(p.name for p in saved.parent.iterdir()) == ["run.pt", "run.pt.sha256"]


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        ("empty", "the file is empty"),
        ("garbage", "it is not a PyTorch checkpoint"),
        ("truncated", "it is truncated or corrupted"),
    ],
)
def test_damaged_checkpoint_says_what_is_wrong(saved: Path, damage: str, reason: str) -> None:
    good = saved.read_bytes()
    saved.write_bytes(
        {"empty": b"", "garbage": b"this is not a checkpoint\n" * 10, "truncated": good[:300]}[
            damage
        ]
    )
    with pytest.raises(UserError) as err:
        checkpoint.load(saved, KEY)
    message = str(err.value)
    assert message.startswith(f"cannot read the checkpoint {saved}: {reason}"), message
    assert message.endswith(END)
    assert "file an issue" not in message and "internal" not in message


def test_checkpoint_with_other_objects_is_refused_unloaded(saved: Path) -> None:
    torch.save({**STATE, "extra": pathlib.PurePosixPath("x")}, saved)
    with pytest.raises(UserError) as err:
        checkpoint.load(saved, KEY)
    message = str(err.value)
    assert "objects other than tensors" in message and message.endswith(END)
    assert "file an issue" not in message


def test_checkpoint_of_another_format_is_refused_and_kept(saved: Path) -> None:
    """A checkpoint of another format (format 1 could lack its data and numerics, and the rate of
    a stopped epoch), or with no format number, is never resumed: one message says to delete
    it, and the file stays as it was."""
    state = torch.load(saved, weights_only=True)
    for written, said in [(1, "format 1"), (None, "no format number")]:
        if written is None:
            del state["format"]
        else:
            state["format"] = written
        torch.save(state, saved)
        before = saved.read_bytes()
        with pytest.raises(UserError) as err:
            checkpoint.load(saved, KEY)
        assert str(err.value) == (
            f"the checkpoint {saved} was written by another version of this program ({said}; "
            f"this one reads format {checkpoint.FORMAT}), so it is not resumed. Delete it and run "
            "again to start this run from scratch."
        )
        assert saved.read_bytes() == before


def test_save_on_a_full_disk_is_one_message_and_keeps_the_last_checkpoint(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = saved.read_bytes()
    usage = shutil.disk_usage(saved.parent)._replace(free=100)
    monkeypatch.setattr(tinycnn.shared.files.shutil, "disk_usage", lambda path: usage)
    with pytest.raises(UserError) as err:
        checkpoint.save(saved, {**STATE, "epoch": 4}, KEY)
    message = str(err.value)
    assert f"cannot write {saved}: not enough disk space" in message
    assert "it needs 5" in message  # about 5 kB: the tensor and the archive around it
    assert saved.read_bytes() == before
    # The previous checkpoint stays whole; its digest went first (a digest, when present,
    # always describes the file beside it), so it resumes as a checkpoint written without one.
    assert [p.name for p in saved.parent.iterdir()] == ["run.pt"]


def test_save_failing_for_lack_of_space_midway_is_the_same_message(
    saved: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(self: Path, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "write_bytes", full)
    with pytest.raises(UserError, match=r"not enough disk space \(No space left on device\)"):
        checkpoint.save(saved, STATE, KEY)
    assert [p.name for p in saved.parent.iterdir()] == ["run.pt"]
