"""Small geometry shared by the puppet's modules: the quarter turn, points to pixel indices, distance to a bone, the
nearest labelled pixel."""

from __future__ import annotations

import cv2
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


def segment_distance(xs: np.ndarray, ys: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distance of each pixel (xs, ys) from the segment p-q."""
    d = q - p
    t = np.clip(((xs - p[0]) * d[0] + (ys - p[1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.hypot(xs - p[0] - t * d[0], ys - p[1] - t * d[1])


def nearest_labels(labels: np.ndarray, where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) every pixel given the label (`labels`) of the nearest pixel of `where`, and (H, W) float32 the
    distance to it (cv2's 5x5 mask; infinite where `where` is empty, the labels then 0)."""
    if not where.any():
        return np.zeros_like(labels), np.full(labels.shape, np.inf, np.float32)
    gap, nearest_pixel = cv2.distanceTransformWithLabels(
        (~where).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    value = np.zeros(int(nearest_pixel.max()) + 1, labels.dtype)
    value[nearest_pixel[where]] = labels[where]
    return value[nearest_pixel], gap
