#!/usr/bin/env bash
# `make gpu-wheels`: the wheels `make gpu-check` installs on a GPU machine that has torch but
# neither Snakemake nor jsonschema and no network (Python 3.12, x86-64 Linux by default).
# Run it where PyPI is reachable; it writes .whl/ (ignored by git), about 25 MB.
#   PYVER   the GPU machine's Python version (default 3.12)
#   WHEELS  where to put them (default .whl)
set -euo pipefail
cd "$(dirname "$0")/.."
PYVER=${PYVER:-3.12}
WHEELS=${WHEELS:-.whl}
PIP=${PIP:-.venv/bin/pip}
mkdir -p "$WHEELS"
# Versions as requirements.lock pins them.
pin() { grep -i "^$1==" requirements.lock; }
# connection_pool is published as a source archive only: build its (pure Python) wheel here.
"$PIP" wheel -q --no-deps -w "$WHEELS" "$(pin connection_pool)"
platforms=()
for p in manylinux_2_34_x86_64 manylinux_2_28_x86_64 manylinux_2_27_x86_64 \
    manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
"$PIP" download -q --only-binary=:all: --python-version "$PYVER" --implementation cp \
    "${platforms[@]}" --find-links "$WHEELS" -d "$WHEELS" \
    "$(pin snakemake)" "$(pin jsonschema)"
# What a PyTorch GPU image already has (and torch itself needs): keep the machine's own.
for name in typing_extensions jinja2 markupsafe packaging pyyaml psutil requests urllib3 idna \
    certifi charset_normalizer attrs tabulate wrapt; do
    rm -f "$WHEELS/$name"-[0-9]*.whl
done
ls "$WHEELS" | wc -l | xargs echo "gpu-wheels: wheels in $WHEELS:"
du -sh "$WHEELS"
