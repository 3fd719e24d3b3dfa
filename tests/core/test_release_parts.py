"""Our release part masks, alpha and resize against goldens the official code wrote (tools/release_goldens/parts.py).

Exact: every mask bit, every alpha, every size, every resized pixel (by hash).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from poseanything_studio.core.release_parts import (
    needed_dilation,
    read_bgr,
    read_gray,
    release_part_masks,
    release_size,
    resize_like_release,
    segment_skeleton,
    silhouette_id_image,
    subject_mask_from_id,
)

GOLDENS = Path(__file__).resolve().parents[1] / "release" / "goldens" / "parts"
MANIFEST = json.loads((GOLDENS / "manifest.json").read_text())
CASES = sorted(MANIFEST["cases"])


def sha(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    return hashlib.sha256(repr(array.shape).encode() + array.tobytes()).hexdigest()


def case_inputs(name: str):
    entry = MANIFEST["cases"][name]
    poses = [read_gray(GOLDENS / "inputs" / entry["clip"] / f"{f}.png") for f in entry["frames"]]
    id_bgr = read_bgr(GOLDENS / "inputs" / entry["id"]) if entry["id"] else None
    return entry, poses, id_bgr


@pytest.mark.parametrize("name", CASES)
def test_alpha_matches_the_release(name):
    entry, poses, id_bgr = case_inputs(name)
    assert needed_dilation(id_bgr, poses[0]) == entry["alpha"]


@pytest.mark.parametrize("name", CASES)
def test_segments_match_the_release_bit_for_bit(name):
    entry, poses, id_bgr = case_inputs(name)
    golden = np.load(GOLDENS / f"{name}.npz")
    for k, pose in enumerate(poses):
        masks, grid = segment_skeleton(pose, id_bgr if k == 0 else None, entry["alpha"])
        assert len(masks) == entry["segments"][k], f"frame {entry['frames'][k]}"
        if masks:
            np.testing.assert_array_equal(np.stack(masks), golden[f"seg_{k}"], err_msg=f"frame {entry['frames'][k]}")
        if k == 0:
            assert list(grid) == entry["grid"]


@pytest.mark.parametrize("name", CASES)
def test_token_masks_match_the_release(name):
    entry, poses, id_bgr = case_inputs(name)
    golden = np.load(GOLDENS / f"{name}.npz")
    parts = release_part_masks(poses, id_bgr)
    assert parts.alpha == entry["alpha"] and list(parts.grid) == entry["grid"]
    assert len(parts.binary_masks) == len(poses)
    for k, frame in enumerate(parts.binary_masks):
        expected = golden[f"tok_{k}"]
        assert all(m.dtype == bool and m.shape == (parts.grid[1], parts.grid[0]) for m in frame)
        np.testing.assert_array_equal(np.stack(frame) if frame else expected, expected)


def test_first_frame_parts_stay_inside_the_subject():
    entry, poses, id_bgr = case_inputs("EZwrDYL6YIw_69")
    masks, _ = segment_skeleton(poses[0], id_bgr, entry["alpha"])
    subject = subject_mask_from_id(resize_like_release(id_bgr)) > 0
    later, _ = segment_skeleton(poses[1], None, entry["alpha"])
    assert all(not (m.astype(bool) & ~subject).any() for m in masks)
    assert any((m.astype(bool) & ~subject).any() for m in later)  # later frames are not cut


def test_a_missing_id_image_gives_alpha_one_and_uncut_parts():
    entry, poses, _ = case_inputs("EZwrDYL6YIw_69")
    assert needed_dilation(None, poses[0]) == 1
    uncut, _ = segment_skeleton(poses[0], None, 3)
    cut, _ = segment_skeleton(poses[0], read_bgr(GOLDENS / "inputs" / entry["id"]), 3)
    assert sum(int(m.sum()) for m in uncut) > sum(int(m.sum()) for m in cut)


def test_silhouette_id_image_round_trips_a_mask():
    mask = np.zeros((448, 832), bool)
    mask[100:300, 200:500] = True
    assert np.array_equal(subject_mask_from_id(silhouette_id_image(mask)) > 0, mask)


@pytest.mark.parametrize("name", CASES)
def test_pose_frame_resize_and_black_frames_match_load_condition_image(name):
    from poseanything_studio.core.release import condition_frames

    entry = MANIFEST["cases"][name]
    paths = [GOLDENS / "inputs" / entry["clip"] / f"{f}.png" for f in entry["frames"]]
    frames = condition_frames([Image.open(p) for p in paths], [int(f) for f in entry["frames"]])
    assert frames.shape == (81, entry["condition_size"][1], entry["condition_size"][0], 3)
    assert [sha(f) for f in frames] == entry["condition_sha"]


@pytest.mark.parametrize("crop", ["square", "wide"])
def test_picture_resizes_match_resize_image_and_crop_and_resize(crop):
    from poseanything_studio.core.release import resize_picture_like_release

    rgb = data.astronaut() if crop == "square" else np.ascontiguousarray(data.astronaut()[:300, :500])
    assert sha(resize_like_release(rgb)) == MANIFEST["resize"][f"resize_image_{crop}"]
    assert sha(resize_picture_like_release(rgb)) == MANIFEST["resize"][f"crop_and_resize_{crop}"]


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((512, 288), (832, 448)),
        ((832, 480), (832, 480)),
        ((1280, 704), (832, 448)),
        ((480, 832), (480, 832)),
        ((704, 512), (832, 576)),
        ((2528, 1696), (832, 544)),
    ],
)
def test_release_size_floors_both_sides_to_32(size, expected):
    assert release_size(*size) == expected
    assert release_size(*expected) == expected  # a release-sized frame is left as it is


@pytest.mark.parametrize("times", [0, 1, 2, 7, 66, 100])
def test_one_pass_dilation_equals_the_releases_iterated_cross(times):
    import cv2

    from poseanything_studio.core.release_parts import CROSS, dilate_by_cross

    rng = np.random.default_rng(times)
    points = np.concatenate([rng.integers(0, (200, 120), (30, 2)), [[0, 0], [199, 119], [0, 60]]])
    drawn = np.zeros((120, 200), np.uint8)
    drawn[points[:, 1], points[:, 0]] = 255
    expected = cv2.dilate(drawn, CROSS, iterations=times) if times else drawn
    np.testing.assert_array_equal(dilate_by_cross(points, (200, 120), times), expected)
