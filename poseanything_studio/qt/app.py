"""Start the window: `run_window(project_path, screenshot)`, called by `poseanything-studio [PROJECT]`."""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QMessageBox

from ..core.errors import ProjectError
from ..core.project import load_project

ORGANIZATION = "PoseAnything"
APPLICATION = "PoseAnything Studio"
OLD_SETTINGS = ("PoseAnything", "Studio")  # where the window kept its settings before they took the app's name


def application() -> QApplication:
    """The QApplication (created once), named ORGANIZATION / APPLICATION, in the Fusion style, dark."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setApplicationName(APPLICATION)
        app.setOrganizationName(ORGANIZATION)
        app.setStyle("Fusion")
        app.setPalette(_dark_palette())
    return app


def studio_settings() -> QSettings:
    """The application's settings, under its organization and application names (the old keys copied over once)."""
    settings = QSettings(ORGANIZATION, APPLICATION)
    migrate_settings(QSettings(*OLD_SETTINGS), settings)
    return settings


def migrate_settings(old: QSettings, new: QSettings) -> bool:
    """Copy every key of `old` into `new` when `new` has none yet; True when something was copied."""
    keys = old.allKeys()
    if new.allKeys() or not keys:
        return False
    for key in keys:
        new.setValue(key, old.value(key))
    new.sync()
    return True


def _dark_palette():
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    role = QPalette.ColorRole
    for r, c in ((role.Window, (53, 53, 58)), (role.WindowText, (225, 225, 225)), (role.Base, (36, 36, 40)),
                 (role.AlternateBase, (48, 48, 54)), (role.Text, (225, 225, 225)), (role.Button, (60, 60, 66)),
                 (role.ButtonText, (225, 225, 225)), (role.Highlight, (255, 140, 0)),
                 (role.HighlightedText, (20, 20, 20)), (role.ToolTipBase, (40, 40, 44)),
                 (role.ToolTipText, (230, 230, 230)), (role.PlaceholderText, (130, 130, 130))):
        p.setColor(r, QColor(*c))
    p.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor(120, 120, 120))
    p.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor(120, 120, 120))
    return p


def open_window(project_path: str | None):
    """The main window on `project_path` (or the cat example); raises ProjectError for a bad file."""
    from .main_window import MainWindow, checked_pictures
    from .previews import PuppetPreview

    application()
    preview = PuppetPreview()  # reads the picture once: to check it here, and to show it in the window
    project = checked_pictures(load_project(project_path), preview) if project_path else None
    window = MainWindow(project, preview=preview)
    if project is not None:
        window._add_recent(project.path)
    return window


def save_screenshot(window, out: str) -> bool:
    """Lay the window out, wait for the puppet preview, and save a picture of the whole window."""
    app = application()
    window.show()
    for _ in range(5):
        app.processEvents()
    window.preview.request(window.doc.project, window.doc.mask, now=True)
    window.canvas.refresh()
    app.processEvents()
    return write_picture(window.grab(), Path(out))


def write_picture(pixmap, path: Path) -> bool:
    """`pixmap` as a PNG (or the format `path`'s extension names) at `path`, written atomically; False if not."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from ..core.fileio import atomic_write_bytes

    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not pixmap.save(buffer, (path.suffix.lstrip(".") or "png").upper()):
        return False
    try:
        atomic_write_bytes(path, bytes(data))
    except OSError:
        return False
    return True


def show_off(window) -> None:
    """For a picture: the playhead mid-way and the first animated joint selected, so curves show."""
    doc = window.doc
    doc.set_frame(doc.project.frames // 2)
    animated = [j for j in doc.project.rig.joint_ids if doc.project.tracks.get(j)]
    if animated:
        doc.select(joints=[animated[0]])


def run_window(project_path: str | None, screenshot: str | None = None) -> int:
    """Open the window; with `screenshot`, save a picture of it and exit. Returns the exit status."""
    app = application()
    try:
        window = open_window(project_path)
    except ProjectError as err:
        if screenshot:
            print(f"poseanything-studio: {err}", file=sys.stderr)
            return 2
        QMessageBox.critical(None, "Cannot open project", str(err))
        from .main_window import MainWindow
        window = MainWindow()
    if screenshot:
        show_off(window)
        ok = save_screenshot(window, screenshot)
        window.doc.undo_stack.setClean()
        window.keep_layout = False  # a picture taken offscreen is not the layout the user left
        window.close()
        if not ok:
            print(f"poseanything-studio: could not write {screenshot}", file=sys.stderr)
            return 2
        print(screenshot)
        return 0
    window.restore_layout()  # the size, place and docks of the last run (a screenshot keeps the built-in ones)
    window.show()
    window.offer_recovery()
    return app.exec()
