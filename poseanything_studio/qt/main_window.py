"""The main window: canvas in the middle, timeline and curves below, render panel on the right.

Files: New / Open / Save / Save As / recent files; a failed load shows the error line and leaves
the open project alone; autosave to a side file every minute; a recovery offer when a side file is
newer than its project; a question before closing with unsaved changes.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QByteArray, QSettings, QStandardPaths, Qt, QThreadPool, QTimer
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QFrame,
    QInputDialog,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QToolBar,
)

from ..bundled import default_example, examples_dir
from ..core import edits
from ..core.edits import CAMERA_ROW
from ..core.errors import ProjectError
from ..core.fileio import TEMP_TAG, atomic_path, remove_stale_temps
from ..core.framing import alpha_subject, picture_framing
from ..core.images import ImageReadError, ImageTooLarge, downscaled_copy, read_mask, read_rgba
from ..core.parts import grabcut_mask
from ..core.project import Project, load_project, project_bytes, rescaled_picture, save_project
from ..core.rig import Rig
from ..core.skeleton import auto_rig_warning, skeleton_from_mask
from ..core.templates import fitted, load_templates
from . import posing
from .busy import BusyTask
from .canvas import Canvas
from .curves import CurveEditor
from .document import Document
from .keys import FieldKeys
from .motion_panel import MotionPanel
from .picture_start import DropOpener, fit_output_to_subject, open_any, start_from_picture
from .previews import PuppetPreview
from .render_panel import RenderPanel
from .settings import APPLICATION, studio_settings
from .timeline import Playback, TimelinePanel

APP_NAME = APPLICATION
AUTOSAVE_MS = 60_000
RECENT_MAX = 8
CLOSE_WAIT_MS = 60_000  # closing waits this long at most for background work to end
LAYOUT_VERSION = 2  # raise when docks or toolbars change, so a layout saved by an older version is not applied


def untitled_example() -> Project:
    """The bundled cat example as untitled work: Save asks where, so nothing is written inside the package."""
    project = load_project(default_example())
    mask = str(project.resolve(project.subject_mask)) if project.subject_mask else None
    return replace(project, image=str(project.resolve(project.image)), subject_mask=mask, path=None)


AUTOSAVE_SUFFIX = ".autosave"
UNTITLED_STEM = "untitled"
_SESSION = f"{os.getpid()}-{int(time.time())}"  # names this run's untitled autosave, so two runs never share one


def untitled_folder() -> Path:
    """Where autosaves of untitled work live (the application's data folder)."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or Path.home())


def autosave_path(project_path: Path | None, session: str = _SESSION) -> Path:
    """The side file autosave writes: `NAME.pasproj.autosave` beside the project, or one per run for untitled work."""
    if project_path is not None:
        return project_path.with_name(project_path.name + AUTOSAVE_SUFFIX)
    return untitled_folder() / f"{UNTITLED_STEM}-{session}.pasproj{AUTOSAVE_SUFFIX}"


def found_autosaves(project_paths: list[Path]) -> list[Path]:
    """Every autosave worth offering, newest first: untitled ones, and those newer than their project."""
    found = []
    with contextlib.suppress(OSError):
        found += [p for p in untitled_folder().glob(f"{UNTITLED_STEM}*.pasproj{AUTOSAVE_SUFFIX}") if p.is_file()]
    for project_path in dict.fromkeys(project_paths):
        side = autosave_path(project_path)
        with contextlib.suppress(OSError):
            if side.is_file() and (not project_path.is_file() or side.stat().st_mtime > project_path.stat().st_mtime):
                found.append(side)
    return sorted(dict.fromkeys(found), key=lambda p: p.stat().st_mtime, reverse=True)


def project_of_autosave(side: Path) -> Path | None:
    """The project a side file belongs to (None for untitled work)."""
    if side.parent == untitled_folder() and side.name.startswith(UNTITLED_STEM):  # also the one name of old versions
        return None
    return side.with_name(side.name.removesuffix(AUTOSAVE_SUFFIX))


def clean_stale_temps(project_paths: list[Path]) -> None:
    """Remove what killed saves and autosaves left: beside each project, and in the untitled folder."""
    for project_path in dict.fromkeys(project_paths):
        for target in (project_path, autosave_path(project_path), autosave_mask_path(project_path)):
            remove_stale_temps(target)
    with contextlib.suppress(OSError):
        for side in untitled_folder().glob(f"*{TEMP_TAG}*"):
            remove_stale_temps(side.parent / side.name[1:side.name.index(TEMP_TAG)])


def checked_pictures(project: Project, preview: PuppetPreview) -> Project:
    """`project` once its picture and subject mask read (ProjectError otherwise), so a bad file never replaces
    the open document and nothing fails later in painting; the picture read is kept for the preview."""
    preview.reference(project)
    project.read_subject_mask()
    return project


def autosave_mask_path(project_path: Path | None) -> Path:
    """The side PNG that holds a painted, unsaved subject mask beside the autosave file."""
    return mask_side(autosave_path(project_path))


def mask_side(side: Path) -> Path:
    """The painted-mask PNG that goes with the autosave file `side`."""
    return side.with_name(side.name + ".mask.png")


def blank_project(image: Path) -> Project:
    """A new project on a picture: no rig yet, 49 frames, a frame showing the whole subject (core.framing: the
    picture's shape, the subject its alpha shows, or the whole picture).

    ImageTooLarge passes through (the caller offers a downscale); other problems are a ProjectError.
    """
    try:
        rgba = read_rgba(image)
        h, w = rgba.shape[:2]
    except ImageTooLarge:
        raise
    except ImageReadError as err:
        raise ProjectError(str(err), source=str(image)) from None
    framing = picture_framing((w, h), alpha_subject(rgba))
    return Project(image=str(image.resolve()), rig=Rig(), size=framing.size, camera=framing.camera)


class _StackButton(QAction):
    """A toolbar Undo or Redo whose text stays put; the command it would run is in its tooltip."""

    def show_command(self, command: str) -> None:
        self.setToolTip(f"{self.text()} {command}".strip())


class MainWindow(QMainWindow):
    """PoseAnything Studio's window over one Document."""

    def __init__(self, project: Project | None = None, settings: QSettings | None = None,
                 preview: PuppetPreview | None = None):
        """`preview`: one that already holds the project's picture (`checked_pictures` read it), else a new one."""
        super().__init__()
        self.settings = settings or studio_settings()
        self.keep_layout = True  # closing saves the geometry and dock layout into the settings
        self.doc = Document(project or untitled_example())
        self.untitled_side: Path | None = None  # an untitled autosave recovered from another run
        self.preview = preview or PuppetPreview()
        self.preview.setParent(self)
        self.playback = Playback(self.doc, self)
        self.canvas = Canvas(self.doc, self.preview)
        self.setCentralWidget(self.canvas)
        self._make_docks()
        self._make_actions()
        self._make_menus()
        self._make_toolbar()
        posing.install(self)  # Rotate tool, pins, copy/paste/mirror a pose, loops: qt/posing.py
        self.canvas.play_toggle_requested.connect(self.playback.toggle)
        self.canvas.status_message.connect(lambda m: self.statusBar().showMessage(m, 5000))
        self.busy = BusyTask(self)  # auto-rig and mask-from-rig run off the GUI thread
        self.busy.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.busy.running_changed.connect(lambda on: [a.setEnabled(not on) for a in (self.act_auto_rig,
                                                                                     self.act_mask_from_rig)])
        self._field_keys = FieldKeys(self)  # Tab in a text or number field moves focus, never toggles the mode
        QApplication.instance().installEventFilter(self._field_keys)
        self.render_panel.status.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.motion_panel.status.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.preview.failed.connect(lambda m: self.statusBar().showMessage(f"Preview: {m}", 8000))
        self.doc.undo_stack.cleanChanged.connect(self._update_title)
        self.doc.path_changed.connect(self._update_title)
        self.doc.selection_changed.connect(self._show_selection_status)
        self.doc.refused.connect(lambda m: self.statusBar().showMessage(m, 10000))
        self.autosave_timer = QTimer(self, interval=AUTOSAVE_MS)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start()
        self.drops = DropOpener(self, self.canvas.viewport())  # a picture or project dropped on the window opens
        self.resize(1500, 920)
        self._update_title()
        self.canvas.refresh()

    # -- layout -----------------------------------------------------------------------------------
    def _dock(self, title: str, widget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def restore_layout(self) -> None:
        """The size, place and dock layout the window had when it was last closed (if saved, same layout version)."""
        geometry, state = self.settings.value("window/geometry"), self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state, LAYOUT_VERSION)

    def save_layout(self) -> None:
        """Keep the window's size, place and dock layout in the settings for the next run."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def _make_docks(self) -> None:
        self.timeline = TimelinePanel(self.doc, self.playback)
        self.curves = CurveEditor(self.doc)
        self.render_panel = RenderPanel(self.doc)
        bottom = Qt.DockWidgetArea.BottomDockWidgetArea
        self.timeline_dock = self._dock("Timeline", self.timeline, bottom)
        self.curves_dock = self._dock("Curves", self.curves, bottom)
        self.splitDockWidget(self.timeline_dock, self.curves_dock, Qt.Orientation.Horizontal)
        # scrolled, so the neural settings never push the window past a laptop screen's height
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.render_panel)
        bar_width = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(self.render_panel.minimumSizeHint().width() + bar_width)
        self.render_dock = self._dock("Render", scroll, Qt.DockWidgetArea.RightDockWidgetArea)
        self.motion_panel = MotionPanel(self.doc)  # import, presets, reference-video tracking
        self.motion_dock = self._dock("Motion", self.motion_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.render_dock, self.motion_dock)
        self.render_dock.raise_()
        self.resizeDocks([self.timeline_dock, self.curves_dock], [900, 500], Qt.Orientation.Horizontal)
        self.resizeDocks([self.timeline_dock], [270], Qt.Orientation.Vertical)
        self.resizeDocks([self.render_dock], [380], Qt.Orientation.Horizontal)

    def _action(self, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        act = QAction(text, self, checkable=checkable)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setToolTip(f"{tip or text} ({act.shortcut().toString()})" if shortcut else (tip or text))
        act.setStatusTip(tip or text)
        (act.toggled if checkable else act.triggered).connect(slot)
        self.addAction(act)
        return act

    def _make_actions(self) -> None:
        a, doc = self._action, self.doc
        K = QKeySequence.StandardKey
        self.act_new = a("&New from picture…", self.new_project, K.New,
                         "New project on a picture of yours (or drop one on the window)")
        self.act_open = a("&Open…", self.open_dialog, K.Open)
        self.act_save = a("&Save", self.save, K.Save)
        self.act_save_as = a("Save &As…", self.save_as, K.SaveAs)
        self.act_quit = a("&Quit", self.close, K.Quit)
        self.act_undo = doc.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_redo = doc.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.act_select_all = a("Select &all joints", self.select_all, "Ctrl+A")
        self.act_delete = a("&Delete", self.delete_selection, QKeySequence(Qt.Key.Key_Delete),
                            "Delete the selected keys, or else the selected joints and bones")
        self.act_delete.setShortcuts([QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)])
        self.act_rename = a("&Rename joint…", self.rename_selected, "F2")
        self.act_insert_key = a("&Insert key", self.insert_key, "I",
                                "Key the selected joints (or camera row) at the playhead; all joints if none")
        self.act_play = a("&Play / pause", self.playback.toggle, "Space")
        self.act_prev = a("Previous frame", lambda: doc.set_frame(doc.frame - 1), "Left")
        self.act_next = a("Next frame", lambda: doc.set_frame(doc.frame + 1), "Right")
        self.act_first = a("First frame", lambda: doc.set_frame(0), "Home")
        self.act_last = a("Last frame", lambda: doc.set_frame(doc.project.frames - 1), "End")
        self.act_prev_key = a("Previous key", lambda: self._jump_key(-1), "Shift+Left")
        self.act_next_key = a("Next key", lambda: self._jump_key(1), "Shift+Right")
        self.act_fit = a("&Fit picture", self.canvas.fit, "F")
        self.act_mask_from_rig = a("Mask from &rig", self.mask_from_rig, None,
                                   "Derive the subject mask from the rig (GrabCut seeded by the bones)")
        self.act_auto_rig = a("&Auto-rig from mask", self.auto_rig, None,
                              "Add a rig grown along the subject mask's medial axis (core.skeleton)")
        self.act_clear_mask = a("Clear painted mask", lambda: doc.apply_mask(None, "Clear painted mask"))
        self.act_animate = a("Animate mode", self._set_animate, "Tab",
                             "Animate: drags key the joints at the playhead. Off (setup): drags edit the rest pose",
                             checkable=True)
        self.act_animate.setChecked(True)
        self.tool_actions = {}
        group = QActionGroup(self)
        for tool, text, key, tip in (
                ("select", "Select", "V", "Select and move joints (drag), box-select, Alt-drag moves the whole rig, "
                                          "Alt+wheel scales the selection"),
                ("rig", "Rig", "J", "Click: add a joint (joined to the selected one). Drag joint → joint: add a bone"),
                ("camera", "Camera", "C", "Drag: pan the camera, wheel: zoom, Shift+wheel: roll (keys the camera row)"),
                ("brush", "Mask brush", "B", "Paint the subject mask; right-drag or Alt erases; [ and ] size")):
            act = a(text, lambda on, t=tool: on and self.canvas.set_tool(t), key, tip, checkable=True)
            group.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions["select"].setChecked(True)
        self.overlay_actions = {}
        for name, text, key in (("puppet", "Puppet preview", "P"), ("onion", "Onion skin", "O"),
                                ("mask", "Subject mask", "M"), ("parts", "Part masks", "Shift+M"),
                                ("camera", "Camera frame", "Shift+C")):
            act = a(text, lambda on, n=name: self.canvas.set_overlay(n, on), key, checkable=True)
            act.setChecked(self.canvas.overlays[name])
            self.overlay_actions[name] = act

    def _make_menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addActions([self.act_new, self.act_open])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        m.addActions([self.act_save, self.act_save_as])
        m.addSeparator()
        m.addAction("Export…", self.render_panel.export_dialog)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = bar.addMenu("&Edit")
        m.addActions([self.act_undo, self.act_redo])
        m.addSeparator()
        m.addActions([self.act_select_all, self.act_delete, self.act_rename])
        m = bar.addMenu("&Rig")
        m.addActions(list(self.tool_actions.values()))
        m.addSeparator()
        templates = m.addMenu("Add &template")
        for template in load_templates():
            act = templates.addAction(template.name, lambda t=template: self.add_template(t))
            act.setStatusTip(template.description)
        m.addAction(self.act_auto_rig)
        m.addSeparator()
        m.addActions([self.act_mask_from_rig, self.act_clear_mask])
        m.addSeparator()
        m.addAction("Fit output to subject", lambda: fit_output_to_subject(self)).setStatusTip(
            "Size the output so its frame shows the whole subject mask with a margin")
        m = bar.addMenu("&Animate")
        m.addActions([self.act_animate, self.act_insert_key])
        interp = m.addMenu("Key interpolation")
        for name in ("step", "linear", "smooth"):
            interp.addAction(name, lambda n=name: self.timeline.dopesheet.set_interp(n))
        m.addSeparator()
        m.addActions([self.act_play, self.act_prev, self.act_next, self.act_prev_key, self.act_next_key,
                      self.act_first, self.act_last])
        m = bar.addMenu("&View")
        m.addActions(list(self.overlay_actions.values()))
        m.addSeparator()
        m.addAction(self.act_fit)
        for dock in (self.timeline_dock, self.curves_dock, self.render_dock):
            m.addAction(dock.toggleViewAction())

    def _make_toolbar(self) -> None:
        bar = QToolBar("Tools", objectName="Tools")
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.addToolBar(bar)
        bar.addActions([self.act_open, self.act_save])
        bar.addSeparator()
        bar.addActions(self._undo_buttons())
        bar.addSeparator()
        bar.addActions(list(self.tool_actions.values()))
        bar.addSeparator()
        bar.addAction(self.act_animate)
        bar.addAction(self.act_insert_key)
        bar.addSeparator()
        bar.addActions(list(self.overlay_actions.values()))
        bar.addSeparator()
        bar.addActions([self.act_mask_from_rig, self.act_fit])

    def _undo_buttons(self) -> list[QAction]:
        """Toolbar Undo / Redo with fixed text, so the buttons after them never shift as the undo text
        changes; what they would undo or redo is in their tooltips (the Edit menu shows it in full)."""
        stack = self.doc.undo_stack
        buttons = []
        for text, slot, can, changed, has in (("Undo", stack.undo, stack.canUndoChanged, stack.undoTextChanged,
                                               stack.canUndo),
                                              ("Redo", stack.redo, stack.canRedoChanged, stack.redoTextChanged,
                                               stack.canRedo)):
            act = _StackButton(text, self, enabled=has())
            act.triggered.connect(slot)
            can.connect(act.setEnabled)
            changed.connect(act.show_command)
            buttons.append(act)
        return buttons

    # -- title and status ------------------------------------------------------------------------
    def _update_title(self, *_args) -> None:
        name = self.doc.path.name if self.doc.path else "untitled"
        self.setWindowTitle(f"{name}[*] — {APP_NAME}")
        self.setWindowModified(self.doc.dirty)

    def _show_selection_status(self) -> None:
        d = self.doc
        parts = []
        if d.selected_joints:
            parts.append(f"{len(d.selected_joints)} joint(s): {', '.join(d.selected_joints[:4])}"
                         + ("…" if len(d.selected_joints) > 4 else ""))
        if d.selected_keys:
            parts.append(f"{len(d.selected_keys)} key(s)")
        self.statusBar().showMessage(" · ".join(parts) or "Ready")

    # -- edits -----------------------------------------------------------------------------------
    def _set_animate(self, on: bool) -> None:
        self.canvas.animate = on
        self.act_animate.setText("Animate mode" if on else "Setup mode")
        self.statusBar().showMessage("Animate: drags key joints at the playhead" if on else
                                     "Setup: drags edit the rest pose", 4000)

    def select_all(self) -> None:
        rig = self.doc.project.rig
        self.doc.select(joints=rig.joint_ids, bones=rig.bone_ids)

    def delete_selection(self) -> None:
        """Delete selected keys if any, else selected joints and bones."""
        d = self.doc
        if d.selected_keys:
            d.apply(edits.delete_keys(d.project, d.selected_keys), "Delete keys")
            d.select_keys([])
        elif d.selected_joints or d.selected_bones:
            only_bones = d.selected_bones and all(
                any(b.id in d.selected_bones for b in d.project.rig.bones if j in (b.a, b.b))
                for j in d.selected_joints) and len(d.selected_joints) <= 2 * len(d.selected_bones)
            joints = () if only_bones and len(d.selected_bones) == 1 else d.selected_joints
            d.apply(edits.delete_rig_items(d.project, joints, d.selected_bones), "Delete")
            d.select()

    def rename_selected(self) -> None:
        if len(self.doc.selected_joints) == 1:
            self.timeline.dopesheet.rename(self.doc.selected_joints[0])
        elif len(self.doc.selected_bones) == 1:
            old = self.doc.selected_bones[0]
            new, ok = QInputDialog.getText(self, "Rename bone", "New name:", text=old)
            if ok and new.strip():
                try:
                    self.doc.apply(edits.rename_bone(self.doc.project, old, new.strip()), f"Rename {old}")
                except ProjectError as err:
                    self.statusBar().showMessage(str(err), 5000)

    def insert_key(self) -> None:
        """Key the selected rows (joints or the camera) at the playhead; every joint when none is selected."""
        d = self.doc
        rows = list(d.selected_rows) or list(d.selected_joints) or list(d.project.rig.joint_ids)
        if not d.apply(edits.insert_keys(d.project, rows, d.frame), f"Insert key at {d.frame}"):
            return
        d.select_keys([(r, d.frame) for r in rows if r == CAMERA_ROW or r in d.project.rig.joint_ids])

    def _jump_key(self, direction: int) -> None:
        d = self.doc
        rows = list(d.selected_rows) or [CAMERA_ROW, *d.project.rig.joint_ids]
        frames = sorted({f for r in rows for f in edits.key_frames(d.project, r)})
        nxt = [f for f in frames if (f > d.frame if direction > 0 else f < d.frame)]
        if nxt:
            d.set_frame(nxt[0] if direction > 0 else nxt[-1])

    def add_template(self, template) -> None:
        """Place a template over the subject, fitted to its mask (joints inside, limbs on the limbs; else in the
        middle), and select it for moving/scaling."""
        ref = self.preview.shown_reference(self.doc.project)
        mask = self.canvas.current_mask()
        rig = fitted(template, (ref.shape[1], ref.shape[0]), mask)
        project, names = edits.merge_rig(self.doc.project, rig)
        if not self.doc.apply(project, f"Add template {template.name}"):
            return  # past a limit: the status bar says which
        self.doc.select(joints=names, bones=[b for b in project.rig.bone_ids if b not in self.doc.project.rig.bone_ids
                                             or b in {x.id for x in project.rig.bones if x.a in names}])
        self.statusBar().showMessage(f"{template.name}: drag to move, Alt+wheel to scale, then adjust joints", 8000)

    def auto_rig(self) -> None:
        """Grow a rig from the subject mask (medial axis, pruned, simplified) in the background; with a rig
        already there, ask whether to replace it or add to it. The new joints end up selected."""
        mask = self.canvas.current_mask()
        if mask is None or not mask.any():
            self.statusBar().showMessage("Paint or derive a subject mask first: the rig is grown from it", 5000)
            return
        mode = self.ask_auto_rig_mode() if self.doc.project.rig.joints else "add"
        if mode is None:
            return
        self.busy.start("Auto-rig from mask", skeleton_from_mask, (mask.copy(),),
                        lambda rig: (self._apply_auto_rig(rig, mode), self._warn_auto_rig(mask, rig)),
                        lambda err: self.statusBar().showMessage(
                            f"Auto-rig: {err.detail if isinstance(err, ProjectError) else err}", 5000))

    def ask_auto_rig_mode(self) -> str | None:
        """Ask whether the grown rig replaces the existing one or is added beside it: "replace", "add" or None."""
        box = QMessageBox(QMessageBox.Icon.Question, "Auto-rig from mask",
                          "This project already has a rig. Replace it with the rig grown from the mask, "
                          "or add the new rig beside it?", parent=self)
        replace_button = box.addButton("Replace rig", QMessageBox.ButtonRole.DestructiveRole)
        add_button = box.addButton("Add to rig", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(add_button)
        box.exec()
        return {replace_button: "replace", add_button: "add"}.get(box.clickedButton())

    def _apply_auto_rig(self, rig: Rig, mode: str) -> None:
        if mode == "replace":  # the old joints' tracks go with them; the camera stays
            project, names = replace(self.doc.project, rig=rig, tracks={}), list(rig.joint_ids)
        else:
            project, names = edits.merge_rig(self.doc.project, rig)
        if not self.doc.apply(project, "Auto-rig from mask" + (" (replace)" if mode == "replace" else "")):
            return  # past a limit: the status bar says which
        self.doc.select(joints=names)
        self.statusBar().showMessage(f"Auto-rig: {len(rig.joints)} joints, {len(rig.bones)} bones", 8000)

    def _warn_auto_rig(self, mask: np.ndarray, rig: Rig) -> None:
        """Say so when the rig was grown from no real subject (the whole picture, a blob without limbs)."""
        warning = auto_rig_warning(mask, rig)
        if warning and self.statusBar().currentMessage().startswith("Auto-rig: "):  # applied, not past a limit
            self.statusBar().showMessage(f"Auto-rig: {len(rig.joints)} joints, {len(rig.bones)} bones; {warning}",
                                         12000)

    def mask_from_rig(self) -> None:
        """Derive a subject mask from the rig with GrabCut (in the background) and make it the painted mask."""
        rig = self.doc.project.rig
        if not rig.bones:
            self.statusBar().showMessage("Add bones first: the mask is grown from them", 5000)
            return
        ref = self.preview.shown_reference(self.doc.project)
        self.busy.start("Mask from rig", grabcut_mask, (ref[..., :3].copy(), rig), self._apply_mask_from_rig)

    def _apply_mask_from_rig(self, mask: np.ndarray) -> None:
        self.doc.apply_mask(mask, "Mask from rig")
        self.overlay_actions["mask"].setChecked(True)
        self.statusBar().showMessage("Mask from rig: done (Ctrl+Z to undo)", 5000)

    # -- files -----------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """True when it is fine to drop the open project (saved, discarded, or clean)."""
        if not self.doc.dirty:
            return True
        name = self.doc.path.name if self.doc.path else "untitled"
        answer = QMessageBox.question(
            self, APP_NAME, f"Save changes to {name} before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def open_dialog(self) -> None:
        folder = str(self.doc.path.parent) if self.doc.path else str(examples_dir())
        path, _ = QFileDialog.getOpenFileName(self, "Open project", folder, "PoseAnything projects (*.pasproj)")
        if path:
            self.open_path(path)

    def open_path(self, path: str | os.PathLike, ask: bool = True, recover: bool = True) -> bool:
        """Open a project; on failure show the error line and keep the open project untouched."""
        downscaled = False
        try:
            project = load_project(path)
            try:
                checked_pictures(project, self.preview)
            except ProjectError:
                project, downscaled = self._downscaled_if_wanted(project), True
                if project is None:
                    raise
        except ProjectError as err:
            QMessageBox.critical(self, "Cannot open project", str(err))
            self.statusBar().showMessage(str(err), 10000)
            return False
        if ask and not self.maybe_save():
            return False
        self._discard_autosave()
        self.set_project(project)
        if downscaled:
            self.doc.undo_stack.resetClean()  # the picture was swapped for a smaller copy: unsaved until saved
        self._add_recent(project.path)
        if ask and recover:
            self.offer_recovery(only=project.path)
        return True

    def set_project(self, project: Project) -> None:
        """Show `project` with a fresh undo history."""
        self.playback.stop()
        self.doc.reset(project)
        self.canvas._fitted_once = False
        self.canvas.fit()

    def new_project(self) -> None:
        if not self.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(self, "New project: choose the picture", "",
                                              "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)")
        if path:
            start_from_picture(self, Path(path), ask=False)  # maybe_save asked already

    def _downscaled_if_wanted(self, project: Project) -> Project | None:
        """For a project whose picture (or mask) is over the pixel limit: offer smaller copies beside them and
        return the project on those, joints and keys scaled to match; None when not that case or declined."""
        from ..core import images

        paths = {"image": project.resolve(project.image)}
        if project.subject_mask:
            paths["subject_mask"] = project.resolve(project.subject_mask)
        try:
            sizes = {key: images.upright_size(path) for key, path in paths.items()}
        except ImageReadError:
            return None
        pixels = [w * h for w, h in sizes.values()]
        if not any(n > images.MAX_PIXELS for n in pixels) or any(n > 4 * images.MAX_PIXELS for n in pixels):
            return None  # not too large, or too large even to downscale here: the error says so
        w, h = sizes["image"]
        if not self._ask_yes("Picture too large",
                             f"{paths['image'].name} is {w}x{h}, more than this program reads. Make smaller copies "
                             "beside the project's pictures and use them (the rig and keys are scaled to match; "
                             "save to keep it)?"):
            return None
        copies = {key: (_smaller_copy(path) if sizes[key][0] * sizes[key][1] > images.MAX_PIXELS else path)
                  for key, path in paths.items()}
        scale = images.upright_size(copies["image"])[0] / w
        relative = {key: Path(os.path.relpath(path, project.base_dir)).as_posix() for key, path in copies.items()}
        return checked_pictures(rescaled_picture(project, relative["image"], scale, relative.get("subject_mask")),
                                self.preview)

    def _ask_yes(self, title: str, text: str) -> bool:
        """A Yes / No question (Yes the default); True when the answer is Yes."""
        answer = QMessageBox.question(self, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.Yes)
        return answer == QMessageBox.StandardButton.Yes

    def _blank_project_offering_downscale(self, image: Path) -> Project | None:
        """A blank project on `image`; a picture over the pixel limit is offered a downscaled copy beside it."""
        try:
            return blank_project(image)
        except ImageTooLarge as err:
            w, h = err.size
            if not self._ask_yes("Picture too large", f"{image.name} is {w}x{h}, more than this program reads. "
                                 "Make a smaller copy beside it and use that?"):
                return None
            return blank_project(_smaller_copy(image))

    def save(self) -> bool:
        """Save to the project's file (Save As when untitled)."""
        if self.doc.path is None:
            return self.save_as()
        return self.save_to(self.doc.path)

    def save_as(self) -> bool:
        start = str(self.doc.path) if self.doc.path else "untitled.pasproj"
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", start, "PoseAnything projects (*.pasproj)")
        if not path:
            return False
        return self.save_to(Path(path if path.endswith(".pasproj") else path + ".pasproj"))

    def save_to(self, path: Path) -> bool:
        """Write atomically (a painted mask goes to a PNG beside it); the document becomes clean."""
        old_path = self.doc.path
        try:
            saved = save_work(self.doc.project, self.doc.mask, Path(path))
        except (OSError, ProjectError) as err:
            QMessageBox.critical(self, "Cannot save", f"{path}: {_reason(err)}")
            return False
        old_side = self._side()
        self.doc.replace_saved(saved)
        for side in (old_side, autosave_path(old_path), autosave_path(saved.path)):
            _remove_quietly(side)
            _remove_quietly(mask_side(side))
        self.untitled_side = None
        self._add_recent(saved.path)
        self.statusBar().showMessage(f"Saved {saved.path}", 5000)
        return True

    def autosave(self) -> Path | None:
        """Write unsaved work to the side file (never to the project itself)."""
        if not self.doc.dirty:
            return None
        side = self._side()
        try:
            autosave_work(self.doc.project, self.doc.mask, side)
        except (OSError, ProjectError) as err:
            self.statusBar().showMessage(f"Autosave failed: {_reason(err)}", 8000)
            return None
        self.statusBar().showMessage(f"Autosaved to {side.name}", 3000)
        return side

    def offer_recovery(self, only: Path | None = None) -> bool:
        """Offer every autosave found (untitled work, this project's, recent projects'), or `only` that
        project's; recover the one chosen.

        The recovered work arrives as an undoable change on the project it belongs to, or as untitled work.
        """
        projects = [only] if only else [p for p in [self.doc.path, *map(Path, self.recent_files())] if p]
        clean_stale_temps(projects)
        own_untitled = self._side() if self.doc.path is None else None  # this run's, being written now
        found = [side for side in found_autosaves(projects) if side != own_untitled
                 and (only is None or project_of_autosave(side) == only)]
        if not found:
            return False
        side = self._choose_autosave(found)
        if side is None:
            return False
        owner = project_of_autosave(side)
        try:
            recovered = checked_pictures(load_project(side), self.preview)
            if owner is not None and owner != self.doc.path and not self.open_path(owner, ask=True, recover=False):
                return False
        except ProjectError as err:
            QMessageBox.warning(self, "Cannot recover", str(err))
            return False
        if owner is None:
            if not self.maybe_save():
                return False
            mask = str(recovered.resolve(recovered.subject_mask)) if recovered.subject_mask else None
            self.doc.reset(replace(recovered, path=None, image=str(recovered.resolve(recovered.image)),
                                   subject_mask=mask))
            self.doc.undo_stack.resetClean()  # recovered work is unsaved work: Save and Close ask
            self.untitled_side = side  # keep autosaving there; Save or Close removes it
        else:
            self.doc.apply(replace(recovered, path=self.doc.path), "Recover autosave")
        painted = mask_side(side)
        if painted.is_file():
            with contextlib.suppress(ImageReadError):
                self.doc.apply_mask(read_mask(painted), "Recover painted mask")
        return True

    def _choose_autosave(self, found: list[Path]) -> Path | None:
        """Ask which autosave to recover: a yes/no for one, a list for several (newest first)."""
        def label(side: Path) -> str:
            owner = project_of_autosave(side)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(side.stat().st_mtime))
            return f"{owner.name if owner else 'Untitled work'} — {when} — {side}"
        if len(found) == 1:
            return found[0] if self._ask_yes("Recover unsaved work?", f"{label(found[0])}\nholds changes that "
                                             "were not saved (the program may have stopped). Recover them?") else None
        labels = [label(side) for side in found]
        choice, ok = QInputDialog.getItem(self, "Recover unsaved work?",
                                          f"{len(found)} autosaves hold changes that were not saved. Recover:",
                                          labels, 0, False)
        return found[labels.index(choice)] if ok and choice in labels else None

    def _side(self) -> Path:
        """This document's autosave file (untitled work recovered from another run keeps its file)."""
        if self.doc.path is None and self.untitled_side is not None:
            return self.untitled_side
        return autosave_path(self.doc.path)

    def _discard_autosave(self) -> None:
        side = self._side()
        _remove_quietly(side)
        _remove_quietly(mask_side(side))
        self.untitled_side = None

    def _add_recent(self, path: Path | None) -> None:
        if path is None:
            return
        recent = [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:RECENT_MAX])

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            self.recent_menu.addAction(path, lambda p=path: open_any(self, p))  # a picture: a new project on it
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def closeEvent(self, event) -> None:
        if self.render_panel.controller.running:
            self.render_panel.cancel_render()
        if self.maybe_save():
            self._discard_autosave()
            if self.keep_layout:
                self.save_layout()
            self.stop_workers()
            event.accept()
        else:
            event.ignore()

    def stop_workers(self, wait_ms: int = CLOSE_WAIT_MS) -> bool:
        """Stop what runs in the background for this window and wait for it; True when all has ended.

        A render is cancelled, a running auto-rig, mask-from-rig or preview build is told its result is no
        longer wanted, and an export is let finish (its file appears whole). Waiting here means no worker
        thread outlives the window and emits into objects Qt or Python have already deleted.
        """
        self.render_panel.controller.cancel()
        self.motion_panel.cancel_tracking()
        self.busy.abandon()
        self.preview.abandon()
        QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        try:
            return QThreadPool.globalInstance().waitForDone(wait_ms)
        finally:
            QApplication.restoreOverrideCursor()


