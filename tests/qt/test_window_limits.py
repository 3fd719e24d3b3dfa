"""The window never makes what the file format cannot hold: an edit past a limit is refused with a status
line, the project stays saveable; a lone surrogate in an id saves; a smaller copy that cannot be written is
a dialog; closing waits for background work, so no worker outlives the window."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData

from poseanything_studio.core import edits
from poseanything_studio.core import project as P
from poseanything_studio.core.project import load_project
from poseanything_studio.core.rig import Joint, Rig
from poseanything_studio.core.tracks import Key, Track
from poseanything_studio.qt import main_window

ROOT = Path(__file__).resolve().parents[2]


def _full_rig(studio) -> None:
    joints = tuple(Joint(f"j{i}", (10.0 + i % 40 * 10, 10.0 + i // 40 * 10)) for i in range(P.MAX_JOINTS))
    studio.doc.apply(replace(studio.doc.project, rig=Rig(joints, ()), tracks={}), "Full rig")


def test_a_joint_past_the_limit_is_refused_with_a_status_line(studio, examples_dir):
    _full_rig(studio)
    project, _ = edits.add_joint(studio.doc.project, (5.0, 5.0))
    assert not studio.doc.apply(project, "Add joint")
    assert len(studio.doc.project.rig.joints) == P.MAX_JOINTS
    assert "Add joint: not done, rig.joints: 501 joints; a rig has at most 500" in studio.statusBar().currentMessage()
    assert studio.save_to(examples_dir / "full.pasproj")
    assert len(load_project(examples_dir / "full.pasproj").rig.joints) == P.MAX_JOINTS


def test_a_template_that_would_pass_the_joint_limit_is_refused_whole(studio, qtbot):
    from poseanything_studio.core.templates import load_templates

    _full_rig(studio)
    before = studio.doc.project
    studio.add_template(load_templates()[0])
    qtbot.waitUntil(lambda: not studio.busy.running, timeout=120_000)
    assert studio.doc.project == before
    assert "a rig has at most 500" in studio.statusBar().currentMessage()


def test_a_key_past_a_tracks_limit_is_refused(studio, examples_dir):
    doc = studio.doc
    joint = doc.project.rig.joint_ids[0]
    full = Track(tuple(Key(f, (100.0, 100.0)) for f in range(P.MAX_KEYS)))
    assert doc.apply(doc.project.with_track(joint, full), "Many keys")
    assert not doc.apply(edits.set_joint_key(doc.project, joint, P.MAX_KEYS + 5, (1.0, 1.0)), "Insert key")
    assert len(doc.project.tracks[joint].keys) == P.MAX_KEYS
    assert "keys; a track has at most 10000" in studio.statusBar().currentMessage()
    assert studio.save_to(examples_dir / "keys.pasproj")
    assert len(load_project(examples_dir / "keys.pasproj").tracks[joint].keys) == P.MAX_KEYS


def test_a_joint_dragged_absurdly_far_stays_where_the_file_can_hold_it(studio, examples_dir):
    doc = studio.doc
    joint = doc.project.rig.joint_ids[0]
    assert not doc.apply(edits.move_joints(doc.project, {joint: (5e6, 10.0)}, doc.frame, animate=True), "Move")
    assert "is too far out" in studio.statusBar().currentMessage()
    assert studio.save_to(examples_dir / "moved.pasproj")


def test_a_pasted_prompt_is_cut_to_the_limit_and_the_project_saves(studio, examples_dir, qtbot):
    field = studio.render_panel.prompt
    field.selectAll()  # the paste replaces the cat's own prompt
    data = QMimeData()
    data.setText("x" * (3 * P.MAX_PROMPT_CHARS))
    field.insertFromMimeData(data)
    assert len(field.toPlainText()) == P.MAX_PROMPT_CHARS
    assert "at most 10,000 characters" in studio.statusBar().currentMessage()
    studio.render_panel.apply_settings()
    assert studio.doc.project.render.prompt == "x" * P.MAX_PROMPT_CHARS
    assert studio.save_to(examples_dir / "prompt.pasproj")
    assert load_project(examples_dir / "prompt.pasproj").render.prompt == "x" * P.MAX_PROMPT_CHARS


def test_an_over_long_prompt_in_a_file_is_one_line_at_once(studio, examples_dir):
    import json
    import time

    data = json.loads((examples_dir / "cat.pasproj").read_text())
    data["render"]["prompt"] = "x" * 2_000_000  # an unbroken 2 MB line: minutes of text layout in a field
    (examples_dir / "long.pasproj").write_text(json.dumps(data))
    started = time.perf_counter()
    assert not studio.open_path(examples_dir / "long.pasproj")
    assert time.perf_counter() - started < 5
    assert "render.prompt: 2000000 characters; a prompt has at most 10000" in studio.dialogs[-1][1]


def test_a_lone_surrogate_in_a_joint_id_saves_and_autosaves(studio, examples_dir):
    doc = studio.doc
    old = doc.project.rig.joint_ids[0]
    doc.apply(edits.rename_joint(doc.project, old, "hips\udc80"), "Rename")
    side = studio.autosave()
    assert side is not None and "hips\udc80" in load_project(side).rig.joint_ids
    assert studio.save_to(examples_dir / "odd.pasproj")
    reopened = load_project(examples_dir / "odd.pasproj")
    assert reopened == doc.project and "hips\udc80" in reopened.rig.joint_ids


def test_a_smaller_copy_that_cannot_be_written_is_a_dialog(studio, tmp_path, monkeypatch):
    from PIL import Image

    from poseanything_studio.core import images

    picture = tmp_path / "big.png"
    Image.fromarray(np.zeros((200, 300, 3), np.uint8)).save(picture)
    monkeypatch.setattr(images, "MAX_PIXELS", 20_000)  # the picture is "too large": a copy is offered

    def read_only_folder(path, *_a, **_k):
        raise PermissionError(13, "Permission denied", str(Path(path).with_name(".big_122x81.png.pastmp-1")))

    monkeypatch.setattr(main_window, "downscaled_copy", read_only_folder)
    monkeypatch.setattr(studio, "ask_yes", lambda *_a: True)
    monkeypatch.setattr(main_window.QFileDialog, "getOpenFileName", lambda *a, **k: (str(picture), ""))
    before = studio.doc.project
    studio.new_project()  # raised PermissionError out of the slot before
    assert studio.doc.project is before
    title, text = studio.dialogs[-1]
    assert title == "Cannot use this picture" and "big.png" in text and "Permission denied" in text
    assert "\n" not in text


def test_closing_while_auto_rig_runs_waits_and_drops_the_result(studio, qtbot, monkeypatch):
    import threading
    import time

    release = threading.Event()
    monkeypatch.setattr(main_window, "skeleton_from_mask", lambda mask: (release.wait(5), time.sleep(0.2), Rig())[-1])
    monkeypatch.setattr(studio, "ask_auto_rig_mode", lambda: "add")
    applied = []
    monkeypatch.setattr(studio, "apply_auto_rig", lambda rig, mode: applied.append(rig))
    studio.auto_rig()
    assert studio.busy.running
    release.set()
    studio.doc.undo_stack.setClean()
    studio.close()  # waits for the worker to end
    qtbot.wait(100)
    assert not applied


def test_a_worker_ending_after_the_window_closed_prints_nothing(tmp_path):
    script = textwrap.dedent("""
        import time
        from poseanything_studio.qt.app import application
        from poseanything_studio.qt.main_window import MainWindow
        app = application()
        window = MainWindow()
        window.show()
        app.processEvents()
        window.busy.start("slow", lambda: (time.sleep(1.0), 5)[1], (), print)
        window.preview.request(window.doc.project, None)
        app.processEvents()
        window.doc.undo_stack.setClean()
        window.close()
        print("closed")
    """)
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert done.returncode == 0 and done.stdout.strip() == "closed"
    assert "Traceback" not in done.stderr and "deleted" not in done.stderr, done.stderr


def test_render_settings_past_the_render_budget_are_refused_and_the_fields_come_back(studio):
    panel = studio.render_panel
    before = studio.doc.project
    panel.width_spin.setValue(4096)
    panel.height_spin.setValue(4096)
    panel.frames_spin.setValue(2401)
    panel.field_edited("size")
    panel.field_edited("frames")
    panel.apply_settings()
    assert studio.doc.project == before
    assert "more than one render makes" in studio.statusBar().currentMessage()
    assert (panel.width_spin.value(), panel.height_spin.value()) == before.size
    assert panel.frames_spin.value() == before.frames
