"""The puppet renderer moves the subject where its joints go, and nothing else."""

import numpy as np
import pytest
from helpers import red_centroid, write_arm_project

from poseanything_studio.core.project import load_project
from poseanything_studio.rendering.job import make_job
from poseanything_studio.rendering.puppet import PuppetMesh


@pytest.fixture
def arm(tmp_path):
    job = make_job(load_project(write_arm_project(tmp_path, size=(256, 256))))
    mesh = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy)
    return job, mesh


def _turned_about(points: np.ndarray, centre: np.ndarray, degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    return (points - centre) @ rot.T + centre


def test_rest_pose_reproduces_the_picture(arm):
    job, mesh = arm
    frame = mesh.render(job.rest_xy)
    assert np.abs(frame.astype(int) - job.image[..., :3]).mean() < 2.0


def test_a_limb_turned_90_degrees_puts_its_tip_where_the_joint_went(arm):
    job, mesh = arm
    rest = job.rest_xy
    posed = _turned_about(rest, rest[0], 90)  # the whole arm swings down about its root
    before = red_centroid(mesh.render(rest))
    after = red_centroid(mesh.render(posed))
    expected = _turned_about(before[None], rest[0], 90)[0]
    assert np.linalg.norm(after - expected) < 4, (after, expected)
    assert np.linalg.norm(after - before) > 100


def test_bending_only_the_lower_bone_leaves_the_upper_bone_in_place(arm):
    job, mesh = arm
    rest = job.rest_xy
    posed = rest.copy()
    posed[2] = _turned_about(rest[2:3], rest[1], -90)[0]  # tip turns up about the elbow
    frame = mesh.render(posed)
    marker = red_centroid(frame)
    assert abs(marker[0] - rest[1][0]) < 5 and marker[1] < rest[1][1] - 40
    upper = (slice(75, 86), slice(62, 100))  # middle of the upper arm
    assert np.abs(frame[upper].astype(int) - job.image[upper][..., :3]).mean() < 3


def test_a_chain_moved_sideways_moves_with_it_and_the_far_background_stays(arm):
    job, mesh = arm
    rest = job.rest_xy
    frame = mesh.render(rest + [30, 50])
    assert np.allclose(red_centroid(frame), red_centroid(mesh.render(rest)) + [30, 50], atol=1.5)
    far = (slice(200, 256), slice(0, 256))  # rows below both the old and the new arm
    assert np.array_equal(frame[far], job.image[far][..., :3])


def test_the_uncovered_background_is_filled_not_left_as_the_old_subject(arm):
    job, mesh = arm
    frame = mesh.render(job.rest_xy + [0, 80])
    old_place = frame[72:88, 70:170].astype(int)
    assert np.abs(old_place - [190, 190, 190]).sum(-1).mean() > 100  # no grey arm left behind


def test_camera_pan_moves_everything_against_the_camera(arm):
    job, mesh = arm
    still = mesh.render(job.rest_xy)
    panned = mesh.render(job.rest_xy, np.array([10.0, 6.0, 1.0, 0.0]))
    assert np.allclose(red_centroid(panned), red_centroid(still) - [10, 6], atol=1.0)
    assert np.array_equal(panned[100:150, 100:150], still[106:156, 110:160])


def test_several_subjects_and_a_joint_without_bones_render(tmp_path):
    path = write_arm_project(tmp_path, size=(256, 256))
    import json

    data = json.loads(path.read_text())
    data["rig"]["joints"] += [
        {"id": "x", "xy": [20, 200]},
        {"id": "y", "xy": [220, 200]},
        {"id": "alone", "xy": [128, 240]},
    ]
    data["rig"]["bones"].append({"id": "other", "a": "x", "b": "y"})
    path.write_text(json.dumps(data))
    job = make_job(load_project(path))
    mesh = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy)
    assert mesh.render(job.rest_xy + 5).shape == (256, 256, 3)


