"""Command line of the pipeline: every Snakemake rule calls one subcommand.

Errors a user can cause (:class:`UserError`) are printed as one message
without a traceback, and the command exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tinycnn.shared.errors import UserError

PAPER_SOURCE_HELP = (
    "the paper's source folder (templates, style, references): default "
    "$TINYCNN_PAPER_SOURCE, else the report/ of the checkout tinycnn is installed from"
)


def _download(args: argparse.Namespace) -> None:
    from tinycnn.data.download import fetch

    fetch(args.url, Path(args.out), args.md5, args.size, retries=args.retries)


def _pack(args: argparse.Namespace) -> None:
    from tinycnn.data.pack import pack_archive

    pack_archive(Path(args.archive), Path(args.out), workers=args.workers)


def _augment(args: argparse.Namespace) -> None:
    from tinycnn.data.augment import write_augmented

    write_augmented(
        Path(args.images),
        json.loads(args.ops),
        args.seed,
        args.set_name,
        Path(args.out),
        threads=args.threads,
    )


def _preview(args: argparse.Namespace) -> None:
    from tinycnn.data.augment import write_preview

    write_preview(
        Path(args.images),
        json.loads(args.ops),
        args.seed,
        args.set_name,
        Path(args.out),
        rows=args.rows,
        draws=args.draws,
    )


def _named_paths(items: Sequence[str], flag: str) -> dict[str, Path]:
    """``["set1=a.npy", ...]`` -> ``{"set1": Path("a.npy"), ...}``."""
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            raise UserError(f"{flag} expects NAME=PATH, got {item!r}")
        out[name] = Path(path)
    return out


def _read_settings(path: str) -> dict:
    """The resolved settings of one experiment, as the workflow's rule `settings` writes them."""
    try:
        with open(path, encoding="utf-8") as fh:
            settings = json.load(fh)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the settings file {path}: {err}") from None
    if not isinstance(settings, dict):
        raise UserError(f"the settings file {path} does not hold a JSON object")
    return settings


def _train(args: argparse.Namespace) -> int:
    from tinycnn.training.device import device_type, keep_freed_memory
    from tinycnn.training.train import Interrupted, train_run

    try:
        from tinycnn.training.train import check_settings

        settings = _read_settings(args.settings)
        check_settings(settings, args.settings)
        if device_type(settings.get("device", "auto")) == "cpu":
            keep_freed_memory()  # this process is the run: the setting ends with it
        train_run(
            settings,
            args.seed,
            Path(args.data),
            _named_paths(args.augmented, "--augmented"),
            Path(args.out),
            Path(args.checkpoint),
            threads=args.threads,
        )
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return 128 + stop.signum
    return 0


def _read_json(path: str) -> Any:
    """A JSON file a workflow rule wrote (the config snapshot, rule architectures' file), with
    one clear error where it is absent."""
    if not Path(path).is_file():
        raise UserError(f"{path} does not exist: run the workflow's rule that writes it")
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _aggregate(args: argparse.Namespace) -> None:
    from tinycnn.report import sentences, source
    from tinycnn.report.aggregate import aggregate
    from tinycnn.report.records import DataIdentity

    augmented = _named_paths(args.augmented, "--augmented")
    if augmented and not args.data_dir:
        raise UserError("--augmented names the sets the runs read from --data-dir: give both")
    data = DataIdentity.of_files(Path(args.data_dir), augmented) if args.data_dir else None
    with sentences.source_folder(source.paper_source(args.paper_source)):  # the figures' words
        aggregate(
            [Path(p) for p in args.runs],
            _read_json(args.config),
            Path(args.out),
            settings_dir=Path(args.settings_dir) if args.settings_dir else None,
            data=data,
            from_code=_read_json(args.architectures) if args.architectures else None,
        )


def _architectures(args: argparse.Namespace) -> None:
    from tinycnn.training.architectures import write_architectures

    write_architectures(args.arch, Path(args.stats), Path(args.out))


def _paper_html(args: argparse.Namespace) -> None:
    from tinycnn.report.render import collect_provenance, render_html
    from tinycnn.shared.contract import AGGREGATE_FILES

    config = _read_json(args.config)
    aggregate_dir = Path(args.aggregate)
    previews = _named_paths(args.preview, "--preview")
    provenance = collect_provenance(
        Path(args.workflow_dir),
        [Path(p) for p in args.config_file],
        config,
        aggregate_dir / AGGREGATE_FILES["jobs"],
    )
    render_html(
        aggregate_dir,
        config,
        Path(args.stats),
        Path(args.classes),
        previews,
        Path(args.out),
        provenance=provenance,
        reference=Path(args.reference) if args.reference else None,
        paper_source=Path(args.paper_source) if args.paper_source else None,
    )


