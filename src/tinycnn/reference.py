"""Reference runs: real runs of the paper kept in the repository (``reference/<machine>/``).

A GPU machine trains runs with ``scripts/reference_runs.py`` and returns one records file (a
``.tar.gz``: a manifest and, per run, metrics.csv, summary.json, settings.json and train.log).
Here, ``tinycnn reference merge`` checks that file and adds its runs to the folder, and
``tinycnn reference render`` renders the paper from the folder, with no GPU and no data.

The folder::

    reference/h200/identity.json              the data every record must have been trained on:
                                              the archive's MD5 and size, the packed arrays' and
                                              the materialized sets' SHA-256
    reference/h200/data/                      stats.json, classes.tsv, <set>_preview.png: what the
                                              paper shows of the data
    reference/h200/runs/<experiment>/seed<s>/ metrics.csv, summary.json, settings.json, train.log
    reference/h200/manifest.json              every GPU session merged: machine, versions, commit,
                                              budget, each run's measured and projected time

Everything here is torch-free: it runs where the report renders and where the GPU trains.
"""

from __future__ import annotations

import copy
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinycnn import ablations, beyond
from tinycnn.atomic import write_bytes, write_json, write_text
from tinycnn.config import (
    experiment_entries,
    read_config_file,
    resolve_experiment,
    training_settings,
    validate,
)
from tinycnn.errors import UserError
from tinycnn.merging import COMBINE_DEFAULT, combine_of, deep_merge
from tinycnn.report import records as run_records

# The reference paper's config, merged in this order (as Snakemake merges --configfile): the
# paper on the real archive, its ablations, the runs beyond it, and three seeds of everything.
CONFIG_FILES = (
    "config.yaml",
    "presets/real.yaml",
    "presets/ablations.yaml",
    "presets/modern.yaml",
    "presets/seeds.yaml",
)
FOLDER = "reference/h200"
RATES = "benchmarks/h200-rates.json"
RUN_FILES = ("metrics.csv", "summary.json", "settings.json", "train.log")
DATA_FILES = ("stats.json", "classes.tsv")
PACKED_ARRAYS = ("train_images.npy", "train_labels.npy", "val_images.npy", "val_labels.npy")


# --- the config -----------------------------------------------------------------------------


def load_config(
    files: Sequence[str | Path] = CONFIG_FILES, root: Path | None = None
) -> dict[str, Any]:
    """The reference config: ``files`` (relative to ``root``, the repository; the working
    directory unless given) merged in order, validated where
    jsonschema is installed (a GPU machine may lack it: its runs are checked here, on merge)."""
    config: dict[str, Any] = {}
    for name in files:
        config = deep_merge(config, read_config_file(Path(root or Path.cwd()) / name))
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return config
    validate(config)
    return config


