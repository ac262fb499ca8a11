"""Run folders with known numbers for the aggregate tests (test_aggregate_*.py).

:func:`write_run` writes a run folder of :data:`RUNS` with known accuracies: three experiments
of a small config (tests/report/conftest.py's ``config``), one of them with two seeds, and a
fourth experiment defined without runs; :func:`write_settings` and :func:`write_data` write
what the aggregate checks them against. The columns docs/report-contract.md promises are
written out here to catch any drift.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd
from handmade_aggregate import architecture

from tinycnn.config.resolve import experiment_entries, training_settings

# The columns docs/report-contract.md promises, written out to catch any drift.
DESCRIPTIVE = [
    "experiment",
    "run",
    "model",
    "arch",
    "section",
    "sets",
    "mode",
    "lr",
    "scheduler",
    "epochs",
    "batch_size",
]
PAPER = ["paper_accuracy", "paper_stated", "paper_best_epoch", "paper_train_accuracy"]
PAPER += ["paper_figure"]
RUN_COLUMNS = [
    *DESCRIPTIVE,
    "seed",
    "best_val_acc",
    "best_val_top5",
    "final_val_acc",
    "final_val_top5",
    "best_epoch",
    "final_train_acc",
    "parameters",
    "train_seconds",
    "wall_seconds",
    "images_per_second",
    "device",
    "device_name",
    "precision",
    "compile",
    "classes",
    "val_images",
    "train_images",
    "commit",
    *PAPER,
    "diff",
]
STATS = [
    f"{m}_{s}"
    for m in (
        "best_val_acc",
        "best_val_top5",
        "final_val_acc",
        "final_train_acc",
        "wall_seconds",
        "images_per_second",
    )
    for s in ("mean", "std")
]
EXPERIMENT_COLUMNS = [
    *DESCRIPTIVE,
    "n_seeds",
    *STATS,
    "best_epoch",
    "parameters",
    "device_name",
    *PAPER,
    "diff",
    "within_tolerance",
    "bound_met",
    "chance_acc",
    "at_chance",
]
EPOCH_COLUMNS = ["experiment", "seed", "epoch", "lr", "train_loss", "train_acc", "val_loss"]
EPOCH_COLUMNS += ["val_acc", "val_top5", "epoch_seconds", "images_per_second"]
FIGURE_KEYS = {"file", "kind", "experiment", "comparison", "title"}  # no words: the report's

# Config order differs from the paper's run order on purpose.
EXPERIMENTS = {
    "two_seeds": {
        "model": "M1",
        "paper": {
            "run": 2,
            "accuracy": 30.0,
            "stated": "exact",
            "best_epoch": 2,
            "figure": 3,
            "train_accuracy": 50.0,
        },
    },
    "approx": {
        "model": "M1",
        "augmentation": {"sets": ["set1"]},
        "paper": {"run": 1, "accuracy": 22.0, "stated": "approx", "figure": 2},
    },
    "below": {
        "model": "AlexNet",
        "scheduler": {"name": "StepLR", "step_size": 7, "gamma": 0.1},
        "paper": {"run": 3, "accuracy": 20.0, "stated": "below", "figure": 7},
    },
    "no_runs": {
        "model": "ResNet18",
        "paper": {"run": 4, "accuracy": 45.0, "stated": "exact", "figure": 8},
    },
}
COMPARISONS = [
    {"id": "pair", "title": "Set 1 alone vs both sets", "experiments": ["approx", "two_seeds"]},
    {"id": "absent", "title": "One without runs", "experiments": ["two_seeds", "no_runs"]},
]
# Claims with known answers on RUNS below (each statement says why).
CLAIMS = [
    {"id": "gap", "kind": "difference", "experiments": ["two_seeds", "approx"], "value": 15.0,
     "stated": "approx", "tolerance": 3.0,
     "statement": "holds: 33.0 - 18.5 = 14.5, within 3 of 15 (approx has one seed: no spread)"},
    {"id": "bound", "kind": "threshold", "experiments": ["below"], "value": 20.0,
     "stated": "below", "statement": "holds: 12.0 <= 20"},
    {"id": "train", "kind": "train_accuracy", "experiments": ["two_seeds"], "stated": "approx",
     "tolerance": 5.0,
     "statement": "fails: 62.5 +- 3.5 against the paper's 50 +- 5, 7.5 outside, beyond 3.5"},
    {"id": "peak", "kind": "peak_epoch", "experiments": ["two_seeds"], "value": 2,
     "stated": "below", "statement": "within seed noise: epochs 2 and 3, 2.5 +- 0.7 against <= 2"},
    {"id": "absent", "kind": "order", "experiments": ["two_seeds", "no_runs"],
     "statement": "untested: no_runs has no results"},
]  # fmt: skip
CLAIM_COLUMNS = ["id", "kind", "statement", "experiments", "paper_value", "stated", "tolerance"]
CLAIM_COLUMNS += ["window", "measured", "spread", "n", "margin", "verdict", "reason"]
# Questions with known answers on RUNS below: `draw` has a variant that trained (two seeds) and
# one that reads the base's last epoch; `lr` a variant without runs.
ABLATIONS = {
    "draw": {
        "title": "Drawn once or every epoch",
        "base": "two_seeds",
        "variants": {
            "online": {"description": "drawn anew", "augmentation": {"mode": "online"}},
            "last": {"reported": "last"},
        },
    },
    "lr": {
        "title": "A lower rate",
        "base": "approx",
        "variants": {
            "low": {"optimizer": {"lr": 1e-4}},
            "split": {"validation": {"source": "augmented_split"}},
        },
    },
}
ABLATION_COLUMNS = ["question", "title", "variant", "experiment", "overrides", "description"]
ABLATION_COLUMNS += ["reported"]
ABLATION_COLUMNS += ["leak", "n_seeds", "accuracy_mean", "accuracy_std", "paper_accuracy"]
ABLATION_COLUMNS += ["paper_stated", "gap", "closes_gap", "narrows_gap", "closest"]
ABLATION_COLUMNS += ["within_seed_noise"]
# A run beyond the paper (another recipe, 4 epochs) beside two of the paper's runs and one
# without results.
BEYOND = {
    "baselines": ["two_seeds", "below", "no_runs"],
    "experiments": {
        "modern": {
            "model": "M1",
            "epochs": 4,
            "optimizer": {"name": "SGD", "lr": 0.1, "momentum": 0.9, "nesterov": True,
                          "weight_decay": 5e-4},
            "scheduler": {"name": "warmup_cosine", "warmup_epochs": 1, "final_factor": 0.0},
            "loss": {"name": "cross_entropy", "label_smoothing": 0.1},
            "augmentation": {"sets": ["set1"], "mode": "online"},
        }
    },
}  # fmt: skip
BEYOND_COLUMNS = ["experiment", "role", "model", "arch", "parameters", "epochs"]
BEYOND_COLUMNS += ["n_seeds", "best_val_acc_mean", "best_val_acc_std", "best_epoch"]
BEYOND_COLUMNS += ["final_val_acc_mean", "common_epoch", "common_epoch_val_acc_mean"]
BEYOND_COLUMNS += ["wall_seconds_mean", "images_per_second_mean", "device_name", "precision"]
BEYOND_COLUMNS += ["paper_accuracy", "paper_stated", "chance_acc", "at_chance"]
BEYOND_COLUMNS += ["val_loss_low", "val_loss_low_epoch", "val_loss_last"]
PARAMETERS = {"M1": 535_290, "AlexNet": 61_110_850}
# (experiment, seed): validation accuracy per epoch, and wall seconds of the run.
RUNS = {
    ("two_seeds", 0): ([20.0, 31.0, 30.0], 30.0),
    ("two_seeds", 1): ([25.0, 33.0, 35.0], 36.0),
    ("approx", 0): ([10.0, 18.5, 17.0], 12.0),
    ("below", 0): ([5.0, 12.0, 11.0], 300.0),
    ("draw__online", 0): ([20.0, 29.0, 28.0], 30.0),
    ("draw__online", 1): ([22.0, 31.0, 30.0], 30.0),
    ("modern", 0): ([30.0, 40.0, 45.0, 50.0], 40.0),
    ("modern", 1): ([30.0, 42.0, 47.0, 54.0], 44.0),
}


# The data the runs were trained on (the packed files every run reads, the sets of mode fixed),
# as bytes: what write_data writes and what write_run's summaries record.
ARCHIVE_MD5 = "0123456789abcdef0123456789abcdef"
PACKED_DATA = {
    "train_images.npy": b"train images",
    "train_labels.npy": b"train labels",
    "val_images.npy": b"val images",
    "val_labels.npy": b"val labels",
    "stats.json": json.dumps({"archive_md5": ARCHIVE_MD5}).encode(),
}
SET_DATA = {"set1": b"set1 drawn once", "set2": b"set2 drawn once"}
COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def data_record(settings: dict[str, Any]) -> dict[str, Any]:
    """summary.json's ``data`` of a run with these settings, trained on write_data's files."""
    arrays = {name: _sha256(data) for name, data in PACKED_DATA.items()}
    if settings["augmentation"]["mode"] == "fixed":
        arrays.update(
            {f"augmented/{s}": _sha256(SET_DATA[s]) for s in settings["augmentation"]["sets"]}
        )
    return {"archive_md5": ARCHIVE_MD5, "arrays": arrays}


def write_data(root: Path) -> tuple[Path, dict[str, Path]]:
    """The packed folder and the materialized sets the runs of write_run read."""
    packed = root / "packed"
    packed.mkdir(parents=True)
    for name, data in PACKED_DATA.items():
        (packed / name).write_bytes(data)
    sets = {name: root / "augmented" / f"{name}.npy" for name in SET_DATA}
    sets["set1"].parent.mkdir()
    for name, path in sets.items():
        path.write_bytes(SET_DATA[name])
    return packed, sets


def write_settings(root: Path, config: dict[str, Any]) -> Path:
    """Every experiment's settings file, as rule `settings` writes them."""
    folder = root / "settings"
    folder.mkdir(parents=True)
    for experiment in experiment_entries(config):
        settings = training_settings(config, experiment)
        (folder / f"{experiment}.json").write_text(json.dumps(settings, sort_keys=True))
    return folder


