"""A new project's frame shows the whole subject: the size follows the picture, the subject is never cropped."""

import cv2
import numpy as np
import pytest

from poseanything_studio.core.camera import apply_affine, camera_matrix
from poseanything_studio.core.framing import is_picture, picture_framing
from poseanything_studio.core.images import cover_matrix


def subject_in_frame(subject: np.ndarray, framing) -> float:
    """The share of subject pixels the frame shows (corners of every subject pixel, through cover and camera)."""
    h, w = subject.shape
    ys, xs = np.nonzero(subject)
    corners = np.concatenate([np.stack([xs + dx, ys + dy], 1) for dx in (0, 1) for dy in (0, 1)]).astype(float)
    params = framing.camera.sample(1)[0]
    out = apply_affine(camera_matrix(params, framing.size), apply_affine(cover_matrix((w, h), framing.size), corners))
    W, H = framing.size
    inside = (out[:, 0] >= -1e-6) & (out[:, 0] <= W + 1e-6) & (out[:, 1] >= -1e-6) & (out[:, 1] <= H + 1e-6)
    return float(inside.mean())


def pig(shape: tuple[int, int], top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """An ellipse 'body' with legs down to `bottom` and ears up to `top`."""
    mask = np.zeros(shape, np.uint8)
    cx, cy = (left + right) // 2, (top + bottom) // 2
    cv2.ellipse(mask, (cx, cy), ((right - left) // 2, (bottom - top) // 3), 0, 0, 360, 1, -1)
    for x in (left + (right - left) // 5, right - (right - left) // 5):
        cv2.rectangle(mask, (x - 10, cy), (x + 10, bottom), 1, -1)  # legs to the feet
        cv2.rectangle(mask, (x - 8, top), (x + 8, cy), 1, -1)  # ears
    return mask.astype(bool)


@pytest.mark.parametrize(
    ("shape", "box"),
    [
        ((750, 1000), (12, 740, 150, 850)),  # a 4:3 photo whose feet and ears reach near the edges
        ((1000, 750), (20, 990, 40, 700)),  # portrait: a drawn child's crown and feet at the edges
        ((300, 451), (0, 299, 0, 450)),  # touching all four edges of an odd-sized drawing
        ((3024, 4032), (100, 3000, 1500, 2600)),  # a phone photo
    ],
)
def test_the_whole_subject_is_in_the_frame(shape, box):
    subject = pig(shape, *box)
    framing = picture_framing((shape[1], shape[0]), subject)
    assert framing.size[0] % 32 == 0 and framing.size[1] % 32 == 0
    assert 640 <= max(framing.size) <= 1024
    assert subject_in_frame(subject, framing) == 1.0


def test_the_old_default_size_cropped_the_pig_and_the_new_one_does_not():
    subject = pig((750, 1000), 12, 740, 150, 850)
    from poseanything_studio.core.framing import Framing

    assert subject_in_frame(subject, Framing((832, 480))) < 0.99  # what File > New chose before: feet and ears cut
    framing = picture_framing((1000, 750), subject)
    assert subject_in_frame(subject, framing) == 1.0
    assert not framing.camera.keys  # room enough: no camera key in a new project


def test_a_subject_touching_every_edge_gets_a_still_zoomed_out_camera_only_if_it_must():
    subject = np.ones((300, 451), bool)
    framing = picture_framing((451, 300), subject)
    if framing.camera.keys:
        (key,) = framing.camera.keys
        assert 0.95 < key.zoom < 1.0 and key.pan == (0.0, 0.0)
    assert subject_in_frame(subject, framing) == 1.0


def test_an_opaque_photo_is_framed_whole_without_a_camera():
    framing = picture_framing((512, 512))
    assert framing.size == (832, 832) and not framing.camera.keys


def test_pictures_are_told_from_projects_by_their_bytes(tmp_path):
    png = tmp_path / "drawing.pasproj"  # a misnamed picture
    data = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1]
    png.write_bytes(data.tobytes())
    project = tmp_path / "x.png"  # a misnamed project
    project.write_text('{"format": "poseanything-project"}')
    assert is_picture(png) and not is_picture(project)
    jpg = tmp_path / "photo.JPG"
    jpg.write_bytes(cv2.imencode(".jpg", np.zeros((4, 4, 3), np.uint8))[1].tobytes())
    assert is_picture(jpg) and not is_picture(tmp_path / "cat.pasproj")
