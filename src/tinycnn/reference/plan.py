"""The reference runs' plan: the reference config, what each run costs on the machine at hand
(the rates file), which runs each kind of machine can do, and the order they are trained in."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tinycnn.config import ablations, beyond_paper
from tinycnn.config.checks import validate
from tinycnn.config.load import read_config_file
from tinycnn.config.merge import COMBINE_DEFAULT, combine_of, deep_merge, validation_of
from tinycnn.config.resolve import resolve_experiment, training_settings
from tinycnn.shared.errors import UserError
from tinycnn.shared.hardware import machine_words

# The reference paper's config, merged in this order (as Snakemake merges --configfile): the
# paper on the real archive, its ablations, the runs beyond it, and three seeds of everything.
CONFIG_FILES = (
    "config.yaml",
    "presets/real.yaml",
    "presets/ablations.yaml",
    "presets/modern.yaml",
    "presets/seeds.yaml",
)
RATES = "benchmarks/rates.json"


# --- the config -----------------------------------------------------------------------------


def load_config(
    files: Sequence[str | Path] = CONFIG_FILES, root: Path | None = None
) -> dict[str, Any]:
    """The reference config: ``files`` (relative to ``root``, the repository; the working
    directory unless given) merged in order, validated where
    jsonschema is installed (a GPU machine may lack it: its runs are checked here, on merge)."""
    config: dict[str, Any] = {}
    for name in files:
        config = deep_merge(config, read_config_file(Path(root or Path.cwd()) / name))
    try:
        import jsonschema  # noqa: F401
    except ImportError:
        return config
    validate(config)
    return config


def run_groups(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """The experiments by kind: the paper's, the runs beyond it, the ablation variants."""
    return {
        "paper": list(config["experiments"]),
        "beyond": list(beyond_paper.experiments(config)),
        "ablations": [v.experiment for v in ablations.trained(config)],
    }


# --- what a run costs on the machine at hand -----------------------------------------------

# The longest a run may project to on a CPU and still be trained there: a run resumes across
# sittings (its checkpoint lives in the runner's work folder), so up to two sittings' work. On
# the development machine's 2 cores M1's runs and its ablation variants project to 1 to 2.2
# hours (benchmarks/rates.json, with its safety factor); the next cheapest, modern_resnet18, to
# 8 hours, M4, AlexNet, the ResNets and DenseNet161 to 15 to 32 hours: they wait for a GPU,
# which trains each in minutes.
CPU_LIMIT_HOURS = 4.0


def load_rates(path: str | Path, device: str) -> dict[str, Any]:
    """The rates of ``device`` (``cpu`` or ``cuda``) in the rates file, as the benchmark wrote
    them (benchmarks/train_throughput.py --write-rates): the machine measured, its numerics,
    each architecture's training and validation rates."""
    try:
        rates = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise UserError(f"cannot read the rates file {path}: {err.strerror or err}") from None
    except ValueError as err:
        raise UserError(f"the rates file {path} is not JSON: {err}") from None
    entry = rates.get(device) if isinstance(rates, Mapping) else None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("models"), Mapping):
        raise UserError(
            f"the rates file {path} has no rates for the device {device!r}: measure them with "
            f"`benchmarks/train_throughput.py --device {device} --write-rates {path}`"
        )
    return {**entry, "device": device}


def describe_rates(rates: Mapping[str, Any]) -> str:
    """Whose rates these are: "AMD EPYC CPU (2 cores, 2 threads); fp32, channels_last; measured
    2026-12-07"."""
    words = [machine_words({"machine": rates.get("machine") or {}})]
    words += [str(rates[k]) for k in ("numerics",) if rates.get(k)]
    if rates.get("measured"):
        words.append(f"measured {rates['measured']}")
    return "; ".join(words)


def images_per_epoch(
    settings: Mapping[str, Any], train_images: int, val_images: int, classes: int
) -> tuple[int, int]:
    """(training samples an epoch, validation images) of a run on data of this size."""
    aug, subset = settings["augmentation"], settings.get("subset") or {}
    train = train_images
    if subset.get("train_per_class"):
        train = min(train, classes * subset["train_per_class"])
    val = val_images
    if subset.get("val_per_class"):
        val = min(val, classes * subset["val_per_class"])
    samples = train * (len(aug["sets"]) if combine_of(settings) == COMBINE_DEFAULT else 1)
    fraction = validation_of(settings)[1]
    if fraction is not None:
        val = round(samples * fraction)
        samples -= val
    return samples, val