def _paper_pdf(args: argparse.Namespace) -> None:
    from tinycnn.report.render import render_pdf

    render_pdf(Path(args.html), Path(args.out))


def _check_config(args: argparse.Namespace) -> None:
    from tinycnn.config import ablations, beyond_paper
    from tinycnn.config.checks import validate
    from tinycnn.config.load import read_config_file
    from tinycnn.config.merge import deep_merge

    config: dict = {}
    for path in args.configfile:
        config = deep_merge(config, read_config_file(path))
    validate(config)
    variants = len(ablations.trained(config))
    runs = len(beyond_paper.experiments(config))
    trains = "trains" if variants == 1 else "train"
    more = f", {_count(variants, 'ablation variant')} that {trains}" if variants else ""
    more += f", {_count(runs, 'run')} beyond the paper" if runs else ""
    print(f"config OK: {len(config['experiments'])} experiments{more}")


def _device_kind(requested: str) -> str:
    """``auto``: ``cuda`` where torch sees a GPU (torch not installed: ``cpu``)."""
    if requested != "auto":
        return requested
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _minutes(seconds: float) -> str:
    """A projected time, minutes up to 2 hours (a sitting's runs on a CPU), hours beyond:
    ' 65.2 min', '  8.0 h  '."""
    minutes = seconds / 60
    return f"{minutes:7.1f} min" if minutes < 120 else f"{minutes / 60:7.1f} h  "


