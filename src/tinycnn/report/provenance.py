"""What the regenerated paper was made from: code version, config, software, hardware, timing.

``collect_provenance`` returns plain JSON-serializable data, so that it can be saved beside the
paper as well as rendered in its Appendix B.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from tinycnn.shared.code_version import git
from tinycnn.shared.contract import JOB_COLUMNS, JOB_ROLES
from tinycnn.shared.hardware import cpu_model

UNKNOWN = "unknown"
PACKAGES = (
    "torch",
    "torchvision",
    "numpy",
    "pandas",
    "matplotlib",
    "jinja2",
    "weasyprint",
    "snakemake",
)


def git_state(workflow_dir: Path) -> dict[str, Any]:
    """``commit`` (hex or "unknown"), ``dirty`` (True, False or "unknown"), ``changed`` files."""
    commit = git(workflow_dir, "rev-parse", "HEAD")
    status = git(workflow_dir, "status", "--porcelain") if commit else None
    if commit is None or status is None:
        return {"commit": UNKNOWN, "dirty": UNKNOWN, "changed": 0}
    changed = [line for line in status.splitlines() if line.strip()]
    return {"commit": commit.strip(), "dirty": bool(changed), "changed": len(changed)}


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the merged config as JSON with sorted keys (independent of key order)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return UNKNOWN


def package_versions() -> dict[str, str]:
    """Python and the installed versions of the packages the pipeline depends on."""
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def _runs(jobs_csv: Path) -> list[dict[str, Any]]:
    """One record per training job (experiment and seed) with its role, device and timing:
    the paper's runs in its order, then the ablation variants', then the runs beyond it."""
    table = pd.read_csv(jobs_csv, dtype={"commit": str})  # a commit of digits stays text
    table = table[[c for c in JOB_COLUMNS if c in table.columns]]
    order = table["role"].map({role: i for i, role in enumerate(JOB_ROLES)})
    table = table.assign(_order=order).sort_values(
        ["_order", "run", "experiment", "seed"], kind="stable", na_position="last"
    )
    return json.loads(table.drop(columns="_order").to_json(orient="records"))


def collect_provenance(
    workflow_dir: Path, config_files: Sequence[Path], config: Mapping, jobs_csv: Path
) -> dict:
    """Git state, config files and hash, package versions, hardware, render date, and the
    timing of every training job (``jobs_csv``: the aggregate's jobs.csv)."""
    workflow_dir = Path(workflow_dir)
    runs = _runs(Path(jobs_csv))
    files = []
    for path in map(Path, config_files):
        shown = path.resolve()
        if shown.is_relative_to(workflow_dir.resolve()):
            shown = shown.relative_to(workflow_dir.resolve())
        files.append({"path": str(shown), "sha256": _file_hash(path)})
    devices = list(dict.fromkeys(r["device_name"] for r in runs if r.get("device_name")))
    return {
        "git": git_state(workflow_dir),
        "config_files": files,
        "config_sha256": config_hash(config),
        "packages": package_versions(),
        "hardware": {
            "training_devices": devices,
            "platform": platform.platform(),
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count() or 0,
        },
        "rendered": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "runs": runs,
    }
