"""The Motion dock in the window: an imported clip, a preset and a tracked reference video each arrive as one
undo step; a bad file is a dialog and changes nothing; tracking and reading a reference video show progress
and can be cancelled, the window answering all the while."""

from __future__ import annotations

import re
from dataclasses import replace

import imageio_ffmpeg
import numpy as np
from motion_files import write_bvh

from poseanything_studio.core.camera import CameraPath
from poseanything_studio.core.project import load_project, save_project
from poseanything_studio.core.templates import load_templates, placed
from poseanything_studio.rendering.events import Frame
from poseanything_studio.rendering.export import output_target, write_frames
from poseanything_studio.rendering.job import make_job
from poseanything_studio.rendering.runner import run


def _human(studio, tmp_path):
    human = next(t for t in load_templates() if t.key == "human")
    project = replace(studio.doc.project, rig=placed(human, (300, 40, 180, 400)), tracks={}, frames=25)
    studio.doc.reset(project)
    return project


def test_a_bvh_imported_in_the_window_is_one_undo_step(studio, tmp_path, qtbot):
    before = _human(studio, tmp_path)
    swing = np.stack([np.linspace(0, 90, 25), np.zeros(25), np.zeros(25)], axis=1)
    bvh = write_bvh(tmp_path / "wave.bvh", 25, 24, {"RightArm": swing})
    assert studio.motion_panel.import_path(bvh)
    qtbot.waitUntil(lambda: studio.motion_panel.job.worker is None and bool(studio.doc.project.tracks), timeout=30000)
    assert studio.doc.undo_stack.undoText() == "Import wave.bvh"
    studio.doc.undo_stack.undo()
    assert studio.doc.project == before


def test_a_bad_motion_file_is_a_dialog_and_changes_nothing(studio, tmp_path, qtbot):
    before = _human(studio, tmp_path)
    (tmp_path / "broken.bvh").write_text("HIERARCHY\nnonsense\n")
    studio.motion_panel.import_path(tmp_path / "broken.bvh")
    qtbot.waitUntil(lambda: studio.motion_panel.job.worker is None and bool(studio.dialogs), timeout=30000)
    assert "broken.bvh" in studio.dialogs[-1][1]
    assert studio.doc.project == before and not studio.doc.dirty


def test_the_preset_shelf_offers_what_fits_and_applies_as_one_step(studio, tmp_path):
    _human(studio, tmp_path)
    panel = studio.motion_panel
    offered = [panel.preset_combo.itemData(i) for i in range(panel.preset_combo.count())]
    assert {"walk", "wave", "nod"} <= set(offered) and "trot" not in offered
    panel.preset_combo.setCurrentIndex(offered.index("wave"))
    panel.apply_selected_preset()
    assert studio.doc.undo_stack.undoText() == "Preset Wave" and studio.doc.project.tracks


def test_a_reference_video_is_tracked_with_progress_and_applied_as_keys(studio, examples_dir, tmp_path, qtbot):
    fish = replace(load_project(examples_dir / "fish.pasproj"), camera=CameraPath())
    fish = save_project(replace(fish, frames=25), examples_dir / "fish25.pasproj")
    job = make_job(fish, size=(416, 256))
    frames = [e.image for e in run(job) if isinstance(e, Frame)]
    write_frames(frames, output_target(str(tmp_path / "fish.mp4")), fish.fps, job.size, len(frames))
    studio.doc.reset(replace(fish, tracks={}))
    panel = studio.motion_panel
    with qtbot.waitSignal(panel.video_read, timeout=60000) as read:
        assert panel.open_video(tmp_path / "fish.mp4")
    assert read.args == [True] and panel.video.shape[0] == 25
    panel.placed = job.positions[0] * (panel.video.shape[2] / 416)  # the rig on the fish as the video frames it
    seen = []
    panel.progress.valueChanged.connect(seen.append)
    assert panel.track()
    qtbot.waitUntil(lambda: panel.track_worker is None, timeout=60000)
    assert panel.tracked is not None and max(seen) >= 20
    panel.apply_tracking()
    assert studio.doc.undo_stack.undoText() == "Track fish.mp4"
    truth = fish.joint_positions()
    keyed = studio.doc.project.joint_positions()
    assert np.median(np.linalg.norm(keyed - truth, axis=-1)) < 3.0


