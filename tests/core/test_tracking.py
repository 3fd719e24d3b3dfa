"""Tracking a rig through a video the test renders from a known motion: the joints follow within a pixel or
two, bones keep their lengths, lost joints are reported, and a correction re-tracks from where it is put."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from poseanything_studio.bundled import example_projects
from poseanything_studio.core.camera import CameraPath
from poseanything_studio.core.mocap import import_clip
from poseanything_studio.core.project import load_project
from poseanything_studio.core.tracking import track_rig, track_rig_steps, tracked_clip
from poseanything_studio.rendering.events import Frame
from poseanything_studio.rendering.job import make_job
from poseanything_studio.rendering.runner import run


def _rendered(name: str, frames: int = 25):
    project = replace(load_project(example_projects()[name]), camera=CameraPath())
    job = make_job(project, frames=frames, size=(416, 256))
    video = np.stack([e.image for e in run(job) if isinstance(e, Frame)])
    return project, job, video


@pytest.mark.parametrize("name", ["fish", "robot_arm"])
def test_joints_follow_a_rendered_motion_within_a_few_pixels(name):
    _, job, video = _rendered(name)
    result = track_rig(video, job.rig, job.positions[0])
    error = np.linalg.norm(result.positions - job.positions, axis=-1)
    assert np.median(error) < 1.0 and error.max() < 6.0, (np.median(error), error.max())
    idx = job.rig.bone_joint_indices()
    lengths = np.linalg.norm(result.positions[:, idx[:, 0]] - result.positions[:, idx[:, 1]], axis=-1)
    assert np.allclose(lengths, lengths[0], rtol=1e-6)  # the spanning tree's bones (these rigs are trees)


def test_tracking_runs_both_ways_from_the_frame_the_rig_is_placed_on():
    _, job, video = _rendered("fish")
    result = track_rig(video, job.rig, job.positions[12], start=12)
    error = np.linalg.norm(result.positions - job.positions, axis=-1)
    assert np.median(error[:12]) < 1.0 and np.median(error[13:]) < 1.0


def test_a_correction_retracks_from_its_frame_and_lost_joints_are_reported():
    _, job, video = _rendered("cat")
    first = track_rig(video, job.rig, job.positions[0])
    error = np.linalg.norm(first.positions - job.positions, axis=-1)
    worst_joint = int(np.argmax(error.max(axis=0)))
    joint = job.rig.joint_ids[worst_joint]
    frame = int(np.argmax(error[:, worst_joint]))
    fixed = track_rig(
        video, job.rig, job.positions[0], corrections={frame: {joint: tuple(job.positions[frame, worst_joint])}}
    )
    after = np.linalg.norm(fixed.positions - job.positions, axis=-1)
    assert after[frame, worst_joint] < 0.5
    assert after[frame:, worst_joint].mean() < error[frame:, worst_joint].mean()
    assert first.lost and all(f"{j} (" in first.lost_summary() for j in first.lost)  # the thin crossing legs


def test_tracking_reports_progress_and_stops_when_cancelled():
    _, job, video = _rendered("fish", frames=9)
    seen = []
    steps = track_rig_steps(video, job.rig, job.positions[0], cancelled=lambda: len(seen) >= 4)
    for step in steps:
        seen.append(step)
    assert seen == [1, 2, 3, 4]  # no result: cancelled


def test_tracked_motion_becomes_the_fewest_keys_within_the_tolerance():
    project, job, video = _rendered("fish")
    result = track_rig(video, job.rig, job.positions[0])
    clip, mapping = tracked_clip(result, job.rig, project.fps)
    start = replace(project, tracks={}, frames=25)
    keyed, _ = import_clip(start, clip, mapping, tolerance=2.0)
    keys = sum(len(t.keys) for t in keyed.tracks.values())
    assert keys < 0.8 * 25 * len(job.rig.joints)  # the fish undulates all the time; still fewer than a key per frame
    # back in the picture's pixels: each joint within the tolerance of the retargeted motion, and near the truth
    truth = project.joint_positions(25)
    assert np.median(np.linalg.norm(keyed.joint_positions() - truth, axis=-1)) < 1.5
