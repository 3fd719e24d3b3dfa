"""What a moved limb uncovers on the body: plates of the body's own colours, carried by the body's bones.

Where an arm lies over a torso (a photo's arm at its side, a drawn child's arm starting on its shirt, a
leg under a belly), the background fill (fill.py) has nothing to give when the arm lifts: the wall
behind the subject is not what was under the arm, the torso was. Here each thick part (a torso, a
head, a belly) gets a plate over the pixels of thinner parts inside its outline (its convex hull):
those pixels filled from the thick part's own pixels only (an inpaint that reads no other part and
no background, with the part's own grain copied in, texture.py). Per frame, each plate is drawn over
the background as its bone has moved (a similarity from rest), then the subject over it: a still
torso stays whole where the arm was, and a torso that moves takes its plate along.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from poseanything_studio.core.kinematics import Hierarchy, hierarchy
from poseanything_studio.core.raster import clip_far
from poseanything_studio.core.rig import Rig

from .geometry import nearest_labels, segment_distance
from .parts import drawn_lines
from .raster import composite
from .texture import texture_detail

GRAIN = True
THICKER = 1.5  # a part plates over parts at least this much thinner (radius over radius)
ALONGSIDE_COS = float(np.cos(np.radians(40.0)))  # or over a limb as thick beside it, their bones within 40 degrees
SPREAD_REACH = 1.2  # a drawn body's plate reaches over its own colour this many radii from its bone
SHAPE_SHARE = 0.25  # and over shapes of that colour at least this much of which is the body's own part
_RIM = 6.0  # px: a drawn line this near the subject's edge is its outline
_MIN_PIXELS = 64  # smaller plates are not worth a warp per frame
_SOLVE_SIDE = 64
COMMON_SHARE = 0.9  # a plate is filled from the body's commonest colours, at most this share of its pixels
COMMON_SPREAD = 2.5  # and none farther from their median colour than this many times the median distance
_SHADE_WEIGHT = 0.25  # lightness counts this much against hue in that distance (CIELAB)


@dataclass(frozen=True)
class Plate:
    """The body under thinner parts, for one bone: RGBA over a box of the rest picture."""

    bone: int
    x0: int
    y0: int
    rgba: np.ndarray  # (h, w, 4) uint8, alpha where the plate shows


@dataclass(frozen=True)
class UncoveredPlates:
    """Every bone's plate and the rest pose they were cut at."""

    plates: tuple[Plate, ...]
    ends: np.ndarray  # (B, 2) joint indices of each bone
    rest_xy: np.ndarray  # (J, 2)

    @staticmethod
    def none() -> UncoveredPlates:
        return UncoveredPlates((), np.zeros((0, 2), np.int64), np.zeros((0, 2)))

    @staticmethod
    def build(
        rgb: np.ndarray, mask: np.ndarray, part: np.ndarray, rig: Rig, rest_xy: np.ndarray, radii: np.ndarray
    ) -> UncoveredPlates:
        """Plates for the subject `mask` of `rgb` split into parts (`part`, (H, W) bone per pixel), bones `radii`."""
        ends = rig.bone_joint_indices()
        if len(ends) < 2 or not mask.any() or len(radii) != len(ends):
            return UncoveredPlates((), ends, clip_far(rest_xy))
        h, w = mask.shape
        part = np.where(mask, part, -1)
        colour = np.zeros((h, w, 3), np.uint8)
        owner = np.full((h, w), -1, np.int64)
        claimed = np.zeros((h, w), bool)
        drawing = _Drawing.of(rgb, mask)
        lines = cv2.dilate(drawing.strokes.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        # Thin parts with the same thicker parts share one body, one hull and one fill (what lies under all of them).
        tree = hierarchy(rig)
        xy = clip_far(rest_xy)
        below = _bones_below(rig, tree)
        groups: dict[tuple[int, ...], list[int]] = {}
        for thin in np.argsort(radii, kind="stable"):
            thicker = np.flatnonzero(radii >= THICKER * radii[thin])
            thick = tuple(int(k) for k in thicker if int(k) not in below[int(thin)])
            if thick and (part == thin).sum() >= _MIN_PIXELS:
                groups.setdefault(thick, []).append(int(thin))
        beside = _bodies_alongside(rig, tree, rest_xy, part, radii, [t for thins in groups.values() for t in thins])
        pieces: dict[int, list[np.ndarray]] = {}
        drawn_extents: dict[tuple[int, int], tuple[bool, np.ndarray | None]] = {}  # per body piece, for every group
        for thick, thins in groups.items():
            own = np.isin(part, thins)
            # each thick part's own outline, not their union's: a T-posed torso and arms together
            # span a hull down over the legs
            for k, j, piece in (
                (t, j, p) for t in thick for j, p in enumerate(pieces.setdefault(t, _pieces(part == t)))
            ):
                lying = [t for t in thins if not _continues(rest_xy, ends[k], ends[t])]
                others = own & np.isin(part, lying) & ~claimed
                if others.sum() < _MIN_PIXELS:
                    continue
                if (k, j) not in drawn_extents:
                    outlined = drawing.outlined(piece)
                    extent = drawing.extent(piece, xy[ends[k]], float(radii[k])) if outlined else None
                    drawn_extents[k, j] = outlined, extent
                drawn, extent = drawn_extents[k, j]
                under, hull = body_behind(piece, others, extent)
                if under.sum() < _MIN_PIXELS:
                    continue
                reach = max(16, round(3 * float(radii[thins].max())))
                filled = fill_from(rgb, under, piece & ~lines if drawn else piece, reach)
                if drawn:
                    drawing.continue_outline(filled, under, hull, piece)
                colour[under] = filled[under]
                owner[under] = nearest_labels(part, piece)[0][under]
                claimed |= under
        # A limb as thick as the body it hangs beside: the body's side lies under the limb's inner half, out to
        # its bone (the hull of the body's largest piece and the limb's bone), the wall beyond it.
        for body, limb in beside:
            for piece in _pieces(part == body)[:1]:
                under, _hull = body_behind(piece, (part == limb) & ~claimed, clip_far(rest_xy)[ends[limb]])
                if under.sum() < _MIN_PIXELS:
                    continue
                filled = fill_from(rgb, under, piece, max(16, round(3 * float(radii[limb]))))
                colour[under] = filled[under]
                owner[under] = body
                claimed |= under
        plates = []
        for bone in np.unique(owner[owner >= 0]):
            plates.append(_plate(int(bone), colour, owner == bone, part == bone))
        return UncoveredPlates(tuple(plates), ends, clip_far(rest_xy))

    def draw(
        self, out: np.ndarray, joint_xy: np.ndarray, camera: np.ndarray, alpha: np.ndarray | None = None
    ) -> np.ndarray:
        """`out` (the background as the camera sees it) with each plate drawn where its bone is in `joint_xy`
        (J, 2), through `camera` (2x3, rest picture -> `out`'s pixels); with `alpha` (H, W) uint8, where the
        plates show is maxed into it too (the body, for exports with alpha)."""
        for (x0, y0, x1, y1), warped in self._placed(joint_xy, camera, out.shape[1::-1]):
            out[y0:y1, x0:x1] = composite(out[y0:y1, x0:x1], warped)
            if alpha is not None:
                np.maximum(alpha[y0:y1, x0:x1], warped[..., 3], out=alpha[y0:y1, x0:x1])
        return out

    def _placed(self, joint_xy: np.ndarray, camera: np.ndarray, size: tuple[int, int]):
        """(box, RGBA) per plate, warped to where its bone is, clipped to a frame of `size`."""
        w, h = size
        for plate in self.plates:
            a, b = self.ends[plate.bone]
            move = _similarity(self.rest_xy[a], self.rest_xy[b], joint_xy[a], joint_xy[b])
            matrix = np.hstack([camera[:, :2] @ move[:, :2], (camera[:, :2] @ move[:, 2] + camera[:, 2])[:, None]])
            ph, pw = plate.rgba.shape[:2]
            corners = np.array([[0, 0], [pw, 0], [0, ph], [pw, ph]], np.float64) + (plate.x0, plate.y0)
            placed = corners @ matrix[:, :2].T + matrix[:, 2]
            if not np.isfinite(placed).all() or np.abs(placed).max() > 1e6:
                continue
            x0, y0 = np.floor(placed.min(0)).astype(int) - 1
            x1, y1 = np.ceil(placed.max(0)).astype(int) + 1
            x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), w), min(int(y1), h)
            if x1 <= x0 or y1 <= y0:
                continue
            local = matrix.copy()  # plate pixels -> the destination box's pixels
            local[:, 2] += matrix[:, :2] @ np.array([plate.x0, plate.y0], np.float64) - (x0, y0)
            warped = cv2.warpAffine(
                plate.rgba, local, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
            )
            yield (x0, y0, x1, y1), warped


