"""Pose frames: each bone in its own stable colour on black; camera rectangles move with the camera."""

import numpy as np

from poseanything_studio.core.camera import CameraKey, CameraPath
from poseanything_studio.core.raster import bone_colour, camera_frames, draw_pose, pose_frames
from poseanything_studio.core.rig import Bone, Joint, Rig

RIG = Rig(
    (Joint("a", (20.0, 50.0)), Joint("b", (100.0, 50.0)), Joint("c", (100.0, 90.0))),
    (Bone("upper", "a", "b"), Bone("lower", "b", "c")),
)


def test_each_bone_is_drawn_in_its_own_colour_on_black():
    frame = draw_pose(RIG, RIG.rest_xy(), (128, 128))
    assert frame.shape == (128, 128, 3)
    assert tuple(frame[50, 60]) == bone_colour("upper")
    assert tuple(frame[70, 100]) == bone_colour("lower")
    assert tuple(frame[10, 10]) == (0, 0, 0)
    assert (frame[50, 20] > 230).all()  # a white joint dot


def test_a_bone_keeps_its_colour_in_every_frame_whatever_the_other_bones():
    positions = np.stack([RIG.rest_xy(), RIG.rest_xy() + [0, 10]])
    frames = pose_frames(RIG, positions, (128, 128))
    assert tuple(frames[0, 50, 60]) == tuple(frames[1, 60, 60]) == bone_colour("upper")
    renamed = Rig(RIG.joints, (Bone("lower", "b", "c"), Bone("upper", "a", "b")))  # order does not matter
    assert tuple(draw_pose(renamed, RIG.rest_xy(), (128, 128))[50, 60]) == bone_colour("upper")
    assert bone_colour("upper") != bone_colour("lower")


def test_camera_rectangle_moves_with_the_camera_against_the_content():
    size = (128, 96)
    path = CameraPath((CameraKey(0, (0.0, 0.0)), CameraKey(4, (-20.0, 0.0))))  # camera pans left
    frames = camera_frames(path.sample(5), size)
    lit_x = [np.nonzero(f.any(axis=(0, 2)))[0] for f in frames]
    assert lit_x[4].max() == lit_x[0].max() - 20  # the rectangle moved left, with the camera
