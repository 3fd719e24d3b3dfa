"""Subject masks with known limb ends and bends, for auto-rig and template-fit tests and benchmarks/template_fit.py.

Each subject is a mask drawn with cv2 (lines with round caps for limbs, ellipses, polygons), or a hand mask of
scikit-image's astronaut (tests/core/hand_masks.py), with where its limbs, head and tail end (`ends`), where its
limbs bend (`bends`), the template that fits it, and which of the template's extremities belongs at which end
(`tips`). An end is where an artist puts the end joint: a limb's cap centre, a head's middle, a fin's point.
Pairs of sides (`_l` / `_r`) are compared either way round (a side view's near and far legs are not told apart).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

Point = tuple[float, float]


@dataclass(frozen=True)
class Subject:
    name: str
    template: str  # key of the bundled template that fits it
    mask: np.ndarray  # (H, W) bool
    ends: dict[str, Point]  # limb, head and tail ends
    bends: dict[str, Point] = field(default_factory=dict)  # elbows, knees, a raised tail's turn
    tips: dict[str, str] = field(default_factory=dict)  # template extremity -> its end's name


def _canvas(w: int, h: int) -> np.ndarray:
    return np.zeros((h, w), np.uint8)


def _limb(canvas: np.ndarray, points: list[tuple[int, int]], width: int) -> None:
    for p, q in pairwise(points):
        cv2.line(canvas, p, q, 1, width)
    for p in points:
        cv2.circle(canvas, p, width // 2, 1, -1)


def dog() -> Subject:
    """A drawn dog side on, facing right: four legs apart with their knees bent, a raised tail, a long snout."""
    m = _canvas(640, 420)
    cv2.ellipse(m, (320, 200), (150, 55), 0, 0, 360, 1, -1)
    for leg in (
        [(200, 225), (175, 300), (185, 370)],
        [(240, 225), (258, 300), (240, 370)],
        [(400, 225), (380, 300), (392, 370)],
        [(440, 225), (458, 300), (448, 370)],
    ):
        _limb(m, leg, 24)
    _limb(m, [(440, 175), (500, 115)], 40)  # neck
    cv2.ellipse(m, (515, 100), (38, 28), 0, 0, 360, 1, -1)  # head
    _limb(m, [(530, 105), (585, 118)], 24)  # snout
    _limb(m, [(180, 175), (135, 120), (125, 55)], 14)  # tail, raised
    return Subject(
        "dog",
        "quadruped",
        m > 0,
        {
            "nose": (585, 118),
            "tail": (125, 55),
            "back_far": (185, 370),
            "back_near": (240, 370),
            "front_far": (392, 370),
            "front_near": (448, 370),
        },
        {
            "tail_turn": (135, 120),
            "knee_bf": (175, 300),
            "knee_bn": (258, 300),
            "knee_ff": (380, 300),
            "knee_fn": (458, 300),
        },
        {
            "nose": "nose",
            "tail3": "tail",
            "back_r_paw": "back_far",
            "back_l_paw": "back_near",
            "front_r_paw": "front_far",
            "front_l_paw": "front_near",
        },
    )


def bird() -> Subject:
    """A drawn bird side on, facing right: wings raised (bent at the wrist), a beak, a tail wedge, two thin legs."""
    m = _canvas(560, 440)
    cv2.ellipse(m, (280, 240), (95, 55), -10, 0, 360, 1, -1)  # body
    _limb(m, [(345, 210), (385, 165)], 40)  # neck
    cv2.circle(m, (390, 160), 34, 1, -1)  # head
    cv2.fillPoly(m, [np.array([(415, 145), (475, 165), (415, 180)], np.int32)], 1)  # beak
    cv2.fillPoly(m, [np.array([(200, 225), (85, 270), (90, 300), (205, 268)], np.int32)], 1)  # tail
    _limb(m, [(265, 205), (230, 125), (165, 55)], 24)  # far wing
    _limb(m, [(300, 200), (305, 110), (265, 40)], 22)  # near wing
    _limb(m, [(265, 285), (262, 340), (252, 390)], 8)  # legs
    _limb(m, [(300, 285), (310, 340), (305, 390)], 8)
    return Subject(
        "bird",
        "bird",
        m > 0,
        {
            "beak": (468, 165),
            "tail": (92, 285),
            "wing_far": (165, 55),
            "wing_near": (265, 40),
            "foot_far": (252, 390),
            "foot_near": (305, 390),
        },
        {"wrist_far": (230, 125), "wrist_near": (305, 110)},
        {
            "beak": "beak",
            "tail_tip": "tail",
            "wing_l_tip": "wing_far",
            "wing_r_tip": "wing_near",
            "foot_l": "foot_far",
            "foot_r": "foot_near",
        },
    )


def stick_figure() -> Subject:
    """A stick figure: a round head, one arm raised, one out and down, legs apart bent at the knees."""
    m = _canvas(400, 520)
    cv2.circle(m, (200, 70), 35, 1, -1)
    _limb(m, [(200, 100), (200, 290)], 12)  # body
    _limb(m, [(200, 140), (140, 100), (110, 30)], 10)  # raised arm
    _limb(m, [(200, 140), (270, 190), (335, 170)], 10)
    _limb(m, [(200, 290), (150, 380), (140, 480)], 12)
    _limb(m, [(200, 290), (250, 385), (275, 480)], 12)
    return Subject(
        "stick figure",
        "human",
        m > 0,
        {"head": (200, 70), "hand_up": (110, 30), "hand_out": (335, 170), "foot_a": (140, 480), "foot_b": (275, 480)},
        {"elbow_up": (140, 100), "elbow_out": (270, 190), "knee_a": (150, 380), "knee_b": (250, 385)},
        {"head": "head", "hand_l": "hand_up", "hand_r": "hand_out", "foot_l": "foot_a", "foot_r": "foot_b"},
    )


def fish() -> Subject:
    """A drawn fish side on, facing right: an oval body, a forked tail, a dorsal, a pectoral and a belly fin."""
    m = _canvas(600, 300)
    cv2.ellipse(m, (300, 150), (170, 60), 0, 0, 360, 1, -1)
    cv2.fillPoly(m, [np.array([(150, 150), (45, 70), (80, 150), (45, 230)], np.int32)], 1)  # forked tail
    cv2.fillPoly(m, [np.array([(250, 100), (285, 35), (330, 95)], np.int32)], 1)  # dorsal
    cv2.fillPoly(m, [np.array([(360, 175), (330, 235), (390, 180)], np.int32)], 1)  # pectoral
    cv2.fillPoly(m, [np.array([(230, 200), (205, 250), (265, 205)], np.int32)], 1)  # belly fin
    return Subject(
        "fish",
        "fish",
        m > 0,
        {
            "snout": (450, 150),
            "tail_top": (52, 80),
            "tail_bottom": (52, 220),
            "dorsal": (286, 42),
            "pectoral": (334, 228),
            "belly": (209, 243),
        },
        {},
        {
            "snout": "snout",
            "tail_top": "tail_top",
            "tail_bottom": "tail_bottom",
            "dorsal": "dorsal",
            "pectoral": "pectoral",
            "belly_fin": "belly",
        },
    )


def _scenes():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rendering"))
    import puppet_scenes

    return puppet_scenes


def drawn_child() -> Subject:
    """tests/rendering/puppet_scenes.py's child's drawing (arms out and down, bent at the elbows; two legs); its
    hands and feet where the drawing's own rig has them, its head at the middle of the drawn circle."""
    scene = _scenes().drawn_child(2)
    j = {k.id: k.xy for k in scene.rig.joints}
    return Subject(
        "drawn child",
        "human",
        scene.mask,
        {
            "head": (256, 112),
            "hand_a": j["l_hand"],
            "hand_b": j["r_hand"],
            "foot_a": j["l_foot"],
            "foot_b": j["r_foot"],
        },
        {"elbow_a": j["l_elbow"], "elbow_b": j["r_elbow"]},
        {"head": "head", "hand_l": "hand_a", "hand_r": "hand_b", "foot_l": "foot_a", "foot_r": "foot_b"},
    )


