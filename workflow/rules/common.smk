# Helpers shared by the rules: config validation (before any job runs), the
# paths of every output, and what each job is handed from the config.
import json
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from snakemake.exceptions import WorkflowError  # noqa: E402

from tinycnn.config import (  # noqa: E402
    augmentation_sets_used,
    load_schema,
    resolve_experiment,
    training_settings,
    validate,
)
from tinycnn.errors import UserError  # noqa: E402

try:
    validate(config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
except UserError as err:
    raise WorkflowError(str(err)) from None

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
ARCHIVE = f"resources/{config['data']['filename']}"
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


def augment_ops_json(wildcards):
    return shlex.quote(json.dumps(config["augmentation"]["sets"][wildcards.aug_set]))


def augmented(aug_set):
    return f"{RESULTS}/augmented/{aug_set}.npy"


def preview(aug_set):
    return f"{RESULTS}/augmented/{aug_set}_preview.png"


def runs():
    """(experiment, seed) of every training job."""
    return [(e, s) for e in config["experiments"] for s in resolve_experiment(config, e)["seeds"]]


def run_file(name):
    return f"{RESULTS}/runs/{{experiment}}/seed{{seed}}/{name}"


def checkpoint_path(wildcards):
    """Outside the run folder, so Snakemake never deletes it before a rerun."""
    return f"{RESULTS}/checkpoints/{wildcards.experiment}_seed{wildcards.seed}.pt"


def fixed_sets(experiment):
    aug = resolve_experiment(config, experiment)["augmentation"]
    return aug["sets"] if aug["mode"] == "fixed" else []


def train_inputs(wildcards):
    """The packed data, plus the materialized sets an experiment in mode fixed trains on."""
    inputs = dict(PACKED_FILES)
    inputs.update({s: augmented(s) for s in fixed_sets(wildcards.experiment)})
    return inputs


def all_targets():
    """Everything the pipeline builds so far."""
    targets = [preview(s) for s in augmentation_sets_used(config)]
    targets += [
        f"{RESULTS}/runs/{experiment}/seed{seed}/summary.json" for experiment, seed in runs()
    ]
    return targets