@pytest.mark.parametrize("front", ["across", "down"])
def test_where_parts_overlap_the_later_bone_draws_in_front(front):
    from poseanything_studio.core.rig import Bone, Joint, Rig

    image = np.zeros((128, 128, 4), np.uint8)
    image[..., 3] = 255
    mask = np.zeros((128, 128), bool)
    mask[36:45, 16:112] = True  # a red bar across
    mask[72:124, 60:69] = True  # a blue bar down, below it
    image[36:45, 16:112, :3] = (255, 0, 0)
    image[72:124, 60:69, :3] = (0, 0, 255)
    joints = (Joint("l", (20.0, 40.0)), Joint("r", (108.0, 40.0)), Joint("t", (64.0, 76.0)), Joint("b", (64.0, 120.0)))
    bones = [Bone("across", "l", "r"), Bone("down", "t", "b")]
    rig = Rig(joints, tuple(bones if front == "down" else bones[::-1]))
    mesh = PuppetMesh.build(image, mask, rig, rig.rest_xy())
    frame = mesh.render(rig.rest_xy() - [[0, 0], [0, 0], [0, 50], [0, 50]])  # the blue bar rises across the red
    expected = (0, 0, 255) if front == "down" else (255, 0, 0)
    assert tuple(frame[40, 64]) == expected


def test_where_a_part_crosses_another_the_subjects_alpha_has_no_ring_round_it():
    """An export with alpha (the subject alone): the front part's soft edge over the part behind is not a hole.

    Before, the alpha came from the front triangles only, so the transparent rim round a drawn hand in front of
    its face cut a one-pixel ring of backdrop into the subject (AnimatedDrawings' char1: 0.94% enclosed holes)."""
    from poseanything_studio.core.rig import Bone, Joint, Rig

    image = np.zeros((128, 128, 4), np.uint8)
    image[..., 3] = 255
    mask = np.zeros((128, 128), bool)
    mask[30:51, 16:112] = True  # a wide red bar across
    mask[72:124, 60:69] = True  # a blue bar down, below it, drawn in front
    image[30:51, 16:112, :3] = (255, 0, 0)
    image[72:124, 60:69, :3] = (0, 0, 255)
    joints = (Joint("l", (20.0, 40.0)), Joint("r", (108.0, 40.0)), Joint("t", (64.0, 76.0)), Joint("b", (64.0, 120.0)))
    rig = Rig(joints, (Bone("across", "l", "r"), Bone("down", "t", "b")))
    mesh = PuppetMesh.build(image, mask, rig, rig.rest_xy())
    risen = rig.rest_xy() - [[0, 0], [0, 0], [0, 50], [0, 50]]  # the blue bar rises across the red
    alpha = mesh.subject_alpha(risen)
    assert alpha[32:49, 20:108].min() > 250, "a ring of transparency inside the red bar, round the blue one"
    frame = mesh.render(risen)
    assert tuple(frame[40, 64]) == (0, 0, 255) and tuple(frame[40, 50]) == (255, 0, 0)


def test_under_a_zooming_rolling_camera_the_alpha_is_where_the_frame_shows_the_subject(arm):
    """An export with alpha under a camera: a white subject over a black backdrop, so the frame's brightness is
    the subject's coverage; the alpha written beside it matches to the grey level.

    Before, the alpha was rasterised without the camera and then warped through it, a second resampling of its
    soft edge (46 grey levels off at worst here), and every frame with alpha was rasterised twice."""
    job, mesh = arm
    mesh.background = np.zeros_like(mesh.background)
    mesh.subject = mesh.subject.copy()
    mesh.subject[..., :3] = 255
    posed = _turned_about(job.rest_xy, job.rest_xy[0], 50)
    camera = np.array([12.0, -7.0, 1.3, 8.0])  # pan, zoom 1.3, roll 8 degrees
    frame, alpha = mesh.render_with_alpha(posed, camera)
    assert alpha.max() == 255 and (alpha == 0).mean() > 0.3
    assert np.abs(frame[..., 0].astype(int) - alpha).max() <= 1
    assert np.array_equal(frame, mesh.render(posed, camera))  # the same frame as without the alpha


def test_a_mask_over_the_whole_picture_builds_and_moves():
    """File > New on a photo without alpha: the mask is the whole picture, so no outline is in reach and a bone's
    radius measures FLT_MAX (the part map's strip pass crashed on it, then took 45 s over an 832 px frame)."""
    from poseanything_studio.core.rig import Bone, Joint, Rig

    rgb = np.random.default_rng(0).integers(0, 255, (120, 208, 3), dtype=np.uint8)
    mask = np.ones(rgb.shape[:2], bool)
    rig = Rig((Joint("a", (150.0, 60.0)), Joint("b", (60.0, 60.0))), (Bone("ab", "a", "b"),))
    mesh = PuppetMesh.build(np.dstack([rgb, np.full(mask.shape, 255, np.uint8)]), mask, rig, rig.rest_xy())
    assert np.abs(mesh.render(rig.rest_xy()).astype(int) - rgb).max(-1).mean() < 2
    moved = mesh.render(rig.rest_xy() + [[0.0, 0.0], [0.0, 20.0]])
    assert np.abs(moved.astype(int) - rgb).max(-1).mean() > 5  # the picture bends with the bone


