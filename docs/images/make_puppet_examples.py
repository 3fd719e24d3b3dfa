"""Remake docs/images/puppet_examples.jpg: each example at the four frames where its limbs move most.

"Move most" is how far the joints are from rest, after taking out the whole rig's drift (so a
walk across the frame does not count, a leg swing does); the four frames are picked greedily,
at least eight frames apart, and shown in time order with their frame numbers.

    python docs/images/make_puppet_examples.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from poseanything_studio.bundled import examples_dir  # noqa: E402
from poseanything_studio.core.project import load_project  # noqa: E402
from poseanything_studio.rendering.job import make_job  # noqa: E402
from poseanything_studio.rendering.puppet import PuppetMesh  # noqa: E402

EXAMPLES = ("cat", "fish", "robot_arm")
TILE = (416, 240)
GAP = 4


def limb_motion(positions: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Per frame: mean joint distance from rest once the rig's mean displacement is taken out, (F,)."""
    offset = positions - rest[None]
    offset -= offset.mean(1, keepdims=True)
    return np.linalg.norm(offset, axis=-1).mean(1)


def pick_frames(score: np.ndarray, count: int = 4, apart: int = 8) -> list[int]:
    """The `count` highest-scoring frames, at least `apart` frames from each other, in time order."""
    chosen: list[int] = []
    for f in np.argsort(-score, kind="stable"):
        if all(abs(int(f) - c) >= apart for c in chosen):
            chosen.append(int(f))
        if len(chosen) == count:
            break
    return sorted(chosen)


def row(name: str) -> np.ndarray:
    job = make_job(load_project(examples_dir() / f"{name}.pasproj"))
    mesh = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy)
    frames = pick_frames(limb_motion(job.positions, job.rest_xy))
    tiles = []
    for f in frames:
        tile = cv2.resize(mesh.render(job.positions[f], job.camera[f]), TILE, interpolation=cv2.INTER_AREA)
        cv2.putText(tile, f"frame {f}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, f"frame {f}", (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(tile)
    print(name, frames)
    gap = np.full((TILE[1], GAP, 3), 255, np.uint8)
    return np.concatenate([x for t in tiles for x in (t, gap)][:-1], 1)


def main() -> None:
    rows = [row(name) for name in EXAMPLES]
    gap = np.full((GAP, rows[0].shape[1], 3), 255, np.uint8)
    picture = np.concatenate([x for r in rows for x in (r, gap)][:-1], 0)
    out = ROOT / "docs" / "images" / "puppet_examples.jpg"
    cv2.imwrite(str(out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(out)


if __name__ == "__main__":
    main()
