"""A throttle for redraws that a drag asks for on every mouse move but that need not follow every one.

The canvas moves the rig's handles on every move and draws the puppet warp (the costliest part of a
redraw) through a `Throttle`; the curve editor redraws its curves through one while a drag lasts.
The latest request always runs: at once when the last run ended an interval ago, else when the interval
is up, so what shows catches up with the document within `interval_ms` of the last move. The interval
counts from the end of a run: a run that takes longer than the interval (a loaded machine) still leaves
the moves after it to the cheap redraw, instead of running again on every one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer


class Throttle(QObject):
    """Runs the latest requested call `interval_ms` after the last run ended at the soonest (a newer request
    replaces a waiting one)."""

    def __init__(self, interval_ms: int, parent: QObject | None = None):
        super().__init__(parent)
        self.interval_ms = interval_ms
        self._last = -float("inf")  # time.monotonic() at the end of the last run
        self._pending: Callable[[], None] | None = None
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.flush)

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` now if the last run ended `interval_ms` ago, else keep it (only the latest) for when that is."""
        waited_ms = (time.monotonic() - self._last) * 1000
        if self._pending is None and waited_ms >= self.interval_ms:
            self._run(fn)
            return
        self._pending = fn
        if not self._timer.isActive():
            self._timer.start(max(0, round(self.interval_ms - waited_ms)))

    @property
    def waiting(self) -> bool:
        """Whether a call is kept for later."""
        return self._pending is not None

    def flush(self) -> None:
        """Run the kept call now, if any."""
        self._timer.stop()
        fn, self._pending = self._pending, None
        if fn is not None:
            self._run(fn)

    def cancel(self) -> None:
        """Drop the kept call (what it would draw is drawn otherwise)."""
        self._timer.stop()
        self._pending = None

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        finally:
            self._last = time.monotonic()
