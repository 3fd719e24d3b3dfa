"""Shared fixtures: offscreen Qt, example projects copied to a temporary folder, tiny hand-made projects."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from helpers import write_arm_project

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Settings, recent files and autosaves of every window the tests open (in this process and in the processes they
# start) go to a folder of this run, never the user's own (Qt reads these on Linux).
_PRIVATE_HOME = tempfile.mkdtemp(prefix="pas-tests-")
for _name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
    os.environ[_name] = os.path.join(_PRIVATE_HOME, _name.lower())

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "resources" / "examples"


@pytest.fixture
def examples_dir(tmp_path: Path) -> Path:
    """A copy of resources/examples, so tests may write beside the projects."""
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return target


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """One tiny random PoseAnything model folder (with its checkpoint) for the whole run; tests only read it."""
    from poseanything_studio.commands.model import main as model_main

    folder = tmp_path_factory.mktemp("tiny") / "model"
    assert model_main(["tiny", str(folder)]) == 0
    return folder


@pytest.fixture
def arm_project(tmp_path: Path) -> Path:
    return write_arm_project(tmp_path)


@pytest.fixture
def studio(examples_dir: Path, tmp_path: Path, qtbot, monkeypatch):
    """The studio window on a copy of the cat example, with settings in tmp_path and no modal dialogs."""
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QMessageBox

    from poseanything_studio.core.project import load_project
    from poseanything_studio.qt.main_window import MainWindow

    dialogs: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _p, title, text, *a, **k: dialogs.append((title, text)))
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, title, text, *a, **k: dialogs.append((title, text)))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(load_project(examples_dir / "cat.pasproj"), settings=settings)
    window.dialogs = dialogs
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.preview.request(window.doc.project, window.doc.mask, now=True)
    yield window
    window.doc.undo_stack.setClean()
    window.render_panel.controller.cancel()
