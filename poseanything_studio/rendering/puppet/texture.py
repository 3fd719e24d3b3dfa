"""The picture's own fine texture carried into a smooth background fill, so an uncovered hole is not a flat blob.

A smooth inpaint (biharmonic) continues the colours round a hole but none of their grain: on a photo
the place a lifted arm was shows as a soft patch. Here the hole is covered by tiles whose fine detail
(the picture less its own low-pass, the band the smooth fill cannot give) is copied from nearby
background of about the same colour, the tiles overlapping by a feathered margin and, where a
neighbour's shift fits as well, taking the same shift, so the texture runs on across tiles (as
shift-map inpainting does, without its global solve). Only detail is copied, onto the smooth fill's
colours: a copied tile cannot carry a foreign object's colour into the hole, only its grain.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

_COLOUR_SCALE = 10.0  # levels of mean colour that weigh as much as `_REACH` of the picture's size in distance
_REACH = 0.25
_COHERENCE_SLACK = 1.5  # a neighbour's shift is kept while its cost is within this much of the best (in units)
_PLAIN_PERCENTILE = 70  # sources no more detailed than this share of those near the hole: grain, not strong edges


@dataclass(frozen=True)
class _Tiles:
    """Tile geometry: cores `size` px at stride `size`, windows grown by `margin` on each side."""

    size: int
    margin: int

    @property
    def window(self) -> int:
        return self.size + 2 * self.margin

    def weight(self) -> np.ndarray:
        """(window, window) float32: 1 over the core, falling linearly to 0 across the margin."""
        ramp = np.ones(self.window, np.float32)
        edge = (np.arange(self.margin, dtype=np.float32) + 0.5) / self.margin
        ramp[: self.margin], ramp[self.window - self.margin :] = edge, edge[::-1]
        return np.outer(ramp, ramp)


def texture_detail(
    detail: np.ndarray, picture_low: np.ndarray, filled_low: np.ndarray, hole: np.ndarray, keep_out: np.ndarray
) -> np.ndarray:
    """(H, W, 3) float32: fine detail for the pixels of `hole`, copied from background tiles.

    `detail` is the picture less its low-pass `picture_low` (float32); `filled_low` is the smooth fill,
    whose colour each tile matches; sources never overlap `keep_out` (the subject and its fringe).
    Zero where no background tile fits (a hole over the whole picture)."""
    h, w = hole.shape
    size = 2 * max(4, round(max(h, w) / 64))  # even, so a neighbour's shift lands on the source grid
    tiles = _Tiles(size, max(2, size // 4))
    out = np.zeros((h, w, 3), np.float32)
    sources = _sources(keep_out, tiles, size // 2)
    targets = _targets(hole, tiles)
    if not len(sources) or not len(targets):
        return out
    reach = _REACH * max(h, w)
    sources = _plain(sources, detail, hole, tiles.window, reach)
    source_colour = _window_means(picture_low, sources, tiles.window)
    target_colour = _window_means(filled_low, targets, tiles.window)
    source_features = np.hstack([source_colour / _COLOUR_SCALE, sources / reach])
    target_features = np.hstack([target_colour / _COLOUR_SCALE, targets / reach])
    found = cKDTree(source_features).query(target_features)  # many targets in, arrays out
    best_cost, best = np.asarray(found[0], np.float64), np.asarray(found[1], np.int64)
    chosen = _coherent_choice(targets, sources, target_features, source_features, best_cost, best, tiles.size)
    weight = tiles.weight()[..., None]
    total = np.zeros((h, w, 1), np.float32)
    for (ty, tx), (sy, sx) in zip(targets, sources[chosen], strict=True):
        y0, x0 = ty - tiles.margin, tx - tiles.margin
        cy0, cx0 = max(0, y0), max(0, x0)  # the window clipped to the picture
        cy1, cx1 = min(h, y0 + tiles.window), min(w, x0 + tiles.window)
        patch = detail[sy + cy0 - y0 : sy + cy1 - y0, sx + cx0 - x0 : sx + cx1 - x0]
        wgt = weight[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        out[cy0:cy1, cx0:cx1] += patch * wgt
        total[cy0:cy1, cx0:cx1] += wgt
    return np.where(total > 1e-6, out / np.maximum(total, 1e-6), 0.0).astype(np.float32)


def _sources(keep_out: np.ndarray, tiles: _Tiles, stride: int) -> np.ndarray:
    """(S, 2) int: top-left corners (y, x) of whole windows inside the picture that touch no `keep_out` pixel."""
    h, w = keep_out.shape
    n = tiles.window
    if h < n or w < n:
        return np.zeros((0, 2), np.int64)
    inside = cv2.integral(keep_out.astype(np.uint8))  # (H+1, W+1)
    ys, xs = np.mgrid[0 : h - n + 1 : stride, 0 : w - n + 1 : stride]
    ys, xs = ys.ravel(), xs.ravel()
    covered = inside[ys + n, xs + n] - inside[ys, xs + n] - inside[ys + n, xs] + inside[ys, xs]
    return np.stack([ys[covered == 0], xs[covered == 0]], 1).astype(np.int64)


def _plain(sources: np.ndarray, detail: np.ndarray, hole: np.ndarray, n: int, reach: float) -> np.ndarray:
    """The sources whose detail is no stronger than the median of those near the hole: grain, not the edge of
    a flag's stripe or a model's outline, which copied into the hole would be scattered fragments."""
    energy = _window_means(np.abs(detail).sum(-1, keepdims=True), sources, n)[:, 0]
    far = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    centre = np.minimum(sources + n // 2, np.array(hole.shape) - 1)
    near = far[centre[:, 0], centre[:, 1]] <= reach
    limit = np.percentile(energy[near] if near.any() else energy, _PLAIN_PERCENTILE)
    return sources[energy <= limit]


def _targets(hole: np.ndarray, tiles: _Tiles) -> np.ndarray:
    """(T, 2) int: top-left corners (y, x) of windows whose cores tile the hole's box and touch the hole,
    in raster order (a window may reach past the picture's edge; its pixels there are dropped)."""
    ys, xs = np.nonzero(hole)
    if not len(ys):
        return np.zeros((0, 2), np.int64)
    n, m = tiles.size, tiles.margin
    rows = np.arange(ys.min(), ys.max() + 1, n)
    cols = np.arange(xs.min(), xs.max() + 1, n)
    inside = cv2.integral(hole.astype(np.uint8))
    h, w = hole.shape
    found = []
    for y in rows:
        for x in cols:
            y1, x1 = min(h, y + n), min(w, x + n)
            if inside[y1, x1] - inside[y, x1] - inside[y1, x] + inside[y, x] > 0:
                found.append((y - m, x - m))
    return np.array(found, np.int64).reshape(-1, 2)


def _window_means(image: np.ndarray, corners: np.ndarray, n: int) -> np.ndarray:
    """(K, C) float: the mean of `image` (H, W, C) over each window (corners may lie off the picture: clipped)."""
    h, w = image.shape[:2]
    sums = cv2.integral(image.astype(np.float64)).reshape(h + 1, w + 1, -1)  # (H+1, W+1, C): one channel comes 2-D
    y0, x0 = np.clip(corners[:, 0], 0, h), np.clip(corners[:, 1], 0, w)
    y1, x1 = np.clip(corners[:, 0] + n, 0, h), np.clip(corners[:, 1] + n, 0, w)
    area = np.maximum((y1 - y0) * (x1 - x0), 1)[:, None]
    return (sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]) / area


def _coherent_choice(
    targets: np.ndarray,
    sources: np.ndarray,
    target_features: np.ndarray,
    source_features: np.ndarray,
    best_cost: np.ndarray,
    best: np.ndarray,
    stride: int,
) -> np.ndarray:
    """Per target, the index of its source: the tile left of it or above it passes on its shift when the source
    that shift gives is whole background and costs little more than this tile's best, so texture runs on."""
    index_of = {(int(y), int(x)): i for i, (y, x) in enumerate(sources)}
    shift_of: dict[tuple[int, int], tuple[int, int]] = {}
    chosen = best.copy()
    for t, (y, x) in enumerate(targets.tolist()):
        for neighbour in ((y, x - stride), (y - stride, x)):
            wanted = shift_of.get(neighbour)
            source = None if wanted is None else index_of.get((y + wanted[0], x + wanted[1]))
            if source is None:
                continue
            cost = float(np.linalg.norm(target_features[t] - source_features[source]))
            if cost <= best_cost[t] + _COHERENCE_SLACK:
                chosen[t] = source
                break
        sy, sx = sources[chosen[t]]
        shift_of[(y, x)] = (int(sy) - y, int(sx) - x)
    return chosen
