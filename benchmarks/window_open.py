"""Time from a cold Python process to the studio window shown on an example (target: under 2 s).

Each run is a fresh interpreter (`python -c`), timed from process start to the window laid out and
painted once; it also reports whether torch (or the model package) got imported. Prints each run
and the median, and the ratio to the 2 s budget.

`--large` also opens projects at the format's limits, made in a temporary folder on the example's picture:
a rig of MAX_JOINTS joints (974 bones in a grid, a key every 4 frames on every joint) and a prompt of
MAX_PROMPT_CHARS characters without a space. For each it prints the time to the painted window and to the
first puppet preview, and the ratio to the small example measured in the same run (target: a few seconds;
a 500-joint rig once took 103 s, a 2 MB prompt 288 s).

    python benchmarks/window_open.py [--example cat] [--runs 5] [--large]
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
while window.preview.result is None and time.perf_counter() - t1 < 600:  # the puppet preview, built in a worker
    app.processEvents()
    time.sleep(0.005)
t2 = time.perf_counter()
print(json.dumps({"in_process_s": t1 - t0, "preview_s": t2 - t0, "torch": "torch" in sys.modules,
                  "model": "poseanything_studio.model" in sys.modules}))
window.doc.undo_stack.setClean()
window.close()
"""


def one_run(project: Path) -> dict:
    """Start a fresh interpreter that opens the window; wall time from spawn to the window painted."""
    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"), "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(project)], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    line = proc.stdout.readline()
    shown = time.perf_counter() - start
    proc.wait()
    out = json.loads(line)
    out["wall_s"] = shown
    return out


def large_projects(example: Path, folder: Path) -> dict[str, Path]:
    """Projects at the format's limits on `example`'s picture, written into `folder`."""
    sys.path.insert(0, str(ROOT))
    from poseanything_studio.core.project import MAX_JOINTS, MAX_PROMPT_CHARS

    data = json.loads(example.read_text())
    for key in ("image", "subject_mask"):
        if data.get(key):
            data[key] = str((example.parent / data[key]).resolve())
    w, h = 832, 480
    cols = 25
    rows = MAX_JOINTS / cols
    joints = [
        {"id": f"j{i}", "xy": [40 + (i % cols) * (w - 80) / cols, 40 + (i // cols) * (h - 80) / rows]}
        for i in range(MAX_JOINTS)
    ]
    bones = [{"id": f"b{i}", "a": f"j{i}", "b": f"j{i + 1}"} for i in range(MAX_JOINTS - 1)]
    bones += [{"id": f"c{i}", "a": f"j{i}", "b": f"j{i + cols}"} for i in range(MAX_JOINTS - cols)]
    tracks = {
        j["id"]: [
            {"frame": f, "xy": [j["xy"][0] + (f % 8) - 4, j["xy"][1]], "interp": "smooth"}
            for f in range(0, data.get("frames", 49), 4)
        ]
        for j in joints
    }
    out = {}
    out["rig"] = folder / f"rig{MAX_JOINTS}.pasproj"
    out["rig"].write_text(json.dumps({**data, "rig": {"joints": joints, "bones": bones}, "tracks": tracks}))
    out["prompt"] = folder / "long_prompt.pasproj"
    render = {**data.get("render", {}), "prompt": "x" * MAX_PROMPT_CHARS}
    out["prompt"].write_text(json.dumps({**data, "render": render}))
    return out


def _report(name: str, runs: list[dict], baseline: dict | None = None) -> dict:
    median = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "preview_s")}
    line = (
        f"{name}: median {median['wall_s']:.3f} s to the painted window, "
        f"{median['preview_s']:.3f} s (in process) to the first puppet preview"
    )
    if baseline:
        ratios = [median[k] / baseline[k] for k in ("wall_s", "preview_s")]
        line += f"; {ratios[0]:.2f} x and {ratios[1]:.2f} x the small example"
    print(line)
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="cat")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--large", action="store_true", help="also a MAX_JOINTS rig and a MAX_PROMPT_CHARS prompt")
    args = parser.parse_args()
    project = ROOT / "resources" / "examples" / f"{args.example}.pasproj"
    one_run(project)  # warm the file cache once
    runs = [one_run(project) for _ in range(args.runs)]
    print(f"window open on {project.name} ({os.environ.get('QT_QPA_PLATFORM', 'offscreen')} platform):")
    for i, r in enumerate(runs):
        print(
            f"  run {i + 1}: {r['wall_s']:.3f} s from process start to painted window "
            f"({r['in_process_s']:.3f} s after the interpreter was up), torch imported: {r['torch']}"
        )
    median = statistics.median(r["wall_s"] for r in runs)
    print(
        f"median {median:.3f} s = {median / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget; "
        f"torch imported in any run: {any(r['torch'] or r['model'] for r in runs)}"
    )
    ok = median < BUDGET_S and not any(r["torch"] for r in runs)
    if args.large:
        import tempfile

        baseline = _report(project.stem, runs)
        with tempfile.TemporaryDirectory() as folder:
            for name, path in large_projects(project, Path(folder)).items():
                _report(f"{name} ({path.name})", [one_run(path) for _ in range(args.runs)], baseline)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
