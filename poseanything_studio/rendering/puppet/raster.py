"""Drawing the deformed mesh: triangles to per-pixel source maps, the camera warp, compositing."""

from __future__ import annotations

import cv2
import numpy as np

from poseanything_studio.core.camera import invert_affine
from poseanything_studio.core.raster import clip_far
from poseanything_studio.core.rig import Rig

from .geometry import pixel_index

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # the camera at rest, as a 2x3 affine


def triangle_index(moved: np.ndarray, triangles: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) int32: the last triangle drawn over each pixel, -1 where none."""
    w, h = size
    index = np.full((h, w), -1, np.int32)
    shift = 4
    fixed = np.round(clip_far(moved) * (1 << shift)).astype(np.int32)
    fill = cv2.fillConvexPoly
    for t, corners in enumerate(fixed[triangles]):  # (3, 2) rows of one gathered array: no index per triangle
        fill(index, corners, t, cv2.LINE_8, shift)
    return index


def under_other_parts(
    moved: np.ndarray, triangles: np.ndarray, tri_part: np.ndarray, front_part: np.ndarray
) -> np.ndarray:
    """Per triangle: True where another part is drawn over one of its corners, edge midpoints or centroid."""
    corners = moved[triangles]  # (T, 3, 2)
    probes = np.concatenate([corners, (corners + np.roll(corners, 1, axis=1)) / 2, corners.mean(1, keepdims=True)], 1)
    shown = front_part[pixel_index(probes, front_part.shape)]  # (T, 7)
    return ((shown >= 0) & (shown != tri_part[:, None])).any(1)


def source_maps(
    index: np.ndarray, moved: np.ndarray, rest: np.ndarray, triangles: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel source coordinates for the triangles in `index` (-1 where none covers), float32 maps."""
    h, w = index.shape
    ys, xs = np.nonzero(index >= 0)
    tid = index[ys, xs]
    used, inverse = np.unique(tid, return_inverse=True)
    # Affine from screen to source per triangle in use.
    dst = np.concatenate([moved[triangles[used]], np.ones((len(used), 3, 1))], 2)  # (U, 3, 3)
    src = rest[triangles[used]]  # (U, 3, 2)
    det = np.linalg.det(dst)
    ok = np.abs(det) > 1e-9
    affine = np.zeros((len(used), 3, 2))
    affine[ok] = np.linalg.solve(dst[ok], src[ok])  # dst @ A = src
    map_x = np.full((h, w), -1.0, np.float32)
    map_y = np.full((h, w), -1.0, np.float32)
    a = affine[inverse]  # (P, 3, 2)
    map_x[ys, xs] = xs * a[:, 0, 0] + ys * a[:, 1, 0] + a[:, 2, 0]
    map_y[ys, xs] = xs * a[:, 0, 1] + ys * a[:, 1, 1] + a[:, 2, 1]
    return map_x, map_y


def clipped_box(points: np.ndarray, size: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    """The integer box (x0, y0, x1, y1) around `points` (N, 2) grown by `margin`, clipped to the frame."""
    w, h = size
    if not len(points):
        return 0, 0, 0, 0
    lo = np.floor(np.nan_to_num(points.min(0), nan=0.0)) - margin
    hi = np.ceil(np.nan_to_num(points.max(0), nan=0.0)) + margin + 1
    x0, y0 = (int(np.clip(v, 0, m)) for v, m in zip(lo, (w, h), strict=True))
    x1, y1 = (int(np.clip(v, 0, m)) for v, m in zip(hi, (w, h), strict=True))
    return x0, y0, x1, y1


def warp_reflected(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`image` moved by a 2x3 affine, mirrored beyond its edges, at its own size.

    The mirrored picture repeats every 2W x 2H pixels, so the source offset is reduced by that
    period first: OpenCV's reflect border is slow for far-off sources (a pan of 1e9 px hung it).
    """
    h, w = image.shape[:2]
    if np.array_equal(matrix, IDENTITY):
        return image.copy()
    inverse = invert_affine(matrix)
    inverse[:, 2] = np.mod(np.nan_to_num(inverse[:, 2]), [2 * w, 2 * h])
    return cv2.warpAffine(
        image, inverse, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )


def composite(background: np.ndarray, subject_rgba: np.ndarray) -> np.ndarray:
    """Subject (H, W, 4) over background (H, W, 3), both uint8."""
    alpha = subject_rgba[..., 3:4].astype(np.uint16)
    out = (subject_rgba[..., :3] * alpha + background * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def feathered_alpha(mask: np.ndarray) -> np.ndarray:
    """The subject mask as an alpha channel with a one-pixel soft edge."""
    return cv2.GaussianBlur(mask.astype(np.uint8) * 255, (3, 3), 0)


def draw_order(tri_part: np.ndarray, rig: Rig) -> np.ndarray:
    """Triangle order for drawing: by their bone's depth, then the bone's place in the rig (later in front)."""
    if not rig.bones or not len(tri_part):
        return np.arange(len(tri_part))
    depth = np.array([bone.depth for bone in rig.bones], np.int64)
    return np.lexsort((tri_part, depth[tri_part]))
