"""Keyframe interpolation: step holds, linear is straight, smooth passes through keys without overshoot."""

import numpy as np
import pytest

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.tracks import Key, Track


def _track(points, interp):
    return Track(tuple(Key(f, (float(v),), interp) for f, v in points))


def test_step_holds_until_the_next_key():
    t = _track([(0, 0), (10, 5)], "step")
    assert t.sample([0, 9, 9.99, 10]).ravel().tolist() == [0, 0, 0, 5]


def test_linear_is_straight_and_held_outside_the_keys():
    t = _track([(4, 0), (8, 8)], "linear")
    assert t.sample([0, 4, 5, 6, 8, 20]).ravel().tolist() == [0, 0, 2, 4, 8, 8]


def test_smooth_passes_through_every_key():
    points = [(0, 0), (5, 10), (9, -3), (20, 4), (21, 4.5)]
    t = _track(points, "smooth")
    assert np.allclose(t.sample([f for f, _ in points]).ravel(), [v for _, v in points])


@pytest.mark.parametrize("seed", range(20))
def test_smooth_never_leaves_the_range_of_its_two_keys(seed):
    rng = np.random.default_rng(seed)
    frames = np.sort(rng.choice(np.arange(60), size=6, replace=False))
    values = rng.normal(0, 50, size=6)
    t = _track(list(zip(frames.tolist(), values.tolist(), strict=True)), "smooth")
    for (f0, v0), (f1, v1) in zip(
        zip(frames, values, strict=True), zip(frames[1:], values[1:], strict=True), strict=False
    ):
        inner = t.sample(np.linspace(f0, f1, 50)).ravel()
        assert inner.min() >= min(v0, v1) - 1e-9 and inner.max() <= max(v0, v1) + 1e-9


def test_smooth_eases_out_of_its_first_key():
    t = _track([(0, 0), (10, 10)], "smooth")
    assert t.sample([1]).item() < 1.0  # slower than linear at the start: an ease, not a jump


def test_interp_is_how_the_value_leaves_a_key():
    t = Track((Key(0, (0.0,), "step"), Key(10, (10.0,), "linear"), Key(20, (0.0,), "step")))
    assert t.sample([5, 15]).ravel().tolist() == [0.0, 5.0]


def test_mixed_dimensions_and_duplicates_are_refused():
    with pytest.raises(ProjectError, match="two keys at frame 3"):
        Track((Key(3, (1.0, 1.0)), Key(3, (2.0, 2.0))))
    with pytest.raises(ProjectError, match="unknown interpolation 'bouncy'"):
        Key(0, (1.0,), "bouncy")


def test_key_edits():
    t = _track([(0, 0), (10, 1)], "linear")
    moved = t.with_key_moved(10, 20)
    assert moved.frames == (0, 20) and t.frames == (0, 10)
    assert moved.without_key(0).frames == (20,)


def test_whole_numbers_are_fine_as_values():
    track = Track((Key(0, (1, 2)), Key(4, (3, 4), "linear")))
    assert track.sample([2]).tolist() == [[2.0, 3.0]]
    assert track.keys[0].value == (1.0, 2.0) and isinstance(track.keys[0].value[0], float)
