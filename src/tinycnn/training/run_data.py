"""What a run trains and validates on (:func:`load_data`): the training view (the sets drawn
once, or drawn every epoch), the validation images, the normalization; and the identity of
those inputs (:func:`input_files`, checked before a run starts and recorded in its summary)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from tinycnn.config.merge import COMBINE_DEFAULT, combine_of, validation_of
from tinycnn.data.augment import (
    FixedTrainData,
    OnlineTrainData,
    Pipeline,
    parse_set,
    split_samples,
)
from tinycnn.data.pack import load_packed, open_array
from tinycnn.shared.contract import RUN_DATA_FILES
from tinycnn.shared.digests import content_id, recorded_mismatch
from tinycnn.shared.errors import UserError


def _subset(labels: np.ndarray, per_class: int | None) -> np.ndarray:
    """Indices of the first ``per_class`` images of every class (all when None), in order."""
    if per_class is None:
        return np.arange(len(labels))
    keep = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def _normalization(
    pipelines: Sequence[Pipeline], stats: Mapping[str, Any]
) -> tuple[list[float], list[float]] | None:
    """The training set's mean and std when the sets end with ``normalize``, else None."""
    flags = {p.normalize for p in pipelines}
    if len(flags) > 1:
        raise UserError(
            f"augmentation sets {[p.name for p in pipelines]} disagree about normalize: "
            "end every set of one experiment with it, or none"
        )
    return (stats["mean"], stats["std"]) if flags.pop() else None


class RunData(NamedTuple):
    """What a run trains and validates on (:func:`load_data`), on its device."""

    train: FixedTrainData | OnlineTrainData  # the training view, fixed or online
    val_x: torch.Tensor  # validation images, uint8 (N, C, H, W)
    val_y: torch.Tensor  # their labels, int64
    norm: Any  # the training set's (mean, std) when the sets end with normalize, else None
    num_classes: int


def load_data(
    settings: Mapping[str, Any],
    seed: int,
    data_dir: Path,
    augmented: Mapping[str, Path],
    device: torch.device,
) -> RunData:
    """The run's training view, validation images and labels on ``device``, normalization and
    number of classes."""
    packed = load_packed(data_dir)
    aug = settings["augmentation"]
    pipelines = [parse_set(name, aug["ops"][name]) for name in aug["sets"]]
    subset = settings.get("subset") or {}
    train_idx = _subset(np.asarray(packed["train_labels"]), subset.get("train_per_class"))
    val_idx = _subset(np.asarray(packed["val_labels"]), subset.get("val_per_class"))
    classes = len(packed["classes"])
    for split_name in ("train", "val"):
        all_labels = np.asarray(packed[f"{split_name}_labels"])
        if len(all_labels) and (all_labels.min() < 0 or all_labels.max() >= classes):
            raise UserError(
                f"{data_dir}/{split_name}_labels.npy holds labels outside 0..{classes - 1} (the "
                f"{classes} classes of classes.tsv): delete {data_dir} and pack again"
            )
    labels = np.asarray(packed["train_labels"])[train_idx]
    # Absent from the settings unless set, so that the runs before it existed keep theirs.
    combine = combine_of(settings)
    _, fraction = validation_of(settings)
    split = fraction is not None
    if split and (aug["mode"] != "fixed" or combine != COMBINE_DEFAULT):
        raise UserError(
            "validation.source augmented_split holds out materialized samples: it needs "
            "augmentation mode fixed and combine concat"
        )
    if aug["mode"] == "fixed":
        missing = [s for s in aug["sets"] if s not in augmented]
        if missing:
            raise UserError(f"no materialized array given for augmentation set(s) {missing}")
        arrays = [open_array(augmented[s], "augment")[train_idx] for s in aug["sets"]]
        if split:
            # Augment first, then hold out a share of the augmented samples: another augmented
            # copy of a held-out image stays in training (the leak this reading asks about).
            samples = len(arrays) * len(labels)
            keep, held = split_samples(samples, fraction, seed)
            if len(keep) == 0:
                raise UserError(
                    f"validation.fraction {fraction} holds out {len(held)} of the {samples} "
                    "augmented samples, all of them, and leaves none to train on: lower the "
                    "fraction, or train on more images a class (subset.train_per_class)"
                )
            train = FixedTrainData(arrays, labels, seed=seed, device=device, samples=keep)
            held = held.to(train.images.device)
            val_x, val_y = train.images[held], train.labels[held]  # (N, H, W, C), as packed
        else:
            train = FixedTrainData(arrays, labels, seed=seed, device=device, combine=combine)
    else:
        images = np.asarray(packed["train_images"][train_idx])
        train = OnlineTrainData(
            images, labels, pipelines, seed=seed, device=device, combine=combine
        )
    if not split:
        val_x = torch.from_numpy(np.asarray(packed["val_images"][val_idx])).to(device)
        val_y = torch.from_numpy(np.asarray(packed["val_labels"])[val_idx]).long().to(device)
    norm = _normalization(pipelines, packed["stats"])
    return RunData(train, val_x.permute(0, 3, 1, 2), val_y, norm, len(packed["classes"]))


def input_files(
    settings: Mapping[str, Any], data_dir: Path, augmented: Mapping[str, Path]
) -> dict[str, Path]:
    """Every input file the run reads, by name."""
    files = {name: Path(data_dir) / name for name in RUN_DATA_FILES}
    if settings["augmentation"]["mode"] == "fixed":
        files.update(
            {f"augmented/{s}": Path(augmented[s]) for s in settings["augmentation"]["sets"]}
        )
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise UserError(
            f"input data missing: {', '.join(missing)}; run the data stage (pack, augment) again"
        )
    return files


def verify_inputs(files: Mapping[str, Path]) -> None:
    """Every input file holds what the data stage recorded of it (its ``.sha256`` sidecar),
    before a run trains on it: a set or an array changed in place since is refused, with what
    to delete and rerun."""
    changed = {name: path for name, path in files.items() if recorded_mismatch(path)}
    if changed:
        rules = sorted({"augment" if n.startswith("augmented/") else "pack" for n in changed})
        paths = ", ".join(str(p) for p in changed.values())
        raise UserError(
            f"{paths} changed since the data stage wrote {'it' if len(changed) == 1 else 'them'} "
            f"(the SHA-256 differs from the .sha256 beside it): delete "
            f"{'it' if len(changed) == 1 else 'them'} and the .sha256, and run the workflow "
            f"again (rule {' and '.join(rules)} remakes {'it' if len(changed) == 1 else 'them'})"
        )


def data_record(
    settings: Mapping[str, Any], data_dir: Path, augmented: Mapping[str, Path]
) -> dict[str, Any]:
    """What a finished run's summary records of its input data (``data``): the archive's MD5
    (from stats.json) and every input file's SHA-256, hashed where no valid record of it is
    kept (a record kept apart from its data is checked against these: tinycnn.reference)."""
    arrays = {name: content_id(p) for name, p in input_files(settings, data_dir, augmented).items()}
    stats = json.loads((Path(data_dir) / "stats.json").read_text(encoding="utf-8"))
    return {"archive_md5": stats.get("archive_md5"), "arrays": arrays}
