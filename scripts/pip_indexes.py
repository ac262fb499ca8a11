"""Print, one per line, the uv arguments for the package sources pip is configured with.

uv reads no pip configuration (pip.conf, PIP_* variables). ``scripts/setup.sh`` installs the
lock with uv and passes it these, so that both take packages from the same places: a machine
whose pip looks in a local index or folder first (as this project's CI machine does for torch)
gets the same files from uv. Reads ``pip config list``, where a ``PIP_*`` variable (``:env:``)
overrides the configuration files, and a later file an earlier one.
"""

from __future__ import annotations

import shlex
import subprocess
import sys

# pip's option -> uv's; each value of a list option ("a b") becomes its own argument.
OPTIONS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}


def configured(listing: str) -> dict[str, list[str]]:
    """pip's option -> its values, from ``pip config list`` output."""
    files: dict[str, list[str]] = {}
    env: dict[str, list[str]] = {}
    for line in listing.splitlines():
        key, sep, value = line.partition("=")
        section, _, name = key.rpartition(".")
        if not sep or name not in OPTIONS:
            continue
        words = shlex.split(value)
        values = words[0].split() if words else []
        (env if section == ":env:" else files)[name] = values
    return {**files, **env}


def uv_arguments(options: dict[str, list[str]]) -> list[str]:
    return [arg for name, values in options.items() for v in values for arg in (OPTIONS[name], v)]


def main() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    sys.stdout.write("".join(f"{arg}\n" for arg in uv_arguments(configured(listing))))


if __name__ == "__main__":
    main()
