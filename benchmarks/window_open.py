"""Time from a cold Python process to the studio window shown on an example (target: under 2 s).

Each run is a fresh interpreter (`python -c`), timed from process start to the window laid out and
painted once; it also reports whether torch (or the model package) got imported. Prints each run
and the median, and the ratio to the 2 s budget.

    python benchmarks/window_open.py [--example cat] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 2.0

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from poseanything_studio.qt.app import application, open_window
app = application()
window = open_window(sys.argv[1])
window.show()
app.processEvents()
window.grab()  # one full paint of every widget
t1 = time.perf_counter()
print(json.dumps({"in_process_s": t1 - t0, "torch": "torch" in sys.modules, "model": "model" in sys.modules}))
window.doc.undo_stack.setClean()
window.close()
"""


def one_run(project: Path) -> dict:
    """Start a fresh interpreter that opens the window; wall time from spawn to the window painted."""
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
           "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(project)], stdout=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    line = proc.stdout.readline()
    shown = time.perf_counter() - start
    proc.wait()
    out = json.loads(line)
    out["wall_s"] = shown
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="cat")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    project = ROOT / "poseanything_studio" / "resources" / "examples" / f"{args.example}.pasproj"
    one_run(project)  # warm the file cache once
    runs = [one_run(project) for _ in range(args.runs)]
    print(f"window open on {project.name} ({os.environ.get('QT_QPA_PLATFORM', 'offscreen')} platform):")
    for i, r in enumerate(runs):
        print(f"  run {i + 1}: {r['wall_s']:.3f} s from process start to painted window "
              f"({r['in_process_s']:.3f} s after the interpreter was up), torch imported: {r['torch']}")
    median = statistics.median(r["wall_s"] for r in runs)
    print(f"median {median:.3f} s = {median / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget; "
          f"torch imported in any run: {any(r['torch'] or r['model'] for r in runs)}")
    return 0 if median < BUDGET_S and not any(r["torch"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
