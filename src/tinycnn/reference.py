"""Reference runs: real runs of the paper kept in the repository (``reference/<machine>/``).

A GPU machine trains runs with ``scripts/reference_runs.py`` and returns one records file (a
``.tar.gz``: a manifest and, per run, metrics.csv, summary.json, settings.json and train.log).
Here, ``tinycnn reference merge`` checks that file and adds its runs to the folder, and
``tinycnn reference render`` renders the paper from the folder, with no GPU and no data.

The folder::

    reference/identity.json              the data every record must have been trained on:
                                              the archive's MD5 and size, the packed arrays' and
                                              the materialized sets' SHA-256
    reference/data/                      stats.json, classes.tsv, <set>_preview.png: what the
                                              paper shows of the data
    reference/runs/<experiment>/seed<s>/ metrics.csv, summary.json, settings.json, train.log
    reference/manifest.json              every GPU session merged: machine, versions, commit,
                                              budget, each run's measured and projected time

Everything here is torch-free: it runs where the report renders and where the GPU trains.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tinycnn import ablations, beyond
from tinycnn.atomic import write_bytes, write_text
from tinycnn.config import (
    experiment_entries,
    read_config_file,
    resolve_experiment,
    training_settings,
    validate,
)
from tinycnn.errors import UserError
from tinycnn.hardware import machine_words
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
FOLDER = "reference"
RATES = "benchmarks/rates.json"
RUN_FILES = ("metrics.csv", "summary.json", "settings.json", "train.log")
# The SHA-256 of every file of every run the merge added, by run folder: the render refuses a
# record edited since (a column the summary does not repeat included) or copied in by hand.
DIGESTS = "digests.json"
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


# --- what a run costs on the machine at hand -----------------------------------------------

# The longest a run may project to on a CPU and still be trained there: a run resumes across
# sittings (its checkpoint lives in the runner's work folder), so up to two sittings' work. On
# the development machine's 2 cores M1's runs and its ablation variants project to 1 to 2.2
# hours (benchmarks/rates.json, with its safety factor); the next cheapest, modern_resnet18, to
# 8 hours, M4, AlexNet, the ResNets and DenseNet161 to 15 to 32 hours: they wait for a GPU,
# which trains each in minutes.
CPU_LIMIT_HOURS = 4.0


def load_rates(path: str | Path, device: str) -> dict[str, Any]:
    """The rates of ``device`` (``cpu`` or ``cuda``) in the rates file, as the benchmark wrote
    them (benchmarks/train_throughput.py --write-rates): the machine measured, its numerics,
    each architecture's training and validation rates."""
    try:
        rates = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"cannot read the rates file {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise UserError(f"the rates file {path} is not JSON: {err}") from None
    entry = rates.get(device) if isinstance(rates, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("models"), Mapping):
        raise UserError(
            f"the rates file {path} has no rates for the device {device!r}: measure them with "
            f"`benchmarks/train_throughput.py --device {device} --write-rates {path}`"
        )
    return {**entry, "device": device}


def describe_rates(rates: Mapping[str, Any]) -> str:
    """Whose rates these are: "AMD EPYC CPU, 2 cores, 2 threads; fp32, channels_last; measured
    2026-12-07"."""
    words = [machine_words({"machine": rates.get("machine") or {}})]
    words += [str(rates[k]) for k in ("numerics",) if rates.get(k)]
    if rates.get("measured"):
        words.append(f"measured {rates['measured']}")
    return "; ".join(words)


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
    """A run's projected wall time on the machine of ``rates`` (:func:`load_rates`): each
    epoch's samples at the model's training rate (slower in online mode by the measured share
    of drawing the sets), the validation images at the measured evaluation rate (or
    ``eval_speedup`` times the training rate where none was measured), the compile time once,
    and a fixed start-up overhead; times ``rates["safety"]``."""
    model = rates["models"].get(settings["arch"])
    if model is None:
        raise UserError(
            f"the rates file has no {rates.get('device', '')} rates for architecture "
            f"{settings['arch']!r}: measure it (benchmarks/train_throughput.py --write-rates)"
        )
    samples, val = images_per_epoch(
        settings, rates["train_images"], rates["val_images"], rates["classes"]
    )
    step = 1.0 / model["train_img_s"]  # seconds an image
    if settings["augmentation"]["mode"] == "online":
        # Drawing the sets on the device adds the measured share of an eager step.
        eager = model.get("eager_img_s", model["train_img_s"])
        step += model.get("online_share", 0.0) / eager
    eval_img_s = model.get("eval_img_s") or model["train_img_s"] * rates["eval_speedup"]
    epoch = samples * step + val / eval_img_s
    total = settings["epochs"] * epoch + model.get("compile_s", 0.0) + rates["overhead_s"]
    return total * rates["safety"]


