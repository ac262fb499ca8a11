"""One place builds each stage's command line: what it builds is what the command line parses,
and neither the rules nor the reference runner spell a stage's flags themselves."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from tinycnn import commands
from tinycnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {
    "augmentation": {
        "seed": 7,
        "sets": {"set1": [{"op": "random_horizontal_flip", "p": 0.5}, {"op": "normalize"}]},
        "preview": {"draws": 3},
    }
}


def parsed(args: list[str]):
    return build_parser().parse_args(args)


def test_each_stage_s_arguments_parse_to_what_was_given():
    a = parsed(commands.download(["https://x/a.zip", "file:b.zip"], "f" * 32, 123, "out.zip"))
    assert (a.url, a.md5, a.size, a.out) == (["https://x/a.zip", "file:b.zip"], "f" * 32, 123,
                                             "out.zip")  # fmt: skip
    assert parsed(commands.download(["u"], "m", None, "o")).size is None
    a = parsed(commands.pack("a.zip", "packed", 3))
    assert (a.archive, a.out, a.workers) == ("a.zip", "packed", 3)
    a = parsed(commands.augment(CONFIG, "set1", "imgs.npy", "set1.npy", 2))
    assert (a.images, a.set_name, a.seed, a.out, a.threads) == ("imgs.npy", "set1", 7,
                                                                 "set1.npy", 2)  # fmt: skip
    assert json.loads(a.ops) == CONFIG["augmentation"]["sets"]["set1"]
    a = parsed(commands.preview(CONFIG, "set1", "imgs.npy", "p.png"))
    # the grid's size left out of the config takes the one default
    assert (a.rows, a.draws, a.out) == (commands.PREVIEW_IMAGES, 3, "p.png")
    a = parsed(commands.train("s.json", 2, "packed", {"set1": "1.npy", "set2": "2.npy"}, "run",
                              "c.pt", 4))  # fmt: skip
    assert (a.settings, a.seed, a.data, a.out, a.checkpoint, a.threads) == (
        "s.json", 2, "packed", "run", "c.pt", 4)  # fmt: skip
    assert a.augmented == ["set1=1.npy", "set2=2.npy"]
    a = parsed(commands.aggregate("c.json", "agg", ["r/a", "r/b"], "settings", "packed",
                                  {"set1": "1.npy"}))  # fmt: skip
    assert (a.config, a.out, a.runs, a.settings_dir, a.data_dir, a.augmented) == (
        "c.json", "agg", ["r/a", "r/b"], "settings", "packed", ["set1=1.npy"])  # fmt: skip
    a = parsed(
        commands.paper_html(
            config="c.json", config_files=["config.yaml", "p.yaml"], workflow_dir=".",
            aggregate="agg", stats="s.json", classes="c.tsv", previews={"set1": "p.png"},
            out="paper.html", paper_source="report", reference="ref.json",
        )
    )  # fmt: skip
    assert (a.config_file, a.paper_source, a.preview, a.reference) == (
        ["config.yaml", "p.yaml"], "report", ["set1=p.png"], "ref.json")  # fmt: skip
    a = parsed(commands.paper_pdf("paper.html", "paper.pdf"))
    assert (a.html, a.out) == ("paper.html", "paper.pdf")


def test_a_shell_command_quotes_what_the_shell_would_split():
    line = commands.shell(commands.augment(CONFIG, "set1", "my images.npy", "o.npy", 1))
    words = shlex.split(line)
    assert words[0] == "tinycnn" and "my images.npy" in words
    assert json.loads(words[words.index("--ops") + 1]) == CONFIG["augmentation"]["sets"]["set1"]


@pytest.mark.parametrize(
    "path",
    [
        *sorted((ROOT / "workflow" / "rules").glob("*.smk")),
        ROOT / "src/tinycnn/reference/runner.py",
        ROOT / "src/tinycnn/cli.py",
    ],
    ids=lambda p: p.name,
)
def test_no_other_file_spells_a_stage_s_command_line(path: Path):
    # A stage's own flags (--images, --set-name, --checkpoint, --workers, ...) written outside
    # tinycnn.commands would be a second place to keep in step (cli.py defines them, once).
    text = path.read_text()
    if path.name == "cli.py":
        text = text[: text.index("def build_parser")]
    stage = r"(?:download|pack|augment|preview|train|aggregate|paper-html|paper-pdf)"
    spelled = re.findall(
        rf"(?<!`)tinycnn {stage}\b|[\"']{stage}[\"'],\s*[\"']--"
        r"|--(?:images|set-name|checkpoint|workers|settings-dir|workflow-dir|config-file)\b",
        text,
    )
    assert not spelled, f"{path.name} spells {spelled}"
