"""What a run folder must hold together before anything reads its numbers, in one torch-free place.

A run folder (``runs/<experiment>/seed<seed>/``: metrics.csv, summary.json) is checked
- against itself: the summary's results are what its metrics say (:func:`summary_problems`),
  and it lies in the folder of its experiment and seed (:func:`place_problems`);
- against the settings its experiment was given (:func:`settings_problems`): ``resolved`` is
  the settings file the train job read, key for key;
- against the data it names (:func:`data_problems`): every file of summary.json's
  ``data.arrays`` is the file given here (:class:`DataIdentity`), digest for digest.

:mod:`tinycnn.report.aggregate` runs these checks on every run folder of the workflow, and
:mod:`tinycnn.reference` on every record it merges (the data then against the reference
folder's ``identity.json``). Each check returns what differs, as short phrases; the caller
names the run and says what to do.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tinycnn.shared.contract import METRIC_COLUMNS, RUN_DATA_FILES
from tinycnn.shared.digests import content_id

# Summary results that must equal what metrics.csv says: the row of the best validation
# accuracy (the first such row) and the last row; summary key -> metrics column.
FROM_BEST = {"best_val_acc": "val_acc", "best_val_top5": "val_top5", "best_epoch": "epoch"}
FROM_LAST = {
    "final_val_acc": "val_acc",
    "final_val_top5": "val_top5",
    "final_train_acc": "train_acc",
}
# The summary's train_seconds is the sum of the epochs' epoch_seconds, rounded to 3 decimals.
SECONDS_TOLERANCE = 1e-3
# What a finished run records beside its results: which code and which data made them.
PROVENANCE_KEYS = ("code", "data")
AUGMENTED = "augmented/"
_ABSENT = object()


# --- metrics.csv ----------------------------------------------------------------------------


def read_metrics(text: str) -> list[dict[str, float]]:
    """The rows of a metrics.csv (its text), each a mapping of METRIC_COLUMNS to numbers.

    Raises ValueError when the header is not METRIC_COLUMNS or a row does not parse."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split(",") != list(METRIC_COLUMNS):
        raise ValueError(f"its header is not {','.join(METRIC_COLUMNS)}")
    return [
        {k: float(v) for k, v in zip(METRIC_COLUMNS, line.split(","), strict=True)}
        for line in lines[1:]
    ]


# --- the summary against its metrics ----------------------------------------------------------


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def summary_problems(
    summary: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], *, kind: str = "finished"
) -> list[str]:
    """Where a summary disagrees with its metrics' ``rows`` (one an epoch): the best and final
    results, the number of epochs (the summary's ``epochs`` and its settings' ``epochs`` are
    the rows: a run cut short is not a ``kind`` run), the training time (the epochs' sum)."""
    if not rows:
        return ["metrics.csv has no epoch"]
    problems = []
    best = max(rows, key=lambda r: r["val_acc"])
    for source, keys in ((best, FROM_BEST), (rows[-1], FROM_LAST)):
        for key, column in keys.items():
            if not math.isclose(_number(summary.get(key)), source[column], abs_tol=1e-6):
                problems.append(
                    f"summary {key} {summary.get(key)} but metrics.csv says {source[column]:g}"
                )
    epochs = (summary.get("resolved") or {}).get("epochs")
    if summary.get("epochs") != len(rows) or epochs != len(rows):
        problems.append(
            f"{len(rows)} epochs in metrics.csv, {summary.get('epochs')} in the summary, "
            f"{epochs} in its settings: a run cut short is not a {kind} run"
        )
    seconds = round(sum(r["epoch_seconds"] for r in rows), 3)
    if not math.isclose(_number(summary.get("train_seconds")), seconds, abs_tol=SECONDS_TOLERANCE):
        problems.append(
            f"summary train_seconds {summary.get('train_seconds')} but metrics.csv's "
            f"epoch_seconds sum to {seconds:g}"
        )
    return problems


