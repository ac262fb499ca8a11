"""Every model's layer table and parameter count from the model code (tinycnn architectures),
for the models that have no run yet as for the others."""

from __future__ import annotations

import json
from pathlib import Path

from tinycnn.cli import main
from tinycnn.training.architectures import architectures
from tinycnn.training.models import architecture_record, build_model, count_parameters


def test_every_model_an_experiment_trains_has_its_architecture(demo_config: dict) -> None:
    """One entry an architecture the experiments train, built for the classes given: the
    record a run of it would make, and its parameter count."""
    out = architectures(demo_config, classes=200)
    used = {demo_config["models"][e["model"]]["arch"] for e in demo_config["experiments"].values()}
    assert used <= set(out)
    for arch, record in out.items():
        net = build_model(arch, 200)
        assert record == {**architecture_record(arch, net), "parameters": count_parameters(net)}
    # the two small models have the paper's layer tables; their last layer maps to 200 classes
    assert out["m1"]["layers"] and out["m4"]["layers"]
    assert out["m1"]["layers"][-1]["output"] == [200]
    assert out["m1"]["parameters"] == sum(r["parameters"] for r in out["m1"]["layers"])


def test_a_model_no_experiment_trains_is_left_out(demo_config: dict) -> None:
    """Only the models the experiments train: with M1's experiments alone, M1 alone."""
    only = {name: e for name, e in demo_config["experiments"].items() if e["model"] == "M1"}
    config = {**demo_config, "experiments": only, "ablations": {}}
    config.pop("beyond_paper", None)
    assert set(architectures(config, 10)) == {"m1"}


def test_the_command_reads_the_classes_from_the_packed_stats(
    demo_config: dict, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(demo_config))
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"classes": 10}))
    out = tmp_path / "architectures.json"
    assert main(["architectures", "--config", str(config), "--stats", str(stats),
                 "--out", str(out)]) == 0  # fmt: skip
    written = json.loads(out.read_text())
    assert written["m1"]["layers"][-1]["output"] == [10]
    assert written["m1"]["parameters"] == count_parameters(build_model("m1", 10))
