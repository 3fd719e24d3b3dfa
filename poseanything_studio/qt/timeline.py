"""The timeline dock: transport (play, step, loop, frame/frames/fps fields) and a dopesheet.

The dopesheet has one row for the camera and one per joint, key marks shaped by interpolation
(diamond smooth, square step, triangle-ish linear), a playhead scrubbed from the ruler, keys dragged
in time (one undo step per drag) and a context menu for interpolation, insert and delete.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QScrollBar,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from poseanything_studio.core import edits, poses
from poseanything_studio.core.edits import CAMERA_ROW
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import FPS_RANGE, MAX_FRAMES
from poseanything_studio.core.tracks import INTERPOLATIONS

from . import posing
from .document import Document, new_drag_serial

NAME_W = 150
ROW_H = 20
RULER_H = 24
KEY_COLOURS = {"smooth": QColor(250, 210, 70), "linear": QColor(110, 200, 255), "step": QColor(240, 120, 120)}


class Playback(QObject):
    """Plays the document's frames at its fps by the clock, looping or stopping at the end.

    Frame n of a run is due 1/fps seconds after frame n-1, counted from when play started. Each tick
    shows the frame that is due now; when a redraw takes longer than a frame, the frames it covered are
    dropped (skipped, never shown late), so a slow redraw costs smoothness, not speed. `dropped_changed`
    says how many of the frames due since play were dropped.
    """

    playing_changed = Signal(bool)
    dropped_changed = Signal(int, int)  # frames dropped, frames due since play started

    def __init__(self, doc: Document, parent: QObject | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(parent)
        self.doc = doc
        self.loop = True
        self.clock = clock
        self.dropped = 0
        self.due = 0
        self._anchor = (0.0, 0, 24.0)  # clock time, run position and fps the run counts from
        self._position = 0  # frames since the anchor's frame, not wrapped by looping
        self.timer = QTimer(self, singleShot=True)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.tick)
        self._playing = False

    @property
    def playing(self) -> bool:
        return self._playing

    def toggle(self) -> None:
        """Play if paused, pause if playing."""
        self.stop() if self.playing else self.play()

    def play(self) -> None:
        """Start from the playhead (from frame 0 when it is on the last frame)."""
        if self.doc.frame >= self.doc.project.frames - 1:
            self.doc.set_frame(0)
        self.dropped = self.due = 0
        self._playing = True
        self._count_from_playhead()
        self.playing_changed.emit(True)
        self.dropped_changed.emit(0, 0)
        self._schedule()

    def stop(self) -> None:
        self.timer.stop()
        self._playing = False
        self.playing_changed.emit(False)

    def _count_from_playhead(self) -> None:
        self._anchor = (self.clock(), self.doc.frame, float(self.doc.project.fps))
        self._position = 0

    def _frame_at(self, position: int) -> int:
        return (self._anchor[1] + position) % self.doc.project.frames

    def _rebase(self) -> None:
        """Count from the start of the current pass when looping has wrapped, so positions stay in one pass."""
        start, first, fps = self._anchor
        frames = self.doc.project.frames
        passes = (first + self._position) // frames
        if passes:
            counted = passes * frames - first  # frames from the anchor to this pass's frame 0
            self._anchor = (start + counted / fps, 0, fps)
            self._position -= counted

    def _schedule(self) -> None:
        """Wake up when the next frame is due (at once when it is overdue)."""
        start, _, fps = self._anchor
        wait = start + (self._position + 1) / fps - self.clock()
        self.timer.start(max(0, round(wait * 1000)))

    def tick(self) -> None:
        """Show the frame due now and wait for the next (the timer calls it at each frame's moment)."""
        if not self._playing:
            return
        moved = self.doc.frame != self._frame_at(self._position)
        if moved or float(self.doc.project.fps) != self._anchor[2]:
            self._count_from_playhead()  # the playhead was moved or the fps changed: count on from here
        start, first, fps = self._anchor
        due = round((self.clock() - start) * fps)  # the frame whose moment is nearest now
        last = self.doc.project.frames - 1
        if not self.loop:
            due = min(due, last - first)
        if due > self._position:
            self.due += due - self._position
            skipped = due - self._position - 1
            self._position = due
            self.doc.set_frame(self._frame_at(due))  # the redraw runs here, inside frame_changed
            self._rebase()
            self.dropped += skipped
            if self.dropped:  # once frames were dropped, keep both counts current
                self.dropped_changed.emit(self.dropped, self.due)
        if not self._playing:  # a frame_changed slot stopped playback
            return
        if not self.loop and self._anchor[1] + self._position >= last:
            self.stop()
            return
        self._schedule()


class FramesSpinBox(QSpinBox):
    """A frame count that steps by 4 and snaps to 4k+1 (what the Wan VAE needs)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setRange(1, MAX_FRAMES)
        self.setSingleStep(4)
        self.setToolTip("Frames: always 4k+1 (1, 5, 9, ... 49, 81, 121)")

    def validate(self, text, pos):  # accept anything numeric while typing; snapped on finish
        return super().validate(text, pos)

    def fixup(self, text: str) -> str:
        return str(edits.nearest_valid_frames(int(text or 1)))

    def valueFromText(self, text: str) -> int:
        try:
            return edits.nearest_valid_frames(int(text))
        except ValueError:
            return self.value()


class Dopesheet(QWidget):
    """Rows of key marks over frames; the ruler on top scrubs the playhead."""

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.scroll = 0
        self._drag: dict | None = None
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setMouseTracking(True)
        self.setMinimumHeight(RULER_H + 4 * ROW_H)
        self.scrollbar = QScrollBar(Qt.Orientation.Vertical, self)  # shown only when the rows overflow
        self.scrollbar.valueChanged.connect(self._scrolled)
        self.scrollbar.hide()
        self._drawn: tuple | None = None  # what of the project the marks show, as last painted
        self._held = False  # a drag on the canvas is posing: the marks wait for its release
        for signal in (doc.frame_changed, doc.selection_changed):
            signal.connect(self.update)
        doc.changed.connect(self._project_changed)
        doc.changed.connect(self._sync_scrollbar)

    def sizeHint(self) -> QSize:
        return QSize(900, RULER_H + 9 * ROW_H)

    # -- geometry -------------------------------------------------------------------------------
    def rows(self) -> list[str]:
        return [CAMERA_ROW, *self.doc.project.rig.joint_ids]

    def _span(self) -> tuple[float, float]:
        x0 = NAME_W + 10
        frames = max(self.doc.project.frames - 1, 1)
        bar = self.scrollbar.width() if self.scrollbar.isVisible() else 0  # set from its size hint in _sync_scrollbar
        return x0, (self.width() - x0 - 12 - bar) / frames

    def x_of(self, frame: float) -> float:
        x0, ppf = self._span()
        return x0 + frame * ppf

    def frame_at(self, x: float) -> int:
        x0, ppf = self._span()
        return int(min(max(round((x - x0) / ppf), 0), self.doc.project.frames - 1))

    def row_at(self, y: float) -> str | None:
        i = int((y - RULER_H) // ROW_H) + self.scroll
        rows = self.rows()
        return rows[i] if y >= RULER_H and 0 <= i < len(rows) else None

    def y_of(self, row_index: int) -> float:
        return RULER_H + (row_index - self.scroll) * ROW_H

    def key_at(self, pos: QPointF) -> tuple[str, int] | None:
        row = self.row_at(pos.y())
        if row is None or pos.x() < NAME_W:
            return None
        for frame in edits.key_frames(self.doc.project, row):
            if abs(self.x_of(frame) - pos.x()) <= 6:
                return (row, frame)
        return None

    # -- painting -------------------------------------------------------------------------------
    def _shown(self) -> tuple:
        """What of the project the dopesheet draws: rows, frame count, loop, and each row's key frames and
        interpolations (not the keys' values, which a pose drag changes on every mouse move)."""
        project = self.doc.project
        tracks = project.tracks
        rows = tuple((j, tracks[j].frames, tracks[j].interps) if tracks.get(j) else (j,) for j in project.rig.joint_ids)
        return project.frames, project.loop, tuple((k.frame, k.interp) for k in project.camera.keys), rows

    def _project_changed(self, *_args) -> None:
        """Repaint only when what the marks show changed: dragging a pose re-keys one frame on every move."""
        if not self._held and self._shown() != self._drawn:
            self.update()

    def hold(self, held: bool) -> None:
        """While a drag on the canvas poses joints (`held`) the marks stay as they are (a new key shows on the
        release, with the curves); let go, they catch up."""
        self._held = held
        if not held:
            self._project_changed()

    def paintEvent(self, _event) -> None:
        self._drawn = self._shown()
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(45, 45, 50))
        self._paint_rows(p)
        self._paint_ruler(p)
        self._paint_loop(p)
        self._paint_keys(p)
        self._paint_playhead(p)
        if self._drag and self._drag["kind"] == "band":
            p.setPen(QPen(QColor(255, 255, 255, 160), 1, Qt.PenStyle.DashLine))
            p.setBrush(QColor(255, 255, 255, 30))
            p.drawRect(QRectF(self._drag["origin"], self._drag["now"]).normalized())
        p.end()

    def _paint_rows(self, p: QPainter) -> None:
        selected = set(self.doc.selected_rows) | set(self.doc.selected_joints)
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() - 1))
        p.setFont(font)
        for i, row in enumerate(self.rows()):
            y = self.y_of(i)
            if y < RULER_H - ROW_H or y > self.height():
                continue
            shade = QColor(70, 90, 130) if row in selected else QColor(52, 52, 58) if i % 2 else QColor(47, 47, 53)
            p.fillRect(QRectF(0, y, self.width(), ROW_H), shade)
            p.setPen(QColor(235, 235, 235) if row != CAMERA_ROW else QColor(255, 230, 80))
            label = "camera" if row == CAMERA_ROW else row
            p.drawText(QRectF(8, y, NAME_W - 12, ROW_H), Qt.AlignmentFlag.AlignVCenter, label)
        p.setPen(QColor(25, 25, 28))
        p.drawLine(NAME_W, 0, NAME_W, self.height())

    def _paint_ruler(self, p: QPainter) -> None:
        p.fillRect(QRectF(0, 0, self.width(), RULER_H), QColor(32, 32, 36))
        frames = self.doc.project.frames
        _, ppf = self._span()
        step = next(s for s in (1, 2, 4, 5, 8, 10, 12, 20, 24, 40, 48, 100, 200, 500, 1000) if s * ppf >= 36)
        p.setPen(QColor(170, 170, 170))
        for f in range(0, frames, step):
            x = self.x_of(f)
            p.drawLine(QPointF(x, RULER_H - 7), QPointF(x, RULER_H))
            p.drawText(QRectF(x - 20, 2, 40, RULER_H - 8), Qt.AlignmentFlag.AlignCenter, str(f))
        p.drawText(QRectF(8, 0, NAME_W, RULER_H), Qt.AlignmentFlag.AlignVCenter, f"{self.doc.frame} / {frames - 1}")

    def _paint_loop(self, p: QPainter) -> None:
        """The loop range as a green band on the ruler: the keys from its start play again from its end on."""
        loop = self.doc.project.loop
        if loop is None:
            return
        x0, x1 = self.x_of(loop[0]), self.x_of(min(loop[1], self.doc.project.frames - 1))
        p.fillRect(QRectF(x0, RULER_H - 5, max(x1 - x0, 2), 5), QColor(90, 210, 120))
        p.setPen(QColor(90, 210, 120))
        p.drawText(QRectF(x0 + 3, 0, 60, 12), Qt.AlignmentFlag.AlignLeft, f"loop {loop[0]}-{loop[1]}")

    def _paint_keys(self, p: QPainter) -> None:
        project, selected = self.doc.project, set(self.doc.selected_keys)
        p.setClipRect(QRectF(NAME_W + 1, RULER_H, self.width(), self.height()))
        for i, row in enumerate(self.rows()):
            y = self.y_of(i) + ROW_H / 2
            if y < RULER_H or y > self.height():
                continue
            for frame in edits.key_frames(project, row):
                interp = edits.key_interp(project, (row, frame))
                self._paint_key(p, self.x_of(frame), y, interp, (row, frame) in selected)
        p.setClipping(False)

    @staticmethod
    def _paint_key(p: QPainter, x: float, y: float, interp: str, selected: bool) -> None:
        r = 5.5
        p.setPen(QPen(QColor(255, 255, 255) if selected else QColor(20, 20, 20), 1.4))
        p.setBrush(QColor(255, 140, 0) if selected else KEY_COLOURS[interp])
        if interp == "step":
            p.drawRect(QRectF(x - r + 1, y - r + 1, 2 * r - 2, 2 * r - 2))
        elif interp == "linear":
            p.drawPolygon(QPolygonF([QPointF(x, y - r), QPointF(x + r, y + r - 1), QPointF(x - r, y + r - 1)]))
        else:
            p.drawPolygon(QPolygonF([QPointF(x, y - r), QPointF(x + r, y), QPointF(x, y + r), QPointF(x - r, y)]))

    def _paint_playhead(self, p: QPainter) -> None:
        x = self.x_of(self.doc.frame)
        p.setPen(QPen(QColor(255, 70, 70), 2))
        p.drawLine(QPointF(x, 0), QPointF(x, self.height()))
        p.setBrush(QColor(255, 70, 70))
        p.drawRect(QRectF(x - 11, 2, 22, RULER_H - 6))
        p.setPen(QColor(255, 255, 255))
        p.drawText(QRectF(x - 11, 2, 22, RULER_H - 6), Qt.AlignmentFlag.AlignCenter, str(self.doc.frame))

    # -- mouse ----------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        pos = event.position()
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if event.button() == Qt.MouseButton.RightButton:
            return
        if pos.y() < RULER_H:
            self._drag = {"kind": "scrub"}
            self.doc.set_frame(self.frame_at(pos.x()))
        elif pos.x() < NAME_W:
            self._press_name(self.row_at(pos.y()), shift)
        else:
            self._press_keys(pos, shift)

    def _press_name(self, row: str | None, shift: bool) -> None:
        if row is None:
            return
        rows = (
            [r for r in self.doc.selected_rows if r != row]
            if shift and row in self.doc.selected_rows
            else ([*self.doc.selected_rows, row] if shift else [row])
        )
        self.doc.select(joints=[r for r in rows if r != CAMERA_ROW], rows=rows)

    def _press_keys(self, pos: QPointF, shift: bool) -> None:
        ref = self.key_at(pos)
        if ref is None:
            self._drag = {"kind": "band", "origin": pos, "now": pos, "shift": shift}
            if not shift:
                self.doc.set_frame(self.frame_at(pos.x()))
            return
        keys = list(self.doc.selected_keys)
        if shift:
            keys = [k for k in keys if k != ref] if ref in keys else [*keys, ref]
        elif ref not in keys:
            keys = [ref]
        self.doc.select_keys(keys)
        self._drag = {
            "kind": "keys",
            "x": pos.x(),
            "refs": list(keys),
            "base": self.doc.project,
            "serial": new_drag_serial(),
            "delta": 0,
        }

    def mouseMoveEvent(self, event) -> None:
        d, pos = self._drag, event.position()
        if d is None:
            key = self.key_at(pos)
            self.setToolTip(
                f"{key[0].strip(chr(0))} @ {key[1]}: {edits.key_interp(self.doc.project, key)}" if key else ""
            )
            return
        if d["kind"] == "scrub":
            self.doc.set_frame(self.frame_at(pos.x()))
        elif d["kind"] == "band":
            d["now"] = pos
            self.update()
        elif d["kind"] == "keys":
            self._drag_keys(pos)

    def _drag_keys(self, pos: QPointF) -> None:
        d = self._drag
        _, ppf = self._span()
        delta = round((pos.x() - d["x"]) / ppf)
        if delta == d["delta"]:
            return
        d["delta"] = delta
        last = self.doc.project.frames - 1
        moved = edits.move_keys(d["base"], d["refs"], delta, last)
        self.doc.apply(moved, "Move keys", drag=d["serial"])
        self.doc.select_keys(edits.moved_refs(d["refs"], delta, last))

    def mouseReleaseEvent(self, event) -> None:
        d, self._drag = self._drag, None
        if d and d["kind"] == "band":
            self._finish_band(d)
        self.update()

    def _finish_band(self, d: dict) -> None:
        rect = QRectF(d["origin"], d["now"]).normalized()
        if rect.width() < 3 and rect.height() < 3:
            if not d["shift"]:
                self.doc.select_keys([])
            return
        found = []
        for i, row in enumerate(self.rows()):
            y = self.y_of(i) + ROW_H / 2
            found += [(row, f) for f in edits.key_frames(self.doc.project, row) if rect.contains(self.x_of(f), y)]
        self.doc.select_keys([*self.doc.selected_keys, *found] if d["shift"] else found)

    def mouseDoubleClickEvent(self, event) -> None:
        row = self.row_at(event.position().y())
        if event.position().x() < NAME_W and row not in (None, CAMERA_ROW):
            self.rename(row)

    def rename(self, joint_id: str) -> None:
        """Ask for a new name for a joint."""
        new, ok = QInputDialog.getText(self, "Rename joint", "New name:", text=joint_id)
        if ok and new and new != joint_id:
            try:
                self.doc.apply(edits.rename_joint(self.doc.project, joint_id, new.strip()), f"Rename {joint_id}")
                self.doc.select(joints=[new.strip()])
            except ProjectError as err:
                self.window().statusBar().showMessage(str(err), 5000)

    def wheelEvent(self, event) -> None:
        self.scrollbar.setValue(self.scroll - round(event.angleDelta().y() / 120) * 2)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._sync_scrollbar()

    def _sync_scrollbar(self, *_args) -> None:
        """Range, page and place of the scrollbar for the rows and the height we have; hidden when all fit."""
        visible = max(1, (self.height() - RULER_H) // ROW_H)
        most = max(0, len(self.rows()) - visible)
        bar = self.scrollbar
        bar.blockSignals(True)
        bar.setRange(0, most)
        bar.setPageStep(visible)
        self.scroll = min(self.scroll, most)
        bar.setValue(self.scroll)
        bar.blockSignals(False)
        width = bar.sizeHint().width()
        bar.setGeometry(self.width() - width, RULER_H, width, max(0, self.height() - RULER_H))
        bar.setVisible(most > 0)

    def _scrolled(self, value: int) -> None:
        self.scroll = int(value)
        self.update()

    def contextMenuEvent(self, event) -> None:
        ref = self.key_at(event.pos())
        if ref is not None and ref not in self.doc.selected_keys:
            self.doc.select_keys([ref])
        menu = QMenu(self)
        keys = list(self.doc.selected_keys)
        if keys:
            group = QActionGroup(menu)
            current = {edits.key_interp(self.doc.project, k) for k in keys}
            for interp in INTERPOLATIONS:
                act = QAction(f"Interpolation: {interp}", menu, checkable=True, checked=current == {interp})
                act.triggered.connect(lambda _=False, i=interp: self.set_interp(i))
                group.addAction(act)
                menu.addAction(act)
            menu.addSeparator()
            menu.addAction("Delete keys", self.delete_keys)
        row = self.row_at(event.pos().y())
        if row is not None:
            frame = self.frame_at(event.pos().x()) if event.pos().x() > NAME_W else self.doc.frame
            menu.addAction(
                f"Insert key at frame {frame}",
                lambda: self.doc.apply(edits.insert_keys(self.doc.project, [row], frame), "Insert key"),
            )
        self.pose_entries(menu, event.pos().x())
        if not menu.isEmpty():
            menu.exec(event.globalPos())

    def pose_entries(self, menu: QMenu, x: float) -> None:
        """Copy the pose of the selected rows (all joints when none), paste it, loop the selected keys' span."""
        frame = self.frame_at(x) if x > NAME_W else self.doc.frame
        menu.addSeparator()
        menu.addAction(f"Copy pose at frame {frame}", lambda: self.at_frame(frame, posing.copy_pose))
        menu.addAction(f"Paste pose at frame {frame}", lambda: self.at_frame(frame, posing.paste_pose))
        frames = sorted({f for _, f in self.doc.selected_keys})
        if len(frames) > 1:
            menu.addAction(
                f"Loop frames {frames[0]}-{frames[-1]}",
                lambda: self.doc.apply(
                    poses.set_loop(self.doc.project, frames[0], frames[-1]), f"Loop {frames[0]}-{frames[-1]}"
                ),
            )
        if self.doc.project.loop is not None:
            menu.addAction("No loop", lambda: self.doc.apply(poses.without_loop(self.doc.project), "No loop"))

    def at_frame(self, frame: int, command: Callable[[Document], str]) -> None:
        """Run a pose command at `frame` (the playhead goes there, as a key edit there would show)."""
        self.doc.set_frame(frame)
        message = command(self.doc)
        window = self.window()
        if hasattr(window, "statusBar"):
            window.statusBar().showMessage(message, 6000)

    def set_interp(self, interp: str) -> None:
        """The selected keys leave by `interp`."""
        self.doc.apply(edits.set_interp(self.doc.project, self.doc.selected_keys, interp), f"Interpolation {interp}")

    def delete_keys(self) -> None:
        """Delete the selected keys."""
        self.doc.apply(edits.delete_keys(self.doc.project, self.doc.selected_keys), "Delete keys")
        self.doc.select_keys([])


class TimelinePanel(QWidget):
    """Transport bar above the dopesheet."""

    def __init__(self, doc: Document, playback: Playback, parent=None):
        super().__init__(parent)
        self.doc, self.playback = doc, playback
        self.dopesheet = Dopesheet(doc)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.setSpacing(2)
        layout.addLayout(self._transport())
        layout.addWidget(self.dopesheet, 1)
        doc.changed.connect(self._sync_fields)
        doc.frame_changed.connect(self._sync_fields)
        playback.dropped_changed.connect(self._show_dropped)
        playback.playing_changed.connect(
            lambda on: self.play_button.setIcon(
                self.style().standardIcon(
                    QStyle.StandardPixmap.SP_MediaPause if on else QStyle.StandardPixmap.SP_MediaPlay
                )
            )
        )
        self._sync_fields()

    def _button(self, icon, tip: str, slot) -> QToolButton:
        b = QToolButton(toolTip=tip)
        b.setIcon(self.style().standardIcon(icon))
        b.clicked.connect(slot)
        return b

    def _transport(self) -> QHBoxLayout:
        row = QHBoxLayout()
        doc = self.doc
        sp = QStyle.StandardPixmap
        row.addWidget(self._button(sp.SP_MediaSkipBackward, "First frame (Home)", lambda: doc.set_frame(0)))
        row.addWidget(
            self._button(sp.SP_MediaSeekBackward, "Previous frame (Left)", lambda: doc.set_frame(doc.frame - 1))
        )
        self.play_button = self._button(sp.SP_MediaPlay, "Play / pause (Space)", self.playback.toggle)
        row.addWidget(self.play_button)
        row.addWidget(self._button(sp.SP_MediaSeekForward, "Next frame (Right)", lambda: doc.set_frame(doc.frame + 1)))
        row.addWidget(
            self._button(sp.SP_MediaSkipForward, "Last frame (End)", lambda: doc.set_frame(doc.project.frames - 1))
        )
        self.loop_box = QCheckBox("Loop", checked=True)
        self.loop_box.toggled.connect(lambda on: setattr(self.playback, "loop", on))
        row.addWidget(self.loop_box)
        row.addSpacing(12)
        self.frame_spin = QSpinBox(prefix="frame ")
        self.frame_spin.valueChanged.connect(doc.set_frame)
        row.addWidget(self.frame_spin)
        row.addStretch(1)
        row.addWidget(QLabel("Frames"))
        self.frames_spin = FramesSpinBox()
        self.frames_spin.editingFinished.connect(self.frames_edited)
        self.frames_spin.valueChanged.connect(self._frames_stepped)
        row.addWidget(self.frames_spin)
        row.addWidget(QLabel("fps"))
        self.fps_spin = QDoubleSpinBox(decimals=2)
        self.fps_spin.setRange(*FPS_RANGE)
        self.fps_spin.editingFinished.connect(self._fps_edited)
        row.addWidget(self.fps_spin)
        self.duration_label = QLabel()
        row.addWidget(self.duration_label)
        self.dropped_label = QLabel(
            toolTip="Playback keeps the project's fps by the clock: when a frame takes longer "
            "to draw than it lasts, the frames it covered are skipped"
        )
        self.dropped_label.setStyleSheet("color: rgb(255, 170, 60)")
        row.addWidget(self.dropped_label)
        row.addSpacing(12)
        row.addWidget(QLabel("Camera"))
        self.zoom_spin = QDoubleSpinBox(
            decimals=3, prefix="zoom ", toolTip="Camera zoom at the playhead (keys the camera)"
        )
        self.zoom_spin.setRange(0.01, 100)
        self.zoom_spin.setSingleStep(0.05)
        self.roll_spin = QDoubleSpinBox(
            decimals=1, suffix="°", prefix="roll ", toolTip="Camera roll at the playhead, degrees (keys the camera)"
        )
        self.roll_spin.setRange(-3600, 3600)
        for index, spin in ((2, self.zoom_spin), (3, self.roll_spin)):
            spin.setKeyboardTracking(False)
            spin.valueChanged.connect(lambda value, i=index: self._camera_edited(i, value))
            row.addWidget(spin)
        return row

    def _camera_edited(self, index: int, value: float) -> None:
        """Key the camera at the playhead with one of its values (2: zoom, 3: roll) changed."""
        params = edits.camera_at(self.doc.project, self.doc.frame)
        if abs(params[index] - value) < 1e-9:
            return
        params[index] = value
        name = "Zoom" if index == 2 else "Roll"
        self.doc.apply(edits.set_camera_key(self.doc.project, self.doc.frame, params), f"{name} camera")

    def _show_dropped(self, dropped: int, due: int) -> None:
        """Beside the fps field: how many frames playback skipped to keep time (empty when none)."""
        fps = float(self.doc.project.fps)
        self.dropped_label.setText(f"dropped {dropped} of {due} frames to keep {fps:g} fps" if dropped else "")

    def _sync_fields(self, *_args) -> None:
        """The fields show the project and playhead; one whose value is already shown is left alone (a spin box
        repaints on any setValue, and a pose drag changes neither, on every mouse move)."""
        p = self.doc.project
        for spin, value in ((self.frames_spin, p.frames), (self.fps_spin, float(p.fps))):
            if not spin.hasFocus():
                _show_value(spin, value)
        if self.frame_spin.maximum() != p.frames - 1:
            self.frame_spin.blockSignals(True)
            self.frame_spin.setRange(0, p.frames - 1)
            self.frame_spin.blockSignals(False)
        _show_value(self.frame_spin, self.doc.frame)
        self.duration_label.setText(f"{p.frames / float(p.fps):.2f} s")
        camera = edits.camera_at(p, self.doc.frame)
        for spin, value in ((self.zoom_spin, camera[2]), (self.roll_spin, camera[3])):
            _show_value(spin, float(value))

    def _frames_stepped(self, value: int) -> None:
        if not self.frames_spin.hasFocus() or value % 4 == 1:
            self._apply_frames(value)

    def frames_edited(self) -> None:
        """The frame count typed in the field is applied (snapped to a count the model takes)."""
        self._apply_frames(self.frames_spin.value())

    def _apply_frames(self, value: int) -> None:
        snapped = edits.nearest_valid_frames(value)
        if snapped != self.doc.project.frames:
            self.doc.apply(edits.set_frames(self.doc.project, snapped), f"Frames {snapped}")
        self._sync_fields()

    def _fps_edited(self) -> None:
        fps = self.fps_spin.value()
        if fps != float(self.doc.project.fps):
            self.doc.apply(edits.set_fps(self.doc.project, fps), f"fps {fps:g}")


def _show_value(spin, value) -> None:
    """Set a spin box's value without its signals, only when it differs from what it shows (to its decimals)."""
    if isinstance(spin, QDoubleSpinBox):
        value = round(value, spin.decimals())
    if spin.value() != value:
        spin.blockSignals(True)
        spin.setValue(value)
        spin.blockSignals(False)
