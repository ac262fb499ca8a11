"""Aggregate the run folders into the tables and figures the report reads.

:func:`aggregate` reads every ``runs/<experiment>/seed<seed>`` folder (summary.json and
metrics.csv, whose keys and columns :mod:`tinycnn.shared.contract` lists) and the config (for the
paper's numbers, the model sections, the comparisons and the claims), checks every run
(:func:`run_problems`: its summary against its metrics and, where given, its settings against
its experiment's settings file and its data against the data files), and writes to the output
folder, as docs/report-contract.md specifies:

- ``runs.csv``: one row per run (experiment and seed), beside the paper's numbers;
- ``experiments.csv``: one row per experiment with mean, standard deviation and count over
  seeds, the difference to the paper and whether it lies within ``report.tolerance``;
- ``epochs.csv``: every run's per-epoch metrics;
- ``settings.json``: every experiment's recorded resolved settings;
- ``architectures.json``: every architecture's recorded description and layer table;
- ``claims.csv``: every claim of ``report.claims`` measured, with its verdict;
- ``ablations.csv``: every question of ``ablations``, each variant beside its base and the
  paper (the variants' own runs appear in no other table);
- ``beyond.csv``: the runs ``beyond_paper`` beside the paper's runs they name as baselines
  (their runs appear in no other table; their settings are in settings.json);
- ``figures/*.png`` and ``figures.json`` (see :mod:`tinycnn.report.figures`).

It imports no torch: everything it knows about a run, the run wrote down, and nothing it was
not able to check.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tinycnn.config import ablations, beyond_paper
from tinycnn.report import facts, records
from tinycnn.report.figures import write_figures
from tinycnn.report.formatting import (
    fmt_acc,
    fmt_delta,
    fmt_duration,
    fmt_int,
    fmt_num,
    fmt_paper,
    fmt_scheduler,
    fmt_short,
)
from tinycnn.shared.contract import (
    ABLATIONS_CSV_COLUMNS,
    AGGREGATE_FILES,
    ARCHITECTURE_KEYS,
    BEYOND_CSV_COLUMNS,
    CLAIMS_CSV_COLUMNS,
    COMMIT_LENGTH,
    EPOCHS_CSV_COLUMNS,
    EXPERIMENTS_CSV_COLUMNS,
    JOB_COLUMNS,
    LAYER_KEYS,
    METRIC_COLUMNS,
    PAPER_COLUMNS,
    PAPER_KEYS,
    RUNS_CSV_COLUMNS,
    SEED_METRICS,
    SETTING_COLUMNS,
    SUMMARY_KEYS,
    SUMMARY_RESULTS,
)
from tinycnn.shared.errors import UserError
from tinycnn.shared.files import write_json, write_text
from tinycnn.shared.hardware import machine_words

# Integer columns that may be empty (experiments without a `paper` entry).
NULLABLE_INTS = ("run", "paper_best_epoch", "paper_figure")


def _read_run(run_dir: Path, config: Mapping[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """The summary and the metrics of one run folder, checked against the config."""
    summary_path, metrics_path = run_dir / "summary.json", run_dir / "metrics.csv"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(
            f"{summary_path} is missing: give run folders (runs/<experiment>/seed<seed>) of "
            "finished runs; train an unfinished run again, or leave its folder out"
        ) from None
    except json.JSONDecodeError as err:
        raise UserError(f"{summary_path} is not valid JSON ({err}); train the run again") from None
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise UserError(
            f"{summary_path} lacks {', '.join(missing)}: the run folder {run_dir} was written "
            "by an older version of the training step; train the run again"
        )
    _check_architecture(summary["architecture"], summary_path)
    experiment, models = summary["experiment"], ablations.models_by_experiment(config)
    if experiment not in models:
        raise UserError(
            f"{summary_path}: experiment {experiment!r} is not defined in the config "
            f"(it defines: {', '.join(models)}); add it to `experiments` (or `ablations`) "
            "or leave this run folder out"
        )
    model = models[experiment]
    if summary["model"] != model:
        raise UserError(
            f"{summary_path}: the run trained model {summary['model']!r}, but the config now "
            f"gives experiment {experiment!r} model {model!r}; train the run again"
        )
    try:
        metrics = pd.read_csv(metrics_path)
    except FileNotFoundError:
        raise UserError(f"{metrics_path} is missing; train the run again") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        raise UserError(f"{metrics_path} is not a valid CSV ({err}); train the run again") from None
    if list(metrics.columns) != list(METRIC_COLUMNS) or metrics.empty:
        raise UserError(
            f"{metrics_path} should have the columns {', '.join(METRIC_COLUMNS)} and at least "
            "one row; train the run again"
        )
    return summary, metrics


def run_problems(
    run_dir: Path,
    summary: Mapping[str, Any],
    metrics: pd.DataFrame,
    settings_dir: Path | None = None,
    data: records.DataIdentity | None = None,
) -> list[str]:
    """What does not hold together in one run folder (:mod:`tinycnn.report.records`): its summary
    against its metrics, its code and data recorded, its folder; with ``settings_dir``, its
    settings against its experiment's settings file there (``<experiment>.json``, as rule
    `settings` writes it); with ``data``, the data it names against the files given."""
    run_dir = Path(run_dir)
    problems = records.provenance_problems(summary)
    problems += records.place_problems(summary, f"{run_dir.parent.name}/{run_dir.name}")
    problems += records.summary_problems(summary, metrics.to_dict("records"))
    problems += records.metrics_digest_problems(summary, (run_dir / "metrics.csv").read_bytes())
    if settings_dir is not None:
        path = Path(settings_dir) / f"{summary['experiment']}.json"
        try:
            settings = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(f"its experiment's settings file {path} is missing")
        except (OSError, ValueError) as err:
            problems.append(f"its experiment's settings file {path} cannot be read ({err})")
        else:
            problems += records.settings_problems(summary, settings, str(path))
    if data is not None and isinstance(summary.get("data"), Mapping):
        problems += records.data_problems(summary, data)
    return problems


def _check_architecture(record: Any, summary_path: Path) -> None:
    """summary.json's ``architecture`` has the keys and layer rows the contract names."""
    layers = record.get("layers") if isinstance(record, dict) else None
    rows = layers if isinstance(layers, list) else []
    if (
        not isinstance(record, dict)
        or any(k not in record for k in ARCHITECTURE_KEYS)
        or not (layers is None or isinstance(layers, list))
        or any(not isinstance(r, dict) or any(k not in r for k in LAYER_KEYS) for r in rows)
    ):
        raise UserError(
            f"{summary_path}: `architecture` should hold {', '.join(ARCHITECTURE_KEYS)} "
            f"(layers: null or rows of {', '.join(LAYER_KEYS)}); train the run again"
        )


