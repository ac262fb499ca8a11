"""Where the paper's source is: the repository's ``report/`` folder.

The paper's words, layout and style are not package data: they live at the repository's top, in
``report/`` (its README says what each file holds), where a user who wants to change a word of
the paper looks first. The renderer finds that folder, in this order:

1. the folder passed in (``tinycnn paper-html --paper-source``; the workflow always passes its
   own ``report/``, whose files are inputs of the paper's rule: an edit renders it again);
2. the folder named by the environment variable ``TINYCNN_PAPER_SOURCE``;
3. the ``report/`` of the checkout this package is installed from (``pip install -e .``, how
   every environment of the project installs it: the package's ``src/tinycnn/`` lies two folders
   below the repository's top). An installed copy without its checkout finds none and says to
   pass the folder (docs/architecture.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from markupsafe import Markup

from tinycnn.shared.errors import UserError

ENV = "TINYCNN_PAPER_SOURCE"
TEMPLATE = "paper.html.j2"  # the file that makes a folder the paper's source
STYLESHEET = "paper.css"
REFERENCES = "references.yaml"
# src/tinycnn/report/source.py -> the repository's top (this one place climbs out of the package).
CHECKOUT = Path(__file__).resolve().parents[3] / "report"


def paper_source(folder: str | os.PathLike[str] | None = None) -> Path:
    """The paper's source folder: ``folder``, else ``$TINYCNN_PAPER_SOURCE``, else the
    checkout's ``report/``; one :class:`UserError` when it holds no paper template."""
    given = folder or os.environ.get(ENV)
    path = Path(given) if given else CHECKOUT
    if not (path / TEMPLATE).is_file():
        how = "the folder given" if folder else (f"${ENV}" if given else "the checkout's report/")
        raise UserError(
            f"{path} ({how}) holds no paper source ({TEMPLATE}): pass the repository's report/ "
            f"folder with --paper-source, or set {ENV} to it."
        )
    return path


def read_references(source: Path) -> dict[str, str | None]:
    """The references of the paper's source (``references.yaml``), in citation order: key ->
    the entry as printed (None for ``original``, whose entry the config's report gives)."""
    path = source / REFERENCES
    try:
        refs = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"cannot read the paper's references {path}: {err}") from None
    if not isinstance(refs, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in refs.items()
    ):
        raise UserError(f"{path} must map each reference's key to its entry (text)")
    return refs


def citations(references: Mapping[str, str | None]) -> dict[str, Markup]:
    """Each reference's citation link, numbered in citation order: ``cite.<key>`` in the
    templates, ``{key}`` in a model's description."""
    return {
        key: Markup('<a class="cite" href="#ref-{}">[{}]</a>').format(key, i)
        for i, key in enumerate(references, 1)
    }
