"""Render in a background thread: a superqt generator worker over `rendering.runner.run` (napari's pattern).

The worker gets a frozen RenderJob, never the live document. It yields events to the GUI thread
through Qt signals only, throttled: progress and the latest frame at most ~60 times a second, every
preview kind once; finished frames are kept in the worker and handed over whole at the end. Cancel
sets the Event that `run` checks once per frame or step, so the worker stops within one of them.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

import numpy as np
from PySide6.QtCore import QObject, Signal
from superqt.utils import GeneratorWorker, thread_worker

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import Project
from poseanything_studio.rendering.events import Frame, Notice, Preview, Progress, RenderCancelled, RenderError
from poseanything_studio.rendering.export import FrameStore
from poseanything_studio.rendering.job import NeuralOptions, RenderJob, make_job
from poseanything_studio.rendering.runner import run

SCREEN_INTERVAL = 1 / 60  # seconds between throttled updates


@dataclass(frozen=True)
class RenderResult:
    """What a finished render hands back: every frame, in order (on disk, compressed: memory stays flat)."""

    frames: FrameStore
    fps: float
    size: tuple[int, int]
    seconds: float

    @property
    def has_alpha(self) -> bool:
        """Whether the frames carry the subject's alpha (RGBA: the puppet renderer gives it)."""
        return self.frames.shape is not None and self.frames.shape[2] == 4


def throttled_events(job: RenderJob, cancel: threading.Event, interval: float = SCREEN_INTERVAL):
    """Run `job`, yielding Progress/Preview/Frame at most once per `interval` (previews always); returns the result."""
    frames = FrameStore()
    start = last = time.perf_counter()
    pending: dict[str, object] = {}
    for event in run(job, cancel):
        if isinstance(event, Frame):  # with the subject's alpha where the renderer gives it, for Export
            frames.append(event.image if event.alpha is None else np.dstack([event.image, event.alpha]))
            pending["frame"] = event
        elif isinstance(event, Progress):
            pending["progress"] = event
        elif isinstance(event, Preview | Notice):
            yield event
            continue
        now = time.perf_counter()
        if now - last >= interval:
            last = now
            yield from pending.values()
            pending.clear()
    yield from pending.values()
    return RenderResult(frames, job.fps, job.size, time.perf_counter() - start)


@dataclass(frozen=True)
class RenderRequest:
    """A frozen snapshot of what to render: the project value, the painted mask (read-only) and overrides."""

    project: Project
    renderer: str = "puppet"
    mask: np.ndarray | None = None
    neural: NeuralOptions | None = None  # None: the project's neural settings

    def job(self) -> RenderJob:
        """The RenderJob (reads the picture and derives the mask: slow, so done in the worker)."""
        job = make_job(self.project, renderer=self.renderer, mask=self.mask, neural=self.neural)
        return replace(job, alpha=job.renderer == "puppet")  # kept, so Export can write the subject alone


@thread_worker
def _render_worker(request: RenderRequest, cancel: threading.Event):
    try:
        job = request.job()
        result = yield from throttled_events(job, cancel)
    except RenderCancelled:
        return None
    return result


class RenderController(QObject):
    """Starts, cancels and reports one render at a time; all signals arrive on the GUI thread."""

    progress = Signal(object)  # Progress
    preview = Signal(object)  # Preview
    frame = Signal(object)  # Frame
    notice = Signal(str)  # a line to read once (e.g. no checkpoint: the pose is ignored)
    finished = Signal(object)  # RenderResult, or None when cancelled
    failed = Signal(str)  # one line

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker: GeneratorWorker | None = None
        self.cancel_event = threading.Event()

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self, request: RenderRequest) -> None:
        """Render `request` (a frozen snapshot) in a worker thread."""
        if self.worker is not None:
            raise RuntimeError("a render is running already")
        self.cancel_event = threading.Event()
        worker = _render_worker(request, self.cancel_event)
        worker.yielded.connect(self._route)
        worker.returned.connect(self.finished.emit)
        worker.errored.connect(self._error)
        worker.finished.connect(self._done)
        self.worker = worker
        worker.start()

    def cancel(self) -> None:
        """Ask the render to stop; `finished(None)` follows within a frame or a step."""
        self.cancel_event.set()

    def _route(self, event) -> None:
        if isinstance(event, Progress):
            self.progress.emit(event)
        elif isinstance(event, Preview):
            self.preview.emit(event)
        elif isinstance(event, Frame):
            self.frame.emit(event)
        elif isinstance(event, Notice):
            self.notice.emit(event.text)

    def _error(self, err: Exception) -> None:
        known = isinstance(err, RenderError | ProjectError | OSError | ValueError)
        text = str(err) if known else f"{type(err).__name__}: {err}"
        self.failed.emit(text.splitlines()[0] if text else type(err).__name__)

    def _done(self) -> None:
        self.worker = None
