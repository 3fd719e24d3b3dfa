"""The camera: pan moves content the other way, zoom scales about the centre, roll turns content clockwise."""

import numpy as np
import pytest

from poseanything_studio.core.camera import CameraKey, CameraPath, apply_affine, camera_matrix

SIZE = (200, 100)
CENTRE = np.array([100.0, 50.0])


def test_pan_moves_content_against_the_camera():
    m = camera_matrix(np.array([10, -5, 1, 0]), SIZE)
    assert np.allclose(apply_affine(m, np.array([30.0, 40.0])), [20, 45])


def test_zoom_scales_about_the_centre():
    m = camera_matrix(np.array([0, 0, 2, 0]), SIZE)
    assert np.allclose(apply_affine(m, CENTRE), CENTRE)
    assert np.allclose(apply_affine(m, CENTRE + [10, 0]), CENTRE + [20, 0])


def test_roll_turns_content_clockwise_on_screen():
    m = camera_matrix(np.array([0, 0, 1, 90]), SIZE)
    # a point right of centre goes below it (y down): clockwise as the viewer sees it
    assert np.allclose(apply_affine(m, CENTRE + [10, 0]), CENTRE + [0, 10])


def test_path_interpolates_keys_and_is_still_without_keys():
    assert CameraPath().is_still(9)
    path = CameraPath((CameraKey(0, (0.0, 0.0), 1.0, 0.0, "linear"), CameraKey(8, (80.0, 0.0), 4.0, 0.0)))
    values = path.sample(9)
    assert values.shape == (9, 4)
    assert np.isclose(values[4, 0], 40.0)
    assert np.isclose(values[4, 2], 2.0)  # zoom is interpolated geometrically: halfway from 1x to 4x is 2x
    assert not path.is_still(9)


def test_whole_numbers_are_fine_and_bad_keys_name_their_field():
    from poseanything_studio.core.errors import ProjectError

    path = CameraPath((CameraKey(0, (10, 0), 2, 5),))
    assert path.sample(1).tolist() == [[10.0, 0.0, 2.0, 5.0]]
    for kwargs, key in (({"interp": "bogus"}, "interp"), ({"zoom": 1000.0}, "zoom")):
        with pytest.raises(ProjectError) as err:
            CameraKey(0, **kwargs)
        assert err.value.key == key
