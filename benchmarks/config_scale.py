"""How validating and resolving the config scales with the number of ablation variants.

The paper's config with one more question of N variants (each another learning rate of M1's
run 2), for each N of `--variants`:

- validate: `tinycnn.config.checks.validate`, what `tinycnn check-config` and the Snakefile run
  first;
- resolve each alone: every experiment through `resolve_experiment(config, name)`, which reads
  every variant's entry again for each experiment (the baseline: what the workflow did before);
- resolve once: the same through `resolve_experiment(config, name, entries)` with the entries
  read once, as `workflow/rules/common.smk` does now;

and the ratio of the two resolutions. Run: `.venv/bin/python benchmarks/config_scale.py`.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tinycnn.config.checks import validate  # noqa: E402
from tinycnn.config.resolve import experiment_entries, resolve_experiment  # noqa: E402


def with_variants(config: dict, n: int) -> dict:
    config = copy.deepcopy(config)
    variants = {f"lr{i}": {"optimizer": {"lr": 2e-3 + 1e-6 * i}} for i in range(n)}
    config["ablations"] = {
        "lr_m1": {"title": "M1's rate", "base": "m1_lr1e-3", "variants": variants}
    }
    return config


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args(argv)
    paper = yaml.safe_load((ROOT / "config.yaml").read_text())
    print("| variants | validate (s) | resolve each alone (s) | resolve once (s) | ratio |")
    print("|---:|---:|---:|---:|---:|")
    for n in args.variants:
        config = with_variants(paper, n)
        validate_s = timed(lambda config=config: validate(config))
        names = list(experiment_entries(config))
        alone = timed(lambda c=config, ns=names: [resolve_experiment(c, e) for e in ns])

        def once(config: dict = config, names: list = names) -> None:
            entries = experiment_entries(config)
            for e in names:
                resolve_experiment(config, e, entries)

        once_s = timed(once)
        print(f"| {n:,} | {validate_s:.2f} | {alone:.2f} | {once_s:.3f} | {alone / once_s:.0f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