def test_a_far_pan_and_a_bone_reaching_far_outside_render_quickly(arm):
    """A pan of 1e300 px hung OpenCV's reflect border; a bone 1e6 px long got millions of pins."""
    import time

    from poseanything_studio.core.raster import draw_pose

    job, mesh = arm
    start = time.perf_counter()
    for camera in ([1e300, 0, 1, 0], [0, -1e9, 100, 1e9], [0, 0, 0.01, 45]):
        assert mesh.render(job.rest_xy, np.array(camera, float)).shape == (256, 256, 3)
    far = job.rest_xy.copy()
    far[2] = (1e6, -1e6)
    far_mesh = PuppetMesh.build(job.image, job.mask, job.rig, far)
    assert far_mesh.render(far).shape == (256, 256, 3)
    assert draw_pose(job.rig, np.full((3, 2), 1e300), job.size).shape == (256, 256, 3)
    assert time.perf_counter() - start < 5


def _uncovered_subject_pixels(mesh: PuppetMesh, mask: np.ndarray) -> int:
    import cv2

    covered = np.zeros(mask.shape, np.uint8)
    for tri in mesh.vertices[mesh.triangles]:
        cv2.fillConvexPoly(covered, np.round(tri).astype(np.int32), 1)
    return int((mask & (covered == 0)).sum())


@pytest.mark.parametrize("shape", ["L", "plus"])
def test_the_mesh_covers_concave_corners(shape):
    from poseanything_studio.core.rig import Bone, Joint, Rig

    mask = np.zeros((200, 200), bool)
    if shape == "L":
        mask[30:170, 40:80] = True
        mask[130:170, 40:170] = True
        joints = (Joint("top", (60, 40)), Joint("corner", (60, 150)), Joint("toe", (160, 150)))
        bones = (Bone("leg", "top", "corner"), Bone("foot", "corner", "toe"))
    else:
        mask[20:180, 85:115] = True
        mask[85:115, 20:180] = True
        joints = (
            Joint("c", (100, 100)),
            *(Joint(n, xy) for n, xy in (("n", (100, 25)), ("s", (100, 175)), ("w", (25, 100)), ("e", (175, 100)))),
        )
        bones = tuple(Bone(f"b{n}", "c", n) for n in "nswe")
    rig = Rig(joints, bones)
    rgba = np.dstack([np.full((200, 200, 3), 90, np.uint8), np.where(mask, 255, 0).astype(np.uint8)])
    mesh = PuppetMesh.build(rgba, mask, rig, rig.rest_xy())
    assert _uncovered_subject_pixels(mesh, mask) == 0


def test_a_rig_of_lone_joints_renders_the_picture_as_it_is(examples_dir):
    """A new rig starts as a joint or two with no bone yet: the preview and the render show the picture."""
    from dataclasses import replace as _replace

    from poseanything_studio.core.camera import CameraPath
    from poseanything_studio.core.project import load_project
    from poseanything_studio.core.rig import Joint, Rig
    from poseanything_studio.rendering.events import Frame
    from poseanything_studio.rendering.job import make_job
    from poseanything_studio.rendering.runner import run

    project = load_project(examples_dir / "cat.pasproj")
    lone = _replace(project, rig=Rig((Joint("a", (300, 200)), Joint("b", (400, 260)))), tracks={}, camera=CameraPath())
    frames = [e.image for e in run(make_job(lone, frames=5, size=(256, 160))) if isinstance(e, Frame)]
    assert len(frames) == 5
    assert all(np.array_equal(frame, frames[0]) for frame in frames)  # nothing moves: no bone to move it


def test_a_rig_edit_rebuilds_the_mesh_without_filling_the_background_again(arm):
    """The window rebuilds the mesh on every rig edit; the picture's fill (seconds on a photo) is kept by the
    FillCache its owner holds, and a new mask is filled anew."""
    from poseanything_studio.rendering.puppet import FillCache

    job, _ = arm
    fills = FillCache()
    first = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy, fills=fills)
    edited = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy + [4.0, -3.0], fills=fills)
    assert len(fills) == 1 and np.array_equal(edited.background, first.background)
    smaller = job.mask.copy()
    smaller[:, : smaller.shape[1] // 2] = False
    PuppetMesh.build(job.image, smaller, job.rig, job.rest_xy, fills=fills)
    assert len(fills) == 2
