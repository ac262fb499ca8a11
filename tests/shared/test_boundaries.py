"""The package's layout is its architecture: who may import whom, by package path.

- ``tinycnn.shared`` (errors, files, digests, arrays, the contract, the identity of code and
  machine) imports no other part;
- ``tinycnn.config`` may import the stages' torch-free facts (the checks use the op geometry and
  the recipe's tables); its plain modules (``merge``, ``ablations``, ``beyond_paper``), which
  the data and report stages use, import ``tinycnn.shared`` and each other only;
- ``tinycnn.data`` imports shared and config;
- ``tinycnn.training`` imports shared, config and ``tinycnn.data``;
- ``tinycnn.report`` imports shared, config and ``tinycnn.data``, never ``tinycnn.training``,
  and loads no torch: the report reads result files, never the training code;
- the entry points (``cli``, ``__main__`` and the ``reference`` package) may import every part;
  of ``tinycnn.reference``, only the runner loads torch (the merge, the plan and the render's
  side run where the report renders).
- the package's top holds the command line and nothing else.

Every import counts, a function's deferred one too (read from the source, not from what an
import happens to load).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import tinycnn

PACKAGE = Path(tinycnn.__file__).resolve().parent
STAGES = ("data", "training", "report")
PARTS = (*STAGES, "shared", "config")
ENTRY_POINTS = {"cli", "commands", "reference", "__main__"}
TOP = {"__init__", "__main__", "cli", "commands"}  # the package's top: the command line
# Which parts each part may import.
ALLOWED = {
    "shared": {"shared"},
    "config": {"shared", "config", "data", "training"},
    "data": {"shared", "config", "data"},
    "training": {"shared", "config", "data", "training"},
    "report": {"shared", "config", "data", "report"},
    "entry": {"shared", "config", "data", "training", "report", "entry"},
}
# The config's modules that the stages use: plain functions over the config mapping.
CONFIG_PLAIN = ("tinycnn.config.merge", "tinycnn.config.ablations", "tinycnn.config.beyond_paper")


def part_of(module: str) -> str:
    """The part a ``tinycnn.…`` module belongs to: a stage, ``shared``, ``config`` or ``entry``
    (the package itself counts as shared: its ``__init__`` holds the version only)."""
    names = module.split(".")
    assert names[0] == "tinycnn", module
    if len(names) == 1:
        return "shared"
    if names[1] in PARTS:
        return names[1]
    assert names[1] in ENTRY_POINTS, f"{module} is in no part"
    return "entry"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str | None = None) -> set[str]:
    """Every module ``path`` (module ``name``) imports: absolute names; ``from a import b``
    counts a and a.b."""
    name = name or module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_part_and_the_top_holds_the_command_line():
    # A new subpackage or top-level module must be given its place, not slip in unplaced.
    subpackages = {p.relative_to(PACKAGE).parts[0] for p in sources() if p.parent != PACKAGE}
    assert subpackages == set(PARTS) | {"reference"}
    assert {p.stem for p in PACKAGE.glob("*.py")} == TOP


@pytest.mark.parametrize("module", CONFIG_PLAIN)
def test_the_config_modules_the_stages_use_import_only_shared_and_config(module: str):
    path = PACKAGE / Path(*module.split(".")[1:]).with_suffix(".py")
    wrong = sorted(
        m
        for m in imported(path)
        if m.startswith("tinycnn.") and _is_module(m) and part_of(m) not in {"shared", "config"}
    )
    assert not wrong, f"{module} imports {wrong}"


@pytest.mark.parametrize("path", sources(), ids=lambda p: module_name(p))
def test_a_module_imports_only_what_its_part_may(path: Path):
    part = part_of(module_name(path))
    wrong = sorted(
        m
        for m in imported(path)
        if m.split(".")[0] == "tinycnn" and _is_module(m) and part_of(m) not in ALLOWED[part]
    )
    assert not wrong, f"{module_name(path)} ({part}) imports {wrong}"


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of tinycnn (not a function imported from one)."""
    rel = Path(*name.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel).is_dir()


def test_the_report_imports_neither_the_training_code_nor_torch():
    # What Python loads when every report module is imported: no tinycnn.training module, no
    # torch (envs/report.yaml installs no torch).
    modules = [module_name(p) for p in sources() if part_of(module_name(p)) == "report"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', "
        "'tinycnn.training')))\n"
        "print(bad)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_reference_package_but_its_runner_loads_no_torch():
    modules = [
        module_name(p)
        for p in sources()
        if module_name(p).startswith("tinycnn.reference") and p.stem != "runner"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert len(modules) >= 5 and done.stdout.strip() == "[]", done.stdout


def test_the_checker_sees_a_forbidden_import(tmp_path: Path):
    # The rule above must be able to fail: a report module importing the training loop, once at
    # the top and once deferred, is caught both ways.
    # (The probe is written outside the package: the package's source hash must not change.)
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from tinycnn.report import facts\n"
        "def f():\n"
        "    from tinycnn.training import train\n"
        "    from ..training.models import build_model\n"
    )
    found = imported(probe, "tinycnn.report.probe")
    assert "tinycnn.training.train" in found and "tinycnn.training.models" in found
    assert {part_of(m) for m in found if _is_module(m)} == {"report", "training"}


def test_only_the_paper_source_finder_climbs_out_of_the_package():
    # The schema is package data, found beside the module that reads it; the paper's source is
    # the repository's report/, which one module finds (tinycnn.report.source).
    climbing = [
        module_name(p)
        for p in sources()
        if "parents[" in p.read_text() or ".parent.parent" in p.read_text()
    ]
    assert climbing == ["tinycnn.report.source"]
