"""run(job): a generator of progress, previews and frames for any renderer; cancel with an Event.

for event in run(job, cancel):
    ...  # Progress / Preview / Frame; RenderCancelled is raised once `cancel` is set
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np

from poseanything_studio.core.parts import posed_part_pictures
from poseanything_studio.core.raster import camera_frames, draw_pose

from .events import Frame, Preview, Progress, RenderError, RenderEvent, check_cancel
from .job import RenderJob


def run(job: RenderJob, cancel: threading.Event | None = None) -> Iterator[RenderEvent]:
    """Render `job`: the pose and part previews first, then every frame in order."""
    cancel = cancel or threading.Event()
    if job.preview == "pose":
        yield from _pose_frames(job, cancel)
        return
    if job.preview == "parts":
        yield from _part_frames(job, cancel)
        return
    if job.preview == "camera":
        yield from _camera_frames(job, cancel)
        return
    yield Preview("pose", draw_pose(job.rig, job.positions[0], job.size))
    first_last = _part_picture(job, job.positions[[0, -1]])  # the part masks are made once for both previews
    yield Preview("parts", first_last[0])
    yield Preview("matching", identity_matching_picture(job, first_last), data=identity_matching(job))
    yield from renderer_for(job.renderer).render(job, cancel)


def renderer_for(name: str):
    """The renderer called `name`; the neural one is imported only when asked for."""
    if name == "puppet":
        from .puppet import PuppetRenderer

        return PuppetRenderer()
    if name == "poseanything":
        try:
            from .neural import PoseAnythingRenderer  # imports torch
        except ModuleNotFoundError as err:
            raise RenderError(
                f"the poseanything renderer cannot start: {err} (install it with "
                "`pip install 'poseanything-studio[neural]'`, or use --renderer puppet)"
            ) from None
        return PoseAnythingRenderer()
    raise ValueError(f"unknown renderer {name!r}")


def identity_matching(job: RenderJob) -> np.ndarray:
    """The rig's own part matching: in every frame, part j is first-frame part j, (F, B) int."""
    return np.tile(np.arange(len(job.rig.bones)), (job.frames, 1))


def identity_matching_picture(job: RenderJob, pictures: list[np.ndarray] | None = None) -> np.ndarray:
    """First frame's parts beside the last frame's, each in its matched part's colour (`pictures`: those two)."""
    pictures = pictures or _part_picture(job, job.positions[[0, -1]])
    return np.concatenate([pictures[0], np.full((job.size[1], 8, 3), 255, np.uint8), pictures[1]], axis=1)


def _pose_frames(job: RenderJob, cancel: threading.Event) -> Iterator[RenderEvent]:
    for f, xy in enumerate(job.positions):
        check_cancel(cancel)
        yield Frame(f, draw_pose(job.rig, xy, job.size))
        yield Progress(f + 1, job.frames)


def _part_frames(job: RenderJob, cancel: threading.Event) -> Iterator[RenderEvent]:
    pictures = posed_part_pictures(job.mask, job.rig, job.rest_xy, job.positions, job.part_rule)
    for f, picture in enumerate(pictures):
        check_cancel(cancel)
        yield Frame(f, picture)
        yield Progress(f + 1, job.frames)


def _camera_frames(job: RenderJob, cancel: threading.Event) -> Iterator[RenderEvent]:
    """The camera-rectangle frames the neural renderer puts in its negative CFG anchor."""
    for f in range(job.frames):
        check_cancel(cancel)
        yield Frame(f, camera_frames(job.camera[f : f + 1], job.size)[0])
        yield Progress(f + 1, job.frames)


def _part_picture(job: RenderJob, positions: np.ndarray) -> list[np.ndarray]:
    """The coloured part masks at each of `positions` (a few frames: all are held)."""
    return list(posed_part_pictures(job.mask, job.rig, job.rest_xy, positions, job.part_rule))
