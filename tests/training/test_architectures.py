"""Every model's layer table and parameter count from the model code (tinycnn architectures),
for the models that have no run yet as for the others."""

from __future__ import annotations

import json
from pathlib import Path

from tinycnn import commands
from tinycnn.cli import main
from tinycnn.training.architectures import architectures
from tinycnn.training.models import architecture_record, build_model, count_parameters


def test_each_architecture_has_the_record_a_run_of_it_would_make() -> None:
    """One entry an architecture, built for the classes given: the record a run of it would
    make, and its parameter count; the two small models with the paper's layer tables."""
    out = architectures(["m1", "m4", "alexnet", "m1"], classes=200)
    assert list(out) == ["m1", "m4", "alexnet"]
    for arch, record in out.items():
        net = build_model(arch, 200)
        assert record == {**architecture_record(arch, net), "parameters": count_parameters(net)}
    assert out["m1"]["layers"] and out["m4"]["layers"] and out["alexnet"]["layers"] is None
    assert out["m1"]["layers"][-1]["output"] == [200]
    assert out["m1"]["parameters"] == sum(r["parameters"] for r in out["m1"]["layers"])


def test_the_command_names_the_architectures_the_experiments_train(demo_config: dict) -> None:
    """The rule's command lists each architecture an experiment trains, once: a model no
    experiment trains is left out (and an edit elsewhere leaves the command as it is)."""
    args = commands.architectures(demo_config, "stats.json", "out.json")
    archs = [args[i + 1] for i, a in enumerate(args) if a == "--arch"]
    used = {demo_config["models"][e["model"]]["arch"] for e in demo_config["experiments"].values()}
    assert used <= set(archs) and len(archs) == len(set(archs))
    only = {name: e for name, e in demo_config["experiments"].items() if e["model"] == "M1"}
    config = {**demo_config, "experiments": only, "ablations": {}}
    config.pop("beyond_paper", None)
    assert commands.architectures(config, "s", "o") == [
        "architectures", "--arch", "m1", "--stats", "s", "--out", "o"
    ]  # fmt: skip
    edited = {**demo_config, "report": {**demo_config["report"], "title": "Another title"}}
    assert commands.architectures(edited, "stats.json", "out.json") == args


def test_the_command_reads_the_classes_from_the_packed_stats(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"classes": 10}))
    out = tmp_path / "architectures.json"
    assert main(["architectures", "--arch", "m1", "--stats", str(stats), "--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert list(written) == ["m1"] and written["m1"]["layers"][-1]["output"] == [10]
    assert written["m1"]["parameters"] == count_parameters(build_model("m1", 10))
