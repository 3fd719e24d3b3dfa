"""A drag's quick draft (`PuppetMesh.render_small`): the same picture as a full render, at fewer pixels."""

import cv2
import numpy as np
import pytest
from helpers import red_centroid, write_arm_project

from poseanything_studio.core.project import load_project
from poseanything_studio.rendering.job import make_job
from poseanything_studio.rendering.puppet import PuppetMesh


@pytest.fixture
def arm(tmp_path):
    job = make_job(load_project(write_arm_project(tmp_path, size=(256, 256))))
    return job, PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy)


def test_at_full_scale_it_is_the_full_render(arm):
    job, mesh = arm
    posed = job.rest_xy + [20, 35]
    frame, matrix = mesh.render_small(posed, 1.0)
    assert np.array_equal(frame, mesh.render(posed))
    assert np.array_equal(matrix, [[1, 0, 0], [0, 1, 0]])


def test_smaller_it_shows_the_pose_where_its_matrix_places_it(arm):
    job, mesh = arm
    posed = job.rest_xy + [20, 35]
    frame, matrix = mesh.render_small(posed, 0.5)
    assert frame.shape == (128, 128, 3)
    assert np.allclose(matrix, [[0.5, 0, 0], [0, 0.5, 0]])
    full = mesh.render(posed)
    marker = red_centroid(frame) / 0.5  # back in the full frame's pixels
    assert np.linalg.norm(marker - red_centroid(full)) < 2
    shrunk = cv2.resize(full, (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(frame.astype(int) - shrunk).mean() < 6  # the same picture, coarser
