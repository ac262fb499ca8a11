"""Read the config: YAML files (a key written twice refused) and the schema beside this module."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tinycnn.shared.errors import UserError

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.yaml"  # package data


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (plain YAML keeps the
    last and drops the first without a word)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: its keys may repeat
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"the key {key!r} is written twice (lines {seen[key].start_mark.line + 1} "
                    f"and {key_node.start_mark.line + 1}); keep one",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """YAML text as Python, refusing duplicate keys (yaml.YAMLError, with its line)."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects


def read_config_file(path: str | Path) -> dict[str, Any]:
    """One YAML config file as a mapping; anything else, a key written twice included, is one
    :class:`UserError` naming the file and the line."""
    try:
        with open(path, encoding="utf-8") as fh:
            config = load_yaml(fh.read())
    except OSError as err:
        raise UserError(f"cannot read the config file {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise UserError(f"cannot read the config file {path}: not UTF-8 text ({err})") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise UserError(f"{path} is not valid YAML{where}: {problem}") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise UserError(
            f"{path} must hold a mapping of keys (as config.yaml does), not a "
            f"{type(config).__name__}"
        )
    return config


def load_schema(path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)
