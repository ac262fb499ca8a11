#!/usr/bin/env bash
# Create or update the project virtual environment and the system libraries it
# needs. Called by `make setup` (and so by `make demo` and `make test`).
#   VENV    where the environment lives (default .venv)
#   PYTHON  the interpreter that creates it (default python3, 3.11+)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# --- system libraries ---------------------------------------------------------
# WeasyPrint renders the paper with Pango/HarfBuzz and needs a font; the report
# tests read the PDF with poppler's pdftotext/pdftoppm.
missing=()
have_lib() { ldconfig -p 2>/dev/null | grep -q "$1"; }
have_lib 'libpango-1.0.so.0' || missing+=(libpango-1.0-0)
have_lib 'libpangoft2-1.0.so.0' || missing+=(libpangoft2-1.0-0)
have_lib 'libharfbuzz-subset.so.0' || missing+=(libharfbuzz-subset0)
{ command -v fc-list >/dev/null && [ -n "$(fc-list 2>/dev/null | head -n 1)" ]; } || missing+=(fontconfig fonts-dejavu-core)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: missing system packages: ${missing[*]}" >&2
        echo "setup: install them, then run make again:" >&2
        echo "    sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

# --- Python environment ---------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        echo "setup: $PYTHON is $("$PYTHON" --version 2>&1); Python 3.11 or newer is needed (set PYTHON=...)" >&2
        exit 1
    }
    echo "setup: creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# requirements.lock pins every package, torch==2.14.1 and torchvision==0.29.1 included,
# so nothing ever pulls a newer torch. uv installs it: a new venv in about 75 s on 2 cores
# against pip's 129 s (benchmarks/RESULTS.md), bytecode compiled in parallel, so that the
# pipeline's first jobs do not compile torch each. uv reads no pip configuration: it is given
# the indexes, find-links and constraints pip is configured with (scripts/pip_indexes.py), and
# weighs every index as pip does. Where uv cannot be installed, pip does the work.
UV_VERSION=0.13.9
pip=("$VENV/bin/pip" install --quiet --disable-pip-version-check)
if "${pip[@]}" "uv==$UV_VERSION"; then
    mapfile -t indexes < <("$VENV/bin/python" scripts/pip_indexes.py)
    uv=("$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --index-strategy unsafe-best-match "${indexes[@]}")
    "${uv[@]}" --compile-bytecode -r requirements.lock
    "${uv[@]}" --no-deps -e .
else
    echo "setup: uv $UV_VERSION could not be installed; installing with pip (slower)" >&2
    "${pip[@]}" -r requirements.lock
    "${pip[@]}" --no-deps -e .
fi
# The package itself is installed editable: compile it too (0.5 s of every job's start where
# Python is told not to write bytecode, PYTHONDONTWRITEBYTECODE, as on this project's CI).
"$VENV/bin/python" -m compileall -q src/tinycnn
"$VENV/bin/python" - <<'PY'
import torch, torchvision, weasyprint  # noqa: F401  (fails early if a library is missing)
assert torch.__version__.split("+")[0] == "2.14.1", torch.__version__
print(f"setup: torch {torch.__version__}, torchvision {torchvision.__version__}, weasyprint {weasyprint.__version__}")
PY
