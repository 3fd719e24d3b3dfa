"""Starting from one's own picture: the command line, a drop, File > New from picture and Recent."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from poseanything_studio.core.camera import apply_affine
from poseanything_studio.core.images import cover_matrix
from poseanything_studio.qt.picture_start import open_any

ROOT = Path(__file__).resolve().parents[2]


def drawing(path: Path, shape=(750, 1000), feet_row: int = 742) -> Path:
    """A four-legged drawing on transparency whose ears and feet come close to the picture's edges."""
    h, w = shape
    rgba = np.zeros((h, w, 4), np.uint8)
    cv2.ellipse(rgba, (w // 2, h // 2), (w // 3, h // 5), 0, 0, 360, (60, 140, 220, 255), -1)
    for x in (w // 3, 2 * w // 3):
        cv2.rectangle(rgba, (x - 12, h // 2), (x + 12, feet_row), (40, 90, 160, 255), -1)  # legs
    cv2.rectangle(rgba, (w // 2 - 10, 6), (w // 2 + 10, h // 2), (40, 90, 160, 255), -1)  # an ear
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    return path


def shows_whole_subject(project, picture: Path) -> bool:
    rgba = cv2.imread(str(picture), cv2.IMREAD_UNCHANGED)
    ys, xs = np.nonzero(rgba[..., 3] > 127)
    corners = np.array([[xs.min(), ys.min()], [xs.max() + 1, ys.max() + 1]], float)
    out = apply_affine(cover_matrix((rgba.shape[1], rgba.shape[0]), project.size), corners)
    return bool((out >= -1e-6).all() and (out[:, 0] <= project.size[0]).all() and (out[:, 1] <= project.size[1]).all())


def drop(window, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    target = window.canvas.viewport()
    enter = QDragEnterEvent(
        QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted()
    event = QDropEvent(
        QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(target, event)


def test_new_from_picture_frames_the_whole_subject(studio, tmp_path, monkeypatch):
    picture = drawing(tmp_path / "pig.png")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(picture), ""))
    studio.new_project()
    project = studio.doc.project
    assert Path(project.image) == picture.resolve() and project.path is None and not project.rig.joints
    assert project.size[0] % 32 == 0 and project.size[1] % 32 == 0
    assert shows_whole_subject(project, picture)  # 832x480, the old choice, cut the feet and the ear
    assert studio.tool_actions["rig"].isChecked()
    assert str(picture.resolve()) in studio.recent_files()


def test_dropping_a_picture_starts_a_project_and_dropping_a_project_opens_it(studio, tmp_path, examples_dir):
    picture = drawing(tmp_path / "mine.png")
    drop(studio, picture)
    assert Path(studio.doc.project.image) == picture.resolve() and studio.doc.project.path is None
    drop(studio, examples_dir / "fish.pasproj")
    assert studio.doc.path == examples_dir / "fish.pasproj"


def test_a_recent_picture_opens_a_new_project_on_it(studio, tmp_path):
    picture = drawing(tmp_path / "recent.png")
    studio.add_recent(picture)
    studio.fill_recent()
    action = next(a for a in studio.recent_menu.actions() if a.text() == str(picture))
    action.trigger()
    assert Path(studio.doc.project.image) == picture.resolve() and studio.doc.project.path is None


def test_a_broken_picture_says_so_and_keeps_the_open_project(studio, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    before = studio.doc.project
    assert not open_any(studio, bad)
    assert studio.doc.project is before
    assert studio.dialogs and "broken.png" in studio.dialogs[-1][1]


def test_fit_output_to_subject_follows_the_mask_the_user_makes(studio, tmp_path):
    from poseanything_studio.qt.picture_start import fit_output_to_subject

    picture = tmp_path / "photo.png"
    photo = np.full((600, 1000, 3), 200, np.uint8)
    cv2.imwrite(str(picture), photo)
    assert open_any(studio, picture, ask=False)
    studio.doc.apply(replace(studio.doc.project, size=(832, 448)), "Render settings")  # the user's size
    mask = np.zeros((600, 1000), bool)
    mask[5:596, 430:570] = True  # a tall subject painted in the middle of a wide photo
    studio.doc.apply_mask(mask)
    box = np.array([[430, 5], [570, 596]], float)
    assert apply_affine(cover_matrix((1000, 600), (832, 448)), box)[0, 1] < 0  # 832x448 cuts its head and feet
    fit_output_to_subject(studio)
    project = studio.doc.project
    assert project.size[0] % 32 == 0 and project.size[1] % 32 == 0
    out = apply_affine(cover_matrix((1000, 600), project.size), box)
    assert (out >= 0).all() and out[1, 0] <= project.size[0] and out[1, 1] <= project.size[1]
    studio.doc.undo_stack.undo()  # one undo step
    assert studio.doc.project.size == (832, 448)


def test_command_line_picture_opens_the_window_on_it(tmp_path):
    picture = drawing(tmp_path / "photo.png")
    shot = tmp_path / "shot.png"
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "poseanything_studio", str(picture), "--screenshot", str(shot)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "codec can't decode" not in proc.stderr and shot.is_file()


def test_without_a_display_the_window_says_so_in_one_line(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "poseanything_studio"], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "display" in lines[0] and "Traceback" not in proc.stderr


def test_display_problem_reads_the_environment():
    from poseanything_studio.qt.syslibs import display_problem

    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert "DISPLAY" in display_problem({})
    assert display_problem({"DISPLAY": ":0"}, can_connect=lambda d: True) is None
    assert "':9'" in display_problem({"DISPLAY": ":9"}, can_connect=lambda d: False)
