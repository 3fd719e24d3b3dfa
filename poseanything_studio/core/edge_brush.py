"""An edge-snapping brush dab: within the brush's disc, only the pixels on the centre's side of a picture edge.

A plain dab paints its whole disc, so painting along an outline (hair against a wall, a sleeve against a
helmet) spills over it. This dab keeps the pixels of the disc that are joined to the brush's centre through
pixels of a colour close to the centre's (CIE Lab distance under `tolerance`, about one "just noticeably
different" step per unit), the magic wand of an image editor confined to the brush: an edge between two
colours stops it, a smooth shade within the subject does not. Pinholes it leaves (a speck of glare, a freckle)
are filled, so the dab stays one piece on its side. Painting and erasing use the same pixels.

Pure numpy and cv2, no Qt: the window's brush calls it on every mouse move, on the brush's neighbourhood only.
"""

from __future__ import annotations

import cv2
import numpy as np

TOLERANCE = 20.0  # Lab distance from the centre's colour still counted as its side (a flat colour's noise is ~3)


def edge_dab(
    rgb: np.ndarray, centre: tuple[float, float], radius: float, tolerance: float = TOLERANCE
) -> tuple[tuple[int, int], np.ndarray]:
    """The dab at `centre` (x, y, picture pixels) of `radius` on `rgb` (H, W, 3 or 4) uint8, as the top-left
    corner (x0, y0) of its window on the picture and that window's (h, w) bool pixels (empty off the picture)."""
    h, w = rgb.shape[:2]
    cx, cy, r = round(centre[0]), round(centre[1]), max(1, round(radius))
    x0, y0, x1, y1 = max(0, cx - r), max(0, cy - r), min(w, cx + r + 1), min(h, cy + r + 1)
    if x0 >= x1 or y0 >= y1:
        return (0, 0), np.zeros((0, 0), bool)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    if not (0 <= cx < w and 0 <= cy < h):  # the centre is off the picture: nothing says which side it is on
        return (x0, y0), np.zeros(disc.shape, bool)
    lab = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1, :3]).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    ly, lx = cy - y0, cx - x0
    near = lab[max(0, ly - 1) : ly + 2, max(0, lx - 1) : lx + 2].reshape(-1, 3)
    seed = np.median(near, axis=0)  # one odd pixel under the centre does not choose the side
    distance = np.linalg.norm(lab - seed, axis=2)
    close = (distance <= max(tolerance, _split(distance[disc]))) & disc
    close[ly, lx] = True
    _count, labels = cv2.connectedComponents(close.astype(np.uint8), connectivity=4)
    side = labels == labels[ly, lx]
    return (x0, y0), _pinholes_filled(side) & disc


def _split(distance: np.ndarray) -> float:
    """Otsu's threshold of the disc's colour distances from the centre's: where its side's shades end and the
    other side's colours begin (two groups, the one near zero the centre's)."""
    levels = np.clip(distance, 0, 255).astype(np.uint8).reshape(1, -1)
    threshold, _ = cv2.threshold(levels, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(threshold)


def _pinholes_filled(side: np.ndarray) -> np.ndarray:
    """`side` with the holes that do not reach its window's border filled (specks inside one's own side)."""
    _count, labels, stats, _ = cv2.connectedComponentsWithStats((~side).astype(np.uint8), connectivity=4)
    h, w = side.shape
    x, y, bw, bh = stats[1:, 0], stats[1:, 1], stats[1:, 2], stats[1:, 3]
    inner = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)
    return side | np.isin(labels, 1 + np.nonzero(inner)[0])


def paint_edge_line(
    mask: np.ndarray,
    rgb: np.ndarray,
    a: tuple[float, float],
    b: tuple[float, float],
    radius: float,
    value: bool,
    tolerance: float = TOLERANCE,
) -> np.ndarray:
    """`mask` (H, W) bool with edge dabs from `a` to `b` (x, y) set to `value` (True paints, False erases), dabs a
    quarter radius apart so a fast stroke leaves no gaps; a new array, `mask` is left alone."""
    out = mask.copy()
    steps = max(1, int(np.ceil(np.hypot(b[0] - a[0], b[1] - a[1]) / max(1.0, radius / 4))))
    ts = np.linspace(0.0, 1.0, steps + 1)
    for t in ts[1:] if a != b else ts[:1]:  # the segment's start was the last one's end
        (x0, y0), dab = edge_dab(rgb, (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])), radius, tolerance)
        window = out[y0 : y0 + dab.shape[0], x0 : x0 + dab.shape[1]]
        window[dab] = value
    return out