def waits_for(seconds: float | None, device: str) -> str | None:
    """Why the machine of ``device`` does not train a run that projects to ``seconds`` (None:
    no rate for its architecture), or None when it does."""
    if seconds is None:
        return f"no {device} rate for its architecture"
    if device == "cpu" and seconds > CPU_LIMIT_HOURS * 3600:
        return "a GPU"
    return None


def priority_order(config: Mapping[str, Any], rates: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Every reference run, in the order machines train them: seed 0 of the paper's runs
    (cheapest first), of the runs beyond the paper, of the ablation variants; then every further
    seed, the paper's first, then the runs beyond it, then the variants, each cheapest first. A
    run whose architecture has no rate on this machine goes last in its group."""
    groups = run_groups(config)
    cost = {name: _seconds(config, name, rates) for names in groups.values() for name in names}
    seeds = {name: resolve_experiment(config, name)["seeds"] for name in cost}

    def key(name: str) -> tuple[float, str]:
        return (float("inf") if cost[name] is None else cost[name], name)

    order = ("paper", "beyond", "ablations")
    first = [(n, seeds[n][0]) for g in order for n in sorted(groups[g], key=key)]
    rest = [(n, seed) for g in order for n in sorted(groups[g], key=key) for seed in seeds[n][1:]]
    return first + rest


def _seconds(config: Mapping[str, Any], name: str, rates: Mapping[str, Any]) -> float | None:
    settings = training_settings(config, name)
    if settings["arch"] not in rates["models"]:
        return None
    return project_seconds(settings, rates)


def plan(config: Mapping[str, Any], rates: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The priority order on the machine of ``rates``: each run with its projected seconds
    there (None: no rate for its architecture) and what it ``waits_for`` there (None: this
    machine trains it). The one place that knows which runs a kind of machine can do."""
    out = []
    for experiment, seed in priority_order(config, rates):
        seconds = _seconds(config, experiment, rates)
        out.append(
            {
                "experiment": experiment,
                "seed": seed,
                "seconds": seconds,
                "waits_for": waits_for(seconds, rates["device"]),
            }
        )
    return out


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
    problems += run_records.metrics_digest_problems(summary, files["metrics.csv"])
    problems += run_records.settings_problems(summary, settings, "settings.json")
    problems += run_records.provenance_problems(summary)
    problems += run_records.machine_problems(summary)
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


# A records file comes from another machine: only these members are read, each within its
# size limit (bytes); any other member (a path outside these, a link, a device, a folder, a
# second copy) refuses the whole file before anything is read.
MEMBER_LIMITS = {
    "manifest.json": 4 << 20,
    "metrics.csv": 1 << 20,
    "summary.json": 1 << 20,
    "settings.json": 1 << 20,
    "train.log": 16 << 20,
    "stats.json": 1 << 20,
    "classes.tsv": 1 << 20,
    "preview.png": 8 << 20,
}
MAX_MEMBERS = 4096  # 63 runs of 4 files and a few data files leave room
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,119}")


