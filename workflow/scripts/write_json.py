"""Rules `settings` and `config_snapshot`: write the rule's `params.json` to its output.

`params.json` is JSON text with sorted keys: the value Snakemake compares to decide whether the
job must run again, and exactly what the output holds (atomically written, indented).
"""

import json
from pathlib import Path

from tinycnn.shared.files import write_json

job = snakemake  # noqa: F821 (the object Snakemake gives every script)
write_json(job.output[0], json.loads(job.params.json))
Path(job.log[0]).write_text(f"wrote {job.output[0]}\n", encoding="utf-8")
