# Helpers shared by the rules: config validation (before any job runs), the
# paths of every output, and what each job is handed from the config.
# Names: `experiment` is an experiment's name; `settings` what training_settings
# resolves for it (written to settings_file(experiment) by rule `settings`).
import json
import os
import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

# The rules call `tinycnn`: found without an activated environment too (`.venv/bin/snakemake`),
# beside the Python that runs Snakemake. Jobs inherit this PATH.
if shutil.which("tinycnn") is None and (Path(sys.executable).parent / "tinycnn").exists():
    bin_dir = str(Path(sys.executable).parent)
    os.environ.update(PATH=os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)]))

from snakemake.exceptions import WorkflowError  # noqa: E402

from tinycnn import commands  # noqa: E402
from tinycnn.config import beyond_paper  # noqa: E402
from tinycnn.config.checks import validate  # noqa: E402
from tinycnn.config.load import load_schema, read_config_file  # noqa: E402
from tinycnn.config.resolve import (  # noqa: E402
    experiment_entries,
    resolve_experiment,
    training_settings,
)
from tinycnn.shared.contract import AGGREGATE_FILES  # noqa: E402
from tinycnn.shared.errors import UserError  # noqa: E402

try:
    # Snakemake's own reading of the files keeps the last of a key written twice: refuse it.
    for path in workflow.configfiles:
        read_config_file(path)
    validate(config, load_schema())
except UserError as err:
    raise WorkflowError(str(err)) from None

# The config files in the order they were merged: the Snakefile's config.yaml first, then each
# --configfile (Snakemake lists the command line's first, though they override config.yaml).
BASE_CONFIG = Path(workflow.basedir) / "config.yaml"
CONFIG_FILES = [BASE_CONFIG] + [
    f for f in workflow.configfiles if Path(f).resolve() != BASE_CONFIG.resolve()
]

NAME = config["name"]
RESULTS = f"results/{NAME}"
LOGS = f"logs/{NAME}"
PACKED = f"{RESULTS}/packed"
PACKED_FILES = {
    "train_images": f"{PACKED}/train_images.npy",
    "train_labels": f"{PACKED}/train_labels.npy",
    "val_images": f"{PACKED}/val_images.npy",
    "val_labels": f"{PACKED}/val_labels.npy",
    "classes": f"{PACKED}/classes.tsv",
    "stats": f"{PACKED}/stats.json",
}
AGGREGATE = f"{RESULTS}/aggregate"
# The paper's source (templates, style, references; report/README.md): inputs of the paper's
# rule, so that an edit renders the paper again. Snakemake's captions are in its snakemake/.
PAPER_SOURCE = Path(workflow.basedir) / "report"
CAPTIONS = PAPER_SOURCE / "snakemake"
# Named by its checksum: configs that download the same file share it, others never overwrite it.
ARCHIVE = f"resources/{config['data']['md5']}/{config['data']['filename']}"
AUG_SETS = list(config["augmentation"]["sets"])


def source_urls():
    """The sources to download from; a local archive replaces the URL list.

    A relative `file:` URL is resolved against the workflow directory, so that a
    preset can point at a file inside the repository; a relative `data.archive`
    path against the working directory, like any path a user types.
    """
    data = config["data"]
    if data.get("archive"):
        local = Path(data["archive"]).resolve()
        if local == Path(ARCHIVE).resolve():
            raise WorkflowError(
                f"data.archive points at {ARCHIVE}, the download rule's own output, which "
                "Snakemake deletes before a rerun: keep your copy elsewhere and point "
                "data.archive there"
            )
        return [local.as_uri()]
    urls = []
    for url in data["urls"]:
        if url.startswith("file:") and not url.startswith("file:/"):
            url = (Path(workflow.basedir) / url[len("file:") :]).resolve().as_uri()
        urls.append(url)
    return urls


def augmented(aug_set):
    return f"{RESULTS}/augmented/{aug_set}.npy"


def preview(aug_set):
    return f"{RESULTS}/augmented/{aug_set}_preview.png"


# Every experiment that trains: the config's, then the ablation variants that override a
# setting (`<question>__<variant>`, tinycnn.config.ablations), trained by the same rules.
# Each resolved once: resolving one experiment alone reads every variant's entry again.
ENTRIES = experiment_entries(config)
EXPERIMENTS = list(ENTRIES)
RESOLVED = {experiment: resolve_experiment(config, experiment, ENTRIES) for experiment in ENTRIES}


def runs():
    """(experiment, seed) of every training job, the ablation variants' included."""
    return [
        (experiment, seed) for experiment in EXPERIMENTS for seed in RESOLVED[experiment]["seeds"]
    ]


def settings_file(experiment):
    """The experiment's resolved settings (rule `settings`), which its train jobs read."""
    return f"{RESULTS}/settings/{experiment}.json"


