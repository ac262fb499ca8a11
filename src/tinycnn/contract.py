"""The files the stages exchange: names, columns and keys, in one torch-free module.

data -> runs -> aggregate -> report meet only through files. Each side imports the names it
writes or reads from here, so a column renamed on one side is renamed on the other; nothing
here imports torch. docs/report-contract.md describes every file in words.
"""

from __future__ import annotations

# One row an epoch in a run's metrics.csv, in this order.
METRIC_COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_top5",
    "epoch_seconds",
    "images_per_second",
)
