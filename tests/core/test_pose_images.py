"""Pose-image sequences: our own pose frames and the release's white-line drawings become a rig and keys
that follow the drawn motion within a few pixels."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image

from poseanything_studio.bundled import example_projects
from poseanything_studio.core.camera import CameraPath
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.pose_images import import_pose_images, pose_sequence
from poseanything_studio.core.project import load_project
from poseanything_studio.core.raster import draw_pose
from poseanything_studio.rendering.job import make_job


def _drawn(name: str, frames: int = 9):
    project = replace(load_project(example_projects()[name]), camera=CameraPath())
    job = make_job(project, frames=frames)
    return project, job


def _matched(truth0: np.ndarray, found0: np.ndarray) -> np.ndarray:
    """For each true joint, the found joint nearest to it on the first frame."""
    return np.argmin(np.linalg.norm(truth0[:, None] - found0[None], axis=-1), axis=1)


@pytest.mark.parametrize("name", ["robot_arm", "fish", "cat"])
def test_our_pose_frames_round_trip_to_the_rigs_motion(name, tmp_path):
    project, job = _drawn(name)
    folder = tmp_path / "pose"
    folder.mkdir()
    for f, xy in enumerate(job.positions):
        Image.fromarray(draw_pose(job.rig, xy, job.size)).save(folder / f"{f:03d}.png")
    keyed, sequence = import_pose_images(project, folder)
    assert sequence.style == "dots" and len(sequence.rig.joints) == len(job.rig.joints)
    assert len(sequence.rig.bones) == len(job.rig.bones)
    found = keyed.joint_positions(9)
    truth = project.joint_positions(9)
    pairs = _matched(truth[0], found[0])
    error = np.linalg.norm(truth - found[:, pairs], axis=-1)
    # a joint dot drawn across another bone shifts a little
    assert np.median(error) < 1.5 and error.max() < 6.0, (np.median(error), error.max())


def test_release_style_white_lines_give_a_rig_that_follows_the_drawing(tmp_path):
    _, job = _drawn("robot_arm")
    folder = tmp_path / "skeleton_image"
    folder.mkdir()
    for f, xy in enumerate(job.positions):
        canvas = np.zeros((job.size[1], job.size[0], 3), np.uint8)
        for a, b in job.rig.bone_joint_indices():
            cv2.line(canvas, tuple(int(v) for v in xy[a]), tuple(int(v) for v in xy[b]), (255, 255, 255), 3)
        Image.fromarray(canvas).save(folder / f"{f:03d}.png")
    sequence = pose_sequence([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])
    assert sequence.style == "lines"
    ends = [job.rig.joint_index(j) for j in ("base", "finger_a", "finger_b")]  # ends are found exactly
    truth = job.positions
    pairs = _matched(truth[0, ends], sequence.positions[0])
    error = np.linalg.norm(truth[:, ends] - sequence.positions[:, pairs], axis=-1)
    assert np.median(error) < 3.0 and error.max() < 8.0, (np.median(error), error.max())


def test_a_folder_without_pictures_or_with_a_broken_one_is_one_line(tmp_path):
    project, _ = _drawn("fish")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProjectError, match="no pictures"):
        import_pose_images(project, tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "000.png").write_bytes(b"not a png")
    with pytest.raises(ProjectError) as caught:
        import_pose_images(project, tmp_path / "bad")
    assert "000.png" in str(caught.value) and "\n" not in str(caught.value)