def member_limit(name: str) -> int | None:
    """The size limit of an expected member ``name``; None for a name a records file never
    holds: ``manifest.json``, ``data/<stats.json|classes.tsv|SET_preview.png>``,
    ``runs/EXPERIMENT/seedN/<RUN_FILES>``, with plain names (no ``..``, no slashes inside)."""
    parts = name.split("/")
    if name == "manifest.json":
        return MEMBER_LIMITS[name]
    if len(parts) == 2 and parts[0] == "data":
        if parts[1] in DATA_FILES:
            return MEMBER_LIMITS[parts[1]]
        stem = parts[1].removesuffix("_preview.png")
        if stem != parts[1] and _SAFE_NAME.fullmatch(stem) and ".." not in stem:
            return MEMBER_LIMITS["preview.png"]
        return None
    if (
        len(parts) == 4
        and parts[0] == "runs"
        and _SAFE_NAME.fullmatch(parts[1])
        and ".." not in parts[1]
        and re.fullmatch(r"seed[0-9]{1,6}", parts[2])
        and parts[3] in RUN_FILES
    ):
        return MEMBER_LIMITS[parts[3]]
    return None


def read_records(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """A records file: its manifest and every other member, by name. Untrusted: any member
    other than the expected regular files within their limits (:func:`member_limit`), a
    damaged archive or a manifest that is not a JSON object with the data's identity refuses
    the whole file with one line."""
    members: dict[str, bytes] = {}

    def refuse(why: str) -> UserError:
        return UserError(f"{path} is refused, nothing was merged: {why}")

    try:
        with tarfile.open(path, "r:gz") as tar:
            for i, member in enumerate(tar):
                if i >= MAX_MEMBERS:
                    raise refuse(f"it holds more than {MAX_MEMBERS} members")
                name, limit = member.name, member_limit(member.name)
                if limit is None:
                    raise refuse(f"it holds {name!r}, which no records file holds")
                if not member.isfile():
                    raise refuse(f"{name!r} is not a regular file (a link, folder or device)")
                if name in members:
                    raise refuse(f"it holds {name!r} twice")
                if member.size > limit:
                    raise refuse(f"{name!r} is {member.size:,} bytes, over its limit of {limit:,}")
                data = tar.extractfile(member).read(limit + 1)  # type: ignore[union-attr]
                if len(data) != member.size:
                    raise refuse(f"{name!r} is truncated")
                members[name] = data
    except UserError:
        raise
    except (OSError, EOFError, tarfile.TarError, zlib.error) as err:
        raise UserError(
            f"cannot read the records file {path} (damaged or not a .tar.gz: {err}); "
            "nothing was merged"
        ) from None
    if "manifest.json" not in members:
        raise refuse("it holds no manifest.json: it is not a records file")
    try:
        manifest = json.loads(members.pop("manifest.json"))
    except (ValueError, UnicodeDecodeError) as err:
        raise refuse(f"its manifest.json is not JSON ({err})") from None
    identity = manifest.get("identity") if isinstance(manifest, Mapping) else None
    if not (
        isinstance(identity, Mapping)
        and isinstance(identity.get("archive"), Mapping)
        and isinstance(identity.get("packed"), Mapping)
    ):
        raise refuse("its manifest names no data identity (identity.archive, identity.packed)")
    return manifest, members


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


class Merged(NamedTuple):
    """What a merge did: one line a run added, and whether anything was written (a file
    merged twice writes nothing)."""

    runs: list[str]
    wrote: bool


def merge(records: Path, folder: Path, config: Mapping[str, Any]) -> Merged:
    """Add the runs of ``records`` to ``folder``; say what changed (:class:`Merged`).

    Refuses the whole file, writing nothing, when any run is refused: its data differs from
    the folder's, its settings from what ``config`` resolves for it today, its summary from its
    metrics, or the folder already holds it with other files (a held run is replaced only when
    its record is stale). The new state of the folder is built beside it and moved into place
    whole (:func:`_replace_folder`): everything or nothing.
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
        if parts[0] == "runs":
            runs.setdefault("/".join(parts[1:3]), {})[parts[3]] = data
    existing = recorded(folder)
    digests = dict(_read_json(folder / DIGESTS, {}))
    problems, added, writes = [], [], {}
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
                held_files = {
                    n: (existing[key] / n).read_bytes()
                    for n in RUN_FILES
                    if (existing[key] / n).is_file()
                }
                old = json.loads(held_files.get("summary.json", b"{}"))
                if held_files == files:  # already held as it is: only its digests, if missing
                    digests.setdefault(f"runs/{where}", file_digests(files))
                    continue
                if not stale_keys(old, config):
                    found.append(
                        f"{folder} already holds {key[0]} seed {key[1]} with other files "
                        f"({', '.join(n for n in RUN_FILES if held_files.get(n) != files[n])}); "
                        "a held run is replaced only when its record is stale"
                    )
                else:  # the old record is stale: this one redoes it
                    replaces = " (replaces its stale record)"
            if not found:
                writes.update({f"runs/{where}/{n}": data for n, data in files.items()})
                digests[f"runs/{where}"] = file_digests(files)
                added.append(
                    f"{key[0]} seed {key[1]}: {summary['best_val_acc']:.2f}% best top-1{replaces}"
                )
        problems += [f"runs/{where}: {p}" for p in found]
    if problems:
        raise UserError(f"{records} is refused, nothing was merged:\n  " + "\n  ".join(problems))
    for name, data in members.items():
        if name.startswith("data/") and not (folder / name).exists():
            writes[name] = data
    session = {k: v for k, v in manifest.items() if k != "identity"}
    sessions = _read_json(folder / "manifest.json", {"sessions": []})
    if session not in sessions["sessions"]:
        sessions["sessions"].append(session)
        writes["manifest.json"] = (json.dumps(sessions, indent=2, sort_keys=True) + "\n").encode()
    if digests != _read_json(folder / DIGESTS, {}):
        writes[DIGESTS] = (json.dumps(digests, indent=2, sort_keys=True) + "\n").encode()
    if identity != _read_json(folder / "identity.json"):
        writes["identity.json"] = (json.dumps(identity, indent=2, sort_keys=True) + "\n").encode()
    if writes:
        _replace_folder(folder, writes)
    return Merged(added, bool(writes))


def _replace_folder(folder: Path, writes: Mapping[str, bytes]) -> None:
    """``folder`` with ``writes`` (relative name -> bytes) added or replaced, as a whole: its
    new state is built in a sibling folder (a copy plus the writes), then swapped in by two
    renames; the old state is removed only after. An error before the swap leaves ``folder``
    as it was."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.merge-", dir=folder.parent))
    new, old = staging / "new", staging / "old"
    try:
        if folder.exists():
            shutil.copytree(folder, new, symlinks=True)
        for name, data in writes.items():
            target = new / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if folder.exists():
            folder.rename(old)
        new.rename(folder)
    finally:
        if old.exists() and not folder.exists():  # the second rename failed: put it back
            old.rename(folder)
        shutil.rmtree(staging, ignore_errors=True)


