"""Motion files the tests write themselves: a small CMU-named BVH skeleton with chosen joint rotations."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# (name, parent, offset) in centimetres, +y up, the figure facing +z (its left is +x).
CMU_BODY = (
    ("Hips", None, (0, 90, 0)),
    ("LeftUpLeg", "Hips", (9, 0, 0)),
    ("LeftLeg", "LeftUpLeg", (0, -42, 0)),
    ("LeftFoot", "LeftLeg", (0, -40, 0)),
    ("RightUpLeg", "Hips", (-9, 0, 0)),
    ("RightLeg", "RightUpLeg", (0, -42, 0)),
    ("RightFoot", "RightLeg", (0, -40, 0)),
    ("Spine", "Hips", (0, 12, 0)),
    ("Spine1", "Spine", (0, 14, 0)),
    ("Neck", "Spine1", (0, 20, 0)),
    ("Head", "Neck", (0, 10, 0)),
    ("LeftArm", "Spine1", (17, 16, 0)),
    ("LeftForeArm", "LeftArm", (0, -28, 0)),
    ("LeftHand", "LeftForeArm", (0, -25, 0)),
    ("RightArm", "Spine1", (-17, 16, 0)),
    ("RightForeArm", "RightArm", (0, -28, 0)),
    ("RightHand", "RightForeArm", (0, -25, 0)),
)


def write_bvh(
    path: Path,
    frames: int,
    fps: float,
    rotations: dict[str, np.ndarray] | None = None,
    root_travel: np.ndarray | None = None,
    body=CMU_BODY,
) -> Path:
    """A BVH file of `body`; `rotations[joint]` is [frames, 3] degrees (Z, X, Y channels), `root_travel` [frames, 3]."""
    rotations = rotations or {}
    children: dict[str | None, list] = {}
    for name, parent, offset in body:
        children.setdefault(parent, []).append((name, offset))
    lines = ["HIERARCHY"]
    order: list[str] = []

    def emit(name: str, offset, depth: int, root: bool) -> None:
        pad = "  " * depth
        lines.append(f"{pad}{'ROOT' if root else 'JOINT'} {name}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]} {offset[1]} {offset[2]}")
        channels = (
            "6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"
            if root
            else "3 Zrotation Xrotation Yrotation"
        )
        lines.append(f"{pad}  CHANNELS {channels}")
        order.append(name)
        kids = children.get(name, [])
        for kid, kid_offset in kids:
            emit(kid, kid_offset, depth + 1, False)
        if not kids:
            lines.extend([f"{pad}  End Site", f"{pad}  {{", f"{pad}    OFFSET 0 -5 0", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    ((root_name, root_offset),) = children[None]
    emit(root_name, root_offset, 0, True)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / fps:.8f}"]
    travel = np.zeros((frames, 3)) if root_travel is None else np.asarray(root_travel, float)
    for f in range(frames):
        values: list[float] = list(travel[f])
        for name in order:
            values += list(rotations.get(name, np.zeros((frames, 3)))[f])
        lines.append(" ".join(f"{v:.6f}" for v in values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
