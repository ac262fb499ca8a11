"""The reference folder (``reference/``): the runs merged into it, what the paper shows of it,
and the merge that adds a records file's runs, everything or nothing."""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from tinycnn.config import ablations
from tinycnn.config.resolve import experiment_entries
from tinycnn.reference.checks import data_problems, differences, record_problems, stale_keys
from tinycnn.reference.records_file import RUN_FILES, read_records
from tinycnn.report import provenance_words
from tinycnn.report import records as run_records
from tinycnn.report.formatting import fmt_list
from tinycnn.shared.errors import UserError
from tinycnn.shared.hardware import machine_words

FOLDER = "reference"
# The SHA-256 of every file of every run the merge added, by run folder: the render refuses a
# record edited since (a column the summary does not repeat included) or copied in by hand.
DIGESTS = "digests.json"


# --- the folder -----------------------------------------------------------------------------


def _read_json(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else default


def run_folders(folder: Path) -> dict[tuple[str, int], Path]:
    """The run folders of ``folder``, by (experiment, seed)."""
    out = {}
    for summary in sorted(Path(folder).glob("runs/*/seed*/summary.json")):
        record = json.loads(summary.read_text(encoding="utf-8"))
        out[(record["experiment"], int(record["seed"]))] = summary.parent
    return out


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
    existing = run_folders(folder)
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


class PaperRuns(NamedTuple):
    """Which of a reference folder's runs the paper shows (:func:`runs_in_paper`)."""

    shown: dict[tuple[str, int], Path]  # (experiment, seed) -> its folder
    stale: list[dict[str, Any]]  # of those shown, the ones recorded with other settings
    left_out: list[dict[str, Any]]  # stale and superseded, or no longer in the config


def runs_in_paper(folder: Path, config: Mapping[str, Any]) -> PaperRuns:
    """The folder's runs the paper shows, the stale ones among them (with the settings that
    differ), and the ones left out: a stale run of an experiment that a fresh run of it
    supersedes, or whose experiment is no longer in the config."""
    runs = run_folders(folder)
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
    return PaperRuns(shown, stale, left_out)


def runs_as_configured(folder: Path, config: Mapping[str, Any]) -> set[tuple[str, int]]:
    """The runs the folder holds with the settings ``config`` resolves for them today: the runs
    of the priority order that no machine trains again (a stale record is redone)."""
    return _as_configured(runs_in_paper(folder, config))


def _as_configured(runs: PaperRuns) -> set[tuple[str, int]]:
    """Of the runs shown, those recorded with today's settings."""
    return set(runs.shown) - {(s["experiment"], s["seed"]) for s in runs.stale}


def context(
    folder: Path,
    config: Mapping[str, Any],
    order: Iterable[tuple[str, int]],
    *,
    cpu_plan: Iterable[Mapping[str, Any]] | None = None,
    official: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the report says of the reference folder (``tinycnn paper-html --reference``).
    ``cpu_plan`` (:func:`tinycnn.reference.plan` on the CPU's rates) says which runs not yet
    recorded a CPU can train and which wait for a GPU; ``official``, the official archive's
    ``data`` (config.yaml's), is named beside the rebuilt one when their MD5 differ."""
    folder = Path(folder)
    identity = _read_json(folder / "identity.json") or {}
    in_paper = runs_in_paper(folder, config)
    runs, stale, left_out = in_paper
    current = _as_configured(in_paper)
    order = [(e, int(s)) for e, s in order]
    planned = [(e, s) for e, s in order if (e, s) not in current]
    seeds = {e: sum(1 for x, _ in order if x == e) for e, _ in order}
    on_cpu = {(r["experiment"], int(r["seed"])): r for r in cpu_plan or []}
    out = {
        "folder": str(_shown(folder)),
        "archive": identity.get("archive"),
        "hardware": hardware(runs, config),
        "recorded": len(runs),
        "stale": stale,
        "left_out": left_out,
        # each with what it waits for (the CPU's plan: its turn there, or a GPU) and its
        # projected seconds on the CPU, where the CPU's plan is known
        "planned": [
            {"experiment": e, "seed": s, **_waiting(on_cpu.get((e, s)))} for e, s in planned
        ],
        "order": [{"experiment": e, "seed": s} for e, s in order],
        "experiments": len(seeds),
        "seeds_each": next(iter(set(seeds.values()))) if len(set(seeds.values())) == 1 else None,
    }
    if cpu_plan is not None:
        kinds = [entry.get("waits_for") for entry in out["planned"]]
        out["waiting"] = {"cpu": kinds.count("cpu"), "gpu": kinds.count("gpu")}
    archive = identity.get("archive") or {}
    # The same file name with another MD5: the rebuilt archive (presets/real.yaml), whose zip
    # bytes differ from the official one's (a reader's MD5 check of the official zip must
    # not be expected to match). Another name (the demo's archive) is no such rebuild.
    rebuilt = archive.get("name") == (official or {}).get("filename")
    if rebuilt and official.get("md5") and archive.get("md5") not in (None, official["md5"]):
        out["official"] = {
            "url": (official.get("urls") or [None])[0],
            "md5": official["md5"],
            "size": official.get("size"),
        }
    return out


def _waiting(cpu_run: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a planned run waits for, from its entry in the CPU's plan: ``cpu`` (its turn on a
    CPU) or ``gpu``, and its projected seconds on the CPU (None: no CPU rate for it)."""
    if cpu_run is None:
        return {}
    return {
        "waits_for": "cpu" if cpu_run["waits_for"] is None else "gpu",
        "cpu_seconds": cpu_run["seconds"],
    }


def hardware(runs: Mapping[tuple[str, int], Path], config: Mapping[str, Any]) -> list[str]:
    """Which machine made which runs, from each record itself (its summary's machine, torch and
    numerics): "run 2 seed 0 on AMD EPYC CPU (4 threads)", one entry a machine, its runs in the
    config's order; torch and the numerics in each entry, or, where every run shares them, once
    in a last entry ("every run with torch 2.14.1+cu130, in fp32, channels-last layout")."""
    order = {name: i for i, name in enumerate(experiment_entries(config))}
    machines: dict[tuple[str, str], list[tuple[str, int]]] = {}
    for experiment, seed in sorted(runs, key=lambda r: (order.get(r[0], len(order)), r)):
        summary = json.loads((runs[(experiment, seed)] / "summary.json").read_text("utf-8"))
        numerics = provenance_words.numerics(summary.get("precision"), summary.get("compile"))
        torch = f"torch {summary['torch_version']}" if summary.get("torch_version") else ""
        how = ", in ".join(w for w in (torch, numerics) if w)
        machines.setdefault((machine_words(summary), how), []).append((experiment, seed))
    shared = {how for _, how in machines}
    if len(shared) == 1:
        (how,) = shared
        entries = [f"{_runs_in_words(made, config)} on {m}" for (m, _), made in machines.items()]
        return [*entries, f"every run with {how}"] if how else entries
    return [
        f"{_runs_in_words(made, config)} on {', '.join(w for w in (m, how) if w)}"
        for (m, how), made in machines.items()
    ]


def _runs_in_words(runs: Iterable[tuple[str, int]], config: Mapping[str, Any]) -> str:
    """``run 3 seed 0, 2 ablation runs of M1 (seed 0) and 1 run beyond the paper (seed 1)``:
    the paper's runs by number, the others counted by kind (their names are identifiers a
    reader of the first lines does not know yet; the ablation section and the waiting table
    name them)."""
    variants = {v.experiment: v for v in ablations.trained(config)}
    entries = experiment_entries(config)
    paper, others = [], {}
    for experiment, seed in runs:
        run = (config["experiments"].get(experiment) or {}).get("paper", {}).get("run")
        if run is not None:
            paper.append(f"run {run} seed {seed}")
            continue
        model = (entries.get(experiment) or {}).get("model")
        kind = (
            f"ablation run of {model}" if experiment in variants else "run beyond the paper",
            "ablation runs of " + str(model) if experiment in variants else "runs beyond the paper",
        )
        others.setdefault(kind, []).append((experiment, seed))
    said = list(paper)
    for (one, many), made in others.items():
        seeds = sorted({seed for _, seed in made})
        which = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {fmt_list(map(str, seeds))}"
        said.append(f"{len(made)} {one if len(made) == 1 else many} ({which})")
    return fmt_list(said)


def _shown(path: Path) -> Path:
    """``path`` relative to the working directory (the repository) when inside it."""
    path, here = Path(path).resolve(), Path.cwd().resolve()
    return path.relative_to(here) if path.is_relative_to(here) else path
