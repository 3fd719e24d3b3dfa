"""Poses reused: copy at one frame, paste at another or into another project, mirror left/right, loop."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from poseanything_studio.core import poses
from poseanything_studio.core.project import load_project
from poseanything_studio.core.rig import Joint
from poseanything_studio.core.templates import load_templates, placed

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


@pytest.fixture
def cat():
    return load_project(EXAMPLES / "cat.pasproj")


def bone_lengths(project, frame):
    pose, pairs = project.positions_at([frame])[0], project.rig.bone_joint_indices()
    return np.hypot(*(pose[pairs[:, 1]] - pose[pairs[:, 0]]).T)


def test_copy_at_one_frame_and_paste_at_another_gives_the_same_pose(cat):
    payload = poses.pose_from_text(poses.pose_to_text(poses.copy_pose(cat, 8)))
    pasted, matched = poses.paste_pose(cat, payload, 30)
    assert set(matched) == set(cat.rig.joint_ids)
    assert np.allclose(pasted.positions_at([30])[0], cat.positions_at([8])[0], atol=1e-3)
    assert all(30 in pasted.tracks[j].frames for j in cat.rig.joint_ids)


def test_pasting_some_joints_turns_them_and_carries_what_hangs_below(cat):
    from poseanything_studio.core.kinematics import aim

    h, pose8 = cat.hierarchy(), cat.positions_at([8])[0]
    ids = cat.rig.joint_ids
    kicked = aim(h, pose8, ids.index("back_l_knee"), pose8[ids.index("hips")] + (60, 20))  # the leg kicked back
    source = poses.key_pose(cat, 8, pose8, kicked)
    payload = poses.copy_pose(source, 8, ["back_l_knee"])
    pasted, _ = poses.paste_pose(cat, payload, 30)
    before, after = cat.positions_at([30])[0], pasted.positions_at([30])[0]
    knee, paw, hips = ids.index("back_l_knee"), ids.index("back_l_paw"), ids.index("hips")
    src = source.positions_at([8])[0]
    want = np.arctan2(*(src[knee] - src[hips])[::-1])
    got = np.arctan2(*(after[knee] - after[hips])[::-1])
    assert np.isclose(want, got, atol=1e-6)
    assert not np.allclose(after[paw], before[paw])  # the paw came with its knee
    assert np.allclose(after[ids.index("head")], before[ids.index("head")])
    assert np.allclose(bone_lengths(pasted, 30), bone_lengths(cat, 30), rtol=1e-6)


def test_paste_into_another_project_with_the_same_names_keeps_its_own_lengths_and_place(cat):
    other = replace(
        cat, image="elsewhere.png", rig=cat.rig.transformed(np.array([[0.5, 0, 400], [0, 0.5, 50]])), tracks={}
    )
    pasted, matched = poses.paste_pose(other, poses.copy_pose(cat, 20), 0)
    assert matched
    assert np.allclose(bone_lengths(pasted, 0), bone_lengths(other, 0), rtol=1e-6)
    root = other.hierarchy().roots[0]
    assert np.allclose(pasted.positions_at([0])[0][root], other.rig.rest_xy()[root])


def test_text_that_is_not_a_pose_is_one_clear_line():
    for text in ("hello", "{}", '{"format": "poseanything-pose", "joints": {"a": {"xy": "x"}}}'):
        with pytest.raises(poses.PoseError) as err:
            poses.pose_from_text(text)
        assert "\n" not in str(err.value)


def test_mirror_pairs_by_names_and_by_a_users_pairing():
    pairs = poses.mirror_pairs(
        ["hip_l", "hip_r", "front_l_knee", "front_r_knee", "head", "wingA", "wingB"], [("wingA", "wingB")]
    )
    assert pairs["hip_l"] == "hip_r" and pairs["front_r_knee"] == "front_l_knee" and pairs["wingB"] == "wingA"
    assert "head" not in pairs


def test_mirroring_a_side_view_swaps_the_legs(cat):
    mirrored = poses.mirror_pose(cat, 8)
    ids, h = cat.rig.joint_ids, cat.hierarchy()
    from poseanything_studio.core.kinematics import to_local

    a0, _ = to_local(h, cat.positions_at([8])[0])
    a1, _ = to_local(h, mirrored.positions_at([8])[0])
    rest, _ = to_local(h, cat.rig.rest_xy())
    left, right = ids.index("back_l_paw"), ids.index("back_r_paw")
    assert np.isclose(
        np.angle(np.exp(1j * (a1[left] - rest[left]))), np.angle(np.exp(1j * (a0[right] - rest[right]))), atol=1e-6
    )
    assert np.allclose(bone_lengths(mirrored, 8), bone_lengths(cat, 8), rtol=1e-6)
    twice = poses.mirror_pose(mirrored, 8)
    assert np.allclose(twice.positions_at([8])[0], cat.positions_at([8])[0], atol=1e-4)


def test_mirroring_a_front_view_reflects_the_raised_arm():
    from poseanything_studio.core.kinematics import aim
    from poseanything_studio.core.project import Project

    human = next(t for t in load_templates() if t.key == "human")
    rig = placed(human, (100, 100, 300, 500))
    project = Project(image="h.png", rig=rig)
    h, rest = project.hierarchy(), rig.rest_xy()
    ids = rig.joint_ids
    hand_l = ids.index("hand_l")
    raised = aim(h, rest, ids.index("elbow_l"), rest[ids.index("shoulder_l")] + (0, -100))
    posed = poses.key_pose(project, 0, rest, raised)
    mirrored = poses.mirror_pose(posed, 0).positions_at([0])[0]
    hand_r = ids.index("hand_r")
    centre = rest[h.roots[0], 0]
    assert np.isclose(centre - mirrored[hand_r, 0], raised[hand_l, 0] - centre, atol=1.0)
    assert np.isclose(mirrored[hand_r, 1], raised[hand_l, 1], atol=1.0)
    assert np.allclose(mirrored[hand_l], rest[hand_l], atol=1e-3)
    assert isinstance(rig.joints[0], Joint)


def test_loop_range(cat):
    looped = poses.set_loop(cat, 0, 24)
    pos = replace(looped, frames=97).joint_positions()
    assert np.allclose(pos[24], pos[0]) and np.allclose(pos[30], pos[6])
    with pytest.raises(ValueError, match="a loop runs from a frame to a later one"):
        poses.set_loop(cat, 10, 10)
    assert poses.without_loop(looped).loop is None
