"""A subject cut-out from what the user gives: a box around the subject, and strokes on it and on the background.

OpenCV's GrabCut models the subject's and the background's colours (Gaussian mixtures) and cuts the
picture between them along its edges. What the user gives fixes some pixels: outside the box is surely
background, a foreground stroke surely subject, a background stroke surely background (a flag behind a
person, a helmet she holds); with strokes and no box, every other pixel may be either. The picture is cut at
MAX_SIDE pixels on its long side (GrabCut's time grows with the pixels; 400 also scored better than 512 on the
benchmark's photos) and the mask scaled back smoothly. Afterwards only the regions the foreground strokes
touch are kept (else all but specks), and holes smaller than HOLE_SHARE of the subject are filled (a
highlight on a cup, a badge), since a subject with a small hole is rarely what a picture shows.

Pure numpy and cv2, no Qt: the window's mask tools can call it from a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from .parts import grabcut
from .rig import Rig

MAX_SIDE = 400
EDGE_SNAP = 0.003  # a box side this close to the picture's edge (share of its long side) is taken to reach it
HOLE_SHARE = 0.01  # holes under this share of the subject's area are filled
ITERATIONS = 5
RIG_GROW = 0.15  # the rig's box grows by this share of its width (height) on each side: a subject's outline
# lies past its joints (hair above the head joint, a cat's cheeks). On the benchmark's photos 0.15 scored 0.90,
# 0.1 and 0.2 0.84 and 0.90, 0.25 fell to 0.83 (the box took the astronaut's helmet); Mask from rig's own
# GrabCut (core/parts.grabcut_mask: the box 0.35 larger, all of it "maybe background") 0.80.

Stroke = Sequence[tuple[float, float]]  # a polyline, picture pixels (x, y)


@dataclass(frozen=True)
class Strokes:
    """What the user drew: a box (x0, y0, x1, y1) around the subject, and polylines on it and on the background."""

    box: tuple[float, float, float, float] | None = None
    foreground: tuple[Stroke, ...] = field(default_factory=tuple)
    background: tuple[Stroke, ...] = field(default_factory=tuple)
    width: float = 0.0  # stroke width in picture pixels; 0: 1% of the picture's long side, at least 3


def subject_cutout(rgb: np.ndarray, strokes: Strokes, iterations: int = ITERATIONS) -> np.ndarray:
    """The subject mask (H, W) bool that GrabCut cuts from `rgb` (H, W, 3) uint8 given `strokes`.

    ValueError when `strokes` has neither a box nor a foreground stroke (nothing says where the subject is)."""
    h, w = rgb.shape[:2]
    if strokes.box is None and not strokes.foreground:
        raise ValueError("draw a box around the subject or a stroke on it")
    scale = min(1.0, MAX_SIDE / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    labels, sure_subject = seed_labels(small.shape[:2], strokes, scale, (w, h))
    if not (labels == cv2.GC_BGD).any() and not (labels == cv2.GC_PR_BGD).any():
        return np.ones((h, w), bool)  # the box is the whole picture and nothing says where background is
    try:
        grabcut(np.ascontiguousarray(small[..., ::-1]), labels, iterations)
    except cv2.error:  # one colour only: nothing to model; what the user marked is the answer
        labels = np.where(labels == cv2.GC_PR_BGD, cv2.GC_BGD, labels).astype(np.uint8)
    found = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    mask = cv2.resize(found, (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    keep = cv2.resize(sure_subject.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    return filled_holes(kept_regions(mask, keep), HOLE_SHARE)


def rig_strokes(rig: Rig, size: tuple[int, int]) -> Strokes:
    """What a rig says about its subject on a picture of `size` (w, h): its bones (and bare joints) are strokes
    on the subject, its joints' box grown by RIG_GROW (at least 2% of the picture) the box around it."""
    xy = np.clip(rig.rest_xy().reshape(-1, 2), 0, (size[0], size[1]))
    if not len(xy):
        return Strokes()
    points = [(float(x), float(y)) for x, y in xy]
    pairs = [(int(a), int(b)) for a, b in rig.bone_joint_indices()]
    bones: list[Stroke] = [(points[a], points[b]) for a, b in pairs]
    boned = {i for pair in pairs for i in pair}
    alone: list[Stroke] = [(points[i],) for i in range(len(points)) if i not in boned]
    lo, hi = xy.min(0), xy.max(0)
    pad = np.maximum(RIG_GROW * (hi - lo), 0.02 * max(size))
    (x0, y0), (x1, y1) = np.maximum(lo - pad, 0), np.minimum(hi + pad, size)
    return Strokes(box=(float(x0), float(y0), float(x1), float(y1)), foreground=(*bones, *alone))


