"""After a crash: every autosave is offered back (untitled work too); killed saves' temporaries go at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

from poseanything_studio.core import edits
from poseanything_studio.core.fileio import TEMP_TAG
from poseanything_studio.core.project import load_project
from poseanything_studio.qt import autosave


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_every_autosave_is_offered_and_untitled_work_comes_back(
    studio, examples_dir, monkeypatch, _private_untitled_folder
):
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


def test_start_up_removes_temporaries_of_killed_saves(studio, examples_dir, _private_untitled_folder):
    dead = _dead_pid()
    leftovers = [
        examples_dir / f".cat.pasproj{TEMP_TAG}{dead}-x1.tmp",
        examples_dir / f".cat.pasproj.autosave{TEMP_TAG}{dead}-x2.tmp",
        _private_untitled_folder / f".untitled-1-2.pasproj.autosave{TEMP_TAG}{dead}-x3.tmp",
    ]
    alive = examples_dir / f".cat.pasproj{TEMP_TAG}{os.getpid()}-x4.tmp"
    for path in (*leftovers, alive):
        path.write_text("half")
    studio.offer_recovery()
    assert not any(p.exists() for p in leftovers) and alive.exists()
