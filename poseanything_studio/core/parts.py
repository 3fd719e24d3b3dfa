"""The subject mask, and per-bone part masks: which part of the subject each bone carries.

The subject mask comes from the project's `subject_mask` file, else the picture's alpha, else
GrabCut seeded by the rig. Part masks (the paper's PTCM, step 1) are, by default, the paper's capped
dilation of each bone segment (just enough to cover the bone's share of the subject, at most 100 px);
a nearest-bone partition of the subject is the other rule. Parts follow their bone into later frames
with the bone's own rigid motion. `clip_part_masks` is the one function both the renderer and the
training data (model/data.py) build part masks with.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from .raster import bone_colour, clip_far, line_width
from .rig import Rig

BACKGROUND = -1
PART_RULES = ("dilated", "nearest")  # the first is the default everywhere
DEFAULT_PART_RULE = PART_RULES[0]


def subject_mask(rgba: np.ndarray, rig: Rig, given: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool subject mask at the picture's size: `given`, else alpha, else derived from the rig."""
    h, w = rgba.shape[:2]
    if given is not None:
        if given.shape != (h, w):
            given = cv2.resize(given.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return given.astype(bool)
    alpha = rgba[..., 3]
    if alpha.min() < 250 and (alpha > 127).any():
        return alpha > 127
    return grabcut_mask(rgba[..., :3], rig)


def grabcut_mask(rgb: np.ndarray, rig: Rig, max_side: int = 384, iterations: int = 4) -> np.ndarray:
    """Subject mask by GrabCut: the bones are sure foreground, far outside the rig's box sure background."""
    h, w = rgb.shape[:2]
    if not rig.bones and len(rig.joints) < 2:
        return np.ones((h, w), bool)
    scale = min(1.0, max_side / max(h, w))
    small = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    xy = clip_far(rig.rest_xy() * scale)
    lo, hi = xy.min(0), xy.max(0)
    pad = max(0.35 * float((hi - lo).max()), 0.08 * max(sw, sh))  # a thin rig still has a thick body
    x0, y0 = np.maximum(lo - pad, 0).astype(int)
    x1, y1 = np.minimum(hi + pad, [sw - 1, sh - 1]).astype(int)
    seed = np.full((sh, sw), cv2.GC_BGD, np.uint8)
    seed[y0 : y1 + 1, x0 : x1 + 1] = cv2.GC_PR_BGD
    bones_img = np.zeros((sh, sw), np.uint8)
    for a, b in rig.bone_joint_indices():
        cv2.line(bones_img, tuple(map(int, xy[a])), tuple(map(int, xy[b])), 255, max(2, line_width((sw, sh))))
    seed[cv2.dilate(bones_img, np.ones((9, 9), np.uint8)) > 0] = cv2.GC_PR_FGD
    seed[bones_img > 0] = cv2.GC_FGD
    try:
        grabcut(small[..., ::-1], seed, iterations)
    except cv2.error:  # a degenerate picture (one colour): fall back to the rig's neighbourhood
        seed[:] = cv2.GC_BGD
        seed[cv2.dilate(bones_img, np.ones((25, 25), np.uint8)) > 0] = cv2.GC_FGD
    small_mask = np.isin(seed, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    small_mask = _keep_rig_components(small_mask, bones_img)
    return cv2.resize(small_mask, (w, h), interpolation=cv2.INTER_LINEAR) > 0


def grabcut(bgr: np.ndarray, labels: np.ndarray, iterations: int) -> None:
    """cv2.grabCut from the GC_* `labels` (H, W) uint8, updated in place; the same picture gives the same labels.

    GrabCut seeds its colour models with k-means++, drawn from OpenCV's process-wide (per-thread) RNG, which every
    earlier GrabCut call advances: without a fixed seed a mask depended on how many masks were made before it in
    the process. Seed 0 is OpenCV's own start state, so results match a fresh process's first call."""
    cv2.setRNGSeed(0)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    no_rect = (0, 0, 0, 0)  # GC_INIT_WITH_MASK reads the labels, never the rectangle
    cv2.grabCut(np.ascontiguousarray(bgr), labels, no_rect, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)


def _keep_rig_components(mask: np.ndarray, bones_img: np.ndarray) -> np.ndarray:
    """Drop blobs that no bone touches; close small holes."""
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    _, labels = cv2.connectedComponents(mask)
    touched = np.unique(labels[(bones_img > 0) & (mask > 0)])
    return np.isin(labels, touched[touched > 0]).astype(np.uint8)


def segment_distances(xy: np.ndarray, bone_pairs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Distance of every pixel to each bone segment, (B, H, W) float32."""
    w, h = size
    dist = np.empty((len(bone_pairs), h, w), np.float32)
    for i, (a, b) in enumerate(bone_pairs):
        dist[i] = segment_distance(xy, a, b, size)
    return dist


def segment_distance(xy: np.ndarray, a: int, b: int, size: tuple[int, int]) -> np.ndarray:
    """Distance of every pixel to the segment from joint `a` to joint `b`, (H, W) float32."""
    w, h = size
    xy = clip_far(xy)
    line = np.full((h, w), 255, np.uint8)
    cv2.line(line, tuple(np.round(xy[a]).astype(int)), tuple(np.round(xy[b]).astype(int)), 0, 1)
    return cv2.distanceTransform(line, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def part_labels(mask: np.ndarray, rig: Rig, xy: np.ndarray) -> np.ndarray:
    """Nearest-bone partition of the subject: (H, W) int16, bone index or BACKGROUND.

    One bone's distances at a time (a running minimum): memory stays a few frames whatever the bone count.
    """
    h, w = mask.shape
    labels = np.full((h, w), BACKGROUND, np.int16)
    if not rig.bones:
        return labels
    nearest = np.full(int(mask.sum()), np.inf, np.float32)
    inside = np.full(nearest.shape, BACKGROUND, np.int16)
    for j, (a, b) in enumerate(rig.bone_joint_indices()):
        dist = segment_distance(xy, a, b, (w, h))[mask]
        closer = dist < nearest  # strictly: ties keep the first bone, as argmin does
        nearest[closer] = dist[closer]
        inside[closer] = j
    labels[mask] = inside
    return labels


def part_masks(labels: np.ndarray, bone_count: int) -> np.ndarray:
    """One-hot masks from a label map: (B, H, W) bool."""
    return labels[None] == np.arange(bone_count, dtype=np.int16)[:, None, None]


def capped_dilation_masks(
    labels: np.ndarray, rig: Rig, xy: np.ndarray, cap: float = 100.0, coverage: float = 0.95
) -> np.ndarray:
    """The paper's part masks: each bone segment dilated just enough to cover its part, at most `cap` px.

    alpha_j = min(cap, smallest radius whose dilation covers `coverage` of part j); (B, H, W) bool.
    """
    pairs = rig.bone_joint_indices()
    masks = np.zeros((len(pairs), *labels.shape), bool)
    for j in range(len(pairs)):
        masks[j] = _dilated_part(labels, xy, pairs, j, cap, coverage)
    return masks


def _dilated_part(
    labels: np.ndarray, xy: np.ndarray, pairs: np.ndarray, j: int, cap: float = 100.0, coverage: float = 0.95
) -> np.ndarray:
    """Bone j's capped dilation mask (H, W) bool (see `capped_dilation_masks`)."""
    h, w = labels.shape
    dist = segment_distance(xy, pairs[j][0], pairs[j][1], (w, h))
    inside = dist[labels == j]
    radius = min(cap, float(np.quantile(inside, coverage))) if inside.size else line_width((w, h))
    return dist <= radius


def bone_motion(rest_a: np.ndarray, rest_b: np.ndarray, pose_a: np.ndarray, pose_b: np.ndarray) -> np.ndarray:
    """2x3 affine carrying a bone from rest to pose: turn, stretch along the bone (not across), move.

    A bone shrunk to a point (or from one) moves its part by the root's displacement only.
    """
    d0, d1 = rest_b - rest_a, pose_b - pose_a
    l0, l1 = float(np.hypot(*d0)), float(np.hypot(*d1))
    if l0 < 1e-6 or l1 < 1e-6:
        return np.array([[1.0, 0.0, pose_a[0] - rest_a[0]], [0.0, 1.0, pose_a[1] - rest_a[1]]])
    u0, u1 = d0 / l0, d1 / l1
    r0 = np.array([[u0[0], -u0[1]], [u0[1], u0[0]]])  # bone frame -> image
    r1 = np.array([[u1[0], -u1[1]], [u1[1], u1[0]]])
    linear = r1 @ np.diag([l1 / l0, 1.0]) @ r0.T
    return np.hstack([linear, (pose_a - linear @ rest_a)[:, None]])


def posed_part_masks(parts: np.ndarray, rig: Rig, rest_xy: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Part masks for every frame, each rest part carried by its bone's motion: (F, B, H, W) bool.

    `parts` is a label map (H, W) from `part_labels` or rest masks (B, H, W), e.g. `capped_dilation_masks`.
    """
    pairs = rig.bone_joint_indices()
    rest_masks = part_masks(parts, len(pairs)) if parts.ndim == 2 else parts
    h, w = rest_masks.shape[1:]
    out = np.zeros((len(positions), len(pairs), h, w), bool)
    sources = [m.astype(np.uint8) for m in rest_masks]
    for f, xy in enumerate(positions):
        for j, (a, b) in enumerate(pairs):
            m = bone_motion(rest_xy[a], rest_xy[b], xy[a], xy[b])
            out[f, j] = cv2.warpAffine(sources[j], m, (w, h), flags=cv2.INTER_NEAREST) > 0
    return out


def rest_part_masks(mask: np.ndarray, rig: Rig, rest_xy: np.ndarray, rule: str = DEFAULT_PART_RULE) -> np.ndarray:
    """Part masks at rest, (B, H, W), by `rule`: "dilated" (the paper's, default) or "nearest" (a partition)."""
    labels = part_labels(mask, rig, rest_xy)
    if rule == "dilated":
        return capped_dilation_masks(labels, rig, rest_xy)
    if rule != "nearest":
        raise ValueError(f"unknown part rule {rule!r} (use nearest or dilated)")
    return part_masks(labels, len(rig.bones))


def posed_part_pictures(
    mask: np.ndarray, rig: Rig, rest_xy: np.ndarray, positions: np.ndarray, rule: str = DEFAULT_PART_RULE
) -> Iterator[np.ndarray]:
    """`colour_parts` of each frame's posed part masks, (H, W, 3) uint8 one frame at a time, without ever holding
    the (B, H, W) masks: each rest part is kept cropped to its box, so memory is the parts' area, not B frames.
    """
    if rule not in PART_RULES:
        raise ValueError(f"unknown part rule {rule!r} (use nearest or dilated)")
    pairs = rig.bone_joint_indices()
    labels = part_labels(mask, rig, rest_xy)
    crops = []
    for j in range(len(pairs)):
        part = _dilated_part(labels, rest_xy, pairs, j) if rule == "dilated" else labels == j
        crops.append(_cropped(part))
    h, w = mask.shape
    for xy in positions:
        out = np.zeros((h, w, 3), np.uint8)
        for (a, b), bone, (x0, y0, crop) in zip(pairs, rig.bones, crops, strict=True):
            if crop.size:
                m = bone_motion(rest_xy[a], rest_xy[b], xy[a], xy[b])
                m[:, 2] += m[:, :2] @ np.array([x0, y0], float)  # the crop's pixel (0, 0) is (x0, y0) at rest
                out[cv2.warpAffine(crop, m, (w, h), flags=cv2.INTER_NEAREST) > 0] = bone_colour(bone.id)
        yield out


def _cropped(part: np.ndarray) -> tuple[int, int, np.ndarray]:
    """(x0, y0, the mask's bounding box as uint8) of an (H, W) bool mask; an empty crop when it is empty."""
    ys, xs = np.nonzero(part.any(1))[0], np.nonzero(part.any(0))[0]
    if not ys.size:
        return 0, 0, np.zeros((0, 0), np.uint8)
    return int(xs[0]), int(ys[0]), part[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1].astype(np.uint8)


def clip_part_masks(
    mask: np.ndarray, rig: Rig, rest_xy: np.ndarray, positions: np.ndarray, rule: str = DEFAULT_PART_RULE
) -> np.ndarray:
    """Part masks of a clip, (F, B, H, W) bool: `rule`'s masks on the subject `mask` at rest, carried by each bone.

    `mask` is the subject at `rest_xy` (the reference picture); `positions` (F, J, 2) the joints per frame.
    """
    return posed_part_masks(rest_part_masks(mask, rig, rest_xy, rule), rig, rest_xy, positions)


def colour_parts(masks: np.ndarray, rig: Rig) -> np.ndarray:
    """Part masks (B, H, W) drawn in their bones' colours on black: (H, W, 3) uint8."""
    out = np.zeros((*masks.shape[1:], 3), np.uint8)
    for mask, bone in zip(masks, rig.bones, strict=True):
        out[mask] = bone_colour(bone.id)
    return out
