"""A template fitted to the subject's mask: head on the head, limbs along the limbs, every joint inside.

Placing a template by the mask's bounding box alone put the human template's joints off the body or on the
wrong part of it (scikit-image's astronaut, a waist-up portrait: the waving arm's elbow on her chin, its hand
on her collar), and the Wave preset then moved her face or a wisp of background. Fitting works on the mask's
medial axis (skimage `skeletonize` of the mask smoothed by an opening, so the axis lies inside the mask and
has few spurs):

0. The fit reads the mask's largest region; for a waist-up figure (`is_portrait`) its `silhouette`, with the
   narrow notches and holes a cut-out leaves (GrabCut on a user's strokes: a pocket at the astronaut's collar,
   slits by her straps) closed, and the joints are then kept inside the mask itself.
1. The template is placed over the box of the mask's largest region (as before). When the picture's bottom
   cuts the subject, a person's template (a head and two shoulders) is scaled about its top so that its
   shoulders lie on the subject's shoulder row, the first row from the top as wide as SHOULDER_WIDTH of its
   widest, below a neck (`_shoulders_on_shoulders`), and there they stay: each arm is laid straight from its
   shoulder to its end (a hanging arm's axis is her body's); any other template is also tried larger, as a
   waist-up figure (`cut_placements`), keeping the placement whose stick figure `overlap`s the mask most. It is mirrored
   when the mirror fits better (a side view facing the other way); a front view (its left and right sides
   a mirror of each other) is never mirrored, so `hand_r` stays the picture's right hand.
2. Its branch joints (where three or more bones meet: neck, pelvis, hips, chest) move to the nearest axis
   point (one below the picture, a portrait's pelvis, to the axis point nearest the bottom edge under it);
   its extremities (one bone: head, hands, feet, paws, tail tip) take the axis' end points by least total
   distance (each end point once, none farther than the template's size; a spur ending a round blob where the
   auto-rig of step 5 ends a limb counts, `_tips`: a round head's axis forks into spurs under the hair).
3. Each chain of joints from a branch joint to an extremity (an arm, a leg, the tail) or between two
   branch joints (the spine) is laid along the axis path between its two ends, each joint at the share of
   the path its bones have of the chain's length (bone proportions stay, joints land on the limb), moved to
   a bend of the path near there (an elbow, a knee) when there is one. A limb is laid from where its path
   leaves the body (past the trunk its sibling chains share, where the axis narrows to the limb's own
   width: the arm's root, not the neck), a short first bone (collar bone, hip) putting its joint right there.
4. A chain whose extremity found no end point (legs on a waist-up portrait, an arm the body hides) keeps its
   shape and follows its branch joint.
5. The opened mask's axis misses or mismatches limbs: a wide photo subject's arm held out is a bump on its
   body with no axis end of its own, a drawn bird's raised wings were laid along its back. The auto-rig
   (core/skeleton.py, whose pruning keeps a branch by the mask area it owns) finds them: each limb whose tip
   is off every auto-rig limb end turns about its root (the shoulder, past a short collar bone) towards the end
   matched to it (least total distance; a tip already on an axis end only to an end close by), scaled so that
   the tip lands there, and its inner joints take the auto-rig limb's bends near them (an elbow, a knee). The
   auto-rig's ends are found at up to LIMB_SIDE pixels (at WORK_SIDE two touching legs merge). A limb seen
   under half its template's length is hidden past one of its joints (an arm ending at the helmet its hand
   holds): the joint whose distance from the root is nearest the end's lands there (the elbow), and the joints
   past it are hidden, kept inside the mask by the last step. On scikit-image's astronaut the template's
   left arm now bends at the helmet, where her elbow is, instead of folding a hand onto her upper arm; a
   drawn bird's wing tips move from along its back to the drawn tips (mean tip distance 24.9 to 3.8 px,
   benchmarks/template_fit.py).
Any joint still outside the mask then moves to the nearest point inside it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import cv2
import numpy as np

from .rig import Joint, Rig

Chain = list[str]  # joint ids from one end to the other


WORK_SIDE = 400  # the mask is fitted at most this many pixels on its long side (skeletonize is slow on large masks)
LIMB_SIDE = 800  # the auto-rig's limb ends are found at most this large (at 400 px two touching legs merge)
KEPT_SHARE = 0.95  # the axis' opening is made smaller until its largest piece keeps this share of it
RAGGED = 60  # outline length over sqrt(area) past which a mask is speckle (drawings, photos: 4-17; a snake 45)


def fit_to_mask(rig: Rig, mask: np.ndarray, mirror: bool = True, turn: bool = True) -> Rig:
    """`rig` (already placed roughly over the subject, picture pixels) fitted to `mask` (H, W) bool.

    With `mirror`, a rig that is not its own mirror image is also tried mirrored about its box's middle, and
    the better fit is kept. With `turn`, limbs are turned to the auto-rig's limb ends (step 5 of the module
    docstring; it runs skan, whose numba code compiles on first use in a process). A large mask is fitted at
    WORK_SIDE and the joints scaled back, each then checked inside the full-size mask. Returns `rig` unchanged
    for an empty mask or a rig without bones."""
    mask = np.asarray(mask, bool)
    if not rig.bones or not mask.any():
        return rig
    close = is_portrait(rig, mask)
    limbs = _limbs_at_most(silhouette(mask, close), LIMB_SIDE) if turn else []
    scale = min(1.0, WORK_SIDE / max(mask.shape))
    if scale < 1.0:
        size = (max(1, round(mask.shape[1] * scale)), max(1, round(mask.shape[0] * scale)))
        small = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
        if small.any():
            down = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]])
            up = np.array([[1 / scale, 0.0, 0.0], [0.0, 1 / scale, 0.0]])
            fitted = _fit_at_size(rig.transformed(down), small, mirror, [limb * scale for limb in limbs], close)
            fitted = fitted.transformed(up)
            reach = int(np.ceil(2 / scale)) + 2
            moved = {j.id: _nearest_within(mask, np.array(j.xy), reach) for j in fitted.joints}
            return fitted.with_joints_moved(
                {name: (round(float(x), 1), round(float(y), 1)) for name, (x, y) in moved.items()}
            )
    return _fit_at_size(rig, mask, mirror, limbs, close)


def _limbs_at_most(subject: np.ndarray, side: int) -> list[np.ndarray]:
    """auto_rig_limbs of `subject`, found at most `side` pixels on its long side, in `subject`'s pixels."""
    k = min(1.0, side / max(subject.shape))
    if k < 1.0:
        size = (max(1, round(subject.shape[1] * k)), max(1, round(subject.shape[0] * k)))
        small = cv2.resize(subject.astype(np.float32), size, interpolation=cv2.INTER_AREA) >= 0.5
        return [limb / k for limb in auto_rig_limbs(small)] if small.any() else []
    return auto_rig_limbs(subject)


