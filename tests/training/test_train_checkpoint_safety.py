"""Which checkpoint a run resumes: one of other settings, input data or numerics is refused
and kept; a damaged or unsafe one gives a clear error; another device setting resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from demo_runs import (
    run,
)

import tinycnn.training.loop as loop_mod
from tinycnn.config.merge import deep_merge
from tinycnn.data.augment import write_augmented
from tinycnn.shared.errors import UserError
from tinycnn.training.train import Diverged

pytestmark = pytest.mark.usefixtures("_restore_torch_threads")


# --- checkpoint safety ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("lr", lambda exp, seed: (deep_merge(exp, {"optimizer": {"lr": 1e-2}}), seed)),
        ("batch size", lambda exp, seed: ({**exp, "batch_size": 32}, seed)),
        ("seed", lambda exp, seed: (exp, seed + 1)),
    ],
)
def test_checkpoint_of_other_settings_is_refused_and_kept(
    interrupted: tuple[dict[str, Any], Path],
    demo: SimpleNamespace,
    tmp_path: Path,
    what: str,
    change: Callable[[dict[str, Any], int], tuple[dict[str, Any], int]],
) -> None:
    exp, ckpt = interrupted
    before = ckpt.read_bytes()
    other, seed = change(exp, 0)
    with pytest.raises(UserError) as info:
        run(other, seed, demo, tmp_path)
    assert not isinstance(info.value, Diverged)
    assert str(info.value) == (
        f"the checkpoint {ckpt} was written for different settings of this experiment "
        "(the config or seed changed since), so it is not resumed. Restore the settings "
        "to resume it, or delete the checkpoint to start this run from scratch."
    )
    assert ckpt.read_bytes() == before
    assert not (tmp_path / "out" / "summary.json").exists()


def test_checkpoint_resumes_on_another_device_setting(
    interrupted: tuple[dict[str, Any], Path],
    demo: SimpleNamespace,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`device` is not part of the fingerprint: a job moved elsewhere still resumes."""
    exp, ckpt = interrupted
    capsys.readouterr()
    # written with device cpu; auto is cpu here (and cuda on a GPU machine)
    run({**exp, "device": "auto"}, 0, demo, tmp_path, lock_dir=tmp_path / "locks")
    assert f"from {ckpt} at epoch 1, step 2\n" in capsys.readouterr().err
    assert not ckpt.exists()


def test_checkpoint_of_other_input_data_is_refused(
    interrupted: tuple[dict[str, Any], Path],
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
) -> None:
    """Another augmentation seed re-draws the materialized sets: the same settings, other data."""
    exp, ckpt = interrupted
    redrawn = tmp_path / "redrawn"
    redrawn.mkdir()
    augmented = dict(demo.augmented)
    augmented["set1"] = redrawn / "set1.npy"
    write_augmented(
        demo.packed / "train_images.npy",
        demo_config["augmentation"]["sets"]["set1"],
        demo_config["augmentation"]["seed"] + 1,
        "set1",
        augmented["set1"],
        threads=1,
    )
    before = ckpt.read_bytes()
    with pytest.raises(UserError) as info:
        run(exp, 0, SimpleNamespace(packed=demo.packed, augmented=augmented), tmp_path)
    message = str(info.value)
    assert message.startswith(f"the checkpoint {ckpt} was trained on other input data"), message
    assert "(augmented/set1 changed since" in message and "delete the checkpoint" in message
    assert ckpt.read_bytes() == before


@pytest.mark.parametrize(
    ("numerics", "words"),
    [
        (loop_mod.Numerics(torch.bfloat16, channels_last=False), "bf16 autocast, contiguous"),
        (
            loop_mod.Numerics(None, channels_last=True, compile="reduce-overhead"),
            "fp32, channels_last, torch.compile reduce-overhead",
        ),
    ],
    ids=["precision", "compile"],
)
def test_checkpoint_of_other_numerics_is_refused(
    numerics: loop_mod.Numerics,
    words: str,
    interrupted: tuple[dict[str, Any], Path],
    demo: SimpleNamespace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`precision: auto` and `compile: auto` resolve by device: a checkpoint written under fp32
    eager (the CPU) is not continued under bf16 or compiled (as on CUDA), though the settings
    are the same."""
    exp, ckpt = interrupted
    monkeypatch.setattr(
        loop_mod, "default_numerics", lambda device, precision="auto", compile="auto": numerics
    )
    with pytest.raises(UserError) as info:
        run(exp, 0, demo, tmp_path)
    assert str(info.value).startswith(
        f"the checkpoint {ckpt} was written under fp32, channels_last, and this run would "
        f"continue under {words}"
    )


class _Payload:
    """Unpickling this touches a file: it shows whether arbitrary objects get unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "not a mapping", "pickled"])
def test_damaged_or_unsafe_checkpoint_gives_a_clear_error(
    interrupted: tuple[dict[str, Any], Path], demo: SimpleNamespace, tmp_path: Path, damage: str
) -> None:
    exp, ckpt = interrupted
    marker = tmp_path / "unpickled"
    good = ckpt.read_bytes()
    if damage == "truncated":
        ckpt.write_bytes(good[: len(good) // 2])
    elif damage == "garbage":
        ckpt.write_bytes(b"this is not a checkpoint\n" * 10)
    elif damage == "empty":
        ckpt.write_bytes(b"")
    elif damage == "not a mapping":
        torch.save([torch.zeros(3)], ckpt)
    else:
        state = torch.load(ckpt, weights_only=True)
        torch.save({**state, "extra": _Payload(marker)}, ckpt)
    damaged = ckpt.read_bytes()
    with pytest.raises(UserError) as info:
        run(exp, 0, demo, tmp_path)
    message = str(info.value)
    assert message.startswith(f"cannot read the checkpoint {ckpt}: "), message
    assert message.endswith("Delete it to start this run from scratch."), message
    assert not marker.exists(), "the checkpoint was unpickled without weights_only"
    assert ckpt.read_bytes() == damaged
    if damage == "pickled":  # the payload is live: an unrestricted torch.load would run it
        torch.load(ckpt, weights_only=False)
        assert marker.exists()