def test_tracking_can_be_cancelled(studio, examples_dir, tmp_path, qtbot):
    fish = load_project(examples_dir / "fish.pasproj")
    job = make_job(fish, size=(416, 256))
    frames = [e.image for e in run(job) if isinstance(e, Frame)]
    write_frames(frames, output_target(str(tmp_path / "fish.mp4")), fish.fps, job.size, len(frames))
    panel = studio.motion_panel
    studio.doc.reset(fish)
    with qtbot.waitSignal(panel.video_read, timeout=60000):
        assert panel.open_video(tmp_path / "fish.mp4")
    panel.cancel_tracking()  # set before start is cleared by track(); cancel right after it starts instead
    assert panel.track()
    panel.cancel_tracking()
    qtbot.waitUntil(lambda: panel.track_worker is None, timeout=60000)
    assert panel.tracked is None and not panel.apply_track_button.isEnabled()


def test_the_mapping_dialog_starts_from_the_guess_and_its_edits_drive_the_import(studio, tmp_path, qtbot):
    from poseanything_studio.core.mocap import read_bvh
    from poseanything_studio.qt.motion_panel import MappingDialog

    _human(studio, tmp_path)
    swing = np.stack([np.linspace(0, 90, 25), np.zeros(25), np.zeros(25)], axis=1)
    bvh = write_bvh(tmp_path / "wave.bvh", 25, 24, {"LeftArm": swing})
    dialog = MappingDialog(studio.doc.project, read_bvh(bvh), studio)
    assert dialog.mapping()["elbow_l"] == "LeftForeArm"
    for joint, combo in dialog.combos.items():  # only the right arm, driven by the clip's left arm
        combo.setCurrentText(
            {"neck": "Neck", "shoulder_r": "LeftArm", "elbow_r": "LeftForeArm"}.get(joint, dialog.NONE)
        )
    mapping = dialog.mapping()
    assert mapping == {"neck": "Neck", "shoulder_r": "LeftArm", "elbow_r": "LeftForeArm"}
    studio.motion_panel.import_path(bvh, mapping)
    qtbot.waitUntil(lambda: studio.motion_panel.job.worker is None and bool(studio.doc.project.tracks), timeout=30000)
    assert studio.doc.project.extra["joint_mapping"] == mapping
    assert set(studio.doc.project.tracks) <= {"shoulder_r", "elbow_r", "hand_r"}  # the right arm alone moves


def test_a_reference_video_that_cannot_be_read_is_a_dialog_and_changes_nothing(studio, tmp_path, qtbot):
    before = studio.doc.project
    panel = studio.motion_panel
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    with qtbot.waitSignal(panel.video_read, timeout=60000) as read:
        panel.open_video(tmp_path / "broken.mp4")
    assert read.args == [False] and len(studio.dialogs) == 1
    assert "broken.mp4" in studio.dialogs[-1][1] and "\n" not in studio.dialogs[-1][1]
    assert studio.doc.project is before and panel.video is None
    assert not panel.track_button.isEnabled() and not panel.progress.isVisible() and not panel.read_label.isVisible()


def _video(path, frames, size=(480, 272), fps=24):
    """A test video of `frames` frames: a bright square sliding over a gradient."""
    w, h = size
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=fps, macro_block_size=16, quality=5)
    writer.send(None)
    ramp = np.tile(np.linspace(0, 200, w, dtype=np.uint8)[None, :, None], (h, 1, 3))
    for f in range(frames):
        frame = ramp.copy()
        x = (f * 7) % (w - 40)
        frame[100:140, x : x + 40] = 255
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def _long_project(studio, frames=241):
    studio.doc.reset(replace(studio.doc.project, frames=frames))
    return studio.doc.project


def _wait_idle(qtbot, panel):
    qtbot.waitUntil(lambda: not panel.reading and panel.reader.worker is None, timeout=60000)


def test_a_long_video_reads_in_the_background_with_progress_while_the_window_answers(studio, tmp_path, qtbot):
    from PySide6.QtCore import QTimer

    _long_project(studio)
    panel = studio.motion_panel
    video = _video(tmp_path / "long.mp4", 241)
    seen: list[tuple[bool, str]] = []
    timer = QTimer(interval=0)  # fires only when the GUI thread gets back to its event loop
    timer.timeout.connect(lambda: seen.append((panel.reading, panel.read_label.text())))
    timer.start()
    bars: list[int] = []
    panel.progress.valueChanged.connect(bars.append)
    with qtbot.waitSignal(panel.video_read, timeout=60000) as read:
        assert panel.open_video(video)
        assert panel.reading and panel.cancel_button.isEnabled() and not panel.track_button.isEnabled()
    timer.stop()
    counts = [re.fullmatch(r"Reading long\.mp4: (\d+)/241 frames", text) for reading, text in seen if reading]
    done = sorted({int(m.group(1)) for m in counts if m})
    assert done and done[-1] <= 241  # the event loop ran during the read, and the dock said how far it was
    assert bars[-1] == 241 and bars == sorted(bars) and len(set(bars)) > 200  # the bar climbed frame by frame
    assert read.args == [True] and panel.video.shape[:3] == (241, 272, 480) and panel.video_path == video
    assert not panel.progress.isVisible() and not panel.read_label.isVisible()
    assert panel.track_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert "241 frames" in panel.lost_label.text()


