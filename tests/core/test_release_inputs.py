"""The release's inputs from a project of ours and from a release clip folder: frames, framing, masks, errors."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from helpers import write_arm_project
from release.clips import DEER, DEER_FRAMES, GOLDENS, make_clip

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import load_project
from poseanything_studio.core.release import (
    RELEASE_FRAMES,
    frame_plan,
    load_release_clip,
    release_frame_plan,
    release_inputs,
)


# -- how a project's frames map to the release's 81 -------------------------------------------------------
def test_a_short_project_keeps_its_timing_and_is_cut_back_to_its_length():
    plan = frame_plan(49, 24)
    assert len(plan.sources) == RELEASE_FRAMES
    assert plan.sources[:49] == tuple(float(t) for t in range(49))
    assert all(s is None for s in plan.sources[49:])
    assert (plan.output_frames, plan.fps) == (49, 24)
    assert "49" in plan.message and "\n" not in plan.message


def test_a_long_project_is_sampled_over_its_whole_length_at_a_lower_fps_lasting_as_long():
    plan = frame_plan(121, 24)
    assert plan.sources[0] == 0 and plan.sources[-1] == pytest.approx(120)
    assert np.allclose(np.diff(plan.sources), 1.5)
    assert plan.output_frames == RELEASE_FRAMES
    assert (plan.output_frames - 1) / plan.fps == pytest.approx(120 / 24)  # same duration in seconds


def test_an_81_frame_project_maps_frame_to_frame(tmp_path):
    project = load_project(write_arm_project(tmp_path, frames=81))
    plan = release_frame_plan(project)
    assert plan.sources == tuple(float(t) for t in range(81)) and plan.output_frames == 81


# -- a project's inputs ------------------------------------------------------------------------------------
def test_project_inputs_draw_the_rig_at_the_release_size_with_black_frames_after_the_project(tmp_path):
    track = [{"frame": 0, "xy": [180, 80], "interp": "linear"}, {"frame": 8, "xy": [180, 20], "interp": "linear"}]
    inputs = release_inputs(load_project(write_arm_project(tmp_path, frames=9, tip_track=track)))
    assert inputs.size == (832, 512)  # 256x160 -> long side 832, 520 floored to 512
    assert inputs.picture.shape == (512, 832, 3) and inputs.pose_frames.shape == (81, 512, 832, 3)
    assert inputs.condition_index == tuple(range(9))
    assert not inputs.pose_frames[9:].any()  # no pose: black, the release's rule
    first, last = inputs.pose_frames[0, ..., 0], inputs.pose_frames[8, ..., 0]
    assert set(np.unique(first)) == {0, 255}  # white lines on black, nothing in between
    # cover scale 3.25, crop (160 * 3.25 - 512) / 2 = 4 rows: mid at (390, 256), the tip from (585, 256) to (585, 61)
    assert first[256, 580] == 255 and last[256, 580] == 0
    assert last[158, 487] == 255 and first[158, 487] == 0  # the lower bone's midpoint, raised
    assert len(inputs.binary_masks) == 9 and inputs.parts.grid == (26, 16)


def test_first_frame_parts_lie_on_the_subject_and_say_where_the_mask_came_from(tmp_path):
    inputs = release_inputs(load_project(write_arm_project(tmp_path)))
    assert inputs.mask_source == "subject_mask"
    subject_tokens = (
        cv2.resize(inputs.subject_mask.astype(np.float32), inputs.parts.grid, interpolation=cv2.INTER_AREA) > 0
    )
    first = inputs.binary_masks[0]
    assert first and all(m.any() for m in first)
    assert not any((m & ~subject_tokens).any() for m in first)


def test_without_a_mask_file_the_subject_comes_from_grabcut_or_the_pictures_alpha(tmp_path):
    path = write_arm_project(tmp_path)
    raw = json.loads(path.read_text())
    raw["subject_mask"] = None
    path.write_text(json.dumps(raw))
    assert release_inputs(load_project(path)).mask_source == "grabcut"
    rgba = cv2.imread(str(tmp_path / "arm.png"), cv2.IMREAD_UNCHANGED)
    alpha = cv2.imread(str(tmp_path / "arm_mask.png"), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / "arm.png"), np.dstack([rgba, alpha]))
    assert release_inputs(load_project(path)).mask_source == "alpha"


def test_a_painted_mask_wins(tmp_path):
    painted = np.zeros((160, 256), bool)
    painted[60:100, 40:200] = True
    inputs = release_inputs(load_project(write_arm_project(tmp_path)), painted_mask=painted)
    assert inputs.mask_source == "painted"


# -- a release clip folder ----------------------------------------------------------------------------------
def test_a_release_clip_reads_as_the_release_reads_it(tmp_path):
    inputs = load_release_clip(make_clip(tmp_path))
    golden = np.load(GOLDENS / f"{DEER}.npz")
    assert inputs.condition_index == DEER_FRAMES  # 100 is past frame 80: dropped, as test_ddp drops it
    assert inputs.prompt == "A deer walks." and inputs.mask_source == "id image"
    assert inputs.size == (832, 448) and inputs.picture.shape == (448, 832, 3)
    assert inputs.pose_frames.shape == (81, 448, 832, 3) and not inputs.pose_frames[1].any()
    assert inputs.parts.alpha == int(golden["alpha"])
    for k, frame in enumerate(inputs.binary_masks):
        np.testing.assert_array_equal(np.stack(frame), golden[f"tok_{k}"])


def test_the_skeleton_image_folder_names_the_clip_too(tmp_path):
    clip = make_clip(tmp_path)
    assert load_release_clip(clip.parent / "skeleton_image" / DEER).condition_index == DEER_FRAMES


def test_a_clip_without_id_image_runs_as_the_release_does_uncut_with_alpha_one(tmp_path):
    clip = make_clip(tmp_path)
    (clip.parent / "video" / f"{DEER}_id.png").unlink()
    inputs = load_release_clip(clip)
    assert inputs.parts.alpha == 1 and inputs.mask_source == "none"


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        (lambda base: (base / "metadata.csv").unlink(), "metadata.csv"),
        (lambda base: (base / "first_frame" / f"{DEER}.png").unlink(), f"first_frame/{DEER}.png"),
        (lambda base: (base / "skeleton_image" / DEER / "040.png").unlink(), f"{DEER}/040.png"),
        (lambda base: (base / "skeleton_image" / DEER / "020.png").write_bytes(b"not a png"), f"{DEER}/020.png"),
        (lambda base: (base / "video" / f"{DEER}_id.png").write_bytes(b"\x89PNG broken"), f"video/{DEER}_id.png"),
        (
            lambda base: (base / "metadata.csv").write_text("file_name,text,condition_index\nother,,[0]\n"),
            "metadata.csv",
        ),
        (
            lambda base: (base / "metadata.csv").write_text(f"file_name,text,condition_index\n{DEER},,oops\n"),
            "condition_index",
        ),
    ],
)
def test_a_bad_clip_folder_is_one_line_naming_the_file(tmp_path, damage, named):
    clip = make_clip(tmp_path)
    damage(clip.parent)
    with pytest.raises(ProjectError) as caught:
        load_release_clip(clip)
    assert named in str(caught.value) and "\n" not in str(caught.value)


def test_pose_images_named_in_the_metadata_are_used_when_the_numbered_ones_are_absent(tmp_path):
    clip = make_clip(tmp_path, index=DEER_FRAMES)
    folder = clip.parent / "skeleton_image" / DEER
    names = [f"{DEER}_{i:04d}.png" for i in DEER_FRAMES]  # the release's TikTok clip is laid out this way
    for i, new in zip(DEER_FRAMES, names, strict=True):
        (folder / f"{i:03d}.png").rename(folder / new)
    metadata = clip.parent / "metadata.csv"
    metadata.write_text(metadata.read_text().replace(str([f"{i:03d}.png" for i in DEER_FRAMES]), str(names)))
    inputs = load_release_clip(clip)
    assert inputs.condition_index == DEER_FRAMES and names[0] in inputs.plan.message
    golden = np.load(GOLDENS / f"{DEER}.npz")
    np.testing.assert_array_equal(np.stack(inputs.binary_masks[1]), golden["tok_1"])


def test_frames_and_size_overrides_are_taken_as_the_command_line_gives_them(tmp_path):
    project = load_project(write_arm_project(tmp_path, frames=9))
    inputs = release_inputs(project, frames=5, size=(1280, 704))
    assert inputs.size == (832, 448) and inputs.condition_index == tuple(range(5))
    assert inputs.plan.output_frames == 5