def _bones_below(rig: Rig, h: Hierarchy) -> list[set[int]]:
    """Per bone, the bones further out along the hierarchy from it (a shin's foot): a limb never lies over
    its own hand or foot, however thick the drawing makes them, so they plate nothing under it."""
    ends = rig.bone_joint_indices()
    child = [int(b) if h.parent[int(b)] == int(a) else int(a) for a, b in ends]  # each bone's outer joint
    outer_bone = {j: k for k, j in enumerate(child)}
    below: list[set[int]] = [set() for _ in child]
    for joint in reversed(h.order):  # children before parents
        k = outer_bone.get(joint)
        parent = h.parent[joint]
        up = outer_bone.get(parent) if parent >= 0 else None
        if k is not None and up is not None:
            below[up] |= below[k] | {k}
    return below


def _bodies_alongside(
    rig: Rig, h: Hierarchy, rest_xy: np.ndarray, part: np.ndarray, radii: np.ndarray, grouped: list[int]
) -> list[tuple[int, int]]:
    """(body bone, limb bone) for each limb about as thick as the body it hangs beside (not THICKER times thinner:
    a photo's arm against her side, whose depth in the silhouette is the body's): the body a bone nearer the
    rig's root, at least as thick, within 40 degrees of the limb's bone, the limb's middle beside its span and
    half its radius or more to its side (not the next bone of a chain); of those, the part sharing the longest
    boundary with the limb's."""
    ends = rig.bone_joint_indices()
    xy = clip_far(rest_xy)
    depth = np.zeros(len(h.parent), np.int64)
    for joint in h.order:
        depth[joint] = depth[h.parent[joint]] + 1 if h.parent[joint] >= 0 else 0
    bone_depth = depth[[b if h.parent[b] == a else a for a, b in ends]]  # of each bone's outer joint
    direction = xy[ends[:, 1]] - xy[ends[:, 0]]
    length = np.maximum(np.hypot(*direction.T), 1e-9)
    middle = (xy[ends[:, 0]] + xy[ends[:, 1]]) / 2
    pixels = np.bincount(part[part >= 0], minlength=len(ends))
    found = []
    for limb in np.flatnonzero(pixels[: len(ends)] >= _MIN_PIXELS):
        if limb in grouped:
            continue
        offset = middle[limb] - xy[ends[:, 0]]  # (B, 2) from each bone's first joint
        along = (offset * direction).sum(1) / length**2
        aside = np.abs(direction[:, 0] * offset[:, 1] - direction[:, 1] * offset[:, 0]) / length
        cos = np.abs(direction @ direction[limb]) / (length * length[limb])
        bodies = np.flatnonzero(
            (bone_depth < bone_depth[limb])
            & (radii >= radii[limb])
            & (cos >= ALONGSIDE_COS)
            & (along >= 0.0)
            & (along <= 1.0)
            & (aside >= 0.5 * radii)
        )
        if not len(bodies):
            continue
        own = part == limb
        rim = (cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~own
        touching = [int((rim & (part == body)).sum()) for body in bodies]
        if max(touching) > 0:
            found.append((int(bodies[int(np.argmax(touching))]), int(limb)))
    return found


def _continues(rest_xy: np.ndarray, thick: np.ndarray, thin: np.ndarray, cos_limit: float = 0.7) -> bool:
    """Whether the thin bone reaches past an end of the thick one, pointing on the way it points (a leg hanging
    below a torso's end: drawn below the body, not behind it), rather than lying along or across it (an arm
    at a torso's side, a leg under a belly)."""
    xy = clip_far(rest_xy)
    a, b = xy[thick]
    d = b - a
    length2 = float(d @ d)
    p, q = xy[thin]
    if length2 < 1e-9 or not np.any(q - p):
        return False
    t = float((q - a) @ d) / length2  # where the thin bone ends, along the thick one
    if 0.0 <= t <= 1.0:
        return False
    outward = d if t > 1.0 else -d
    direction = q - p
    return float(outward @ direction) > cos_limit * np.sqrt(length2) * float(np.hypot(*direction))


def _pieces(body: np.ndarray) -> list[np.ndarray]:
    """The connected pieces of `body` of a noticeable size, largest first."""
    _count, labels, stats, _ = cv2.connectedComponentsWithStats(body.astype(np.uint8), connectivity=8)
    order = 1 + np.argsort(-stats[1:, cv2.CC_STAT_AREA])
    return [labels == k for k in order if stats[k, cv2.CC_STAT_AREA] >= _MIN_PIXELS]


def body_behind(body: np.ndarray, others: np.ndarray, reach: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool: the pixels of `others` inside the outline (convex hull) of `body`, with the points `reach`
    (K, 2) when given, one connected piece, and (H, W) bool that hull. Slivers of `body` thinner than 7 px (a
    drawn outline the part map gave it) do not widen the hull."""
    bulk = cv2.morphologyEx(body.astype(np.uint8), cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
    points = cv2.findNonZero(bulk if bulk.any() else body.astype(np.uint8))
    if points is None:
        return np.zeros_like(body), np.zeros_like(body)
    if reach is not None and len(reach):
        points = np.concatenate([points.reshape(-1, 2), np.round(reach).astype(np.int32).reshape(-1, 2)])
    hull = np.zeros(body.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
    return (hull > 0) & others & ~body, hull > 0


@dataclass(frozen=True)
class _Drawing:
    """What the plates read of a picture as a drawing, worked out once per mesh: its strokes, its colours and
    the subject's edge."""

    rgb: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) bool subject
    strokes: np.ndarray  # (H, W) bool thin dark lines (parts.drawn_lines)
    depth: np.ndarray  # (H, W) float32 distance to the subject's edge (the frame's edge is none)

    @staticmethod
    def of(rgb: np.ndarray, mask: np.ndarray) -> _Drawing:
        depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        return _Drawing(rgb, mask, drawn_lines(rgb, mask), depth)

    @cached_property
    def lab(self) -> np.ndarray:
        """(H, W, 3) float32 CIELAB, lightness weighed down (_SHADE_WEIGHT); worked out for a drawing's body only."""
        lab = cv2.cvtColor(np.ascontiguousarray(self.rgb), cv2.COLOR_RGB2LAB).astype(np.float32)
        lab[..., 0] *= _SHADE_WEIGHT
        return lab

    def outlined(self, body: np.ndarray) -> bool:
        """Whether `body`'s edge on the subject's outline is a drawn line (a drawing's), not a photo's edge."""
        rim = body & (self.depth <= 3.0)
        return bool(rim.sum() >= _MIN_PIXELS and self.strokes[rim].mean() >= 0.5)

    def extent(self, piece: np.ndarray, bone_xy: np.ndarray, radius: float) -> np.ndarray:
        """(K, 2) x, y: how far a drawn body reaches past its part, for its plate's hull: the pixels in the body
        `piece`'s own flat colour joined to it (not across a drawn line), with the subject's outline along them,
        within SPREAD_REACH radii of its bone `bone_xy` (2, 2).

        The part map gives the corners of a drawn shirt to the thin bones starting there (the fitted drawn child's
        collars and arm): the shirt's own part ends short of them, and a raised arm bit its edge off (paper, the
        outline broken)."""
        h, w = self.mask.shape
        reach = SPREAD_REACH * radius
        x0, y0 = np.maximum(np.floor(bone_xy.min(0) - reach), 0).astype(int)
        x1, y1 = np.minimum(np.ceil(bone_xy.max(0) + reach) + 1, (w, h)).astype(int)
        box = np.s_[y0:y1, x0:x1]  # nothing past the reach counts
        strokes, mask, lab = self.strokes[box], self.mask[box], self.lab[box]
        unlined = mask & ~strokes
        core = piece[box] & unlined
        if core.sum() < _MIN_PIXELS:
            return np.zeros((0, 2), np.int64)
        known = _common_colours(self.rgb[box], core)
        far = np.linalg.norm(lab - np.median(lab[known], axis=0), axis=-1)
        similar = unlined & (far <= float(far[known].max()))
        count, labels = cv2.connectedComponents(similar.astype(np.uint8), connectivity=4)
        # the shapes the body is much of (not a leg drawn over it in the same colour, whose top the body's part took)
        share = np.bincount(labels[core & similar], minlength=count) / np.maximum(
            np.bincount(labels.ravel(), minlength=count), 1
        )
        body = (share >= SHAPE_SHARE)[labels] & (labels > 0)
        # and its outline where that is the subject's (a leg's outline drawn over the body is the leg's)
        beside = cv2.dilate(body.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        body |= beside & strokes & mask & (self.depth[box] <= _RIM)
        ys, xs = np.nonzero(body)
        xs, ys = xs + x0, ys + y0
        near = segment_distance(xs, ys, bone_xy[0], bone_xy[1]) <= reach
        return np.stack([xs[near], ys[near]], 1)

    def continue_outline(self, filled: np.ndarray, under: np.ndarray, hull: np.ndarray, body: np.ndarray) -> None:
        """Draw a drawn body's outline on across its plate, in place: along the hull's edge, 3 px wide, in the
        outline's colour, so a belly's outline runs unbroken where a leg lifted off it."""
        rim = body & (self.depth <= 3.0)
        band = under & (cv2.distanceTransform(hull.astype(np.uint8), cv2.DIST_L2, 3) <= 3.0)
        filled[band] = np.median(self.rgb[rim & self.strokes], axis=0).astype(np.uint8)


def fill_from(rgb: np.ndarray, hole: np.ndarray, source: np.ndarray, reach: int = 32) -> np.ndarray:
    """(H, W, 3) uint8: `rgb` with `hole` filled from the pixels of `source` alone (no other pixel is read),
    those within `reach` of the hole's box.

    scikit-image's biharmonic inpaint over everything that is not `source` (so nothing else leaks in), then
    the fine detail of `source` copied onto it in tiles (texture.py), so a suit's fabric is not a flat blob."""
    ys, xs = np.nonzero(hole)
    if not len(ys) or not source.any():
        return rgb.copy()
    h, w = hole.shape
    y0, y1 = max(0, ys.min() - reach), min(h, ys.max() + reach + 1)
    x0, x1 = max(0, xs.min() - reach), min(w, xs.max() + reach + 1)
    crop, known, target = rgb[y0:y1, x0:x1], source[y0:y1, x0:x1] & ~hole[y0:y1, x0:x1], hole[y0:y1, x0:x1]
    out = rgb.copy()
    if not known.any():
        return out
    known = _common_colours(crop, known)
    # Solved at most _SOLVE_SIDE pixels a side: the body's colours under a limb are smooth (on masked-out photos
    # a coarse solve scores better than a fine one), and the solve's time grows with every pixel it fills.
    ch, cw = target.shape
    scale = min(1.0, _SOLVE_SIDE / max(ch, cw))
    small = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    # Scaled down from the known pixels alone (their mean in each cell), so no outline or other part is mixed in.
    share = cv2.resize(known.astype(np.float32), small, interpolation=cv2.INTER_AREA)
    summed = cv2.resize(crop.astype(np.float32) * known[..., None], small, interpolation=cv2.INTER_AREA)
    mean = np.clip(summed / np.maximum(share, 1e-6)[..., None] + 0.5, 0, 255).astype(np.uint8)
    smooth = _biharmonic(mean, share < 0.5)
    low = cv2.GaussianBlur(crop, (0, 0), 2.0).astype(np.float32)
    filled_low = cv2.resize(smooth, (cw, ch), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    grain = texture_detail(crop.astype(np.float32) - low, low, filled_low, target, ~known) if GRAIN else 0.0
    region = out[y0:y1, x0:x1]
    region[target] = np.clip(filled_low + grain + 0.5, 0, 255).astype(np.uint8)[target]
    return out


def _common_colours(rgb: np.ndarray, known: np.ndarray) -> np.ndarray:
    """`known` with only its pixels near their median colour (COMMON_SHARE of them at most, none past COMMON_SPREAD
    median distances, in CIELAB with lightness weighed down): what a limb lay on is the body's fabric, in light
    and shade, not the badge or strap beside it. By RGB distance and share alone, the astronaut's crop round her
    lifted arm (straps, her name badge, the helmet's rim) kept a badge's purple, which the fill then spread."""
    if known.sum() < 16:
        return known
    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB)[known].astype(np.float32)
    lab[:, 0] *= _SHADE_WEIGHT
    far = np.linalg.norm(lab - np.median(lab, axis=0), axis=1)
    out = known.copy()
    out[known] = far <= min(np.percentile(far, 100 * COMMON_SHARE), COMMON_SPREAD * np.median(far) + 2.0)
    return out


def _biharmonic(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpaint of `hole` in `rgb` (uint8 in and out)."""
    from skimage.restoration import inpaint_biharmonic

    if not hole.any() or hole.all():
        return rgb.copy()
    filled = inpaint_biharmonic(rgb.astype(np.float64) / 255.0, hole, channel_axis=-1)
    return np.clip(filled * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _plate(bone: int, colour: np.ndarray, under: np.ndarray, own: np.ndarray) -> Plate:
    """The plate of `bone`: `colour` over `under`, grown 2 px into the part's `own` pixels (under their soft
    edge) and never past them, with a pixel of soft edge."""
    shown = (cv2.dilate(under.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & (under | own)
    alpha = cv2.GaussianBlur(shown.astype(np.uint8) * 255, (3, 3), 0)
    ys, xs = np.nonzero(alpha)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rgba = np.dstack([_spread(colour, under)[y0:y1, x0:x1], alpha[y0:y1, x0:x1]])
    return Plate(bone, int(x0), int(y0), np.ascontiguousarray(rgba))


def _spread(colour: np.ndarray, where: np.ndarray) -> np.ndarray:
    """`colour` with every pixel outside `where` given the colour of the nearest pixel inside it."""
    _, nearest = cv2.distanceTransformWithLabels(
        (~where).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, labelType=cv2.DIST_LABEL_PIXEL
    )
    ys, xs = np.nonzero(where)
    table = np.zeros((int(nearest.max()) + 1, 3), np.uint8)
    table[nearest[ys, xs]] = colour[ys, xs]
    return table[nearest]


def _similarity(a: np.ndarray, b: np.ndarray, a2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    """2x3: the rotation, scale and shift taking the bone a-b at rest to a2-b2 (a shift alone for a bone of
    no length)."""
    d, d2 = complex(*(b - a)), complex(*(b2 - a2))
    z = d2 / d if abs(d) > 1e-6 and np.isfinite(d2) else 1.0 + 0j
    if not np.isfinite(z):
        z = 1.0 + 0j
    shift = complex(*a2) - z * complex(*a)
    return np.array([[z.real, -z.imag, shift.real], [z.imag, z.real, shift.imag]])
