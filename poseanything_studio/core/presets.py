"""The preset shelf: walk, run, trot, gallop, swim, fly, wave, nod and idle breathing for the rig in hand.

A preset turns bones, never moves joints directly: each frame it gives some joints an angle (degrees) to turn
their bone by, relative to where the bone points when the preset starts, and forward kinematics from the rig's
root carries every child along, so the motion fits any bone lengths and the bones keep them. The root may bob
or sway by a fraction of the rig's size. Presets are offered by the joint names they need (the templates'
names) or, for swim and idle, by the rig's shape; `speed` scales the tempo and `amplitude` the angles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .errors import ProjectError
from .keying import apply_motion
from .mocap import tree_parents
from .project import Project
from .rig import Rig

PRESET_TOLERANCE = 0.5  # pixels

# A motion: (phase in cycles [N], rig, chain order) -> ({joint: [N] degrees its bone turns}, [N, 2] root offset
# as a fraction of the rig's height).
Motion = Callable[[np.ndarray, Rig, list[str]], tuple[dict[str, np.ndarray], np.ndarray]]


@dataclass(frozen=True)
class Preset:
    """One motion on the shelf."""

    key: str
    name: str
    needs: tuple[str, ...]  # joints the rig must have (empty: any rig of the right shape)
    cycle_seconds: float  # one cycle at speed 1
    motion: Motion
    shape: str = ""  # "chain": offered for any rig with a chain of 4 or more joints


def _wave(t: np.ndarray, offset: float = 0.0) -> np.ndarray:
    return np.sin(2 * np.pi * (t + offset))


def _no_root(t: np.ndarray) -> np.ndarray:
    return np.zeros((len(t), 2))


def _bob(t: np.ndarray, height: float, per_cycle: int = 2) -> np.ndarray:
    return np.stack([np.zeros_like(t), -height * np.abs(np.sin(np.pi * per_cycle * t))], axis=1)


def _legs(t, thigh: float, knee: float, arms: float):
    return {
        "hip_l": 0 * t,
        "hip_r": 0 * t,
        "knee_l": thigh * _wave(t),
        "knee_r": thigh * _wave(t, 0.5),
        "foot_l": knee * np.maximum(0, _wave(t, 0.25)),
        "foot_r": knee * np.maximum(0, _wave(t, 0.75)),
        "elbow_l": arms * _wave(t, 0.5),
        "elbow_r": arms * _wave(t),
        "hand_l": -0.5 * arms * np.maximum(0, _wave(t, 0.75)),
        "hand_r": -0.5 * arms * np.maximum(0, _wave(t, 0.25)),
    }


def _walk(t, rig, order):
    return _legs(t, 22, 30, 18), _bob(t, 0.012)


def _run(t, rig, order):
    angles = _legs(t, 40, 70, 40)
    angles["hand_l"] = np.full_like(t, -70.0)  # forearms bent while running
    angles["hand_r"] = np.full_like(t, 70.0)
    return angles, _bob(t, 0.03)


def _quadruped(t, pairs: Mapping[str, float], amplitude: float, knee: float, bob: float):
    angles = {}
    for leg, phase in pairs.items():
        angles[f"{leg}_knee"] = amplitude * _wave(t, phase)
        angles[f"{leg}_paw"] = knee * np.maximum(0, _wave(t, phase + 0.25))
    for k, tail in enumerate(("tail1", "tail2", "tail3")):
        angles[tail] = 8 * _wave(t, -0.15 * k)
    return angles, _bob(t, bob)


def _quad_walk(t, rig, order):
    return _quadruped(t, {"back_l": 0.0, "front_l": 0.25, "back_r": 0.5, "front_r": 0.75}, 18, 25, 0.008)


def _trot(t, rig, order):
    return _quadruped(t, {"front_l": 0.0, "back_r": 0.0, "front_r": 0.5, "back_l": 0.5}, 25, 35, 0.015)


def _gallop(t, rig, order):
    angles, root = _quadruped(t, {"back_l": 0.0, "back_r": 0.1, "front_l": 0.5, "front_r": 0.6}, 38, 50, 0.04)
    angles["chest"] = 6 * _wave(t, 0.25)  # the back flexes with each stride
    angles["head"] = -5 * _wave(t, 0.3)
    return angles, root


def _swim(t, rig, order):
    """A wave travelling down the longest chain, growing toward its end (fish, snake, eel, tentacle)."""
    chain = _longest_chain(rig)
    angles = {}
    for k, joint in enumerate(chain[1:], start=1):
        angles[joint] = (6 + 14 * k / max(1, len(chain) - 1)) * _wave(t, -0.18 * k)
    return angles, _no_root(t)


def _fly(t, rig, order):
    angles = {}
    for side, sign in (("l", 1.0), ("r", -1.0)):
        angles[f"wing_{side}_elbow"] = sign * 35 * _wave(t)
        angles[f"wing_{side}_wrist"] = sign * 15 * _wave(t, -0.1)
        angles[f"wing_{side}_tip"] = sign * 10 * _wave(t, -0.2)
    angles["tail_tip"] = 5 * _wave(t, 0.5)
    return angles, np.stack([np.zeros_like(t), 0.02 * _wave(t, 0.25)], axis=1)


def _wave_hand(t, rig, order):
    raise_arm = np.clip(t * 4, 0, 1)  # the first quarter cycle lifts the arm, then the hand waves
    return {"elbow_r": -120 * raise_arm, "hand_r": raise_arm * (-30 + 30 * _wave(t * 2))}, _no_root(t)


def _nod(t, rig, order):
    return {"head": 12 * np.maximum(0, _wave(t))}, _no_root(t)


def _idle(t, rig, order):
    """Breathing: every bone turns a degree or two, the root rises and falls a little."""
    angles = {j: 1.5 * _wave(t, 0.05 * k) for k, j in enumerate(order[1:])}
    return angles, np.stack([np.zeros_like(t), 0.006 * _wave(t)], axis=1)


HUMAN = ("pelvis", "hip_l", "knee_l", "foot_l", "hip_r", "knee_r", "foot_r")
QUADRUPED = (
    "hips",
    "chest",
    "front_l_knee",
    "front_l_paw",
    "front_r_knee",
    "front_r_paw",
    "back_l_knee",
    "back_l_paw",
    "back_r_knee",
    "back_r_paw",
)
PRESETS = (
    Preset("walk", "Walk", HUMAN + ("shoulder_l", "elbow_l", "shoulder_r", "elbow_r"), 1.1, _walk),
    Preset("run", "Run", HUMAN + ("shoulder_l", "elbow_l", "shoulder_r", "elbow_r"), 0.7, _run),
    Preset("walk4", "Walk (four legs)", QUADRUPED, 1.2, _quad_walk),
    Preset("trot", "Trot", QUADRUPED, 0.7, _trot),
    Preset("gallop", "Gallop", QUADRUPED + ("head",), 0.45, _gallop),
    Preset("swim", "Swim", (), 1.0, _swim, shape="chain"),
    Preset("fly", "Fly", ("wing_l_elbow", "wing_l_wrist", "wing_r_elbow", "wing_r_wrist"), 0.5, _fly),
    Preset("wave", "Wave", ("shoulder_r", "elbow_r", "hand_r"), 2.0, _wave_hand),
    Preset("nod", "Nod", ("neck", "head"), 1.0, _nod),
    Preset("idle", "Idle breathing", (), 3.0, _idle),
)


def presets_for(rig: Rig) -> list[Preset]:
    """The presets that fit `rig`: by the joints they need, or by its shape."""
    found = []
    for preset in PRESETS:
        if preset.shape == "chain":
            if len(_longest_chain(rig)) >= 4:
                found.append(preset)
        elif all(j in rig.joint_ids for j in preset.needs) and rig.bones:
            found.append(preset)
    return found


def apply_preset(
    project: Project,
    key: str,
    start: int = 0,
    frames: int | None = None,
    speed: float = 1.0,
    amplitude: float = 1.0,
    tolerance: float = PRESET_TOLERANCE,
) -> Project:
    """`project` with preset `key` keyed from frame `start` for `frames` frames (default: to the end)."""
    preset = next((p for p in PRESETS if p.key == key), None)
    if preset is None:
        raise ProjectError(f"unknown preset {key!r} (use {', '.join(p.key for p in PRESETS)})", key="preset")
    if preset not in presets_for(project.rig):
        missing = [j for j in preset.needs if j not in project.rig.joint_ids]
        why = f"the rig lacks {', '.join(missing)}" if missing else "the rig has no chain of 4 joints"
        raise ProjectError(f"{preset.name} does not fit this rig: {why}", key="preset")
    if not (0 < speed <= 10 and 0 <= amplitude <= 5):
        raise ProjectError(f"speed {speed:g} must be in (0, 10] and amplitude {amplitude:g} in [0, 5]", key="preset")
    if not 0 <= start < project.frames:
        raise ProjectError(f"start frame {start} is outside the project's 0-{project.frames - 1}", key="start")
    count = project.frames - start if frames is None else min(frames, project.frames - start)
    phase = np.arange(count) / project.fps / preset.cycle_seconds * speed
    roots = _longest_chain(project.rig)[:1] if preset.shape == "chain" else _root_for(project.rig)
    parents, order = tree_parents(project.rig, roots)
    angles, root = preset.motion(phase, project.rig, order)
    start_pose = project.joint_positions(start + 1)[start]
    moved = _forward(
        project.rig,
        parents,
        order,
        start_pose,
        {j: a * amplitude for j, a in angles.items()},
        root * amplitude * _height(start_pose),
    )
    index = {j: i for i, j in enumerate(project.rig.joint_ids)}
    changed = {j: xy for j, xy in moved.items() if np.abs(xy - start_pose[index[j]]).max() > tolerance}
    return apply_motion(project, changed, start, tolerance)


ROOT_NAMES: tuple[str, ...] = ("pelvis", "hips", "body", "base", "body1", "chest")  # a preset's root, first found


def _root_for(rig: Rig) -> list[str]:
    return [j for j in ROOT_NAMES if j in rig.joint_ids][:1]


def _height(pose: np.ndarray) -> float:
    return float(max(np.ptp(pose[:, 1]), np.ptp(pose[:, 0]) * 0.5, 1.0))


def _forward(
    rig: Rig,
    parents: Mapping[str, str | None],
    order: list[str],
    pose: np.ndarray,
    angles: Mapping[str, np.ndarray],
    root_offset: np.ndarray,
) -> dict[str, np.ndarray]:
    """Forward kinematics: each joint's bone turned by its angle plus all its ancestors' (degrees, y down)."""
    index = {j: i for i, j in enumerate(rig.joint_ids)}
    n = root_offset.shape[0]
    out: dict[str, np.ndarray] = {}
    turn: dict[str, np.ndarray] = {}
    for joint in order:
        parent = parents[joint]
        if parent is None:
            out[joint] = pose[index[joint]] + root_offset
            turn[joint] = np.zeros(n)
            continue
        turn[joint] = turn[parent] + np.radians(angles.get(joint, np.zeros(n)))
        offset = pose[index[joint]] - pose[index[parent]]
        c, s = np.cos(turn[joint]), np.sin(turn[joint])
        out[joint] = out[parent] + np.stack([c * offset[0] - s * offset[1], s * offset[0] + c * offset[1]], axis=1)
    return out


def _longest_chain(rig: Rig) -> list[str]:
    """The longest path through the rig (its spine, a snake's body, a tentacle), from its head end.

    The head end is the end named like a head (snout, head, nose, seg0), else the path's first end.
    """
    if not rig.bones:
        return []
    far, _ = _farthest(rig, rig.joint_ids[0])
    other, previous = _farthest(rig, far)
    path = [other]
    while path[-1] != far:
        path.append(previous[path[-1]])
    heads = ("snout", "nose", "head", "beak", "seg0")
    if any(path[-1].startswith(h) for h in heads) and not any(path[0].startswith(h) for h in heads):
        path.reverse()
    return path


def _farthest(rig: Rig, start: str) -> tuple[str, dict[str, str]]:
    """The joint farthest from `start` in bones, and each reached joint's predecessor."""
    previous, queue, last = {start: start}, [start], start
    while queue:
        last = queue.pop(0)
        for other in rig.neighbours(last):
            if other not in previous:
                previous[other] = last
                queue.append(other)
    return last, previous


def cycle_frames(preset: Preset, fps: float, speed: float = 1.0) -> int:
    """Frames of one cycle at `fps` (for a loop)."""
    return max(1, math.ceil(preset.cycle_seconds / speed * fps))