def folder_problems(folder: Path, run_dirs: Iterable[Path]) -> list[str]:
    """What no longer holds together in the folder's records ``run_dirs`` (one line a problem,
    naming the run folder), checked as the merge checked them: each record by itself
    (:func:`record_problems`), its folder, its data against the folder's identity.json. Their
    settings against today's config are not checked here: a stale record is shown, marked."""
    folder = Path(folder)
    identity = _read_json(folder / "identity.json")
    digests = _read_json(folder / DIGESTS, {})
    problems = []
    for run_dir in map(Path, run_dirs):
        files = {n: (run_dir / n).read_bytes() for n in RUN_FILES if (run_dir / n).is_file()}
        found = record_problems(files)
        if not found:
            summary = json.loads(files["summary.json"])
            found += run_records.place_problems(summary, f"{run_dir.parent.name}/{run_dir.name}")
            found += data_problems(summary, identity) if identity else []
        found += digest_problems(digests, f"runs/{run_dir.parent.name}/{run_dir.name}", files)
        problems += [f"{run_dir}: {p}" for p in found]
    return problems


def file_digests(files: Mapping[str, bytes]) -> dict[str, str]:
    """Each file's SHA-256 (hex), by name: what digests.json keeps of a merged run."""
    return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}


def digest_problems(
    digests: Mapping[str, Mapping[str, str]], where: str, files: Mapping[str, bytes]
) -> list[str]:
    """Where a run folder's files differ from what the merge recorded of them in the folder's
    digests.json (``where``: ``runs/<experiment>/seed<s>``): every file of every run, the
    columns of metrics.csv its summary does not repeat included, and records older than the
    summary's own metrics digest."""
    recorded = digests.get(where)
    if recorded is None:
        return [
            f"{DIGESTS} has no entry for {where}: it was not merged (copied in by hand?); "
            "merge its records file instead"
        ]
    changed = [n for n in RUN_FILES if recorded.get(n) != file_digests(files).get(n)]
    if changed:
        return [f"{', '.join(changed)} differ from what the merge recorded in {DIGESTS}"]
    return []


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
    runs, stale, left_out = shown_runs(folder, config)
    current = _current(runs, stale)
    order = [(e, int(s)) for e, s in order]
    return {
        "folder": str(_shown(folder)),
        "archive": identity.get("archive"),
        "hardware": hardware(runs, config),
        "recorded": len(runs),
        "stale": stale,
        "left_out": left_out,
        "planned": [{"experiment": e, "seed": s} for e, s in order if (e, s) not in current],
        "order": [{"experiment": e, "seed": s} for e, s in order],
    }


