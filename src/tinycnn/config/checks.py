"""Check the pipeline config: :func:`validate`.

The schema (schema.yaml beside this module, package data) catches wrong types, unknown
keys and out-of-range values; the checks below catch what a schema cannot say
(an experiment naming a model or augmentation set that is not defined). Every
problem becomes one line that names the key, and all of them are raised
together as one :class:`UserError`. The names ``experiment``, ``entry`` and ``settings`` are
:mod:`tinycnn.config.resolve`'s.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from tinycnn.config import ablations, beyond_paper
from tinycnn.config.load import load_schema
from tinycnn.config.merge import COMBINE_DEFAULT, HELD_OUT, combine_of, validation_of
from tinycnn.config.resolve import experiment_entries, resolve_experiment
from tinycnn.data.op_geometry import ops_output_size
from tinycnn.data.tinyimagenet import IMAGE_SIZE
from tinycnn.shared.contract import CLAIM_KINDS, CLAIM_VALUED
from tinycnn.shared.errors import UserError
from tinycnn.training import recipe

if TYPE_CHECKING:  # jsonschema is imported where it validates: resolving settings needs none
    import jsonschema

MAX_REPORTED = 10
# The op parameters that are a [min, max] range (the schema says so in their descriptions).
RANGE_PARAMS = {"random_resized_crop": ("scale", "ratio"), "gaussian_blur": ("sigma",)}
SIZING_OPS = ("center_crop", "resize", "random_resized_crop")  # the ops that set the size
# A name becomes a folder or a file name (results/<name>/, runs/<experiment>/seed<s>/,
# <experiment>_seed<s>.pt): at most this many characters, far below a file system's 255 bytes.
NAME_LIMIT = 100
# `name` values whose results/<name>/ another command writes: `tinycnn reference render`.
RESERVED_NAMES = {"reference": "`tinycnn reference render` writes results/reference/"}


def _key(path: Iterable[Any]) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(top level)"


# A float as YAML 1.1 (PyYAML) reads it: a dot, and a sign in the exponent. 1e-3 is a string.
_EXPONENT = re.compile(r"([-+]?)([0-9]+)(?:\.([0-9]*))?[eE]([-+]?)([0-9]+)")


def _float_hint(value: Any) -> str:
    """For a string that reads as a float (``1e-3``), how to write it so that YAML agrees."""
    if not isinstance(value, str):
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    match = _EXPONENT.fullmatch(value.strip())
    if match:
        sign, whole, fraction, exp_sign, exponent = match.groups()
        fixed = f"{sign}{whole}.{fraction or '0'}e{exp_sign or '+'}{exponent}"
        return (
            f"; YAML reads {value} as text, not a number: write {fixed} (a dot, and a sign "
            "in the exponent)"
        )
    number = int(value) if re.fullmatch(r"\s*[-+]?[0-9]+\s*", value) else float(value)
    return f"; write it as a number, without quotes (e.g. {number!r})"


def _schema_error_line(error: jsonschema.ValidationError) -> str:
    """One readable line for a schema error, naming the key."""
    where = _key(error.absolute_path)
    v, value = error.validator, error.instance
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed)) if isinstance(value, dict) else []
        lines = []
        for key in unknown:
            hint = difflib.get_close_matches(key, allowed, n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            at = f"{where}.{key}" if error.absolute_path else key
            lines.append(
                f"{at}: unknown key '{key}' (allowed here: {', '.join(allowed)}){suggestion}"
            )
        if lines:
            return "\n".join(lines)
    if v == "required":
        return f"{where}: {error.message.replace('is a required property', 'is missing')}"
    if v == "enum":
        return f"{where}: {value!r} is not one of {', '.join(map(str, error.validator_value))}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        words = {
            "minimum": "at least",
            "exclusiveMinimum": "greater than",
            "maximum": "at most",
            "exclusiveMaximum": "less than",
        }[v]
        return f"{where}: {value!r} must be {words} {error.validator_value}"
    if v == "type":
        wanted = error.validator_value
        whole = isinstance(value, float) and value.is_integer() and "integer" in wanted
        hint = f"; write {int(value)}, without the decimal point" if whole else _float_hint(value)
        return f"{where}: {value!r} should be of type {error.validator_value}{hint}"
    if v == "pattern":
        why = error.schema.get("description")
        return f"{where}: {value!r} does not match the pattern {error.validator_value}" + (
            f" ({why})" if why else ""
        )
    if v == "oneOf" and error.context:
        # e.g. scheduler: null or a mapping. Report the branch of the value's own
        # type rather than "should be null", and of a mapping the branch its `name` names
        # (StepLR's errors, not warmup_cosine's).
        same_type = [e for e in error.context if e.validator != "type"]
        name = value.get("name") if isinstance(value, dict) else None
        named = [
            e
            for e in same_type
            if (error.validator_value[e.relative_schema_path[0]].get("properties") or {})
            .get("name", {})
            .get("const")
            == name
        ]
        names = [
            (b.get("properties") or {}).get("name", {}).get("const")
            for b in error.validator_value
            if isinstance(b, dict)
        ]
        names = [n for n in names if n]
        if name is not None and names and not named:
            return f"{where}.name: {name!r} is not one of {', '.join(names)}"
        same_type = named or same_type
        return "\n".join(dict.fromkeys(_schema_error_line(e) for e in same_type or error.context))
    if v == "not":
        why = error.schema.get("description", error.message)
        return f"{where}: {value!r} is not allowed ({why})"
    return f"{where}: {error.message}"


def _non_finite(value: Any, path: tuple[Any, ...] = ()) -> list[str]:
    """Every NaN or infinity in the config, by key: no setting or number of the paper is one,
    and each passes every range check of the schema (NaN compares false with everything)."""
    if isinstance(value, float) and not math.isfinite(value):
        return [f"{_key(path)}: {value!r} is not a finite number; write a number"]
    if isinstance(value, Mapping):
        return [line for k, v in value.items() for line in _non_finite(v, (*path, k))]
    if isinstance(value, list):
        return [line for i, v in enumerate(value) for line in _non_finite(v, (*path, i))]
    return []


def _leaf_errors(errors: Iterable[jsonschema.ValidationError]):
    """Descend into if/then and allOf wrappers so the message names the real key."""
    for error in errors:
        if error.validator in ("allOf", "then", "if") and error.context:
            yield from _leaf_errors(error.context)
        else:
            yield error


def _semantic_problems(config: Mapping[str, Any]) -> list[str]:
    problems = []
    models = config.get("models", {})
    sets = config.get("augmentation", {}).get("sets", {})
    for set_name, ops in sets.items():
        names = [op.get("op") for op in ops]
        if "normalize" in names[:-1]:
            problems.append(
                f"augmentation.sets.{set_name}: 'normalize' must be the last op "
                "(it runs on the training device after the uint8 ops)"
            )
        for i, op in enumerate(ops):
            for param in RANGE_PARAMS.get(op.get("op"), ()):
                low, high = op.get(param, (0, 0))
                if low > high:
                    problems.append(
                        f"augmentation.sets.{set_name}.{i}.{param}: [{low}, {high}] is "
                        f"[min, max] with min above max; write [{high}, {low}]"
                    )
        problems += _blur_problems(set_name, ops)
        try:
            size = ops_output_size(ops, IMAGE_SIZE, IMAGE_SIZE)
        except UserError as err:
            problems.append(f"augmentation.sets.{set_name}: {err}")
            continue
        if size != (IMAGE_SIZE, IMAGE_SIZE):
            # The op that sets the size last: a random resized crop resizes itself.
            last = [op.get("op") for op in ops if op.get("op") in SIZING_OPS][-1:]
            fix = (
                f"set its random_resized_crop's size to {IMAGE_SIZE}"
                if last == ["random_resized_crop"]
                else f"e.g. add {{op: resize, size: {IMAGE_SIZE}}} after the crop"
            )
            problems.append(
                f"augmentation.sets.{set_name}: its ops turn the {IMAGE_SIZE}x{IMAGE_SIZE} "
                f"training images into {size[0]}x{size[1]}, while the models validate on "
                f"{IMAGE_SIZE}x{IMAGE_SIZE} images; end the set at {IMAGE_SIZE}x{IMAGE_SIZE} "
                f"({fix})"
            )
    problems += _name_problems(config)
    for where, entry in _written_experiments(config).items():
        model = entry.get("model")
        if model not in models:
            hint = difflib.get_close_matches(str(model), list(models), n=1)
            suggestion = f"; did you mean '{hint[0]}'?" if hint else ""
            problems.append(
                f"{where}.model: unknown model {model!r} "
                f"(defined in models: {', '.join(models)}){suggestion}"
            )
        aug = {**config["training"].get("augmentation", {}), **entry.get("augmentation", {})}
        for set_name in aug.get("sets", []):
            if set_name not in sets:
                problems.append(
                    f"{where}.augmentation.sets: unknown set {set_name!r} "
                    f"(defined in augmentation.sets: {', '.join(sets)})"
                )
    for i, comparison in enumerate(config.get("report", {}).get("comparisons", [])):
        for name in comparison.get("experiments", []):
            if name not in config.get("experiments", {}):
                problems.append(f"report.comparisons.{i}.experiments: unknown experiment {name!r}")
    problems += _claim_problems(config) + _ablation_problems(config) + _beyond_problems(config)
    return problems or _resolved_problems(config)


def _name_problems(config: Mapping[str, Any]) -> list[str]:
    """Names that would take another command's folder, or be too long for a file name."""
    problems = []
    name = config.get("name")
    if name in RESERVED_NAMES:
        problems.append(f"name: {name!r} is reserved ({RESERVED_NAMES[name]}); choose another")
    named = {
        "name": [name] if isinstance(name, str) else [],
        "experiments": [
            *config.get("experiments", {}),
            *beyond_paper.experiments(config),
            *(
                ablations.experiment_name(question, variant)
                for question, spec in (config.get("ablations") or {}).items()
                for variant in spec.get("variants") or {}
            ),
        ],
        "augmentation.sets": list(config.get("augmentation", {}).get("sets", {})),
        "models": list(config.get("models", {})),
    }
    for where, names in named.items():
        for n in names:
            if len(n) > NAME_LIMIT:
                problems.append(
                    f"{where}: the name {n[:40]!r}... has {len(n)} characters; at most "
                    f"{NAME_LIMIT} (it becomes a folder or file name)"
                )
    return problems


