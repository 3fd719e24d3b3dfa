"""Part masks exactly as the official PoseAnything release makes them (its `data_utils.py` and `test_ddp.py`).

The release splits each pose image into skeleton segments instead of using a rig's bones:
skeletonize the (resized) pose image, cut it at its end points and junctions, merge the pieces until there
are at most 5 of at least 20 pixels, dilate each piece `alpha` times with a 3x3 cross, AND the first
frame's pieces with the subject mask, and nearest-resize every piece to the token grid (pixels / 32).
`alpha` is one number for the clip: the fewest 3x3 dilations of the first frame's whole pose drawing (not
its skeleton) that cover the subject mask, plus one, at most 100.

Every step uses the release's own libraries and calls (OpenCV, scikit-image's `skeletonize`) so the masks
are the same bits; the release's pixel loops are replaced by array operations that visit pixels in the same
order, so ties break the same way. Arrays in, arrays out: reading files the release's way is
`read_gray`/`read_bgr`. The tests check all of it against goldens the release's own code wrote
(tools/release_goldens/parts.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy import ndimage
from scipy.spatial.distance import cdist
from skimage.morphology import skeletonize

RELEASE_MAX_SIDE = 832  # test_ddp.py --max_size default, and data_utils.resize_image's constant
SIZE_MULTIPLE = 32  # both sides are floored to a multiple of this
TOKEN_PIXELS = 32  # one DiT token covers 32x32 pixels (VAE 16x, patch 2x2): the mask grid is (W // 32, H // 32)
MAX_DILATION = 100  # calculate_needed_dilation's max_iterations
MAX_SEGMENTS = 5
MIN_SEGMENT_PIXELS = 20
SUBJECT_BELOW = 245  # an id-image pixel is subject where its grey value is at most this (white background)
LINE_THRESHOLD = 127  # a pose-image pixel is line where its grey value is above this
CROSS = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))  # the release's "ellipse" 3x3: a plus sign
NEIGHBOURS = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class ReleaseParts:
    """A clip's part masks as the release's pipeline consumes them (`binary_masks` in test_ddp.py).

    `binary_masks[i]` belongs to the pose image of `condition_index[i]`; entry 0 is the first frame's parts
    (cut by the subject mask), each a read-only (h, w) bool array on the token grid `grid` (w, h).
    """

    alpha: int
    grid: tuple[int, int]
    binary_masks: tuple[tuple[np.ndarray, ...], ...]


def release_size(width: int, height: int, max_side: int = RELEASE_MAX_SIDE) -> tuple[int, int]:
    """(width, height) the release resizes a picture of this size to: long side `max_side`, both floored to 32s.

    `int(side * max_side / long_side) // 32 * 32`, as data_utils.resize_image and crop_and_resize compute it.
    """
    long_side = max(width, height)
    return (
        int(width * max_side / long_side) // SIZE_MULTIPLE * SIZE_MULTIPLE,
        int(height * max_side / long_side) // SIZE_MULTIPLE * SIZE_MULTIPLE,
    )


def resize_like_release(image: np.ndarray) -> np.ndarray:
    """data_utils.resize_image: OpenCV bilinear (no anti-aliasing) to `release_size`."""
    h, w = image.shape[:2]
    return cv2.resize(image, release_size(w, h), interpolation=cv2.INTER_LINEAR)


def read_gray(path: str | Path) -> np.ndarray | None:
    """A pose image read as the release reads it (`cv2.imread(path, IMREAD_GRAYSCALE)`); None if unreadable."""
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def read_bgr(path: str | Path) -> np.ndarray | None:
    """An id image read as the release reads it (`cv2.imread(path)`: BGR, alpha dropped); None if unreadable."""
    return cv2.imread(str(path))


def silhouette_id_image(mask: np.ndarray) -> np.ndarray:
    """A subject mask (H, W) bool as a release id image: black subject on white, (H, W, 3) uint8 BGR.

    Through the release's grey threshold it gives back exactly `mask`, so a project's own mask takes the
    release's path (resize, threshold) unchanged.
    """
    return np.repeat(np.where(mask, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def subject_mask_from_id(id_bgr: np.ndarray) -> np.ndarray:
    """The release's subject mask from an already-resized id image: 255 where grey <= 245, else 0 (uint8)."""
    grey = cv2.cvtColor(id_bgr, cv2.COLOR_BGR2GRAY)
    _, mask = cv2.threshold(grey, SUBJECT_BELOW, 255, cv2.THRESH_BINARY_INV)
    return np.where(mask > 0, 255, 0).astype(np.uint8)


