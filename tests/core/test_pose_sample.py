"""Sampling the playhead frame on a drag's every move reuses the joints the move did not re-key, to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from poseanything_studio.core import edits, kinematics, poses
from poseanything_studio.core.project import Project
from poseanything_studio.core.rig import Bone, Joint, Rig
from poseanything_studio.core.tracks import Key, Track


def branching_project(loop=None) -> Project:
    """A spine of 6 joints with a 3-joint arm off its middle, every joint keyed 4 times, off its rest place."""
    rng = np.random.default_rng(1)
    joints = [Joint(f"s{i}", (40.0 * i, 100.0)) for i in range(6)]
    joints += [Joint(f"a{i}", (80.0, 100.0 - 30.0 * (i + 1))) for i in range(3)]
    bones = [Bone(f"bs{i}", f"s{i - 1}", f"s{i}") for i in range(1, 6)]
    bones += [Bone("ba0", "s2", "a0"), Bone("ba1", "a0", "a1"), Bone("ba2", "a1", "a2")]
    rig = Rig(tuple(joints), tuple(bones))
    tracks = {
        j.id: Track(tuple(Key(f, tuple(np.add(j.xy, rng.normal(0, 5, 2)))) for f in (0, 10, 20, 30))) for j in joints
    }
    return Project(image="x.png", rig=rig, frames=31, size=(256, 256), tracks=tracks, loop=loop)


@pytest.mark.parametrize("loop", [None, (0, 24)])
@pytest.mark.parametrize("joint", ["a2", "a0", "s4"])
def test_a_drag_sampled_with_reuse_is_what_a_fresh_sample_gives(joint, loop):
    project = branching_project(loop)
    h, rest, frame = project.hierarchy(), project.rig.rest_xy(), 15
    base = edits.pose_at(project, frame)
    j = h.index(joint)
    previous, reused = None, 0
    for i in range(1, 8):
        target = base[j] + 25 * np.array([np.sin(i / 3), np.cos(i / 3) - 1])
        new = kinematics.pose_drag(h, base, rest, j, target, "auto", (), 2)
        moved = poses.key_pose(project, frame, base, new)
        pose, sample = moved.pose_sample(frame, previous)
        assert np.array_equal(pose, edits.pose_at(moved, frame))
        if previous is not None:
            kept = kinematics._unchanged_joints(
                previous, moved.hierarchy(), rest, list(sample.tracks), sample.t, sample.grid, loop
            )
            reused += sum(kept)
        previous = sample
    if joint != "s4":  # an arm's drag leaves the spine's keys alone: those joints are copied, not sampled
        assert reused > 0


def test_a_sample_of_another_frame_or_rig_is_not_reused():
    project = branching_project()
    _, sample = project.pose_sample(5)
    other = project.pose_sample(6, sample)[0]
    assert np.array_equal(other, edits.pose_at(project, 6))
    moved_rig = edits.move_joints(project, {"a2": (10.0, 10.0)}, 5, False)
    assert np.array_equal(moved_rig.pose_sample(5, sample)[0], edits.pose_at(moved_rig, 5))
