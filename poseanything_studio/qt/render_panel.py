"""The render dock: settings, Render / Cancel with progress and ETA, live previews, then a player and Export.

Settings are part of the project (undoable), and only a field the user changed is written back: opening
a project or pressing Render never rewrites it. The device is this machine's choice (CUDA devices found
by a probe off the GUI thread, or the CPU for test models), not the project's. When the chosen renderer
cannot run, the panel says why and Render is disabled with that reason. A render runs on a frozen
snapshot in a worker; the result is kept in memory and written only by Export, atomically (a cancelled or
failed render leaves no file).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QMimeData, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter
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
    QSizePolicy,
    QSlider,
    QSpinBox,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import thread_worker

from poseanything_studio.core.model_files import CHECKPOINT_NAME
from poseanything_studio.core.modes import Init, Offload, Renderer, values
from poseanything_studio.core.project import MAX_PROMPT_CHARS, Project
from poseanything_studio.rendering.devices import DeviceProbe, probe_devices
from poseanything_studio.rendering.events import Frame, Preview, Progress
from poseanything_studio.rendering.export import OutputError, output_target, write_frames
from poseanything_studio.rendering.job import NeuralOptions, neural_options
from poseanything_studio.rendering.model_folders import checkpoint_note, neural_unavailable_reason

from .document import Document
from .previews import rgb_image
from .timeline import FramesSpinBox
from .worker import RenderController, RenderRequest, RenderResult

# Export's choices: the file dialog's filter, the suffix it adds, the subject's alpha (formats.py, for each kind).
EXPORT_CHOICES = (
    ("MP4 video, H.264 (*.mp4)", ".mp4", False),
    ("GIF, looping (*.gif)", ".gif", False),
    ("WebM VP9, the subject's alpha (*.webm)", ".webm", True),
    ("ProRes 4444 .mov, the subject's alpha (*.mov)", ".mov", True),
    ("PNG frames, full frame (*.png)", ".png", False),
    ("PNG frames, the subject alone (RGBA) (*.png)", ".png", True),
)
PREVIEW_TABS = (("pose", "Pose"), ("parts", "Parts"), ("matching", "Matching"), ("frame", "Frame"))
INIT_LABELS = {Init.AUTO: "auto (puppet without a checkpoint)", Init.NOISE: "noise", Init.PUPPET: "puppet (refine)"}
SUFFIXES = {choice[1] for choice in EXPORT_CHOICES}
CPU_LABEL = "CPU (test models only)"
PREVIEW_NOTES = {
    "parts": "step {step}: PTCM part tokens (32 px), first | last latent frame",
    "matching": "step {step}: attention matching, first frame | last frame",
    "prediction": "step {step}: the model's x0 estimate (middle latent frame)",
    "release_parts": "the release's skeleton segments (32 px tokens), first frame | last posed frame",
    "release_matching": "step {step}: the probe's matching, first-frame parts | the tokens matched in the last frame",
}
VIEW_OF = {"release_parts": "parts", "release_matching": "matching"}  # the official weights' previews
AVAILABILITY_FIELDS = frozenset({"renderer", "model_dir", "checkpoint", "init", "strength"})  # what the check reads
device_probe: DeviceProbe | None = None  # the one device probe per process: GPUs do not come and go while it runs


class ImageView(QWidget):
    """Shows one picture scaled to fit, on dark grey, with a caption when empty."""

    def __init__(self, caption: str = "", parent=None):
        super().__init__(parent)
        self.image: QImage | None = None
        self.caption = caption
        self.note = ""
        self.setMinimumSize(160, 100)

    def set_array(self, array, note: str = "") -> None:
        """Show `array` (None: the caption), with a one-line note at the bottom."""
        self.image = rgb_image(array) if array is not None else None
        self.note = note
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
            if self.note:
                band = self.rect().adjusted(0, self.height() - p.fontMetrics().height() - 4, 0, 0)
                p.fillRect(band, QColor(0, 0, 0, 170))
                p.setPen(QColor(230, 230, 230))
                p.drawText(band.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignVCenter, self.note)
        p.end()


class RenderPanel(QWidget):
    """Render settings, progress, live previews, the result player and Export MP4."""

    status = Signal(str)

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.controller = RenderController(self)
        self.result: RenderResult | None = None
        self._generation = 0  # a new project bumps it: a render started on the old one is dropped when it ends
        self._render_generation = 0
        self._started = 0.0
        self._syncing = False
        self._touched: set[str] = set()  # fields the user changed since the last write
        self._rendering = False
        self._notice = ""  # the last render's note (e.g. no checkpoint), shown until the next render
        self._probe_worker = None
        self._settings_timer = QTimer(self, singleShot=True, interval=500)
        self._settings_timer.timeout.connect(self.apply_settings)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.addLayout(self._form())
        self.neural_note = QLabel(wordWrap=True)  # why Render is off, and the no-checkpoint note
        self.neural_note.setStyleSheet("color: #c9a227")
        self.neural_note.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        layout.addWidget(self.neural_note)
        layout.addLayout(self._buttons())
        layout.addWidget(self._previews(), 1)
        layout.addLayout(self._player())
        self.controller.progress.connect(self._on_progress)
        self.controller.preview.connect(self._on_preview)
        self.controller.frame.connect(self._on_frame)
        self.controller.finished.connect(self._on_finished)
        self.controller.failed.connect(self._on_failed)
        self.controller.notice.connect(self._on_notice)
        doc.changed.connect(self.sync_from_project)
        doc.reset_done.connect(self.clear_result)
        self.sync_from_project()
        self._start_probe()

    # -- settings -------------------------------------------------------------------------------
    def _form(self) -> QFormLayout:
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.renderer = QComboBox()
        self.renderer.addItems(values(Renderer))
        self.renderer.currentIndexChanged.connect(lambda: self.field_edited("renderer"))
        form.addRow("Renderer", self.renderer)
        form.addRow("Device", self._device_row())
        self.model_dir = QLineEdit(placeholderText="Wan2.2-TI2V-5B-Diffusers folder")
        self.model_dir.editingFinished.connect(lambda: self.field_edited("model_dir"))
        form.addRow("Model", self._path_row(self.model_dir, self._browse_model))
        self.checkpoint = QLineEdit(placeholderText=f"optional: {CHECKPOINT_NAME} in the model folder, or none")
        self.checkpoint.editingFinished.connect(lambda: self.field_edited("checkpoint"))
        form.addRow("Checkpoint", self._path_row(self.checkpoint, self._browse_checkpoint))
        self.init = QComboBox(
            toolTip="noise: a plain render; puppet: refine the puppet render (SDEdit), keeping "
            "its motion and silhouette"
        )
        for value in Init:
            self.init.addItem(INIT_LABELS[value], value.value)
        self.init.currentIndexChanged.connect(lambda: self.field_edited("init"))
        self.strength = QDoubleSpinBox(
            minimum=0.01,
            maximum=1.0,
            singleStep=0.05,
            decimals=2,
            toolTip="how much of the schedule a puppet refinement re-runs: near 0 keeps "
            "the puppet video, 1 is a plain render",
        )
        self.strength.valueChanged.connect(lambda: self.field_edited("strength"))
        row = QHBoxLayout()
        row.addWidget(self.init, 2)
        row.addWidget(QLabel("strength"))
        row.addWidget(self.strength, 1)
        form.addRow("Start", row)
        self.offload = QComboBox()  # a setting of this machine's GPU, not of the project
        self.offload.addItems(values(Offload))
        self.offload.setToolTip(
            "GPU memory for poseanything: none (all on the GPU, fastest), model (one part at "
            "a time), group (block by block: 1280x704x121 in a 24 GB card); auto picks by "
            "free GPU memory"
        )
        form.addRow("GPU memory", self.offload)
        self.prompt = PromptEdit(placeholderText="What the video shows (neural renderer)")
        self.negative = PromptEdit(placeholderText="What to avoid")
        for name, edit in (("prompt", self.prompt), ("negative_prompt", self.negative)):
            edit.setFixedHeight(44)
            edit.textChanged.connect(lambda name=name: self.field_edited(name))
            edit.refused.connect(self.status.emit)
        form.addRow("Prompt", self.prompt)
        form.addRow("Negative", self.negative)
        self.steps = QSpinBox(minimum=1, maximum=1000)
        self.guidance = QDoubleSpinBox(minimum=0, maximum=50, singleStep=0.5, decimals=2)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        row2 = QHBoxLayout()
        for label, name, w in (
            ("steps", "steps", self.steps),
            ("cfg", "guidance", self.guidance),
            ("seed", "seed", self.seed),
        ):
            row2.addWidget(QLabel(label))
            row2.addWidget(w, 1)
            w.valueChanged.connect(lambda _v, name=name: self.field_edited(name))
        form.addRow("Sampling", row2)
        self.width_spin = QSpinBox(minimum=32, maximum=4096, singleStep=32)
        self.height_spin = QSpinBox(minimum=32, maximum=4096, singleStep=32)
        self.frames_spin = FramesSpinBox()
        row3 = QHBoxLayout()
        for label, name, w in (
            ("w", "size", self.width_spin),
            ("h", "size", self.height_spin),
            ("frames", "frames", self.frames_spin),
        ):
            row3.addWidget(QLabel(label))
            row3.addWidget(w, 1)
            w.editingFinished.connect(lambda name=name: self.field_edited(name))
        form.addRow("Size", row3)
        self._neural_widgets = (
            self.device,
            self.model_dir,
            self.checkpoint,
            self.init,
            self.strength,
            self.prompt,
            self.negative,
            self.steps,
            self.guidance,
            self.seed,
        )
        return form

    def _device_row(self) -> QComboBox:
        self.device = QComboBox(
            toolTip="where the poseanything renderer runs (this machine's choice, not saved in the project)"
        )
        self.device.addItem(CPU_LABEL, "cpu")
        self.device.currentIndexChanged.connect(self._device_changed)
        self._device_chosen = False  # the user picked one: a later probe keeps it
        return self.device

    def _device_changed(self) -> None:
        self._device_chosen = True
        self._refresh_availability()

    @staticmethod
    def _path_row(edit: QLineEdit, browse) -> QHBoxLayout:
        button = QPushButton("…", maximumWidth=28)
        button.clicked.connect(browse)
        row = QHBoxLayout()
        row.addWidget(edit)
        row.addWidget(button)
        return row

    def sync_from_project(self, *_args) -> None:
        """Show the project's render settings as they are (never changing them) and whether they can run here."""
        p = self.doc.project
        r = p.render
        self._syncing = True
        self.renderer.setCurrentIndex(1 if r.renderer == "poseanything" else 0)
        _show(self.model_dir, r.model_dir or "")
        _show(self.checkpoint, r.checkpoint or "")
        self.init.setCurrentIndex(max(0, self.init.findData(r.init)))
        _show(self.strength, r.strength)
        for edit, text in ((self.prompt, r.prompt), (self.negative, r.negative_prompt)):
            if edit.toPlainText() != text and not edit.hasFocus():
                edit.setPlainText(text)
        _show(self.steps, r.steps)
        _show(self.guidance, r.guidance)
        _show(self.seed, r.seed)
        _show(self.width_spin, p.size[0])
        _show(self.height_spin, p.size[1])
        _show(self.frames_spin, p.frames)
        self._syncing = False
        self._refresh_availability()

    def neural_options(self) -> NeuralOptions:
        """The neural settings as the fields show them, on the chosen device (paths read as the CLI reads them)."""
        return neural_options(self._shown_project(), device=self.device.currentData())

    def _field_values(self) -> dict:
        """Each render setting of the project (a RenderSettings field) -> how to read it from its field."""
        return {
            "renderer": lambda: self.renderer.currentText(),
            "prompt": self.prompt.toPlainText,
            "negative_prompt": self.negative.toPlainText,
            "steps": self.steps.value,
            "guidance": lambda: float(self.guidance.value()),
            "seed": self.seed.value,
            "model_dir": lambda: self.model_dir.text().strip() or None,
            "checkpoint": lambda: self.checkpoint.text().strip() or None,
            "init": self.init.currentData,
            "strength": lambda: float(self.strength.value()),
        }

    def _shown_project(self) -> Project:
        """The project with the render settings as the fields show them (written or not)."""
        p = self.doc.project
        return replace(p, render=replace(p.render, **{name: read() for name, read in self._field_values().items()}))

    def unavailable_reason(self) -> str | None:
        """Why Render cannot run with the fields as they are, or None."""
        if self.renderer.currentIndex() != 1:
            return None
        return neural_unavailable_reason(self.neural_options(), device_probe)

    def _refresh_availability(self, *_args) -> None:
        """Enable Render, or disable it with the reason; say when no checkpoint means the pose is ignored."""
        neural = self.renderer.currentIndex() == 1
        for widget in self._neural_widgets:
            widget.setEnabled(neural)
        options = self.neural_options()
        self.strength.setEnabled(neural and options.init != "noise")
        reason = neural_unavailable_reason(options, device_probe) if neural else None  # as unavailable_reason()
        notes = [f"Cannot render: {reason}"] if reason else []
        note = checkpoint_note(options) if neural else None
        if note and options.init == "noise":
            note = note.split(";")[0] + "; init noise renders from the picture and prompt alone"
        notes += [self._notice or note] if self._notice or note else []  # the render's own note replaces ours
        self.neural_note.setText("\n".join(notes))
        self.neural_note.setVisible(bool(notes))
        if not self._rendering:
            self.render_button.setEnabled(reason is None)
        self.render_button.setToolTip(f"Cannot render: {reason}" if reason else "Render with these settings")

    def drop_pending_settings(self) -> None:
        """Forget field edits not yet written into the project (the panel is going away)."""
        self._settings_timer.stop()
        self._touched.clear()

    def field_edited(self, name: str) -> None:
        """The user changed the field `name`: it is written into the project shortly (apply_settings)."""
        if self._syncing:
            return
        self._touched.add(name)
        self._settings_timer.start()
        if name in AVAILABILITY_FIELDS:  # not per keystroke of the prompt: the check reads the disk
            self._refresh_availability()

    def apply_settings(self) -> None:
        """Write the fields the user changed into the project now (one undo step); nothing else changes."""
        self._settings_timer.stop()
        touched, self._touched = self._touched, set()
        if not touched:
            return
        p = self.doc.project
        fields = self._field_values()
        render = replace(p.render, **{name: fields[name]() for name in touched if name in fields})
        new = replace(p, render=render)
        if "size" in touched:
            new = replace(new, size=(self.width_spin.value() // 32 * 32, self.height_spin.value() // 32 * 32))
        if "frames" in touched:
            new = replace(new, frames=self.frames_spin.value())
        if new != p:
            self.doc.apply(new, "Render settings")

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder (Wan2.2-TI2V-5B, diffusers layout)")
        if folder:
            self.model_dir.setText(folder)
            self.field_edited("model_dir")

    def _browse_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "PoseAnything checkpoint", self.model_dir.text(), "Checkpoint (*.safetensors)"
        )
        if path:
            self.checkpoint.setText(path)
            self.field_edited("checkpoint")

    # -- devices --------------------------------------------------------------------------------
    def _start_probe(self) -> None:
        """Find the CUDA devices off the GUI thread (once per process)."""
        if device_probe is not None:
            self.set_devices(device_probe)
            return
        worker = _probe_worker()
        worker.returned.connect(self.set_devices)
        self._probe_worker = worker
        worker.start()

    def set_devices(self, probe: DeviceProbe) -> None:
        """List the CUDA devices found (first one chosen unless the user chose already), then the CPU."""
        global device_probe
        device_probe = probe
        chosen = self.device.currentData()
        self.device.blockSignals(True)
        self.device.clear()
        for device in probe.devices:
            self.device.addItem(device.label, device.device)
        self.device.addItem(CPU_LABEL, "cpu")
        if not probe.devices:
            self.device.setItemData(0, f"no CUDA device: {probe.note}", Qt.ItemDataRole.ToolTipRole)
        keep = self.device.findData(chosen) if self._device_chosen else -1
        self.device.setCurrentIndex(keep if keep >= 0 else 0)
        self.device.blockSignals(False)
        self._probe_worker = None
        self._refresh_availability()

    def choose_device(self, device: str) -> None:
        """Choose `device` ("cuda:N" or "cpu") if it is listed."""
        index = self.device.findData(device)
        if index >= 0:
            self.device.setCurrentIndex(index)

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
        self.apply_settings()
        reason = self.unavailable_reason()
        if reason:
            self.status.emit(f"Cannot render: {reason}")
            return
        project = self.doc.project
        neural = neural_options(project, device=self.device.currentData(), offload=self.offload.currentText())
        request = RenderRequest(project, project.render.renderer, self.doc.mask, neural)
        self._rendering = True
        self._render_generation = self._generation
        self._notice = ""
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
        self.eta.setText("")

    def clear_result(self) -> None:
        """Another project is open: stop a render of the old one and drop its result, previews and Export."""
        self._generation += 1
        if self.controller.running:
            self.controller.cancel()
        self._rendering = False
        self.player_timer.stop()
        self.play_button.setIcon(self._media_icon(False))
        self.result = None
        self._notice = ""
        for view in self.views.values():
            view.set_array(None)
        self.slider.setRange(0, 0)
        for button in (self.export_button, self.play_button, self.cancel_button):
            button.setEnabled(False)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.eta.setText("")
        self._refresh_availability()

    def _stale(self) -> bool:
        """Whether the render reporting now was started on a project no longer open."""
        return self._render_generation != self._generation

    def _on_progress(self, event: Progress) -> None:
        if self._stale():
            return
        self.progress.setRange(0, max(event.total, 1))
        self.progress.setValue(event.done)
        self.progress.setFormat(f"{event.stage} %v / %m")
        elapsed = time.perf_counter() - self._started
        if event.done:
            left = elapsed / event.done * (event.total - event.done)
            self.eta.setText(f"elapsed {elapsed:.1f} s · ETA {left:.1f} s")

    def _on_preview(self, event: Preview) -> None:
        if self._stale():
            return
        kind = VIEW_OF.get(event.kind, event.kind)
        kind = kind if kind in self.views else "frame"
        note = PREVIEW_NOTES[event.kind].format(step=event.index + 1) if event.kind in PREVIEW_NOTES else ""
        self.views[kind].set_array(event.image, note)

    def _on_notice(self, text: str) -> None:
        self._notice = text[0].upper() + text[1:]
        self.status.emit(self._notice)
        self._refresh_availability()

    def _on_frame(self, event: Frame) -> None:
        if self._stale():
            return
        self.views["frame"].set_array(event.image)
        if self.tabs.currentIndex() != 3 and event.index > 0:
            self.tabs.setCurrentIndex(3)

    def _on_finished(self, result: RenderResult | None) -> None:
        if self._stale():  # a render of the project that was open before: nothing of it is shown or exported
            if result is not None:
                result.frames.close()
            return
        self._rendering = False
        self._refresh_availability()
        self.cancel_button.setEnabled(False)
        if result is None:
            self.eta.setText("")
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
        self.status.emit(f"Rendered {len(result.frames)} frames in {result.seconds:.1f} s — Export to save")

    def _on_failed(self, message: str) -> None:
        if self._stale():
            return
        self._rendering = False
        self._refresh_availability()
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("failed")
        self.eta.setText(message)
        QMessageBox.warning(self, "Render failed", message)

    # -- previews and player --------------------------------------------------------------------
    def _previews(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.views = {}
        captions = {
            "pose": "pose frames appear here",
            "parts": "part masks",
            "matching": "part matching: first frame | last frame, each part in its matched part's colour",
            "frame": "frames as they render, then the result",
        }
        for kind, title in PREVIEW_TABS:
            self.views[kind] = ImageView(captions[kind])
            self.tabs.addTab(self.views[kind], title)
        return self.tabs

    def _player(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.play_button = QPushButton(enabled=False, maximumWidth=32, toolTip="Play the result")
        self.play_button.setIcon(self._media_icon(False))  # drawn by the style: no font needs the glyphs
        self.play_button.clicked.connect(self._toggle_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._show_result_frame)
        self.export_button = QPushButton(
            "Export…", enabled=False, toolTip="MP4, GIF, WebM or ProRes with the subject's alpha, or PNG frames"
        )
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
            self.views["frame"].set_array(self.result.frames[index][..., :3])  # the full frame, not its alpha

    def _toggle_play(self) -> None:
        if self.player_timer.isActive():
            self.player_timer.stop()
            self.play_button.setIcon(self._media_icon(False))
        elif self.result is not None:
            self.player_timer.start(round(1000 / float(self.result.fps)))
            self.play_button.setIcon(self._media_icon(True))

    def _media_icon(self, playing: bool):
        """The style's pause icon while playing, else its play icon."""
        pixmap = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        return self.style().standardIcon(pixmap)

    def _advance(self) -> None:
        self.slider.setValue((self.slider.value() + 1) % max(1, len(self.result.frames)))

    def export_dialog(self) -> None:
        """Ask where and in which format to write (the dialog asks before replacing a file), then write it."""
        if self.result is None:
            return
        start = str(self.doc.path.with_suffix(".mp4")) if self.doc.path else "render.mp4"
        filters = [choice[0] for choice in EXPORT_CHOICES]
        path, chosen = QFileDialog.getSaveFileName(self, "Export", start, ";;".join(filters))
        if not path:
            return
        _, suffix, alpha = EXPORT_CHOICES[filters.index(chosen)] if chosen in filters else EXPORT_CHOICES[0]
        typed = Path(path).suffix.lower()
        if typed in SUFFIXES and typed != suffix:  # the name says another format: the name wins
            suffix, alpha = typed, None
        asked = path if typed == suffix and suffix != ".png" else None  # the dialog asked before replacing it
        self.export(path if typed == suffix else path + suffix, alpha=alpha, asked=asked)

    def _may_replace(self, target, asked: str | None) -> bool:
        """Whether writing `target` may replace what is there: nothing is, the dialog asked, or the user says so."""
        existing = target.existing(len(self.result.frames))
        if not existing or (asked is not None and existing == [Path(asked)]):
            return True
        more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
        answer = QMessageBox.question(
            self,
            "Replace?",
            f"{existing[0].name}{more} exists. Replace?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def export(self, path: str, alpha: bool | None = None, asked: str | None = None):
        """Write the result to `path` in a worker (atomic: the file appears whole or not at all); `alpha`: with the
        subject's alpha (None: the format's default). A PNG path writes NAME_00000.png... beside it. Files there
        already are replaced only after asking (`asked`: the one file the save dialog asked about)."""
        try:
            target = output_target(path, alpha=alpha)
            if target.alpha and not self.result.has_alpha:
                raise OutputError(
                    f"{Path(path).name}: this render has no subject alpha (the puppet renderer "
                    "gives it): export MP4, GIF or full-frame PNGs"
                )
        except OutputError as err:
            QMessageBox.warning(self, "Cannot export", str(err))
            return None
        if not self._may_replace(target, asked):
            self.status.emit("Export cancelled: nothing was replaced")
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


class PromptEdit(QPlainTextEdit):
    """A prompt field that holds at most MAX_PROMPT_CHARS characters (what a project file may hold).

    A paste that would pass the limit is cut to fit (`refused` says so) before the text is laid out: Qt lays
    a long unbroken line out in time growing with its square (a 2 MB prompt took minutes to show).
    """

    refused = Signal(str)

    def insertFromMimeData(self, source) -> None:
        """Paste or drop: the text, cut to what still fits."""
        text = source.text() if source.hasText() else ""
        room = max(0, MAX_PROMPT_CHARS - len(self.toPlainText()) + len(self.textCursor().selectedText()))
        if len(text) > room:
            self.refused.emit(f"A prompt holds at most {MAX_PROMPT_CHARS:,} characters: the paste was cut to {room:,}")
            source = QMimeData()
            source.setText(text[:room])
        super().insertFromMimeData(source)

    def keyPressEvent(self, event) -> None:
        """Typing past the limit is refused (editing keys still work)."""
        if (
            event.text()
            and event.text().isprintable()
            and len(self.toPlainText()) >= MAX_PROMPT_CHARS
            and not self.textCursor().hasSelection()
        ):
            self.refused.emit(f"A prompt holds at most {MAX_PROMPT_CHARS:,} characters")
            return
        super().keyPressEvent(event)


@thread_worker
def _probe_worker() -> DeviceProbe:
    return probe_devices()


@thread_worker
def _export_worker(result: RenderResult, target) -> None:
    write_frames(iter(result.frames), target, result.fps, result.size, len(result.frames))


def _show(field: QLineEdit | QSpinBox | QDoubleSpinBox, value) -> None:
    """Put `value` in a field only when it differs from what the field shows: a field repaints on any setText or
    setValue, and most edits (a pose drag's, on every mouse move) leave the render settings as they are."""
    if isinstance(field, QLineEdit):
        if field.text() != value:
            field.setText(value)
        return
    shown = round(value, field.decimals()) if isinstance(field, QDoubleSpinBox) else value
    if field.value() != shown:
        field.setValue(value)