def write_run(root: Path, config: dict[str, Any], experiment: str, seed: int) -> Path:
    """A finished run folder like train_run's: metrics.csv and summary.json."""
    val_acc, wall = RUNS[experiment, seed]
    rows = [
        {
            "epoch": e,
            "lr": 1e-3,
            "train_loss": 3.0 / e,
            "train_acc": acc + 10 * e,
            "val_loss": 4.0 / e,
            "val_acc": acc,
            "val_top5": acc + 20,
            "epoch_seconds": wall / len(val_acc) - 1,
            "images_per_second": 1000.0 * (seed + 1),
        }
        for e, acc in enumerate(val_acc, start=1)
    ]
    best = max(rows, key=lambda r: r["val_acc"])
    model = experiment_entries(config)[experiment]["model"]
    summary = {
        "experiment": experiment,
        "model": model,
        "seed": seed,
        "epochs": len(rows),
        "best_val_acc": best["val_acc"],
        "best_val_top5": best["val_top5"],
        "best_epoch": best["epoch"],
        "final_val_acc": rows[-1]["val_acc"],
        "final_val_top5": rows[-1]["val_top5"],
        "final_train_acc": rows[-1]["train_acc"],
        "parameters": PARAMETERS[model],
        "device": "cuda",
        "device_name": "NVIDIA H100",
        "precision": "bf16 autocast, channels_last",
        "compile": "none",
        "torch_version": "2.14.1",
        "train_seconds": wall - len(rows),
        "wall_seconds": wall,
        "images_per_second": rows[0]["images_per_second"],
        "classes": 200,
        "val_images": 10_000,
        "train_images": 200_000,
        "resolved": training_settings(config, experiment),
        "architecture": architecture(config["models"][model]["arch"]),
        "code": {"commit": COMMIT, "source_sha256": "ab" * 32},
        "data": data_record(training_settings(config, experiment)),
    }
    run_dir = root / "runs" / experiment / f"seed{seed}"
    run_dir.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(run_dir / "metrics.csv", index=False)
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{name}.csv", keep_default_na=False, na_values=[""])
