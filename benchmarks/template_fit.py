"""Templates and Auto-rig on subjects with known limb ends: before and after, measured in the same run.

Subjects: tests/core/subject_masks.py (drawings made with cv2 and the astronaut's hand mask, each with its limb,
head and tail ends and its bends), and two without known ends (scikit-image's chelsea, the bundled cat).

Template fit, per subject: the mean distance (px) of the template's extremities (hands, feet, head; paws, nose,
tail tip; beak, wing tips; fins) to the subject's ends, for the box placement, the fit as it was (the medial
axis alone: `_turned` switched off for the measurement) and the fit now (limbs turned to the auto-rig's limb
ends); joints inside the mask; the seconds the fit took (after a warm-up call: skan's first use compiles).

Auto-rig, per subject: joints before (main's core/skeleton.py, read from git when there is one) and now, and
now how many of the subject's ends have an end joint within 7% of sqrt(area) and its bends a joint within 6%.

    python benchmarks/template_fit.py
"""

from __future__ import annotations

import importlib.util
import subprocess
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
import subject_masks  # noqa: E402

from poseanything_studio.core import template_fit  # noqa: E402
from poseanything_studio.core.skeleton import skeleton_from_mask  # noqa: E402
from poseanything_studio.core.templates import fitted, load_templates, placed, target_box  # noqa: E402


def main_module(name: str):
    """main's poseanything_studio/core/NAME.py as a module, or None (no git, no main branch)."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"main:poseanything_studio/core/{name}.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader(f"poseanything_studio.core._{name}_main", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "poseanything_studio.core"
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"main:core/{name}.py", "exec"), module.__dict__)
    return module


def inside(rig, mask: np.ndarray) -> int:
    h, w = mask.shape
    return sum(bool(0 <= round(y) < h and 0 <= round(x) < w and mask[round(y), round(x)]) for x, y in rig.rest_xy())


def axis_only(template, size, mask):
    """The fit as it was before limbs were turned to the auto-rig's ends."""
    turned = template_fit._turned
    template_fit._turned = lambda *a, **k: {}
    try:
        return fitted(template, size, mask)
    finally:
        template_fit._turned = turned


def found(rig, subject) -> tuple[int, int, int, int]:
    """(ends found, ends, bends found, bends) of `subject` by the auto-rig `rig`."""
    xy = rig.rest_xy()
    ends = xy[[len(rig.neighbours(j)) == 1 for j in rig.joint_ids]]
    scale = float(np.sqrt(subject.mask.sum()))
    near = [np.linalg.norm(ends - e, axis=1).min() < 0.07 * scale for e in subject.ends.values()]
    bent = [np.linalg.norm(xy - b, axis=1).min() < 0.06 * scale for b in subject.bends.values()]
    return sum(near), len(near), sum(bent), len(bent)


def main() -> None:
    templates = {t.key: t for t in load_templates()}
    old = main_module("skeleton")
    cat = cv2.imread(str(ROOT / "resources" / "examples" / "cat_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
    subjects = [make() for make in subject_masks.SUBJECTS.values()]
    extra = [("chelsea", "quadruped", hand_masks.photo("chelsea")[1]), ("bundled cat", "quadruped", cat)]
    fitted(templates["human"], (512, 512), subjects[0].mask)  # warm-up: imports, skan's compile
    print("template tips to the subject's ends, px (box placement / axis fit, as it was / fit now)")
    print(f"{'subject':13s} {'template':10s} {'box':>6s} {'axis':>6s} {'now':>6s} {'inside':>8s} {'fit s':>6s}")
    rows = [(s.name, s.template, s.mask, s) for s in subjects] + [(n, k, m, None) for n, k, m in extra]
    for name, key, mask, subject in rows:
        size = (mask.shape[1], mask.shape[0])
        box = placed(templates[key], target_box(size, mask))
        before = axis_only(templates[key], size, mask)
        start = time.perf_counter()
        fit = fitted(templates[key], size, mask)
        seconds = time.perf_counter() - start
        tips = [subject_masks.tip_distance(r, subject) for r in (box, before, fit)] if subject else [float("nan")] * 3
        print(
            f"{name:13s} {key:10s} {tips[0]:6.1f} {tips[1]:6.1f} {tips[2]:6.1f} "
            f"{inside(fit, mask):>4d}/{len(fit.joints):<3d} {seconds:6.2f}"
        )
    print("\nauto-rig: joints, ends found, bends found (main's pruning / now)")
    for name, _key, mask, subject in rows:
        line = f"{name:13s}"
        for skeleton in (old.skeleton_from_mask if old is not None else None, skeleton_from_mask):
            if skeleton is None:
                line += f" {'-':>26s}"
                continue
            rig = skeleton(mask)
            e, n_e, b, n_b = found(rig, subject) if subject is not None else (0, 0, 0, 0)
            detail = f"ends {e}/{n_e}, bends {b}/{n_b}" if subject is not None else ""
            line += f" {len(rig.joints):>3d} joints {detail:17s}"
        print(line)
    cut_out(templates["human"])


def cut_out(template) -> None:
    """The astronaut cut out by a user's box and strokes (GrabCut, tests/core/hand_masks.user_strokes): how far
    the template's joints land from where they land on her hand mask, main's fit and now."""
    from poseanything_studio.core.grabcut import subject_cutout

    rgb, hand = hand_masks.photo("astronaut")
    cut = subject_cutout(rgb, hand_masks.user_strokes("astronaut"))
    upper = ("neck", "shoulder_l", "shoulder_r", "elbow_l", "elbow_r", "hand_r")
    print("\nthe astronaut's stroke cut-out: joints off their place on her hand mask, px, mean / max of", upper)
    old = main_module("template_fit")
    for label, fit in (("main", getattr(old, "fit_to_mask", None)), ("now", template_fit.fit_to_mask)):
        if fit is None:
            print(f"{label:5s} -")
            continue
        size = (512, 512)
        on_hand = fit(placed(template, target_box(size, template_fit.largest_region(hand))), hand)
        on_cut = fit(placed(template, target_box(size, template_fit.largest_region(cut))), cut)
        off = [float(np.hypot(*np.subtract(on_cut.joint(j).xy, on_hand.joint(j).xy))) for j in upper]
        print(f"{label:5s} {np.mean(off):6.1f} / {max(off):6.1f}")


if __name__ == "__main__":
    main()
