"""The pure edits the window's commands are made of: each takes a Project and returns the next one, and
the old one is untouched (undo keeps it)."""

from __future__ import annotations

import numpy as np
import pytest

from poseanything_studio.core import edits
from poseanything_studio.core.edits import CAMERA_ROW
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import Project
from poseanything_studio.core.rig import Rig


def _arm() -> Project:
    project = Project(image="x.png", rig=Rig(), frames=25)
    project, base = edits.add_joint(project, (100, 200))
    project, elbow = edits.add_joint(project, (160, 200), parent=base)
    project, _hand = edits.add_joint(project, (220, 200), parent=elbow)
    return project


def test_joints_and_bones_are_added_once_and_deleting_a_joint_takes_its_bones_and_track():
    arm = _arm()
    assert len(arm.rig.joints) == 3 and len(arm.rig.bones) == 2
    base, elbow, hand = arm.rig.joint_ids
    assert edits.add_bone(arm, base, elbow) is arm and edits.add_bone(arm, hand, hand) is arm
    keyed = edits.set_joint_key(arm, hand, 10, (230, 150))
    gone = edits.delete_rig_items(keyed, [hand], [])
    assert hand not in gone.rig.joint_ids and hand not in gone.tracks and len(gone.rig.bones) == 1
    assert hand in keyed.tracks  # the project before the edit is as it was


def test_a_renamed_joint_keeps_its_bones_and_keys_and_a_taken_name_is_refused():
    arm = edits.set_joint_key(_arm(), "joint3", 12, (230, 150))
    renamed = edits.rename_joint(arm, "joint3", "hand")
    assert "hand" in renamed.tracks and any(b.b == "hand" for b in renamed.rig.bones)
    with pytest.raises(ProjectError, match="exists already"):
        edits.rename_joint(renamed, "hand", "joint1")


def test_moving_a_joint_in_animate_mode_keys_it_and_in_setup_mode_moves_its_rest():
    arm = _arm()
    hand = arm.rig.joint_ids[2]
    posed = edits.move_joints(arm, {hand: (220, 150)}, frame=8, animate=True)
    assert posed.tracks[hand].key_at(8) is not None and arm.rig.joint(hand).xy == posed.rig.joint(hand).xy
    rest = edits.move_joints(arm, {hand: (225, 205)}, frame=8, animate=False)
    assert rest.rig.joint(hand).xy == (225, 205) and not rest.tracks


def test_keys_insert_hold_the_pose_and_move_delete_and_change_interpolation():
    arm = edits.set_joint_key(_arm(), "joint3", 0, (220, 200))
    arm = edits.set_joint_key(arm, "joint3", 20, (220, 100))
    inserted = edits.insert_keys(arm, ["joint3", CAMERA_ROW], 10)
    assert np.allclose(inserted.tracks["joint3"].key_at(10).value, edits.pose_at(arm, 10)[2])
    assert edits.key_frames(inserted, CAMERA_ROW) == (10,)
    moved = edits.move_keys(inserted, [("joint3", 10)], 5, last_frame=24)
    assert edits.key_frames(moved, "joint3") == (0, 15, 20)
    assert edits.moved_refs([("joint3", 20)], 9, last_frame=24) == [("joint3", 24)]  # clamped to the last frame
    stepped = edits.set_interp(moved, [("joint3", 0)], "step")
    assert edits.key_interp(stepped, ("joint3", 0)) == "step"
    assert edits.key_frames(edits.delete_keys(stepped, [("joint3", 15)]), "joint3") == (0, 20)


def test_frames_and_fps_edits_keep_the_file_format():
    arm = _arm()
    assert edits.set_frames(arm, 49).frames == 49
    assert edits.nearest_valid_frames(50) % 4 == 1
    assert edits.set_fps(arm, 12).fps == 12
