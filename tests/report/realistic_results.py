"""A realistic results folder for the report tests: the real configuration (config.yaml with the
ablations and the runs beyond the paper), 200 classes and 10,000 validation images, and run
folders as the training writes them, made up but shaped like Tiny ImageNet's: best accuracies of
5-45%, one run that diverged (its validation loss climbs to the hundreds, its accuracy stays at
a guess's 0.5%), one run missing, and several seeds for some runs.

:func:`write_results` writes the run folders; the tests aggregate them with the real
:func:`tinycnn.report.aggregate.aggregate` (figures included) and render the paper from it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from handmade_aggregate import DESCRIPTIONS, architecture

from tinycnn.config.checks import validate
from tinycnn.config.load import read_config_file
from tinycnn.config.merge import deep_merge
from tinycnn.config.resolve import experiment_entries, training_settings

ROOT = Path(__file__).resolve().parents[2]
CLASSES, VAL_IMAGES, TRAIN_IMAGES = 200, 10_000, 100_000
PRESETS = ("config.yaml", "presets/ablations.yaml", "presets/modern.yaml")
MISSING = "resnet18_lr1e-4"  # no run folder: "not yet run"
DIVERGED = "alexnet"  # validation loss climbs to the hundreds; accuracy at a guess's 0.5%
# Best validation accuracy per seed (%), made up in Tiny ImageNet's range; experiments left out
# here (the ablations' other variants) have no runs.
BEST = {
    "m1_set1": [21.4],
    "m1_lr1e-3": [27.9, 29.3, 28.6],
    "m1_lr1e-4": [23.1],
    "m4_lr1e-4": [25.2],
    "m4_lr1e-3": [33.8, 34.9],
    DIVERGED: [0.5],
    "resnet18_lr1e-3": [41.7],
    "resnet34": [44.6, 43.9],
    "resnet34_preact": [45.2],
    "densenet161": [38.4],
    "augmentation_draw_m1__online": [31.2, 30.4, 30.9],
    "batch_norm_m1__batch_norm": [5.3],
    "modern_resnet18_64": [44.9],
    "modern_resnet18": [36.2],
}
PARAMETERS = {
    "m1": 584_120,
    "m4": 2_343_080,
    "m1_bn": 584_376,
    "alexnet": 61_301_040,
    "resnet18": 11_279_112,
    "resnet18_64": 11_271_432,
    "resnet34": 21_387_272,
    "resnet34_preact": 21_385_480,
    "densenet161": 26_879_560,
}
SECONDS_PER_EPOCH = {  # training seconds an epoch, roughly an H200's
    "m1": 4.0,
    "m1_bn": 4.4,
    "m4": 9.0,
    "alexnet": 14.0,
    "resnet18": 11.0,
    "resnet18_64": 38.0,
    "resnet34": 19.0,
    "resnet34_preact": 19.5,
    "densenet161": 52.0,
}


def config() -> dict[str, Any]:
    """The real configuration: config.yaml, the ablations and the runs beyond the paper."""
    merged: dict[str, Any] = {}
    for path in PRESETS:
        merged = deep_merge(merged, read_config_file(ROOT / path))
    validate(merged)
    return merged


def _metrics(best: float, epochs: int, seed: int, diverged: bool, spe: float) -> pd.DataFrame:
    """metrics.csv of a run whose best validation accuracy is ``best``: accuracy rising to
    it near the end and falling back a little, training accuracy running ahead (overfitting),
    validation loss falling then rising."""
    rng = np.random.default_rng(1000 * seed + int(best * 10))
    peak = max(1, epochs - 2)
    rows = []
    for e in range(1, epochs + 1):
        rise = 1 - math.exp(-3 * e / peak)
        acc = best * rise / (1 - math.exp(-3)) if e <= peak else best - 0.4 * (e - peak)
        acc = min(acc, best) if e != peak else best
        if diverged:
            acc, val_loss = 0.5 + (0.02 if e == 1 else 0.0), 5.3 * 2.1**e
        else:
            floor = 1 - best / 90  # a better run reaches a lower loss
            val_loss = math.log(CLASSES) * (1 - (1 - floor) * rise) + 0.05 * max(0, e - peak)
        rows.append(
            {
                "epoch": e,
                "lr": 1e-3,
                "train_loss": math.log(CLASSES) * (1 - 0.7 * rise),
                "train_acc": min(99.0, (acc * 1.6 if not diverged else 0.5) + rng.normal(0, 0.2)),
                "val_loss": val_loss,
                "val_acc": round(acc, 2),
                "val_top5": round(min(99.0, acc * 2.1 + 1.5), 2),
                "epoch_seconds": spe * (1 + 0.01 * rng.random()),
                "images_per_second": TRAIN_IMAGES / spe,
            }
        )
    return pd.DataFrame(rows)


def _architecture(arch: str, model: dict[str, Any]) -> dict[str, Any]:
    """summary.json's ``architecture``: the paper's models as handmade_aggregate records them,
    the others (the ablations' and the runs beyond the paper's) with the config's words."""
    if arch in DESCRIPTIONS:
        return architecture(arch)
    return {"arch": arch, "description": model.get("description"), "layers": None}


def write_run(root: Path, cfg: dict[str, Any], experiment: str, seed: int) -> Path:
    """A finished run folder like train_run's: metrics.csv and summary.json."""
    entry = experiment_entries(cfg)[experiment]
    settings = training_settings(cfg, experiment)
    arch = cfg["models"][entry["model"]]["arch"]
    spe = SECONDS_PER_EPOCH[arch]
    frame = _metrics(BEST[experiment][seed], settings["epochs"], seed, experiment == DIVERGED, spe)
    best = frame.loc[frame["val_acc"].idxmax()]
    last = frame.iloc[-1]
    train_seconds = float(frame["epoch_seconds"].sum())
    summary = {
        "experiment": experiment,
        "model": entry["model"],
        "seed": seed,
        "epochs": len(frame),
        "best_val_acc": float(best["val_acc"]),
        "best_val_top5": float(best["val_top5"]),
        "best_epoch": int(best["epoch"]),
        "final_val_acc": float(last["val_acc"]),
        "final_val_top5": float(last["val_top5"]),
        "final_train_acc": float(last["train_acc"]),
        "parameters": PARAMETERS[arch],
        "device": "cuda",
        "device_name": "NVIDIA H200",
        "precision": "bf16 autocast, channels_last",
        "compile": "default",
        "torch_version": "2.14.1",
        "train_seconds": train_seconds,
        "wall_seconds": train_seconds + 25.0,
        "images_per_second": TRAIN_IMAGES / spe,
        "classes": CLASSES,
        "val_images": VAL_IMAGES,
        "train_images": TRAIN_IMAGES,
        "resolved": settings,
        "architecture": _architecture(arch, cfg["models"][entry["model"]]),
        "data": {"archive_md5": "90528d7ca1a48142e341f4ef8d21d0de", "arrays": {}},
        "code": {"commit": "3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6d7e8f901", "source_sha256": "cd" * 32},
    }
    run_dir = root / "runs" / experiment / f"seed{seed}"
    run_dir.mkdir(parents=True)
    frame.to_csv(run_dir / "metrics.csv", index=False)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def write_results(root: Path, cfg: dict[str, Any]) -> list[Path]:
    """The run folders of :data:`BEST` under ``root / "runs"``."""
    return [
        write_run(root, cfg, experiment, seed)
        for experiment, accs in BEST.items()
        for seed in range(len(accs))
    ]