def _run_row(summary: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """One row of runs.csv: the run's settings and results beside the paper's numbers."""
    name = summary["experiment"]
    resolved = summary["resolved"]
    paper = config["experiments"][name].get("paper") or {}
    model = summary["model"]
    row = {
        "experiment": name,
        "run": paper.get("run"),
        "model": model,
        "arch": resolved["arch"],
        "section": config["models"][model].get("section", model),
        "sets": "+".join(resolved["augmentation"]["sets"]),
        "mode": resolved["augmentation"]["mode"],
        "lr": resolved["optimizer"]["lr"],
        "scheduler": fmt_scheduler(resolved.get("scheduler")),
        "epochs": resolved["epochs"],
        "batch_size": resolved["batch_size"],
        **{k: summary[k] for k in ("seed", *SUMMARY_RESULTS)},
        "commit": _commit(summary),
        **{f"paper_{k}": paper.get(k) for k in PAPER_KEYS},
    }
    # The machine in the words of its record (tinycnn.shared.hardware): one CPU reads alike
    # whether its record is older (device_name only) or newer (machine).
    row["device_name"] = machine_words(summary)
    row["diff"] = _diff(row["best_val_acc"], row["paper_accuracy"])
    return row


def _commit(summary: Mapping[str, Any]) -> str:
    """The commit a run was trained at (summary.json's ``code.commit``, "unknown" where it
    trained outside git), shortened."""
    return str(summary["code"]["commit"])[:COMMIT_LENGTH]


def _concat(frames: Sequence[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    """``frames`` one after the other; an empty table with ``columns`` when there are none."""
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)


def _diff(ours: float, paper: float | None) -> float:
    return math.nan if paper is None or pd.isna(paper) else ours - paper


def _order(config: Mapping[str, Any]) -> dict[str, tuple[float, int]]:
    """Sort key of each experiment: the paper's run number, then the config's order."""
    return {
        name: ((exp.get("paper") or {}).get("run", math.inf), i)
        for i, (name, exp) in enumerate(config["experiments"].items())
    }


def _typed(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    frame = frame.loc[:, list(columns)].reset_index(drop=True)
    for column in NULLABLE_INTS:
        frame[column] = frame[column].astype("Int64")
    return frame


def runs_table(summaries: Sequence[Mapping[str, Any]], config: Mapping[str, Any]) -> pd.DataFrame:
    """runs.csv: one row per (experiment, seed), ordered by paper run number, then seed."""
    order = _order(config)
    rows = sorted(
        (_run_row(s, config) for s in summaries),
        key=lambda r: (order[r["experiment"]], r["seed"]),
    )
    return _typed(pd.DataFrame(rows, columns=list(RUNS_CSV_COLUMNS)), RUNS_CSV_COLUMNS)


# How far above chance level a guessing model's best accuracy may plausibly land: this many
# standard deviations of the share of n validation images guessed right (binomial, p = 1 /
# classes). Three keep a model that guesses under the bound in about 999 of 1,000 validations,
# and leave room for the best of a run's few correlated epochs.
CHANCE_Z = 3.0


def chance_bound(classes: int, val_images: int) -> float:
    """The best accuracy (%) a run may reach by guessing: chance level (100 / classes) plus
    CHANCE_Z binomial standard deviations over ``val_images`` images. 10 classes, 300 images:
    15.2%; 200 classes, 10,000 images: 0.71%."""
    p = 1 / classes
    return 100 * (p + CHANCE_Z * math.sqrt(p * (1 - p) / val_images))


def within_tolerance(diff: float, stated: str | None, tolerance: float) -> bool | None:
    """Whether our accuracy lies within ``tolerance`` points of the accuracy the paper states:
    |diff| ≤ tolerance. None without a paper number, and for a bound (``stated: below``): a
    bound is met or not (:func:`bound_met`); only a point value has a tolerance."""
    if pd.isna(diff) or stated == "below":
        return None
    # Rounded, so that e.g. 32.5 - 29.5 counts as exactly 3.0 despite binary floats.
    return abs(round(diff, 9)) <= tolerance


def bound_met(diff: float, stated: str | None) -> bool | None:
    """For a bound the paper states (``below X``): whether ours, as displayed (one decimal),
    is at most X. None for a point value and without a paper number."""
    if pd.isna(diff) or stated != "below":
        return None
    return round(diff, 1) <= 0


def agrees(diff: float, stated: str | None, tolerance: float) -> bool | None:
    """Whether a reading agrees with the paper: a bound met, or a point value within the
    tolerance. None without a paper number."""
    if stated == "below":
        return bound_met(diff, stated)
    return within_tolerance(diff, stated, tolerance)


def experiments_table(runs: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """experiments.csv: one row per experiment (in the order of ``runs``), statistics over
    seeds (sample standard deviation; 0 with one seed) and the comparison with the paper."""
    rows = []
    for _, group in runs.groupby("experiment", sort=False):
        first = group.iloc[0]
        row = {k: first[k] for k in (*SETTING_COLUMNS, "parameters", *PAPER_COLUMNS)}
        row["n_seeds"] = len(group)
        for m in SEED_METRICS:
            row[f"{m}_mean"] = group[m].mean()
            row[f"{m}_std"] = group[m].std(ddof=1) if len(group) > 1 else 0.0
        row["best_epoch"] = group.loc[group["best_val_acc"].idxmax(), "best_epoch"]
        row["device_name"] = " / ".join(dict.fromkeys(group["device_name"]))
        row["diff"] = _diff(row["best_val_acc_mean"], row["paper_accuracy"])
        row["within_tolerance"] = within_tolerance(row["diff"], row["paper_stated"], tolerance)
        row["bound_met"] = bound_met(row["diff"], row["paper_stated"])
        # At chance: every seed's best accuracy within what guessing reaches.
        classes, val_images = int(first["classes"]), int(first["val_images"])
        row["chance_acc"] = 100 / classes
        row["at_chance"] = bool(group["best_val_acc"].max() <= chance_bound(classes, val_images))
        rows.append(row)
    frame = _typed(
        pd.DataFrame(rows, columns=list(EXPERIMENTS_CSV_COLUMNS)), EXPERIMENTS_CSV_COLUMNS
    )
    for column in ("within_tolerance", "bound_met", "at_chance"):
        frame[column] = frame[column].astype("boolean")
    return frame


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of Python values, missing values as None."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def claims_table(
    claims: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any],
    experiments: pd.DataFrame,
    runs: pd.DataFrame,
    epochs: pd.DataFrame,
) -> pd.DataFrame:
    """claims.csv: every claim of ``report.claims``, in order, measured in these results and
    given a verdict (:func:`tinycnn.report.facts.measure_claim`,
    :func:`tinycnn.report.facts.claim_verdict`)."""
    exps = {e["experiment"]: e for e in _records(experiments)}
    histories = {
        key: _records(group.sort_values("epoch"))
        for key, group in epochs.groupby(["experiment", "seed"], sort=False)
    }
    by_experiment: dict[str, list[dict[str, Any]]] = {}
    for run in _records(runs):
        run["history"] = histories[run["experiment"], run["seed"]]
        by_experiment.setdefault(run["experiment"], []).append(run)
    rows = []
    for claim in claims:
        claim = dict(claim)
        if claim["kind"] == "train_accuracy" and "value" not in claim:
            paper = config["experiments"][claim["experiments"][0]].get("paper") or {}
            claim["value"] = paper["train_accuracy"]
        measure = facts.measure_claim(claim, exps, by_experiment)
        verdict, margin = facts.claim_verdict(claim, measure)
        rows.append(
            {
                **{k: claim.get(k) for k in ("id", "kind", "statement", "stated", "tolerance")},
                "experiments": " ".join(measure.experiments),
                "paper_value": claim.get("value"),
                "window": claim.get("window", 1) if claim["kind"] == "peak_at_rate_drop" else None,
                "measured": measure.value,
                "spread": measure.spread,
                "n": measure.n,
                "margin": margin,
                "verdict": verdict,
                "reason": measure.reason,
            }
        )
    frame = pd.DataFrame(rows, columns=list(CLAIMS_CSV_COLUMNS))
    frame["window"] = frame["window"].astype("Int64")
    return frame


def _overrides(overrides: Mapping[str, Any], prefix: str = "") -> list[str]:
    """A variant's overrides as ``key.path=value`` (values as JSON)."""
    out = []
    for key, value in overrides.items():
        if isinstance(value, Mapping) and value:
            out += _overrides(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={json.dumps(value)}".replace('"', ""))
    return out


def ablations_table(
    config: Mapping[str, Any], experiments: pd.DataFrame, tolerance: float
) -> pd.DataFrame:
    """ablations.csv: per question of the config's ``ablations``, the base and each variant,
    read from ``experiments`` (experiments.csv's rows of the paper's experiments and of the
    variants that trained), beside the base's paper number."""
    exps = {e["experiment"]: e for e in _records(experiments)}
    rows = []
    for v in ablations.variants(config):
        paper = config["experiments"][v.base].get("paper") or {}
        e = exps.get(v.experiment)
        metric = "best_val_acc" if v.reported == "best" else "final_val_acc"
        mean = e[f"{metric}_mean"] if e else None
        overrides = dict(v.overrides)
        if v.reported != "best":
            overrides[ablations.REPORTED_KEY] = v.reported
        gap = _diff(mean, paper.get("accuracy")) if mean is not None else math.nan
        rows.append(
            {
                "question": v.question,
                "title": v.title,
                "variant": v.variant,
                "experiment": v.experiment,
                "overrides": "; ".join(_overrides(overrides)),
                "description": v.description,
                "reported": v.reported,
                "leak": ablations.leaks(config, v),
                "n_seeds": int(e["n_seeds"]) if e else 0,
                "accuracy_mean": mean,
                "accuracy_std": e[f"{metric}_std"] if e else None,
                "paper_accuracy": paper.get("accuracy"),
                "paper_stated": paper.get("stated"),
                "gap": gap,
                "closes_gap": agrees(gap, paper.get("stated"), tolerance),
                "distance": facts.distance_to_paper(gap, paper.get("stated")),
            }
        )
    for question in dict.fromkeys(r["question"] for r in rows):
        group = [r for r in rows if r["question"] == question]
        base = group[0]["distance"]
        distances = [r["distance"] for r in group if r["distance"] is not None]
        for r in group:
            d = r["distance"]
            r["narrows_gap"] = (
                None if r["variant"] == "base" or d is None or base is None else d < base
            )
            r["closest"] = None if d is None else d == min(distances)
            r["within_seed_noise"] = _narrowing_noise(r, group[0])
        for r in group:  # after the loop above: every row reads the base's distance
            del r["distance"]
    frame = pd.DataFrame(rows, columns=list(ABLATIONS_CSV_COLUMNS))
    frame["n_seeds"] = frame["n_seeds"].astype("Int64")
    for column in ("closes_gap", "narrows_gap", "closest", "within_seed_noise"):
        frame[column] = frame[column].astype("boolean")
    return frame


def _narrowing_noise(row: Mapping[str, Any], base: Mapping[str, Any]) -> bool | None:
    """Whether a variant's change of distance to the paper is within the seeds' spread, by the
    claims' rule (facts.claim_verdict): both readings have several seeds, the spread (root sum
    of squares of the two standard deviations, as displayed) is above zero and the change is no
    larger. None where it is not measured: the base, one seed, no distance."""
    if row["variant"] == "base" or row["distance"] is None or base["distance"] is None:
        return None
    if min(row["n_seeds"], base["n_seeds"]) < 2:
        return None
    spread = round(math.hypot(row["accuracy_std"] or 0.0, base["accuracy_std"] or 0.0), 1)
    if not spread:
        return None
    return facts.within_spread(round(base["distance"] - row["distance"], 1), spread)


def beyond_table(
    config: Mapping[str, Any],
    experiments: pd.DataFrame,
    epochs: pd.DataFrame,
    summaries: Sequence[Mapping[str, Any]],
) -> pd.DataFrame:
    """beyond.csv: the baselines named in ``beyond_paper`` (rows of ``experiments``, the paper's
    and the beyond runs' experiments.csv rows), then the runs beyond the paper, each with its
    accuracy at the fewest epochs any of them trained; ``epochs`` holds all their epochs."""
    modern = beyond_paper.experiments(config)
    exps = {e["experiment"]: e for e in _records(experiments)}
    names = [n for n in beyond_paper.baselines(config) if n in exps] + [
        n for n in modern if n in exps
    ]
    if not any(n in modern for n in names):
        return pd.DataFrame(columns=list(BEYOND_CSV_COLUMNS))
    precision: dict[str, list[str]] = {}
    for s in summaries:
        precision.setdefault(s["experiment"], []).append(s.get("precision") or "")
    # The epochs the runs trained (their metrics' rows), and the fewest of them.
    trained = epochs.groupby("experiment")["epoch"].max()
    common = min(int(trained[n]) for n in names)
    at_common = epochs[epochs["epoch"] == common].groupby("experiment")["val_acc"].mean()
    losses = epochs.groupby(["experiment", "epoch"])["val_loss"].mean()  # the mean curve
    rows = []
    for name in names:
        e = exps[name]
        rows.append(
            {
                **{k: e[k] for k in ("experiment", "model", "arch", "parameters")},
                "epochs": int(trained[name]),
                "role": "beyond" if name in modern else "baseline",
                **{k: e[k] for k in ("n_seeds", "best_val_acc_mean", "best_val_acc_std")},
                **{k: e[k] for k in ("best_epoch", "final_val_acc_mean", "wall_seconds_mean")},
                **{k: e[k] for k in ("images_per_second_mean", "device_name")},
                "common_epoch": common,
                "common_epoch_val_acc_mean": at_common.get(name),
                "precision": " / ".join(dict.fromkeys(precision.get(name, []))),
                "paper_accuracy": e["paper_accuracy"],
                "paper_stated": e["paper_stated"],
                "chance_acc": e["chance_acc"],
                "at_chance": e["at_chance"],
                "val_loss_low": losses[name].min(),
                "val_loss_low_epoch": int(losses[name].idxmin()),
                "val_loss_last": losses[name].iloc[-1],
            }
        )
    frame = pd.DataFrame(rows, columns=list(BEYOND_CSV_COLUMNS))
    for column in (
        *("parameters", "epochs", "n_seeds", "best_epoch", "common_epoch"),
        "val_loss_low_epoch",
    ):
        frame[column] = frame[column].astype("Int64")
    return frame


def _without_seed(resolved: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resolved.items() if k not in ("seed", "seeds")}


def settings_record(
    runs: pd.DataFrame, summaries: Mapping[tuple[str, int], Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """settings.json: each experiment's recorded ``resolved`` settings, in the order of
    ``runs``; its seeds must have recorded the same settings (a seed's own number aside)."""
    out: dict[str, dict[str, Any]] = {}
    first: dict[str, tuple[str, int]] = {}
    for key in zip(runs["experiment"], runs["seed"], strict=True):
        resolved = _without_seed(summaries[key]["resolved"])
        name = key[0]
        if name not in out:
            out[name], first[name] = resolved, key
        elif resolved != out[name]:
            raise UserError(
                f"the runs of experiment {name!r} recorded different settings (seed "
                f"{first[name][1]} and seed {key[1]}): the config changed between them; "
                "train the experiment's runs again"
            )
    return out


def architectures_record(
    runs: pd.DataFrame,
    summaries: Mapping[tuple[str, int], Mapping[str, Any]],
    from_code: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """architectures.json: each architecture's recorded ``architecture``, keyed by ``arch``;
    then, from ``from_code`` (the model code's, rule architectures'), each architecture no run
    recorded, its ``source`` "code" (what trained wins where both exist).

    Where runs of one architecture recorded different descriptions or layers (the model code
    changed between them), the first run in the order of runs.csv (the paper's run number,
    then seed) wins, and a warning names the others."""
    out: dict[str, dict[str, Any]] = {}
    first: dict[str, tuple[str, int]] = {}
    for key in zip(runs["experiment"], runs["seed"], strict=True):
        record = dict(summaries[key]["architecture"])
        arch = record["arch"]
        if arch not in out:
            out[arch], first[arch] = record, key
        elif record != out[arch]:
            print(
                f"warning: experiment {key[0]!r} seed {key[1]} recorded another architecture "
                f"{arch!r} than experiment {first[arch][0]!r} seed {first[arch][1]}, whose "
                "record the report uses; train the runs again to make them agree",
                file=sys.stderr,
            )
    for arch, record in (from_code or {}).items():
        if arch not in out:
            out[arch] = {"arch": arch, "description": record.get("description"),
                         "layers": record.get("layers"), "parameters": record.get("parameters"),
                         "source": "code"}  # fmt: skip
    return out


def numbers_record(
    experiments: pd.DataFrame, claims: pd.DataFrame, jobs: pd.DataFrame
) -> dict[str, str]:
    """numbers.json: every number the paper may print, formatted as it prints it, by one flat
    name, so that a sentence of the paper's source can name any of them (``m1_lr1e-3.ours``);
    the tables and the computed sentences print the same numbers through the same formatting.

    Per experiment with results: ``<experiment>.ours`` (mean ± std over seeds), ``.n``,
    ``.paper`` (as the paper states it, "—" without), ``.diff``, ``.top5``, ``.final``,
    ``.best_epoch``, ``.parameters``, ``.wall`` (mean wall time), ``.images_per_second``,
    ``.chance``. Over all: ``runs.count`` (experiments with results), ``runs.seeds``,
    ``jobs.count`` and ``jobs.wall`` (every training job, jobs.csv), ``claims.count`` and
    ``claims.<verdict>``."""
    out: dict[str, str] = {}
    for _, e in experiments.iterrows():
        name, n = e["experiment"], int(e["n_seeds"])
        std = None if pd.isna(e["best_val_acc_std"]) else e["best_val_acc_std"]
        paper = None if pd.isna(e["paper_accuracy"]) else e["paper_accuracy"]
        out |= {
            f"{name}.ours": fmt_acc(e["best_val_acc_mean"], std, n),
            f"{name}.n": str(n),
            f"{name}.paper": fmt_paper(paper, e["paper_stated"]),
            f"{name}.diff": fmt_delta(
                None if pd.isna(e["diff"]) else e["diff"],
                e["paper_stated"],
                facts.at_chance(e),
            ),
            f"{name}.top5": fmt_num(e["best_val_top5_mean"]),
            f"{name}.final": fmt_num(e["final_val_acc_mean"]),
            f"{name}.best_epoch": str(int(e["best_epoch"])),
            f"{name}.parameters": fmt_int(e["parameters"]),
            f"{name}.wall": fmt_duration(e["wall_seconds_mean"]),
            f"{name}.images_per_second": fmt_int(e["images_per_second_mean"]),
            f"{name}.chance": fmt_short(e["chance_acc"]),
        }
    out |= {
        "runs.count": str(len(experiments)),
        "runs.seeds": str(int(experiments["n_seeds"].sum())),
        "jobs.count": str(len(jobs)),
        "jobs.wall": fmt_duration(float(jobs["wall_seconds"].sum())),
        "claims.count": str(len(claims)),
    }
    for verdict in ("holds", "fails", "within seed noise", "untested"):
        count = int((claims["verdict"] == verdict).sum())
        out[f"claims.{verdict.replace(' ', '_')}"] = str(count)
    return out


def aggregate(
    run_dirs: Sequence[Path],
    config: Mapping[str, Any],
    out_dir: Path,
    *,
    settings_dir: Path | None = None,
    data: records.DataIdentity | None = None,
    from_code: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Write the files of :data:`~tinycnn.shared.contract.AGGREGATE_FILES` and figures/*.png to
    ``out_dir`` from the run folders ``run_dirs`` and the merged, validated ``config``.

    Every run folder is checked first (:func:`run_problems`): its summary against its metrics,
    and with ``settings_dir`` and ``data`` its settings against its experiment's settings file
    and the data it names against the data given. A run that does not hold together fails the
    aggregate, writing nothing, with one message naming each such folder and what differs.

    Any of the config's experiments may lack runs, all of them included: with no run folder
    every file is written with its header (or as an empty JSON list or mapping) and no rows,
    and the report shows each experiment as not yet run. ``from_code`` (rule architectures'
    file, by arch) gives the architectures no run recorded."""
    summaries, metrics, folders = {}, {}, {}
    problems = []
    for run_dir in map(Path, run_dirs):
        summary, frame = _read_run(run_dir, config)
        found = run_problems(run_dir, summary, frame, settings_dir, data)
        if found:
            problems.append(f"{run_dir}: " + "; ".join(found))
        key = (summary["experiment"], summary["seed"])
        if key in folders:
            raise UserError(
                f"{run_dir / 'summary.json'} and {folders[key] / 'summary.json'} both hold "
                f"experiment {key[0]!r} with seed {key[1]}; keep one of them"
            )
        folders[key] = run_dir
        summaries[key] = summary
        metrics[key] = frame.assign(experiment=key[0], seed=key[1]).loc[:, list(EPOCHS_CSV_COLUMNS)]
    if problems:
        one = len(problems) == 1
        raise UserError(
            ("this run folder does not" if one else f"{len(problems)} run folders do not")
            + " hold together, and the aggregate uses no run until "
            + ("it does" if one else "they do")
            + ":\n  "
            + "\n  ".join(problems)
            + "\nDelete "
            + ("the folder" if one else "each of these folders")
            + " and train the run again (the workflow retrains a run whose folder is gone)."
        )
    # The ablation variants' runs go to ablations.csv only, the runs beyond the paper to
    # beyond.csv only; the paper's tables keep its runs.
    modern = beyond_paper.experiments(config)
    beyond_summaries = {k: s for k, s in summaries.items() if k[0] in modern}
    variant_summaries = [
        s
        for s in summaries.values()
        if s["experiment"] not in config["experiments"] and s["experiment"] not in modern
    ]
    summaries = {k: s for k, s in summaries.items() if k[0] in config["experiments"]}
    tolerance = config["report"]["tolerance"]
    runs = runs_table(list(summaries.values()), config)
    experiments = experiments_table(runs, tolerance)
    ablation_experiments = experiments
    if variant_summaries:
        models = ablations.models_by_experiment(config)
        variants_config = {
            **config,
            "experiments": {
                s["experiment"]: {"model": models[s["experiment"]]} for s in variant_summaries
            },
        }
        variant_runs = runs_table(variant_summaries, variants_config)
        ablation_experiments = _concat(
            [experiments, experiments_table(variant_runs, tolerance)], EXPERIMENTS_CSV_COLUMNS
        )
    epochs = _concat(
        [metrics[key] for key in zip(runs["experiment"], runs["seed"], strict=True)],
        EPOCHS_CSV_COLUMNS,
    )
    job_tables = [runs.assign(role="paper")]
    if variant_summaries:
        job_tables.append(variant_runs.assign(role="ablation"))
    beyond_rows = pd.DataFrame(columns=list(BEYOND_CSV_COLUMNS))
    all_epochs = epochs  # the paper's runs' and those beyond it, for the figure `beyond`
    settings = settings_record(runs, summaries)
    if beyond_summaries:
        beyond_config = {**config, "experiments": modern}
        beyond_runs = runs_table(list(beyond_summaries.values()), beyond_config)
        job_tables.append(beyond_runs.assign(role="beyond"))
        beyond_epochs = _concat(
            [metrics[k] for k in zip(beyond_runs["experiment"], beyond_runs["seed"], strict=True)],
            EPOCHS_CSV_COLUMNS,
        )
        all_epochs = _concat([epochs, beyond_epochs], EPOCHS_CSV_COLUMNS)
        beyond_experiments = experiments_table(beyond_runs, tolerance)
        beyond_rows = beyond_table(
            config,
            _concat([experiments, beyond_experiments], EXPERIMENTS_CSV_COLUMNS),
            all_epochs,
            [*summaries.values(), *beyond_summaries.values()],
        )
        settings.update(settings_record(beyond_runs, beyond_summaries))
    architectures = architectures_record(runs, summaries, from_code)
    out_dir = Path(out_dir)
    claims = claims_table(config["report"].get("claims", []), config, experiments, runs, epochs)
    ablation_rows = ablations_table(config, ablation_experiments, tolerance)
    tables = (
        *(("runs", runs), ("experiments", experiments), ("epochs", epochs)),
        *(("claims", claims), ("ablations", ablation_rows), ("beyond", beyond_rows)),
        ("jobs", jobs := _concat(job_tables, JOB_COLUMNS).reindex(columns=list(JOB_COLUMNS))),
    )
    for name, frame in tables:
        csv = frame.to_csv(index=False, lineterminator="\n")
        write_text(out_dir / AGGREGATE_FILES[name], csv)
    write_json(out_dir / AGGREGATE_FILES["settings"], settings)
    write_json(out_dir / AGGREGATE_FILES["architectures"], architectures)
    write_json(out_dir / AGGREGATE_FILES["numbers"], numbers_record(experiments, claims, jobs))
    entries = write_figures(runs, experiments, epochs, config, out_dir, beyond_rows, all_epochs)
    write_json(out_dir / AGGREGATE_FILES["figures_json"], entries)