def project_seconds(settings: Mapping[str, Any], rates: Mapping[str, Any]) -> float:
    """A run's projected wall time on the machine of ``rates`` (:func:`load_rates`): each
    epoch's samples at the model's training rate (slower in online mode by the measured share
    of drawing the sets), the validation images at the measured evaluation rate (or
    ``eval_speedup`` times the training rate where none was measured), the compile time once,
    and a fixed start-up overhead; times ``rates["safety"]``."""
    model = rates["models"].get(settings["arch"])
    if model is None:
        raise UserError(
            f"the rates file has no {rates.get('device', '')} rates for architecture "
            f"{settings['arch']!r}: measure it (benchmarks/train_throughput.py --write-rates)"
        )
    samples, val = images_per_epoch(
        settings, rates["train_images"], rates["val_images"], rates["classes"]
    )
    step = 1.0 / model["train_img_s"]  # seconds an image
    if settings["augmentation"]["mode"] == "online":
        # Drawing the sets on the device adds the measured share of an eager step.
        eager = model.get("eager_img_s", model["train_img_s"])
        step += model.get("online_share", 0.0) / eager
    eval_img_s = model.get("eval_img_s") or model["train_img_s"] * rates["eval_speedup"]
    epoch = samples * step + val / eval_img_s
    total = settings["epochs"] * epoch + model.get("compile_s", 0.0) + rates["overhead_s"]
    return total * rates["safety"]


def waits_for(seconds: float | None, device: str) -> str | None:
    """Why the machine of ``device`` does not train a run that projects to ``seconds`` (None:
    no rate for its architecture), or None when it does."""
    if seconds is None:
        return f"no {device} rate for its architecture"
    if device == "cpu" and seconds > CPU_LIMIT_HOURS * 3600:
        return "a GPU"
    return None


def priority_order(config: Mapping[str, Any], rates: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Every reference run, in the order machines train them: seed 0 of the paper's runs
    (cheapest first), of the runs beyond the paper, of the ablation variants; then every further
    seed: first those of the ablations' bases (run 2, ``m1_lr1e-3``, for M1: every variant's
    verdict and the paper's headline number are measured against their spread), then the
    paper's other runs, the runs beyond it, the variants, each cheapest first. A run whose
    architecture has no rate on this machine goes last in its group."""
    groups = run_groups(config)
    cost = {name: _seconds(config, name, rates) for names in groups.values() for name in names}
    seeds = {name: resolve_experiment(config, name)["seeds"] for name in cost}

    def key(name: str) -> tuple[float, str]:
        return (float("inf") if cost[name] is None else cost[name], name)

    order = ("paper", "beyond", "ablations")
    first = [(n, seeds[n][0]) for g in order for n in sorted(groups[g], key=key)]
    rest = [(n, seed) for g in order for n in sorted(groups[g], key=key) for seed in seeds[n][1:]]
    bases = {v.base for v in ablations.variants(config)}
    rest.sort(key=lambda run: run[0] not in bases)  # stable: the bases first, else as they were
    return first + rest


def _seconds(config: Mapping[str, Any], name: str, rates: Mapping[str, Any]) -> float | None:
    settings = training_settings(config, name)
    if settings["arch"] not in rates["models"]:
        return None
    return project_seconds(settings, rates)


def plan(config: Mapping[str, Any], rates: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The priority order on the machine of ``rates``: each run with its projected seconds
    there (None: no rate for its architecture) and what it ``waits_for`` there (None: this
    machine trains it). The one place that knows which runs a kind of machine can do."""
    out = []
    for experiment, seed in priority_order(config, rates):
        seconds = _seconds(config, experiment, rates)
        out.append(
            {
                "experiment": experiment,
                "seed": seed,
                "seconds": seconds,
                "waits_for": waits_for(seconds, rates["device"]),
            }
        )
    return out
