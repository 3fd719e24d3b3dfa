"""Every frame of every bundled example keeps its subject whole under the puppet renderer.

The subject is rendered as white on black (the example's own mesh, rig and motion, without the
camera), so its pixels in each frame are exactly the bright ones: area, pieces, webs and tips are
measured on those, at every frame rather than a few.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from poseanything_studio.bundled import examples_dir
from poseanything_studio.core.project import load_project
from poseanything_studio.rendering.job import make_job
from poseanything_studio.rendering.puppet import PuppetMesh

SIZE = (448, 256)


def _far_from_bones(subject: np.ndarray, pairs: np.ndarray, xy: np.ndarray, reach: float) -> int:
    lines = np.full(subject.shape, 255, np.uint8)
    for a, b in pairs:
        cv2.line(lines, tuple(np.round(xy[a]).astype(int)), tuple(np.round(xy[b]).astype(int)), 0, 1)
    return int((subject & (cv2.distanceTransform(lines, cv2.DIST_L2, 3) > reach)).sum())


def _pieces(subject: np.ndarray) -> int:
    _, _, stats, _ = cv2.connectedComponentsWithStats(subject.astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= 12).sum())


def _leaf_joints(pairs: np.ndarray, count: int) -> list[int]:
    return [j for j in range(count) if np.count_nonzero(pairs == j) == 1]


@pytest.mark.parametrize("name", ["cat", "fish", "robot_arm"])
def test_every_frame_of_the_example_keeps_the_subject_whole(name):
    job = make_job(load_project(examples_dir() / f"{name}.pasproj"), size=SIZE)
    white = np.zeros((*job.mask.shape, 4), np.uint8)
    white[job.mask] = 255
    white[..., 3] = 255
    mesh = PuppetMesh.build(white, job.mask, job.rig, job.rest_xy)
    pairs = job.rig.bone_joint_indices()
    reach = min(SIZE) / 20

    rest = mesh.render(job.rest_xy)[..., 0] > 127
    rest_far = _far_from_bones(rest, pairs, job.rest_xy, reach)
    rest_pieces = _pieces(rest)
    ys, xs = np.nonzero(rest)
    tips = [
        j
        for j in _leaf_joints(pairs, len(job.rest_xy))
        if np.hypot(xs - job.rest_xy[j, 0], ys - job.rest_xy[j, 1]).min() < 3
    ]
    for f, xy in enumerate(job.positions):
        subject = mesh.render(xy)[..., 0] > 127
        area = subject.sum() / rest.sum()
        assert 0.9 < area < 1.1, f"{name} frame {f}: area {area:.2f} of rest"
        assert _pieces(subject) <= rest_pieces, f"{name} frame {f}: {_pieces(subject)} pieces"
        web = _far_from_bones(subject, pairs, xy, reach) - rest_far
        assert web < 0.01 * rest.sum(), f"{name} frame {f}: {web} more pixels far from every bone"
        ys, xs = np.nonzero(subject)
        for j in tips:
            gap = np.hypot(xs - xy[j, 0], ys - xy[j, 1]).min()
            assert gap < 4, f"{name} frame {f}: joint {job.rig.joints[j].id} is {gap:.1f} px from the subject"
