"""The benchmark scripts run (tiny sizes, on the CPU): their figures are measurements, recorded in
benchmarks/RESULTS.md, never asserted here; these tests keep the scripts working."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess:
    """``benchmarks/<script> args`` with this Python, its output captured."""
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_epoch_benchmark_compares_the_epoch_loop_with_the_bare_step() -> None:
    result = run_benchmark(
        "train_epoch.py",
        "--images",
        "256",
        "--val",
        "256",
        "--repeats",
        "1",
        "--device",
        "cpu",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    names = [row.split(" | ")[0].lstrip("| ") for row in rows[1:]]
    assert names == [
        "bare train_step",
        "train_one_epoch",
        "evaluate (forward only)",
        "run 2 projected end to end (200,000 + 10,000 validation an epoch)",
    ]
    assert "| bare train_step |" in result.stdout and "| 1.00x |" in result.stdout
    assert "M1, fp32, channels_last" in result.stdout  # the trainer's CPU default numerics


def test_throughput_benchmark_times_a_presets_runs_with_their_own_recipe(tmp_path: Path) -> None:
    """--preset: the runs beyond the paper, each through its own settings (SGD, its schedule
    stepped every batch, label smoothing, its set drawn online: no fixed data share)."""
    table = tmp_path / "modern.md"
    result = run_benchmark(
        "train_throughput.py",
        *("--quick", "--device", "cpu", "--preset", str(ROOT / "presets" / "modern.yaml")),
        *("--models", "modern_resnet18", "--markdown", str(table)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in table.read_text().splitlines() if line.startswith("| modern_")]
    assert [row.split(" | ")[1] for row in rows] == ["default (fp32, channels_last)", "fp32"]
    assert " | — / " in rows[0] and rows[1].endswith(" | 1.00x |")


def test_compile_cache_benchmark_runs_each_case_in_its_own_process() -> None:
    """The script's path, eager (compile none: nothing to cache, so no timing is claimed):
    three new processes, cold, warm on the first one's cache, cold again, and the ratio."""
    result = run_benchmark(
        "compile_cache.py",
        *("--compile", "none", "--steps", "1", "--batch", "8", "--threads", "1"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    assert [r.split("|")[1].strip() for r in rows[1:]] == ["cold", "warm (shared)", "cold again"]
    assert "torch.compile none on cpu" in result.stdout
    assert "cold / warm, first steps: " in result.stdout


def test_cpu_paths_benchmark_compares_threads_compile_and_allocator_with_the_default() -> None:
    result = run_benchmark(
        "cpu_paths.py",
        *("--models", "M1", "--rounds", "1", "--steps", "1", "--batch", "16", "--compile"),
        *("--allocators", "keep", "default"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| M1 ")]
    from tinycnn.shared.hardware import usable_cores

    threads = sorted({1, usable_cores(), 2 * usable_cores()})
    assert [(int(r[1]), r[3]) for r in rows] == [
        (t, allocator) for allocator in ("keep", "default") for t in threads
    ]
    default = next(r for r in rows if int(r[1]) == usable_cores() and r[3] == "keep")
    assert default[2] == "none" and default[-1].strip(" |") == "1.00x"


def test_pool_relu_order_benchmark_checks_the_orders_train_the_same_weights() -> None:
    result = run_benchmark(
        "pool_relu_order.py",
        *("--models", "M1", "M1-BN", "--rounds", "1", "--steps", "1", "--batch", "16"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "parameters equal bit for bit" in result.stdout
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.startswith("| M1")]
    assert [r[0].strip("| ") for r in rows] == ["M1", "M1-BN"]
    assert all(r[-1].strip(" |").endswith("x") for r in rows)


def test_cpu_real_steps_benchmark_times_each_path(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    np.save(tmp_path / "set1.npy", rng.integers(0, 256, (2100, 64, 64, 3), dtype=np.uint8))
    np.save(tmp_path / "labels.npy", rng.integers(0, 200, 2100))
    result = run_benchmark(
        "cpu_real_steps.py",
        *("--images", str(tmp_path / "set1.npy"), "--labels", str(tmp_path / "labels.npy")),
        *("--steps", "1", "--rounds", "1", "--batch", "16"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("| whole set")]
    rows += [line for line in result.stdout.splitlines() if line.startswith("| 2,048")]
    assert len(rows) == 4  # two data sources x denormals off and on, new weights only
    assert "| 2,048 images | new | off |" in result.stdout and "| 1.00x |" in result.stdout


def test_throughput_benchmark_writes_the_rates_the_plan_reads(tmp_path: Path) -> None:
    """--write-rates: this device kind's entry, which tinycnn.reference.load_rates reads and
    project_seconds projects from; a second call adds its models to the same entry."""
    from tinycnn import reference
    from tinycnn.config.resolve import training_settings

    rates = tmp_path / "rates.json"
    for model in ("M1", "M1-BN"):
        result = run_benchmark(
            "train_throughput.py",
            *("--quick", "--device", "cpu", "--models", model, "--write-rates", str(rates)),
        )
        assert result.returncode == 0, result.stdout + result.stderr
    entry = reference.load_rates(rates, "cpu")
    assert set(entry["models"]) == {"m1", "m1_bn"}
    assert entry["numerics"] == "fp32, channels_last"
    assert entry["machine"]["device"] == "cpu" and entry["machine"]["cores"] >= 1
    m1 = entry["models"]["m1"]
    assert m1["train_img_s"] > 0 and m1["eval_img_s"] > 0 and m1["batch"] == 32
    assert 0 < m1["online_share"] < 10
    config = reference.load_config()
    assert reference.project_seconds(training_settings(config, "m1_set1"), entry) > 0
