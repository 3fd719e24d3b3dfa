"""The Motion dock: import a motion file, apply a preset, track a reference video. Each lands as one undo step.

The importers, presets and the tracker are pure (`core.mocap`, `core.openpose`, `core.pose_images`,
`core.presets`, `core.tracking`); this panel runs the slow ones in a worker thread on a frozen snapshot of the
project and applies the result to the document on the GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import create_worker

from poseanything_studio.core.camera import apply_affine
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.images import cover_matrix
from poseanything_studio.core.mocap import MAPPING_KEY, guess_mapping, import_clip, read_bvh
from poseanything_studio.core.motion_files import import_motion
from poseanything_studio.core.presets import apply_preset, presets_for
from poseanything_studio.core.project import Project
from poseanything_studio.core.tracking import TrackResult, track_rig_steps, tracked_clip

from .document import Document

MOTION_FILES = "Motion (*.bvh *.json);;BVH mocap (*.bvh);;OpenPose / COCO keypoints (*.json)"
VIDEO_FILES = "Videos (*.mp4 *.mov *.avi *.mkv *.webm)"


class MappingDialog(QDialog):
    """Which clip joint drives each rig joint: the saved or guessed mapping, editable; kept in the project."""

    NONE = "(not mapped)"

    def __init__(self, project: Project, clip, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Map {Path(clip.source).name} onto the rig")
        saved = project.extra.get(MAPPING_KEY)
        start = saved if isinstance(saved, dict) and saved else guess_mapping(project.rig, clip.names)
        form = QFormLayout()
        self.combos: dict[str, QComboBox] = {}
        for joint in project.rig.joint_ids:
            combo = QComboBox()
            combo.addItems([self.NONE, *clip.names])
            if start.get(joint) in clip.names:
                combo.setCurrentText(start[joint])
            form.addRow(joint, combo)
            self.combos[joint] = combo
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        inner = QWidget()
        inner.setLayout(form)
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(inner)
        layout = QVBoxLayout(self)
        layout.addWidget(
            QLabel("Each rig joint follows the clip joint chosen for it; joints left unmapped follow their parent.")
        )
        layout.addWidget(scroll)
        layout.addWidget(buttons)

    def mapping(self) -> dict[str, str]:
        return {j: c.currentText() for j, c in self.combos.items() if c.currentText() != self.NONE}


class _Job(QObject):
    """One background function at a time, its result delivered on the GUI thread. A generator function's
    yields go to `progress` and its return value to `done`; `idle` is emitted once the worker has ended."""

    idle = Signal()

    def __init__(self, parent: QObject):
        super().__init__(parent)
        self.worker = None

    def start(
        self,
        function: Callable[..., Any],
        args: tuple,
        done: Callable[[Any], None],
        failed: Callable[[Exception], None],
        progress: Callable[[Any], None] | None = None,
    ) -> bool:
        if self.worker is not None:
            return False
        worker = create_worker(function, *args, _start_thread=False, _ignore_errors=True)  # errors: `failed`
        if progress is not None:
            worker.yielded.connect(progress)
        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.finished.connect(self._finished)
        self.worker = worker
        worker.start()
        return True

    def _finished(self) -> None:
        self.worker = None
        self.idle.emit()


@dataclass(frozen=True)
class _VideoRead:
    """What a reference-video read was started for: the file, the project's fps, frame count and picture, and
    a serial that any later read or another project moves on (a result for an older serial is dropped)."""

    path: Path
    fps: float
    frames: int
    image: str
    serial: int
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)

    def fits(self, project: Project) -> bool:
        return (project.fps, project.frames, project.image) == (self.fps, self.frames, self.image)


class VideoView(QWidget):
    """A reference video's frame with the rig as placed on it; drag a joint to place or correct it."""

    joint_moved = Signal(str, float, float)  # joint id, video x, y (on release)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMinimumSize(240, 160)
        self.image: QImage | None = None
        self.size_xy = (1, 1)
        self.pose: np.ndarray | None = None  # [J, 2] video pixels
        self.joint_ids: tuple[str, ...] = ()
        self.bones: np.ndarray = np.zeros((0, 2), int)
        self.lost: set[str] = set()
        self._dragging: int | None = None

    def show_frame(
        self,
        frame: np.ndarray | None,
        pose: np.ndarray | None,
        joint_ids: tuple[str, ...],
        bones: np.ndarray,
        lost: set[str] = frozenset(),
    ) -> None:
        if frame is not None:
            rgb = np.ascontiguousarray(frame[..., :3])
            self.image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format.Format_RGB888)
            self.image = self.image.copy()  # own the pixels
            self.size_xy = (rgb.shape[1], rgb.shape[0])
        self.pose, self.joint_ids, self.bones, self.lost = pose, joint_ids, bones, set(lost)
        self.update()

    def clear(self) -> None:
        """No video: the view asks for one."""
        self.image, self.pose, self._dragging = None, None, None
        self.update()

    def _scale(self) -> tuple[float, float, float]:
        w, h = self.size_xy
        s = min(self.width() / w, self.height() / h)
        return s, (self.width() - w * s) / 2, (self.height() - h * s) / 2

    def to_view(self, xy: np.ndarray) -> np.ndarray:
        s, ox, oy = self._scale()
        return xy * s + [ox, oy]

    def to_video(self, x: float, y: float) -> tuple[float, float]:
        s, ox, oy = self._scale()
        return (x - ox) / s, (y - oy) / s

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 30, 30))
        if self.image is None:
            painter.setPen(QColor(180, 180, 180))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "Open a reference video")
            return
        s, ox, oy = self._scale()
        painter.drawImage(QPointF(ox, oy), self.image.scaled(int(self.size_xy[0] * s), int(self.size_xy[1] * s)))
        if self.pose is None:
            return
        xy = self.to_view(self.pose)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(255, 200, 0), 2))
        for a, b in self.bones:
            painter.drawLine(QPointF(*xy[a]), QPointF(*xy[b]))
        for joint, (x, y) in zip(self.joint_ids, xy, strict=True):
            painter.setBrush(QColor(255, 60, 60) if joint in self.lost else QColor(255, 255, 255))
            painter.drawEllipse(QPointF(x, y), 4, 4)

    def mousePressEvent(self, event) -> None:
        if self.pose is None or not len(self.pose):
            return
        xy = self.to_view(self.pose)
        p = np.array([event.position().x(), event.position().y()])
        nearest = int(np.argmin(np.linalg.norm(xy - p, axis=1)))
        self._dragging = nearest if np.linalg.norm(xy[nearest] - p) <= 10 else None

    def mouseMoveEvent(self, event) -> None:
        if self._dragging is not None and self.pose is not None:
            self.pose = self.pose.copy()
            self.pose[self._dragging] = self.to_video(event.position().x(), event.position().y())
            self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._dragging is not None and self.pose is not None:
            x, y = self.pose[self._dragging]
            self.joint_moved.emit(self.joint_ids[self._dragging], float(x), float(y))
        self._dragging = None


