"""``tinycnn reference run`` where tinycnn is not installed (a GPU machine with the repository
copied to it): the runner of this checkout (src/tinycnn/reference/runner.py), in its root.

    python3 scripts/reference_runs.py --parts /tmp/realdata --work /tmp/ref \\
        --out "$OUT/records.tar.gz" --budget 480 --commit <the commit sent>
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from tinycnn.reference.runner import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(root=ROOT))
