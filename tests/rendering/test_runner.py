"""The runner: previews first, frames in order, cancel stops within one frame."""

import threading

import pytest

from poseanything_studio.core.project import load_project
from poseanything_studio.rendering.events import Frame, Preview, Progress, RenderCancelled
from poseanything_studio.rendering.job import make_job
from poseanything_studio.rendering.runner import run


def test_previews_then_every_frame_in_order(arm_project):
    events = list(run(make_job(load_project(arm_project))))
    kinds = [e.kind for e in events if isinstance(e, Preview)]
    assert kinds == ["pose", "parts", "matching"]
    frames = [e.index for e in events if isinstance(e, Frame)]
    assert frames == [0, 1, 2, 3, 4]
    assert [e.done for e in events if isinstance(e, Progress)][-1] == 5


def test_cancel_stops_within_one_frame(arm_project):
    cancel = threading.Event()
    seen = []
    with pytest.raises(RenderCancelled):
        for event in run(make_job(load_project(arm_project)), cancel):
            if isinstance(event, Frame):
                seen.append(event.index)
                if event.index == 1:
                    cancel.set()
    assert seen == [0, 1]


def test_the_job_is_a_snapshot(arm_project):
    job = make_job(load_project(arm_project))
    with pytest.raises(ValueError, match="read-only"):
        job.positions[0, 0, 0] = 5.0  # read-only: another thread may be rendering it