def _reference(args: argparse.Namespace) -> None:
    """The reference runs (tinycnn.reference): their order, a merge, the paper from them."""
    from tinycnn import commands, reference
    from tinycnn.config.load import read_config_file
    from tinycnn.shared.files import write_json

    folder = Path(args.folder or reference.FOLDER)
    if not args.config and not Path(reference.CONFIG_FILES[0]).is_file():
        raise UserError(
            f"no {reference.CONFIG_FILES[0]} here ({Path.cwd()}): run `tinycnn reference` from "
            "the repository's root, where its paths (config files, reference) are"
        )
    args.config = args.config or list(reference.CONFIG_FILES)
    config = reference.load_config(args.config)
    if args.action == "merge":
        for path in args.records:
            added = reference.merge(Path(path), folder, config)
            if added.runs:
                print(f"{path}: merged {len(added.runs)} runs into {folder}")
            elif added.wrote:
                print(f"{path}: no new run; recorded its session or digests in {folder}")
            else:
                print(f"{path}: nothing new: {folder} already holds all of it; nothing written")
            for line in added.runs:
                print(f"  {line}")
        return
    rates = reference.load_rates(Path(args.rates or reference.RATES), _device_kind(args.device))
    plan = reference.plan(config, rates)
    order = [(run["experiment"], run["seed"]) for run in plan]
    if args.action == "order":
        from tinycnn.reference.runner import WORK, checkpoint_path, holder_words, work_in_use

        as_configured = reference.runs_as_configured(folder, config)
        recorded = reference.run_folders(folder)
        work = Path(args.work or WORK)
        print(f"projected on this machine ({rates['device']}: {reference.describe_rates(rates)})")
        holder = work_in_use(work)
        training = (holder or {}).get("training") or {}
        if holder is not None:
            print(f"a runner holds {work}: {holder_words(holder)}")
        for i, run in enumerate(plan, 1):
            key = (run["experiment"], run["seed"])
            state = "recorded" if key in as_configured else "not yet run"
            if key in recorded and state != "recorded":
                state = "stale: runs again"
            if (training.get("experiment"), training.get("seed")) == key:
                state += f"; training now (since {training.get('since')})"
            elif state != "recorded" and checkpoint_path(work, *key).is_file():
                state += f"; started, its checkpoint kept in {work}"
            if state != "recorded" and run["waits_for"]:
                state += f", waits for {run['waits_for']}"
            time = "      -    " if run["seconds"] is None else _minutes(run["seconds"])
            print(f"{i:3d}  {key[0]:40s} seed {key[1]}  {time}  {state}")
        return
    out = Path(args.out)
    write_json(out / "config.json", config)  # the snapshot, as rule config_snapshot writes it
    shown = list(reference.runs_in_paper(folder, config).shown.values())
    problems = reference.folder_problems(folder, shown)
    if problems:
        raise UserError(
            f"records of {folder} no longer hold together (edited since they were merged?):\n  "
            + "\n  ".join(problems)
            + f"\nRestore them from git (git log -- {folder}), or delete each such run folder "
            "and run it again."
        )
    # The aggregate checks each summary against its metrics again; their settings and data
    # were checked above and on merge (today's config marks a stale record, not refuses it).
    runs = [str(p) for p in shown]
    snapshot = str(out / "config.json")
    data = folder / "data"
    code = main(commands.architectures(config, data / "stats.json", out / "architectures.json"))
    if code:
        raise UserError("writing the models' architectures failed (above)")
    aggregate_args = commands.aggregate(
        snapshot, out / "aggregate", runs, architectures=out / "architectures.json"
    )
    code = main(aggregate_args)
    if code:
        raise UserError("the aggregate of the reference runs failed (above)")
    try:  # which runs a CPU can train, for the paper's first lines: the CPU's own rates
        cpu_rates = reference.load_rates(Path(args.rates or reference.RATES), "cpu")
        cpu_plan = reference.plan(config, cpu_rates)
    except UserError:
        cpu_plan = None
    official = read_config_file(args.config[0]).get("data")  # config.yaml: the official archive
    context = reference.context(folder, config, order, cpu_plan=cpu_plan, official=official)
    write_json(out / "reference.json", context)
    previews = {
        name: data / f"{name}_preview.png"
        for name in config["augmentation"]["sets"]
        if (data / f"{name}_preview.png").is_file()
    }
    code = main(
        commands.paper_html(
            config=snapshot,
            config_files=[Path(f).resolve() for f in args.config],
            workflow_dir=Path.cwd(),
            aggregate=out / "aggregate",
            stats=data / "stats.json",
            classes=data / "classes.tsv",
            previews=previews,
            reference=out / "reference.json",
            out=out / "paper.html",
        )
    )
    if code:
        raise UserError("rendering the reference paper failed (above)")
    if args.readme and reference.update_readme(
        Path(args.readme), reference.readme_table(folder, config)
    ):
        print(f"updated the reference results in {args.readme}")
    if args.html_only:
        print(f"paper: {out / 'paper.html'}")
        return
    code = main(commands.paper_pdf(out / "paper.html", out / "paper.pdf"))
    if code:
        raise UserError("rendering the reference paper's PDF failed (above)")
    print(f"paper: {out / 'paper.pdf'}")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tinycnn", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("download", help="download and verify the dataset archive")
    p.add_argument("--url", action="append", required=True, help="repeat: official, mirrors")
    p.add_argument("--md5", required=True)
    p.add_argument("--size", type=int, default=None, help="expected size in bytes")
    p.add_argument("--out", required=True)
    p.add_argument("--retries", type=int, default=5, help="retries per URL after the first attempt")
    p.set_defaults(func=_download)

    p = sub.add_parser("pack", help="decode the archive's JPEGs into uint8 arrays")
    p.add_argument("--archive", required=True)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_pack)

    for command, func, help, out in (
        ("augment", _augment, "materialize one augmentation set", "augmented images (.npy)"),
        ("preview", _preview, "draw one augmentation set's preview grid", "the grid (.png)"),
    ):
        p = sub.add_parser(command, help=help)
        p.add_argument("--images", required=True, help="packed train_images.npy")
        p.add_argument("--set-name", required=True)
        p.add_argument("--ops", required=True, help="the set's ops as JSON")
        p.add_argument("--seed", type=int, required=True)
        p.add_argument("--out", required=True, help=out)
        p.set_defaults(func=func)
    augment, preview = sub.choices["augment"], sub.choices["preview"]
    augment.add_argument("--threads", type=int, default=2)
    preview.add_argument("--rows", type=int, default=8, help="images shown, one a row")
    preview.add_argument("--draws", type=int, default=6, help="draws of the set beside each")

    p = sub.add_parser("train", help="train one experiment with one seed (resumable)")
    p.add_argument(
        "--settings", required=True, help="the experiment's settings file (JSON, rule settings)"
    )
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--data", required=True, help="folder of the packed arrays")
    p.add_argument("--augmented", action="append", default=[], help="SET=PATH, repeat")
    p.add_argument("--out", required=True, help="run folder: metrics.csv, summary.json, model.pt")
    p.add_argument("--checkpoint", required=True, help="resumable checkpoint (kept outside --out)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=_train)

    p = sub.add_parser("aggregate", help="tables and figures of every run, from its files")
    p.add_argument(
        "--config", required=True, help="the config snapshot (JSON): paper numbers, report"
    )
    p.add_argument("--out", required=True, help="aggregate folder")
    p.add_argument(
        "--settings-dir",
        help="the experiments' settings files (<experiment>.json, rule settings): each run's "
        "recorded settings must be its experiment's",
    )
    p.add_argument(
        "--data-dir",
        help="the packed folder the runs read: each run's recorded data must be these files",
    )
    p.add_argument(
        "--augmented",
        action="append",
        default=[],
        help="SET=PATH, repeat: the materialized sets the runs read (with --data-dir)",
    )
    p.add_argument(
        "--architectures",
        help="every model's layer table from the model code (tinycnn architectures): the "
        "models without runs have theirs too",
    )
    p.add_argument("--paper-source", help=PAPER_SOURCE_HELP + " (the figures' words)")
    p.add_argument(
        "runs", nargs="*", help="run folders (.../runs/<experiment>/seed<seed>); none: no rows"
    )
    p.set_defaults(func=_aggregate)

    p = sub.add_parser(
        "architectures", help="every model's layer table and parameters, from the model code"
    )
    p.add_argument(
        "--arch", action="append", default=[], help="an architecture (registered name), repeat"
    )
    p.add_argument("--stats", required=True, help="the packed data's stats.json (its classes)")
    p.add_argument("--out", required=True, help="architectures.json")
    p.set_defaults(func=_architectures)

    p = sub.add_parser("paper-html", help="render the paper as one self-contained HTML file")
    p.add_argument(
        "--config", required=True, help="the config snapshot (JSON): paper numbers, report"
    )
    p.add_argument("--config-file", action="append", default=[], help="config files, in order")
    p.add_argument("--workflow-dir", required=True, help="for the git commit in the provenance")
    p.add_argument("--aggregate", required=True, help="aggregate folder")
    p.add_argument("--stats", required=True, help="packed stats.json")
    p.add_argument("--classes", required=True, help="packed classes.tsv")
    p.add_argument("--preview", action="append", default=[], help="SET=PNG, repeat")
    p.add_argument(
        "--reference", help="JSON: the reference runs' folder, data, hardware, stale, planned"
    )
    p.add_argument("--paper-source", help=PAPER_SOURCE_HELP)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_paper_html)

    p = sub.add_parser("paper-pdf", help="render the HTML paper to PDF with WeasyPrint")
    p.add_argument("--html", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_paper_pdf)

    p = sub.add_parser("check-config", help="validate config files merged in order")
    p.add_argument("configfile", nargs="+")
    p.set_defaults(func=_check_config)

    p = sub.add_parser(
        "reference",
        help="reference runs, from the repository root",
        description="order: the plan on this machine; merge: add records files to the folder; "
        "render: the paper from the folder; run: train the next runs (`tinycnn reference run "
        "--help` gives its options)",
    )
    p.add_argument("action", choices=["order", "merge", "render", "run"])
    p.add_argument("records", nargs="*", help="merge: records files (tinycnn reference run)")
    p.add_argument("--folder", help="the reference folder (default: tinycnn.reference.FOLDER)")
    p.add_argument(
        "--config",
        nargs="+",
        help="config files, relative to the repository (default: tinycnn.reference.CONFIG_FILES)",
    )
    p.add_argument("--rates", help="projected rates (default: tinycnn.reference.RATES)")
    p.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="order: project on this kind of machine (auto: CUDA when torch sees a GPU)",
    )
    p.add_argument(
        "--work",
        help="order: the runner's working folder, whose checkpoints say which runs have started "
        "(default: the runner's, tinycnn.reference.runner.WORK)",
    )
    p.add_argument("--out", default="results/reference", help="render: the paper's folder")
    p.add_argument("--html-only", action="store_true", help="render: no PDF")
    p.add_argument("--readme", help="render: the README whose reference table to rewrite")
    p.set_defaults(func=_reference)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["reference", "run"]:  # the runner has options of its own
        from tinycnn.reference.runner import main as run

        return run(argv[2:])
    args = build_parser().parse_args(argv)
    try:
        status = args.func(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `tinycnn reference order | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # a full disk outside the atomic writers: one line all the same
        from tinycnn.shared.files import SPACE_ERRNOS

        if err.errno not in SPACE_ERRNOS:
            raise
        where = f"cannot write {err.filename}" if err.filename else "cannot write"
        print(
            f"error: {where}: not enough disk space ({err.strerror}). Free some space and run "
            "again.",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