def four_legs() -> Subject:
    """tests/rendering/puppet_scenes.py's four-legged drawing (far legs half behind the near ones, tail up)."""
    scene = _scenes().four_legs(2)
    j = {k.id: k.xy for k in scene.rig.joints}
    return Subject(
        "four legs",
        "quadruped",
        scene.mask,
        {
            "nose": j["head"],
            "tail": j["tail"],
            "bl": j["bl_foot"],
            "br": j["br_foot"],
            "fl": j["fl_foot"],
            "fr": j["fr_foot"],
        },
        {"tail_turn": (120, 110), "fl_knee": j["fl_knee"]},  # the back legs touch along their length: one band
        {
            "nose": "nose",
            "tail3": "tail",
            "back_l_paw": "bl",
            "back_r_paw": "br",
            "front_l_paw": "fl",
            "front_r_paw": "fr",
        },
    )


def astronaut() -> Subject:
    """The hand mask of scikit-image's astronaut (waist up): her head, her right arm down to the glove (the
    picture's left; tests/rendering/puppet_scenes.py's hand rig), her left arm out to where the helmet hides it."""
    from hand_masks import photo

    return Subject(
        "astronaut",
        "human",
        photo("astronaut")[1],
        {"head": (225, 70), "hand_a": (150, 488), "hand_b": (345, 335)},
        {},
        {"head": "head", "hand_l": "hand_a", "hand_r": "hand_b"},
    )


SUBJECTS = {
    "astronaut": astronaut,
    "four legs": four_legs,
    "dog": dog,
    "bird": bird,
    "stick figure": stick_figure,
    "fish": fish,
    "drawn child": drawn_child,
}


def tip_distance(rig, subject: Subject) -> float:
    """Mean distance (px) of the template's extremities to the subject's ends they belong at; each `_l` / `_r`
    pair of extremities is taken the way round that fits better."""
    at = {j.id: np.array(j.xy, float) for j in rig.joints}
    tips = subject.tips
    done: set[str] = set()
    total = []
    for t in tips:
        if t in done:
            continue
        partner = next(
            (o for o in tips if o != t and o not in done and _sided(t) is not None and _sided(o) == _sided(t)), None
        )
        if partner is None:
            total.append(_gap(at[t], subject.ends[tips[t]]))
            done.add(t)
            continue
        a, b = subject.ends[tips[t]], subject.ends[tips[partner]]
        straight = [_gap(at[t], a), _gap(at[partner], b)]
        crossed = [_gap(at[t], b), _gap(at[partner], a)]
        total += min(straight, crossed, key=sum)
        done |= {t, partner}
    return float(np.mean(total))


def _sided(name: str) -> str | None:
    """The name with its side part blanked (`front_l_paw` -> `front_?_paw`), None for a name without one."""
    parts = name.split("_")
    for i, p in enumerate(parts):
        if p in ("l", "r"):
            return "_".join([*parts[:i], "?", *parts[i + 1 :]])
    return None


def _gap(xy: np.ndarray, end: Point) -> float:
    return float(np.hypot(*(xy - np.asarray(end, float))))
