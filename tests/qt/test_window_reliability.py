"""The window with bad files and after crashes: dialogs instead of exceptions, the document untouched,
every autosave offered back, temporaries of killed saves removed at start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from poseanything_studio.core import edits
from poseanything_studio.core.fileio import TEMP_TAG
from poseanything_studio.core.project import load_project
from poseanything_studio.qt import main_window


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_project_whose_picture_cannot_be_read_is_a_dialog_and_the_document_stays(studio, examples_dir):
    data = json.loads((examples_dir / "cat.pasproj").read_text())
    (examples_dir / "broken.png").write_bytes(b"not a picture")
    (examples_dir / "broken.pasproj").write_text(json.dumps({**data, "image": "broken.png"}))
    before = studio.doc.project
    assert not studio.open_path(examples_dir / "broken.pasproj")
    assert studio.doc.project is before
    assert studio.dialogs and "broken.png" in studio.dialogs[-1][1] and "cannot decode" in studio.dialogs[-1][1]


def test_a_picture_broken_after_opening_paints_a_stand_in(studio, examples_dir, qtbot):
    told = []
    studio.preview.failed.connect(told.append)
    (examples_dir / "cat.png").write_bytes(b"gone bad")
    studio.preview._reference_cache = None  # as if the picture changed on disk since it was read
    studio.preview.result = None
    studio.canvas._image_path = None
    for tool in studio.tool_actions.values():  # every tool redraws; the camera tool reads the picture's size
        tool.setChecked(True)
    studio.canvas.refresh()
    studio.grab()  # paints every widget; pytest-qt fails the test if a paintEvent or slot raises
    assert told and "cat.png" in told[0] and "cannot decode" in told[0]


def test_every_autosave_is_offered_and_untitled_work_comes_back(studio, examples_dir, monkeypatch,
                                                                 _private_untitled_folder):
    from PySide6.QtWidgets import QInputDialog

    doc = studio.doc
    doc.apply(edits.set_fps(doc.project, 12), "fps")
    titled = studio.autosave()
    untitled_project = load_project(examples_dir / "robot_arm.pasproj")
    other_run = main_window.autosave_path(None, session="4242-1")  # untitled work of an earlier run
    from poseanything_studio.core.project import save_project

    save_project(untitled_project, other_run)
    doc.reset(load_project(examples_dir / "cat.pasproj"))  # restarted
    offered = []

    def choose(parent, title, text, labels, current, editable):
        offered.extend(labels)
        return next(label for label in labels if label.startswith("Untitled work")), True

    monkeypatch.setattr(QInputDialog, "getItem", choose)
    assert studio.offer_recovery()
    assert len(offered) == 2 and any(str(titled) in label for label in offered)
    assert doc.path is None and doc.project.rig == untitled_project.rig and doc.dirty
    assert studio.autosave() == other_run  # it keeps its autosave file until saved
    assert studio.save_to(examples_dir / "arm_recovered.pasproj")
    assert not other_run.exists()


def test_start_up_removes_temporaries_of_killed_saves(studio, examples_dir, _private_untitled_folder):
    dead = _dead_pid()
    leftovers = [examples_dir / f".cat.pasproj{TEMP_TAG}{dead}-x1.tmp",
                 examples_dir / f".cat.pasproj.autosave{TEMP_TAG}{dead}-x2.tmp",
                 _private_untitled_folder / f".untitled-1-2.pasproj.autosave{TEMP_TAG}{dead}-x3.tmp"]
    alive = examples_dir / f".cat.pasproj{TEMP_TAG}{os.getpid()}-x4.tmp"
    for path in (*leftovers, alive):
        path.write_text("half")
    studio.offer_recovery()
    assert not any(p.exists() for p in leftovers) and alive.exists()


def test_new_project_offers_to_downscale_a_huge_picture(studio, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from poseanything_studio.core import images

    picture = tmp_path / "big.png"
    Image.fromarray(np.full((300, 400, 3), 120, np.uint8)).save(picture)
    monkeypatch.setattr(images, "MAX_PIXELS", 30_000)  # 400x300 = 120,000 pixels: too large here
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(picture), ""))
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _p, title, *a, **k: asked.append(title) or QMessageBox.StandardButton.Yes)
    studio.doc.undo_stack.setClean()
    studio.new_project()
    assert "Picture too large" in asked
    image = studio.doc.project.resolve(studio.doc.project.image)
    assert image != picture and image.parent == tmp_path
    h, w = studio.doc.project.read_image().shape[:2]
    assert w * h <= 30_000 and abs(w / h - 4 / 3) < 0.05


def test_opening_a_project_with_a_huge_picture_offers_smaller_copies(studio, examples_dir, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from poseanything_studio.core import images
    from poseanything_studio.rendering.job import make_job

    original = load_project(examples_dir / "cat.pasproj")
    before = make_job(original, frames=5, size=(256, 160)).positions
    w, h = images.upright_size(examples_dir / "cat.png")
    monkeypatch.setattr(images, "MAX_PIXELS", w * h // 3)  # the cat is now 3x over the limit
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert studio.open_path(examples_dir / "cat.pasproj", ask=False)
    project = studio.doc.project
    assert project.image != original.image and (examples_dir / project.image).is_file()
    assert studio.doc.dirty  # the file on disk still names the large picture until saved
    after = make_job(project, frames=5, size=(256, 160)).positions
    assert np.abs(after - before).max() < 1.0  # joints moved with the picture: the same frames, in output pixels


def test_opening_a_project_reads_its_picture_once(studio, examples_dir, monkeypatch):
    """The picture is checked before the project replaces the open one; that read is the one the canvas shows."""
    from poseanything_studio.core import project as project_module
    from poseanything_studio.qt.app import open_window

    reads = []
    original = project_module.read_rgba
    monkeypatch.setattr(project_module, "read_rgba", lambda path: reads.append(path) or original(path))
    assert studio.open_path(examples_dir / "fish.pasproj", ask=False)
    studio.canvas.refresh()
    assert len(reads) == 1 and reads[0].name == "fish.png"
    window = open_window(str(examples_dir / "robot_arm.pasproj"))
    window.canvas.refresh()
    assert [p.name for p in reads[1:]] == ["robot_arm.png"]
    window.doc.undo_stack.setClean()
    window.close()