def test_cancel_stops_the_read_and_leaves_the_dock_as_it_was(studio, tmp_path, qtbot):
    _long_project(studio)
    panel = studio.motion_panel
    with qtbot.waitSignal(panel.video_read, timeout=60000):
        panel.open_video(_video(tmp_path / "short.mp4", 9))
    before = (panel.video, panel.video_path, panel.lost_label.text(), panel.placed.copy())
    panel.open_video(_video(tmp_path / "long.mp4", 241))
    assert panel.progress.isVisible() and panel.cancel_button.isEnabled()
    panel.cancel_button.click()
    assert not panel.reading and not panel.progress.isVisible() and not panel.read_label.isVisible()
    _wait_idle(qtbot, panel)  # the worker has stopped: its frames, if any came, went nowhere
    qtbot.wait(50)
    assert panel.video is before[0] and panel.video_path == before[1] and panel.lost_label.text() == before[2]
    assert np.array_equal(panel.placed, before[3]) and panel.track_button.isEnabled()
    assert not panel.cancel_button.isEnabled() and not studio.dialogs


def test_a_read_for_another_project_or_an_older_video_is_dropped(studio, tmp_path, qtbot):
    project = _long_project(studio)
    panel = studio.motion_panel
    long, short = _video(tmp_path / "long.mp4", 241), _video(tmp_path / "short.mp4", 9, size=(320, 240))
    panel.open_video(long)
    studio.doc.reset(replace(project, tracks={}))  # what File > New and Open do
    assert not panel.reading and not panel.progress.isVisible()
    _wait_idle(qtbot, panel)
    qtbot.wait(50)
    assert panel.video is None and not panel.track_button.isEnabled()

    panel.open_video(long)
    with qtbot.waitSignal(panel.video_read, timeout=60000, check_params_cb=lambda ok: ok):
        panel.open_video(short)  # the long read is cancelled; the short one starts once it has stopped
    _wait_idle(qtbot, panel)
    assert panel.video_path == short and panel.video.shape[:3] == (9, 240, 320)
    assert "short.mp4: 9 frames" in panel.lost_label.text() and not studio.dialogs


def test_another_project_clears_the_video_and_its_tracking(studio, examples_dir, tmp_path, qtbot):
    panel = studio.motion_panel
    with qtbot.waitSignal(panel.video_read, timeout=60000):
        panel.open_video(_video(tmp_path / "short.mp4", 9))
    assert panel.track()
    qtbot.waitUntil(lambda: panel.track_worker is None, timeout=60000)
    assert panel.tracked is not None and panel.apply_track_button.isEnabled()
    studio.doc.reset(load_project(examples_dir / "fish.pasproj"))  # what File > New and Open do
    assert panel.video is None and panel.tracked is None and panel.view.image is None
    assert not panel.track_button.isEnabled() and not panel.apply_track_button.isEnabled()
    assert panel.lost_label.text() == ""


def test_a_read_whose_project_changed_frame_count_meanwhile_is_dropped(studio, tmp_path, qtbot):
    project = _long_project(studio)
    panel = studio.motion_panel
    messages: list[str] = []
    panel.status.connect(messages.append)
    with qtbot.waitSignal(panel.video_read, timeout=60000) as read:
        panel.open_video(_video(tmp_path / "long.mp4", 241))
        studio.doc.apply(replace(project, frames=121), "Frames")
    assert read.args == [False] and panel.video is None and not panel.track_button.isEnabled()
    assert any("long.mp4: the project changed while reading" in m for m in messages)


def test_closing_the_window_stops_a_read(studio, tmp_path, qtbot):
    _long_project(studio)
    panel = studio.motion_panel
    panel.open_video(_video(tmp_path / "long.mp4", 241))
    assert studio.stop_workers()  # what closing does: the read is cancelled and its thread has ended
    assert not panel.reading and panel.video is None
