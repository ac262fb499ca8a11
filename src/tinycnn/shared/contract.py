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
    "classes",  # how many classes the run tells apart: chance level is 100 / classes percent
    "val_images",  # how many images each validation scores: how far chance may reach
    "train_images",  # how many images an epoch trains on: what an epoch's time is for
)
# The keys of summary.json the aggregate needs. `resolved` is the run's full resolved settings
# (what its training job received); `architecture` describes its model (ARCHITECTURE_KEYS).
SUMMARY_KEYS = ("experiment", "model", "seed", *SUMMARY_RESULTS, "resolved", "architecture")
# summary.json's `data`: {"archive_md5": <hex or null>, "arrays": {<name>: "sha256:<hex>"}}, one
# entry for each of these packed files (every run reads them), and "augmented/<set>" for each set
# it trained on in mode fixed. The aggregate checks each entry against the files it is given.
RUN_DATA_FILES = (
    "train_images.npy",
    "train_labels.npy",
    "val_images.npy",
    "val_labels.npy",
    "stats.json",
)
# summary.json's `architecture`: the registry's key, its description in words (citations as
# {key} of the report's references), and the layer table (LAYER_KEYS rows) of a sequential
# model the paper tabulates, or null.
ARCHITECTURE_KEYS = ("arch", "description", "layers")
# One row of `architecture.layers`: child name, the paper's notation, output shape for one
# image (no batch dimension), trainable parameters.
LAYER_KEYS = ("name", "layer", "output", "parameters")

# `validation: {source: augmented_split}` without a `fraction`: the share of the augmented
# training samples held out to validate on. The one place of this default: the train job, the
# report's words and the reference plan's projection read it here (the schema says it too).
VALIDATION_FRACTION = 0.1

# --- the aggregate folder: results/<name>/aggregate/ ---------------------------------------------

