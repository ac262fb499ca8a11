"""The paper's words live in its source (report/, the sentences in report/sentences/), not in
the report's Python: Python gathers facts, templates word them. Counted here: the English string
literals left in src/tinycnn/report/: issue 32 asked for at most 60; 23 were left when the
sentences moved to report/sentences/, and the limit holds the count near that.

What counts as an English literal: a string constant with a space, or a capitalized word, that is
not a docstring, not a message to the user (what a ``raise``, ``UserError``, ``print`` or a
``*_problems`` check says: errors, not the paper), not an argument that names a setting of a
library (matplotlib's ``loc``, pandas' ``astype``) or a CSS class (``cls``), not HTML markup, and
not a name in code (``StepLR``). The modules that read and
check the inputs (records.py, inputs.py) word errors only and are not counted.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import tinycnn.report

REPORT = Path(tinycnn.report.__file__).parent
NOT_COUNTED = {"records.py", "inputs.py"}  # they word errors about their inputs, not the paper
LIMIT = 30
_MESSAGES = {"UserError", "ValueError", "TypeError", "print", "warn", "fail"}
_LIBRARY_ARGUMENTS = {"loc", "textcoords", "va", "ha", "dtype", "ls", "marker", "metadata", "cls"}
_WORD = re.compile(r"[A-Za-z]{2,}")


def _english(value: str) -> bool:
    if not _WORD.search(value) or value.lstrip().startswith("<"):
        return False
    if re.fullmatch(r"[a-z0-9_.\-/%{}:\[\]]*", value):  # a key, a column, a path, a format
        return False
    if re.fullmatch(r"(?:[A-Z][a-z0-9]*)+[A-Z]\w*", value):  # a class in code: StepLR
        return False
    return bool(re.search(r"\s", value) or re.match(r"[A-Z][a-z]", value))


def _not_counted(tree: ast.AST) -> set[int]:
    """The ids of the nodes under a docstring, a message to the user or a library's argument."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        parts: list[ast.AST] = []
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                parts.append(first.value)
            if isinstance(node, ast.FunctionDef) and node.name.endswith("_problems"):
                parts.append(node)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            parts.append(node.exc)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in _MESSAGES or name == "astype":
                parts.extend(node.args)
            parts.extend(k.value for k in node.keywords if k.arg in _LIBRARY_ARGUMENTS)
        elif isinstance(node, ast.Dict):  # matplotlib's rcParams: "font.family": "DejaVu Sans"
            parts.extend(
                v
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant) and str(k.value).startswith("font.")
            )
        for part in parts:
            skip.update(id(n) for n in ast.walk(part))
    return skip


def english_literals() -> dict[str, list[str]]:
    """The English literals of each counted module of the report's Python."""
    out = {}
    for path in sorted(REPORT.glob("*.py")):
        if path.name in NOT_COUNTED:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _not_counted(tree)
        found = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and _english(node.value)
        ]
        if found:
            out[path.name] = found
    return out


def test_the_count_tells_words_from_keys() -> None:
    assert _english("the paper's best")
    assert _english("Table")
    assert not _english("best_val_acc_mean")
    assert not _english("StepLR")
    assert not _english('<a class="ref" href="#{}">{}</a>')
    tree = ast.parse('"""Doc string."""\nraise UserError("no such file")\nx = "a run"\n')
    skip = _not_counted(tree)
    found = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in skip]
    assert found == ["a run"]


def test_the_paper_s_words_are_in_its_templates() -> None:
    found = english_literals()
    count = sum(map(len, found.values()))
    listing = "\n".join(f"{name}: {words!r}" for name, words in found.items())
    assert count <= LIMIT, f"{count} English literals in the report's Python:\n{listing}"
