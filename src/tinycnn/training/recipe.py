"""The recipe's parts, one registry each: optimizers, learning-rate schedules, losses.

Like the model registry, each table is the one list of valid names, with its metadata beside
the constructor: ``params``, the settings the entry takes (every one of them must be given in
the resolved settings, so that a run's recipe is visible in its settings file), and for a
schedule its ``interval`` (stepped once an ``epoch`` or once a ``step``, i.e. a batch). The config
schema (tinycnn/config/schema.yaml: ``$defs.optimizer``, ``$defs.scheduler``,
``$defs.loss``) must allow exactly these names and parameters;
tests/config/test_config_schema.py checks it.

torch is imported inside the constructors only: the config check at workflow parse time reads
this module's metadata without importing torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Part:
    """One entry: its constructor, the settings it takes, and (schedules) when it steps."""

    build: Callable[..., Any]
    params: tuple[str, ...]
    interval: str = "epoch"


OPTIMIZERS: dict[str, Part] = {}
SCHEDULERS: dict[str, Part] = {}
LOSSES: dict[str, Part] = {}
TABLES = {"optimizer": OPTIMIZERS, "scheduler": SCHEDULERS, "loss": LOSSES}


def register(
    table: dict[str, Part], name: str, *, params: tuple[str, ...], interval: str = "epoch"
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: add a constructor to ``table`` as ``name``."""

    def add(constructor: Callable[..., Any]) -> Callable[..., Any]:
        if name in table:
            raise ValueError(f"{name!r} is registered twice")
        table[name] = Part(constructor, params, interval)
        return constructor

    return add


# --- optimizers: f(parameters, settings) -> torch.optim.Optimizer ----------------------------
# Weight decay applies to every parameter (norm weights and biases included), as each
# optimizer's own weight_decay argument does.


def _adam(optimizer_class: Any, parameters: Any, o: Mapping[str, Any]) -> Any:
    """An Adam-family optimizer with the settings' lr, betas, eps and weight decay."""
    return optimizer_class(
        parameters,
        lr=o["lr"],
        betas=tuple(o["betas"]),
        eps=o["eps"],
        weight_decay=o["weight_decay"],
    )


@register(OPTIMIZERS, "RAdam", params=("lr", "betas", "eps", "weight_decay"))
def radam(parameters: Any, o: Mapping[str, Any]) -> Any:
    """The paper's: weight decay is PyTorch's coupled L2 (RAdam's default)."""
    import torch

    return _adam(torch.optim.RAdam, parameters, o)


@register(OPTIMIZERS, "SGD", params=("lr", "momentum", "nesterov", "weight_decay"))
def sgd(parameters: Any, o: Mapping[str, Any]) -> Any:
    """SGD with (Nesterov) momentum; weight decay as L2 added to the gradient."""
    import torch

    return torch.optim.SGD(
        parameters,
        lr=o["lr"],
        momentum=o["momentum"],
        nesterov=o["nesterov"],
        weight_decay=o["weight_decay"],
    )


@register(OPTIMIZERS, "AdamW", params=("lr", "betas", "eps", "weight_decay"))
def adamw(parameters: Any, o: Mapping[str, Any]) -> Any:
    """Adam with decoupled weight decay (Loshchilov and Hutter)."""
    import torch

    return _adam(torch.optim.AdamW, parameters, o)


# --- schedules: f(optimizer, settings, steps_per_epoch, epochs) -> torch LR scheduler --------


@register(SCHEDULERS, "StepLR", params=("step_size", "gamma"))
def step_lr(optimizer: Any, s: Mapping[str, Any], steps_per_epoch: int, epochs: int) -> Any:
    """The paper's: the rate times ``gamma`` every ``step_size`` epochs."""
    import torch

    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=s["step_size"], gamma=s["gamma"])


def warmup_cosine_factor(step: int, warmup: int, total: int, final: float) -> float:
    """The rate of batch ``step`` (from 0) as a share of the optimizer's ``lr``: a linear rise
    over the first ``warmup`` batches to 1 (batch k of them runs at (k + 1) / warmup), then half
    a cosine from 1 down to ``final`` at batch ``total``, the end of the last epoch."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


@register(
    SCHEDULERS,
    "warmup_cosine",
    params=("warmup_epochs", "final_factor"),
    interval="step",
)
def warmup_cosine(optimizer: Any, s: Mapping[str, Any], steps_per_epoch: int, epochs: int) -> Any:
    """Linear warm-up, then cosine decay, stepped after every batch (:func:`warmup_cosine_factor`).

    ``warmup_epochs`` (may be fractional) becomes batches here: round(warmup_epochs x batches per
    epoch). The factor is a closed form of the batch count, which the scheduler's state holds
    (``last_epoch`` counts its steps), so a resumed run continues on the same curve exactly.
    """
    import torch

    warmup = round(s["warmup_epochs"] * steps_per_epoch)
    total = epochs * steps_per_epoch
    final = s["final_factor"]
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, warmup, total, final)
    )


# --- losses: f(settings) -> loss(logits, labels) ----------------------------------------------

DEFAULT_LOSS = {"name": "cross_entropy", "label_smoothing": 0.0}


@register(LOSSES, "cross_entropy", params=("label_smoothing",))
def cross_entropy(s: Mapping[str, Any]) -> Callable[..., Any]:
    """Cross-entropy; ``label_smoothing`` > 0 trains against targets that give that share of
    the probability to all classes uniformly (Szegedy et al. 2016), as PyTorch defines it."""
    import functools

    import torch.nn.functional as F

    return functools.partial(F.cross_entropy, label_smoothing=s["label_smoothing"])


# --- reading the settings ---------------------------------------------------------------------


def part(kind: str, spec: Mapping[str, Any]) -> Part:
    """The registry entry the setting ``kind`` (optimizer, scheduler, loss) names."""
    return TABLES[kind][spec["name"]]


def missing_params(kind: str, spec: Mapping[str, Any]) -> list[str]:
    """The parameters that the entry ``spec`` names takes and ``spec`` does not give."""
    table = TABLES[kind]
    if spec.get("name") not in table:
        return []  # the schema names the unknown entry
    return [p for p in table[spec["name"]].params if p not in spec]
