"""Reference runs planned: the priority order, the CPU's plan and what waits for a GPU, the rates
and the projection of each run's time, and `tinycnn reference order`."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from demo_records import CPU_RATES, DEMO_CONFIG, ROOT

from tinycnn import reference
from tinycnn.config.resolve import training_settings
from tinycnn.shared.errors import UserError


def test_priority_order_of_the_reference_config() -> None:
    config = reference.load_config()
    rates = reference.load_rates(ROOT / reference.RATES, "cuda")
    order = reference.priority_order(config, rates)
    groups = reference.run_groups(config)
    paper, modern, variants = groups["paper"], groups["beyond"], groups["ablations"]
    first = [e for e, _ in order[: len(paper)]]
    assert sorted(first) == sorted(paper) and len(paper) == 11
    costs = [reference.project_seconds(training_settings(config, e), rates) for e in first]
    assert costs == sorted(costs)  # cheapest first
    assert first[0] == "m1_set1" and first[-1] == "densenet161"
    n = len(paper) + len(modern)
    assert sorted(e for e, _ in order[len(paper) : n]) == sorted(modern)
    assert sorted(e for e, _ in order[n : n + len(variants)]) == sorted(variants)
    assert all(seed == 0 for _, seed in order[: n + len(variants)])
    rest = order[n + len(variants) :]
    assert sorted(rest) == sorted((e, s) for e in [*paper, *modern, *variants] for s in (1, 2))
    # Further seeds: the ablations' bases first (M1's run 2, then M4's, in the order of their
    # seed 0), then the paper's other runs in that order, then the others.
    bases = ["m1_lr1e-3", "m4_lr1e-3"]
    assert rest[:4] == [(e, s) for e in bases for s in (1, 2)]
    others = [e for e in first if e not in bases]
    assert [e for e, _ in rest[4 : 2 * len(paper)]] == [e for e in others for _ in (1, 2)]
    assert len(set(order)) == len(order)


def test_the_cpu_plan_trains_m1_and_leaves_the_rest_to_a_gpu() -> None:
    """On the committed CPU rates (benchmarks/rates.json, written by the benchmark on the
    development machine): the paper's M1 runs and M1's ablation variants are the CPU's, every
    run of a larger model waits for a GPU, and a run of an unmeasured architecture waits too."""
    config = reference.load_config()
    rates = reference.load_rates(ROOT / reference.RATES, "cpu")
    plan = reference.plan(config, rates)
    here = [r for r in plan if r["waits_for"] is None]
    arch = {r["experiment"]: training_settings(config, r["experiment"])["arch"]
            for r in plan}  # fmt: skip
    assert {"m1_set1", "m1_lr1e-3", "m1_lr1e-4"} <= {r["experiment"] for r in here}
    assert {arch[r["experiment"]] for r in here} <= {"m1", "m1_bn"}
    for r in plan:
        if arch[r["experiment"]] in ("m4", "alexnet", "resnet34", "densenet161"):
            assert r["waits_for"] == "a GPU", r
            assert r["seconds"] > reference.CPU_LIMIT_HOURS * 3600
    assert all(r["seconds"] <= reference.CPU_LIMIT_HOURS * 3600 for r in here)
    trimmed = {**rates, "models": {k: v for k, v in rates["models"].items() if k != "m1_bn"}}
    bn = [r for r in reference.plan(config, trimmed) if arch[r["experiment"]] == "m1_bn"]
    assert bn and all(r["waits_for"] == "no cpu rate for its architecture" for r in bn)
    assert all(r["seconds"] is None for r in bn)


def test_load_rates_names_the_device_it_lacks(tmp_path: Path) -> None:
    path = tmp_path / "rates.json"
    path.write_text(json.dumps({"cpu": CPU_RATES}))
    assert reference.load_rates(path, "cpu")["models"]["m1"]["train_img_s"] == 2000.0
    with pytest.raises(UserError, match=r"no rates for the device 'cuda'.*--device cuda"):
        reference.load_rates(path, "cuda")
    path.write_text("{")
    with pytest.raises(UserError, match="is not JSON"):
        reference.load_rates(path, "cpu")


def test_projection_counts_epochs_images_compile_and_overhead() -> None:
    rates = copy.deepcopy(CPU_RATES)
    rates["models"]["m1"] = {"train_img_s": 1000.0, "compile_s": 7, "eager_img_s": 500.0}
    rates["models"]["m1"]["online_share"] = 0.5
    config = reference.load_config(DEMO_CONFIG)
    settings = training_settings(config, "m1_lr1e-3")
    settings["epochs"], settings["subset"] = 3, {}
    # 2 sets x 1,400 images at 1,000 img/s, 300 validation images at 3,000 img/s.
    expected = 3 * (2800 / 1000 + 300 / 3000) + 7 + 5
    assert reference.project_seconds(settings, rates) == pytest.approx(expected)
    rates["models"]["m1"]["eval_img_s"] = 600.0  # measured: it replaces the assumed speed-up
    assert reference.project_seconds(settings, rates) == pytest.approx(expected + 3 * 0.4)
    del rates["models"]["m1"]["eval_img_s"]
    settings["augmentation"]["mode"] = "online"  # plus half an eager step an image
    expected += 3 * 2800 * 0.5 / 500
    assert reference.project_seconds(settings, rates) == pytest.approx(expected)
    rates["models"].pop("m1")
    with pytest.raises(UserError, match="no cpu rates for architecture 'm1'"):
        reference.project_seconds(settings, rates)


def test_the_reference_command_outside_the_repository_says_where_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tinycnn import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["reference", "order"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: no config.yaml here ({tmp_path}): run `tinycnn reference` from")


def test_the_order_read_in_part_ends_quietly() -> None:
    """`tinycnn reference order | head`: no traceback when the reader stops reading."""
    done = subprocess.run(
        f"{sys.executable} -m tinycnn reference order --device cpu | head -2",
        shell=True, cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.stdout.startswith("projected on this machine (cpu: ")
    assert len(done.stdout.splitlines()) == 2 and "Traceback" not in done.stderr
    # A reader gone before the first line (`true` reads nothing): the write itself fails.
    done = subprocess.run(
        f"{sys.executable} -m tinycnn reference order --device cpu | true; "
        "echo ${PIPESTATUS[0]}",
        shell=True, executable="/bin/bash", cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert done.stdout.strip() == "0" and "Traceback" not in done.stderr, done.stderr


def test_the_order_says_which_runs_have_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run the runner started and stopped at a deadline is not recorded, but its checkpoint
    waits in the working folder: the order says so, so that "not yet run" is not all it says."""
    from tinycnn import cli
    from tinycnn.reference.runner import checkpoint_path

    monkeypatch.chdir(ROOT)
    order = ["reference", "order", "--device", "cpu"]
    assert cli.main(order) in (0, None)
    # The first run this CPU would train next (one not yet recorded in reference/).
    waiting = [
        ln.split() for ln in capsys.readouterr().out.splitlines() if ln.endswith("not yet run")
    ]
    experiment, seed = waiting[0][1], int(waiting[0][3])
    checkpoint = checkpoint_path(tmp_path, experiment, seed)
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"a checkpoint")
    assert cli.main([*order, "--work", str(tmp_path)]) in (0, None)
    lines = capsys.readouterr().out.splitlines()
    (started,) = [line for line in lines if "started" in line]
    assert f" {experiment} " in started and f" seed {seed} " in started
    assert started.endswith(f"not yet run; started, its checkpoint kept in {tmp_path}")


