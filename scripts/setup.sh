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
# so pip never pulls a newer torch.
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.lock
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -e .
"$VENV/bin/python" - <<'PY'
import torch, torchvision, weasyprint  # noqa: F401  (fails early if a library is missing)
assert torch.__version__.split("+")[0] == "2.14.1", torch.__version__
print(f"setup: torch {torch.__version__}, torchvision {torchvision.__version__}, weasyprint {weasyprint.__version__}")
PY
