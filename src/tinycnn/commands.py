"""The command line of each stage, built in one place.

The Snakemake rules (each rule's ``params.command``), the reference runner and ``tinycnn
reference render`` build a stage's ``tinycnn`` arguments here and nowhere else, so that a flag
renamed in :mod:`tinycnn.cli` is renamed for every caller, and what a command takes from the
config (a set's ops, the augmentation seed, the preview's size) is read once. Each function
returns the arguments after ``tinycnn``, as strings; :func:`shell` quotes them for a rule.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tinycnn.config import ablations

PathArg = str | os.PathLike[str]  # a path, as str or Path
# The preview grid when the config's augmentation.preview leaves a size out: images (rows) and
# draws of each image (columns).
PREVIEW_IMAGES = 8
PREVIEW_DRAWS = 6


def shell(args: Sequence[str]) -> str:
    """``tinycnn ARGS`` as one shell word list (each argument quoted where it must be)."""
    return shlex.join(["tinycnn", *args])


def _paths(flag: str, named: Mapping[str, PathArg]) -> list[str]:
    """``--flag NAME=PATH`` for each entry, in order."""
    return [arg for name, path in named.items() for arg in (flag, f"{name}={path}")]


def download(urls: Iterable[str], md5: str, size: int | None, out: PathArg) -> list[str]:
    args = [a for url in urls for a in ("--url", url)]
    return ["download", *args, "--md5", md5, *(["--size", str(size)] if size else []),
            "--out", str(out)]  # fmt: skip


def pack(archive: PathArg, out: PathArg, workers: int) -> list[str]:
    return ["pack", "--archive", str(archive), "--out", str(out), "--workers", str(workers)]


def drawing(config: Mapping[str, Any], set_name: str) -> list[str]:
    """What draws set ``set_name``: its name, its ops and the augmentation seed."""
    augmentation = config["augmentation"]
    return [
        "--set-name", set_name,
        "--ops", json.dumps(augmentation["sets"][set_name]),
        "--seed", str(augmentation["seed"]),
    ]  # fmt: skip


def _set_args(config: Mapping[str, Any], set_name: str, images: PathArg) -> list[str]:
    """What drawing set ``set_name`` reads: the packed images, then :func:`drawing`."""
    return ["--images", str(images), *drawing(config, set_name)]


def augment(
    config: Mapping[str, Any], set_name: str, images: PathArg, out: PathArg, threads: int
) -> list[str]:
    return ["augment", *_set_args(config, set_name, images), "--out", str(out),
            "--threads", str(threads)]  # fmt: skip


def preview(config: Mapping[str, Any], set_name: str, images: PathArg, out: PathArg) -> list[str]:
    size = config["augmentation"].get("preview") or {}
    return [
        "preview", *_set_args(config, set_name, images), "--out", str(out),
        "--rows", str(size.get("images", PREVIEW_IMAGES)),
        "--draws", str(size.get("draws", PREVIEW_DRAWS)),
    ]  # fmt: skip


def train(
    settings: PathArg,
    seed: int,
    data: PathArg,
    augmented: Mapping[str, PathArg],
    out: PathArg,
    checkpoint: PathArg,
    threads: int,
) -> list[str]:
    """A train job: ``augmented`` names the file of each set drawn once (none when the run
    draws its augmentation every epoch)."""
    return [
        "train", "--settings", str(settings), "--seed", str(seed), "--data", str(data),
        *_paths("--augmented", augmented),
        "--out", str(out), "--checkpoint", str(checkpoint), "--threads", str(threads),
    ]  # fmt: skip


def architectures(config: Mapping[str, Any], stats: PathArg, out: PathArg) -> list[str]:
    """The layer table and parameter count of each architecture an experiment of ``config``
    trains (the paper's, the ablations', the runs beyond it), from the model code: named on
    the command line, so that the rule runs again when that list changes, not for any edit."""
    used = set(ablations.models_by_experiment(config).values())
    archs = dict.fromkeys(m["arch"] for name, m in config["models"].items() if name in used)
    return ["architectures", *(a for arch in archs for a in ("--arch", arch)),
            "--stats", str(stats), "--out", str(out)]  # fmt: skip


def aggregate(
    config: PathArg,
    out: PathArg,
    runs: Iterable[PathArg],
    settings_dir: PathArg | None = None,
    data_dir: PathArg | None = None,
    augmented: Mapping[str, PathArg] | None = None,
    architectures: PathArg | None = None,
    paper_source: PathArg | None = None,
) -> list[str]:
    """The aggregate of ``runs``; with ``settings_dir`` and ``data_dir`` (the workflow's) each
    run is checked against its settings file and the data it names; with ``architectures``
    (rule architectures' file), the models without runs have their layer tables too;
    ``paper_source``: the paper's source whose words the figures draw (default: as
    :func:`tinycnn.report.source.paper_source` finds it)."""
    checks = ["--settings-dir", str(settings_dir)] if settings_dir else []
    checks += ["--paper-source", str(paper_source)] if paper_source else []
    checks += ["--data-dir", str(data_dir)] if data_dir else []
    checks += ["--architectures", str(architectures)] if architectures else []
    return ["aggregate", "--config", str(config), "--out", str(out), *checks,
            *_paths("--augmented", augmented or {}), *map(str, runs)]  # fmt: skip


def paper_html(
    *,
    config: PathArg,
    config_files: Iterable[PathArg],
    workflow_dir: PathArg,
    aggregate: PathArg,
    stats: PathArg,
    classes: PathArg,
    previews: Mapping[str, PathArg],
    out: PathArg,
    paper_source: PathArg | None = None,
    reference: PathArg | None = None,
) -> list[str]:
    args = ["paper-html", "--config", str(config)]
    args += [a for f in config_files for a in ("--config-file", str(f))]
    args += ["--workflow-dir", str(workflow_dir)]
    args += ["--paper-source", str(paper_source)] if paper_source else []
    args += ["--aggregate", str(aggregate), "--stats", str(stats), "--classes", str(classes)]
    args += _paths("--preview", previews)
    args += ["--reference", str(reference)] if reference else []
    return [*args, "--out", str(out)]


def paper_pdf(html: PathArg, out: PathArg) -> list[str]:
    return ["paper-pdf", "--html", str(html), "--out", str(out)]
