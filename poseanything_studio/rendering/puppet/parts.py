"""Which bone's part each pixel of the subject is: seeded near each bone in units of its thickness, flooded over
the picture's edges."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.segmentation import watershed

from poseanything_studio.core.raster import clip_far
from poseanything_studio.core.rig import Rig

from .geometry import nearest_labels, pixel_index, segment_distance


def part_map(mask: np.ndarray, rig: Rig, rest_xy: np.ndarray, rgb: np.ndarray | None = None) -> np.ndarray:
    """(H, W) int32: the bone whose part each pixel is (0 everywhere for a rig without bones).

    Inside the subject: seeded, near each bone, by the pixels nearest that bone in units of its own
    thickness (distance over the bone's radius in the mask) that connect to it, and flooded through
    the subject from there (scikit-image's watershed) over the picture's edges, so parts meet
    where the picture draws a line between them (a drawn outline, a sleeve's edge); elsewhere
    (the gaps the mesh bridges), the nearest in a straight line. Measuring in thickness gives a wide torso's sides to
    the torso rather than to a thin arm starting at its corner (a drawn child's shirt, a photo's
    chest), and flooding through the subject keeps an arm hanging beside a body off the body.
    """
    h, w = mask.shape
    lines = _bone_lines(rig, rest_xy, (h, w))
    if not lines.any():
        return np.zeros((h, w), np.int32)
    nearest, _ = nearest_labels(lines - 1, lines > 0)
    inside = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    seeds, relief = lines, np.zeros((h, w), np.uint8)
    if len(rig.bones) <= _SCALED_PARTS_MAX_BONES:
        radii = bone_radii(inside, rig, rest_xy)
        label, score = _thickness_nearest(inside, rig, rest_xy, radii)
        seeds = _anchored(np.where(score <= _SEED_REACH, label, 0), lines, inside)
        if rgb is not None:
            relief = _edges(rgb)
    flood = watershed(relief, np.where(inside, seeds, 0), mask=inside)
    if len(rig.bones) <= _SCALED_PARTS_MAX_BONES:
        if rgb is not None:
            # A flood along a drawn outline can carry one part round another's edge: give such pixels back to
            # the bone that is clearly nearer (in radii) than the one the flood gave them to; on a drawn
            # outline (dark pixels on the subject's rim, 4 px) sooner, as it runs from part to part unbroken.
            own = _score_of(flood - 1, rig, rest_xy, radii)
            rim = inside & ~(cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
            dark = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) < DARK
            rim &= dark
            wrong = np.where(rim, (own > score + 0.3) & (own > 1.0), (own > score + 0.75) & (own > 1.5))
            wrong &= label > 0
            flood[wrong] = label[wrong]
        flood = _without_strips(flood, seeds, inside, radii)
        if rgb is not None:
            ends, xy = rig.bone_joint_indices(), clip_far(rest_xy)
            flood = _drawn_shapes_whole(flood, drawn_lines(rgb, mask) & inside, dark & inside, inside, ends, xy)
            # the soft edge round a torso is the torso's, even where an arm's bone is nearer in a straight line
            nearest = nearest_labels(flood, inside)[0] - 1
    return np.where(flood > 0, flood - 1, nearest).astype(np.int32)


def _without_strips(flood: np.ndarray, seeds: np.ndarray, inside: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """`flood` (bone + 1 per pixel) with each part's strips narrower than twice STRIP_SHARE of its bone's radius
    given to the part beside them: the flood along an outline carries a thick part round a thin one's edge (the
    astronaut's collar round her arm's outer side, which the lifted arm dragged 2.9x long; 2.4x without it), and
    a strip that thin is no flesh of that bone. A part keeps its seeds (the pixels near its bone)."""
    from scipy.ndimage import find_objects

    labels = np.where(inside, flood, 0)
    keep = labels > 0
    for k, box in enumerate(find_objects(labels), start=1):  # each part's box: an opening there, not everywhere
        if box is None:
            continue
        own = labels[box] == k
        r = float(STRIP_SHARE * radii[k - 1])  # FLT_MAX on a mask with no outline in reach: no disk fits, seeds stay
        seeded = seeds[box] == k
        if r < 1 or not (own & ~seeded).any():
            continue
        opened = _opened(own, r)
        keep[box] &= ~own | opened | seeded
    strips = inside & ~keep & (flood > 0)
    if not strips.any() or not keep.any():
        return flood
    out = flood.copy()
    out[strips] = nearest_labels(flood, keep)[0][strips]
    return out


def _opened(region: np.ndarray, r: float) -> np.ndarray:
    """`region` opened by a disk of radius `r` (what a disk that fits inside it sweeps), outside it counted as not
    region: two distance transforms, whatever `r` (cv2's opening with a 1000 px disk took 45 s)."""
    padded = np.pad(region, 1).astype(np.uint8)
    core = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > r
    swept = cv2.distanceTransform((~core).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) <= r
    return (swept & core.any())[1:-1, 1:-1] & region


def _drawn_shapes_whole(
    flood: np.ndarray, lines: np.ndarray, dark: np.ndarray, inside: np.ndarray, ends: np.ndarray, xy: np.ndarray
) -> np.ndarray:
    """`flood` (bone + 1 per pixel) with a drawing's shapes (the areas its `lines` and other `dark` pixels close
    off: where two lines cross they are a dark area) kept to the parts they are. A part's pixels in a shape that
    is mostly other parts', where the part has most of its pixels elsewhere, go to those other parts (but for
    those behind a joint the two bones share, `ends` (B, 2) at `xy` (J, 2)), and the lines along them go too.
    The fitted drawn child's shoulder sits on its shirt's corner, where the arm is drawn over it; the collar
    bone's part (thicker) took the arm's top edge there, which stayed behind as a torn fleck beside the shoulder
    when the arm was raised. A photo (its outline no drawn line) is left as it is."""
    depth = cv2.distanceTransform(np.pad(inside, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    rim = inside & (depth <= 2.0)
    if rim.sum() < 64 or (cv2.dilate(lines.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)[rim].mean() < 0.5:
        return flood  # the subject's edge is no drawn line
    stroke = cv2.distanceTransform(lines.astype(np.uint8), cv2.DIST_L2, 3)[lines]
    width = max(2.0, 2.0 * float(np.percentile(stroke, 90)))  # a drawn line's width
    lines = inside & (lines | dark | (depth <= 2.0))  # and the soft fringe outside the outline
    free = inside & ~lines
    moved = _in_others_shapes(flood, free)
    if not moved.any():
        return flood
    out = flood.copy()
    out[moved] = watershed(np.zeros(flood.shape, np.uint8), np.where(free & ~moved, flood, 0), mask=free)[moved]
    behind = moved & _behind_shared_joint(flood, out, moved, ends, xy)
    out[behind], moved = flood[behind], moved & ~behind
    # A part's lines within a stroke's width of its moved pixels go with them (the outline of the shape drawn on
    # top), and those left with no pixel of their part near go with the nearest shape.
    to_moved, by_moved = nearest_labels(out, moved)
    to_free, _ = nearest_labels(out, free)
    losers = lines & np.isin(flood, np.unique(flood[moved]))
    for k in np.unique(flood[moved]):
        _, kept_gap = nearest_labels(out, free & (out == k))
        alone = losers & (flood == k) & (kept_gap > width) & (by_moved > width)
        out[alone] = to_free[alone]
    near = losers & (by_moved <= width)
    out[near] = to_moved[near]
    return out


def _behind_shared_joint(
    before: np.ndarray, after: np.ndarray, moved: np.ndarray, ends: np.ndarray, xy: np.ndarray
) -> np.ndarray:
    """(H, W) bool: the `moved` pixels whose bone before and after (bone + 1) share a joint and that lie behind
    it, against the way the bone after leaves it: the root of a drawn arm behind its shoulder joint stays with the
    collar as a shoulder cap (the raised arm swung it round onto the shirt)."""
    out = np.zeros(moved.shape, bool)
    ys, xs = np.nonzero(moved)
    old, new = before[ys, xs] - 1, after[ys, xs] - 1
    for k, m in set(zip(old.tolist(), new.tolist(), strict=True)):
        if k < 0 or m < 0 or k >= len(ends) or m >= len(ends):
            continue
        shared = set(ends[k].tolist()) & set(ends[m].tolist())
        if not shared:
            continue
        joint = shared.pop()
        other = ends[m][1] if ends[m][0] == joint else ends[m][0]
        pick = (old == k) & (new == m)
        offset = np.stack([xs[pick], ys[pick]], 1) - xy[joint]
        out[ys[pick], xs[pick]] = offset @ (xy[other] - xy[joint]) < 0
    return out


def _in_others_shapes(flood: np.ndarray, free: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels of `free` (a drawing's shapes, not its lines) whose part (`flood`) is less than
    FOREIGN_OF_SHAPE of their shape and has less than FOREIGN_OF_PART of its pixels there; never a shape's
    largest part."""
    count, shapes = cv2.connectedComponents(free.astype(np.uint8), connectivity=4)
    parts = int(flood.max()) + 1
    n = np.bincount(shapes[free] * parts + flood[free], minlength=count * parts).reshape(count, parts).astype(float)
    n[0] = 0.0  # the lines
    foreign = (n > 0) & (n / np.maximum(n.sum(0), 1.0) < FOREIGN_OF_PART)
    foreign &= n / np.maximum(n.sum(1, keepdims=True), 1.0) < FOREIGN_OF_SHAPE
    foreign[np.arange(count), n.argmax(1)] = False
    foreign[:, 0] = False  # no part
    return free & foreign[shapes, flood]


FOREIGN_OF_PART = 0.5  # a part's pixels in a drawn shape move when they are less than this share of the part
FOREIGN_OF_SHAPE = 0.25  # and less than this share of the shape
STRIP_SHARE = 0.12  # a part's strip narrower than twice this share of its bone's radius is its neighbour's
_SEED_REACH = 0.6  # seeds reach 0.6 of a bone's radius from it; the flood over the picture's edges does the rest
DARK = 90  # grey level below which a thin stroke is a drawn line
_SCALED_PARTS_MAX_BONES = 200  # beyond this, parts are the nearest bone through the subject (one flood, any size)


def drawn_lines(rgb: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool: thin dark strokes (a drawing's outlines), not dark areas (a black collar). Thin against the
    strokes along the subject `mask`'s edge, when given: a drawing rendered larger has wider lines (the drawn
    child at 832 px, lines 8 px wide, had none thinner than the 7 px that counted at 512)."""
    dark = (cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) < DARK).astype(np.uint8)
    side = 7 if mask is None else max(7, 2 * round(_outline_half_width(dark, mask)) + 1)
    return (dark > 0) & ~(cv2.morphologyEx(dark, cv2.MORPH_OPEN, np.ones((side, side), np.uint8)) > 0)


def _outline_half_width(dark: np.ndarray, mask: np.ndarray) -> float:
    """The median half-width of the dark strokes along `mask`'s edge (px; 0 where there are none): the ridge of
    their distance transform within 8 px of the edge."""
    inside = cv2.distanceTransform(dark, cv2.DIST_L2, 5)
    ridge = (inside > 0) & (inside >= cv2.dilate(inside, np.ones((3, 3), np.uint8)))
    depth = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]
    rim = (cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & (depth <= 8.0)
    values = inside[ridge & rim]
    values = values[values < max(dark.shape)]  # an all-dark picture has no stroke to measure (FLT_MAX)
    return float(np.median(values)) if len(values) else 0.0


def _bone_lines(rig: Rig, rest_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int32: bone index + 1 along each bone's line, 0 elsewhere."""
    lines = np.zeros(shape, np.int32)
    xy = np.round(clip_far(rest_xy)).astype(np.int64)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        cv2.line(lines, (int(xy[a, 0]), int(xy[a, 1])), (int(xy[b, 0]), int(xy[b, 1])), k + 1, 1)
    return lines


def bone_radii(inside: np.ndarray, rig: Rig, rest_xy: np.ndarray) -> np.ndarray:
    """(B,) each bone's half-thickness in the mask: the median distance to the outline along the bone, never
    more than the bone it hangs from (its parent, `_parent_bones`), so a forearm is no thicker than its upper
    arm and a limb no thicker than where it starts.

    Tried and dropped (tests/rendering/test_puppet_photo_wave.py): measuring in the mask with its gaps closed
    stretched triangles 2.7x between the astronaut's waving arm and her body (1.6x without), and measuring
    along the bone's far half only gave her forearm a 6 px part that tore off as a sliver."""
    h, w = inside.shape
    depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 3)
    xy = clip_far(rest_xy)
    ends = rig.bone_joint_indices()
    radii = np.full(len(ends), 1.5)
    if not len(ends):
        return radii
    t = np.linspace(0.0, 1.0, 17)
    for k, (a, b) in enumerate(ends):
        samples = xy[a] * (1 - t[:, None]) + xy[b] * t[:, None]
        ok = (samples >= 0).all(1) & (samples[:, 0] < w) & (samples[:, 1] < h)
        values = depth[pixel_index(samples[ok], inside.shape)] if ok.any() else np.zeros(0)
        values = values[values > 0]
        if len(values):
            radii[k] = max(1.5, float(np.median(values)))
    parent = _parent_bones(ends)
    for k in _parents_first(parent):
        if parent[k] >= 0:
            radii[k] = min(radii[k], radii[parent[k]])
    return radii


def _parent_bones(ends: np.ndarray) -> np.ndarray:
    """(B,) the bone each bone hangs from (the first one ending where it starts), -1 for a root bone."""
    by_end: dict[int, int] = {}
    for k, (_a, b) in enumerate(ends):
        by_end.setdefault(int(b), k)
    parent = np.array([by_end.get(int(a), -1) for a, _b in ends], np.int64)
    parent[parent == np.arange(len(ends))] = -1
    return parent


def _parents_first(parent: np.ndarray) -> list[int]:
    """Bone indices with every bone after its parent (in a cycle of parents, the cycle is cut where it closes)."""
    done = np.zeros(len(parent), bool)
    order: list[int] = []
    for k in range(len(parent)):
        chain, j, seen = [], k, set()
        while j >= 0 and not done[j] and j not in seen:
            seen.add(j)
            chain.append(j)
            j = int(parent[j])
        for bone in reversed(chain):
            done[bone] = True
            order.append(bone)
    return order


def _edges(rgb: np.ndarray) -> np.ndarray:
    """(H, W) uint8 edge strength of a picture: the largest colour gradient over its channels, lightly smoothed."""
    smooth = cv2.GaussianBlur(rgb, (3, 3), 0).astype(np.int16)
    gx = np.abs(cv2.Sobel(smooth, cv2.CV_16S, 1, 0)).max(-1)
    gy = np.abs(cv2.Sobel(smooth, cv2.CV_16S, 0, 1)).max(-1)
    return np.clip((gx.astype(np.int32) + gy) // 8, 0, 255).astype(np.uint8)


def _thickness_nearest(
    inside: np.ndarray, rig: Rig, rest_xy: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) int32 bone index + 1 of the bone nearest in units of its radius (`radii`, B) (0 where none is
    near), and (H, W) float32 that distance in radii."""
    h, w = inside.shape
    best = np.full((h, w), np.inf, np.float32)
    label = np.zeros((h, w), np.int32)
    xy = clip_far(rest_xy)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        window = _window(xy[a], xy[b], 3.0 * radii[k] + 2, (w, h))
        if window is None:
            continue
        ys, xs, box = window
        score = (segment_distance(xs, ys, xy[a], xy[b]) / radii[k]).astype(np.float32)
        best_here, label_here = best[box], label[box]  # views: writing them writes best and label
        better = (score < best_here) & inside[box]
        best_here[better] = score[better]
        label_here[better] = k + 1
    return label, best


def _score_of(part: np.ndarray, rig: Rig, rest_xy: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """(H, W) float32: each pixel's distance, in its bone's radii (`radii`), from the bone of `part` (inf far
    from it)."""
    h, w = part.shape
    out = np.full((h, w), np.inf, np.float32)
    xy = clip_far(rest_xy)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        window = _window(xy[a], xy[b], 3.0 * radii[k] + 2, (w, h))
        if window is None:
            continue
        ys, xs, sl = window
        mine = part[sl] == k
        out[sl][mine] = segment_distance(xs, ys, xy[a], xy[b])[mine] / radii[k]
    return out


_Window = tuple[np.ndarray, np.ndarray, tuple[slice, slice]]  # pixel rows, pixel columns, the box as slices


def _window(p: np.ndarray, q: np.ndarray, reach: float, size: tuple[int, int]) -> _Window | None:
    """Pixel grids (ys, xs) and the slice of the box round segment p-q grown by `reach`, or None off the picture."""
    w, h = size
    lo = np.floor(np.minimum(p, q) - reach).astype(np.int64)
    hi = np.ceil(np.maximum(p, q) + reach).astype(np.int64) + 1
    x0, y0, x1, y1 = max(0, lo[0]), max(0, lo[1]), min(w, hi[0]), min(h, hi[1])
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return ys, xs, (slice(y0, y1), slice(x0, x1))


def _anchored(label: np.ndarray, lines: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """`label` kept only on connected regions that touch their own bone's line (others become 0, to flood)."""
    from skimage.measure import label as connected

    regions = connected(label, background=0, connectivity=1)
    own = (lines > 0) & (lines == label)
    keep = np.zeros(int(regions.max()) + 1, bool)
    keep[np.unique(regions[own])] = True
    keep[0] = False
    out = np.where(keep[regions], label, 0)
    # A bone whose line no region of its own touches still seeds the flood from its line.
    return np.where((out == 0) & (lines > 0) & inside & ~np.isin(lines, np.unique(out)), lines, out)
