"""Starting from a picture: File > New from picture, a picture on the command line, in Recent, or dropped.

A picture opens a new untitled project on it (core.framing picks a size that shows the whole subject); a
project file opens as File > Open does. `open_any` tells them apart by the file's first bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QMessageBox

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.framing import is_picture, picture_framing
from poseanything_studio.core.images import ImageReadError

NEW_PICTURE_HINT = "Click to add joints, or Rig ▸ Add template; Rig ▸ Auto-rig grows one from the subject mask"


def open_any(window, path: str | os.PathLike, ask: bool = True) -> bool:
    """Open `path` in `window`: a picture starts a new project on it, anything else opens as a project."""
    if is_picture(path):
        return start_from_picture(window, Path(path), ask=ask)
    return window.open_path(path, ask=ask)


def start_from_picture(window, picture: Path, ask: bool = True) -> bool:
    """A new untitled project on `picture` in `window` (after asking to save the open one when `ask`)."""
    if ask and not window.maybe_save():
        return False
    try:
        project = window.blank_project_offering_downscale(picture)
    except (ProjectError, ImageReadError) as err:
        QMessageBox.critical(window, "Cannot use this picture", str(err))
        window.statusBar().showMessage(str(err), 10000)
        return False
    if project is None:
        return False
    window.autosaves.discard()
    window.set_project(project)
    show_new_picture(window, picture)
    return True


def show_new_picture(window, picture: Path) -> None:
    """The window ready to rig a new picture: the Rig tool, setup mode, a hint, and the picture in Recent."""
    window.tool_actions["rig"].setChecked(True)
    window.act_animate.setChecked(False)
    window.add_recent(picture.resolve())
    window.statusBar().showMessage(NEW_PICTURE_HINT, 10000)


def fit_output_to_subject(window) -> None:
    """Size the output (one undo step) so its frame shows the whole subject mask in use, with a margin."""
    from dataclasses import replace

    doc = window.doc
    reference = window.preview.shown_reference(doc.project)
    mask = window.canvas.current_mask()
    framing = picture_framing((reference.shape[1], reference.shape[0]), mask)
    project = replace(
        doc.project,
        size=framing.size,
        camera=framing.camera if framing.camera.keys else _without_zoom_out(doc.project.camera),
    )
    if project == doc.project:
        window.statusBar().showMessage(
            f"The output ({framing.size[0]}x{framing.size[1]}) already shows the whole subject", 5000
        )
        return
    doc.apply(project, "Fit output to subject")
    window.statusBar().showMessage(
        f"Output {framing.size[0]}x{framing.size[1]}: the whole subject with a margin (Ctrl+Z to undo)", 8000
    )


def _without_zoom_out(camera):
    """The camera, less a lone still zoom-out key at frame 0 (what an earlier fit added); any other path as is."""
    keys = camera.keys
    if (
        len(keys) == 1
        and keys[0].frame == 0
        and keys[0].pan == (0.0, 0.0)
        and keys[0].roll == 0.0
        and keys[0].zoom < 1.0
    ):
        return type(camera)()
    return camera


class DropOpener(QObject):
    """Event filter for the main window: a picture or project dropped on it opens (the first file, if several)."""

    def __init__(self, window, *more_widgets):
        super().__init__(window)
        self.window = window
        for widget in (window, *more_widgets):  # the canvas's viewport takes drops itself, so it is watched too
            widget.setAcceptDrops(True)
            widget.installEventFilter(self)

    @staticmethod
    def dropped_path(mime) -> Path | None:
        """The first local file a drop carries, or None."""
        for url in mime.urls() if mime.hasUrls() else []:
            if url.isLocalFile():
                return Path(url.toLocalFile())
        return None

    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            if self.dropped_path(event.mimeData()) is not None:
                event.acceptProposedAction()
                return True
        elif kind == QEvent.Type.Drop:
            path = self.dropped_path(event.mimeData())
            if path is not None:
                event.acceptProposedAction()
                open_any(self.window, path)
                return True
        return False
