"""The render dock: settings, Render / Cancel with progress and ETA, live previews, then a player and Export.

Settings are part of the project (undoable). A render runs on a frozen snapshot in a worker; the
result is kept in memory and written only by Export, atomically (a cancelled or failed render
leaves no file).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import thread_worker

from ..rendering.events import Frame, Preview, Progress
from ..rendering.export import OutputError, output_target, write_frames
from .document import Document
from .previews import rgb_image
from .timeline import FramesSpinBox
from .worker import RenderController, RenderRequest, RenderResult, neural_unavailable_reason

PREVIEW_TABS = (("pose", "Pose"), ("parts", "Parts"), ("matching", "Matching"), ("frame", "Frame"))


class ImageView(QWidget):
    """Shows one picture scaled to fit, on dark grey, with a caption when empty."""

    def __init__(self, caption: str = "", parent=None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.caption = caption
        self.setMinimumSize(160, 100)

    def set_array(self, array) -> None:
        self.image = rgb_image(array) if array is not None else None
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, 190)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(30, 30, 34))
        if self.image is None:
            p.setPen(QColor(140, 140, 140))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.caption)
        else:
            size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
            x, y = (self.width() - size.width()) / 2, (self.height() - size.height()) / 2
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(QRectF(x, y, size.width(), size.height()), self.image)
        p.end()


class RenderPanel(QWidget):
    """Render settings, progress, live previews, the result player and Export MP4."""

    status = Signal(str)

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.controller = RenderController(self)
        self.result: RenderResult | None = None
        self._started = 0.0
        self._syncing = False
        self._settings_timer = QTimer(self, singleShot=True, interval=500)
        self._settings_timer.timeout.connect(self._apply_settings)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(self._form())
        layout.addLayout(self._buttons())
        layout.addWidget(self._previews(), 1)
        layout.addLayout(self._player())
        self.controller.progress.connect(self._on_progress)
        self.controller.preview.connect(self._on_preview)
        self.controller.frame.connect(self._on_frame)
        self.controller.finished.connect(self._on_finished)
        self.controller.failed.connect(self._on_failed)
        doc.changed.connect(self.sync_from_project)
        self.sync_from_project()

    # -- settings -------------------------------------------------------------------------------
    def _form(self) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.renderer = QComboBox()
        self.renderer.addItems(["puppet", "poseanything"])
        self.renderer.currentIndexChanged.connect(self._changed)
        form.addRow("Renderer", self.renderer)
        self.model_dir = QLineEdit(placeholderText="Wan2.2-TI2V-5B folder (for poseanything)")
        self.model_dir.editingFinished.connect(self._changed)
        browse = QPushButton("…", maximumWidth=28)
        browse.clicked.connect(self._browse_model)
        row = QHBoxLayout()
        row.addWidget(self.model_dir)
        row.addWidget(browse)
        form.addRow("Model", row)
        self.offload = QComboBox()  # a setting of this machine's GPU, not of the project
        self.offload.addItems(["auto", "none", "model", "group"])
        self.offload.setToolTip("GPU memory for poseanything: none (all on the GPU, fastest), model (one part at "
                                "a time), group (block by block: 1280x704x121 in a 24 GB card); auto picks by "
                                "free GPU memory")
        form.addRow("GPU memory", self.offload)
        self.prompt = QPlainTextEdit(placeholderText="What the video shows (neural renderer)")
        self.negative = QPlainTextEdit(placeholderText="What to avoid")
        for edit in (self.prompt, self.negative):
            edit.setFixedHeight(44)
            edit.textChanged.connect(self._changed)
        form.addRow("Prompt", self.prompt)
        form.addRow("Negative", self.negative)
        self.steps = QSpinBox(minimum=1, maximum=1000)
        self.guidance = QDoubleSpinBox(minimum=0, maximum=50, singleStep=0.5, decimals=1)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        row2 = QHBoxLayout()
        for label, w in (("steps", self.steps), ("cfg", self.guidance), ("seed", self.seed)):
            row2.addWidget(QLabel(label))
            row2.addWidget(w, 1)
            w.valueChanged.connect(self._changed)
        form.addRow("Sampling", row2)
        self.width_spin = QSpinBox(minimum=32, maximum=4096, singleStep=32)
        self.height_spin = QSpinBox(minimum=32, maximum=4096, singleStep=32)
        self.frames_spin = FramesSpinBox()
        row3 = QHBoxLayout()
        for label, w in (("w", self.width_spin), ("h", self.height_spin), ("frames", self.frames_spin)):
            row3.addWidget(QLabel(label))
            row3.addWidget(w, 1)
            w.editingFinished.connect(self._changed)
        form.addRow("Size", row3)
        return form

    def sync_from_project(self, *_args) -> None:
        """Show the project's render settings (and whether the neural renderer can run here)."""
        p = self.doc.project
        r = p.render
        self._syncing = True
        reason = neural_unavailable_reason(r.model_dir)
        item = self.renderer.model().item(1) if isinstance(self.renderer.model(), QStandardItemModel) else None
        if item is not None:
            item.setEnabled(reason is None)
            item.setToolTip(reason or "")
            item.setText("poseanything" + (f"  (unavailable: {reason})" if reason else ""))
        self.renderer.setCurrentIndex(1 if r.renderer == "poseanything" and reason is None else 0)
        self.renderer.setToolTip(f"poseanything: {reason}" if reason else "")
        self.model_dir.setText(r.model_dir or "")
        for edit, text in ((self.prompt, r.prompt), (self.negative, r.negative_prompt)):
            if edit.toPlainText() != text and not edit.hasFocus():
                edit.setPlainText(text)
        self.steps.setValue(r.steps)
        self.guidance.setValue(r.guidance)
        self.seed.setValue(r.seed)
        self.width_spin.setValue(p.size[0])
        self.height_spin.setValue(p.size[1])
        self.frames_spin.setValue(p.frames)
        self._syncing = False

    def _changed(self, *_args) -> None:
        if not self._syncing:
            self._settings_timer.start()

    def _apply_settings(self) -> None:
        """Write the fields into the project (one undo step)."""
        p = self.doc.project
        render = replace(p.render, renderer=self.renderer.currentText().split()[0],
                         prompt=self.prompt.toPlainText(), negative_prompt=self.negative.toPlainText(),
                         steps=self.steps.value(), guidance=float(self.guidance.value()), seed=self.seed.value(),
                         model_dir=self.model_dir.text().strip() or None)
        size = (self.width_spin.value() // 32 * 32, self.height_spin.value() // 32 * 32)
        frames = self.frames_spin.value()
        new = replace(p, render=render, size=size, frames=frames)
        if new != p:
            self.doc.apply(new, "Render settings")

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder (Wan2.2-TI2V-5B, diffusers layout)")
        if folder:
            self.model_dir.setText(folder)
            self._changed()

    # -- render ---------------------------------------------------------------------------------
    def _buttons(self) -> QVBoxLayout:
        col = QVBoxLayout()
        row = QHBoxLayout()
        self.render_button = QPushButton("Render")
        self.render_button.setStyleSheet("font-weight: bold")
        self.render_button.clicked.connect(self.start_render)
        self.cancel_button = QPushButton("Cancel", enabled=False)
        self.cancel_button.clicked.connect(self.cancel_render)
        row.addWidget(self.render_button, 2)
        row.addWidget(self.cancel_button, 1)
        col.addLayout(row)
        self.progress = QProgressBar(textVisible=True)
        self.progress.setFormat("idle")
        self.eta = QLabel("")
        col.addWidget(self.progress)
        col.addWidget(self.eta)
        return col

    def start_render(self) -> None:
        """Snapshot the project and render it in the worker."""
        if self.controller.running:
            return
        self._settings_timer.stop()
        self._apply_settings()
        request = RenderRequest(self.doc.project, self.doc.project.render.renderer, self.doc.mask,
                                self.offload.currentText())
        self.result = None
        self._started = time.perf_counter()
        self.render_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.export_button.setEnabled(False)
        self.progress.setRange(0, self.doc.project.frames)
        self.progress.setValue(0)
        self.progress.setFormat("preparing… (mask, mesh)")
        self.eta.setText("")
        for view in self.views.values():
            view.set_array(None)
        self.controller.start(request)

    def cancel_render(self) -> None:
        """Stop the running render (within one frame or step)."""
        self.controller.cancel()
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("cancelling…")

    def _on_progress(self, event: Progress) -> None:
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.progress.setFormat(f"{event.stage} %v / %m")
        elapsed = time.perf_counter() - self._started
        if event.done:
            left = elapsed / event.done * (event.total - event.done)
            self.eta.setText(f"elapsed {elapsed:.1f} s · ETA {left:.1f} s")

    def _on_preview(self, event: Preview) -> None:
        kind = event.kind if event.kind in self.views else "frame"
        self.views[kind].set_array(event.image)

    def _on_frame(self, event: Frame) -> None:
        self.views["frame"].set_array(event.image)
        if self.tabs.currentIndex() != 3 and event.index > 0:
            self.tabs.setCurrentIndex(3)

    def _on_finished(self, result: RenderResult | None) -> None:
        self.render_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if result is None:
            self.progress.setFormat("cancelled (nothing written)")
            self.status.emit("Render cancelled; nothing was written")
            return
        self.result = result
        self.progress.setFormat(f"done: {len(result.frames)} frames in {result.seconds:.1f} s")
        self.slider.setRange(0, len(result.frames) - 1)
        self.slider.setValue(0)
        self._show_result_frame(0)
        self.export_button.setEnabled(True)
        self.play_button.setEnabled(True)
        self.status.emit(f"Rendered {len(result.frames)} frames in {result.seconds:.1f} s — Export MP4 to save")

    def _on_failed(self, message: str) -> None:
        self.render_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("failed")
        self.eta.setText(message)
        QMessageBox.warning(self, "Render failed", message)

    # -- previews and player --------------------------------------------------------------------
    def _previews(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.views = {}
        captions = {"pose": "pose frames appear here", "parts": "part masks", "matching":
                    "part matching: first frame | last frame, each part in its matched part's colour",
                    "frame": "frames as they render, then the result"}
        for kind, title in PREVIEW_TABS:
            self.views[kind] = ImageView(captions[kind])
            self.tabs.addTab(self.views[kind], title)
        return self.tabs

    def _player(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.play_button = QPushButton("\u25b6", enabled=False, maximumWidth=32, toolTip="Play the result")
        self.play_button.clicked.connect(self._toggle_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._show_result_frame)
        self.export_button = QPushButton("Export MP4…", enabled=False)
        self.export_button.clicked.connect(self.export_dialog)
        row.addWidget(self.play_button)
        row.addWidget(self.slider, 1)
        row.addWidget(self.export_button)
        self.player_timer = QTimer(self)
        self.player_timer.timeout.connect(self._advance)
        return row

    def _show_result_frame(self, index: int) -> None:
        if self.result is not None and 0 <= index < len(self.result.frames):
            self.tabs.setCurrentIndex(3)
            self.views["frame"].set_array(self.result.frames[index])

    def _toggle_play(self) -> None:
        if self.player_timer.isActive():
            self.player_timer.stop()
            self.play_button.setText("\u25b6")
        elif self.result is not None:
            self.player_timer.start(round(1000 / float(self.result.fps)))
            self.play_button.setText("\u23f8")

    def _advance(self) -> None:
        self.slider.setValue((self.slider.value() + 1) % max(1, len(self.result.frames)))

    def export_dialog(self) -> None:
        """Ask where to write the MP4 (the dialog asks before replacing a file), then write it."""
        if self.result is None:
            return
        start = str(self.doc.path.with_suffix(".mp4")) if self.doc.path else "render.mp4"
        path, _ = QFileDialog.getSaveFileName(self, "Export MP4", start, "MP4 video (*.mp4)")
        if path:
            self.export(path if path.lower().endswith(".mp4") else path + ".mp4")

    def export(self, path: str):
        """Write the result to `path` in a worker (atomic: the file appears whole or not at all)."""
        try:
            target = output_target(path)
        except OutputError as err:
            QMessageBox.warning(self, "Cannot export", str(err))
            return None
        result = self.result
        worker = _export_worker(result, target)
        worker.returned.connect(lambda _: self.status.emit(f"Exported {Path(path).name}"))
        worker.errored.connect(lambda err: QMessageBox.warning(self, "Export failed", str(err)))
        self.export_button.setEnabled(False)
        worker.finished.connect(lambda: self.export_button.setEnabled(True))
        self.status.emit(f"Exporting {Path(path).name}…")
        worker.start()
        return worker


@thread_worker
def _export_worker(result: RenderResult, target) -> None:
    write_frames(iter(result.frames), target, result.fps, result.size, len(result.frames))