# Every file the aggregate writes beside figures/*.png, by the name the workflow gives it.
AGGREGATE_FILES = {
    "runs": "runs.csv",
    "experiments": "experiments.csv",
    "epochs": "epochs.csv",
    "settings": "settings.json",
    "architectures": "architectures.json",
    "figures_json": "figures.json",
    "claims": "claims.csv",
    "ablations": "ablations.csv",
    "beyond": "beyond.csv",
    "jobs": "jobs.csv",
    "numbers": "numbers.json",
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
# summary.json's optional `code`: {"commit": <40 hex or "unknown">, "source_sha256": <hex>};
# runs.csv keeps the commit's first COMMIT_LENGTH characters ("unknown" where none is recorded).
COMMIT_LENGTH = 12
RUNS_CSV_COLUMNS = (
    *SETTING_COLUMNS,
    "seed",
    *SUMMARY_RESULTS,
    "commit",
    *PAPER_COLUMNS,
    "diff",
)
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
    "bound_met",
    "chance_acc",
    "at_chance",
)
EPOCHS_CSV_COLUMNS = ("experiment", "seed", *METRIC_COLUMNS)
# The config's `report.claims`: the kinds of claim, each with how many experiments it names
# (0: one or more). A kind in CLAIM_VALUED compares its measurement with the paper's `value` as
# `stated` (approx, below, above); the others hold when their measurement is above zero.
CLAIM_KINDS = {
    "order": 2,
    "difference": 2,
    "threshold": 1,
    "train_accuracy": 1,
    "peak_epoch": 1,
    "overfitting": 1,
    "peak_at_rate_drop": 0,
    "ratio": 2,
    "best": 1,
    "stability": 2,
}
CLAIM_VALUED = (
    "difference",
    "threshold",
    "train_accuracy",
    "peak_epoch",
    "peak_at_rate_drop",
    "ratio",
)
CLAIM_STATED = ("approx", "below", "above")
# The verdicts of claims.csv, and why a claim is untested (or fails outright: a rise of the
# validation loss while the training loss does not fall is no overfitting).
VERDICTS = ("holds", "fails", "within seed noise", "untested")
CLAIM_REASONS = (
    "no_results",
    "no_rival",
    "one_epoch",
    "ends_at_low",
    "no_rate_drop",
    "devices_differ",
    "training_loss_rises",
    "still_rising",
    "at_chance",
    "epochs_differ",
)
# claims.csv: one row per claim of the config, in its order. `experiments`: the names measured,
# space-separated (for `best`: the claimed best, then the runner-up); `paper_value`, `stated`,
# `tolerance` and `window` as the claim states them (train_accuracy's value defaults to the
# experiment's paper.train_accuracy); `measured`, `spread` (over seeds; empty where not measured)
# and `n` (the fewest seeds of its experiments; for peak_at_rate_drop, the runs counted);
# `margin`: how far the measurement lies inside (+) or outside (−) the claim's boundary.
CLAIMS_CSV_COLUMNS = (
    "id",
    "kind",
    "statement",
    "experiments",
    "paper_value",
    "stated",
    "tolerance",
    "window",
    "measured",
    "spread",
    "n",
    "margin",
    "verdict",
    "reason",
)
# ablations.csv: one row per question of the config's `ablations` and reading, in name order
# (the config snapshot's keys are sorted), the base first:
# the base first (variant "base"), then each variant. `experiment`: whose runs it reads (the
# variant's own, <question>__<variant>, or the base's for a variant that changes only
# `reported`); `overrides`: what it changes, as `key.path=value` joined by "; " (empty for the
# base); `reported`: best or last (the epoch whose validation accuracy is read); `leak`: it
# validates on held-out augmented training samples (validation.source augmented_split); `accuracy_*`
# over its seeds (n_seeds; 0 and empty accuracy without results); `paper_*` the base's paper
# numbers; `gap`: accuracy_mean − paper_accuracy; `closes_gap`: agrees with the paper (within
# report.tolerance of a stated accuracy, experiments.csv's within_tolerance; a bound met, its
# bound_met); `narrows_gap` (variants only): nearer the paper
# than the base, as displayed; `closest`: nearest the paper in its question (ties all true);
# `within_seed_noise` (variants with several seeds, as the base): the change of distance to the
# paper is no larger than the seeds' spread, the claims' rule (empty where not measured).
ABLATIONS_CSV_COLUMNS = (
    "question",
    "title",
    "variant",
    "experiment",
    "overrides",
    "description",
    "reported",
    "leak",
    "n_seeds",
    "accuracy_mean",
    "accuracy_std",
    "paper_accuracy",
    "paper_stated",
    "gap",
    "closes_gap",
    "narrows_gap",
    "closest",
    "within_seed_noise",
)
# beyond.csv: the runs beyond the paper (the config's `beyond_paper.experiments`, role "beyond",
# in name order) after the paper's runs they are set beside (its `baselines`, role "baseline",
# in their order); no rows when there are none. Statistics over seeds as experiments.csv's;
# `common_epoch`: the fewest epochs any of these rows trained, and `common_epoch_val_acc_mean`
# each row's validation top-1 at that epoch (mean over seeds), so that runs of different lengths
# compare at the same number of epochs; `precision`: how its steps computed, as its runs
# recorded it; `paper_accuracy`, `paper_stated`: a baseline's reported accuracy, as stated.
BEYOND_CSV_COLUMNS = (
    "experiment",
    "role",
    "model",
    "arch",
    "parameters",
    "epochs",
    "n_seeds",
    "best_val_acc_mean",
    "best_val_acc_std",
    "best_epoch",
    "final_val_acc_mean",
    "common_epoch",
    "common_epoch_val_acc_mean",
    "wall_seconds_mean",
    "images_per_second_mean",
    "device_name",
    "precision",
    "paper_accuracy",
    "paper_stated",
    "chance_acc",
    "at_chance",
    # the validation loss of the seeds' mean curve: its low, that low's epoch, its last epoch's
    "val_loss_low",
    "val_loss_low_epoch",
    "val_loss_last",
)
# One entry of figures.json: what a figure draws (its caption is the report's template's, by
# kind); then the kinds of figure in the order the aggregate lists them.
FIGURE_KEYS = ("file", "kind", "experiment", "comparison", "title")
FIGURE_KINDS = (
    "curves",
    "paper_vs_ours",
    "comparison",
    "accuracy_vs_parameters",
    "accuracy_vs_time",
    "beyond",
)

# --- the report ----------------------------------------------------------------------------------

# jobs.csv: every training job, the paper's runs (role paper), the ablation variants' (role
# ablation) and the runs beyond the paper (role beyond), with the columns of runs.csv that the
# provenance keeps of each (Appendix B), in that order of roles.
JOB_ROLES = ("paper", "ablation", "beyond")
JOB_COLUMNS = (
    "role",
    "experiment",
    "run",
    "model",
    "seed",
    "epochs",
    "device_name",
    "commit",
    "precision",
    "compile",
    "train_seconds",
    "wall_seconds",
    "images_per_second",
)