def run_groups(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The experiments by kind: the paper's, the runs beyond it, the ablation variants."""
    return {
        "paper": list(config["experiments"]),
        "beyond": list(beyond.experiments(config)),
        "ablations": [v.experiment for v in ablations.trained(config)],
    }


# --- what a run costs -----------------------------------------------------------------------


def load_rates(path: str | Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"cannot read the rates file {path}: {err.strerror or err}") from None


def images_per_epoch(
    settings: Mapping[str, Any], train_images: int, val_images: int, classes: int
) -> tuple[int, int]:
    """(training samples an epoch, validation images) of a run on data of this size."""
    aug, subset = settings["augmentation"], settings.get("subset") or {}
    train = train_images
    if subset.get("train_per_class"):
        train = min(train, classes * subset["train_per_class"])
    val = val_images
    if subset.get("val_per_class"):
        val = min(val, classes * subset["val_per_class"])
    samples = train * (len(aug["sets"]) if combine_of(settings) == COMBINE_DEFAULT else 1)
    validation = settings.get("validation") or {}
    if validation.get("source") == "augmented_split":
        val = round(samples * validation.get("fraction", 0.1))
        samples -= val
    return samples, val


def project_seconds(settings: Mapping[str, Any], rates: Mapping[str, Any]) -> float:
    """A run's projected wall time on the machine of ``rates`` (benchmarks/h200-rates.json):
    each epoch's samples at the model's training rate (slower in online mode by the measured
    share of drawing the sets), the validation images at the evaluation rate, the compile time
    once, and a fixed start-up overhead; times ``rates["safety"]``."""
    model = rates["models"].get(settings["arch"])
    if model is None:
        raise UserError(
            f"the rates file has no rates for architecture {settings['arch']!r}: measure it "
            "(benchmarks/train_throughput.py) and add it"
        )
    samples, val = images_per_epoch(
        settings, rates["train_images"], rates["val_images"], rates["classes"]
    )
    step = 1.0 / model["train_img_s"]  # seconds an image
    if settings["augmentation"]["mode"] == "online":
        # Drawing the sets on the device adds the measured share of an eager step.
        step += model.get("online_share", 0.0) / model["eager_img_s"]
    epoch = samples * step + val / (model["train_img_s"] * rates["eval_speedup"])
    total = settings["epochs"] * epoch + model.get("compile_s", 0.0) + rates["overhead_s"]
    return total * rates["safety"]


def priority_order(config: Mapping[str, Any], rates: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Every reference run, in the order the GPU sessions train them: seed 0 of the paper's runs
    (cheapest first), of the runs beyond the paper, of the ablation variants; then every further
    seed of every run, cheapest first."""
    groups = run_groups(config)
    cost = {
        name: project_seconds(training_settings(config, name), rates)
        for names in groups.values()
        for name in names
    }
    seeds = {name: resolve_experiment(config, name)["seeds"] for name in cost}
    first = [
        (name, seeds[name][0])
        for group in ("paper", "beyond", "ablations")
        for name in sorted(groups[group], key=lambda n: (cost[n], n))
    ]
    rest = sorted(
        ((name, seed) for name in cost for seed in seeds[name][1:]),
        key=lambda r: (cost[r[0]], r[1], r[0]),
    )
    return first + rest


# --- checking one record (the checks the aggregate makes too: tinycnn.report.records) -------

differences = run_records.differences


def stale_keys(
    summary: Mapping[str, Any],
    config: Mapping[str, Any],
    entries: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """The settings where a record differs from what ``config`` resolves for its experiment
    today (``device`` aside: where a run ran is not what it computed); empty if it matches.
    ``entries``: ``experiment_entries(config)``, where the caller checks many records."""
    experiment = summary["experiment"]
    entries = experiment_entries(config) if entries is None else entries
    if experiment not in entries:
        return ["(the experiment is no longer in the config)"]
    today = training_settings(config, experiment, entries)
    today = {k: v for k, v in today.items() if k != "device"}
    recorded = {k: v for k, v in (summary.get("resolved") or {}).items() if k != "device"}
    return differences(recorded, json.loads(json.dumps(today)))


def record_problems(files: Mapping[str, bytes]) -> list[str]:
    """What is wrong with one run's files (name -> bytes): a missing file, a summary that
    disagrees with its metrics (tinycnn.report.records.summary_problems, as the aggregate checks
    every run), a run cut short, settings.json other than the settings its summary records, no code
    or data recorded. Empty when the record holds together."""
    missing = [name for name in RUN_FILES if name not in files]
    if missing:
        return [f"lacks {', '.join(missing)}"]
    try:
        summary = json.loads(files["summary.json"])
        rows = run_records.read_metrics(files["metrics.csv"].decode("utf-8"))
        settings = json.loads(files["settings.json"])
    except (ValueError, UnicodeDecodeError) as err:
        return [f"unreadable: {err}"]
    if not isinstance(summary, Mapping):
        return ["unreadable: summary.json does not hold a JSON object"]
    problems = run_records.summary_problems(summary, rows, kind="reference")
    problems += run_records.settings_problems(summary, settings, "settings.json")
    problems += run_records.provenance_problems(summary)
    return problems


def data_problems(summary: Mapping[str, Any], identity: Mapping[str, Any]) -> list[str]:
    """Where the data a run names differs from the folder's ``identity`` (identity.json):
    the archive, each packed array, each set the folder knows (tinycnn.report.records.data_problems,
    as the aggregate checks every run against the data it is given)."""
    return run_records.data_problems(
        summary, run_records.DataIdentity.of_reference(identity, "the folder")
    )


# --- the folder -----------------------------------------------------------------------------


def recorded(folder: Path) -> dict[tuple[str, int], Path]:
    """The run folders of ``folder``, by (experiment, seed)."""
    out = {}
    for summary in sorted(Path(folder).glob("runs/*/seed*/summary.json")):
        record = json.loads(summary.read_text(encoding="utf-8"))
        out[(record["experiment"], int(record["seed"]))] = summary.parent
    return out


def _read_json(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def read_records(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A records file: its manifest and every other member, by name."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            members = {
                m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile()
            }
    except (OSError, tarfile.TarError) as err:
        raise UserError(f"cannot read the records file {path}: {err}") from None
    if "manifest.json" not in members:
        raise UserError(f"{path} holds no manifest.json: it is not a records file")
    return json.loads(members.pop("manifest.json")), members


def write_records(path: Path, manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> None:
    """A records file: the manifest first, then ``files`` (name -> bytes), written atomically."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        entries = {"manifest.json": json.dumps(manifest, indent=2).encode(), **files}
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    write_bytes(path, buffer.getvalue())


def merge(records: Path, folder: Path, config: Mapping[str, Any]) -> list[str]:
    """Add the runs of ``records`` to ``folder``; return what was added, one line a run.

    Refuses the whole file, writing nothing, when any run is refused: its data differs from
    the folder's, its settings from what ``config`` resolves for it today, its summary from its
    metrics, or the folder already holds it with other numbers.
    """
    folder = Path(folder)
    manifest, members = read_records(records)
    identity = _read_json(folder / "identity.json") or manifest["identity"]
    identity = copy.deepcopy(identity)
    if (
        identity["archive"] != manifest["identity"]["archive"]
        or identity["packed"] != manifest["identity"]["packed"]
    ):
        raise UserError(
            f"{records} was made from other data than {folder}: "
            + "; ".join(differences(identity, manifest["identity"]))
            + ". Records of other data never join this folder."
        )
    runs: dict[str, dict[str, bytes]] = {}
    for name, data in members.items():
        parts = name.split("/")
        if len(parts) == 4 and parts[0] == "runs":
            runs.setdefault("/".join(parts[1:3]), {})[parts[3]] = data
    existing = recorded(folder)
    problems, added = [], []
    for where, files in sorted(runs.items()):
        found = record_problems(files)
        if not found:
            summary = json.loads(files["summary.json"])
            key = (summary["experiment"], int(summary["seed"]))
            found += run_records.place_problems(summary, where)
            stale = stale_keys(summary, config)
            if stale:
                found.append(
                    "its settings differ from what today's config resolves for "
                    f"{key[0]}: {', '.join(stale)}"
                )
            found += data_problems(summary, identity)
            for name, digest in (summary["data"].get("arrays") or {}).items():
                if name.startswith("augmented/"):
                    identity.setdefault("augmented", {}).setdefault(name.split("/", 1)[1], digest)
            replaces = ""
            if key in existing:
                old = (existing[key] / "summary.json").read_bytes()
                if old != files["summary.json"] and not stale_keys(json.loads(old), config):
                    found.append(f"{folder} already holds {key[0]} seed {key[1]} (other numbers)")
                elif old != files["summary.json"]:  # the old record is stale: this one redoes it
                    replaces = " (replaces its stale record)"
            added.append(
                f"{key[0]} seed {key[1]}: {summary['best_val_acc']:.2f}% best top-1{replaces}"
            )
        problems += [f"runs/{where}: {p}" for p in found]
    if problems:
        raise UserError(f"{records} is refused, nothing was merged:\n  " + "\n  ".join(problems))
    for where, files in runs.items():
        for name, data in files.items():
            write_bytes(folder / "runs" / where / name, data)
    for name in (*DATA_FILES, *(m.split("/", 1)[1] for m in members if m.endswith(".png"))):
        data = members.get(f"data/{name}")
        if data is not None and not (folder / "data" / name).exists():
            write_bytes(folder / "data" / name, data)
    write_json(folder / "identity.json", identity)
    sessions = _read_json(folder / "manifest.json", {"sessions": []})
    sessions["sessions"].append({k: v for k, v in manifest.items() if k != "identity"})
    write_json(folder / "manifest.json", sessions)
    return added


def folder_problems(folder: Path, run_dirs: Iterable[Path]) -> list[str]:
    """What no longer holds together in the folder's records ``run_dirs`` (one line a problem,
    naming the run folder), checked as the merge checked them: each record by itself
    (:func:`record_problems`), its folder, its data against the folder's identity.json. Their
    settings against today's config are not checked here: a stale record is shown, marked."""
    folder = Path(folder)
    identity = _read_json(folder / "identity.json")
    problems = []
    for run_dir in map(Path, run_dirs):
        files = {n: (run_dir / n).read_bytes() for n in RUN_FILES if (run_dir / n).is_file()}
        found = record_problems(files)
        if not found:
            summary = json.loads(files["summary.json"])
            found += run_records.place_problems(summary, f"{run_dir.parent.name}/{run_dir.name}")
            found += data_problems(summary, identity) if identity else []
        problems += [f"{run_dir}: {p}" for p in found]
    return problems


def shown_runs(
    folder: Path, config: Mapping[str, Any]
) -> tuple[dict[tuple[str, int], Path], list[dict[str, Any]], list[dict[str, Any]]]:
    """The folder's runs the paper shows, the stale ones among them (with the settings that
    differ), and the ones left out: a stale run of an experiment that a fresh run of it
    supersedes, or whose experiment is no longer in the config."""
    runs = recorded(folder)
    entries = experiment_entries(config)
    differs = {
        key: stale_keys(
            json.loads((d / "summary.json").read_text(encoding="utf-8")), config, entries
        )
        for key, d in runs.items()
    }
    fresh = {experiment for (experiment, _), keys in differs.items() if not keys}
    shown, stale, left_out = {}, [], []
    for (experiment, seed), run_dir in runs.items():
        keys = differs[(experiment, seed)]
        if keys and (experiment not in entries or experiment in fresh):
            why = "no longer in the config" if experiment not in entries else "superseded"
            left_out.append({"experiment": experiment, "seed": seed, "why": why})
            continue
        shown[(experiment, seed)] = run_dir
        if keys:
            stale.append({"experiment": experiment, "seed": seed, "differs": keys})
    return shown, stale, left_out


def held(folder: Path, config: Mapping[str, Any]) -> set[tuple[str, int]]:
    """The runs the folder holds with the settings ``config`` resolves for them today: the runs
    of the priority order that no GPU session trains again (a stale record is redone)."""
    return _current(*shown_runs(folder, config)[:2])


def _current(runs: Iterable[tuple[str, int]], stale: Iterable[Mapping[str, Any]]) -> set:
    """Of the runs shown, those recorded with today's settings (``stale``: the others)."""
    return set(runs) - {(s["experiment"], s["seed"]) for s in stale}


def context(
    folder: Path, config: Mapping[str, Any], order: Iterable[tuple[str, int]]
) -> dict[str, Any]:
    """What the report says of the reference folder (``tinycnn paper-html --reference``)."""
    folder = Path(folder)
    identity = _read_json(folder / "identity.json") or {}
    manifest = _read_json(folder / "manifest.json", {"sessions": []})
    runs, stale, left_out = shown_runs(folder, config)
    current = _current(runs, stale)
    keys = ("gpu", "driver", "torch", "cuda")
    hardware = list(
        dict.fromkeys(
            ", ".join(str(s["machine"][k]) for k in keys if s["machine"].get(k))
            for s in manifest["sessions"]
            if s.get("machine") and any(r.get("status") == "recorded" for r in s.get("runs", []))
        )
    )
    order = [(e, int(s)) for e, s in order]
    return {
        "folder": str(_shown(folder)),
        "archive": identity.get("archive"),
        "hardware": hardware,
        "recorded": len(runs),
        "stale": stale,
        "left_out": left_out,
        "planned": [{"experiment": e, "seed": s} for e, s in order if (e, s) not in current],
        "order": [{"experiment": e, "seed": s} for e, s in order],
    }


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory (the repository) when inside it."""
    path, here = Path(path).resolve(), Path.cwd().resolve()
    return path.relative_to(here) if path.is_relative_to(here) else path


# --- the README's table ---------------------------------------------------------------------

README_BEGIN = "<!-- reference results: written by `make paper-reference`, checked by the tests -->"
README_END = "<!-- end of reference results -->"


def readme_table(folder: Path, config: Mapping[str, Any]) -> str:
    """The paper's runs, the paper's best top-1 beside the reference runs' (mean ± std over the
    seeds recorded), as a Markdown table; "not yet run" where the folder holds none."""
    import statistics

    from tinycnn.formatting import fmt_acc, fmt_lr, fmt_paper

    runs, stale_runs, _ = shown_runs(folder, config)
    stale = {(s["experiment"], s["seed"]) for s in stale_runs}
    lines = [
        "| run | experiment | model | lr | paper | reference (best top-1, %) | seeds |",
        "|---:|---|---|---|---:|---:|---:|",
    ]
    for name, entry in config["experiments"].items():
        paper = entry.get("paper") or {}
        settings = training_settings(config, name)
        accs = []
        for (experiment, _seed), run_dir in sorted(runs.items()):
            if experiment == name:
                summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
                accs.append(summary["best_val_acc"])
        ours = "not yet run"
        if accs:
            std = statistics.stdev(accs) if len(accs) > 1 else None
            ours = fmt_acc(statistics.fmean(accs), std, len(accs))
            if any(experiment == name for experiment, _ in stale):
                ours += " (stale)"
        lines.append(
            f"| {paper.get('run', '')} | `{name}` | {entry['model']} | "
            f"{fmt_lr(settings['optimizer']['lr'])} | "
            f"{fmt_paper(paper.get('accuracy'), paper.get('stated'))} | {ours} | {len(accs)} |"
        )
    return "\n".join(lines)


def update_readme(readme: Path, table: str) -> bool:
    """Replace the block between the README's markers by ``table``; True if it changed."""
    text = readme.read_text(encoding="utf-8")
    if README_BEGIN not in text or README_END not in text:
        raise UserError(f"{readme} lacks the markers of the reference results block")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_BEGIN}\n{table}\n{README_END}{tail}"
    if new != text:
        write_text(readme, new)
    return new != text