def test_projected_times_read_in_minutes_up_to_two_hours_and_in_hours_beyond() -> None:
    """A CPU sitting's runs in minutes; a run of many hours in hours, not '478.1 min'."""
    from tinycnn.cli import _minutes

    assert _minutes(49.7 * 60) == "   49.7 min"
    assert _minutes(119.9 * 60) == "  119.9 min"
    assert _minutes(478.1 * 60) == "    8.0 h  "
    assert len({len(_minutes(s)) for s in (60.0, 7200.0, 360_000.0)}) == 1  # the column aligns


def test_the_order_says_which_run_a_runner_trains_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """While a runner holds the working folder, the order names it and the run it trains; once
    the lock is free, what its file still says is not read as a runner at work."""
    from tinycnn import cli
    from tinycnn.reference import runner

    monkeypatch.chdir(ROOT)
    order = ["reference", "order", "--device", "cpu", "--work", str(tmp_path)]
    assert cli.main(order) in (0, None)
    waiting = [
        ln.split() for ln in capsys.readouterr().out.splitlines() if ln.endswith("not yet run")
    ]
    experiment, seed = waiting[0][1], int(waiting[0][3])
    with runner.work_lock(tmp_path, "2026-12-08T00:00:00+00:00") as fd:
        training = {"experiment": experiment, "seed": seed, "since": "2026-12-08T00:01:00+00:00"}
        runner.announce(
            fd, {"pid": 4242, "started": "2026-12-08T00:00:00+00:00", "training": training}
        )
        assert cli.main(order) in (0, None)
        lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        f"a runner holds {tmp_path}: pid 4242, started 2026-12-08T00:00:00+00:00, training "
        f"{experiment} seed {seed} since 2026-12-08T00:01:00+00:00"
    )
    (now,) = [line for line in lines if "training now" in line]
    assert f" {experiment} " in now and f" seed {seed} " in now
    assert now.endswith("not yet run; training now (since 2026-12-08T00:01:00+00:00)")
    assert cli.main(order) in (0, None)
    assert "training now" not in capsys.readouterr().out and runner.work_in_use(tmp_path) is None
