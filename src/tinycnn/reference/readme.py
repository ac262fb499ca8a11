"""The README's table of the reference runs, written by ``make paper-reference``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tinycnn.config.resolve import training_settings
from tinycnn.reference.folder import runs_in_paper
from tinycnn.shared.errors import UserError
from tinycnn.shared.files import write_text
from tinycnn.shared.hardware import machine_words

# --- the README's table ---------------------------------------------------------------------

README_BEGIN = "<!-- reference results: written by `make paper-reference`, checked by the tests -->"
README_END = "<!-- end of reference results -->"


def readme_table(folder: Path, config: Mapping[str, Any]) -> str:
    """The paper's runs, the paper's best top-1 beside the reference runs' (mean ± std over the
    seeds recorded) and the machines that trained them, as a Markdown table; "not yet run"
    where the folder holds none."""
    import statistics

    from tinycnn.report.formatting import fmt_acc, fmt_lr, fmt_paper

    runs, stale_runs, _ = runs_in_paper(folder, config)
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
