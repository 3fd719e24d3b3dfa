"""The studio window as a user drives it: rigging, keying, undo, files, rendering, screenshots."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage
from pytestqt.qtbot import QtBot

from poseanything_studio.core import edits
from poseanything_studio.core.edits import CAMERA_ROW
from poseanything_studio.core.project import load_project, project_to_dict


def view_point(window, xy) -> QPoint:
    """Where reference pixel `xy` is in the canvas viewport."""
    return window.canvas.mapFromScene(float(xy[0]), float(xy[1]))


def click(qtbot: QtBot, window, xy, **kw) -> None:
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window, xy), **kw)


def drag(qtbot: QtBot, window, a, b, steps: int = 5, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """Press at `a` (holding `modifier`), move to `b` in a few steps, release (reference pixels)."""
    vp = window.canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, modifier, pos=view_point(window, a))
    for t in np.linspace(0, 1, steps + 1)[1:]:
        p = view_point(window, np.asarray(a) + t * (np.asarray(b) - np.asarray(a)))
        qtbot.mouseMove(vp, p)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=view_point(window, b))


def test_open_example_shows_picture_rig_and_rows(studio):
    doc = studio.doc
    assert doc.project.path.name == "cat.pasproj"
    assert len(studio.canvas.joint_handles) == len(doc.project.rig.joints) > 5
    assert len(studio.canvas.bone_lines) == len(doc.project.rig.bones)
    assert not studio.canvas.image_item.pixmap().isNull()
    assert studio.timeline.dopesheet.rows()[0] == CAMERA_ROW
    assert studio.windowTitle().startswith("cat.pasproj")
    assert studio.preview.result is not None and studio.preview.result.mesh is not None
    studio.canvas.refresh()
    assert studio.canvas.puppet_item.isVisible()


def test_add_joints_by_click_and_bone_by_drag(studio, qtbot):
    studio.tool_actions["rig"].trigger()
    studio.doc.select()
    before = studio.doc.project.rig
    click(qtbot, studio, (100, 60))
    first = studio.doc.selected_joints[0]
    click(qtbot, studio, (160, 60))  # joined to the selected first joint
    second = studio.doc.selected_joints[0]
    studio.doc.select()
    click(qtbot, studio, (220, 90))
    third = studio.doc.selected_joints[0]
    rig = studio.doc.project.rig
    assert len(rig.joints) == len(before.joints) + 3
    assert any({b.a, b.b} == {first, second} for b in rig.bones)
    assert not any(third in (b.a, b.b) for b in rig.bones)
    drag(qtbot, studio, (160, 60), (220, 90))  # drag joint -> joint adds a bone
    assert any({b.a, b.b} == {second, third} for b in studio.doc.project.rig.bones)
    assert len(studio.canvas.joint_handles) == len(rig.joints)


def test_move_joint_keys_it_at_the_playhead_and_undo_redo(studio, qtbot):
    doc = studio.doc
    doc.set_frame(10)
    joint = "nose"
    start = edits.pose_at(doc.project, 10)[doc.project.rig.joint_index(joint)]
    original = doc.project
    drag(qtbot, studio, start, start + (30, -20), modifier=Qt.KeyboardModifier.ControlModifier)  # Ctrl: moves it
    moved = edits.pose_at(doc.project, 10)[doc.project.rig.joint_index(joint)]
    assert np.allclose(moved, start + (30, -20), atol=1.5)
    assert 10 in doc.project.tracks[joint].frames
    assert doc.undo_stack.count() == 1  # one undo step per drag
    assert studio.isWindowModified()
    doc.undo_stack.undo()
    assert doc.project == original
    assert not studio.isWindowModified()
    doc.undo_stack.redo()
    assert 10 in doc.project.tracks[joint].frames


def test_setup_mode_moves_the_rest_pose(studio, qtbot):
    studio.act_animate.setChecked(False)
    doc = studio.doc
    project, joint = edits.add_joint(doc.project, (300.0, 100.0))
    doc.apply(project, "add")
    xy = np.array(doc.project.rig.joint(joint).xy)
    drag(qtbot, studio, xy, xy + (0, 25))
    assert np.allclose(doc.project.rig.joint(joint).xy, xy + (0, 25), atol=1.5)
    assert not doc.project.tracks.get(joint)


def test_insert_delete_key_and_interpolation(studio, qtbot):
    doc = studio.doc
    doc.select(joints=["hips"])
    doc.set_frame(13)
    studio.act_insert_key.trigger()
    assert 13 in doc.project.tracks["hips"].frames
    studio.timeline.dopesheet.set_interp("step")
    assert edits.key_interp(doc.project, ("hips", 13)) == "step"
    studio.act_delete.trigger()
    assert 13 not in doc.project.tracks["hips"].frames
    doc.select(joints=[], rows=[CAMERA_ROW])
    doc.set_frame(20)
    studio.act_insert_key.trigger()
    assert 20 in edits.key_frames(doc.project, CAMERA_ROW)


def test_drag_key_in_dopesheet(studio, qtbot):
    sheet = studio.timeline.dopesheet
    doc = studio.doc
    row = sheet.rows().index("hips")
    y = int(sheet.y_of(row) + 10)
    frame = doc.project.tracks["hips"].frames[1]
    target = frame + 2
    qtbot.mousePress(sheet, Qt.MouseButton.LeftButton, pos=QPoint(int(sheet.x_of(frame)), y))
    qtbot.mouseMove(sheet, QPoint(int(sheet.x_of(frame + 1)), y))
    qtbot.mouseMove(sheet, QPoint(int(sheet.x_of(target)), y))
    qtbot.mouseRelease(sheet, Qt.MouseButton.LeftButton, pos=QPoint(int(sheet.x_of(target)), y))
    assert target in doc.project.tracks["hips"].frames and frame not in doc.project.tracks["hips"].frames
    assert doc.undo_stack.count() == 1


def test_scrub_and_keyboard_stepping(studio, qtbot):
    sheet = studio.timeline.dopesheet
    qtbot.mouseClick(sheet, Qt.MouseButton.LeftButton, pos=QPoint(int(sheet.x_of(30)), 8))
    assert studio.doc.frame == 30
    studio.act_next.trigger()
    assert studio.doc.frame == 31
    studio.act_prev.trigger()
    studio.act_prev.trigger()
    assert studio.doc.frame == 29


def test_frames_field_keeps_4k_plus_1(studio):
    spin = studio.timeline.frames_spin
    spin.setValue(spin.valueFromText("60"))
    studio.timeline.frames_edited()
    assert studio.doc.project.frames % 4 == 1
    assert studio.doc.project.frames == 61


def test_camera_tool_pans_zooms_and_keys(studio, qtbot):
    studio.tool_actions["camera"].trigger()
    doc = studio.doc
    doc.set_frame(12)
    drag(qtbot, studio, (400, 240), (440, 240))
    params = edits.camera_at(doc.project, 12)
    assert params[0] > 20 and abs(params[1]) < 2
    assert 12 in edits.key_frames(doc.project, CAMERA_ROW)
    studio.canvas.wheel_camera(2, roll=False)
    assert edits.camera_at(doc.project, 12)[2] > 1.1


def test_camera_roll_and_zoom_fields_key_the_playhead(studio):
    doc, timeline = studio.doc, studio.timeline
    doc.set_frame(20)
    timeline.roll_spin.setValue(15.0)
    timeline.zoom_spin.setValue(1.5)
    params = edits.camera_at(doc.project, 20)
    assert abs(params[3] - 15.0) < 1e-6 and abs(params[2] - 1.5) < 1e-6
    assert 20 in edits.key_frames(doc.project, CAMERA_ROW)
    doc.set_frame(0)
    assert timeline.roll_spin.value() == edits.camera_at(doc.project, 0)[3]  # the field follows the playhead
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert 20 not in edits.key_frames(doc.project, CAMERA_ROW)


def test_save_reload_compare(studio, tmp_path):
    doc = studio.doc
    doc.apply(edits.set_joint_key(doc.project, "head", 7, (500.0, 150.0)), "key")
    out = tmp_path / "saved" / "cat_copy.pasproj"
    out.parent.mkdir()
    assert studio.save_to(out)
    assert not studio.isWindowModified()
    reloaded = load_project(out)
    assert reloaded == doc.project
    assert project_to_dict(reloaded) == project_to_dict(doc.project)
    assert reloaded.resolve(reloaded.image).is_file()


def test_failed_load_keeps_the_project(studio, tmp_path):
    bad = tmp_path / "bad.pasproj"
    bad.write_text(
        json.dumps(
            {
                "format": "poseanything-project",
                "version": 1,
                "image": "x.png",
                "frames": 50,
                "rig": {"joints": [], "bones": []},
            }
        )
    )
    before = studio.doc.project
    studio.doc.apply(edits.set_fps(before, 12), "fps")
    edited = studio.doc.project
    assert not studio.open_path(bad)
    assert studio.dialogs and "frames" in studio.dialogs[-1][1] and "bad.pasproj" in studio.dialogs[-1][1]
    assert studio.doc.project is edited and studio.doc.undo_stack.count() == 1


def test_autosave_side_file_and_recovery(studio, examples_dir, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    doc = studio.doc
    doc.apply(edits.set_fps(doc.project, 12), "fps")
    side = studio.autosave()
    assert side == examples_dir / "cat.pasproj.autosave" and side.is_file()
    assert load_project(examples_dir / "cat.pasproj").fps == 24  # the project itself is untouched
    doc.reset(load_project(examples_dir / "cat.pasproj"))  # as if restarted after a crash
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert studio.offer_recovery()
    assert doc.project.fps == 12 and doc.dirty and doc.path == examples_dir / "cat.pasproj"


def test_autosave_keeps_a_painted_mask(studio, examples_dir, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    doc = studio.doc
    painted = np.zeros(doc.project.read_image().shape[:2], bool)
    painted[100:200, 300:500] = True
    doc.apply_mask(painted)
    studio.autosave()
    doc.reset(load_project(examples_dir / "cat.pasproj"))  # restarted after a crash: the painting is gone
    assert doc.mask is None
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert studio.offer_recovery()
    assert doc.mask is not None and np.array_equal(doc.mask, painted)
    assert studio.save_to(examples_dir / "cat.pasproj")
    assert not list(examples_dir.glob("*.autosave*"))  # saving cleans up both side files


def test_templates_place_over_the_subject(studio, qtbot):
    from poseanything_studio.core.templates import load_templates

    templates = {t.key: t for t in load_templates()}
    assert {"human", "quadruped", "bird", "fish", "snake", "robot_arm"} <= set(templates)
    before = len(studio.doc.project.rig.joints)
    studio.add_template(templates["quadruped"])
    qtbot.waitUntil(lambda: not studio.busy.running, timeout=120_000)
    rig = studio.doc.project.rig
    assert len(rig.joints) == before + len(templates["quadruped"].rig.joints)
    xy = rig.rest_xy()[before:]
    assert (xy >= 0).all() and (xy[:, 0] <= 832).all() and (xy[:, 1] <= 480).all()
    assert len(studio.doc.selected_joints) == len(templates["quadruped"].rig.joints)


def test_delete_and_rename_joint(studio):
    doc = studio.doc
    doc.apply(edits.rename_joint(doc.project, "nose", "snout"), "rename")
    assert "snout" in doc.project.tracks and "nose" not in doc.project.rig.joint_ids
    doc.select(joints=["snout"])
    studio.act_delete.trigger()
    assert "snout" not in doc.project.rig.joint_ids and "snout" not in doc.project.tracks


def test_mask_from_rig_and_brush(studio, qtbot):
    studio.mask_from_rig()
    qtbot.waitUntil(lambda: not studio.busy.running, timeout=30_000)
    mask = studio.doc.mask
    assert mask is not None and 0.02 < mask.mean() < 0.8
    studio.tool_actions["brush"].trigger()
    drag(qtbot, studio, (50, 50), (80, 50))
    assert studio.doc.mask[50, 60] and not mask[50, 60]
    studio.doc.undo_stack.undo()
    assert studio.doc.mask is mask


def test_auto_rig_grows_a_rig_from_the_mask_and_undoes(studio, qtbot, monkeypatch):
    monkeypatch.setattr(studio, "ask_auto_rig_mode", lambda: "add")
    doc = studio.doc
    mask = np.zeros((480, 832), bool)
    mask[200:240, 100:700] = True  # a long bar
    mask[100:400, 380:420] = True  # crossed by a tall one: a plus
    doc.apply_mask(mask, "paint")
    before = len(doc.project.rig.joints)
    studio.auto_rig()
    qtbot.waitUntil(lambda: not studio.busy.running, timeout=30_000)
    rig = doc.project.rig
    new = list(rig.joint_ids[before:])
    assert len(new) == 5 and sorted(len(rig.neighbours(j)) for j in new) == [1, 1, 1, 1, 4]
    assert set(doc.selected_joints) == set(new)
    doc.undo_stack.undo()
    assert len(doc.project.rig.joints) == before


def test_render_puppet_in_worker_then_export(studio, qtbot, tmp_path):
    panel = studio.render_panel
    studio.doc.apply(edits.set_frames(studio.doc.project, 9), "frames")
    with qtbot.waitSignal(panel.controller.finished, timeout=60_000) as blocker:
        panel.start_render()
    result = blocker.args[0]
    assert result is not None and len(result.frames) == 9
    assert panel.views["pose"].image is not None and panel.views["matching"].image is not None
    out = tmp_path / "out.mp4"
    worker = panel.export(str(out))
    with qtbot.waitSignal(worker.finished, timeout=60_000):
        pass
    assert out.is_file() and out.stat().st_size > 1000


def test_render_cancel_stops_and_writes_nothing(studio, qtbot, tmp_path):
    panel = studio.render_panel
    studio.doc.apply(edits.set_frames(studio.doc.project, 201), "frames")
    frames_seen = []
    panel.controller.frame.connect(lambda ev: (frames_seen.append(ev.index), panel.cancel_render()))
    with qtbot.waitSignal(panel.controller.finished, timeout=60_000) as blocker:
        panel.start_render()
    assert blocker.args[0] is None
    assert frames_seen and max(frames_seen) < 10
    assert panel.result is None and not panel.export_button.isEnabled()
    assert not list(tmp_path.glob("*.mp4"))


def test_render_sees_a_frozen_snapshot(studio, qtbot):
    panel = studio.render_panel
    studio.doc.apply(edits.set_frames(studio.doc.project, 5), "frames")
    with qtbot.waitSignal(panel.controller.finished, timeout=60_000) as blocker:
        panel.start_render()
        studio.doc.apply(edits.set_frames(studio.doc.project, 9), "edit during render")
    assert len(blocker.args[0].frames) == 5


def test_neural_renderer_disabled_with_reason(studio):
    panel = studio.render_panel
    panel.renderer.setCurrentIndex(1)  # selectable, so a user sees why it cannot run
    reason = panel.unavailable_reason()
    assert reason is not None  # no model folder chosen in the example
    assert not panel.render_button.isEnabled() and reason in panel.render_button.toolTip()
    assert reason in panel.neural_note.text()
    panel.renderer.setCurrentIndex(0)
    assert panel.render_button.isEnabled()


def test_screenshot_is_not_blank(examples_dir, tmp_path, qtbot):
    from poseanything_studio.qt.app import run_window

    out = tmp_path / "shot.png"
    assert run_window(str(examples_dir / "fish.pasproj"), screenshot=str(out)) == 0
    image = QImage(str(out))
    assert image.width() > 800 and image.height() > 500
    small = image.scaled(64, 40).convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(small.constBits(), np.uint8).reshape(40, small.bytesPerLine())[:, : 64 * 3]
    assert pixels.std() > 20


def test_screenshot_of_a_bad_project_fails_cleanly(tmp_path, capsys):
    from poseanything_studio.qt.app import run_window

    bad = tmp_path / "nope.pasproj"
    shutil.copy(Path(__file__), bad)
    assert run_window(str(bad), screenshot=str(tmp_path / "x.png")) == 2
    assert "nope.pasproj" in capsys.readouterr().err


def test_curve_editor_drag_moves_a_key(studio):
    doc = studio.doc
    doc.select(joints=["hips"])
    assert [c[0] for c in studio.curves.channels()] == ["hips.x", "hips.y"]
    frame = doc.project.tracks["hips"].frames[1]
    drag_state = {"data": ("hips", frame, 1, 1.0), "serial": 99, "base": doc.project}
    studio.curves.drag_key(drag_state, frame + 1.2, 300.0)
    key = doc.project.tracks["hips"].key_at(frame + 1)
    assert key is not None and key.value[1] == 300.0
    assert doc.undo_stack.count() == 1


def test_playback_loops(studio, qtbot):
    doc = studio.doc
    doc.set_frame(doc.project.frames - 2)
    studio.playback.play()
    qtbot.waitUntil(lambda: doc.frame < 5, timeout=3000)
    studio.playback.stop()
    assert not studio.playback.playing


def test_window_never_imports_torch():
    import subprocess
    import sys

    code = (
        "import sys; from poseanything_studio.qt import main_window, app, worker, render_panel; "
        "print('torch' in sys.modules or 'poseanything_studio.model' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.stdout.strip() == "False"


def test_render_panel_offload_choice_reaches_the_neural_job(studio, monkeypatch):
    panel = studio.render_panel
    requests = []
    monkeypatch.setattr(panel.controller, "start", requests.append)
    panel.offload.setCurrentText("group")
    panel.start_render()
    assert requests[0].neural.offload == "group"
    assert requests[0].job().neural.offload == "group"
    assert requests[0].job().neural.model_dir == studio.doc.project.render.model_dir