def provenance_problems(summary: Mapping[str, Any]) -> list[str]:
    """A summary that does not record its code or its data (an older run)."""
    return [
        f"the summary does not record its {key} (written by an older version of the training step)"
        for key in PROVENANCE_KEYS
        if not isinstance(summary.get(key), Mapping)
    ]


def metrics_digest_problems(summary: Mapping[str, Any], metrics: bytes) -> list[str]:
    """A metrics.csv other than the one its summary's ``metrics_sha256`` names: an edit of
    the columns the summary does not repeat (losses, learning rate, epochs, row order) that
    :func:`summary_problems` cannot see. Summaries written before 2026-12-07 record no digest;
    the reference folder's digests.json covers those (tinycnn.reference)."""
    recorded = summary.get("metrics_sha256")
    if recorded is None:
        return []
    actual = hashlib.sha256(metrics).hexdigest()
    if recorded != actual:
        return [
            f"metrics.csv is not the file its summary recorded (SHA-256 {actual[:12]}…, the "
            f"summary says {str(recorded)[:12]}…): edited since the run wrote it"
        ]
    return []


# What a record must say of the machine that trained it: the device and its name (the CPU's
# model and threads, or the GPU), torch, and the numerics as resolved. A record of a machine no
# one can name is refused by the merge (tinycnn.reference); newer records add ``machine``
# (tinycnn.shared.hardware.machine: cores, driver).
MACHINE_KEYS = ("device", "device_name", "torch_version", "precision", "compile")


def machine_problems(summary: Mapping[str, Any]) -> list[str]:
    """A summary that does not name the machine and numerics that trained it."""
    missing = [k for k in MACHINE_KEYS if not (isinstance(summary.get(k), str) and summary[k])]
    if missing:
        return [f"the summary does not record the machine that trained it ({', '.join(missing)})"]
    return []


def place_problems(summary: Mapping[str, Any], where: str) -> list[str]:
    """A summary of another run than its folder's (``where``: ``<experiment>/seed<seed>``)."""
    experiment, seed = summary.get("experiment"), summary.get("seed")
    if where != f"{experiment}/seed{seed}":
        return [f"its summary is of {experiment} seed {seed}, its folder {where}"]
    return []


# --- the settings -----------------------------------------------------------------------------


def _walk(a: Any, b: Any, prefix: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) wherever two JSON values differ (_ABSENT: no key)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            where = f"{prefix}.{key}" if prefix else str(key)
            yield from _walk(a.get(key, _ABSENT), b.get(key, _ABSENT), where)
    elif a != b:
        yield prefix or "(the whole value)", a, b


def differences(a: Any, b: Any) -> list[str]:
    """The dotted keys where two JSON values differ."""
    return [where for where, _, _ in _walk(a, b)]


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "absent"
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def settings_problems(summary: Mapping[str, Any], settings: Any, source: str) -> list[str]:
    """Where the settings a run recorded (``resolved``) differ from ``settings``, the settings
    its experiment was given (``source`` names them): one phrase listing each key."""
    recorded = json.loads(json.dumps(summary.get("resolved")))
    given = json.loads(json.dumps(settings))
    found = [f"{k} {_shown(a)} (in {source}: {_shown(b)})" for k, a, b in _walk(recorded, given)]
    if not found:
        return []
    return [f"it ran with other settings than {source}: " + ", ".join(found)]


# --- the data ---------------------------------------------------------------------------------


