"""Posing in the window as an animator does: through the canvas's own mouse handlers and the window's keys."""

from __future__ import annotations

import json

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QInputDialog

from poseanything_studio.core import edits, poses
from tests.qt.test_window import drag


def joint_xy(doc, joint_id, frame=None):
    frame = doc.frame if frame is None else frame
    return edits.pose_at(doc.project, frame)[doc.project.rig.joint_index(joint_id)]


def bone_length(doc, a, b, frame=None):
    return float(np.hypot(*(joint_xy(doc, a, frame) - joint_xy(doc, b, frame))))


def all_lengths(doc, frame):
    pose, pairs = edits.pose_at(doc.project, frame), doc.project.rig.bone_joint_indices()
    return np.hypot(*(pose[pairs[:, 1]] - pose[pairs[:, 0]]).T)


def test_dragging_the_hips_carries_the_legs(studio, qtbot):
    doc = studio.doc
    doc.set_frame(10)
    before = {j: joint_xy(doc, j) for j in ("hips", "back_l_knee", "back_l_paw", "back_r_paw")}
    lengths = all_lengths(doc, 10)
    drag(qtbot, studio, before["hips"], before["hips"] + (40, 10))
    for j in ("back_l_knee", "back_l_paw", "back_r_paw"):
        assert np.allclose(joint_xy(doc, j) - before[j], joint_xy(doc, "hips") - before["hips"], atol=1e-6)
    assert np.allclose(joint_xy(doc, "hips") - before["hips"], (40, 10), atol=1.5)
    assert np.allclose(all_lengths(doc, 10), lengths, rtol=0.01)
    assert doc.undo_stack.count() == 1  # one undo step per drag


def test_after_a_drag_the_canvas_shows_the_new_keys_at_every_frame_and_the_full_size_puppet(studio, qtbot):
    """A drag redraws only the playhead frame and a throttled draft puppet; its release brings back the rest."""
    doc, canvas = studio.doc, studio.canvas
    studio.preview.request(doc.project, doc.mask, now=True)
    doc.set_frame(12)
    paw = joint_xy(doc, "back_l_paw")
    drag(qtbot, studio, paw, paw + (25, -30))
    handle = canvas.joint_handles["back_l_paw"]
    assert np.allclose((handle.pos().x(), handle.pos().y()), joint_xy(doc, "back_l_paw"))
    puppet = canvas.puppet_item.pixmap()
    assert canvas.puppet_item.isVisible() and (puppet.width(), puppet.height()) == doc.project.size  # not the draft
    doc.set_frame(14)  # between the new key and the next: the new key bends the leg here too
    assert np.allclose((handle.pos().x(), handle.pos().y()), joint_xy(doc, "back_l_paw", 14))


def test_dragging_a_paw_bends_the_leg_keeping_the_shin(studio, qtbot):
    doc = studio.doc
    doc.set_frame(12)
    paw, knee = joint_xy(doc, "back_l_paw"), joint_xy(doc, "back_l_knee")
    shin, thigh = bone_length(doc, "back_l_knee", "back_l_paw"), bone_length(doc, "hips", "back_l_knee")
    hips = joint_xy(doc, "hips")
    drag(qtbot, studio, paw, paw + (25, -30))
    assert np.isclose(bone_length(doc, "back_l_knee", "back_l_paw"), shin, rtol=0.01)
    assert np.isclose(bone_length(doc, "hips", "back_l_knee"), thigh, rtol=0.01)
    assert np.hypot(*(joint_xy(doc, "back_l_knee") - knee)) > 5  # the knee moved
    assert np.allclose(joint_xy(doc, "back_l_paw"), paw + (25, -30), atol=2.0)
    assert np.allclose(joint_xy(doc, "hips"), hips)
    assert doc.undo_stack.count() == 1


def test_a_pinned_paw_stays_planted_while_the_hips_move(studio, qtbot):
    doc = studio.doc
    doc.set_frame(12)
    doc.select(joints=["back_l_paw"])
    studio.act_pin.trigger()
    assert "back_l_paw" in doc.project.pins
    assert studio.canvas.joint_handles["back_l_paw"].pinned
    paw, hips = joint_xy(doc, "back_l_paw"), joint_xy(doc, "hips")
    drag(qtbot, studio, hips, hips + (15, 12))
    assert np.allclose(joint_xy(doc, "back_l_paw"), paw, atol=0.05)
    assert np.isclose(
        bone_length(doc, "back_l_knee", "back_l_paw"),
        np.hypot(*(np.subtract(doc.project.rig.joint("back_l_knee").xy, doc.project.rig.joint("back_l_paw").xy))),
        rtol=0.01,
    )


def test_dragging_a_middle_joint_rotates_it_about_its_parent(studio, qtbot):
    doc = studio.doc
    doc.set_frame(4)
    neck, chest, nose = joint_xy(doc, "neck"), joint_xy(doc, "chest"), joint_xy(doc, "nose")
    length = bone_length(doc, "chest", "neck")
    drag(qtbot, studio, neck, neck + (0, -30))
    assert np.isclose(bone_length(doc, "chest", "neck"), length, rtol=0.01)
    assert np.allclose(joint_xy(doc, "chest"), chest)
    assert np.hypot(*(joint_xy(doc, "nose") - nose)) > 10  # the head came along


def test_ctrl_drag_moves_a_subtree(studio, qtbot):
    doc = studio.doc
    knee, paw = joint_xy(doc, "front_l_knee"), joint_xy(doc, "front_l_paw")
    drag(qtbot, studio, knee, knee + (20, 5), modifier=Qt.KeyboardModifier.ControlModifier)
    assert np.allclose(joint_xy(doc, "front_l_paw") - paw, (20, 5), atol=1.5)