def _blur_problems(set_name: str, ops: list[Mapping[str, Any]]) -> list[str]:
    """A gaussian_blur kernel wider than its reflect padding allows (half the kernel must be
    less than the image it blurs, as sized by the ops before it)."""
    problems = []
    for i, op in enumerate(ops):
        if op.get("op") != "gaussian_blur":
            continue
        try:
            h, w = ops_output_size(ops[:i], IMAGE_SIZE, IMAGE_SIZE)
        except UserError:
            continue  # the size itself is reported
        size = op.get("kernel_size")
        kx, ky = (size, size) if isinstance(size, int) else [*size, 0, 0][:2]
        if kx // 2 >= w or ky // 2 >= h:
            problems.append(
                f"augmentation.sets.{set_name}.{i}.kernel_size: {size} is too large for the "
                f"{h}x{w} images it blurs: at most {min(2 * h, 2 * w) - 1}"
            )
    return problems


def _written_experiments(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The experiments the config writes out, by where they are written: the paper's, then
    those beyond it (ablation variants are checked with their questions)."""
    return {
        **{f"experiments.{n}": e for n, e in config.get("experiments", {}).items()},
        **{f"beyond_paper.experiments.{n}": e for n, e in beyond_paper.experiments(config).items()},
    }


def _beyond_problems(config: Mapping[str, Any]) -> list[str]:
    """``beyond_paper``: its baselines are the paper's experiments, its runs are new names."""
    experiments = config.get("experiments", {})
    problems = []
    for name in beyond_paper.baselines(config):
        if name not in experiments:
            problems.append(
                f"beyond_paper.baselines: unknown experiment {name!r} (defined in "
                f"experiments: {', '.join(experiments)})"
            )
    variants = {v.experiment for v in ablations.trained(config)}
    for name in beyond_paper.experiments(config):
        if name in experiments or name in variants:
            problems.append(
                f"beyond_paper.experiments.{name}: already an experiment's name; rename it"
            )
    return problems


def _resolved_problems(config: Mapping[str, Any]) -> list[str]:
    """What only the resolved settings show; each line names the experiment, or the question
    and variant: every parameter of the recipe's parts given (an experiment that names another
    optimizer gives all of its own), and a held-out split of the augmented samples only where
    they are materialized and concatenated."""
    where = {name: f"experiments.{name}" for name in config["experiments"]}
    where.update(
        {name: f"beyond_paper.experiments.{name}" for name in beyond_paper.experiments(config)}
    )
    where.update(
        {
            v.experiment: f"ablations.{v.question}.variants.{v.variant}"
            for v in ablations.trained(config)
        }
    )
    problems = []
    entries = experiment_entries(config)
    resolved = {name: resolve_experiment(config, name, entries) for name in entries}
    for name, settings in resolved.items():
        for kind in recipe.TABLES:
            spec = settings.get(kind)
            missing = recipe.missing_params(kind, spec) if spec else []
            if missing:
                problems.append(
                    f"{where[name]}.{kind}: {spec['name']} needs {', '.join(missing)} "
                    f"(another {kind} than the shared one takes nothing from it)"
                )
        aug = settings["augmentation"]
        if validation_of(settings)[0] == HELD_OUT and (
            aug["mode"] != "fixed" or combine_of(settings) != COMBINE_DEFAULT
        ):
            problems.append(
                f"{where[name]}.validation: source augmented_split holds out materialized "
                "samples: it needs augmentation mode fixed and combine concat (here: mode "
                f"{aug['mode']}, combine {combine_of(settings)})"
            )
        problems += [f"{where[name]}.{line}" for line in _recipe_problems(settings)]
    trained = ablations.trained(config)
    for i, v in enumerate(trained):
        if _computes(resolved[v.experiment]) == _computes(resolved[v.base]):
            problems.append(
                f"{where[v.experiment]}: trains exactly what its base {v.base} trains (it "
                "changes nothing but seeds or device): change a setting, or remove the variant"
            )
            continue
        for other in trained[:i]:
            if _computes(resolved[v.experiment]) == _computes(resolved[other.experiment]):
                problems.append(
                    f"{where[v.experiment]}: trains exactly what {where[other.experiment]} "
                    "trains (they differ in nothing but seeds or device): remove one"
                )
    problems += _reading_problems(config)
    return problems


def _reading_problems(config: Mapping[str, Any]) -> list[str]:
    """Variants that only read their base another way, and read it as the base itself is read
    (``best``) or as another variant of the question already reads it."""
    problems = []
    seen: dict[tuple[str, str], str] = {}
    for v in ablations.variants(config):
        if v.variant == "base" or v.overrides:
            continue
        where = f"ablations.{v.question}.variants.{v.variant}"
        if v.reported == "best":
            problems.append(
                f"{where}: reported: best reads {v.base} as the base itself is read; remove it"
            )
        elif (v.question, v.reported) in seen:
            problems.append(
                f"{where}: reads {v.base} exactly as {seen[(v.question, v.reported)]} does "
                f"(reported: {v.reported}); remove one"
            )
        seen.setdefault((v.question, v.reported), where)
    return problems


def _computes(settings: Mapping[str, Any]) -> dict[str, Any]:
    """What a run's resolved settings compute: all but its name, its model's name, its seeds,
    where it runs, and the paper's numbers."""
    ignored = ("name", "model", "seeds", "device", "paper")
    return {k: v for k, v in settings.items() if k not in ignored}


def _recipe_problems(settings: Mapping[str, Any]) -> list[str]:
    """What the train job's constructors would refuse, or would take and never use."""
    problems = []
    optimizer = settings.get("optimizer") or {}
    if optimizer.get("nesterov") and not optimizer.get("momentum"):
        problems.append(
            "optimizer: nesterov needs a momentum above 0 (torch's SGD refuses it); set "
            "momentum (e.g. 0.9) or nesterov: false"
        )
    scheduler = settings.get("scheduler") or {}
    warmup = scheduler.get("warmup_epochs")
    if warmup is not None and warmup >= settings["epochs"]:
        problems.append(
            f"scheduler.warmup_epochs: a warm-up of {warmup} epochs in a run of "
            f"{settings['epochs']} never reaches the cosine decay; make it shorter than epochs"
        )
    return problems


def _claim_problems(config: Mapping[str, Any]) -> list[str]:
    """What the schema cannot say about ``report.claims``: each line names the claim's id."""
    problems = []
    experiments = config.get("experiments", {})
    seen: set[str] = set()
    for i, claim in enumerate(config.get("report", {}).get("claims", [])):
        kind, names = claim["kind"], claim["experiments"]

        def problem(text: str, i: int = i, claim: Mapping[str, Any] = claim) -> None:
            problems.append(f"report.claims.{i} ({claim['id']}): {text}")

        if claim["id"] in seen:
            problem("another claim has this id; give each claim its own")
        seen.add(claim["id"])
        for name in names:
            if name not in experiments:
                hint = difflib.get_close_matches(name, list(experiments), n=1)
                problem(
                    f"unknown experiment {name!r} (defined in experiments: "
                    f"{', '.join(experiments)})" + (f"; did you mean '{hint[0]}'?" if hint else "")
                )
        count = CLAIM_KINDS[kind]
        if count and len(names) != count:
            what = "1 experiment" if count == 1 else f"{count} experiments"
            problem(f"a claim of kind {kind} names exactly {what}, not {len(names)}")
        if kind in CLAIM_VALUED:
            paper = (experiments.get(names[0]) or {}).get("paper") or {}
            if "value" not in claim and not (
                kind == "train_accuracy" and "train_accuracy" in paper
            ):
                default = " (or give the experiment paper.train_accuracy)"
                problem(
                    f"set `value`, the paper's number{default if kind == 'train_accuracy' else ''}"
                )
            if "stated" not in claim:
                problem("set `stated`: approx, below or above (how the paper states its value)")
            elif claim["stated"] == "approx" and "tolerance" not in claim:
                problem("set `tolerance`: how far from an approx value still holds")
        else:
            extra = [k for k in ("value", "stated", "tolerance") if k in claim]
            if extra:
                problem(
                    f"a claim of kind {kind} holds when ours is above zero, against no paper "
                    f"number: remove {', '.join(extra)}"
                )
        if "window" in claim and kind != "peak_at_rate_drop":
            problem("`window` belongs to peak_at_rate_drop claims only: remove it")
    return problems


def _ablation_problems(config: Mapping[str, Any]) -> list[str]:
    """What the schema cannot say about ``ablations``: each line names the question and, where
    it is one variant's, the variant."""
    problems = []
    experiments, models = config.get("experiments", {}), config.get("models", {})
    sets = config.get("augmentation", {}).get("sets", {})
    for question, spec in (config.get("ablations") or {}).items():
        base = spec["base"]
        if base not in experiments:
            hint = difflib.get_close_matches(base, list(experiments), n=1)
            problems.append(
                f"ablations.{question}.base: unknown experiment {base!r} (defined in "
                f"experiments: {', '.join(experiments)})"
                + (f"; did you mean '{hint[0]}'?" if hint else "")
            )
            continue
        for variant, entry in spec["variants"].items():
            where = f"ablations.{question}.variants.{variant}"
            name = ablations.experiment_name(question, variant)
            if not set(entry or {}) - {ablations.DESCRIPTION_KEY}:
                problems.append(
                    f"{where}: overrides nothing; give it the settings it changes "
                    f"(e.g. augmentation: {{mode: online}}) or reported: last"
                )
            if name in experiments:
                problems.append(
                    f"{where}: its experiment name {name!r} is already an experiment; "
                    "rename the question or the variant"
                )
            model = (entry or {}).get("model")
            if model is not None and model not in models:
                problems.append(
                    f"{where}.model: unknown model {model!r} (defined in models: "
                    f"{', '.join(models)})"
                )
            for set_name in ((entry or {}).get("augmentation") or {}).get("sets", []):
                if set_name not in sets:
                    problems.append(
                        f"{where}.augmentation.sets: unknown set {set_name!r} "
                        f"(defined in augmentation.sets: {', '.join(sets)})"
                    )
    return problems


def validate(config: Mapping[str, Any], schema: Mapping[str, Any] | None = None) -> None:
    """Raise one :class:`UserError` listing every problem of ``config``, one per line."""
    import jsonschema

    schema = load_schema() if schema is None else schema
    # An integer is an int: YAML's 16.0 is a float, which JSON Schema would take as 16 and a
    # job would then use as a float (a shape, a seed, a count) and fail far from the config.
    types = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool)
    )
    strict = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=types)
    errors = sorted(_leaf_errors(strict(schema).iter_errors(config)), key=lambda e: list(e.path))
    lines = _non_finite(config)
    lines += list(
        dict.fromkeys(line for e in errors for line in _schema_error_line(e).splitlines())
    )
    if not lines:
        lines = _semantic_problems(config)
    if lines:
        shown = lines[:MAX_REPORTED]
        more = len(lines) - len(shown)
        tail = f"\n  ... and {more} more" if more > 0 else ""
        raise UserError(
            "the config is not valid:\n  "
            + "\n  ".join(shown)
            + tail
            + "\nFix these keys in config.yaml or in the preset you passed with --configfile."
        )
