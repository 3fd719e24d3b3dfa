"""The first Auto-rig in a session: cold (skan's numba code compiles on the call) against after the start-up
warm-up (qt/app.py `warm_up_auto_rig`, started 1.5 s after the window shows).

Each case is a fresh interpreter, since numba compiles skan's jitclasses once per process. Also measures how
late a GUI-like loop on the main thread runs while the warm-up compiles (the window stays usable).
Prints the seconds and the ratio warm / cold of the first Auto-rig.

    python benchmarks/auto_rig_first_use.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
import numpy as np
from poseanything_studio.core.skeleton import skeleton_from_mask

mask = np.zeros((480, 640), bool)  # a four-legged silhouette: body, legs, neck and head, tail
mask[180:300, 150:500] = True
for x in (170, 230, 400, 460):
    mask[300:440, x:x + 30] = True
mask[100:200, 470:520] = True
mask[60:130, 450:600] = True
mask[200:215, 60:150] = True
out = {}
if sys.argv[1] == "warm":
    from poseanything_studio.qt.app import warm_up_auto_rig
    start = time.perf_counter()
    thread = warm_up_auto_rig()
    late = []
    while thread.is_alive():  # a GUI thread's timer ticks, 5 ms apart, with a little Python work
        t = time.perf_counter(); time.sleep(0.005); sum(range(2000)); late.append(time.perf_counter() - t - 0.005)
    out["warm_up_s"] = time.perf_counter() - start
    late = np.array(late)
    out["tick_late_median_ms"] = float(np.median(late) * 1e3)
    out["tick_late_p99_ms"] = float(np.percentile(late, 99) * 1e3)
t = time.perf_counter()
skeleton_from_mask(mask)
out["first_auto_rig_s"] = time.perf_counter() - t
print(json.dumps(out))
"""


def run(case: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, case], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    cold, warm = run("cold"), run("warm")
    print(f"cold: first Auto-rig {cold['first_auto_rig_s']:.2f} s")
    print(
        f"warm: warm-up {warm['warm_up_s']:.1f} s in the background (main-thread ticks late by "
        f"{warm['tick_late_median_ms']:.1f} ms median, {warm['tick_late_p99_ms']:.1f} ms p99), then the first "
        f"Auto-rig {warm['first_auto_rig_s']:.2f} s"
    )
    print(f"ratio warm / cold first Auto-rig: {warm['first_auto_rig_s'] / cold['first_auto_rig_s']:.3f}")


if __name__ == "__main__":
    main()
