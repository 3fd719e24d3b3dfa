"""The Motion dock in the window: an imported clip, a preset and a tracked reference video each arrive as one
undo step; a bad file is a dialog and changes nothing; tracking shows progress and can be cancelled."""

from __future__ import annotations

from dataclasses import replace

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
    assert panel.open_video(tmp_path / "fish.mp4")
    assert panel.video.shape[0] == 25
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


def test_a_reference_video_that_cannot_be_read_is_a_dialog_and_changes_nothing(studio, tmp_path):
    before = studio.doc.project
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all")
    assert not studio.motion_panel.open_video(tmp_path / "broken.mp4")
    assert studio.dialogs and "broken.mp4" in studio.dialogs[-1][1] and "\n" not in studio.dialogs[-1][1]
    assert studio.doc.project is before and studio.motion_panel.video is None
    assert not studio.motion_panel.track_button.isEnabled()
