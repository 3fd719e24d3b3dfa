"""Start the window: `run_window(project_path, screenshot)`, called by `poseanything-studio [PROJECT]`."""

from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import load_project

from .settings import APPLICATION, ORGANIZATION


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


def _dark_palette():
    from PySide6.QtGui import QColor, QPalette

    p = QPalette()
    role = QPalette.ColorRole
    for r, c in (
        (role.Window, (53, 53, 58)),
        (role.WindowText, (225, 225, 225)),
        (role.Base, (36, 36, 40)),
        (role.AlternateBase, (48, 48, 54)),
        (role.Text, (225, 225, 225)),
        (role.Button, (60, 60, 66)),
        (role.ButtonText, (225, 225, 225)),
        (role.Highlight, (255, 140, 0)),
        (role.HighlightedText, (20, 20, 20)),
        (role.ToolTipBase, (40, 40, 44)),
        (role.ToolTipText, (230, 230, 230)),
        (role.PlaceholderText, (130, 130, 130)),
    ):
        p.setColor(r, QColor(*c))
    p.setColor(QPalette.ColorGroup.Disabled, role.Text, QColor(120, 120, 120))
    p.setColor(QPalette.ColorGroup.Disabled, role.ButtonText, QColor(120, 120, 120))
    return p


def open_window(project_path: str | None, ask: bool = True):
    """The main window on `project_path`: a project, or a picture to start a new project on (default: the cat
    example); raises ProjectError for a bad file. `ask`: whether a dialog may ask (a picture too large)."""
    from poseanything_studio.core.framing import is_picture

    from .main_window import MainWindow, checked_pictures
    from .previews import PuppetPreview

    application()
    if project_path and is_picture(project_path):
        return _window_on_picture(Path(project_path), ask)
    preview = PuppetPreview()  # reads the picture once: to check it here, and to show it in the window
    project = checked_pictures(load_project(project_path), preview) if project_path else None
    window = MainWindow(project, preview=preview)
    if project is not None:
        window.add_recent(project.path)
    return window


def _window_on_picture(picture: Path, ask: bool):
    """The window on a new untitled project on `picture`; ProjectError when the picture cannot be read."""
    from poseanything_studio.core.images import ImageReadError, ImageTooLarge

    from .main_window import MainWindow, blank_project
    from .picture_start import show_new_picture, start_from_picture

    try:
        project = blank_project(picture)
    except ImageTooLarge as err:  # the window offers a smaller copy; declined, it stays on the example
        if not ask:
            raise ProjectError(str(err), source=str(picture)) from None
        window = MainWindow()
        if not start_from_picture(window, picture, ask=False):
            raise ProjectError("too large a picture (a smaller copy was declined)", source=str(picture)) from None
        return window
    except ImageReadError as err:
        raise ProjectError(str(err), source=str(picture)) from None
    window = MainWindow(project)
    show_new_picture(window, picture)
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

    from poseanything_studio.core.fileio import atomic_write_bytes

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


WARM_UP_DELAY_MS = 1500  # after the window is up, so its opening never waits on the compile


def warm_up_auto_rig() -> threading.Thread:
    """Compile skan's numba code in a background thread, so the first Auto-rig does not freeze for 15-30 s.

    skan caches its numba functions on disk (`cache=True`), but its jitclasses are compiled in every process
    (numba cannot cache them), and they are most of the time: measured 16-23 s on the first call in each new
    process, 0.03 s after. Runs Auto-rig's own code on a tiny plus-shaped mask; an Auto-rig asked meanwhile
    waits only for the rest of the compile (numba's lock). The GUI thread keeps running (GIL shared).
    """

    def compile_skan() -> None:
        import numpy as np

        from poseanything_studio.core.skeleton import skeleton_from_mask

        plus = np.zeros((40, 60), bool)
        plus[15:25, 5:55] = plus[5:35, 28:32] = True
        with contextlib.suppress(Exception):  # a warm-up never fails the window: Auto-rig reports its own errors
            skeleton_from_mask(plus)

    thread = threading.Thread(target=compile_skan, name="warm-up-auto-rig", daemon=True)
    thread.start()
    return thread


def run_window(project_path: str | None, screenshot: str | None = None) -> int:
    """Open the window; with `screenshot`, save a picture of it and exit. Returns the exit status."""
    app = application()
    try:
        window = open_window(project_path, ask=not screenshot)
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
    QTimer.singleShot(WARM_UP_DELAY_MS, warm_up_auto_rig)
    window.offer_recovery()
    return app.exec()
