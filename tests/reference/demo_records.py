"""The reference tests' demo (test_reference_*.py): the demo archive and config, CPU rates
under which M1 fits a sitting and every other model waits for a GPU, the runner started from
the repository, and a records file edited.
"""

from __future__ import annotations

from pathlib import Path

from tinycnn import reference
from tinycnn.reference import runner

ROOT = Path(__file__).resolve().parents[2]
DEMO_ARCHIVE = ROOT / "presets/demo/tiny-imagenet-demo.zip"
DEMO_CONFIG = ["config.yaml", "presets/demo.yaml"]
# What the demo's runs project to on this CPU: M1 cheap, everything else past what a CPU trains
# (tinycnn.reference.CPU_LIMIT_HOURS): it waits for a GPU.
CPU_RATES = {
    "train_images": 1400,
    "val_images": 300,
    "classes": 10,
    "eval_speedup": 3.0,
    "overhead_s": 5,
    "safety": 1.0,
    "device": "cpu",
    "models": {
        arch: {"train_img_s": 2000.0 if arch == "m1" else 0.01, "compile_s": 0, "eager_img_s": 1.0}
        for arch in (
            "m1",
            "m4",
            "alexnet",
            "resnet18",
            "resnet34",
            "resnet34_preact",
            "densenet161",
            "m1_bn",
            "m4_bn",
            "resnet18_64",
        )
    },
}


def run_reference(argv: list[str]) -> int:
    """`tinycnn reference run ARGS` in the repository's root."""
    return runner.main(argv, root=ROOT)


def demo_config() -> dict:
    return reference.load_config(DEMO_CONFIG)


def _edited(records: Path, tmp_path: Path, edit) -> Path:
    manifest, files = reference.read_records(records)
    edit(manifest, files)
    out = tmp_path / "edited.tar.gz"
    reference.write_records(out, manifest, files)
    return out
