"""Real-looking pictures for the puppet's tests, benchmarks and contact sheets: drawings and photos, each rigged.

Each scene is a picture (RGBA, opaque: paper or a photo's background around the subject), its subject
mask, a rig placed on it by hand, and a short motion in which one limb swings away from the body and
back. `still` names the bones that do not move, `moving` the joints that do.

- `drawn_child`: a child's crayon drawing, filled shapes with black outlines on white paper.
- `drawn_child_wave`: the drawn child as a user rigs it: the human template fitted to it and the Wave preset.
- `four_legs`: a drawn four-legged animal; its front leg lifts forward.
- `astronaut`: scikit-image's astronaut photo, her right arm (the picture's left) waving out.
- `astronaut_wave`: the astronaut as a user rigs her: her hand mask (tests/core/hand_masks.py), the human
  template fitted to it and the Wave preset, her left arm (the picture's right) waving.
- `chelsea`: scikit-image's cat photo, its right ear flicking out.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from poseanything_studio.core.rig import Bone, Joint, Rig

BLACK = (20, 20, 20)


@dataclass(frozen=True)
class Scene:
    """A rigged picture and a motion of it."""

    name: str
    rgba: np.ndarray  # (H, W, 4) uint8, opaque
    mask: np.ndarray  # (H, W) bool subject
    rig: Rig
    poses: np.ndarray  # (F, J, 2) joint positions per frame; frame 0 is the rest pose
    moving: tuple[str, ...]  # joints the motion moves
    still: tuple[str, ...]  # bones the motion leaves where they are

    @property
    def rest_xy(self) -> np.ndarray:
        return self.rig.rest_xy()


def _rig(joints: dict[str, tuple[float, float]], bones: list[tuple[str, str]]) -> Rig:
    return Rig(tuple(Joint(k, v) for k, v in joints.items()), tuple(Bone(f"{a}-{b}", a, b) for a, b in bones))


def _turn(points: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (points - centre) @ rot.T + centre


def swing(rig: Rig, chain: list[str], degrees: list[float], frames: int) -> np.ndarray:
    """(F, J, 2): each joint of `chain` after the first turns by `degrees[k]` about chain[k], eased out and back."""
    rest = rig.rest_xy()
    index = [rig.joint_index(j) for j in chain]
    out = np.repeat(rest[None], frames, 0)
    for f in range(frames):
        amount = np.sin(np.pi * f / (frames - 1)) if frames > 1 else 0.0
        xy = rest.copy()
        for k, pivot in enumerate(index[:-1]):
            xy[index[k + 1 :]] = _turn(xy[index[k + 1 :]], xy[pivot], amount * degrees[k])
        out[f] = xy
    return out


def _paper(size: tuple[int, int], seed: int) -> np.ndarray:
    """Off-white paper with a faint grain, (H, W, 3) uint8."""
    w, h = size
    grain = np.random.default_rng(seed).normal(0, 3, (h, w, 1))
    return np.clip(np.array([246, 243, 235]) + grain, 0, 255).astype(np.uint8)


def _limb(
    canvas: np.ndarray, mask: np.ndarray, points: list[tuple[int, int]], width: int, colour: tuple[int, int, int]
) -> None:
    """A filled crayon limb along `points` with a black outline of its own."""
    shape = np.zeros(mask.shape, np.uint8)
    for p, q in pairwise(points):
        cv2.line(shape, p, q, 255, width)
    for p in points:
        cv2.circle(shape, p, width // 2, 255, -1)
    _blob(canvas, mask, shape > 0, colour)


def _blob(canvas: np.ndarray, mask: np.ndarray, shape: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Fill `shape` with `colour` and outline it in black, 3 px."""
    canvas[shape] = colour
    contours, _ = cv2.findContours(shape.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(canvas, contours, -1, BLACK, 3)
    outline = np.zeros(mask.shape, np.uint8)
    cv2.drawContours(outline, contours, -1, 1, 3)
    mask |= shape | (outline > 0)


def drawn_child(frames: int = 9) -> Scene:
    """A child's drawing: round head, wide shirt, arms out and down from its top corners, two legs."""
    size = (512, 512)
    canvas = _paper(size, 1)
    mask = np.zeros((size[1], size[0]), bool)
    for x0, x1 in ((232, 216), (280, 296)):
        _limb(canvas, mask, [(x0, 320), (x1, 455)], 28, (60, 60, 150))
    torso = np.zeros_like(mask, np.uint8)
    cv2.fillPoly(torso, [np.array([[200, 168], [312, 168], [322, 335], [190, 335]], np.int32)], 1)
    _blob(canvas, mask, torso > 0, (70, 150, 225))
    _limb(canvas, mask, [(214, 186), (146, 236), (92, 302)], 24, (225, 70, 60))
    _limb(canvas, mask, [(298, 186), (366, 236), (420, 302)], 24, (225, 70, 60))
    head = np.zeros_like(torso)
    cv2.circle(head, (256, 112), 52, 1, -1)
    _blob(canvas, mask, head > 0, (250, 215, 185))
    for x in (238, 274):
        cv2.circle(canvas, (x, 104), 5, BLACK, -1)
    cv2.ellipse(canvas, (256, 126), (18, 10), 0, 10, 170, BLACK, 3)
    rig = _rig(
        {
            "hip": (256, 318),
            "torso": (256, 250),
            "neck": (256, 172),
            "head": (256, 96),
            "l_shoulder": (216, 188),
            "l_elbow": (146, 236),
            "l_hand": (94, 300),
            "r_shoulder": (296, 188),
            "r_elbow": (366, 236),
            "r_hand": (418, 300),
            "l_hip": (232, 326),
            "l_knee": (224, 390),
            "l_foot": (217, 450),
            "r_hip": (280, 326),
            "r_knee": (288, 390),
            "r_foot": (295, 450),
        },
        [
            ("hip", "torso"),
            ("torso", "neck"),
            ("neck", "head"),
            ("neck", "l_shoulder"),
            ("l_shoulder", "l_elbow"),
            ("l_elbow", "l_hand"),
            ("neck", "r_shoulder"),
            ("r_shoulder", "r_elbow"),
            ("r_elbow", "r_hand"),
            ("hip", "l_hip"),
            ("l_hip", "l_knee"),
            ("l_knee", "l_foot"),
            ("hip", "r_hip"),
            ("r_hip", "r_knee"),
            ("r_knee", "r_foot"),
        ],
    )
    poses = swing(rig, ["l_shoulder", "l_elbow", "l_hand"], [75.0, 40.0], frames)
    rgba = np.dstack([canvas, np.full(mask.shape, 255, np.uint8)])
    return Scene(
        "drawn child",
        rgba,
        mask,
        rig,
        poses,
        ("l_elbow", "l_hand"),
        ("hip-torso", "torso-neck", "neck-head", "r_shoulder-r_elbow", "hip-l_hip", "hip-r_hip"),
    )


def four_legs(frames: int = 9) -> Scene:
    """A drawn four-legged animal side on: long body, four legs under it, neck and head, tail; a front leg lifts."""
    size = (640, 400)
    canvas = _paper(size, 2)
    mask = np.zeros((size[1], size[0]), bool)
    fur, dark = (200, 140, 70), (170, 115, 55)
    for x in (215, 405):  # far legs first, darker
        _limb(canvas, mask, [(x + 12, 190), (x + 6, 270), (x + 14, 345)], 26, dark)
    _limb(canvas, mask, [(175, 150), (120, 110), (95, 70)], 16, fur)
    body = np.zeros_like(mask, np.uint8)
    cv2.ellipse(body, (320, 170), (160, 58), 0, 0, 360, 1, -1)
    _blob(canvas, mask, body > 0, fur)
    for x in (195, 430):
        _limb(canvas, mask, [(x, 195), (x - 6, 275), (x + 2, 350)], 28, fur)
    _limb(canvas, mask, [(450, 140), (505, 95)], 34, fur)
    head = np.zeros_like(body)
    cv2.ellipse(head, (525, 85), (45, 32), -15, 0, 360, 1, -1)
    _blob(canvas, mask, head > 0, fur)
    cv2.circle(canvas, (540, 72), 5, BLACK, -1)
    rig = _rig(
        {
            "tail": (98, 74),
            "tail_base": (175, 150),
            "hips": (215, 165),
            "spine": (320, 165),
            "chest": (425, 160),
            "neck": (490, 105),
            "head": (540, 80),
            "bl_knee": (189, 275),
            "bl_foot": (197, 345),
            "fl_knee": (424, 275),
            "fl_foot": (432, 345),
            "br_hip": (227, 180),
            "br_knee": (221, 270),
            "br_foot": (229, 340),
            "fr_hip": (417, 180),
            "fr_knee": (411, 270),
            "fr_foot": (419, 340),
        },
        [
            ("tail_base", "tail"),
            ("hips", "tail_base"),
            ("hips", "spine"),
            ("spine", "chest"),
            ("chest", "neck"),
            ("neck", "head"),
            ("hips", "bl_knee"),
            ("bl_knee", "bl_foot"),
            ("chest", "fl_knee"),
            ("fl_knee", "fl_foot"),
            ("hips", "br_hip"),
            ("br_hip", "br_knee"),
            ("br_knee", "br_foot"),
            ("chest", "fr_hip"),
            ("fr_hip", "fr_knee"),
            ("fr_knee", "fr_foot"),
        ],
    )
    poses = swing(rig, ["chest", "fl_knee", "fl_foot"], [-55.0, 70.0], frames)
    rgba = np.dstack([canvas, np.full(mask.shape, 255, np.uint8)])
    return Scene(
        "four legs",
        rgba,
        mask,
        rig,
        poses,
        ("fl_knee", "fl_foot"),
        ("hips-spine", "spine-chest", "neck-head", "hips-bl_knee", "br_hip-br_knee"),
    )


ASTRONAUT_JOINTS = {
    "pelvis": (205, 505),
    "chest": (210, 330),
    "neck": (222, 205),
    "head": (225, 95),
    "r_shoulder": (95, 275),
    "r_elbow": (60, 420),
    "r_wrist": (150, 488),
    "l_shoulder": (325, 285),
    "l_elbow": (345, 400),
}
ASTRONAUT_BONES = [
    ("pelvis", "chest"),
    ("chest", "neck"),
    ("neck", "head"),
    ("neck", "r_shoulder"),
    ("r_shoulder", "r_elbow"),
    ("r_elbow", "r_wrist"),
    ("neck", "l_shoulder"),
    ("l_shoulder", "l_elbow"),
]


def _grabcut(rgb: np.ndarray, rig: Rig, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """A subject mask from GrabCut seeded by thick bones (sure subject) and a box (outside it sure background)."""
    labels = np.full(rgb.shape[:2], cv2.GC_BGD, np.uint8)
    x0, y0, x1, y1 = box
    labels[y0:y1, x0:x1] = cv2.GC_PR_BGD
    bones = np.zeros(rgb.shape[:2], np.uint8)
    xy = np.round(rig.rest_xy()).astype(int)
    for a, b in rig.bone_joint_indices():
        cv2.line(bones, tuple(xy[a]), tuple(xy[b]), 1, width)
    labels[cv2.dilate(bones, np.ones((15, 15), np.uint8)) > 0] = cv2.GC_PR_FGD
    labels[bones > 0] = cv2.GC_FGD
    cv2.setRNGSeed(0)
    cv2.grabCut(
        np.ascontiguousarray(rgb[..., ::-1]),
        labels,
        None,
        np.zeros((1, 65)),
        np.zeros((1, 65)),
        5,
        cv2.GC_INIT_WITH_MASK,
    )
    mask = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    _count, labelled = cv2.connectedComponents(mask)
    keep = np.unique(labelled[bones > 0])
    return np.isin(labelled, keep[keep > 0])


def astronaut(frames: int = 9) -> Scene:
    """scikit-image's astronaut with a hand-placed upper-body rig; her right arm waves out and up."""
    from skimage import data

    rgb = data.astronaut()
    rig = _rig(ASTRONAUT_JOINTS, ASTRONAUT_BONES)
    mask = _grabcut(rgb, rig, 9, (15, 10, 385, 512))
    poses = swing(rig, ["r_shoulder", "r_elbow", "r_wrist"], [45.0, 50.0], frames)
    rgba = np.dstack([rgb, np.full(mask.shape, 255, np.uint8)])
    return Scene(
        "astronaut",
        rgba,
        mask,
        rig,
        poses,
        ("r_elbow", "r_wrist"),
        ("pelvis-chest", "chest-neck", "neck-head", "l_shoulder-l_elbow"),
    )


def astronaut_wave(frames: int = 25) -> Scene:
    """scikit-image's astronaut, her hand mask, the human template fitted to it and the Wave preset over `frames`."""
    return astronaut_preset("wave", frames)


def astronaut_preset(preset: str, frames: int) -> Scene:
    """scikit-image's astronaut, her hand mask, the human template fitted to it and `preset` over `frames`; the
    moving joints are those the preset moves most (her left arm's for the Wave, her right arm's for a walk)."""
    from poseanything_studio.core.presets import apply_preset
    from poseanything_studio.core.project import Project
    from poseanything_studio.core.templates import fitted, load_templates

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
    from hand_masks import photo

    rgb, mask = photo("astronaut")
    template = next(t for t in load_templates() if t.key == "human")
    rig = fitted(template, (rgb.shape[1], rgb.shape[0]), mask)
    project = apply_preset(Project(image="astronaut.png", rig=rig, frames=frames, fps=24), preset)
    rgba = np.dstack([rgb, np.full(mask.shape, 255, np.uint8)])
    moving = ("elbow_r", "hand_r") if preset == "wave" else ("elbow_l", "hand_l")
    still = tuple(b.id for b in rig.bones if not {b.a, b.b} & set(moving))
    return Scene(f"astronaut_{preset}", rgba, mask, rig, project.joint_positions(frames), moving, still)


def drawn_child_wave(frames: int = 9, until: int = 12) -> Scene:
    """The drawn child as a user rigs it: the human template fitted to its mask and the Wave preset's first
    `until` frames at 24 fps (`frames` poses of them), its left arm (the picture's right) raised beside the head
    (by frame 12; it waves over the face after). The fit puts that shoulder on the shirt's corner, where the arm
    is drawn over it."""
    from poseanything_studio.core.presets import apply_preset
    from poseanything_studio.core.project import Project
    from poseanything_studio.core.templates import fitted, load_templates

    child = drawn_child()
    template = next(t for t in load_templates() if t.key == "human")
    rig = fitted(template, (child.rgba.shape[1], child.rgba.shape[0]), child.mask)
    project = apply_preset(Project(image="child.png", rig=rig, frames=49, fps=24), "wave")
    poses = project.joint_positions(49)[np.round(np.linspace(0, until, frames)).astype(int)]
    moving = ("elbow_r", "hand_r")
    still = tuple(b.id for b in rig.bones if not {b.a, b.b} & set(moving))
    return Scene("drawn child waving", child.rgba, child.mask, rig, poses, moving, still)


def scaled(scene: Scene, factor: float) -> Scene:
    """`scene` with its picture, mask, rig and poses `factor` times the size, as a render at another output size
    sees it (the window frames the 512 px drawn child at 832 px)."""
    h, w = scene.mask.shape
    size = (round(w * factor), round(h * factor))
    rgba = cv2.resize(scene.rgba, size, interpolation=cv2.INTER_LINEAR)
    mask = cv2.resize(scene.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    rig = Rig(tuple(Joint(j.id, (j.xy[0] * factor, j.xy[1] * factor)) for j in scene.rig.joints), scene.rig.bones)
    return Scene(scene.name, rgba, mask, rig, scene.poses * factor, scene.moving, scene.still)


def chelsea(frames: int = 9) -> Scene:
    """scikit-image's cat photo: chest, head and two ears; the right ear flicks out."""
    from skimage import data

    rgb = data.chelsea()
    rig = _rig(
        {"chest": (240, 295), "jaw": (255, 250), "head": (240, 130), "l_ear": (60, 15), "r_ear": (370, 25)},
        [("chest", "jaw"), ("jaw", "head"), ("head", "l_ear"), ("head", "r_ear")],
    )
    mask = _grabcut(rgb, rig, 25, (0, 0, 400, 300))
    poses = swing(rig, ["head", "r_ear"], [20.0], frames)
    rgba = np.dstack([rgb, np.full(mask.shape, 255, np.uint8)])
    return Scene("chelsea", rgba, mask, rig, poses, ("r_ear",), ("chest-jaw", "jaw-head", "head-l_ear"))


SCENES = {
    "drawn_child": drawn_child,
    "drawn_child_wave": drawn_child_wave,
    "four_legs": four_legs,
    "astronaut": astronaut,
    "astronaut_wave": astronaut_wave,
    "chelsea": chelsea,
}