def mask_target(project_path: Path, project: Project) -> Path:
    """Where a painted mask saved with `project_path` goes: `<name>_mask.png` beside it.

    A file of that name is replaced only when it is this project's own mask; any other file keeps its bytes
    and the mask takes a fresh name. The path is absolute so that save_project makes it relative to the
    folder the project is saved in (the untitled or old project's folder is not where the mask went).
    """
    stem, folder = project_path.stem, project_path.resolve().parent
    own = project.resolve(project.subject_mask) if project.subject_mask else None
    name, n = f"{stem}_mask.png", 2
    while (folder / name).exists() and (folder / name).resolve() != own:
        name, n = f"{stem}_mask{n}.png", n + 1
    return folder / name


def save_work(project: Project, mask: np.ndarray | None, path: Path) -> Project:
    """The window's Save: `project` to `path` and a painted `mask` to a PNG beside it, each atomically.

    The project is checked first (save_project refuses what load_project would), so a refused save writes
    nothing; a mask file this save created is removed again when the project cannot be written. Returns the
    project as saved.
    """
    if mask is None:
        return save_project(project, path)
    target = mask_target(path, project)
    with_mask = replace(project, subject_mask=str(target))
    project_bytes(with_mask)  # ProjectError before anything is written
    existed = target.exists()
    _write_png(mask, target)
    try:
        return save_project(with_mask, path)
    except BaseException:
        if not existed:
            _remove_quietly(target)
        raise


def autosave_work(project: Project, mask: np.ndarray | None, side: Path) -> None:
    """The window's autosave: `project` to the side file `side`, a painted mask to the PNG beside it."""
    side.parent.mkdir(parents=True, exist_ok=True)
    project_bytes(project)  # ProjectError before anything is written
    if mask is not None:
        _write_png(mask, mask_side(side))
    else:
        _remove_quietly(mask_side(side))
    save_project(project, side)


def _smaller_copy(image: Path) -> Path:
    """A downscaled copy of `image` beside it; ProjectError (one line) when that folder cannot take it."""
    try:
        return downscaled_copy(image)
    except OSError as err:
        raise ProjectError(f"cannot write a smaller copy beside it ({_reason(err)}); copy the picture into a "
                           "folder you can write to and use that", source=str(image)) from None


def _reason(err: Exception) -> str:
    """An error as a short reason: an OSError's own words (with the file), else its text."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return str(err)


def _write_png(mask: np.ndarray, path: Path) -> None:
    """A boolean mask as a black-and-white PNG, written atomically."""
    ok, png = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:
        raise OSError(f"could not encode {path.name}")
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(png.tobytes())  # raises on a full disk; the temporary is removed


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