def seed_labels(
    shape: tuple[int, int], strokes: Strokes, scale: float, picture_size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """GrabCut's starting labels (H, W) uint8 at the working size, and the foreground strokes' pixels there."""
    h, w = shape
    if strokes.box is None:  # strokes only: every pixel may be either, the strokes' colours decide
        labels = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    else:
        x0, y0, x1, y1 = (round(v * scale) for v in snapped_box(strokes.box, picture_size))
        x0, y0 = max(0, min(x0, w - 1)), max(0, min(y0, h - 1))
        x1, y1 = max(x0 + 1, min(x1, w)), max(y0 + 1, min(y1, h))
        labels = np.full((h, w), cv2.GC_BGD, np.uint8)
        labels[y0:y1, x0:x1] = cv2.GC_PR_FGD
    width = strokes.width or max(3.0, 0.01 * max(picture_size))
    thick = max(1, round(width * scale))
    fg = _drawn(shape, strokes.foreground, scale, thick)
    bg = _drawn(shape, strokes.background, scale, thick)
    labels[fg] = cv2.GC_FGD
    labels[bg & ~fg] = cv2.GC_BGD
    return labels, fg


def snapped_box(box: tuple[float, float, float, float], size: tuple[int, int]) -> tuple[float, float, float, float]:
    """`box` (x0, y0, x1, y1) in order, its sides within EDGE_SNAP of the picture's edge (`size` (w, h)) moved onto
    it: a box dragged to the bottom of a portrait ends a pixel or two short, and that last row, taken as surely
    background, cut the subject's body off there (IoU 0.71 against 0.78 on the astronaut)."""
    w, h = size
    near = EDGE_SNAP * max(w, h)
    x0, x1 = sorted((box[0], box[2]))
    y0, y1 = sorted((box[1], box[3]))
    return (
        0.0 if x0 <= near else x0,
        0.0 if y0 <= near else y0,
        float(w) if x1 >= w - near else x1,
        float(h) if y1 >= h - near else y1,
    )


def _drawn(shape: tuple[int, int], strokes: Sequence[Stroke], scale: float, thick: int) -> np.ndarray:
    """The strokes drawn `thick` pixels wide on a (H, W) bool canvas at `scale`."""
    canvas = np.zeros(shape, np.uint8)
    for stroke in strokes:
        points = np.round(np.asarray(stroke, float).reshape(-1, 2) * scale).astype(np.int32)
        if len(points) == 1:
            cv2.circle(canvas, tuple(int(v) for v in points[0]), max(1, thick // 2), 1, -1)
        else:
            cv2.polylines(canvas, [points], False, 1, thick)
    return canvas > 0


def kept_regions(mask: np.ndarray, touching: np.ndarray, speck: float = 0.1) -> np.ndarray:
    """The mask's 8-connected regions that `touching` (H, W) bool touches; when it touches none, those of at
    least `speck` times the largest one's area (the specks of background a box leaves go)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask.copy()
    ids = np.unique(labels[touching & mask])
    ids = ids[ids > 0]
    if not len(ids):
        area = stats[1:, cv2.CC_STAT_AREA]
        ids = 1 + np.nonzero(area >= speck * area.max())[0]
    return np.isin(labels, ids)


def filled_holes(mask: np.ndarray, share: float) -> np.ndarray:
    """The mask with its holes (background regions not reaching the picture's edge) smaller than `share` of its
    area filled."""
    _count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    h, w = mask.shape
    x, y, bw, bh, area = stats[1:].T
    small = (x > 0) & (y > 0) & (x + bw < w) & (y + bh < h) & (area < share * mask.sum())
    return mask | np.isin(labels, 1 + np.nonzero(small)[0])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (H, W) bool masks (1.0 for two empty ones)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
