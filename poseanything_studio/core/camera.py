"""The camera path: keyed pan, zoom and roll, as a per-frame 2D similarity of the picture.

`pan` [dx, dy] moves the camera by that many output pixels, so content moves by (-dx, -dy);
`zoom` scales content about the frame centre; `roll` turns the camera counter-clockwise by that
many degrees, so content turns clockwise on screen (y points down).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ProjectError
from .tracks import Key, Track

REST = (0.0, 0.0, 1.0, 0.0)  # pan x, pan y, zoom, roll
ZOOM_RANGE = (0.01, 100.0)  # beyond this a frame is a dot or one pixel, and the background warp crawls


@dataclass(frozen=True)
class CameraKey:
    """One camera keyframe."""

    frame: int
    pan: tuple[float, float] = (0.0, 0.0)
    zoom: float = 1.0
    roll: float = 0.0
    interp: str = "smooth"

    def __post_init__(self) -> None:
        if isinstance(self.zoom, int | np.integer) and not isinstance(self.zoom, bool):
            object.__setattr__(self, "zoom", float(self.zoom))
        if not (isinstance(self.zoom, float) and math.isfinite(self.zoom) and self.zoom > 0):
            raise ProjectError(f"zoom {self.zoom!r} must be a number > 0", key="zoom")
        if not ZOOM_RANGE[0] <= self.zoom <= ZOOM_RANGE[1]:
            raise ProjectError(
                f"zoom {self.zoom!r} must be between {ZOOM_RANGE[0]:g} and {ZOOM_RANGE[1]:g}", key="zoom"
            )
        key = self.as_key()  # checks frame, interp and numbers, as any key does
        object.__setattr__(self, "pan", key.value[:2])
        object.__setattr__(self, "roll", key.value[3])

    def as_key(self) -> Key:
        return Key(self.frame, (*self.pan, self.zoom, self.roll), self.interp)

    @staticmethod
    def from_key(key: Key) -> CameraKey:
        px, py, zoom, roll = key.value
        return CameraKey(key.frame, (px, py), zoom, roll, key.interp)


@dataclass(frozen=True)
class CameraPath:
    """Camera keys; no keys means a still camera."""

    keys: tuple[CameraKey, ...] = ()

    def __post_init__(self) -> None:
        Track(tuple(k.as_key() for k in self.keys))  # same ordering/duplicate checks as any track
        object.__setattr__(self, "keys", tuple(sorted(self.keys, key=lambda k: k.frame)))

    def track(self) -> Track:
        return Track(tuple(k.as_key() for k in self.keys))

    def sample(self, frames: int) -> np.ndarray:
        """(frames, 4): pan x, pan y, zoom, roll for every frame. Zoom is interpolated in log space."""
        if not self.keys:
            return np.tile(np.array(REST), (frames, 1))
        log_keys = tuple(Key(k.frame, (*k.pan, math.log(k.zoom), k.roll), k.interp) for k in self.keys)
        values = Track(log_keys).sample(np.arange(frames))
        values[:, 2] = np.exp(values[:, 2])
        return values

    def is_still(self, frames: int) -> bool:
        """True when no frame moves the camera."""
        return bool(np.allclose(self.sample(frames), REST))

    def with_key(self, key: CameraKey) -> CameraPath:
        return CameraPath((*[k for k in self.keys if k.frame != key.frame], key))

    def without_key(self, frame: int) -> CameraPath:
        return CameraPath(tuple(k for k in self.keys if k.frame != frame))


def camera_matrix(params: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """2x3 affine mapping a point of the uncamera'd frame to where the camera shows it.

    params: (4,) pan x, pan y, zoom, roll (degrees); size: (width, height).
    p' = c + zoom * R(roll) (p - c) - pan, with R turning clockwise on a y-down screen.
    """
    pan_x, pan_y, zoom, roll = (float(v) for v in params)
    cx, cy = size[0] / 2.0, size[1] / 2.0
    t = math.radians(roll)
    rot = zoom * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    offset = np.array([cx, cy]) - rot @ np.array([cx, cy]) - np.array([pan_x, pan_y])
    return np.hstack([rot, offset[:, None]])


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map points (..., 2) by a 2x3 affine matrix."""
    return points @ matrix[:, :2].T + matrix[:, 2]
