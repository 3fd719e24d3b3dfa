"""The subject cut-out (core/grabcut.py) against hand masks of scikit-image's photos, and today's ways to a mask.

For astronaut, chelsea and coffee: IoU with the hand mask (tests/core/hand_masks.py, polygons written by eye)
of, in the same run,
- whole:      File > New on a photo without alpha (the mask is the whole picture: the alpha rule finds none)
- otsu:       a global Otsu threshold of the grey picture, the better of its two sides
- rig:        core/parts.grabcut_mask (Mask from rig until 2026-12) with the rig a user places
              (hand_masks.USER_RIG_BONES)
- rig cut:    Mask from rig now: the cut-out from that rig's bones and its box (core/grabcut.rig_strokes); its
              box margin (RIG_GROW) was chosen on these same photos, so this column flatters it a little
- box:        the cut-out from a box dragged around the subject
- box+strokes the cut-out from that box and a few strokes on the subject and the confusing background
- +matting:   that cut-out's outline refined by closed-form matting (pymatting's estimate_alpha_cf on a
              trimap 4 px either side of the outline, alpha >= 0.5), when pymatting is importable
and the seconds each GrabCut took. Prints one line per picture and the mean.

Then the edge-snapping brush (core/edge_brush.py): dabs of radius 15 centred 6 px inside the hand mask's
outline every 20 px along it; the share of a dab's pixels outside the hand mask (spill) for a plain disc and for
the edge dab, and the share of the disc's inside pixels the edge dab still paints (kept).

pymatting (maintained, MIT, no downloaded weights) was tried as the "library that does better": its matte moves
the outline by a pixel or two, and IoU by 0.002 at most, down rather than up (0.923 against 0.925 in the log),
since what the cut-out gets wrong is whole regions (the helmet the astronaut holds, the background between her
arm and the helmet), not its edges' last pixels, and the hand masks are only good to a few pixels there. So it
is not a dependency; the column shows when it is installed (`pip install pymatting`; 0.0-0.9 s a picture).
The libraries that cut subjects out better (rembg, backgroundremover, carvekit, transparent-background)
download network weights at run time, which this program does not do.

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

from poseanything_studio.core.edge_brush import edge_dab  # noqa: E402
from poseanything_studio.core.grabcut import Strokes, iou, rig_strokes, subject_cutout  # noqa: E402
from poseanything_studio.core.parts import grabcut_mask  # noqa: E402
from poseanything_studio.core.rig import Bone, Joint, Rig  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee")
MATTING_BAND = 4  # trimap: this many pixels either side of the cut-out's outline are unknown
DAB_RADIUS, DAB_INSET, DAB_STEP = 15, 6, 20


def matted(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """`mask`'s outline refined by pymatting's closed-form matting; None without pymatting."""
    try:
        from pymatting import estimate_alpha_cf
    except ImportError:
        return None
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * MATTING_BAND + 1,) * 2)
    trimap = np.full(mask.shape, 0.5)
    trimap[cv2.erode(mask.astype(np.uint8), k) > 0] = 1.0
    trimap[cv2.dilate(mask.astype(np.uint8), k) == 0] = 0.0
    return estimate_alpha_cf(rgb / 255.0, trimap) >= 0.5


def brush_spill(rgb: np.ndarray, hand: np.ndarray) -> tuple[float, float, float, int]:
    """Mean spill of plain and edge dabs just inside the hand mask's outline, the edge dab's kept share, dabs."""
    inside = cv2.erode(hand.astype(np.uint8), np.ones((2 * DAB_INSET + 1,) * 2, np.uint8))
    contours, _ = cv2.findContours(inside, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    h, w = hand.shape
    plain, edge, kept = [], [], []
    for x, y in max(contours, key=len)[::DAB_STEP, 0]:
        if min(x, y) < DAB_RADIUS or x >= w - DAB_RADIUS or y >= h - DAB_RADIUS:
            continue  # at the picture's edge there is nothing to spill into
        disc = np.zeros(hand.shape, np.uint8)
        cv2.circle(disc, (int(x), int(y)), DAB_RADIUS, 1, -1)
        disc_mask = disc > 0
        (x0, y0), patch = edge_dab(rgb, (float(x), float(y)), DAB_RADIUS)
        dab = np.zeros(hand.shape, bool)
        dab[y0 : y0 + patch.shape[0], x0 : x0 + patch.shape[1]] = patch
        plain.append((disc_mask & ~hand).sum() / disc_mask.sum())
        edge.append((dab & ~hand).sum() / max(1, dab.sum()))
        kept.append((dab & hand).sum() / max(1, (disc_mask & hand).sum()))
    return float(np.mean(plain)), float(np.mean(edge)), float(np.mean(kept)), len(plain)


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
        f"{'picture':10s} {'whole':>6s} {'otsu':>6s} {'rig':>6s} {'rig cut':>7s} {'box':>6s} {'box+strokes':>11s} "
        f"{'+matting':>8s}   seconds (rig/rig cut/box/strokes/matting)"
    )
    spills = []
    for name in PHOTOS:
        rgb, hand = hand_masks.photo(name)
        user = hand_masks.USER_STROKES[name]
        strokes = hand_masks.user_strokes(name)
        user_rig = rig_of(hand_masks.USER_RIG_BONES[name])
        rig, t_rig = timed(lambda: grabcut_mask(rgb, user_rig))  # noqa: B023
        rig_cut, t_rig_cut = timed(lambda: subject_cutout(rgb, rig_strokes(user_rig, hand.shape[::-1])))  # noqa: B023
        box, t_box = timed(lambda: subject_cutout(rgb, Strokes(box=user["box"])))  # noqa: B023
        drawn, t_drawn = timed(lambda: subject_cutout(rgb, strokes))  # noqa: B023
        refined, t_matting = timed(lambda: matted(rgb, drawn))  # noqa: B023
        row = (float(hand.mean()), otsu(rgb, hand), iou(rig, hand), iou(rig_cut, hand), iou(box, hand))
        row += (iou(drawn, hand), iou(refined, hand) if refined is not None else float("nan"))
        rows.append(row)
        print(
            f"{name:10s} {row[0]:6.3f} {row[1]:6.3f} {row[2]:6.3f} {row[3]:7.3f} {row[4]:6.3f} {row[5]:11.3f} "
            f"{row[6]:8.3f}   {t_rig:.1f}/{t_rig_cut:.1f}/{t_box:.1f}/{t_drawn:.1f}/{t_matting:.1f}"
        )
        spills.append((name, *brush_spill(rgb, hand)))
    mean = np.mean(rows, axis=0)
    print(
        f"{'mean':10s} {mean[0]:6.3f} {mean[1]:6.3f} {mean[2]:6.3f} {mean[3]:7.3f} {mean[4]:6.3f} {mean[5]:11.3f} "
        f"{mean[6]:8.3f}"
    )
    if np.isnan(mean[6]):
        print("(+matting: pymatting is not installed)")
    print(f"\nedge brush, radius {DAB_RADIUS}, {DAB_INSET} px inside the outline:")
    print(f"{'picture':10s} spill plain / edge, kept (edge), dabs")
    for name, plain, edge, kept, count in spills:
        print(f"{name:10s} {plain:6.3f} / {edge:6.3f}   {kept:6.3f}   {count}")
    means = np.mean([s[1:4] for s in spills], axis=0)
    print(f"{'mean':10s} {means[0]:6.3f} / {means[1]:6.3f}   {means[2]:6.3f}")


if __name__ == "__main__":
    main()