def _nearest_within(mask: np.ndarray, xy: np.ndarray, reach: int) -> tuple[float, float]:
    """`xy` when it is on the mask, else the nearest mask pixel within `reach` pixels (else `xy`): a joint fitted
    on the shrunk mask, scaled back, may sit a pixel or two off a thin limb's edge."""
    h, w = mask.shape
    xy = np.round(xy, 1)  # checked as stored
    x, y = round(float(xy[0])), round(float(xy[1]))
    if 0 <= x < w and 0 <= y < h and mask[y, x]:
        return float(xy[0]), float(xy[1])
    x0, y0 = max(0, x - reach), max(0, y - reach)
    rows, cols = np.nonzero(mask[y0 : y + reach + 1, x0 : x + reach + 1])
    if not len(rows):
        return float(xy[0]), float(xy[1])
    k = int(np.argmin((cols + x0 - x) ** 2 + (rows + y0 - y) ** 2))
    return float(cols[k] + x0), float(rows[k] + y0)


def _fit_at_size(rig: Rig, mask: np.ndarray, mirror: bool, limbs: list[np.ndarray], close: bool) -> Rig:
    """fit_to_mask at the mask's own size, with the auto-rig's `limbs` there, on the mask's `silhouette`."""
    subject = silhouette(mask, close)
    axis = medial_axis(subject)
    portrait = _shoulders_on_shoulders(rig, subject)
    rig = portrait or max(cut_placements(rig, subject), key=lambda r: overlap(r, subject))
    pinned = frozenset(SHOULDERS) if portrait else frozenset()
    tries = [rig, mirrored(rig)] if mirror and not is_symmetric(rig) else [rig]
    fits = [_fitted(r, subject, axis, limbs, largest_region(mask), pinned) for r in tries]
    best, _cost = min(fits, key=lambda f: f[1])
    return best


CUT_SHOWN = (1.0, 0.8, 0.65, 0.5)  # shares of the rig's height a subject cut by the picture's bottom may show


def cut_placements(rig: Rig, subject: np.ndarray) -> list[Rig]:
    """The rig as placed, and, for a subject the picture's bottom edge cuts (a waist-up portrait), the rig
    scaled about its top middle so that only its top CUT_SHOWN share spans the subject's height. The one that
    `overlap`s the subject most is fitted."""
    if not subject[-1].any():
        return [rig]
    return [_scaled_about_top(rig, 1.0 / shown) for shown in CUT_SHOWN]


def _top_middle(rig: Rig) -> np.ndarray:
    """(2,) the middle of the top edge of the rig's joints' box."""
    xy = rig.rest_xy()
    return np.array([(xy[:, 0].min() + xy[:, 0].max()) / 2, xy[:, 1].min()])


def _scaled_about_top(rig: Rig, k: float) -> Rig:
    """The rig scaled by `k` about its top middle (a portrait's head stays where it is, the body grows down)."""
    top = _top_middle(rig)
    return rig.transformed(np.array([[k, 0.0, top[0] * (1 - k)], [0.0, k, top[1] * (1 - k)]]))


