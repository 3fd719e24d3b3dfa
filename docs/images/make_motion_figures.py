"""Remake the pictures of docs/motion.md from the app's own importers, presets and pose drawing.

    python docs/images/make_motion_figures.py

motion_presets.png: four presets on four templates (walk, trot, swim, fly), six frames of one cycle each, drawn
as our pose frames. motion_bvh_openpose.png: a BVH arm wave the script writes, retargeted onto the human
template, drawn in the OpenPose palette (what `motion video` writes).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from motion_files import write_bvh  # noqa: E402

from poseanything_studio.core.mocap import import_bvh  # noqa: E402
from poseanything_studio.core.openpose import coco18_from, draw_openpose, human_keypoints  # noqa: E402
from poseanything_studio.core.presets import PRESETS, apply_preset  # noqa: E402
from poseanything_studio.core.project import Project  # noqa: E402
from poseanything_studio.core.raster import draw_pose  # noqa: E402
from poseanything_studio.core.templates import load_templates, placed  # noqa: E402

TILE = (200, 200)
OUT = Path(__file__).resolve().parent


def _project(key: str, frames: int = 49) -> Project:
    template = next(t for t in load_templates() if t.key == key)
    return Project(image="x.png", rig=placed(template, (20, 20, 160, 160)), frames=frames, fps=24, size=(224, 224))


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    cv2.putText(tile, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return tile


def presets_sheet() -> np.ndarray:
    rows = []
    for template, key in (("human", "walk"), ("quadruped", "trot"), ("fish", "swim"), ("bird", "fly")):
        preset = next(p for p in PRESETS if p.key == key)
        project = apply_preset(_project(template), key)
        xy = project.joint_positions()
        cycle = max(2, round(preset.cycle_seconds * project.fps))
        picks = np.linspace(0, cycle - 1, 6).round().astype(int)
        tiles = [_label(draw_pose(project.rig, xy[f], TILE), f"{preset.name} f{f}") for f in picks]
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def bvh_sheet(folder: Path) -> np.ndarray:
    frames = 25
    wave = np.stack([np.linspace(0, 150, frames), np.zeros(frames), np.zeros(frames)], axis=1)
    elbow = np.stack([40 * np.sin(np.linspace(0, 4 * np.pi, frames)), np.zeros(frames), np.zeros(frames)], axis=1)
    bvh = write_bvh(folder / "wave.bvh", frames, 24, {"RightArm": wave, "RightForeArm": elbow})
    project, _ = import_bvh(_project("human", frames=25), bvh)
    keypoints = coco18_from(human_keypoints(project.rig.joint_ids, project.joint_positions(), "body25"), "body25")
    tiles = [_label(draw_openpose(keypoints[f], TILE), f"f{f}") for f in range(0, 25, 4)]
    return np.concatenate(tiles, axis=1)


def main() -> None:
    import tempfile

    cv2.imwrite(str(OUT / "motion_presets.png"), cv2.cvtColor(presets_sheet(), cv2.COLOR_RGB2BGR))
    with tempfile.TemporaryDirectory() as folder:
        cv2.imwrite(str(OUT / "motion_bvh_openpose.png"), cv2.cvtColor(bvh_sheet(Path(folder)), cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