def run_path(experiment, seed, name):
    return f"{RESULTS}/runs/{experiment}/seed{seed}/{name}"


def run_file(name):
    """A train rule output, with the experiment and seed as wildcards."""
    return run_path("{experiment}", "{seed}", name)


def checkpoint_path(wildcards):
    """Outside the run folder, so Snakemake never deletes it before a rerun."""
    return f"{RESULTS}/checkpoints/{wildcards.experiment}_seed{wildcards.seed}.pt"


def fixed_sets(experiment):
    aug = RESOLVED[experiment]["augmentation"]
    return aug["sets"] if aug["mode"] == "fixed" else []


def augmented_key(aug_set):
    """The train rule's input name of a materialized set: prefixed, so that no set name can
    collide with another input's name."""
    return f"augmented_{aug_set}"


def preview_key(aug_set):
    """The paper rule's input name of a set's preview: prefixed, so that a set named `stats`,
    `config`, `classes` or `runs` cannot take another input's place."""
    return f"preview_{aug_set}"


def train_inputs(wildcards):
    """The settings file, the packed data, and the materialized sets of mode fixed."""
    inputs = {"settings": settings_file(wildcards.experiment), **PACKED_FILES}
    inputs.update({augmented_key(s): augmented(s) for s in fixed_sets(wildcards.experiment)})
    return inputs


def aggregate_files():
    """The aggregate's files beside its figures (tinycnn.shared.contract.AGGREGATE_FILES)."""
    return {key: f"{AGGREGATE}/{name}" for key, name in AGGREGATE_FILES.items()}


def aggregate_sets():
    """The materialized sets the runs read (mode fixed), in the config's order."""
    used = {s for experiment, _ in runs() for s in fixed_sets(experiment)}
    return [s for s in AUG_SETS if s in used]


def aggregate_inputs(wildcards):
    """What the aggregate reads: every run's summary and metrics, and what it checks each run
    against: its experiment's settings file, and the data the runs were trained on (the packed
    files every run reads, the materialized sets of mode fixed); and the words the figures draw
    (the paper's source)."""
    inputs = {
        "config": f"{RESULTS}/config.json",
        "architectures": f"{RESULTS}/architectures.json",
        "figure_words": str(PAPER_SOURCE / "sentences" / "figures.html.j2"),
        "summaries": [run_path(e, s, "summary.json") for e, s in runs()],
        "metrics": [run_path(e, s, "metrics.csv") for e, s in runs()],
        "settings": [settings_file(e) for e in dict.fromkeys(e for e, _ in runs())],
        "packed": [
            PACKED_FILES[k]
            for k in ("train_images", "train_labels", "val_images", "val_labels", "stats")
        ],
    }
    inputs.update({augmented_key(s): augmented(s) for s in aggregate_sets()})
    return inputs


def figure_outputs():
    """The aggregate's figures, each flagged for Snakemake's own report."""

    def figure(name, caption, category, **labels):
        return report(
            f"{AGGREGATE}/figures/{name}.png",
            caption=str(CAPTIONS / caption),
            category=category,
            labels={"figure": name, **labels},
        )

    figures = {
        f"curves_{e}": figure(f"curves_{e}", "curves.rst", "Training curves", experiment=e)
        for e in config["experiments"]
    }
    for c in config["report"].get("comparisons", []):
        figures[f"comparison_{c['id']}"] = figure(
            f"comparison_{c['id']}", "comparison.rst", "Comparisons"
        )
    for name in ("paper_vs_ours", "accuracy_vs_parameters", "accuracy_vs_time"):
        figures[name] = figure(name, f"{name}.rst", "Summary")
    if beyond_paper.experiments(config):  # presets/modern.yaml: its runs beside the paper's
        figures["beyond_curves"] = figure("beyond", "beyond.rst", "Beyond the paper")
    return figures


def paper_inputs(wildcards):
    """What the paper is rendered from: the aggregate, the data's stats, the previews."""
    inputs = {
        "config": f"{RESULTS}/config.json",
        **aggregate_files(),
        "stats": PACKED_FILES["stats"],
        "classes": PACKED_FILES["classes"],
        # the paper's source: its partials, captions, references and style
        "paper_source": sorted(
            str(p)
            for p in PAPER_SOURCE.rglob("*")
            if p.is_file() and p.parent != CAPTIONS and p.suffix != ".md"
        ),
        **{name: str(path) for name, path in figure_outputs().items()},
    }
    inputs.update({preview_key(s): preview(s) for s in AUG_SETS})
    return inputs


def all_targets():
    """The paper, as HTML and PDF."""
    return [f"{RESULTS}/paper.html", f"{RESULTS}/paper.pdf"]
