"""Window tests keep untitled autosaves in their own folder, never the user's application data, and can
watch the event loop turn while a job runs."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def untitled_folder(tmp_path, monkeypatch):
    from poseanything_studio.qt import autosave

    folder = tmp_path / "appdata"
    folder.mkdir()
    monkeypatch.setattr(autosave, "untitled_folder", lambda: folder)
    return folder


class EventLoopWatch:
    """Timer ticks on the GUI thread while a job runs, to tell a window that kept turning from a frozen one.

    A job run on the GUI thread stalls the loop for the whole job; one in a worker leaves short pauses,
    which on a loaded 2-core CI machine reach a second now and then (the OS, another process). So the
    longest pause must be well short of the job's length (between 1 and 3 s). Python's garbage
    collector is held off while watching: a full collection late in the suite pauses every thread alike.
    """

    def __init__(self) -> None:
        import time

        from PySide6.QtCore import QTimer

        self._clock = time.perf_counter
        self.ticks: list[float] = []
        self._timer = QTimer(interval=10)
        self._timer.timeout.connect(lambda: self.ticks.append(self._clock()))

    def __enter__(self) -> EventLoopWatch:
        import gc

        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self.started = self._clock()
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        import gc

        self._timer.stop()
        self.ended = self._clock()
        if self._gc_was_enabled:
            gc.enable()

    def assert_kept_turning(self) -> None:
        """The loop ran through the job: ticks, and no pause over half the job (at least 1 s, at most 3 s)."""
        import numpy as np

        span = self.ended - self.started
        longest = float(np.diff([self.started, *self.ticks, self.ended]).max())
        assert self.ticks, f"the event loop never ticked in {span:.2f} s"
        assert longest < min(3.0, max(1.0, 0.5 * span)), f"the event loop stalled {longest:.2f} s of a {span:.2f} s job"


@pytest.fixture
def event_loop_watch():
    """An EventLoopWatch to use as `with event_loop_watch: ...`, then `.assert_kept_turning()`."""
    return EventLoopWatch()
