"""Every model's architecture from the model code, trained or not.

The paper prints the layer table and the parameter count of each model it trains; a model
that waits for its runs (a GPU, or its turn on the CPU) has them too, since they need no run.
The report imports no torch, so this module writes them to a file the aggregate reads
(``tinycnn architectures``, rule ``architectures``, which names the architectures the
experiments train: :func:`tinycnn.commands.architectures`): one :func:`~tinycnn.training.models.
architecture_record` per architecture, with its ``parameters``. A run's own record (its
summary's ``architecture``) wins where both exist: it is what trained.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tinycnn.data.tinyimagenet import IMAGE_SIZE
from tinycnn.shared.files import write_json
from tinycnn.training.models import architecture_record, build_model, count_parameters


def architectures(archs: Iterable[str], classes: int) -> dict[str, dict[str, Any]]:
    """Each architecture of ``archs`` built for ``classes`` classes: its record and parameter
    count, by ``arch``, in the order given."""
    out: dict[str, dict[str, Any]] = {}
    for arch in dict.fromkeys(archs):
        net = build_model(arch, classes)
        out[arch] = {
            **architecture_record(arch, net, image_size=IMAGE_SIZE),
            "parameters": count_parameters(net),
        }
    return out


def write_architectures(archs: Iterable[str], stats: Path, out: Path) -> None:
    """:func:`architectures` for the classes the packed data holds (its ``stats.json``)."""
    classes = int(json.loads(Path(stats).read_text(encoding="utf-8"))["classes"])
    write_json(Path(out), architectures(archs, classes))