def needed_dilation(id_bgr: np.ndarray | None, skeleton_gray: np.ndarray | None) -> int:
    """data_utils.calculate_needed_dilation on arrays: the clip's `alpha`, 1..100.

    Dilates the first pose image's thresholded drawing (not its skeleton) with the 3x3 cross until it covers
    every subject pixel; returns the number of dilations + 1, or 100 when 99 do not cover it. A missing
    image or an empty subject gives 1, as in the release.
    """
    if id_bgr is None or skeleton_gray is None:
        return 1
    subject = resize_like_release(id_bgr)
    skeleton = resize_like_release(skeleton_gray)
    if subject.shape[:2] != skeleton.shape[:2]:
        subject = cv2.resize(subject, (skeleton.shape[1], skeleton.shape[0]), interpolation=cv2.INTER_LINEAR)
    subject_mask = subject_mask_from_id(subject)
    _, drawn = cv2.threshold(skeleton, LINE_THRESHOLD, 255, cv2.THRESH_BINARY)
    total = cv2.countNonZero(subject_mask)
    if total == 0:
        return 1
    for done in range(MAX_DILATION):
        if cv2.countNonZero(cv2.bitwise_and(drawn, subject_mask)) >= total:
            return done + 1
        drawn = cv2.dilate(drawn, CROSS, iterations=1)
    return MAX_DILATION


