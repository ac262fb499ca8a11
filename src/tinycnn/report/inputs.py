"""The report's inputs, read: the aggregate folder (:class:`Results`), the reference file, the
class names, a figure's PNG as a data URI; and the record of an experiment the config names
without results (:func:`not_run_record`), its settings as configured."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tinycnn.data.pack import read_classes
from tinycnn.report import (
    facts,
    formatting,
    words,
)
from tinycnn.shared.contract import AGGREGATE_FILES, EXPERIMENTS_CSV_COLUMNS, PAPER_KEYS
from tinycnn.shared.errors import UserError

# --- inputs ------------------------------------------------------------------------------------


def _missing(path: Path) -> UserError:
    return UserError(f"{path} is missing: run the aggregate step first.")


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise _missing(path)
    return pd.read_csv(path)


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise _missing(path)
    return json.loads(path.read_text(encoding="utf-8"))


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of Python values, missing values as None."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


@dataclass
class Results:
    """The aggregate folder, read: experiments in paper order, per-epoch metrics, the runs'
    recorded settings (by experiment) and architectures (by arch), figures."""

    folder: Path
    experiments: list[dict[str, Any]]
    epochs: pd.DataFrame
    settings: dict[str, dict[str, Any]]
    architectures: dict[str, dict[str, Any]]
    figures: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    ablations: list[dict[str, Any]]
    beyond: list[dict[str, Any]]
    numbers: dict[str, str]  # numbers.json: every number, formatted, by name

    @classmethod
    def load(cls, folder: Path) -> Results:
        def path(name: str) -> Path:
            return folder / AGGREGATE_FILES[name]

        experiments = _read_csv(path("experiments"))
        experiments = experiments.sort_values("run", kind="stable", na_position="last")
        return cls(
            folder,
            _records(experiments),
            _read_csv(path("epochs")),
            _read_json(path("settings")),
            _read_json(path("architectures")),
            _read_json(path("figures_json")),
            _records(_read_csv(path("claims"))),
            _records(_read_csv(path("ablations"))),
            _records(_read_csv(path("beyond"))),
            _read_json(path("numbers")),
        )

    def history(self, experiment: str) -> list[dict[str, Any]]:
        """Per-epoch metrics of one experiment, averaged over its seeds, as records."""
        rows = self.epochs[self.epochs["experiment"] == experiment]
        rows = rows.drop(columns=["experiment", "seed"])
        return _records(rows.groupby("epoch").mean(numeric_only=True).reset_index())


# --- what the config says of the runs not yet made, and the reference runs ----------------------


def not_run_record(
    name: str, entry: Mapping[str, Any], config: Mapping[str, Any], settings: Mapping[str, Any]
) -> dict[str, Any]:
    """An experiment the config names without results, as a record with experiments.csv's
    columns: its settings as configured (``settings``: :func:`tinycnn.config.merge.recipe_of`)
    and the paper's numbers; every measured column None, ``n_seeds`` 0, marked not run."""
    paper = entry.get("paper") or {}
    model = entry["model"]
    augmentation = settings.get("augmentation") or {}
    return {
        **dict.fromkeys(EXPERIMENTS_CSV_COLUMNS),
        "experiment": name,
        "run": paper.get("run"),
        "model": model,
        "arch": (config["models"].get(model) or {}).get("arch"),
        "section": (config["models"].get(model) or {}).get("section", model),
        "sets": "+".join(augmentation.get("sets") or []),
        "mode": augmentation.get("mode"),
        "lr": (settings.get("optimizer") or {}).get("lr"),
        "scheduler": formatting.fmt_scheduler(settings.get("scheduler")),
        "epochs": settings.get("epochs"),
        "batch_size": settings.get("batch_size"),
        "n_seeds": 0,
        **{f"paper_{k}": paper.get(k) for k in PAPER_KEYS},
        facts.NOT_RUN: True,
    }


def order_key(config: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], tuple[float, float]]:
    """Paper order: the paper's run number, then the config's order (others last)."""
    index = {name: i for i, name in enumerate(config.get("experiments") or {})}
    return lambda e: (
        float(e["run"]) if e.get("run") is not None else float("inf"),
        index.get(e["experiment"], float("inf")),
    )


def read_reference(path: Path) -> dict[str, Any]:
    """``--reference``: the reference runs' folder, archive, hardware, and their ``stale`` and
    ``planned`` runs (both required, lists of {experiment, seed, ...}); the other keys are
    optional."""
    try:
        reference = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the reference file {path}: {err}") from None
    if not isinstance(reference, dict) or any(
        not isinstance(reference.get(key), list) for key in ("stale", "planned")
    ):
        raise UserError(
            f"the reference file {path} should hold a JSON object with the lists `stale` and "
            "`planned` (and optionally folder, archive, hardware, order)"
        )
    for key in ("stale", "planned"):
        for entry in reference[key]:
            if not isinstance(entry, dict) or "experiment" not in entry or "seed" not in entry:
                raise UserError(
                    f"the reference file {path}: each entry of `{key}` needs experiment and seed"
                )
            if entry.get("waits_for") not in (None, "cpu", "gpu") or not isinstance(
                entry.get("cpu_seconds", 0), int | float | None
            ):
                raise UserError(
                    f"the reference file {path}: a `{key}` entry's waits_for is cpu or gpu, its "
                    "cpu_seconds a number"
                )
    return reference


def stale_runs(reference: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """The stale runs by experiment: [{seed, differs}], in seed order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in (reference or {}).get("stale") or []:
        out.setdefault(str(entry["experiment"]), []).append(
            {"seed": int(entry["seed"]), "differs": [str(k) for k in entry.get("differs") or []]}
        )
    return {k: sorted(v, key=lambda s: s["seed"]) for k, v in out.items()}


def stale_words(
    records: Sequence[Mapping[str, Any]], stale: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[str]:
    """Each stale run of ``records``' experiments: ``run 2, seed 0: optimizer.lr, epochs``."""
    return [
        f"{words.run_label(e)}, seed {s['seed']}: {', '.join(s['differs']) or 'settings'}"
        for e in records
        for s in stale.get(e["experiment"], [])
    ]


def data_uri(path: Path) -> str:
    if not path.is_file():
        raise UserError(f"figure {path} is missing: run the step that makes it again.")
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def class_names(classes_tsv: Path) -> list[str]:
    """Class names in label order: the first synonym of each class's words."""
    return [words.split(",")[0].strip() for _, words in read_classes(classes_tsv)]
