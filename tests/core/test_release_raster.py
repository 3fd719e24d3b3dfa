"""Our rig drawn in the release's style looks like the release's own skeleton images: white ~3 px lines, no dots."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.morphology import skeletonize

from poseanything_studio.core.raster import pose_frames
from poseanything_studio.core.release_parts import read_gray, resize_like_release
from poseanything_studio.core.rig import Bone, Joint, Rig

INPUTS = Path(__file__).resolve().parents[1] / "release" / "goldens" / "parts" / "inputs"
RELEASE_IMAGES = [INPUTS / "EZwrDYL6YIw_69" / "000.png", INPUTS / "chat" / "000.png", INPUTS / "talk" / "080.png"]
DEER = Rig(  # a four-legged stick figure like the release's deer, at the release size 832x448
    tuple(
        Joint(j, xy)
        for j, xy in [
            ("nose", (250, 200)),
            ("neck", (210, 230)),
            ("hip", (90, 250)),
            ("fl", (200, 370)),
            ("fr", (230, 365)),
            ("bl", (60, 370)),
            ("br", (110, 372)),
            ("antler", (180, 90)),
        ]
    ),
    tuple(
        Bone(f"b{i}", a, b)
        for i, (a, b) in enumerate(
            [
                ("nose", "neck"),
                ("neck", "hip"),
                ("neck", "fl"),
                ("neck", "fr"),
                ("hip", "bl"),
                ("hip", "br"),
                ("neck", "antler"),
            ]
        )
    ),
)


def stroke(grey: np.ndarray) -> tuple[float, float]:
    """(median stroke width from the distance transform along the centre line, thickest point's half-width)."""
    line = (grey > 127).astype(np.uint8)
    distance = cv2.distanceTransform(line, cv2.DIST_L2, 5)
    centre = distance[skeletonize(line.astype(bool))]
    return 2 * float(np.median(centre)) - 1, float(distance.max())


def ours() -> np.ndarray:
    return pose_frames(DEER, DEER.rest_xy()[None], (832, 448), style="release")[0]


@pytest.mark.parametrize("path", RELEASE_IMAGES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_stroke_width_matches_the_releases_skeleton_images(path):
    release_width, release_thickest = stroke(resize_like_release(read_gray(path)))  # as the pipeline sees them
    our_width, our_thickest = stroke(ours()[..., 0])
    assert abs(our_width - release_width) <= 1.0
    assert our_thickest <= release_thickest + 1.0  # no joint dots: nothing much thicker than a line


def test_release_style_is_white_on_black_with_no_colours_and_no_dots():
    frame = ours()
    assert set(np.unique(frame)) == {0, 255}
    assert (frame[..., 0] == frame[..., 1]).all() and (frame[..., 1] == frame[..., 2]).all()
    coloured = pose_frames(DEER, DEER.rest_xy()[None], (832, 448))[0]
    assert stroke(coloured.max(axis=2))[1] > stroke(frame[..., 0])[1] + 2  # our own style has joint dots


def test_release_lines_follow_the_joints():
    moved = DEER.rest_xy().copy()
    moved[DEER.joint_index("antler")] = (320, 90)
    before, after = pose_frames(DEER, np.stack([DEER.rest_xy(), moved]), (832, 448), style="release")[..., 0]
    assert before[90, 180] == 255 and after[90, 180] == 0 and after[90, 318] == 255


def test_unknown_style_is_refused():
    with pytest.raises(ValueError, match="style"):
        pose_frames(DEER, DEER.rest_xy()[None], (64, 64), style="neon")