SHOULDERS = ("shoulder_l", "shoulder_r")  # a rig with these and a head is a person's: its shoulders find hers
SHOULDER_WIDTH = 0.85  # a waist-up figure's shoulder row: the first as wide as this share of its widest row


def _shoulders_on_shoulders(rig: Rig, subject: np.ndarray) -> Rig | None:
    """For a person's rig over a subject the picture's bottom cuts (a waist-up portrait), the rig scaled about its
    top middle so that its shoulders lie on the subject's shoulder row (`shoulder_row`); None for any other rig
    or subject, or when the rig already spans no more than the subject does. The stick figure's `overlap` picks a
    placement too small for a portrait: scikit-image's astronaut got her shoulders on her chin (y 163, hers at
    240) and the Wave preset lifted a piece of her collar ring."""
    if not is_portrait(rig, subject):
        return None
    row, top = shoulder_row(subject), _top_middle(rig)[1]
    shoulders = float(np.mean([rig.joint(j).xy[1] for j in SHOULDERS]))
    if row is None or shoulders - top < 1.0:
        return None
    k = (row - top) / (shoulders - top)
    return _scaled_about_top(rig, k) if k > 1.0 else None


BOTTOM_REACH = 0.15  # a branch joint below the frame takes the axis only this share of the height from the edge
NECK_WIDTH = 0.5  # a head on shoulders: some row between the head's widest and the shoulders under this share