def hardware(runs: Mapping[tuple[str, int], Path], config: Mapping[str, Any]) -> list[str]:
    """Which machine made which runs, from each record itself (its summary's machine, torch and
    numerics): "run 2 seed 0 on AMD EPYC (4 threads), torch 2.14.1+cu130, fp32, channels_last",
    one entry a machine, its runs in the config's order."""
    order = {name: i for i, name in enumerate(experiment_entries(config))}
    machines: dict[str, list[str]] = {}
    for experiment, seed in sorted(runs, key=lambda r: (order.get(r[0], len(order)), r)):
        summary = json.loads((runs[(experiment, seed)] / "summary.json").read_text("utf-8"))
        numerics = summary.get("precision") or ""
        if summary.get("compile") not in (None, "none"):
            numerics += f", torch.compile {summary['compile']}"
        words = ", ".join(
            w
            for w in (
                machine_words(summary),
                f"torch {summary['torch_version']}" if summary.get("torch_version") else "",
                numerics,
            )
            if w
        )
        run = (config["experiments"].get(experiment) or {}).get("paper", {}).get("run")
        label = f"run {run}" if run is not None else experiment
        machines.setdefault(words, []).append(f"{label} seed {seed}")
    return [f"{', '.join(labels)} on {words}" for words, labels in machines.items()]


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory (the repository) when inside it."""
    path, here = Path(path).resolve(), Path.cwd().resolve()
    return path.relative_to(here) if path.is_relative_to(here) else path


# --- the README's table ---------------------------------------------------------------------

README_BEGIN = "<!-- reference results: written by `make paper-reference`, checked by the tests -->"
README_END = "<!-- end of reference results -->"


def readme_table(folder: Path, config: Mapping[str, Any]) -> str:
    """The paper's runs, the paper's best top-1 beside the reference runs' (mean ± std over the
    seeds recorded) and the machines that trained them, as a Markdown table; "not yet run"
    where the folder holds none."""
    import statistics

    from tinycnn.formatting import fmt_acc, fmt_lr, fmt_paper

    runs, stale_runs, _ = shown_runs(folder, config)
    stale = {(s["experiment"], s["seed"]) for s in stale_runs}
    lines = [
        "| run | experiment | model | lr | paper | reference (best top-1, %) | seeds "
        "| trained on |",
        "|---:|---|---|---|---:|---:|---:|---|",
    ]
    for name, entry in config["experiments"].items():
        paper = entry.get("paper") or {}
        settings = training_settings(config, name)
        accs, machines = [], []
        for (experiment, _seed), run_dir in sorted(runs.items()):
            if experiment == name:
                summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
                accs.append(summary["best_val_acc"])
                machines.append(machine_words(summary))
        ours = "not yet run"
        if accs:
            std = statistics.stdev(accs) if len(accs) > 1 else None
            ours = fmt_acc(statistics.fmean(accs), std, len(accs))
            if any(experiment == name for experiment, _ in stale):
                ours += " (stale)"
        lines.append(
            f"| {paper.get('run', '')} | `{name}` | {entry['model']} | "
            f"{fmt_lr(settings['optimizer']['lr'])} | "
            f"{fmt_paper(paper.get('accuracy'), paper.get('stated'))} | {ours} | {len(accs)} | "
            f"{'; '.join(dict.fromkeys(machines))} |"
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
