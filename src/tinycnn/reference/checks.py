"""Checking one record: the checks the aggregate makes of every run folder
(tinycnn.report.records), its settings against today's config, its data against the folder's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tinycnn.config.resolve import experiment_entries, training_settings
from tinycnn.reference.records_file import RUN_FILES
from tinycnn.report import records as run_records

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
