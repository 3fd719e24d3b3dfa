"""The subject's points and triangles: pins along the bones, the outline, an interior grid, Delaunay."""

from __future__ import annotations

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.spatial import Delaunay, QhullError, cKDTree

from poseanything_studio.core.raster import clip_far
from poseanything_studio.core.rig import Rig

from .geometry import pixel_index


def bone_pins(
    rig: Rig, rest_xy: np.ndarray, spacing: float, size: tuple[int, int] | None = None
) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """Pin points (P, 2) at rest, their sparse weights (P, J) over the joints and the bone each lies on
    (P,), -1 for joints): the joints, then along bones.

    Each pin hangs on at most two joints, so the weights are stored sparse: their cost grows with
    the pins, not pins x joints. With `size`, pins along a bone are only placed over the picture
    (a bone reaching far outside would otherwise get millions of pins that no triangle uses).
    """
    j = len(rig.joints)
    rows_a, rows_b, ts, bones = [np.arange(j)], [np.arange(j)], [np.zeros(j)], [np.full(j, -1)]
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        length = float(np.hypot(*(rest_xy[b] - rest_xy[a])))
        count = min(int(length // spacing), 1 << 16) if np.isfinite(length) else 0
        if count < 1:
            continue
        lo, hi = (0.0, 1.0) if size is None else _inside_span(rest_xy[a], rest_xy[b], size, spacing)
        t = np.arange(1, count + 1) / (count + 1)
        t = t[(t >= lo) & (t <= hi)]
        rows_a.append(np.full(t.size, a))
        rows_b.append(np.full(t.size, b))
        ts.append(t)
        bones.append(np.full(t.size, k))
    a_idx, b_idx, t = np.concatenate(rows_a), np.concatenate(rows_b), np.concatenate(ts)
    bone = np.concatenate(bones)
    xy = rest_xy[a_idx] * (1 - t)[:, None] + rest_xy[b_idx] * t[:, None] if j else np.zeros((0, 2))
    # Merge pins closer than a pixel (two joints on one spot): the first one wins.
    keep = np.ones(len(xy), bool)
    for first, second in sorted(cKDTree(clip_far(xy)).query_pairs(1.0)) if len(xy) else ():
        if keep[first]:
            keep[second] = False
    rows = np.arange(int(keep.sum()))
    a_idx, b_idx, t = a_idx[keep], b_idx[keep], t[keep]
    weights = sp.csr_matrix(
        (np.concatenate([1 - t, t]), (np.concatenate([rows, rows]), np.concatenate([a_idx, b_idx]))),
        shape=(len(rows), j),
    )
    return xy[keep], weights, bone[keep]


def _inside_span(p: np.ndarray, q: np.ndarray, size: tuple[int, int], margin: float) -> tuple[float, float]:
    """The range of t in [0, 1] where p + t (q - p) lies over the picture grown by `margin` (lo > hi: nowhere)."""
    lo, hi = 0.0, 1.0
    for axis, extent in enumerate(size):
        d = q[axis] - p[axis]
        bounds = (-margin - p[axis], extent + margin - p[axis])
        if abs(d) < 1e-12:
            if not bounds[0] <= 0 <= bounds[1]:
                return 1.0, 0.0
            continue
        t0, t1 = sorted((bounds[0] / d, bounds[1] / d))
        lo, hi = max(lo, t0), min(hi, t1)
    return lo, hi


def covered_region(mask: np.ndarray, spacing: float) -> np.ndarray:
    """The subject mask grown by a third of the spacing (uint8), so the mesh covers its soft edge."""
    grow = max(2, int(spacing / 3))
    return cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))


def triangulate(
    covered: np.ndarray, pin_xy: np.ndarray, cut_xy: np.ndarray, spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points (pins first, then cut lines, outline and interior grid) and triangles covering `covered`."""
    h, w = covered.shape
    contours, _ = cv2.findContours(covered, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = [_outline_points(c[:, 0, :], spacing) for c in contours if len(c) >= 3]
    outline_xy = np.concatenate(outline) if outline else np.zeros((0, 2))
    ys, xs = np.mgrid[spacing / 2 : h : spacing, spacing / 2 : w : spacing]
    inner = cv2.erode(covered, np.ones((int(spacing / 2) * 2 + 1,) * 2, np.uint8))
    grid = np.stack([xs.ravel(), ys.ravel()], 1)
    grid = grid[inner[grid[:, 1].astype(int), grid[:, 0].astype(int)] > 0]
    # Cut lines are sampled densely and kept clear of other points, so Delaunay edges follow them; the outline's
    # points stay (a cut ends beside them), or the triangles there would cut off its curve, holes in the edge.
    cut_xy = _away_from(_away_from(cut_xy, pin_xy, spacing / 3), outline_xy, 2.0)
    others = np.concatenate([outline_xy, _away_from(grid, cut_xy, spacing / 2)])
    others = _away_from(others, pin_xy, spacing / 3)  # keep pins exact: drop other points sitting on them
    points = np.concatenate([pin_xy, cut_xy, others])
    try:
        triangles = Delaunay(points).simplices if len(points) >= 3 else np.zeros((0, 3), np.int64)
    except QhullError:  # every point on one line (a straight rig over an empty or hairline mask)
        return points, np.zeros((0, 3), np.int64)
    # Keep triangles inside the subject: centroid and edge midpoints on the (grown) mask.
    corners = points[triangles]  # (T, 3, 2)
    probes = np.concatenate([corners.mean(1, keepdims=True), (corners + np.roll(corners, 1, axis=1)) / 2], 1)
    probe_mask = cv2.dilate(covered, np.ones((3, 3), np.uint8))  # a pixel of slack for rounded probes
    inside = (probe_mask[pixel_index(probes, (h, w))] > 0).all(1)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    return points, triangles[inside & (area > 1e-3)]


def _away_from(points: np.ndarray, anchors: np.ndarray, distance: float) -> np.ndarray:
    """`points` farther than `distance` from every anchor."""
    if not len(points) or not len(anchors):
        return points
    gap, _ = cKDTree(clip_far(anchors)).query(points, distance_upper_bound=distance)
    return points[~np.isfinite(gap)]


def _outline_points(contour: np.ndarray, spacing: float) -> np.ndarray:
    """Points on a closed contour of pixels (K, 2): its corners, so concave corners are not cut off, and
    every `spacing`-th pixel between them. All are contour pixels, so outline edges lie on the mask."""
    corners = cv2.approxPolyDP(contour.reshape(-1, 1, 2).astype(np.int32), 1.0, True)[:, 0, :]
    samples = contour[:: max(1, int(spacing))]
    near = np.hypot(*(samples[:, None, :] - corners[None, :, :]).transpose(2, 0, 1)).min(1) < spacing / 2
    return np.concatenate([corners, samples[~near]]).astype(np.float64)