def skeleton_pieces(skeleton: np.ndarray) -> list[np.ndarray]:
    """The release's BFS split: the skeleton (H, W) 0/1 less its key points, in 8-connected pieces of 2+ pixels.

    Key points are interior skeleton pixels (not on the image border) with 1 neighbour (end points) or more
    than 2 (junctions). Pieces come in the order the release's raster scan finds them; each is an (N, 2)
    int64 array of (x, y) points.
    """
    h, w = skeleton.shape
    count = cv2.filter2D(skeleton, cv2.CV_16S, NEIGHBOURS, borderType=cv2.BORDER_CONSTANT) - skeleton
    interior = np.zeros((h, w), bool)
    interior[1:-1, 1:-1] = True
    keys = interior & (skeleton == 1) & ((count == 1) | (count > 2))
    rest = (skeleton == 1) & ~keys
    labels, n = ndimage.label(rest, structure=np.ones((3, 3), bool))
    if n == 0:
        return []
    pixels = np.flatnonzero(labels)  # raster order
    grouped = np.argsort(labels.ravel()[pixels], kind="stable")  # by label, each group still in raster order
    bounds = np.searchsorted(labels.ravel()[pixels][grouped], np.arange(1, n + 2))
    groups = [pixels[grouped[bounds[i] : bounds[i + 1]]] for i in range(n)]
    groups.sort(key=lambda g: g[0])  # the scan meets each piece at its first pixel in raster order
    return [np.stack([g % w, g // w], axis=1) for g in groups if len(g) > 1]


def merge_pieces(pieces: list[np.ndarray]) -> list[np.ndarray]:
    """The release's merge: while more than 5 pieces or any under 20 pixels, fold the smallest into the nearest.

    Smallest: the first of the shortest; nearest: the first piece at the least point-to-point distance.
    Squared integer distances order the same as the release's float norms, ties included.
    """
    pieces = list(pieces)
    while pieces and (len(pieces) > MAX_SEGMENTS or min(len(p) for p in pieces) < MIN_SEGMENT_PIXELS):
        smallest = int(np.argmin([len(p) for p in pieces]))
        if len(pieces) == 1:
            break
        gaps = [_squared_gap(pieces[smallest], other) if i != smallest else np.inf for i, other in enumerate(pieces)]
        nearest = int(np.argmin(gaps))
        pieces[nearest] = np.concatenate([pieces[nearest], pieces[smallest]])
        pieces.pop(smallest)
    return pieces


def _squared_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Least squared distance between two point sets (N, 2) and (M, 2) of integers (exact in float64)."""
    return float(cdist(a, b, "sqeuclidean").min())


def segment_skeleton(
    skeleton_gray: np.ndarray, id_bgr: np.ndarray | None = None, dilation: int = 1
) -> tuple[list[np.ndarray], tuple[int, int]]:
    """data_utils.segment_skeleton on arrays: the pose image's parts at the release size, and the token grid.

    `skeleton_gray` is the pose image as read (any size: it is resized the release's way); `id_bgr`, the id
    image (subject on white), cuts the parts when given (the release gives it for the first frame only).
    Returns up to 5 uint8 masks (0/255, H x W; in-between values where the id image's size differs, as in
    the release) and the grid (W // 32, H // 32).
    """
    image = resize_like_release(skeleton_gray)
    _, binary = cv2.threshold(image, LINE_THRESHOLD, 255, cv2.THRESH_BINARY)
    skeleton = skeletonize(binary // 255).astype(np.uint8)
    subject = None if id_bgr is None else subject_mask_from_id(resize_like_release(id_bgr))
    h, w = image.shape
    masks = []
    for piece in merge_pieces(skeleton_pieces(skeleton)):
        dilated = dilate_by_cross(piece, (w, h), dilation)
        if subject is not None:
            if subject.shape != dilated.shape:
                subject = cv2.resize(subject, (w, h), interpolation=cv2.INTER_LINEAR)
            dilated = cv2.bitwise_and(dilated, subject)
        masks.append(dilated)
    return masks, (w // TOKEN_PIXELS, h // TOKEN_PIXELS)


def dilate_by_cross(points: np.ndarray, size: tuple[int, int], times: int) -> np.ndarray:
    """`cv2.dilate(drawn, CROSS, iterations=times)` of the (x, y) `points` drawn 255 on black, in one pass.

    `times` dilations by the 3x3 cross reach exactly the pixels within city-block distance `times` (and an
    in-image shortest city-block path never leaves the image), so one L1 distance transform gives the same
    bits as the release's iterated dilation, several times faster at the release's alpha of 60-100.
    """
    w, h = size
    out = np.zeros((h, w), np.uint8)
    if times < 1:
        out[points[:, 1], points[:, 0]] = 255
        return out
    x0, y0 = np.maximum(points.min(0) - times, 0)  # nothing farther than `times` can be reached: work in that box
    x1, y1 = np.minimum(points.max(0) + times + 1, (w, h))
    background = np.full((y1 - y0, x1 - x0), 255, np.uint8)
    background[points[:, 1] - y0, points[:, 0] - x0] = 0
    distance = cv2.distanceTransform(background, cv2.DIST_L1, 3)
    out[y0:y1, x0:x1] = np.where(distance <= times, 255, 0)
    return out


def token_masks(masks: Sequence[np.ndarray], grid: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """test_ddp's resize of each part to the token grid (w, h): nearest, then above 127; read-only bool arrays."""
    out = []
    for mask in masks:
        small = cv2.resize(mask, grid, interpolation=cv2.INTER_NEAREST) > 127
        small.setflags(write=False)
        out.append(small)
    return tuple(out)


def release_part_masks(pose_images: Sequence[np.ndarray], id_bgr: np.ndarray | None) -> ReleaseParts:
    """test_ddp.py's part masks for a clip: alpha from the first pose image, then every pose image's parts.

    `pose_images` are grey (H, W) uint8, one per entry of `condition_index`; the first frame's parts are cut
    by the subject in `id_bgr`; every frame is resized to the first frame's token grid.
    """
    if not pose_images:
        return ReleaseParts(alpha=1, grid=(0, 0), binary_masks=())
    alpha = needed_dilation(id_bgr, pose_images[0])
    grid = (0, 0)
    frames = []
    for i, image in enumerate(pose_images):
        masks, own_grid = segment_skeleton(image, id_bgr if i == 0 else None, alpha)
        grid = own_grid if i == 0 else grid
        frames.append(token_masks(masks, grid))
    return ReleaseParts(alpha=alpha, grid=grid, binary_masks=tuple(frames))