def shoulder_row(subject: np.ndarray) -> float | None:
    """The row of a waist-up figure's shoulders: the first, from the top, as wide as SHOULDER_WIDTH of its widest
    row (arms hang from the shoulders, so nothing below is much wider), or None when there is no neck above it
    (no row between it and the widest row of its upper half under NECK_WIDTH of the widest: not a head on
    shoulders) or it lies in the lowest quarter. The astronaut's shoulders lie just past her upper half."""
    width = subject.sum(axis=1)
    rows = np.flatnonzero(width)
    if not len(rows):
        return None
    top, bottom = int(rows[0]), int(rows[-1])
    row = int(np.flatnonzero(width >= SHOULDER_WIDTH * width.max())[0])
    head = top + int(np.argmax(width[top : top + (row - top) // 2 + 1]))
    neck = int(width[head : row + 1].min())
    return float(row) if neck < NECK_WIDTH * width.max() and row - top < 0.75 * (bottom - top) else None


def overlap(rig: Rig, subject: np.ndarray, width: float = 0.12) -> float:
    """Intersection over union of the subject and the rig's bones drawn `width` of the rig's height thick (a
    stick figure of it), inside the picture: the part of the rig past the frame counts for nothing."""
    xy = rig.rest_xy()
    thick = max(1, round(width * float(np.ptp(xy[:, 1]) or np.ptp(xy[:, 0]))))
    drawn = np.zeros(subject.shape, np.uint8)
    for a, b in rig.bone_joint_indices():
        cv2.line(drawn, _point(xy[a]), _point(xy[b]), 1, thick)
    figure = drawn > 0
    return float((figure & subject).sum() / max(1, (figure | subject).sum()))


def _point(xy: np.ndarray) -> tuple[int, int]:
    """A point for cv2's drawing, clamped far outside the picture (cv2 clips what it draws)."""
    x, y = (int(np.clip(round(float(v)), -(1 << 20), 1 << 20)) for v in xy[:2])
    return x, y


def largest_region(mask: np.ndarray) -> np.ndarray:
    """The mask's largest 8-connected region, (H, W) bool."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return mask.copy()
    biggest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return labels == biggest


CLOSED_SHARE = 0.045  # a cut-out's notches narrower than twice this share of sqrt(area) are closed for the fit
HOLE_SHARE = 0.05  # and its holes smaller than this share of its area filled


def silhouette(mask: np.ndarray, close: bool) -> np.ndarray:
    """The mask's largest region, (H, W) bool, and with `close` its notches narrower than twice CLOSED_SHARE of
    sqrt(area) closed and its holes under HOLE_SHARE of its area filled: what the fit reads. A cut-out a user
    makes with a box and strokes (GrabCut) leaves the astronaut's dark collar out through a gap by her chin and
    slits along her straps; the medial axis then ran round the pocket and the template's arm took it for a hand.
    Closed only for a waist-up figure (`is_portrait`): on a whole figure it joins legs drawn close together. The
    picture's edges are not closed over (a portrait's bottom)."""
    subject = largest_region(mask)
    if not close:
        return subject
    radius = max(1, round(CLOSED_SHARE * np.sqrt(subject.sum())))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    padded = cv2.copyMakeBorder(subject.astype(np.uint8), radius, radius, radius, radius, cv2.BORDER_REPLICATE)
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disc)[radius:-radius, radius:-radius] > 0
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~closed).astype(np.uint8), connectivity=4)
    h, w = closed.shape
    for k in range(1, count):
        x, y, width, height, area = stats[k]
        if x > 0 and y > 0 and x + width < w and y + height < h and area < HOLE_SHARE * closed.sum():
            closed[labels == k] = True
    return closed


def is_portrait(rig: Rig, mask: np.ndarray) -> bool:
    """Whether `rig` is a person's (a head and SHOULDERS) over a subject the picture's bottom edge cuts."""
    return bool(mask[-1].any()) and all(j in rig.joint_ids for j in ("head", *SHOULDERS))


def medial_axis(subject: np.ndarray) -> np.ndarray:
    """The subject's medial axis (H, W) bool, of the subject opened by a disc of 2% of its size: inside the
    subject, with few spurs."""
    from skimage.morphology import skeletonize  # scikit-image: heavy import, only when asked

    radius = max(1, round(0.02 * np.sqrt(subject.sum())))
    while True:  # a smaller disc where the opening cuts a piece off (a head on a thin neck the cut-out left)
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        opened = cv2.morphologyEx(subject.astype(np.uint8), cv2.MORPH_OPEN, disc) > 0
        kept = largest_region(opened) if opened.any() else subject
        if radius == 1 or kept.sum() >= KEPT_SHARE * opened.sum():
            break
        radius //= 2
    opened = kept
    axis = skeletonize(opened)
    if not axis.any():  # a region thinner than the disc: its own pixels
        axis = subject.copy()
    return axis


def axis_ends(axis: np.ndarray) -> np.ndarray:
    """The medial axis' end points (K, 2) x, y: axis pixels with exactly one axis neighbour."""
    ys, xs = np.nonzero(axis & (_neighbour_count(axis) == 1))
    return np.stack([xs, ys], axis=1).astype(float)


def limb_ends(axis: np.ndarray, subject: np.ndarray) -> np.ndarray:
    """The axis end points (K, 2) x, y that end a limb, not a spur: a spur (the branch a corner grows) reaches
    from its junction little farther than the junction's inscribed circle, a limb (an arm, a head) well past it."""
    radius = cv2.distanceTransform(subject.astype(np.uint8), cv2.DIST_L2, 5)
    count = _neighbour_count(axis)
    kept = []
    for x, y in axis_ends(axis).astype(int):
        length, junction = _walk_to_junction(axis, count, (y, x))
        if junction is None:
            kept.append((x, y))
            continue
        reach = length + radius[y, x] - radius[junction]
        if reach > 0.5 * radius[junction] + 2:
            kept.append((x, y))
    return np.array(kept, float).reshape(-1, 2)


def _neighbour_count(axis: np.ndarray) -> np.ndarray:
    """How many of each pixel's 8 neighbours are axis pixels, (H, W) int."""
    kernel = np.ones((3, 3), np.float32)
    kernel[1, 1] = 0
    return np.rint(cv2.filter2D(axis.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)).astype(int)


def _walk_to_junction(axis: np.ndarray, count: np.ndarray, start: tuple[int, int]) -> tuple[float, tuple | None]:
    """From an end pixel along the axis to the first junction (a pixel with 3 or more axis neighbours): the
    length walked and the junction (row, col), or None when the branch ends without one."""
    h, w = axis.shape
    seen = {start}
    here, length = start, 0.0
    while True:
        steps = [(here[0] + dy, here[1] + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
        steps = [p for p in steps if 0 <= p[0] < h and 0 <= p[1] < w and axis[p] and p not in seen]
        if not steps:
            return length, None
        if count[here] >= 3 and here != start:
            return length, here
        nxt = min(steps, key=lambda p: abs(p[0] - here[0]) + abs(p[1] - here[1]))  # 4-neighbours first
        length += float(np.hypot(nxt[0] - here[0], nxt[1] - here[1]))
        seen.update(steps if len(steps) > 1 and count[nxt] < 3 else [nxt])
        here = nxt


def is_symmetric(rig: Rig, tolerance: float = 0.02) -> bool:
    """Whether the rig's mirror image (about its box's middle) puts a joint on every joint: a front view."""
    xy = rig.rest_xy()
    flipped = mirrored(rig).rest_xy()
    size = max(float(np.ptp(xy, axis=0).max()), 1e-9)
    gaps = np.linalg.norm(flipped[:, None] - xy[None], axis=-1).min(axis=1)
    return bool(gaps.max() <= tolerance * size)


def mirrored(rig: Rig) -> Rig:
    """The rig mirrored left-right about the middle of its box."""
    xy = rig.rest_xy()
    middle = (xy[:, 0].min() + xy[:, 0].max()) / 2
    return rig.transformed(np.array([[-1.0, 0.0, 2 * middle], [0.0, 1.0, 0.0]]))


def _fitted(
    rig: Rig,
    subject: np.ndarray,
    axis: np.ndarray,
    limbs: list[np.ndarray],
    region: np.ndarray,
    pinned: frozenset[str] = frozenset(),
) -> tuple[Rig, float]:
    """The rig fitted to the axis of `subject` (the mask's `silhouette`), every joint then moved inside `region`
    (the mask's own largest region), and a cost (mean distance its joints moved, relative to its size). A limb
    whose short first bone ends at a `pinned` joint (a portrait's shoulders, already on her shoulder row) keeps
    that joint where it is, moved with the limb's root, and is laid straight from it to its end (a hanging arm's
    axis is the body's)."""
    start = {j.id: np.array(j.xy, float) for j in rig.joints}
    size = max(float(np.ptp(rig.rest_xy(), axis=0).max()), 1.0)
    graph = _AxisGraph(axis)
    degree = {j: len(rig.neighbours(j)) for j in rig.joint_ids}
    branches = [j for j in rig.joint_ids if degree[j] >= 3] or [_middle_joint(rig)]
    ends = [j for j in rig.joint_ids if degree[j] == 1 and j not in branches]
    out = dict(start)
    bend = max(1.5, 0.04 * float(np.sqrt(subject.sum())))  # as the auto-rig simplifies (core/skeleton.py)
    radius = cv2.distanceTransform(subject.astype(np.uint8), cv2.DIST_L2, 5)
    h = subject.shape[0]
    off_axis = set()
    for b in branches:
        # a branch joint the picture's bottom cuts off (a portrait's pelvis) to the axis straight above it on the
        # bottom edge, not to the nearest axis point (a bump at the bottom corner bent the spine); where the axis
        # comes nowhere near the edge there, it goes to the edge itself (the axis of a cut-out's hanging arm is
        # not her pelvis)
        below = start[b][1] > h - 1 and subject[-1].any()
        out[b] = graph.nearest_point(np.array([start[b][0], h - 1.0]) if below else start[b])
        if below and np.hypot(out[b][0] - start[b][0], out[b][1] - (h - 1)) > BOTTOM_REACH * h:
            out[b] = np.array([start[b][0], h - 1.0])
            off_axis.add(b)
    claimed = _claimed_ends(ends, start, _tips(axis, subject, limbs, bend), reach=size)
    for e, xy in claimed.items():
        out[e] = xy
    chains = list(_chains(rig, set(branches)))
    paths = {
        k: np.array([out[c[0]], out[c[-1]]]) if off_axis & {c[0], c[-1]} else graph.path(out[c[0]], out[c[-1]])
        for k, c in enumerate(chains)
        if c[-1] in claimed or c[-1] in branches
    }
    for k, chain in enumerate(chains):
        if k in paths and chain[-1] in branches:  # the spine between two branch joints
            _lay_along(chain, out, start, paths[k], bend)
        elif k in paths:  # a limb: laid from where its path leaves the trunk it shares with the others there
            trunk = {
                p
                for i, c in enumerate(chains)
                if i in paths and i != k and chain[0] in (c[0], c[-1])
                for p in _pixels(paths[i])
            }
            if len(chain) >= 3 and chain[1] in pinned:
                out[chain[1]] = start[chain[1]] + out[chain[0]] - start[chain[0]]
                _lay_along(chain[1:], out, start, np.array([out[chain[1]], out[chain[-1]]]), bend)
                continue
            limb = paths[k][_leaves(paths[k], trunk) :]
            _lay_limb(chain, out, start, limb[_root(limb, radius) :], bend)
        else:  # an extremity with no end point: the chain keeps its shape and follows its first joint
            shift = out[chain[0]] - start[chain[0]]
            for j in chain[1:]:
                out[j] = start[j] + shift
    found = set(claimed)  # tips on an end of the axis: only nudged to an auto-rig end close by
    framed = [c for c in chains if len(c) < 3 or any(out[j][1] <= h - 1 for j in c[1:-1])]  # not a leg off the frame
    claimed.update(_turned(rig, framed, out, start, limbs, found, reach=size, nudge=0.1 * np.sqrt(subject.sum())))
    inside = _Inside(region)
    for j in out:
        out[j] = inside.kept(np.round(out[j], 1))  # checked as stored: 11.46 stored 11.5 is pixel 12
    moved = np.mean([np.linalg.norm(out[j] - start[j]) for j in out]) / size
    unclaimed = len(ends) - len(claimed)
    fitted = Rig(
        tuple(Joint(j.id, (round(float(out[j.id][0]), 1), round(float(out[j.id][1]), 1))) for j in rig.joints),
        rig.bones,
    )
    return fitted, float(moved + unclaimed)


def _tips(axis: np.ndarray, subject: np.ndarray, limbs: list[np.ndarray], near: float, blob: float = 0.8) -> np.ndarray:
    """(K, 2) x, y: the axis' limb ends, and the spurs that end a round blob where an auto-rig limb ends too.

    A round head's axis forks into short spurs under the hair, each ending near the fork's depth (at least
    `blob` of it; a corner's spur runs out to the outline), so `limb_ends` finds no end on the head and the
    template's head took a shoulder's (the astronaut cut out with a box: her collar ring left out, her head on a
    thin neck). Such a spur is kept when one of the auto-rig's `limbs` ends within `near` of it."""
    tips = limb_ends(axis, subject)
    if not limbs:
        return tips
    radius = cv2.distanceTransform(subject.astype(np.uint8), cv2.DIST_L2, 5)
    count = _neighbour_count(axis)
    forks = []
    for x, y in axis_ends(axis).astype(int):
        _length, junction = _walk_to_junction(axis, count, (y, x))
        if junction is not None and radius[y, x] >= blob * radius[junction]:
            forks.append((x, y))
    blobs = np.array(forks, float).reshape(-1, 2)
    extra = []
    for limb in limbs:
        if _nearest(tips, limb[0])[1] <= near:  # an axis limb end is there already
            continue
        k, gap = _nearest(blobs, limb[0])
        if gap <= near:
            extra.append(blobs[k])
    return np.concatenate([tips, np.array(extra, float).reshape(-1, 2)])


def _nearest(points: np.ndarray, xy: np.ndarray) -> tuple[int, float]:
    """The index of the point of `points` (K, 2) nearest `xy` and its distance (inf for no points)."""
    if not len(points):
        return -1, float("inf")
    gaps = np.linalg.norm(points - xy, axis=1)
    return int(np.argmin(gaps)), float(gaps.min())


def auto_rig_limbs(subject: np.ndarray) -> list[np.ndarray]:
    """The auto-rig's limbs on `subject` (core/skeleton.py): for each of its end joints, the joints (K, 2) x, y
    from that end in to the first junction (its bends between), end first. Its pruning keeps a limb by the
    area it owns, so it finds an arm on a wide photo subject that the opened mask's axis loses."""
    from .errors import ProjectError
    from .skeleton import skeleton_from_mask

    contours, _ = cv2.findContours(subject.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    if sum(cv2.arcLength(c, True) for c in contours) > RAGGED * np.sqrt(max(1, subject.sum())):
        return []  # speckle, a noisy threshold: no limbs to find, and thousands of branches to prune
    try:
        auto = skeleton_from_mask(subject)
    except ProjectError:
        return []
    xy = {j.id: np.array(j.xy, float) for j in auto.joints}
    out = []
    for end in auto.joint_ids:
        if len(auto.neighbours(end)) != 1:
            continue
        walk = [end, auto.neighbours(end)[0]]
        while len(auto.neighbours(walk[-1])) == 2:
            nxt = [n for n in auto.neighbours(walk[-1]) if n != walk[-2]]
            if not nxt or nxt[0] in walk:
                break
            walk.append(nxt[0])
        out.append(np.array([xy[j] for j in walk]))
    return out


def _turned(
    rig: Rig,
    chains: list[Chain],
    out: dict[str, np.ndarray],
    start: dict[str, np.ndarray],
    limbs: list[np.ndarray],
    found: set[str],
    reach: float,
    nudge: float,
    near: float = 0.02,
    short: float = 0.3,
) -> dict[str, np.ndarray]:
    """Turn each limb (a chain from a branch joint to an extremity) whose tip lies off every auto-rig limb end
    about its root towards the end it is matched to (least total distance, within `reach`; within `nudge` for
    a tip in `found`, already on an end of the axis), scaled so that its tip (or, for a limb seen much shorter
    than its template, the joint `_landing_joint` picks) lands on the end; its inner joints before that one
    then take the auto-rig limb's bends near them (an elbow, a knee). A tip within `near` of the rig's size of
    its end is left where the axis put it. Returns the tips moved."""
    from scipy.optimize import linear_sum_assignment

    limbs_of = {c[-1]: c for c in chains if len(rig.neighbours(c[-1])) == 1}
    tips = list(limbs_of)
    if not tips or not limbs:
        return {}
    ends = np.array([limb[0] for limb in limbs])
    here = np.array([out[t] for t in tips])
    distance = np.linalg.norm(here[:, None] - ends[None], axis=-1)
    rows, cols = linear_sum_assignment(np.where(distance <= reach, distance, 1e6))
    moved = {}
    for r, c in zip(rows, cols, strict=True):
        if distance[r, c] > (nudge if tips[r] in found else reach) or distance[r, c] <= near * reach:
            continue
        chain, limb = limbs_of[tips[r]], limbs[c]
        lengths = [float(np.linalg.norm(start[b] - start[a])) for a, b in itertools.pairwise(chain)]
        pivot = 1 if len(chain) >= 3 and lengths[0] < short * sum(lengths) else 0  # a collar bone stays put
        root = out[chain[pivot]]
        wanted = limb[0] - root
        landing = _landing_joint(chain[pivot + 1 :], out, root, float(np.linalg.norm(wanted)))
        was = out[landing] - root
        if np.linalg.norm(was) < 1e-6 or np.linalg.norm(wanted) < 1e-6:
            continue
        turn = np.arctan2(wanted[1], wanted[0]) - np.arctan2(was[1], was[0])
        k = np.linalg.norm(wanted) / np.linalg.norm(was)
        rotation = k * np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
        for j in chain[pivot + 1 :]:
            out[j] = root + rotation @ (out[j] - root)
        bends = limb[1:-1]
        span = float(np.linalg.norm(wanted))
        for j in chain[pivot + 1 : chain.index(landing)]:  # an inner joint to the auto-rig's bend near it
            if len(bends):
                gaps = np.linalg.norm(bends - out[j], axis=1)
                if gaps.min() <= span / 3:
                    out[j] = bends[int(np.argmin(gaps))].copy()
        moved[chain[-1]] = out[chain[-1]]
    return moved


def _landing_joint(
    joints: Chain, out: dict[str, np.ndarray], root: np.ndarray, reach: float, short: float = 0.5
) -> str:
    """The joint of a limb (`joints`, root excluded, tip last) that lands on its matched end `reach` px from the
    root: the tip, unless the end lies under `short` of the tip's distance and an inner joint's distance is
    nearer `reach` (in ratio). A limb seen that short is hidden past that joint: the astronaut's left arm ends
    at the helmet her hand holds, her elbow, and the template's hand taken there made her upper arm a stub."""
    distance = {j: float(np.linalg.norm(out[j] - root)) for j in joints}
    tip = joints[-1]
    if reach >= short * distance[tip]:
        return tip
    return min(joints, key=lambda j: abs(np.log(max(reach, 1e-6) / max(distance[j], 1e-6))))


def _middle_joint(rig: Rig) -> str:
    """A chain's middle joint (a rig with no branch joint: a snake, an arm)."""
    xy = rig.rest_xy()
    return rig.joint_ids[int(np.argmin(np.linalg.norm(xy - xy.mean(0), axis=1)))]


def _claimed_ends(
    ends: list[str], start: dict[str, np.ndarray], points: np.ndarray, reach: float
) -> dict[str, np.ndarray]:
    """Joints matched to axis points (end points, junctions) by least total distance, each pair within `reach`."""
    from scipy.optimize import linear_sum_assignment

    if not ends or not len(points):
        return {}
    here = np.array([start[e] for e in ends])
    distance = np.linalg.norm(here[:, None] - points[None], axis=-1)
    rows, cols = linear_sum_assignment(np.where(distance <= reach, distance, 1e6))
    return {ends[r]: points[c] for r, c in zip(rows, cols, strict=True) if distance[r, c] <= reach}


def _chains(rig: Rig, stops: set[str]) -> Iterable[Chain]:
    """Each run of joints between two stops (branch joints) or from a stop to an extremity, once."""
    seen: set[frozenset[tuple[str, str]]] = set()
    for stop in sorted(stops):
        for first in rig.neighbours(stop):
            chain = [stop, first]
            while chain[-1] not in stops and len(rig.neighbours(chain[-1])) == 2:
                nxt = [n for n in rig.neighbours(chain[-1]) if n != chain[-2]]
                if not nxt or nxt[0] in chain:
                    break
                chain.append(nxt[0])
            key = frozenset(itertools.pairwise(chain))
            if key not in seen:
                seen.add(key)
                yield chain


def _lay_along(
    chain: Chain, out: dict[str, np.ndarray], start: dict[str, np.ndarray], path: np.ndarray, tolerance: float
) -> None:
    """Put the chain's inner joints on `path` (N, 2) at their share of the chain's template length, each moved
    to a bend of the path (a Douglas-Peucker corner at `tolerance` px) within a third of its bones' length."""
    lengths = [float(np.linalg.norm(start[b] - start[a])) for a, b in itertools.pairwise(chain)]
    total = sum(lengths)
    if len(path) < 2 or total <= 0:
        return
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    corners = _corners(path, along, tolerance)
    share = np.cumsum(lengths)[:-1] / total
    low = 0.0
    for k, (j, s) in enumerate(zip(chain[1:-1], share, strict=True)):
        at = s * along[-1]
        reach = min(lengths[k], lengths[k + 1]) / total * along[-1] / 3
        near = [c for c in corners if abs(c - at) <= reach and c > low]
        at = min(near, key=lambda c: abs(c - at)) if near else max(at, low)
        low = at
        out[j] = np.array([np.interp(at, along, path[:, 0]), np.interp(at, along, path[:, 1])])


def _lay_limb(
    chain: Chain,
    out: dict[str, np.ndarray],
    start: dict[str, np.ndarray],
    path: np.ndarray,
    tolerance: float,
    short: float = 0.3,
) -> None:
    """Lay a limb on `path`, which starts where the limb leaves the trunk: a short first bone (a collar bone, a
    hip: under `short` of the limb's length) puts its joint there (the shoulder at the arm's root), the rest
    of the limb shares the path."""
    lengths = [float(np.linalg.norm(start[b] - start[a])) for a, b in itertools.pairwise(chain)]
    if len(chain) >= 3 and lengths[0] < short * sum(lengths):
        out[chain[1]] = path[0].copy()
        chain = chain[1:]
    _lay_along(chain, out, start, path, tolerance)


def _root(path: np.ndarray, radius: np.ndarray, thicker: float = 1.5) -> int:
    """Where along a limb's path (from the trunk out) the limb leaves the body: the first point whose inscribed
    radius is within `thicker` times the limb's own (the median over its outer half). An arm's axis joins a
    wide torso's deep inside it; the shoulder is where the arm meets the torso's side."""
    h, w = radius.shape
    cols = np.clip(np.round(path[:, 0]).astype(int), 0, w - 1)
    rows = np.clip(np.round(path[:, 1]).astype(int), 0, h - 1)
    along = radius[rows, cols]
    own = float(np.median(along[len(along) // 2 :]))
    thin = np.nonzero(along <= thicker * own + 1)[0]
    return int(min(thin[0], len(path) - 2)) if len(thin) else 0


def _pixels(path: np.ndarray) -> set[tuple[int, int]]:
    return {(round(x), round(y)) for x, y in path}


def _leaves(path: np.ndarray, trunk: set[tuple[int, int]]) -> int:
    """The index of the last point of `path`'s start that lies on `trunk` (0 when it shares nothing)."""
    last = 0
    for i, (x, y) in enumerate(path[1:], start=1):
        if (round(x), round(y)) not in trunk:
            break
        last = i
    return min(last, len(path) - 2)


def _corners(path: np.ndarray, along: np.ndarray, tolerance: float) -> list[float]:
    """Where (arc length) a path bends: its inner Douglas-Peucker corners."""
    if len(path) < 3:
        return []
    kept = cv2.approxPolyDP(path.astype(np.float32)[:, None, :], tolerance, closed=False)[:, 0, :]
    out = []
    for p in kept[1:-1]:
        i = int(np.argmin(np.linalg.norm(path - p, axis=1)))
        out.append(float(along[i]))
    return out


class _AxisGraph:
    """The medial axis as a graph of its pixels (8-neighbours), for nearest points and shortest paths."""

    def __init__(self, axis: np.ndarray):
        ys, xs = np.nonzero(axis)
        self.xy = np.stack([xs, ys], axis=1).astype(float)
        self.index: np.ndarray = np.full(axis.shape, -1, np.int64)
        self.index[ys, xs] = np.arange(len(xs))
        self._matrix = None

    def nearest(self, xy: np.ndarray) -> int:
        return int(np.argmin(np.linalg.norm(self.xy - xy, axis=1)))

    def nearest_point(self, xy: np.ndarray) -> np.ndarray:
        return self.xy[self.nearest(xy)].copy()

    def path(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Axis pixels (N, 2) on the shortest axis path from the pixel nearest `a` to the one nearest `b`;
        the straight segment between them when the axis does not join them."""
        from scipy.sparse.csgraph import dijkstra

        i, k = self.nearest(a), self.nearest(b)
        _dist, previous = dijkstra(self.matrix(), indices=i, return_predecessors=True)
        if i != k and previous[k] < 0:
            return np.array([a, b], float)
        walk = [k]
        while walk[-1] != i:
            walk.append(int(previous[walk[-1]]))
        return np.concatenate([[a], self.xy[walk[::-1]], [b]])

    def matrix(self):
        if self._matrix is None:
            from scipy.sparse import coo_matrix

            h, w = self.index.shape
            padded = np.pad(self.index, 1, constant_values=-1)
            here = padded[1:-1, 1:-1]
            rows, cols, weights = [], [], []
            for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
                there = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
                linked = (here >= 0) & (there >= 0)
                rows.append(here[linked])
                cols.append(there[linked])
                weights.append(np.full(int(linked.sum()), np.hypot(dx, dy)))
            n = len(self.xy)
            r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(weights)
            self._matrix = coo_matrix(
                (np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n)
            ).tocsr()
        return self._matrix


class _Inside:
    """Moves points outside the subject to the nearest pixel of the subject shrunk by 2% of its size (so that a
    joint moved in sits clear of the outline), else of the subject."""

    def __init__(self, subject: np.ndarray):
        from scipy.ndimage import distance_transform_edt

        self.subject = subject
        radius = max(1, round(0.02 * np.sqrt(subject.sum())))
        shrunk = cv2.distanceTransform(subject.astype(np.uint8), cv2.DIST_L2, 5) > radius
        core = shrunk if shrunk.any() else subject
        _distance, (self.rows, self.cols) = distance_transform_edt(~core, return_indices=True)

    def kept(self, xy: np.ndarray) -> np.ndarray:
        h, w = self.subject.shape
        x, y = round(xy[0]), round(xy[1])
        if 0 <= x < w and 0 <= y < h and self.subject[y, x]:
            return xy
        cx, cy = int(np.clip(x, 0, w - 1)), int(np.clip(y, 0, h - 1))
        return np.array([self.cols[cy, cx], self.rows[cy, cx]], float)
