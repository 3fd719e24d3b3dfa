"""Templates fitted to the subject's mask, on real pictures: the joints a user sees land on the subject's body.

The issue's human template, placed by the mask's bounding box on scikit-image's astronaut, had its joints
off the body and the Wave preset moved a wisp of background. Here: hand masks of scikit-image's photos
(tests/core/hand_masks.py), the drawings tests/rendering/puppet_scenes.py makes, and the bundled cat.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from hand_masks import ASTRONAUT_ARM_RIGHT, photo, polygon_mask, user_strokes

from poseanything_studio.core.presets import apply_preset
from poseanything_studio.core.project import Project
from poseanything_studio.core.template_fit import fit_to_mask, is_symmetric
from poseanything_studio.core.templates import fitted, load_templates, placed, target_box

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rendering"))
import puppet_scenes

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
TEMPLATES = {t.key: t for t in load_templates()}


def _fit(key: str, mask: np.ndarray):
    return fitted(TEMPLATES[key], (mask.shape[1], mask.shape[0]), mask)


def _outside(rig, mask: np.ndarray) -> list[str]:
    return [j.id for j in rig.joints if not mask[round(j.xy[1]), round(j.xy[0])]]


def _bundled_cat() -> np.ndarray:
    return cv2.imread(str(EXAMPLES / "cat_mask.png"), cv2.IMREAD_GRAYSCALE) > 127


SUBJECTS = {
    "astronaut": ("human", lambda: photo("astronaut")[1]),
    "chelsea": ("quadruped", lambda: photo("chelsea")[1]),
    "drawn child": ("human", lambda: puppet_scenes.drawn_child(2).mask),
    "four legs": ("quadruped", lambda: puppet_scenes.four_legs(2).mask),
    "bundled cat": ("quadruped", _bundled_cat),
}


@pytest.mark.parametrize("name", sorted(SUBJECTS))
def test_every_joint_of_a_fitted_template_lies_inside_the_subject(name):
    key, mask_of = SUBJECTS[name]
    mask = mask_of()
    rig = _fit(key, mask)
    assert rig.joint_ids == TEMPLATES[key].rig.joint_ids and rig.bone_ids == TEMPLATES[key].rig.bone_ids
    assert _outside(rig, mask) == []


def test_the_box_placement_put_the_astronauts_waving_arm_on_her_face_and_collar():
    """What the issue saw, so the arm test below is a real change: the old placement bends the arm off the arm."""
    mask = photo("astronaut")[1]
    old = placed(TEMPLATES["human"], target_box((512, 512), mask))
    arm = polygon_mask(ASTRONAUT_ARM_RIGHT, (512, 512))
    ex, ey = np.round(old.joint("elbow_r").xy).astype(int)
    hx, hy = np.round(old.joint("hand_r").xy).astype(int)
    assert not arm[ey, ex] and not arm[hy, hx]


def test_a_drawn_childs_hands_feet_and_head_are_where_the_drawing_has_them():
    scene = puppet_scenes.drawn_child(2)
    rig = _fit("human", scene.mask)
    drawn = {
        "hand_l": scene.rig.joint("l_hand").xy,
        "hand_r": scene.rig.joint("r_hand").xy,
        "foot_l": scene.rig.joint("l_foot").xy,
        "foot_r": scene.rig.joint("r_foot").xy,
    }
    for joint, xy in drawn.items():
        assert np.hypot(*np.subtract(rig.joint(joint).xy, xy)) < 25, joint  # the limb's tip, not the torso
    hx, hy = rig.joint("head").xy
    assert np.hypot(hx - 256, hy - 112) < 52  # inside the drawn head's circle
    for elbow, hand in (("elbow_l", "l_elbow"), ("elbow_r", "r_elbow")):  # the bend on the arm, not the torso
        assert np.hypot(*np.subtract(rig.joint(elbow).xy, scene.rig.joint(hand).xy)) < 45, elbow


def test_a_four_legged_drawing_gets_paws_on_its_legs_and_the_head_on_its_head():
    scene = puppet_scenes.four_legs(2)
    rig = _fit("quadruped", scene.mask)
    for paw in ("front_l_paw", "front_r_paw", "back_l_paw", "back_r_paw"):
        assert rig.joint(paw).xy[1] > 300, paw  # down at the feet (the legs end at y 345-350)
    front = np.mean([rig.joint(p).xy[0] for p in ("front_l_paw", "front_r_paw")])
    back = np.mean([rig.joint(p).xy[0] for p in ("back_l_paw", "back_r_paw")])
    assert front > 380 and back < 260  # front legs under the chest, back legs under the hips
    assert np.hypot(*np.subtract(rig.joint("nose").xy, (525, 85))) < 50  # in the head's ellipse
    assert np.hypot(*np.subtract(rig.joint("tail3").xy, (98, 74))) < 25  # the tail's tip


def test_a_side_view_facing_left_is_mirrored_and_a_front_view_never():
    scene = puppet_scenes.four_legs(2)
    facing_left = scene.mask[:, ::-1].copy()
    rig = _fit("quadruped", facing_left)
    assert rig.joint("nose").xy[0] < rig.joint("tail3").xy[0]
    assert not is_symmetric(TEMPLATES["quadruped"].rig) and is_symmetric(TEMPLATES["human"].rig)


def test_without_a_subject_mask_the_template_is_placed_as_before():
    for mask in (None, np.zeros((480, 832), bool), np.ones((480, 832), bool)):
        expected = placed(TEMPLATES["human"], target_box((832, 480), mask))
        assert fitted(TEMPLATES["human"], (832, 480), mask) == expected


def test_fitting_keeps_a_rig_without_bones_and_an_empty_mask_as_it_is():
    rig = placed(TEMPLATES["fish"], (10, 10, 200, 100))
    assert fit_to_mask(rig, np.zeros((120, 220), bool)) == rig


def _waved(rig, mask: np.ndarray, rgba: np.ndarray, frame: int = 12):
    """The rest render, the wave preset's render at `frame`, the subject's coverage there, and the posed joints."""
    from poseanything_studio.rendering.puppet import PuppetMesh

    project = apply_preset(Project(image="x.png", rig=rig, frames=25, fps=24), "wave")
    poses = project.joint_positions(project.frames)
    mesh = PuppetMesh.build(rgba, mask, rig, rig.rest_xy())
    return mesh.render(rig.rest_xy()), mesh.render(poses[frame]), mesh.coverage(poses[frame]) > 127, poses[frame]


def test_the_astronauts_wave_moves_her_arm_not_the_background():
    rgb, mask = photo("astronaut")
    rig = _fit("human", mask)
    arm = polygon_mask(ASTRONAUT_ARM_RIGHT, (512, 512))
    ex, ey = np.round(rig.joint("elbow_r").xy).astype(int)
    assert arm[ey, ex]  # the waving arm's bend is on her left arm (the picture's right)
    hx, hy = np.round(rig.joint("hand_r").xy).astype(int)
    assert mask[hy, hx] and hx > rig.joint("neck").xy[0]  # the hand on her, on that side
    rgba = np.dstack([rgb, np.full(mask.shape, 255, np.uint8)])
    rest, waved, covered, _pose = _waved(rig, mask, rgba)
    changed = np.abs(waved.astype(int) - rest.astype(int)).max(axis=2) > 40
    assert changed.sum() > 0.03 * mask.sum()  # a visible piece of her moves
    assert (changed & ~mask & ~covered).sum() < 0.01 * changed.sum()  # and only she moves: every changed pixel is
    # where she was (the fill behind the arm) or where she is now
    moved_from = changed & mask & ~covered  # where the arm was: her suit's pixels, not the flag's
    assert moved_from.sum() > 0.01 * mask.sum()
    assert (moved_from & arm).sum() > 0.25 * moved_from.sum()  # her arm, not her face and collar (the box
    # placement's wave moved 2% arm pixels, this one 44%)


def test_the_astronauts_left_arm_bends_where_the_helmet_hides_it():
    """Her left arm (the picture's right) shows from the shoulder to the elbow, at the helmet her hand holds. The
    template's hand was taken to that end and its elbow folded onto her upper arm (at (306, 304)), so the Wave
    lifted a flap of her sleeve off her shoulder; the elbow belongs at the end, the upper arm along her arm."""
    _rgb, mask = photo("astronaut")
    rig = _fit("human", mask)
    elbow = np.array(rig.joint("elbow_r").xy)
    assert np.hypot(*(elbow - (345, 335))) < 25, f"elbow at {tuple(elbow)}"
    arm = polygon_mask(ASTRONAUT_ARM_RIGHT, (512, 512))
    shoulder = np.array(rig.joint("shoulder_r").xy)
    for t in (0.25, 0.5, 0.75):  # the upper arm's bone lies along her arm
        x, y = np.round(shoulder + t * (elbow - shoulder)).astype(int)
        assert arm[y, x], f"upper arm at {(x, y)} is off her arm"


def test_the_astronauts_shoulders_land_on_her_shoulders_not_her_chin():
    """A waist-up portrait: the stick figure's best overlap was a rig half her size, its shoulders on her chin
    (y 163) and the Wave preset lifted a piece of her collar ring. Her shoulders are where her arms meet her
    body (tests/core/hand_masks.py's arm polygons start there)."""
    _rgb, mask = photo("astronaut")
    rig = _fit("human", mask)
    for joint, hers in (("shoulder_l", (100, 235)), ("shoulder_r", (318, 248))):
        off = np.hypot(*(np.array(rig.joint(joint).xy) - hers))
        assert off < 45, f"{joint} at {rig.joint(joint).xy}, {off:.0f} px from hers at {hers}"
    assert rig.joint("head").xy[1] < 150 and rig.joint("pelvis").xy[1] > 400  # the spine spans her


def test_on_a_box_cut_out_of_the_astronaut_the_head_lands_on_her_head():
    """Cut out with a box round her, GrabCut leaves out her dark collar ring: her head hangs on a thin neck
    strip, the axis' opening cut it off, and the template's head took the end of a spur on her left shoulder
    (y 221). Her face is above y 150."""
    from poseanything_studio.core.grabcut import Strokes, subject_cutout

    rgb, hand = photo("astronaut")
    ys, xs = np.nonzero(hand)
    cut = subject_cutout(rgb, Strokes(box=(xs.min() - 10, ys.min() - 10, xs.max() + 10, 511)))
    rig = _fit("human", cut)
    x, y = rig.joint("head").xy
    assert y < 150 and hand[round(y), round(x)], f"head at {(x, y)}"


def test_on_the_users_stroke_cut_out_the_astronauts_joints_land_as_on_her_hand_mask():
    """The cut-out a user makes (box and strokes, IoU 0.90 with the hand mask) leaves a pocket at her collar and
    slits by her straps: the template's shoulders went on her chin and a hand into the pocket."""
    from poseanything_studio.core.grabcut import subject_cutout

    rgb, hand = photo("astronaut")
    mask = subject_cutout(rgb, user_strokes("astronaut"))
    cut, on_hand = _fit("human", mask), _fit("human", hand)
    for joint in ("neck", "shoulder_l", "shoulder_r", "elbow_r", "hand_r"):
        off = np.hypot(*np.subtract(cut.joint(joint).xy, on_hand.joint(joint).xy))
        assert off < 40, f"{joint} at {cut.joint(joint).xy}, {off:.0f} px from the hand mask's fit"
    (sx, sy), (ex, ey), (hx, hy) = (cut.joint(j).xy for j in ("shoulder_l", "elbow_l", "hand_l"))
    assert sy < ey < hy and ex < sx + 20, f"the hanging arm: shoulder {sx, sy}, elbow {ex, ey}, hand {hx, hy}"
    assert _outside(cut, mask) == []


def test_a_full_figure_is_not_scaled_as_a_portrait():
    """The shoulder placement is for a figure the picture's bottom cuts: a whole drawn child keeps its feet."""
    scene = puppet_scenes.drawn_child()
    rig = _fit("human", scene.mask)
    assert _outside(rig, scene.mask) == []
    ys = np.flatnonzero(scene.mask.any(axis=1))
    assert max(rig.joint(j).xy[1] for j in ("foot_l", "foot_r")) > ys[-1] - 0.15 * (ys[-1] - ys[0])


@pytest.mark.parametrize("size", [(130, 90), (700, 500)])  # fitted at its size; shrunk to 400 px and back
def test_every_template_lands_inside_even_a_speckled_mask(size):
    """One-pixel features: a joint checked before it is rounded as stored (x.46 -> x.5) fell off by a pixel."""
    rng = np.random.default_rng(0)
    for k in range(3):
        mask = rng.random((size[1], size[0])) > 0.5 + 0.05 * k
        for template in TEMPLATES.values():
            assert _outside(fitted(template, size, mask), mask) == [], template.key
