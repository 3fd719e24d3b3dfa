"""The undoable document: the immutable Project (plus a painted mask) behind a QUndoStack.

Every edit replaces the whole value, so undo is "put the old value back" and a render can hold a
snapshot while editing goes on. Drags pass a `drag` serial: commands of one drag merge into one.
View state (selection, playhead) is not undoable and lives here too, so every view agrees.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import Project, check_limits

_MERGE_ID = 4242
_drag_serials = itertools.count(1)


def new_drag_serial() -> int:
    """A number naming one drag, so its commands merge into one undo step."""
    return next(_drag_serials)


@dataclass(frozen=True)
class DocState:
    """What undo restores: the project, and the subject mask painted in the window (or None)."""

    project: Project
    mask: np.ndarray | None = None  # (H, W) bool at the reference picture's size, read-only


class StateCommand(QUndoCommand):
    """Swap the document between two states; merges with the next command of the same drag."""

    def __init__(self, doc: Document, before: DocState, after: DocState, text: str, drag: int | None):
        super().__init__(text)
        self.doc, self.before, self.after, self.drag = doc, before, after, drag

    def id(self) -> int:
        return _MERGE_ID if self.drag is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, StateCommand) or other.drag != self.drag:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.doc._set_state(self.after)

    def undo(self) -> None:
        self.doc._set_state(self.before)


class Document(QObject):
    """The open project, its undo stack, its file, the selection and the playhead."""

    changed = Signal(object)  # the new Project
    mask_changed = Signal()
    selection_changed = Signal()
    frame_changed = Signal(int)
    path_changed = Signal()
    reset_done = Signal()  # another project (File > New, Open, a drop): what showed the old one must clear
    refused = Signal(str)  # an edit that would pass a limit of the file format: the line saying which

    def __init__(self, project: Project, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self._state = DocState(project)
        self.frame = 0
        self.selected_joints: tuple[str, ...] = ()
        self.selected_bones: tuple[str, ...] = ()
        self.selected_keys: tuple[tuple[str, int], ...] = ()
        self.selected_rows: tuple[str, ...] = ()

    # -- value ----------------------------------------------------------------------------------
    @property
    def project(self) -> Project:
        return self._state.project

    @property
    def mask(self) -> np.ndarray | None:
        return self._state.mask

    @property
    def path(self) -> Path | None:
        return self.project.path

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def apply(self, project: Project, text: str, drag: int | None = None) -> bool:
        """Make `project` the document's value as one undoable step (merged within one drag); False if refused.

        An edit past a limit of the file format (more joints or keys than a file may hold, a joint dragged
        absurdly far, an over-long prompt, ...) is refused: `refused` says why, `changed` brings the views back
        to the value kept, and nothing is applied, so every state the document reaches can be saved and reopened.
        """
        if project == self.project and project.path == self.project.path and drag is None:
            return True  # nothing to do, nothing refused
        try:
            check_limits(project, since=self.project)
        except ProjectError as err:
            self.refused.emit(f"{text}: not done, {err}")
            self.changed.emit(self.project)
            return False
        self.undo_stack.push(StateCommand(self, self._state, replace(self._state, project=project), text, drag))
        return True

    def apply_mask(self, mask: np.ndarray | None, text: str = "Paint mask") -> None:
        """A new painted subject mask, undoable."""
        if mask is not None:
            mask = mask.astype(bool, copy=True)
            mask.setflags(write=False)
        self.undo_stack.push(StateCommand(self, self._state, replace(self._state, mask=mask), text, None))

    def replace_saved(self, project: Project) -> None:
        """After a save: the saved project (new path, paths rewritten) becomes the value, and is clean."""
        self._state = DocState(project, None)
        for cmd_index in range(self.undo_stack.count()):
            cmd = self.undo_stack.command(cmd_index)
            if isinstance(cmd, StateCommand):
                cmd.before = replace(cmd.before, project=replace(cmd.before.project, path=project.path))
                cmd.after = replace(cmd.after, project=replace(cmd.after.project, path=project.path))
        self.undo_stack.setClean()
        self.changed.emit(self.project)
        self.path_changed.emit()

    def _set_state(self, state: DocState) -> None:
        mask_moved = state.mask is not self._state.mask
        self._state = state
        self._prune_selection()
        self.changed.emit(state.project)
        if mask_moved:
            self.mask_changed.emit()

    # -- view state -----------------------------------------------------------------------------
    def set_frame(self, frame: int) -> None:
        """Move the playhead (clamped to the project's frames)."""
        frame = int(min(max(frame, 0), self.project.frames - 1))
        if frame != self.frame:
            self.frame = frame
            self.frame_changed.emit(frame)

    def select(self, joints=(), bones=(), keys=None, rows=None) -> None:
        """Set the selection of joints, bones and (optionally) keys and timeline rows."""
        self.selected_joints = tuple(dict.fromkeys(joints))
        self.selected_bones = tuple(dict.fromkeys(bones))
        if keys is not None:
            self.selected_keys = tuple(dict.fromkeys(keys))
        self.selected_rows = tuple(dict.fromkeys(rows)) if rows is not None else self.selected_joints
        self.selection_changed.emit()

    def select_keys(self, keys) -> None:
        """Set the selected keys only."""
        self.selected_keys = tuple(dict.fromkeys(keys))
        self.selection_changed.emit()

    def _prune_selection(self) -> None:
        joints, bones = set(self.project.rig.joint_ids), set(self.project.rig.bone_ids)
        before = (self.selected_joints, self.selected_bones, self.selected_rows)
        self.selected_joints = tuple(j for j in self.selected_joints if j in joints)
        self.selected_bones = tuple(b for b in self.selected_bones if b in bones)
        self.selected_rows = tuple(r for r in self.selected_rows if r in joints or r.startswith("\x00"))
        if self.frame >= self.project.frames:
            self.frame = self.project.frames - 1
            self.frame_changed.emit(self.frame)
        if before != (self.selected_joints, self.selected_bones, self.selected_rows):
            self.selection_changed.emit()

    def reset(self, project: Project) -> None:
        """Start over on `project`: empty undo history, clean, playhead at 0, nothing selected."""
        self.undo_stack.clear()
        self._state = DocState(project)
        self.frame = 0
        self.selected_joints = self.selected_bones = self.selected_rows = ()
        self.selected_keys = ()
        self.undo_stack.setClean()
        self.changed.emit(project)
        self.mask_changed.emit()
        self.frame_changed.emit(0)
        self.selection_changed.emit()
        self.path_changed.emit()
        self.reset_done.emit()
