"""The package's layout is its architecture: who may import whom, by package path.

- the shared modules (``tinycnn/*.py`` but the entry points) import no stage;
- ``tinycnn.data`` imports the shared modules only;
- ``tinycnn.training`` imports the shared modules and ``tinycnn.data``;
- ``tinycnn.report`` imports the shared modules and ``tinycnn.data``, never ``tinycnn.training``,
  and loads no torch: the report reads result files, never the training code;
- the entry points (``cli``, ``config``, the ``reference`` package, ``__main__``) may import
  every stage; of ``tinycnn.reference``, only the runner loads torch (the merge, the plan and
  the render's side run where the report renders).

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
ENTRY_POINTS = {"cli", "config", "reference", "__main__"}
# Which parts each part may import ("shared" is every top-level module but the entry points).
ALLOWED = {
    "shared": {"shared"},
    "data": {"shared", "data"},
    "training": {"shared", "data", "training"},
    "report": {"shared", "data", "report"},
    "entry": {"shared", "data", "training", "report", "entry"},
}


def part_of(module: str) -> str:
    """The part a ``tinycnn.…`` module belongs to: a stage, ``shared`` or ``entry``."""
    names = module.split(".")
    assert names[0] == "tinycnn", module
    if len(names) == 1:
        return "shared"
    if names[1] in STAGES:
        return names[1]
    return "entry" if names[1] in ENTRY_POINTS else "shared"


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


def test_every_module_sits_in_a_stage_or_is_named_shared_or_entry():
    # A new subpackage must be given its place in ALLOWED, not slip through as "shared".
    subpackages = {p.parent.name for p in sources() if p.parent != PACKAGE}
    assert subpackages == set(STAGES) | {"reference"}
    assert {p.stem for p in PACKAGE.glob("*.py")} >= ENTRY_POINTS - {"reference"}


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


def test_no_module_finds_files_by_climbing_out_of_the_package():
    # Templates and the schema are package data, found beside the module that reads them.
    climbing = [
        module_name(p)
        for p in sources()
        if "parents[" in p.read_text() or ".parent.parent" in p.read_text()
    ]
    assert not climbing