class DataIdentity:
    """What runs must have been trained on: the archive's MD5 and each file's ``sha256:<hex>``,
    by the name summary.json's ``data.arrays`` gives it (``train_images.npy``, ...,
    ``augmented/<set>``).

    ``complete``: the files given are all the data a run may name, and a run must name each
    packed file among them; otherwise (a reference folder's identity, which learns each set
    from the first run that used it) a name it does not know is not checked."""

    def __init__(
        self,
        archive_md5: str | None,
        digests: Mapping[str, str],
        *,
        source: str,
        complete: bool,
        archive_source: str,
        paths: Mapping[str, Path] | None = None,
    ) -> None:
        self.archive_md5 = archive_md5
        self.archive_source = archive_source
        self._digests = dict(digests)
        self._paths = dict(paths or {})
        self.source = source
        self.complete = complete

    @classmethod
    def of_files(cls, data_dir: Path, augmented: Mapping[str, Path]) -> DataIdentity:
        """The packed folder ``data_dir`` (RUN_DATA_FILES) and the materialized sets
        (set -> path). Each file is hashed when a run first names it: its recorded digest
        (``<file>.sha256``, atomic.read_digest) where that still describes it, else its hash."""
        paths = {name: Path(data_dir) / name for name in RUN_DATA_FILES}
        paths.update({AUGMENTED + name: Path(path) for name, path in augmented.items()})
        stats = Path(data_dir) / "stats.json"
        try:
            md5 = json.loads(stats.read_text(encoding="utf-8")).get("archive_md5")
        except (OSError, ValueError, AttributeError):
            md5 = None  # a missing or broken stats.json is named by its own digest
        return cls(
            md5,
            {},
            source=str(data_dir),
            complete=True,
            archive_source=f"{stats} names",
            paths=paths,
        )

    @classmethod
    def of_reference(cls, identity: Mapping[str, Any], source: str) -> DataIdentity:
        """A reference folder's identity.json (archive, packed, augmented)."""
        digests = dict(identity["packed"])
        digests.update({AUGMENTED + k: v for k, v in (identity.get("augmented") or {}).items()})
        return cls(
            identity["archive"]["md5"],
            digests,
            source=source,
            complete=False,
            archive_source=f"{source}'s is",
        )

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self._digests, *self._paths]))

    def where(self, name: str) -> str:
        """How a message names the file ``name`` given here."""
        path = self._paths.get(name)
        return str(path) if path is not None else f"{self.source}'s {name}"

    def digest(self, name: str) -> str | None:
        """``sha256:<hex>`` of the file ``name``; None when it is not here (or not a file)."""
        if name not in self._digests:
            path = self._paths.get(name)
            if path is None or not path.is_file():
                return None
            self._digests[name] = content_id(path)
        return self._digests[name]


def required_files(summary: Mapping[str, Any], given: DataIdentity) -> list[str]:
    """The files a run must have recorded: each packed file given, and with ``given``
    complete, each set it trained on in mode fixed (its settings say which)."""
    names = [n for n in given.names() if not n.startswith(AUGMENTED)]
    augmentation = (summary.get("resolved") or {}).get("augmentation") or {}
    if given.complete and augmentation.get("mode") == "fixed":
        names += [AUGMENTED + s for s in augmentation.get("sets") or []]
    return names


def data_problems(summary: Mapping[str, Any], given: DataIdentity) -> list[str]:
    """Where the data a run names (summary.json's ``data``) differs from the data ``given``."""
    data = summary.get("data")
    if not isinstance(data, Mapping):
        return ["the summary does not record its data"]
    arrays = data.get("arrays") if isinstance(data.get("arrays"), Mapping) else {}
    problems = []
    if given.archive_md5 is not None and data.get("archive_md5") != given.archive_md5:
        problems.append(
            f"trained on the archive with MD5 {data.get('archive_md5')}, "
            f"{given.archive_source} {given.archive_md5}"
        )
    missing = [n for n in required_files(summary, given) if n not in arrays]
    if missing:
        problems.append(f"it records no digest of {', '.join(missing)}")
    for name, recorded in arrays.items():
        if name not in given.names():
            if given.complete:
                problems.append(f"it was trained on {name}, which is not among the data given")
            continue
        digest = given.digest(name)
        if digest is None:
            problems.append(f"it was trained on {name}, but {given.where(name)} is missing")
        elif recorded != digest:
            problems.append(f"its {name} is {recorded}, {given.where(name)} is {digest}")
    return problems
