"""The README's layout block and docs/architecture.md's tree say what the repository holds."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "tinycnn"


def _block(text: str, heading: str) -> str:
    after = text[text.index(heading) :]
    return after[after.index("```\n") + 4 : after.index("\n```", after.index("```\n") + 4)]


def _subpackages() -> set[str]:
    return {p.parent.name for p in PACKAGE.glob("*/__init__.py")}


def test_the_readme_layout_names_every_part_and_names_nothing_that_is_not_there():
    block = _block((ROOT / "README.md").read_text(), "## Layout")
    named = {m.group(1) for m in re.finditer(r"^  ([a-z_]+)/", block, re.M)}
    assert named == _subpackages()
    tops = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert all(f"{name}.py" in block for name in tops), tops
    for line in block.splitlines():
        first = line.split()[0] if line.strip() and not line.startswith(" ") else None
        for path in (first or "").rstrip(",").split(","):
            if path:
                assert (ROOT / path).exists(), f"the README's layout names {path}: not there"
    tests = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and p.name[0] != "_"}
    assert all(f"{name}/" in block for name in tests - {"__pycache__"}), tests


def test_the_architecture_tree_names_every_part_and_its_modules():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    tree = _block(doc, "## The package, by part")
    for part in _subpackages():
        assert f"  {part}/" in tree, part
        modules = {p.stem for p in (PACKAGE / part).glob("*.py")} - {"__init__"}
        row = next(line for line in doc.splitlines() if line.startswith(f"| `{part}/`") or (
            part == "reference" and line.startswith("| entry points")))  # fmt: skip
        missing = [m for m in modules if f"`{m}`" not in row]
        assert not missing, f"docs/architecture.md's row of {part}/ lacks {missing}"
