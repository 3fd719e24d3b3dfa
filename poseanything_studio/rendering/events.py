"""What a render yields while it runs: progress, previews and finished frames (all immutable)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class RenderCancelled(Exception):
    """The render was cancelled; nothing was written."""


class RenderError(Exception):
    """A render could not run (missing GPU, weights, memory...): one line saying what to do."""


@dataclass(frozen=True)
class Progress:
    """`done` of `total` units of `stage` ("frames", "steps", "decode", "encode")."""

    done: int
    total: int
    stage: str = "frames"


@dataclass(frozen=True)
class Preview:
    """A picture to show while rendering: kind is "pose", "parts", "matching" or "prediction".

    `data` carries the raw value behind it where there is one (e.g. the part matching, (F', B) int).
    """

    kind: str
    image: np.ndarray
    index: int = 0
    data: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Frame:
    """A finished output frame, (H, W, 3) uint8 RGB; frames come in order. `alpha`: the subject's coverage, (H, W)
    uint8, when the job asked for it (RenderJob.alpha) and the renderer knows it (the puppet does)."""

    index: int
    image: np.ndarray
    alpha: np.ndarray | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Notice:
    """Something the user should read once about this render (e.g. no checkpoint: the pose is ignored)."""

    text: str


RenderEvent = Progress | Preview | Frame | Notice


class Renderer(Protocol):
    """Turns a RenderJob into frames; checks `cancel` at least once a frame or a step."""

    name: str

    def render(self, job, cancel: threading.Event) -> Iterator[RenderEvent]: ...


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise RenderCancelled if `cancel` is set."""
    if cancel is not None and cancel.is_set():
        raise RenderCancelled()
