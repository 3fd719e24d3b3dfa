"""The main window: canvas in the middle, timeline and curves below, render panel on the right.

Files: New / Open / Save / Save As / recent files; a failed load shows the error line and leaves
the open project alone; a question before closing with unsaved changes. Autosave and recovery are
qt/autosave.py's, writing a project with its mask as one unit qt/saving.py's; this module wires them.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QThreadPool
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence
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

from poseanything_studio.bundled import default_example, examples_dir
from poseanything_studio.core import edits
from poseanything_studio.core.edits import CAMERA_ROW
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.framing import alpha_subject, picture_framing
from poseanything_studio.core.grabcut import Strokes, rig_strokes, subject_cutout
from poseanything_studio.core.images import ImageReadError, ImageTooLarge, downscaled_copy, read_rgba
from poseanything_studio.core.project import Project, load_project, rescaled_picture
from poseanything_studio.core.rig import Rig
from poseanything_studio.core.skeleton import auto_rig_warning, skeleton_from_mask
from poseanything_studio.core.templates import fitted, load_templates

from . import cutout, posing
from .autosave import Autosaves, autosave_subject_masks
from .busy import BusyTask
from .canvas import Canvas
from .curves import CurveEditor
from .document import Document
from .keys import FieldKeys
from .motion_panel import MotionPanel
from .picture_start import DropOpener, fit_output_to_subject, open_any, start_from_picture
from .previews import PuppetPreview, checked_pictures
from .render_panel import RenderPanel
from .saving import MaskFiles, remove_unused_saved_masks, save_work, short_reason
from .settings import APPLICATION, studio_settings
from .timeline import Playback, TimelinePanel

APP_NAME = APPLICATION
RECENT_MAX = 8
CLOSE_WAIT_MS = 60_000  # closing waits this long at most for background work to end
LAYOUT_VERSION = 2  # raise when docks or toolbars change, so a layout saved by an older version is not applied


def untitled_example() -> Project:
    """The bundled cat example as untitled work: Save asks where, so nothing is written inside the package."""
    project = load_project(default_example())
    mask = str(project.resolve(project.subject_mask)) if project.subject_mask else None
    return replace(project, image=str(project.resolve(project.image)), subject_mask=mask, path=None)


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

    def __init__(
        self, project: Project | None = None, settings: QSettings | None = None, preview: PuppetPreview | None = None
    ):
        """`preview`: one that already holds the project's picture (`checked_pictures` read it), else a new one."""
        super().__init__()
        self.settings = settings or studio_settings()
        self.keep_layout = True  # closing saves the geometry and dock layout into the settings
        self.doc = Document(project or untitled_example())
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
        self.canvas.posing.connect(self.curves.hold)  # while a pose drag lasts, curves and marks wait for its release
        self.canvas.posing.connect(self.timeline.dopesheet.hold)
        self.busy = BusyTask(self)  # auto-rig, mask-from-rig, cut-out and template fits run off the GUI thread
        self.busy.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.busy.running_changed.connect(
            lambda on: [a.setEnabled(not on) for a in (self.act_auto_rig, self.act_mask_from_rig, self.templates_menu)]
        )
        # marks made while a cut-out ran, and the picture they were made on: cut again when it ends
        self._cutout_pending: tuple[Strokes, str] | None = None
        self.busy.running_changed.connect(lambda on: on or self._cut_out_pending())
        self.canvas.cutout_requested.connect(self.cut_out)
        self._field_keys = FieldKeys(self)  # Tab in a text or number field moves focus, never toggles the mode
        QApplication.instance().installEventFilter(self._field_keys)
        self.render_panel.status.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.motion_panel.status.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.preview.failed.connect(lambda m: self.statusBar().showMessage(f"Preview: {m}", 8000))
        self.doc.undo_stack.cleanChanged.connect(self._update_title)
        self.doc.path_changed.connect(self._update_title)
        self.doc.selection_changed.connect(self._show_selection_status)
        self.doc.refused.connect(lambda m: self.statusBar().showMessage(m, 10000))
        self.autosaves = Autosaves(self)  # the side file of unsaved work, every minute, and its recovery
        self.mask_files = MaskFiles()  # mask PNGs of earlier saves: reused by the next, removed on close
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
        self.act_new = a(
            "&New from picture…",
            self.new_project,
            K.New,
            "New project on a picture of yours (or drop one on the window)",
        )
        self.act_open = a("&Open…", self.open_dialog, K.Open)
        self.act_save = a("&Save", self.save, K.Save)
        self.act_save_as = a("Save &As…", self.save_as, K.SaveAs)
        self.act_quit = a("&Quit", self.close, K.Quit)
        self.act_undo = doc.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_redo = doc.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.act_select_all = a("Select &all joints", self.select_all, "Ctrl+A")
        self.act_delete = a(
            "&Delete",
            self.delete_selection,
            QKeySequence(Qt.Key.Key_Delete),
            "Delete the selected keys, or else the selected joints and bones",
        )
        self.act_delete.setShortcuts([QKeySequence(Qt.Key.Key_Delete), QKeySequence(Qt.Key.Key_Backspace)])
        self.act_rename = a("&Rename joint…", self.rename_selected, "F2")
        self.act_insert_key = a(
            "&Insert key",
            self.insert_key,
            "I",
            "Key the selected joints (or camera row) at the playhead; all joints if none",
        )
        self.act_play = a("&Play / pause", self.playback.toggle, "Space")
        self.act_prev = a("Previous frame", lambda: doc.set_frame(doc.frame - 1), "Left")
        self.act_next = a("Next frame", lambda: doc.set_frame(doc.frame + 1), "Right")
        self.act_first = a("First frame", lambda: doc.set_frame(0), "Home")
        self.act_last = a("Last frame", lambda: doc.set_frame(doc.project.frames - 1), "End")
        self.act_prev_key = a("Previous key", lambda: self._jump_key(-1), "Shift+Left")
        self.act_next_key = a("Next key", lambda: self._jump_key(1), "Shift+Right")
        self.act_fit = a("&Fit picture", self.canvas.fit, "F")
        self.act_mask_from_rig = a(
            "Mask from &rig",
            self.mask_from_rig,
            None,
            "Derive the subject mask from the rig (GrabCut: the bones on the subject, a box around the rig)",
        )
        self.act_auto_rig = a(
            "&Auto-rig from mask",
            self.auto_rig,
            None,
            "Add a rig grown along the subject mask's medial axis (core.skeleton)",
        )
        self.act_clear_mask = a("Clear painted mask", lambda: doc.apply_mask(None, "Clear painted mask"))
        self.act_animate = a(
            "Animate mode",
            self._set_animate,
            "Tab",
            "Animate: drags key the joints at the playhead. Off (setup): drags edit the rest pose",
            checkable=True,
        )
        self.act_animate.setChecked(True)
        self.tool_actions = {}
        group = QActionGroup(self)
        for tool, text, key, tip in (
            (
                "select",
                "Select",
                "V",
                "Select and move joints (drag), box-select, Alt-drag moves the whole rig, "
                "Alt+wheel scales the selection",
            ),
            ("rig", "Rig", "J", "Click: add a joint (joined to the selected one). Drag joint → joint: add a bone"),
            ("camera", "Camera", "C", "Drag: pan the camera, wheel: zoom, Shift+wheel: roll (keys the camera row)"),
            (
                "brush",
                "Mask brush",
                "B",
                "Paint the subject mask; right-drag or Alt erases; [ and ] size; Ctrl: snap to edges for a stroke",
            ),
            ("cutout", "Cut out", "K", "Cut the subject out: drag a box around it, then strokes to refine"),
        ):
            act = a(text, lambda on, t=tool: on and self.canvas.set_tool(t), key, tip, checkable=True)
            group.addAction(act)
            self.tool_actions[tool] = act
        self.tool_actions["select"].setChecked(True)
        self.tool_actions["cutout"].toggled.connect(self._cutout_tool_chosen)
        self.act_brush_snaps = a(
            "Snap brush to edges",
            self._set_brush_snaps,
            "Shift+B",
            "The mask brush paints (and erases) only the pixels on its centre's side of a picture edge",
            checkable=True,
        )
        self.act_clear_cutout = a(
            "Clear cut-out strokes",
            lambda: self.canvas.tools["cutout"].clear(),
            None,
            "Forget the Cut out tool's box and strokes (the mask they cut stays)",
        )
        self.overlay_actions = {}
        for name, text, key in (
            ("puppet", "Puppet preview", "P"),
            ("onion", "Onion skin", "O"),
            ("mask", "Subject mask", "M"),
            ("parts", "Part masks", "Shift+M"),
            ("camera", "Camera frame", "Shift+C"),
        ):
            act = a(text, lambda on, n=name: self.canvas.set_overlay(n, on), key, checkable=True)
            act.setChecked(self.canvas.overlays[name])
            self.overlay_actions[name] = act

    def _make_menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addActions([self.act_new, self.act_open])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self.fill_recent)
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
        m.addActions([self.act_brush_snaps, self.act_clear_cutout])
        m.addSeparator()
        templates = self.templates_menu = m.addMenu("Add &template")
        for template in load_templates():
            act = templates.addAction(template.name, lambda t=template: self.add_template(t))
            act.setStatusTip(template.description)
        m.addAction(self.act_auto_rig)
        m.addSeparator()
        m.addActions([self.act_mask_from_rig, self.act_clear_mask])
        m.addSeparator()
        m.addAction("Fit output to subject", lambda: fit_output_to_subject(self)).setStatusTip(
            "Size the output so its frame shows the whole subject mask with a margin"
        )
        m = bar.addMenu("&Animate")
        m.addActions([self.act_animate, self.act_insert_key])
        interp = m.addMenu("Key interpolation")
        for name in ("step", "linear", "smooth"):
            interp.addAction(name, lambda n=name: self.timeline.dopesheet.set_interp(n))
        m.addSeparator()
        m.addActions(
            [
                self.act_play,
                self.act_prev,
                self.act_next,
                self.act_prev_key,
                self.act_next_key,
                self.act_first,
                self.act_last,
            ]
        )
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
        for text, slot, can, changed, has in (
            ("Undo", stack.undo, stack.canUndoChanged, stack.undoTextChanged, stack.canUndo),
            ("Redo", stack.redo, stack.canRedoChanged, stack.redoTextChanged, stack.canRedo),
        ):
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
            parts.append(
                f"{len(d.selected_joints)} joint(s): {', '.join(d.selected_joints[:4])}"
                + ("…" if len(d.selected_joints) > 4 else "")
            )
        if d.selected_keys:
            parts.append(f"{len(d.selected_keys)} key(s)")
        self.statusBar().showMessage(" · ".join(parts) or "Ready")

    # -- edits -----------------------------------------------------------------------------------
    def _set_animate(self, on: bool) -> None:
        self.canvas.animate = on
        self.act_animate.setText("Animate mode" if on else "Setup mode")
        self.statusBar().showMessage(
            "Animate: drags key joints at the playhead" if on else "Setup: drags edit the rest pose", 4000
        )

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
            only_bones = (
                d.selected_bones
                and all(
                    any(b.id in d.selected_bones for b in d.project.rig.bones if j in (b.a, b.b))
                    for j in d.selected_joints
                )
                and len(d.selected_joints) <= 2 * len(d.selected_bones)
            )
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
        """Place a template over the subject, fitted to its mask in the background (joints inside, limbs on the
        limbs and turned to the auto-rig's limb ends: skan's first compile waits there, never on the GUI thread),
        and select it for moving/scaling. With no subject mask it is placed in the middle, and the status bar
        says how to fit it."""
        ref = self.preview.shown_reference(self.doc.project)
        mask = self.canvas.current_mask()
        on_subject = mask is not None and bool(mask.any()) and not bool(mask.all())
        picture = self.doc.project.image
        self.busy.start(
            f"Fit {template.name}",
            fitted,
            (template, (ref.shape[1], ref.shape[0]), mask.copy() if on_subject else None),
            lambda rig: self._place_template(template, rig, picture, on_subject),
            lambda err: self.statusBar().showMessage(f"Fit {template.name}: {err}", 5000),
        )

    def _place_template(self, template, rig: Rig, picture: str, on_subject: bool) -> None:
        """Merge the fitted template `rig` into the rig and select it; dropped when the picture changed meanwhile."""
        if self.doc.project.image != picture:
            self.statusBar().showMessage(f"Fit {template.name}: dropped, the picture changed meanwhile", 5000)
            return
        project, names = edits.merge_rig(self.doc.project, rig)
        if not self.doc.apply(project, f"Add template {template.name}"):
            return  # past a limit: the status bar says which
        self.doc.select(
            joints=names,
            bones=[
                b
                for b in project.rig.bone_ids
                if b not in self.doc.project.rig.bone_ids or b in {x.id for x in project.rig.bones if x.a in names}
            ],
        )
        if on_subject:
            message = f"{template.name}: fitted to the subject's mask; drag to move, Alt+wheel to scale"
        else:
            message = (
                f"{template.name}: placed in the middle, as there is no subject mask yet; cut the subject out "
                "(Cut out tool, K: a box round it), then add the template again to fit it"
            )
        self.statusBar().showMessage(message, 12000)

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
        self.busy.start(
            "Auto-rig from mask",
            skeleton_from_mask,
            (mask.copy(),),
            lambda rig: (self.apply_auto_rig(rig, mode), self._warn_auto_rig(mask, rig)),
            lambda err: self.statusBar().showMessage(
                f"Auto-rig: {err.detail if isinstance(err, ProjectError) else err}", 5000
            ),
        )

    def ask_auto_rig_mode(self) -> str | None:
        """Ask whether the grown rig replaces the existing one or is added beside it: "replace", "add" or None."""
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Auto-rig from mask",
            "This project already has a rig. Replace it with the rig grown from the mask, "
            "or add the new rig beside it?",
            parent=self,
        )
        replace_button = box.addButton("Replace rig", QMessageBox.ButtonRole.DestructiveRole)
        add_button = box.addButton("Add to rig", QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(add_button)
        box.exec()
        return {replace_button: "replace", add_button: "add"}.get(box.clickedButton())

    def apply_auto_rig(self, rig: Rig, mode: str) -> None:
        """Put the auto-rigged `rig` in the project: in place of the joints ("replace") or beside them."""
        if mode == "replace":  # the old joints' tracks go with them; the camera stays
            project, names = replace(self.doc.project, rig=rig, tracks={}), list(rig.joint_ids)
        else:
            project, names = edits.merge_rig(self.doc.project, rig)
        if not self.doc.apply(project, "Auto-rig from mask" + (" (replace)" if mode == "replace" else "")):
            return  # past a limit: the status bar says which
        self.doc.select(joints=names)
        self.statusBar().showMessage(f"Auto-rig: {len(rig.joints)} joints, {len(rig.bones)} bones", 8000)

    def _warn_auto_rig(self, mask: np.ndarray, rig: Rig) -> None:
        """Say so in the status bar when the rig was grown from no real subject (core/skeleton.auto_rig_warning:
        a mask over 90% of the picture, a close-up filling the frame, fewer than 3 joints)."""
        warning = auto_rig_warning(mask, rig)
        if warning and self.statusBar().currentMessage().startswith("Auto-rig: "):  # applied, not past a limit
            self.statusBar().showMessage(
                f"Auto-rig: {len(rig.joints)} joints, {len(rig.bones)} bones; {warning}", 12000
            )

    def mask_from_rig(self) -> None:
        """Derive a subject mask from the rig with GrabCut (in the background) and make it the painted mask."""
        rig = self.doc.project.rig
        if not rig.bones:
            self.statusBar().showMessage("Add bones first: the mask is grown from them", 5000)
            return
        ref = self.preview.shown_reference(self.doc.project)
        strokes = rig_strokes(rig, (ref.shape[1], ref.shape[0]))  # core/grabcut.py: IoU 0.90 where parts' was 0.80
        self.busy.start("Mask from rig", subject_cutout, (ref[..., :3].copy(), strokes), self.apply_mask_from_rig)

    def apply_mask_from_rig(self, mask: np.ndarray) -> None:
        """Make `mask` (what Mask from rig's GrabCut returned) the painted mask, shown at once."""
        self.doc.apply_mask(mask, "Mask from rig")
        self.overlay_actions["mask"].setChecked(True)
        self.statusBar().showMessage("Mask from rig: done (Ctrl+Z to undo)", 5000)

    def _set_brush_snaps(self, on: bool) -> None:
        self.canvas.brush_snaps = on
        pen = self.canvas.brush_item.pen()
        pen.setColor(QColor(255, 140, 0) if on else QColor(0, 220, 255))  # the ring says which brush it is
        self.canvas.brush_item.setPen(pen)
        self.statusBar().showMessage(
            "Mask brush: snaps to edges (Ctrl for a plain stroke)" if on else "Mask brush: plain (Ctrl snaps)", 5000
        )

    def _cutout_tool_chosen(self, on: bool) -> None:
        self.canvas.tools["cutout"].show_marks(on)
        if on:
            self.statusBar().showMessage(cutout.HINT, 15000)

    def cut_out(self, strokes: Strokes) -> None:
        """Cut the subject out of the picture with GrabCut from `strokes` (the Cut out tool's marks) in the
        background; the mask becomes the painted one in one undo step. While one runs, the latest marks wait."""
        if strokes.box is None and not strokes.foreground:
            self.statusBar().showMessage("Cut out: drag a box around the subject, or paint a stroke on it, first", 8000)
            return
        if self.busy.running:
            self._cutout_pending = (strokes, self.doc.project.image)
            self.statusBar().showMessage(f"{self.busy.label}… (then Cut out, with your latest marks)", 8000)
            return
        project = self.doc.project
        ref = self.preview.shown_reference(project)
        self.busy.start(
            "Cut out",
            subject_cutout,
            (ref[..., :3].copy(), strokes),
            lambda mask: self.apply_cutout(mask, project.image),
            lambda err: self.statusBar().showMessage(f"Cut out: {err}", 8000),
        )

    def _cut_out_pending(self) -> None:
        pending, self._cutout_pending = self._cutout_pending, None
        if pending is not None and pending[1] == self.doc.project.image:  # not marks on a picture since closed
            self.cut_out(pending[0])

    def apply_cutout(self, mask: np.ndarray, image: str) -> None:
        """Make `mask` (what the cut-out of `image` gave) the painted mask, shown at once; dropped when the
        project's picture changed meanwhile."""
        if self.doc.project.image != image or mask.shape != self.preview.shown_reference(self.doc.project).shape[:2]:
            return
        self.doc.apply_mask(mask, "Cut out")
        self.overlay_actions["mask"].setChecked(True)
        self.statusBar().showMessage(
            "Cut out: done. Left-drag on parts it missed, right-drag on background it took; Ctrl+Z undoes", 10000
        )

    # -- files -----------------------------------------------------------------------------------
    def maybe_save(self) -> bool:
        """True when it is fine to drop the open project (saved, discarded, or clean)."""
        if not self.doc.dirty:
            return True
        name = self.doc.path.name if self.doc.path else "untitled"
        answer = QMessageBox.question(
            self,
            APP_NAME,
            f"Save changes to {name} before closing it?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save,
        )
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
        self.autosaves.discard()
        self.set_project(project)
        remove_unused_saved_masks(Path(path), autosave_subject_masks(Path(path)))  # left by a save killed before close
        if downscaled:
            self.doc.undo_stack.resetClean()  # the picture was swapped for a smaller copy: unsaved until saved
        self.add_recent(project.path)
        if ask and recover:
            self.offer_recovery(only=project.path)
        return True

    def set_project(self, project: Project) -> None:
        """Show `project` with a fresh undo history."""
        self.playback.stop()
        self.mask_files.release()  # the old history goes: the masks only it pointed at can go too
        self.doc.reset(project)
        self.canvas.refit()

    def new_project(self) -> None:
        if not self.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "New project: choose the picture", "", "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"
        )
        if path:
            start_from_picture(self, Path(path), ask=False)  # maybe_save asked already

    def _downscaled_if_wanted(self, project: Project) -> Project | None:
        """For a project whose picture (or mask) is over the pixel limit: offer smaller copies beside them and
        return the project on those, joints and keys scaled to match; None when not that case or declined."""
        from poseanything_studio.core import images

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
        if not self.ask_yes(
            "Picture too large",
            f"{paths['image'].name} is {w}x{h}, more than this program reads. Make smaller copies "
            "beside the project's pictures and use them (the rig and keys are scaled to match; "
            "save to keep it)?",
        ):
            return None
        copies = {
            key: (_smaller_copy(path) if sizes[key][0] * sizes[key][1] > images.MAX_PIXELS else path)
            for key, path in paths.items()
        }
        scale = images.upright_size(copies["image"])[0] / w
        relative = {key: Path(os.path.relpath(path, project.base_dir)).as_posix() for key, path in copies.items()}
        return checked_pictures(
            rescaled_picture(project, relative["image"], scale, relative.get("subject_mask")), self.preview
        )

    def ask_yes(self, title: str, text: str) -> bool:
        """A Yes / No question (Yes the default); True when the answer is Yes."""
        answer = QMessageBox.question(
            self,
            title,
            text,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes,
        )
        return answer == QMessageBox.StandardButton.Yes

    def blank_project_offering_downscale(self, image: Path) -> Project | None:
        """A blank project on `image`; a picture over the pixel limit is offered a downscaled copy beside it."""
        try:
            return blank_project(image)
        except ImageTooLarge as err:
            w, h = err.size
            if not self.ask_yes(
                "Picture too large",
                f"{image.name} is {w}x{h}, more than this program reads. Make a smaller copy beside it and use that?",
            ):
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
        """Write the project and a painted mask as one unit (qt/saving.py); the document becomes clean."""
        before, old_side = self.doc.project, self.autosaves.side()
        try:
            saved = save_work(before, self.doc.mask, Path(path), self.mask_files.unused(Path(path)))
        except (OSError, ProjectError) as err:
            QMessageBox.critical(self, "Cannot save", f"{path}: {short_reason(err)}")
            return False
        self.mask_files.saved(before, saved)
        self.doc.replace_saved(saved)
        self.autosaves.saved(old_side, before.path, saved.path)
        self.add_recent(saved.path)
        self.statusBar().showMessage(f"Saved {saved.path}", 5000)
        return True

    def autosave(self) -> Path | None:
        """Write unsaved work to the side file now (the timer does it every minute); the file, or None."""
        return self.autosaves.write()

    def offer_recovery(self, only: Path | None = None) -> bool:
        """Offer the autosaves found (or `only` that project's) and recover the one chosen (qt/autosave.py)."""
        return self.autosaves.offer_recovery(only)

    def add_recent(self, path: Path | None) -> None:
        """Put `path` first in File > Open Recent (a project, or a picture a new project started on)."""
        if path is None:
            return
        recent = [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent", [str(path), *recent][:RECENT_MAX])

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def fill_recent(self) -> None:
        """List the recent files in File > Open Recent (filled each time the menu opens)."""
        self.recent_menu.clear()
        for path in self.recent_files():
            self.recent_menu.addAction(path, lambda p=path: open_any(self, p))  # a picture: a new project on it
        if self.recent_menu.isEmpty():
            self.recent_menu.addAction("(none)").setEnabled(False)

    def closeEvent(self, event) -> None:
        if self.render_panel.controller.running:
            self.render_panel.cancel_render()
        if self.maybe_save():
            self.autosaves.discard()
            self.mask_files.release()
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
        self._cutout_pending = None  # no cut-out starts as the last job ends
        self.busy.abandon()
        self.preview.abandon()
        QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        try:
            return QThreadPool.globalInstance().waitForDone(wait_ms)
        finally:
            QApplication.restoreOverrideCursor()


def _smaller_copy(image: Path) -> Path:
    """A downscaled copy of `image` beside it; ProjectError (one line) when that folder cannot take it."""
    try:
        return downscaled_copy(image)
    except OSError as err:
        raise ProjectError(
            f"cannot write a smaller copy beside it ({short_reason(err)}); copy the picture into a "
            "folder you can write to and use that",
            source=str(image),
        ) from None
