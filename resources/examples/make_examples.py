"""Draw the example pictures and write the example projects (run from anywhere; output beside this file).

Every picture here is drawn by this script, so the examples are ours to ship (CC0, see
../README.md).
Animation is forward kinematics on the rig: each joint turns about its parent by a per-frame angle, and
keys are written every fourth frame with smooth interpolation.

    python resources/examples/make_examples.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
W, H = 832, 480
FRAMES = 49


def _noise(shape: tuple[int, int], scale: int, seed: int) -> np.ndarray:
    """Smooth value noise in [0, 1], (H, W)."""
    rng = np.random.default_rng(seed)
    small = rng.random((shape[0] // scale + 2, shape[1] // scale + 2)).astype(np.float32)
    return cv2.resize(small, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)[: shape[0], : shape[1]]


def _background(kind: str, seed: int) -> np.ndarray:
    """A textured backdrop (H, W, 3) RGB so that camera motion shows."""
    y = np.linspace(0, 1, H)[:, None, None]
    if kind == "meadow":
        sky = np.array([150, 190, 235]) * (1 - y) + np.array([200, 225, 245]) * y
        grass = np.array([70, 130, 60]) * (1 - y) + np.array([40, 100, 40]) * y
        img = np.where(y < 0.55, sky, grass) * np.ones((1, W, 1))
    elif kind == "water":
        img = (np.array([20, 70, 120]) * (1 - y) + np.array([10, 40, 80]) * y) * np.ones((1, W, 1))
    else:  # workshop
        img = (np.array([170, 165, 155]) * (1 - y) + np.array([110, 105, 100]) * y) * np.ones((1, W, 1))
    img = img * (0.8 + 0.4 * _noise((H, W), 24, seed)[..., None])
    rng = np.random.default_rng(seed + 1)
    for _ in range(60):  # scattered marks: pebbles, bubbles, bolts
        x, yy, r = int(rng.integers(0, W)), int(rng.integers(0, H)), int(rng.integers(2, 7))
        cv2.circle(img, (x, yy), r, tuple(float(c) for c in img[yy, x] * 0.7), -1, cv2.LINE_AA)
    return np.clip(img, 0, 255).astype(np.uint8)


def _texture(mask: np.ndarray, base: tuple[int, int, int], seed: int, stripes: bool = False) -> np.ndarray:
    """Colour for the subject: base colour, noise, optional stripes, shaded toward the edge."""
    shade = cv2.GaussianBlur(cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5), (0, 0), 3)
    shade = np.clip(shade / 12.0, 0, 1)[..., None]
    tex = np.array(base, np.float32) * (0.75 + 0.5 * _noise((H, W), 6, seed)[..., None])
    if stripes:
        xs = np.arange(W)[None, :, None]
        tex = tex * (0.75 + 0.25 * (np.sin(xs / 9.0) > 0.3))
    return np.clip(tex * (0.55 + 0.45 * shade), 0, 255)


class Skeleton:
    """A rig with parents, for drawing limbs and animating by forward kinematics."""

    def __init__(self):
        self.ids: list[str] = []
        self.rest: dict[str, np.ndarray] = {}
        self.parent: dict[str, str | None] = {}
        self.width: dict[str, float] = {}

    def add(self, joint_id: str, xy: tuple[float, float], parent: str | None = None, width: float = 0) -> None:
        self.ids.append(joint_id)
        self.rest[joint_id] = np.array(xy, float)
        self.parent[joint_id] = parent
        self.width[joint_id] = width

    def bones(self) -> list[tuple[str, str]]:
        return [(p, j) for j, p in self.parent.items() if p is not None]

    def pose(self, angles: dict[str, float], offset: tuple[float, float] = (0, 0)) -> dict[str, np.ndarray]:
        """Joint positions with each joint's subtree turned by `angles[joint]` degrees about that joint."""
        out: dict[str, np.ndarray] = {}
        turn: dict[str, float] = {}
        for j in self.ids:  # parents come before children
            p = self.parent[j]
            if p is None:
                out[j], turn[j] = self.rest[j] + offset, angles.get(j, 0.0)
                continue
            t = math.radians(turn[p])
            rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
            out[j] = out[p] + rot @ (self.rest[j] - self.rest[p])
            turn[j] = turn[p] + angles.get(j, 0.0)
        return out

    def draw_mask(self) -> np.ndarray:
        mask = np.zeros((H, W), np.uint8)
        for a, b in self.bones():
            width = int(self.width[b] or self.width[a])
            pa, pb = self.rest[a].astype(int), self.rest[b].astype(int)
            cv2.line(mask, tuple(pa), tuple(pb), 255, width, cv2.LINE_AA)
            cv2.circle(mask, tuple(pa), width // 2, 255, -1, cv2.LINE_AA)
            cv2.circle(mask, tuple(pb), width // 2, 255, -1, cv2.LINE_AA)
        return mask


def _project(
    name: str,
    sk: Skeleton,
    poses: list[dict[str, np.ndarray]],
    camera: list[dict],
    mask_file: str | None,
    prompt: str,
    bone_names: dict[tuple[str, str], str] | None = None,
) -> dict:
    bone_names = bone_names or {}
    tracks = {}
    for j in sk.ids:
        keys = []
        for f in range(0, FRAMES, 4):
            xy = poses[f][j]
            if not keys or np.abs(xy - sk.rest[j]).max() > 0.5 or f == FRAMES - 1:
                keys.append({"frame": f, "xy": [round(float(xy[0]), 1), round(float(xy[1]), 1)], "interp": "smooth"})
        if len(keys) > 1 and any(k["xy"] != keys[0]["xy"] for k in keys):
            tracks[j] = keys
    return {
        "format": "poseanything-project",
        "version": 1,
        "image": f"{name}.png",
        "subject_mask": mask_file,
        "fps": 24,
        "frames": FRAMES,
        "size": [W, H],
        "rig": {
            "joints": [{"id": j, "xy": [round(float(v), 1) for v in sk.rest[j]]} for j in sk.ids],
            "bones": [{"id": bone_names.get((a, b), f"{a}-{b}"), "a": a, "b": b} for a, b in sk.bones()],
        },
        "tracks": tracks,
        "camera": camera,
        "render": {
            "renderer": "puppet",
            "prompt": prompt,
            "negative_prompt": "",
            "steps": 30,
            "guidance": 5.0,
            "seed": 0,
            "model_dir": None,
        },
    }


def cat() -> None:
    """A four-legged animal: spine, neck and head, tail, four two-part legs; a trot and a slow pan."""
    sk = Skeleton()
    sk.add("hips", (300, 250), None, 70)
    sk.add("chest", (470, 245), "hips", 78)
    sk.add("neck", (520, 205), "chest", 46)
    sk.add("head", (560, 170), "neck", 62)
    sk.add("nose", (605, 180), "head", 40)
    sk.add("tail1", (240, 230), "hips", 18)
    sk.add("tail2", (190, 185), "tail1", 14)
    sk.add("tail3", (165, 130), "tail2", 12)
    for side, dx in (("front_l", 470), ("front_r", 445), ("back_l", 310), ("back_r", 285)):
        root = "chest" if side.startswith("front") else "hips"
        sk.add(f"{side}_knee", (dx, 320), root, 26)
        sk.add(f"{side}_paw", (dx + 5, 385), f"{side}_knee", 22)
    mask = sk.draw_mask()
    cv2.ellipse(mask, (385, 250), (120, 48), 0, 0, 360, 255, -1, cv2.LINE_AA)
    for ear in ((545, 130), (585, 128)):
        cv2.fillConvexPoly(mask, np.array([[ear[0] - 14, ear[1] + 28], [ear[0] + 14, ear[1] + 28], ear]), 255)
    bg = _background("meadow", 1)
    fur = _texture(mask > 127, (220, 140, 60), 2, stripes=True)
    img = _composite(bg, fur, mask)
    cv2.circle(img, (575, 162), 6, (30, 30, 30), -1, cv2.LINE_AA)  # eye
    poses = []
    for f in range(FRAMES):
        ph = 2 * math.pi * f / 24.0
        swing = 28 * math.sin(ph)
        poses.append(
            sk.pose(
                {
                    "front_l_knee": swing,
                    "back_r_knee": swing,
                    "front_r_knee": -swing,
                    "back_l_knee": -swing,
                    "front_l_paw": 20 * max(0, math.sin(ph)),
                    "front_r_paw": 20 * max(0, -math.sin(ph)),
                    "tail1": 25 * math.sin(ph * 0.5),
                    "tail2": 20 * math.sin(ph * 0.5 - 0.8),
                    "neck": 8 * math.sin(ph),
                    "head": -10,
                },
                offset=(0, -4 * abs(math.sin(ph))),
            )
        )
    camera = [
        {"frame": 0, "pan": [0, 0], "zoom": 1.0, "roll": 0.0, "interp": "smooth"},
        {"frame": 48, "pan": [40, 0], "zoom": 1.1, "roll": 0.0, "interp": "smooth"},
    ]
    _write("cat", img, mask, _project("cat", sk, poses, camera, "cat_mask.png", "a ginger cat trotting in a meadow"))


def fish() -> None:
    """A fish as a chain of seven joints swimming with a travelling wave; the mask is derived (GrabCut)."""
    sk = Skeleton()
    xs = [620, 560, 500, 440, 380, 320, 270]
    widths = [60, 86, 92, 84, 66, 42, 24]
    for i, (x, wd) in enumerate(zip(xs, widths, strict=True)):
        sk.add(f"s{i}", (x, 240), f"s{i - 1}" if i else None, wd)
    mask = sk.draw_mask()
    cv2.fillConvexPoly(mask, np.array([[275, 240], [200, 185], [215, 240], [200, 295]]), 255)  # tail fin
    cv2.fillConvexPoly(mask, np.array([[520, 200], [440, 150], [400, 205]]), 255)  # dorsal fin
    bg = _background("water", 3)
    scales = _texture(mask > 127, (240, 170, 40), 4)
    yy, xx = np.mgrid[0:H, 0:W]
    scales *= (0.8 + 0.2 * (np.sin(xx / 6.0) * np.sin(yy / 6.0) > 0))[..., None]
    img = _composite(bg, scales, mask)
    cv2.circle(img, (625, 228), 7, (250, 250, 250), -1, cv2.LINE_AA)
    cv2.circle(img, (627, 228), 4, (10, 10, 10), -1, cv2.LINE_AA)
    poses = []
    for f in range(FRAMES):
        ph = 2 * math.pi * f / 16.0
        angles = {f"s{i}": 9 * math.sin(ph - 0.9 * i) for i in range(1, 7)}
        angles["s0"] = 4 * math.sin(ph)
        poses.append(sk.pose(angles, offset=(-1.2 * f, 10 * math.sin(ph / 3))))
    _write("fish", img, None, _project("fish", sk, poses, [], None, "a goldfish swimming in dark water"))


def robot_arm() -> None:
    """A robot arm: base, three links and a two-finger gripper (a tree); it reaches while the camera zooms."""
    sk = Skeleton()
    sk.add("base", (300, 420), None, 70)
    sk.add("shoulder", (300, 330), "base", 56)
    sk.add("elbow", (440, 230), "shoulder", 44)
    sk.add("wrist", (560, 270), "elbow", 34)
    sk.add("finger_a", (605, 245), "wrist", 14)
    sk.add("finger_b", (605, 295), "wrist", 14)
    mask = sk.draw_mask()
    cv2.rectangle(mask, (230, 410), (370, 460), 255, -1)
    bg = _background("workshop", 5)
    metal = _texture(mask > 127, (200, 205, 215), 6)
    metal[..., 0] *= 1.0
    img = _composite(bg, metal, mask)
    for j in ("shoulder", "elbow", "wrist"):
        c = tuple(int(v) for v in sk.rest[j])
        cv2.circle(img, c, 12, (230, 120, 30), -1, cv2.LINE_AA)
        cv2.circle(img, c, 5, (60, 60, 60), -1, cv2.LINE_AA)
    poses = []
    for f in range(FRAMES):
        s = 0.5 - 0.5 * math.cos(2 * math.pi * f / 48.0)
        poses.append(
            sk.pose({"shoulder": -25 * s, "elbow": 40 * s, "wrist": -30 * s, "finger_a": -20 * s, "finger_b": 20 * s})
        )
    camera = [
        {"frame": 0, "pan": [0, 0], "zoom": 1.0, "roll": 0.0, "interp": "smooth"},
        {"frame": 24, "pan": [30, -20], "zoom": 1.2, "roll": 3.0, "interp": "smooth"},
        {"frame": 48, "pan": [0, 0], "zoom": 1.0, "roll": 0.0, "interp": "smooth"},
    ]
    _write(
        "robot_arm",
        img,
        mask,
        _project("robot_arm", sk, poses, camera, "robot_arm_mask.png", "an industrial robot arm in a workshop"),
    )


# Puppet-guided refinement (docs/neural.md): the base Wan2.2 model redraws the puppet render. Wan2.2's flow shift 5
# maps strength S to a first sigma of 5S / (1 + 4S): 0.4 -> 0.77, so 20 of the 50 steps run. The reasoning, not a
# measurement (no weights were at hand): at sigma 0.77 the latent still holds where the body and each leg are in
# every frame, not the fur or the light, so the model redraws the appearance (and the mesh warp's stretching) over
# the puppet's motion; from about 0.6 (sigma 0.88) the base model, which ignores the pose, starts to move the cat
# its own way; under about 0.25 (sigma 0.62) the warp's artefacts stay. Try 0.3-0.5 on your own subject.
REFINE_STRENGTH = 0.4
REFINE_ABOUT = (
    "Puppet-guided refinement with the public Wan2.2-TI2V-5B weights (no PoseAnything checkpoint): the "
    "puppet renderer makes the motion, the model redraws it. strength 0.4 = first sigma 0.77 of 1 (flow "
    "shift 5), 20 of 50 steps: enough noise to redraw fur and light, little enough to keep the silhouette "
    "and where each leg is. Higher lets the base model (which ignores the pose) invent motion; lower keeps "
    "the warp's stretching. Set model_dir (or --model-dir) to your local Wan2.2-TI2V-5B-Diffusers folder."
)


def cat_refine() -> None:
    """The cat set up for the neural renderer's puppet refinement (reuses cat.png and the cat's animation)."""
    project = json.loads((HERE / "cat.pasproj").read_text(encoding="utf-8"))
    project["about"] = REFINE_ABOUT
    project["render"] = {
        "renderer": "poseanything",
        "init": "puppet",
        "strength": REFINE_STRENGTH,
        "prompt": "a ginger tabby cat trotting across a sunny meadow, soft natural fur, "
        "photorealistic, steady camera pan",
        "negative_prompt": "blurry, distorted limbs, extra legs, low quality, static",
        "steps": 50,
        "guidance": 5.0,
        "seed": 0,
        "model_dir": "~/models/Wan2.2-TI2V-5B-Diffusers",
        "checkpoint": None,
    }
    (HERE / "cat_refine.pasproj").write_text(json.dumps(project, indent=2) + "\n", encoding="utf-8")


def _composite(bg: np.ndarray, fg: np.ndarray, mask: np.ndarray) -> np.ndarray:
    a = (mask.astype(np.float32) / 255.0)[..., None]
    return np.clip(fg * a + bg * (1 - a), 0, 255).astype(np.uint8)


def _write(name: str, img: np.ndarray, mask: np.ndarray | None, project: dict) -> None:
    cv2.imwrite(str(HERE / f"{name}.png"), img[..., ::-1])
    if mask is not None:
        cv2.imwrite(str(HERE / f"{name}_mask.png"), mask)
    (HERE / f"{name}.pasproj").write_text(json.dumps(project, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    cat()
    cat_refine()
    fish()
    robot_arm()
    print(f"wrote examples to {HERE}")
