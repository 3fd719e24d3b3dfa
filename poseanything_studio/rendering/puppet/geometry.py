"""Small geometry shared by the puppet's modules: the quarter turn and points to pixel indices."""

from __future__ import annotations

import numpy as np

from poseanything_studio.core.raster import clip_far

R90 = np.array([[0.0, -1.0], [1.0, 0.0]])  # a quarter turn: R90 @ v is v turned 90 degrees


def pixel_index(xy: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (clipped to the picture) of points (..., 2)."""
    h, w = shape
    xy = clip_far(xy)
    return (
        np.clip(np.round(xy[..., 1]).astype(np.int64), 0, h - 1),
        np.clip(np.round(xy[..., 0]).astype(np.int64), 0, w - 1),
    )