class MotionPanel(QWidget):
    """Import, presets and reference-video tracking for the open document."""

    status = Signal(str)
    video_read = Signal(bool)  # a reference-video read has ended: True when its frames are now the dock's

    def __init__(self, doc: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.doc = doc
        self.job = _Job(self)
        self.video: np.ndarray | None = None  # [T, H, W, 3] at the project's fps
        self.video_path: Path | None = None
        self.placed: np.ndarray | None = None  # [J, 2] the rig on the video at `placed_frame`
        self.placed_frame = 0
        self.corrections: dict[int, dict[str, tuple[float, float]]] = {}
        self.tracked: TrackResult | None = None
        self.track_worker = None
        self._cancel = threading.Event()
        self.reader = _Job(self)  # reads a reference video, one at a time
        self.reader.idle.connect(self._start_pending_read)
        self._read: _VideoRead | None = None  # the read whose result is wanted
        self._pending_read: _VideoRead | None = None  # waits for a cancelled read to stop
        self._read_serial = 0
        layout = QVBoxLayout(self)
        layout.addWidget(self._import_box())
        layout.addWidget(self._preset_box())
        layout.addWidget(self._video_box(), 1)
        self._presets_rig = None  # the rig the preset list was made for
        doc.changed.connect(self._rig_changed)
        doc.frame_changed.connect(lambda _f: self._show_video_frame())
        doc.reset_done.connect(self._another_project)
        self._rig_changed(doc.project)

    # -- import ---------------------------------------------------------------------------------------------------
    def _import_box(self) -> QGroupBox:
        box = QGroupBox("Import motion")
        row = QHBoxLayout(box)
        self.import_file_button = QPushButton("File…", toolTip="A BVH clip or OpenPose / COCO keypoint JSON")
        self.import_folder_button = QPushButton(
            "Folder…",
            toolTip="OpenPose JSON files, or pose images "
            "(ours or the PoseAnything release's): the drawing becomes the rig",
        )
        self.import_file_button.clicked.connect(self._ask_import_file)
        self.import_folder_button.clicked.connect(self._ask_import_folder)
        row.addWidget(self.import_file_button)
        row.addWidget(self.import_folder_button)
        return box

    def _ask_import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import motion", "", MOTION_FILES)
        if not path:
            return
        mapping = None
        if path.lower().endswith(".bvh"):
            try:
                clip = read_bvh(path)
            except ProjectError as err:
                self._failed(err)
                return
            dialog = MappingDialog(self.doc.project, clip, self)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            mapping = dialog.mapping()
        self.import_path(Path(path), mapping)

    def _ask_import_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import motion from a folder")
        if path:
            self.import_path(Path(path))

    def import_path(self, path: Path, mapping: dict[str, str] | None = None) -> bool:
        """Import `path` in the background; the keys arrive as one undo step ("Import NAME")."""
        snapshot = self.doc.project
        return self.job.start(
            import_motion,
            (snapshot, path, mapping),
            lambda result: self._imported(snapshot, path, result),
            self._failed,
        )

    def _imported(self, snapshot: Project, path: Path, result: tuple[Project, str]) -> None:
        project, line = result
        if self.doc.project != snapshot:
            self.status.emit(f"{path.name}: the project changed while importing; import again")
            return
        self.doc.apply(project, f"Import {path.name}")
        self.status.emit(line)

    def _failed(self, error: Exception) -> None:
        text = (
            " ".join(str(error).split())
            if isinstance(error, ProjectError | OSError | ValueError)
            else f"{type(error).__name__}: {error}"
        )
        QMessageBox.warning(self, "Cannot import", text)

    # -- presets --------------------------------------------------------------------------------------------------
    def _preset_box(self) -> QGroupBox:
        box = QGroupBox("Presets")
        form = QFormLayout(box)
        self.preset_combo = QComboBox()
        self.speed_spin = QDoubleSpinBox(minimum=0.1, maximum=10.0, value=1.0, singleStep=0.1, suffix=" x")
        self.amplitude_spin = QDoubleSpinBox(minimum=0.0, maximum=5.0, value=1.0, singleStep=0.1, suffix=" x")
        self.preset_button = QPushButton("Apply from playhead")
        self.preset_button.clicked.connect(self.apply_selected_preset)
        form.addRow("Motion", self.preset_combo)
        form.addRow("Speed", self.speed_spin)
        form.addRow("Amplitude", self.amplitude_spin)
        form.addRow(self.preset_button)
        return box

    def _rig_changed(self, project: Project) -> None:
        if project.rig is self._presets_rig:
            return  # the same rig (a pose drag's every move): the same presets
        self._presets_rig = project.rig
        keys = [p.key for p in presets_for(project.rig)]
        if keys != [self.preset_combo.itemData(i) for i in range(self.preset_combo.count())]:
            self.preset_combo.clear()
            for preset in presets_for(project.rig):
                self.preset_combo.addItem(preset.name, preset.key)
        self.preset_button.setEnabled(bool(keys))

    def apply_selected_preset(self) -> None:
        key = self.preset_combo.currentData()
        if not key:
            return
        try:
            project = apply_preset(
                self.doc.project,
                key,
                start=self.doc.frame,
                speed=self.speed_spin.value(),
                amplitude=self.amplitude_spin.value(),
            )
        except ProjectError as err:
            self._failed(err)
            return
        self.doc.apply(project, f"Preset {self.preset_combo.currentText()}")

    # -- reference video ------------------------------------------------------------------------------------------
    def _video_box(self) -> QGroupBox:
        box = QGroupBox("Reference video")
        column = QVBoxLayout(box)
        row = QHBoxLayout()
        self.open_video_button = QPushButton("Open…")
        self.open_video_button.clicked.connect(self._ask_video)
        self.track_button = QPushButton(
            "Track",
            toolTip="Follow the rig's joints through the video from the "
            "frame you placed it on; drag a joint afterwards to correct it",
        )
        self.track_button.clicked.connect(self.track)
        self.cancel_button = QPushButton("Cancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel_tracking)  # the read or the Track that runs
        for button in (self.open_video_button, self.track_button, self.cancel_button):
            row.addWidget(button)
        column.addLayout(row)
        self.view = VideoView()
        self.view.joint_moved.connect(self._joint_placed)
        column.addWidget(self.view, 1)
        self.read_label = QLabel("", visible=False)
        column.addWidget(self.read_label)
        self.progress = QProgressBar(visible=False)
        column.addWidget(self.progress)
        self.lost_label = QLabel("", wordWrap=True)
        column.addWidget(self.lost_label)
        apply_row = QHBoxLayout()
        self.tolerance_spin = QDoubleSpinBox(
            minimum=0.1,
            maximum=20.0,
            value=1.0,
            singleStep=0.5,
            suffix=" px",
            toolTip="How far the keys may stray from the tracked motion",
        )
        self.apply_track_button = QPushButton("Apply as keys", enabled=False)
        self.apply_track_button.clicked.connect(self.apply_tracking)
        apply_row.addWidget(QLabel("Tolerance"))
        apply_row.addWidget(self.tolerance_spin)
        apply_row.addWidget(self.apply_track_button)
        column.addLayout(apply_row)
        self.track_button.setEnabled(False)
        return box

    def _ask_video(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a reference video", "", VIDEO_FILES)
        if path:
            self.open_video(Path(path))

    @property
    def reading(self) -> bool:
        """A reference video is being read (or waits for a cancelled read to stop)."""
        return self._read is not None or self._pending_read is not None

    def open_video(self, path: Path) -> bool:
        """Start reading `path` at the project's fps and frame count in the background, with progress and
        Cancel; when it is read (`video_read`), the rig is placed on it where the render frames it. A read
        already running is cancelled and its frames dropped. False (and nothing starts) while tracking."""
        if self.track_worker is not None:
            self.status.emit("Tracking: cancel it before opening another video")
            return False
        project = self.doc.project
        self._read_serial += 1
        request = _VideoRead(Path(path), project.fps, project.frames, project.image, self._read_serial)
        if self._read is not None:
            self._read.cancel.set()
        self._read, self._pending_read = None, request
        self.read_label.setText(f"Reading {request.path.name}…")
        self.read_label.setVisible(True)
        self._show_running(0)  # busy until the header says how many frames
        self._start_pending_read()
        return True

    def _show_running(self, total: int) -> None:
        """A read or Track started: the bar from 0 of `total` (0: busy), Cancel on, Track off."""
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.setVisible(True)
        self.cancel_button.setEnabled(True)
        self.track_button.setEnabled(False)

    def _start_pending_read(self) -> None:
        request = self._pending_read
        if request is None or self.reader.worker is not None:
            return  # nothing waits, or a cancelled read still stops: this runs again when it has
        self._pending_read, self._read = None, request
        self.reader.start(
            _read_reference,
            (request.path, request.fps, request.frames, request.cancel),
            lambda video: self._video_done(request, video),
            lambda error: self._video_failed(request, error),
            lambda step: self._video_step(request, step),
        )

    def _video_step(self, request: _VideoRead, step) -> None:
        if request is not self._read:
            return
        self.progress.setRange(0, step.total)
        self.progress.setValue(step.done)
        self.read_label.setText(f"Reading {request.path.name}: {step.done}/{step.total} frames")

    def _video_done(self, request: _VideoRead, video: np.ndarray | None) -> None:
        if request is not self._read:
            return  # cancelled, another video asked for or another project opened: dropped
        self._read = None
        self._reading_ended()
        if video is None:
            self.video_read.emit(False)
            return
        project = self.doc.project
        if not request.fits(project):
            self.status.emit(f"{request.path.name}: the project changed while reading; open the video again")
            self.video_read.emit(False)
            return
        self.video, self.video_path = video, request.path
        self.corrections, self.tracked = {}, None
        self.placed_frame = min(self.doc.frame, len(video) - 1)
        self.placed = self._rig_on_video(project)
        self.track_button.setEnabled(True)
        self.apply_track_button.setEnabled(False)
        self.lost_label.setText(
            f"{request.path.name}: {len(video)} frames; drag the joints onto the subject, then Track"
        )
        self._show_video_frame()
        self.video_read.emit(True)

    def _video_failed(self, request: _VideoRead, error: Exception) -> None:
        if request is not self._read:
            return
        self._read = None
        self._reading_ended()
        self._failed(error)
        self.video_read.emit(False)

    def _reading_ended(self) -> None:
        """The dock as it was before the read: its progress hidden, Track as the shown video allows."""
        if self.reading:
            return  # another read is on its way
        self.read_label.setVisible(False)
        self.progress.setVisible(False)
        self.progress.setRange(0, 1)
        self.cancel_button.setEnabled(self.track_worker is not None)
        self.track_button.setEnabled(self.video is not None and self.track_worker is None)

    def cancel_reading(self) -> None:
        """Stop the running read; the dock keeps the video it showed."""
        if not self.reading:
            return
        for request in (self._read, self._pending_read):
            if request is not None:
                request.cancel.set()
        self._read = self._pending_read = None
        self._reading_ended()
        self.status.emit("Reading the video cancelled")
        self.video_read.emit(False)

    def _another_project(self) -> None:
        """File > New, Open, a drop: the video, its placed rig and its tracking were the old project's, and a
        read or a Track started for it ends unseen."""
        self._cancel.set()
        for request in (self._read, self._pending_read):
            if request is not None:
                request.cancel.set()
        self.video = self.video_path = self.placed = self.tracked = None
        self.corrections = {}
        self.view.clear()
        self.lost_label.setText("")
        self.apply_track_button.setEnabled(False)
        if self.reading:
            self._read = self._pending_read = None
            self._reading_ended()
            self.video_read.emit(False)
        self.track_button.setEnabled(False)

    def _rig_on_video(self, project: Project) -> np.ndarray:
        """The pose at the playhead, mapped from the picture into the video as both would be framed in the render."""
        h, w = self.video.shape[1:3]
        picture = project.read_image()
        to_output = cover_matrix((picture.shape[1], picture.shape[0]), project.size)
        video_to_output = cover_matrix((w, h), project.size)
        pose = project.joint_positions(self.placed_frame + 1)[self.placed_frame]
        import cv2

        return apply_affine(cv2.invertAffineTransform(video_to_output), apply_affine(to_output, pose))

    def _show_video_frame(self) -> None:
        if self.video is None:
            return
        f = min(self.doc.frame, len(self.video) - 1)
        rig = self.doc.project.rig
        if self.tracked is not None:
            pose = self.tracked.positions[f]
            lost = {j for j, frames in self.tracked.lost.items() if f in frames}
        else:
            pose, lost = self.placed, set()
        self.view.show_frame(self.video[f], pose, rig.joint_ids, rig.bone_joint_indices(), lost)

    def _joint_placed(self, joint: str, x: float, y: float) -> None:
        f = min(self.doc.frame, len(self.video) - 1) if self.video is not None else 0
        if self.tracked is None:
            self.placed = self.placed.copy()
            self.placed[self.doc.project.rig.joint_index(joint)] = (x, y)
            self.placed_frame = f
        else:
            self.corrections.setdefault(f, {})[joint] = (x, y)
            self.track()  # a correction re-tracks from where it was put

    def track(self) -> bool:
        """Track the placed rig through the video in the background, with progress and Cancel."""
        if self.video is None or self.track_worker is not None or self.reading:
            return False
        rig = self.doc.project.rig
        self._cancel = threading.Event()
        cancel = self._cancel
        steps = track_rig_steps(
            self.video,
            rig,
            self.placed.copy(),
            self.placed_frame,
            {f: dict(c) for f, c in self.corrections.items()},
            cancel.is_set,
        )
        worker = create_worker(lambda: (yield from steps), _start_thread=False, _ignore_errors=True)
        worker.yielded.connect(self._tracking_step)
        worker.finished.connect(self._tracking_done)
        worker.errored.connect(self._failed)
        self.track_worker = worker
        self._show_running(len(self.video))
        worker.start()
        return True

    def cancel_tracking(self) -> None:
        """Cancel: stop the running Track and the running video read (the button; the window's close)."""
        self._cancel.set()
        self.cancel_reading()

    def _tracking_step(self, step) -> None:
        if self._cancel.is_set():
            return  # cancelled, or another project opened meanwhile: its last steps are not wanted
        if isinstance(step, TrackResult):
            self.tracked = step
            self.lost_label.setText(step.lost_summary())
            self.apply_track_button.setEnabled(True)
            self._show_video_frame()
        else:
            self.progress.setValue(int(step))

    def _tracking_done(self) -> None:
        self.track_worker = None
        self.progress.setVisible(False)
        self.cancel_button.setEnabled(False)
        self.track_button.setEnabled(self.video is not None)
        if self._cancel.is_set():
            self.status.emit("Tracking cancelled")

    def apply_tracking(self) -> None:
        """The tracked motion, retargeted onto the picture's rig, as keys within the tolerance: one undo step."""
        if self.tracked is None:
            return
        project = self.doc.project
        clip, mapping = tracked_clip(self.tracked, project.rig, project.fps, str(self.video_path))
        try:
            result, report = import_clip(project, clip, mapping, tolerance=self.tolerance_spin.value())
        except ProjectError as err:
            self._failed(err)
            return
        self.doc.apply(result, f"Track {self.video_path.name if self.video_path else 'video'}")
        keys = sum(len(t.keys) for t in result.tracks.values())
        self.status.emit(f"Tracked motion as {keys} keys ({report.frames} frames)")


def _read_reference(
    path: Path, fps: float, frames: int, cancel: threading.Event
) -> Generator[Any, None, np.ndarray | None]:
    """The worker's generator: ReadProgress steps, then the frames (None when cancelled)."""
    from poseanything_studio.videoio import reference_video_steps

    return (yield from reference_video_steps(path, fps, frames, cancelled=cancel.is_set))
