"""The files the stages exchange: names, columns and keys, in one torch-free module.

data -> runs -> aggregate -> report meet only through files. Each side imports the names it
writes or reads from here, so a column renamed on one side is renamed on the other; nothing
here imports torch. docs/report-contract.md describes every file in words.
"""

from __future__ import annotations

# --- a run folder: runs/<experiment>/seed<seed>/ ------------------------------------------------

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
# The results of a run in its summary.json, copied as they are into runs.csv.
SUMMARY_RESULTS = (
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
    "precision",  # the numerics of the steps, in words: "bf16 autocast, channels_last"
    "compile",  # "none", or the torch.compile mode
)
# The keys of summary.json the aggregate needs. `resolved` is the run's full resolved settings
# (what its training job received); `architecture` describes its model (ARCHITECTURE_KEYS).
SUMMARY_KEYS = ("experiment", "model", "seed", *SUMMARY_RESULTS, "resolved", "architecture")
# summary.json's `architecture`: the registry's key, its description in words (citations as
# {key} of the report's references), and the layer table (LAYER_KEYS rows) of a sequential
# model the paper tabulates, or null.
ARCHITECTURE_KEYS = ("arch", "description", "layers")
# One row of `architecture.layers`: child name, the paper's notation, output shape for one
# image (no batch dimension), trainable parameters.
LAYER_KEYS = ("name", "layer", "output", "parameters")

# --- the aggregate folder: results/<name>/aggregate/ ---------------------------------------------

# Every file the aggregate writes beside figures/*.png, by the name the workflow gives it.
AGGREGATE_FILES = {
    "runs": "runs.csv",
    "experiments": "experiments.csv",
    "epochs": "epochs.csv",
    "settings": "settings.json",
    "architectures": "architectures.json",
    "figures_json": "figures.json",
}
# The settings that describe an experiment, in runs.csv and experiments.csv.
SETTING_COLUMNS = (
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
)
# The config's `experiments.<name>.paper`, as the columns paper_<key>.
PAPER_KEYS = ("accuracy", "stated", "best_epoch", "train_accuracy", "figure")
PAPER_COLUMNS = tuple(f"paper_{k}" for k in PAPER_KEYS)
RUNS_CSV_COLUMNS = (*SETTING_COLUMNS, "seed", *SUMMARY_RESULTS, *PAPER_COLUMNS, "diff")
# Run results averaged over seeds in experiments.csv as <m>_mean and <m>_std.
SEED_METRICS = (
    "best_val_acc",
    "best_val_top5",
    "final_val_acc",
    "final_train_acc",
    "wall_seconds",
    "images_per_second",
)
EXPERIMENTS_CSV_COLUMNS = (
    *SETTING_COLUMNS,
    "n_seeds",
    *(f"{m}_{s}" for m in SEED_METRICS for s in ("mean", "std")),
    "best_epoch",
    "parameters",
    "device_name",
    *PAPER_COLUMNS,
    "diff",
    "within_tolerance",
)
EPOCHS_CSV_COLUMNS = ("experiment", "seed", *METRIC_COLUMNS)
# One entry of figures.json, and the kinds of figure in the order the aggregate lists them.
FIGURE_KEYS = ("file", "kind", "experiment", "comparison", "title", "caption")
FIGURE_KINDS = (
    "curves",
    "paper_vs_ours",
    "comparison",
    "accuracy_vs_parameters",
    "accuracy_vs_time",
)

# --- the report ----------------------------------------------------------------------------------

# The columns of runs.csv that the provenance keeps for every training job (Appendix B).
JOB_COLUMNS = (
    "experiment",
    "run",
    "model",
    "seed",
    "epochs",
    "device_name",
    "precision",
    "compile",
    "train_seconds",
    "wall_seconds",
    "images_per_second",
)
