"""The curve editor (Blender's graph editor, in pyqtgraph): x/y of the selected joints, or the camera's values.

Curves are sampled from the document; keys are points you drag (time and value). A drag writes the
key through an undo command (merged per drag), the same way the canvas does.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QVBoxLayout, QWidget

from poseanything_studio.core import edits
from poseanything_studio.core.edits import CAMERA_ROW

from .document import Document, new_drag_serial
from .throttle import Throttle

CAMERA_CHANNELS = (("pan x", 0, 1.0), ("pan y", 1, 1.0), ("zoom ×100", 2, 100.0), ("roll °", 3, 1.0))
CHANGE_MS = 100  # document changes (a drag's, on every mouse move) redraw the curves at most this often
COLOURS = ((240, 90, 90), (90, 200, 110), (100, 160, 255), (240, 200, 80), (200, 120, 240), (80, 220, 220))


class KeyPoints(pg.ScatterPlotItem):
    """Draggable key points (as pyqtgraph's CustomGraphItem example), writing to the document."""

    def __init__(self, editor: CurveEditor):
        super().__init__(size=11, pen=pg.mkPen(20, 20, 20), symbol="d")
        self.editor = editor
        self._drag: dict | None = None

    def mouseDragEvent(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            hits = self.pointsAt(ev.buttonDownPos())
            if len(hits) == 0:
                ev.ignore()
                return
            self._drag = {"data": hits[0].data(), "serial": new_drag_serial(), "base": self.editor.doc.project}
        elif self._drag is None:
            ev.ignore()
            return
        ev.accept()
        pos = ev.pos()
        self.editor.drag_key(self._drag, float(pos.x()), float(pos.y()))
        if ev.isFinish():
            self._drag = None


class CurveEditor(QWidget):
    """Curves over frames for the selected joints (x, y) or the camera row (pan, zoom, roll)."""

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.plot = pg.PlotWidget(background=(30, 30, 34))
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.addLegend(offset=(8, 8), labelTextSize="8pt")
        self.plot.setLabel("bottom", "frame")
        self.plot.getViewBox().invertY(False)
        self.playhead = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen(255, 70, 70, width=2))
        self.playhead.sigPositionChanged.connect(lambda line: doc.set_frame(round(line.value())))
        self.plot.addItem(self.playhead)
        self.points = KeyPoints(self)
        self.plot.addItem(self.points)
        self._curves: list[pg.PlotDataItem] = []
        self._channel_keys = ()
        self._throttle = Throttle(CHANGE_MS, self)
        self._stale = False  # a change came while hidden or held: redraw when shown, or let go
        self._held = False  # a drag on the canvas is posing: the curves wait for its release
        self._sampled: tuple = (None, None)  # (project, positions (F, J, 2) at its frames)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        doc.changed.connect(self._project_changed)
        doc.selection_changed.connect(self.refresh)
        doc.frame_changed.connect(self._move_playhead)
        self.refresh()

    def channels(self) -> list[tuple[str, str, int, float]]:
        """(label, row, component, display scale) for what is shown."""
        rows = list(self.doc.selected_rows) or list(self.doc.selected_joints)
        out = []
        for row in rows[:6]:
            if row == CAMERA_ROW:
                out += [(f"camera {name}", CAMERA_ROW, c, s) for name, c, s in CAMERA_CHANNELS]
            elif row in self.doc.project.rig.joint_ids:
                out += [(f"{row}.x", row, 0, 1.0), (f"{row}.y", row, 1, 1.0)]
        return out

    def _project_changed(self, *_args) -> None:
        """A new document value: redraw soon (at most every CHANGE_MS while a drag of a key goes on), or once shown,
        or once a pose drag on the canvas is released."""
        if self._held or not self.isVisible():
            self._throttle.cancel()
            self._stale = True
            return
        self._throttle.call(self.refresh)

    def hold(self, held: bool) -> None:
        """While a drag on the canvas poses joints (`held`), leave the curves as they are: every mouse move re-keys
        the playhead frame, and resampling and repainting every frame's curve on each would slow the canvas down.
        Let go (the release), they show the new keys, once."""
        self._held = held
        if not held and self._stale and self.isVisible():
            self.refresh()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale and not self._held:
            self.refresh()

    def refresh(self, *_args) -> None:
        """Redraw the curves and key points from the document."""
        self._throttle.cancel()
        self._stale = False
        project = self.doc.project
        channels = self.channels()
        frames = np.arange(project.frames)
        keys = tuple((label, row, comp) for label, row, comp, _ in channels)
        if keys != self._channel_keys:
            for c in self._curves:
                self.plot.removeItem(c)
            self.plot.plotItem.legend.clear()
            self._curves = [
                self.plot.plot(pen=pg.mkPen(COLOURS[i % len(COLOURS)], width=2), name=label)
                for i, (label, *_rest) in enumerate(channels)
            ]
            self._channel_keys = keys
        spots = []
        for i, (_label, row, comp, scale) in enumerate(channels):
            values = self._values(row, frames)[:, comp] * scale
            self._curves[i].setData(frames, values)
            colour = COLOURS[i % len(COLOURS)]
            for frame in edits.key_frames(project, row):
                selected = (row, frame) in self.doc.selected_keys
                spots.append(
                    {
                        "pos": (
                            frame,
                            values[min(frame, len(values) - 1)]
                            if frame < len(values)
                            else self._values(row, np.array([frame]))[0, comp] * scale,
                        ),
                        "data": (row, frame, comp, scale),
                        "brush": pg.mkBrush(255, 140, 0) if selected else pg.mkBrush(*colour),
                    }
                )
        self.points.setData(spots)
        self.plot.setXRange(0, max(project.frames - 1, 1), padding=0.02)
        self.plot.setTitle(
            "select joints or the camera row to see their curves" if not channels else None,
            color=(160, 160, 160),
            size="9pt",
        )
        self._move_playhead(self.doc.frame)

    def _values(self, row: str, frames: np.ndarray) -> np.ndarray:
        project = self.doc.project
        if row == CAMERA_ROW:
            last = max(int(frames.max()) + 1, project.frames)
            return project.camera.sample(last)[frames]
        # what plays: the project's interpolation (bones turning about their parents by default) and loop
        joint = project.rig.joint_index(row)
        if len(frames) == project.frames and np.array_equal(frames, np.arange(project.frames)):
            if self._sampled[0] is not project:  # every joint at every frame once per value, for all its curves
                self._sampled = (project, project.joint_positions())
            return self._sampled[1][:, joint]
        return project.positions_at(frames)[:, joint]

    def _move_playhead(self, frame: int) -> None:
        self.playhead.blockSignals(True)
        self.playhead.setValue(frame)
        self.playhead.blockSignals(False)

    def drag_key(self, drag: dict, x: float, y: float) -> None:
        """Move the dragged key to frame round(x) and value y (display units)."""
        row, frame, comp, scale = drag["data"]
        new_frame = int(min(max(round(x), 0), self.doc.project.frames - 1))
        moved = edits.set_key_value(drag["base"], (row, frame), comp, y / scale, new_frame)
        self.doc.apply(moved, "Edit curve key", drag=drag["serial"])
        self.doc.select_keys([(row, new_frame)])
