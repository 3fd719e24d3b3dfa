"""Templates on real pictures: the box placement (before) against the fit to the mask (core/template_fit.py).

Per subject (hand masks of scikit-image's photos, the drawings tests/rendering/puppet_scenes.py makes, the
bundled cat): joints inside the mask, and where a hand rig is known (the drawings), the mean distance of the
template's hands, feet, elbows and knees (or paws and nose) to the drawing's own joints; and the seconds the
fit took. Also the auto-rig's joints, ends and junctions on the same masks.

    python benchmarks/template_fit.py
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
sys.path.insert(0, str(ROOT / "tests" / "rendering"))

import hand_masks  # noqa: E402
import puppet_scenes  # noqa: E402

from poseanything_studio.core.skeleton import skeleton_from_mask  # noqa: E402
from poseanything_studio.core.templates import fitted, load_templates, placed, target_box  # noqa: E402

# template joint -> the drawing's joint at the same place
MATCHES = {
    "drawn child": {
        "hand_l": "l_hand",
        "hand_r": "r_hand",
        "foot_l": "l_foot",
        "foot_r": "r_foot",
        "elbow_l": "l_elbow",
        "elbow_r": "r_elbow",
        "knee_l": "l_knee",
        "knee_r": "r_knee",
    },
    "four legs": {
        "front_l_paw": "fl_foot",
        "back_l_paw": "bl_foot",
        "front_l_knee": "fl_knee",
        "back_l_knee": "bl_knee",
        "tail3": "tail",
        "nose": "head",
    },
}


def subjects() -> list[tuple[str, str, np.ndarray, object]]:
    """(name, template key, mask, the drawing's own rig or None)."""
    out = [(n, k, hand_masks.photo(n)[1], None) for n, k in (("astronaut", "human"), ("chelsea", "quadruped"))]
    for make, key in ((puppet_scenes.drawn_child, "human"), (puppet_scenes.four_legs, "quadruped")):
        scene = make(2)
        out.append((scene.name, key, scene.mask, scene.rig))
    cat = ROOT / "resources" / "examples" / "cat_mask.png"
    out.append(("bundled cat", "quadruped", cv2.imread(str(cat), cv2.IMREAD_GRAYSCALE) > 127, None))
    return out


def inside(rig, mask: np.ndarray) -> int:
    h, w = mask.shape
    return sum(bool(0 <= round(y) < h and 0 <= round(x) < w and mask[round(y), round(x)]) for x, y in rig.rest_xy())


def error(rig, drawn, pairs: dict[str, str]) -> float:
    return float(np.mean([np.hypot(*np.subtract(rig.joint(a).xy, drawn.joint(b).xy)) for a, b in pairs.items()]))


def main() -> None:
    templates = {t.key: t for t in load_templates()}
    print(f"{'subject':12s} {'template':10s} {'inside box/fit':>15s} {'px off box/fit':>15s} {'fit s':>6s}   auto-rig")
    for name, key, mask, drawn in subjects():
        size = (mask.shape[1], mask.shape[0])
        box = placed(templates[key], target_box(size, mask))
        start = time.perf_counter()
        fit = fitted(templates[key], size, mask)
        seconds = time.perf_counter() - start
        n = len(fit.joints)
        off = (
            f"{error(box, drawn, MATCHES[name]):6.1f}/{error(fit, drawn, MATCHES[name]):<6.1f}"
            if drawn is not None
            else "-"
        )
        auto = skeleton_from_mask(mask)
        degree = [len(auto.neighbours(j)) for j in auto.joint_ids]
        print(
            f"{name:12s} {key:10s} {inside(box, mask):>7d}/{inside(fit, mask)} of {n:<3d} {off:>15s} {seconds:6.2f}"
            f"   {len(auto.joints)} joints, {degree.count(1)} ends, {sum(d >= 3 for d in degree)} junctions"
        )


if __name__ == "__main__":
    main()