def test_rotate_tool_turns_a_bone_about_its_joint(studio, qtbot):
    doc = studio.doc
    canvas = studio.canvas
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_R)
    assert canvas.tool == "rotate"
    knee, paw = joint_xy(doc, "back_r_knee"), joint_xy(doc, "back_r_paw")
    hips = joint_xy(doc, "hips")
    # press on the shin's end and swing the mouse around the knee's parent (the hips)
    drag(qtbot, studio, knee, hips + np.array([[0, -1], [1, 0]]) @ (knee - hips) * 0.6)
    turned = joint_xy(doc, "back_r_knee") - hips
    assert abs(np.degrees(np.arctan2(turned[1], turned[0]) - np.arctan2(*(knee - hips)[::-1])) % 360 - 90) < 5
    assert np.isclose(bone_length(doc, "back_r_knee", "back_r_paw"), np.hypot(*(paw - knee)), rtol=0.01)


def test_setup_mode_still_moves_one_rest_joint(studio, qtbot):
    studio.act_animate.setChecked(False)
    doc = studio.doc
    project, joint = edits.add_joint(doc.project, (300.0, 100.0), "hips")
    doc.apply(project, "add")
    xy = np.array(doc.project.rig.joint(joint).xy)
    drag(qtbot, studio, xy, xy + (0, 25))
    assert np.allclose(doc.project.rig.joint(joint).xy, xy + (0, 25), atol=1.5)


def test_copy_and_paste_a_pose_through_the_clipboard(studio, qtbot):
    doc, canvas = studio.doc, studio.canvas
    doc.set_frame(8)
    doc.select()
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    payload = json.loads(QGuiApplication.clipboard().text())
    assert payload["format"] == poses.POSE_FORMAT and len(payload["joints"]) == len(doc.project.rig.joints)
    source = edits.pose_at(doc.project, 8)
    doc.set_frame(30)
    sheet = studio.timeline.dopesheet
    sheet.setFocus()
    qtbot.keyClick(sheet, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)  # the dopesheet pastes too
    assert np.allclose(edits.pose_at(doc.project, 30), source, atol=1e-3)
    QGuiApplication.clipboard().setText("not a pose")
    studio.act_paste_pose.trigger()
    assert np.allclose(edits.pose_at(doc.project, 30), source, atol=1e-3)  # nothing changed
    assert "no pose" in studio.statusBar().currentMessage()


def test_mirror_swaps_the_sides(studio):
    doc = studio.doc
    doc.set_frame(8)
    before = edits.pose_at(doc.project, 8)
    studio.act_mirror.trigger()
    after = edits.pose_at(doc.project, 8)
    from poseanything_studio.core.kinematics import to_local

    h, ids = doc.project.hierarchy(), doc.project.rig.joint_ids
    rest = to_local(h, doc.project.rig.rest_xy())[0]
    turn_before = to_local(h, before)[0] - rest
    turn_after = to_local(h, after)[0] - rest
    left, right = ids.index("back_l_paw"), ids.index("back_r_paw")
    assert abs(turn_before[left] - turn_before[right]) > 0.1  # the legs were apart at this frame
    assert np.isclose(turn_after[left], turn_before[right], atol=1e-3)
    assert np.isclose(turn_after[right], turn_before[left], atol=1e-3)


def test_loop_and_interpolation_choice(studio, monkeypatch):
    doc = studio.doc
    answers = iter([(0, True), (doc.project.frames, True)])
    monkeypatch.setattr(QInputDialog, "getInt", lambda *a, **k: next(answers))
    studio.act_loop.trigger()
    assert doc.project.loop == (0, doc.project.frames)
    studio.act_rotation_interp.setChecked(False)
    assert doc.project.interpolation == "position"
    doc.undo_stack.undo()
    assert doc.project.interpolation == "rotation" and studio.act_rotation_interp.isChecked()


def test_renaming_or_deleting_a_pinned_root_keeps_the_file_consistent(studio):
    doc = studio.doc
    studio.canvas.make_root("chest")
    studio.canvas.toggle_pins(["back_l_paw"])
    assert doc.project.roots == ("chest",)
    doc.apply(edits.rename_joint(doc.project, "chest", "torso"), "rename")
    doc.apply(edits.rename_joint(doc.project, "back_l_paw", "paw"), "rename")
    assert doc.project.roots == ("torso",) and doc.project.pins == ("paw",)
    h = doc.project.hierarchy()
    assert h.joint_ids[h.roots[0]] == "torso"
    doc.apply(edits.delete_rig_items(doc.project, ["paw"], []), "delete")
    assert doc.project.pins == ()


def test_dopesheet_pastes_at_the_frame_and_draws_the_loop(studio):
    doc, sheet = studio.doc, studio.timeline.dopesheet
    from poseanything_studio.qt import posing

    sheet.at_frame(4, posing.copy_pose)
    source = edits.pose_at(doc.project, 4)
    sheet.at_frame(36, posing.paste_pose)
    assert doc.frame == 36 and np.allclose(edits.pose_at(doc.project, 36), source, atol=1e-3)
    doc.select_keys([("hips", 0), ("hips", 16)])
    from PySide6.QtWidgets import QMenu

    menu = QMenu()
    sheet.pose_entries(menu, sheet.x_of(10))
    loop = next(a for a in menu.actions() if a.text().startswith("Loop frames"))
    loop.trigger()
    assert doc.project.loop == (0, 16)
    sheet.repaint()  # the band paints without error
