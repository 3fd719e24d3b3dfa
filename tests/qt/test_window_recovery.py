"""After a crash: every autosave is offered back (untitled work too); killed saves' temporaries go at start-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from poseanything_studio.core import edits
from poseanything_studio.core.fileio import TEMP_TAG
from poseanything_studio.core.project import load_project
from poseanything_studio.qt import autosave

ROOT = Path(__file__).resolve().parents[2]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_every_autosave_is_offered_and_untitled_work_comes_back(studio, examples_dir, monkeypatch, untitled_folder):
    from PySide6.QtWidgets import QInputDialog

    doc = studio.doc
    doc.apply(edits.set_fps(doc.project, 12), "fps")
    titled = studio.autosave()
    untitled_project = load_project(examples_dir / "robot_arm.pasproj")
    other_run = autosave.autosave_path(None, session="4242-1")  # untitled work of an earlier run
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


def test_start_up_removes_temporaries_of_killed_saves(studio, examples_dir, untitled_folder):
    dead = _dead_pid()
    leftovers = [
        examples_dir / f".cat.pasproj{TEMP_TAG}{dead}-x1.tmp",
        examples_dir / f".cat.pasproj.autosave{TEMP_TAG}{dead}-x2.tmp",
        untitled_folder / f".untitled-1-2.pasproj.autosave{TEMP_TAG}{dead}-x3.tmp",
    ]
    alive = examples_dir / f".cat.pasproj{TEMP_TAG}{os.getpid()}-x4.tmp"
    for path in (*leftovers, alive):
        path.write_text("half")
    studio.offer_recovery()
    assert not any(p.exists() for p in leftovers) and alive.exists()


def _rows_mask(rows: int) -> np.ndarray:
    mask = np.zeros((480, 832), bool)
    mask[:rows] = True
    return mask


KILLED_AUTOSAVE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import numpy as np
    from poseanything_studio.core import edits
    from poseanything_studio.core.project import load_project
    from poseanything_studio.qt import autosave
    from poseanything_studio.qt.app import application
    from poseanything_studio.qt.main_window import MainWindow
    app = application()
    path, when = Path(sys.argv[1]), sys.argv[2]
    window = MainWindow(load_project(path))
    def mask(rows):
        m = np.zeros((480, 832), bool)
        m[:rows] = True
        return m
    window.doc.apply(edits.set_fps(window.doc.project, 12), "fps")
    window.doc.apply_mask(mask(100))
    assert window.autosave() is not None
    window.doc.apply(edits.set_fps(window.doc.project, 15), "fps")
    window.doc.apply_mask(mask(300))
    real = autosave.save_project
    def killed(project, target):
        if when == "before the side file":
            os.kill(os.getpid(), signal.SIGKILL)
        real(project, target)
        os.kill(os.getpid(), signal.SIGKILL)
    autosave.save_project = killed
    window.autosave()
""")


@pytest.mark.parametrize("when", ["before the side file", "after the side file"])
def test_an_autosave_killed_between_mask_and_side_file_recovers_the_mask_it_was_autosaved_with(
    studio, examples_dir, tmp_path, monkeypatch, when
):
    """Killed once the new mask is written but before the side file, recovery brings back the earlier autosave
    with its own mask; killed once the side file is written, the new one with the new mask."""
    from PySide6.QtWidgets import QMessageBox

    project = examples_dir / "cat.pasproj"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    env |= {"XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_AUTOSAVE, str(project), when],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    studio.doc.reset(load_project(project))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert studio.offer_recovery(only=project)
    fps, rows = (12, 100) if when == "before the side file" else (15, 300)
    assert studio.doc.project.fps == fps
    assert np.array_equal(studio.doc.mask, _rows_mask(rows))
    assert studio.save_to(project)
    assert not list(examples_dir.glob("*.autosave*"))  # the unused autosave mask goes with the side file


def test_an_autosave_that_fails_after_writing_the_mask_recovers_the_earlier_pair(studio, examples_dir, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    doc = studio.doc
    doc.apply(edits.set_fps(doc.project, 12), "fps")
    doc.apply_mask(_rows_mask(100))
    side = studio.autosave()
    doc.apply(edits.set_fps(doc.project, 15), "fps")
    doc.apply_mask(_rows_mask(300))

    def full_disk(project, target):
        raise OSError(28, "No space left on device", str(target))

    real = autosave.save_project
    monkeypatch.setattr(autosave, "save_project", full_disk)  # the new mask is written, then the side file fails
    assert studio.autosave() is None
    monkeypatch.setattr(autosave, "save_project", real)
    assert autosave.side_masks(side) == [autosave.autosave_mask_of(side)]  # the failed one's mask is gone
    doc.reset(load_project(examples_dir / "cat.pasproj"))  # restarted
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert studio.offer_recovery()
    assert doc.project.fps == 12 and np.array_equal(doc.mask, _rows_mask(100))
    assert "autosave_mask" not in doc.project.extra  # the side file's bookkeeping stays out of the project
