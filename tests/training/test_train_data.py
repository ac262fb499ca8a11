"""What a run trains and validates on (``load_data``): normalization with the training
statistics, both augmentation modes, ``combine``, and validation on a held-out split.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from demo_runs import (
    NUM_CLASSES,
    experiment,
    run,
)

import tinycnn.training.loop as loop_mod
from tinycnn.config.merge import deep_merge
from tinycnn.shared.errors import UserError
from tinycnn.training.loop import evaluate
from tinycnn.training.models import build_model
from tinycnn.training.run_data import load_data

pytestmark = pytest.mark.usefixtures("_restore_torch_threads")


# --- normalization -------------------------------------------------------------------------------


def test_training_inputs_are_normalized_with_the_training_statistics(
    demo: SimpleNamespace, demo_config: dict[str, Any]
) -> None:
    """What the model sees in a training step and in evaluation: the uint8 images scaled to
    [0, 1] and standardized with stats.json's per-channel mean and std (sets ending with
    ``normalize``); without that op, scaled only."""
    exp = experiment(demo_config, subset={"train_per_class": 2, "val_per_class": 2})
    torch.set_num_threads(1)
    cpu = torch.device("cpu")
    stats = json.loads((demo.packed / "stats.json").read_text())
    data = load_data(exp, 0, demo.packed, demo.augmented, cpu)
    assert data.norm == (stats["mean"], stats["std"])
    mean = torch.tensor(stats["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(stats["std"]).view(1, 3, 1, 1)

    torch.manual_seed(0)
    state = loop_mod.new_run_state(exp, NUM_CLASSES, cpu)
    seen: list[torch.Tensor] = []
    state.model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    x, y = data.val_x[:8], data.val_y[:8]
    loop_mod.train_step(state.model, state.optimizer, x, y, data.norm, state.numerics)
    evaluate(state.model, data.val_x, data.val_y, data.norm, 64, cpu)
    expected = (x.float() / 255 - mean) / std
    torch.testing.assert_close(seen[0], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(seen[1][:8], expected, rtol=1e-5, atol=1e-5)

    ops = {
        name: [o for o in spec if o["op"] != "normalize"]
        for name, spec in exp["augmentation"]["ops"].items()
    }
    unnormalized = deep_merge(exp, {"augmentation": {"ops": ops}})
    assert load_data(unnormalized, 0, demo.packed, demo.augmented, cpu).norm is None
    seen.clear()
    loop_mod.train_step(state.model, state.optimizer, x, y, None, state.numerics)
    torch.testing.assert_close(seen[0], x.float() / 255)


# --- augmentation modes --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fixed", "online"])
def test_both_modes_train_on_2n_images_an_epoch(
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    n = 10 * NUM_CLASSES
    exp = experiment(
        demo_config,
        epochs=2,
        subset={"train_per_class": 10, "val_per_class": 5},
        augmentation={"mode": mode},
    )
    seen: list[list[float]] = []

    def build(arch: str, num_classes: int = 200) -> torch.nn.Module:
        model = build_model(arch, num_classes)

        def record(module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            if module.training:
                seen.append(args[0].double().sum(dim=(1, 2, 3)).tolist())

        model.register_forward_pre_hook(record)
        return model

    monkeypatch.setattr(loop_mod, "build_model", build)
    summary = run(exp, 0, demo, tmp_path)
    assert f"{2 * n} training images an epoch ({mode} set1+set2)" in capsys.readouterr().err
    steps = -(-2 * n // 64)
    assert len(seen) == 2 * steps
    per_epoch = [
        sorted(x for batch in seen[e * steps : (e + 1) * steps] for x in batch) for e in (0, 1)
    ]
    assert [len(images) for images in per_epoch] == [2 * n, 2 * n]
    if mode == "fixed":  # the same materialized images every epoch, in another order
        assert per_epoch[0] == per_epoch[1]
    else:  # drawn anew: set2's rotations and blurs differ from epoch to epoch
        assert per_epoch[0] != per_epoch[1]
    assert summary["epochs"] == 2 and 0 <= summary["final_val_acc"] <= 100
    assert summary["resolved"]["augmentation"]["mode"] == mode


@pytest.mark.parametrize("mode", ["fixed", "online"])
def test_random_per_image_trains_on_n_images_an_epoch(
    demo: SimpleNamespace,
    demo_config: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mode: str,
) -> None:
    """augmentation.combine random_per_image: each image once an epoch, through one set."""
    n = 10 * NUM_CLASSES
    exp = experiment(
        demo_config,
        epochs=1,
        subset={"train_per_class": 10, "val_per_class": 5},
        augmentation={"mode": mode, "combine": "random_per_image"},
    )
    data = load_data(exp, 0, demo.packed, demo.augmented, torch.device("cpu"))
    assert len(data.train) == n
    summary = run(exp, 0, demo, tmp_path)
    err = capsys.readouterr().err
    assert f"{n} training images an epoch ({mode} set1+set2, random_per_image)" in err
    assert summary["resolved"]["augmentation"]["combine"] == "random_per_image"


# --- validation on a split of the augmented data -------------------------------------------------


def test_validation_on_a_split_of_the_augmented_training_data(
    demo: SimpleNamespace, demo_config: dict[str, Any]
) -> None:
    """validation.source augmented_split: augment first, then hold out 10% of the 2N augmented
    samples as the validation images (the leak the ablation names); the official validation
    images are not used."""
    n = 10 * NUM_CLASSES
    exp = experiment(
        demo_config,
        subset={"train_per_class": 10, "val_per_class": 5},
        validation={"source": "augmented_split"},
    )
    cpu = torch.device("cpu")
    data = load_data(exp, 0, demo.packed, demo.augmented, cpu)
    assert len(data.val_y) == 2 * n // 10 and len(data.train) == 2 * n - len(data.val_y)
    held = {bytes(x.numpy()) for x in data.val_x}
    served = {bytes(x.numpy()) for batch, _ in data.train.batches(1, 64) for x in batch}
    assert not held & served and data.norm is not None
    official = load_data(experiment(demo_config, subset=exp["subset"]), 0, demo.packed,
                         demo.augmented, cpu)  # fmt: skip
    assert len(official.val_y) == 5 * NUM_CLASSES
    online = experiment(demo_config, validation={"source": "augmented_split"},
                        augmentation={"mode": "online"})  # fmt: skip
    with pytest.raises(UserError, match="needs augmentation mode fixed"):
        load_data(online, 0, demo.packed, demo.augmented, cpu)


def test_a_held_out_fraction_that_leaves_nothing_to_train_on_says_so(
    demo: SimpleNamespace, demo_config: dict[str, Any], tmp_path: Path
) -> None:
    """2 sets x 1 image a class x 10 classes = 20 samples, 0.99 of them held out: all 20."""
    exp = experiment(
        demo_config,
        subset={"train_per_class": 1, "val_per_class": None},
        validation={"source": "augmented_split", "fraction": 0.99},
    )
    with pytest.raises(UserError, match=r"fraction 0\.99 holds out 20 of the 20 augmented samples"):
        run(exp, 0, demo, tmp_path)
