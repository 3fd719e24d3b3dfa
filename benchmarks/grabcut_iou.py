"""The subject cut-out (core/grabcut.py) against hand masks of scikit-image's photos, and today's ways to a mask.

For astronaut, chelsea and coffee: IoU with the hand mask (tests/core/hand_masks.py, polygons written by eye)
of, in the same run,
- whole:      File > New on a photo without alpha (the mask is the whole picture: the alpha rule finds none)
- otsu:       a global Otsu threshold of the grey picture, the better of its two sides
- rig:        Mask from rig (core/parts.grabcut_mask) with the rig a user places (hand_masks.USER_RIG_BONES)
- box:        the cut-out from a box dragged around the subject
- box+strokes the cut-out from that box and a few strokes on the subject and the confusing background
and the seconds each GrabCut took. Prints one line per picture and the mean.

    python benchmarks/grabcut_iou.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "core"))

import hand_masks  # noqa: E402

from poseanything_studio.core.grabcut import Strokes, iou, subject_cutout  # noqa: E402
from poseanything_studio.core.parts import grabcut_mask  # noqa: E402
from poseanything_studio.core.rig import Bone, Joint, Rig  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee")


def rig_of(bones: list[tuple[tuple[float, float], tuple[float, float]]]) -> Rig:
    """A rig from bones given as point pairs; shared points are one joint."""
    ids: dict[tuple[float, float], str] = {}
    for a, b in bones:
        for p in (a, b):
            ids.setdefault(p, f"j{len(ids) + 1}")
    return Rig(
        tuple(Joint(i, p) for p, i in ids.items()),
        tuple(Bone(f"b{k + 1}", ids[a], ids[b]) for k, (a, b) in enumerate(bones)),
    )


def otsu(rgb: np.ndarray, hand: np.ndarray) -> float:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    _, bright = cv2.threshold(grey, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return max(iou(bright > 0, hand), iou(bright == 0, hand))


def timed(make):
    start = time.perf_counter()
    mask = make()
    return mask, time.perf_counter() - start


def main() -> None:
    rows = []
    print(
        f"{'picture':10s} {'whole':>6s} {'otsu':>6s} {'rig':>6s} {'box':>6s} {'box+strokes':>11s}   "
        "seconds (rig/box/strokes)"
    )
    for name in PHOTOS:
        rgb, hand = hand_masks.photo(name)
        user = hand_masks.USER_STROKES[name]
        strokes = Strokes(box=user["box"], foreground=tuple(user["foreground"]), background=tuple(user["background"]))
        rig, t_rig = timed(lambda: grabcut_mask(rgb, rig_of(hand_masks.USER_RIG_BONES[name])))  # noqa: B023
        box, t_box = timed(lambda: subject_cutout(rgb, Strokes(box=user["box"])))  # noqa: B023
        drawn, t_drawn = timed(lambda: subject_cutout(rgb, strokes))  # noqa: B023
        row = (float(hand.mean()), otsu(rgb, hand), iou(rig, hand), iou(box, hand), iou(drawn, hand))
        rows.append(row)
        print(
            f"{name:10s} {row[0]:6.3f} {row[1]:6.3f} {row[2]:6.3f} {row[3]:6.3f} {row[4]:11.3f}   "
            f"{t_rig:.1f}/{t_box:.1f}/{t_drawn:.1f}"
        )
    mean = np.mean(rows, axis=0)
    print(f"{'mean':10s} {mean[0]:6.3f} {mean[1]:6.3f} {mean[2]:6.3f} {mean[3]:6.3f} {mean[4]:11.3f}")


if __name__ == "__main__":
    main()
