"""Run a slow pure function (auto-rig, GrabCut) off the GUI thread, with a busy cursor and a status line.

The function gets frozen inputs (arrays copied, an immutable rig) and returns a value; the callback
runs on the GUI thread. One task at a time per window: while one runs, starting another says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication
from superqt.utils import create_worker


class BusyTask(QObject):
    """Starts one background job at a time and shows that the window is working."""

    message = Signal(str)  # status-bar text
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.worker = None
        self.label = ""
        self._done: Callable[[Any], None] = lambda _value: None
        self._failed: Callable[[Exception], None] | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(
        self,
        label: str,
        function: Callable[..., Any],
        args: tuple,
        done: Callable[[Any], None],
        failed: Callable[[Exception], None] | None = None,
    ) -> bool:
        """Run `function(*args)` in a worker, then `done(result)` here; False if another job is running."""
        if self.worker is not None:
            self.message.emit(f"{self.label} is still running…")
            return False
        self.label = label
        self._done, self._failed = done, failed
        worker = create_worker(function, *args, _start_thread=False)
        # Through our own slots: if the window (and this, its child) is gone when the worker ends,
        # Qt has dropped these connections and nothing runs on a deleted window.
        worker.returned.connect(self._returned)
        worker.errored.connect(self._errored)
        worker.finished.connect(self._finished)
        self.worker = worker
        QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        self.message.emit(f"{label}…")
        self.running_changed.emit(True)
        worker.start()
        return True

    def abandon(self) -> None:
        """The window is closing: the running job's result (or error) is dropped, never handed on."""
        self._done, self._failed = (lambda _value: None), (lambda _error: None)
        if self.worker is not None:
            self.worker.quit()

    def _returned(self, value: Any) -> None:
        self._done(value)

    def _errored(self, error: Exception) -> None:
        if self._failed is not None:
            self._failed(error)
        else:
            self.message.emit(f"{self.label}: {error}")

    def _finished(self) -> None:
        self.worker = None
        QApplication.restoreOverrideCursor()
        self.running_changed.emit(False)
