"""Skeletons from masks, for any subject: a mask becomes a Rig (auto-rig, and the dataset builder's poses).

    medial axis (skimage skeletonize) -> branches (skan) -> prune spurs -> simplify each branch
    (Douglas-Peucker) -> joints at branch ends and bends, bones between them

Pruning judges each branch from a junction to a free end by what it is worth, in rounds (each can reveal new
spurs). It stays when it owns `min_share` (1%) of the blob's area (the pixels nearer to it than to the rest of
the skeleton) or reaches `reach_factor` (4) local radii (the distance-transform value at its junction). One
whose end stays inside its junction's circle (within 1 + `fork_share` radii) is a bump on a wide body: it
stays only when 2% of the blob lies past that circle (the astronaut's arm held out), and two such ends running
into corners from a junction the body goes on from are the fork a thick bar grows at its end, and go. The old
rule, two local radii, took the head and arms off a wide photo subject (2 joints on the astronaut, now 10).
Along a limb (junction to free end) the simplification is finer (`limb_simplify`), so a gentle elbow or knee
gets its joint. An unbranched skeleton (a bar) may still bend into a corner at its ends: an end bone that stays
inside the inscribed circle of its inner joint (plus `end_margin` pixels) adds nothing the shape shows, so its
free end moves to the inner joint. Each separate blob becomes a separate subject. Holes smaller than
`min_area` (specks between overlapping drawn legs) are filled first: each grew a ladder of joints.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np

from .errors import ProjectError
from .rig import Bone, Joint, Rig


@dataclass(frozen=True)
class SkeletonSettings:
    """How a mask is turned into a rig."""

    min_area: int = 64  # blobs smaller than this (pixels) are noise
    min_share: float = 0.01  # an end branch owning this share of the blob's area is a limb, not a spur
    reach_factor: float = 4.0  # ... and so is one this many local radii long
    fork_share: float = 0.5  # an end within (1 + this) junction radii of its junction is inside its circle
    corner: float = 0.25  # two such ends into corners (radius under this share of the junction's) are a fork
    simplify: float = 0.04  # Douglas-Peucker tolerance, as a fraction of the blob's sqrt(area)
    limb_simplify: float = 0.5  # ... times this along a limb (junction to free end): a joint at each bend
    max_rounds: int = 6  # pruning rounds (each can reveal new spurs)
    end_margin: float = 2.0  # pixels beyond the inscribed circle an end bone must reach to be kept


def skeleton_from_mask(mask: np.ndarray, settings: SkeletonSettings = SkeletonSettings()) -> Rig:
    """A rig following the medial axis of `mask` (H, W) bool; ProjectError for an empty mask."""
    from skimage.morphology import skeletonize  # scikit-image: heavy import, only when asked

    mask = _without_specks(np.asarray(mask, bool), settings.min_area)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    blobs = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= settings.min_area]
    if not blobs:
        raise ProjectError(f"the mask has no region of at least {settings.min_area} pixels", key="mask")
    # the picture's border is the subject's edge too: a mask with no background pixel (a photo's whole frame)
    # measured ~1.7e38 px everywhere, and its round-blob bone ran off the picture
    radius = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
    points: list[np.ndarray] = []
    edges: list[tuple[int, int]] = []
    for blob in blobs:
        region = labels == blob
        before = len(edges)
        skeleton = _pruned(skeletonize(region), radius, region, settings)
        tolerance = max(1.5, settings.simplify * float(np.sqrt(region.sum())))
        paths = _paths(skeleton)
        free = _free_ends(skeleton)
        for path in paths:
            limb = len(paths) > 1 and (tuple(path[0].astype(int)) in free) != (tuple(path[-1].astype(int)) in free)
            simplified = _douglas_peucker(path, tolerance * (settings.limb_simplify if limb else 1.0))
            ids = [_joint_for(points, p) for p in simplified]
            edges += [(a, b) for a, b in pairwise(ids) if a != b]
        if len(paths) == 1:  # a bar, a bent bar: its ends may bend into corners (a branched one's were pruned)
            edges[before:] = _trimmed_ends(edges[before:], points, radius, settings.end_margin)
        if len(edges) == before:  # a round blob: its skeleton is a dot; give it one short bone through its centre
            ys, xs = np.nonzero(region)
            c = np.array([xs.mean(), ys.mean()])
            d = max(2.0, float(radius[region].max()) / 2)
            edges.append((_joint_for(points, c - [d, 0]), _joint_for(points, c + [d, 0])))
    unique = list(dict.fromkeys(tuple(sorted(e)) for e in edges))
    used = sorted({i for e in unique for i in e})
    number = {old: new for new, old in enumerate(used)}
    joints = tuple(
        Joint(f"j{number[i] + 1}", (round(float(points[i][0]), 1), round(float(points[i][1]), 1))) for i in used
    )
    bones = tuple(Bone(f"b{k + 1}", f"j{number[a] + 1}", f"j{number[b] + 1}") for k, (a, b) in enumerate(unique))
    return Rig(joints, bones)


def _without_specks(mask: np.ndarray, area: int) -> np.ndarray:
    """The mask with its holes smaller than `area` pixels filled."""
    _count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    small = np.nonzero(stats[1:, cv2.CC_STAT_AREA] < area)[0] + 1
    h, w = mask.shape
    x, y, bw, bh = stats[small, 0], stats[small, 1], stats[small, 2], stats[small, 3]
    enclosed = small[(x > 0) & (y > 0) & (x + bw < w) & (y + bh < h)]
    return mask | np.isin(labels, enclosed) if len(enclosed) else mask


def _trimmed_ends(
    edges: list[tuple[int, int]], points: list[np.ndarray], radius: np.ndarray, margin: float
) -> list[tuple[int, int]]:
    """Edges without end bones that stay inside the inscribed circle of their inner (degree-2) joint."""
    edges = list(dict.fromkeys((min(a, b), max(a, b)) for a, b in edges))
    while len(edges) > 1:
        degree: dict[int, int] = {}
        for a, b in edges:
            degree[a], degree[b] = degree.get(a, 0) + 1, degree.get(b, 0) + 1
        for edge in edges:
            end, inner = edge if degree[edge[0]] == 1 else edge[::-1]
            if degree[end] != 1 or degree[inner] != 2:
                continue
            x, y = np.clip(np.round(points[inner]).astype(int), 0, np.array(radius.shape[::-1]) - 1)
            if np.hypot(*(points[end] - points[inner])) <= radius[y, x] + margin:
                edges.remove(edge)
                break
        else:
            return edges
    return edges


def _free_ends(skeleton: np.ndarray) -> set[tuple[int, int]]:
    """The skeleton's end pixels (x, y): those with one skeleton neighbour."""
    kernel = np.ones((3, 3), np.float32)
    kernel[1, 1] = 0
    count = cv2.filter2D(skeleton.astype(np.float32), -1, kernel, borderType=cv2.BORDER_CONSTANT)
    ys, xs = np.nonzero(skeleton & (np.rint(count) == 1))
    return set(zip(xs.tolist(), ys.tolist(), strict=True))


def _joint_for(points: list[np.ndarray], xy: np.ndarray, merge: float = 2.5) -> int:
    """Index of the joint at `xy`, reusing one within `merge` pixels (branches meet at junctions)."""
    for i, p in enumerate(points):
        if np.hypot(*(p - xy)) <= merge:
            return i
    points.append(np.asarray(xy, float))
    return len(points) - 1


def _paths(skeleton: np.ndarray) -> list[np.ndarray]:
    """Each branch of a skeleton as (N, 2) x, y pixel coordinates from end to end."""
    from skan import Skeleton

    if skeleton.sum() < 2:
        return []
    graph = Skeleton(skeleton)
    return [graph.path_coordinates(i)[:, ::-1].astype(float) for i in range(graph.n_paths)]


def _pruned(skeleton: np.ndarray, radius: np.ndarray, region: np.ndarray, settings: SkeletonSettings) -> np.ndarray:
    """The skeleton of `region` without spurs, repeated until none is left (see the module docstring)."""
    from scipy.ndimage import distance_transform_edt
    from skan import Skeleton, summarize
    from skimage.morphology import skeletonize

    skeleton = skeleton.copy()
    area = max(1, int(region.sum()))
    for _ in range(settings.max_rounds):
        if skeleton.sum() < 3:
            break
        graph = Skeleton(skeleton)
        table = summarize(graph, separator="_")
        if len(table) < 2:
            break
        degrees = graph.degrees
        xy = graph.coordinates.astype(int)
        junctions = np.zeros(skeleton.shape, np.uint8)
        hubs = np.nonzero(degrees > 2)[0]
        junctions[xy[hubs, 0], xy[hubs, 1]] = 1
        _n, cluster = cv2.connectedComponents(junctions, connectivity=8)  # a junction is a few touching pixels
        owner = np.full(skeleton.shape, -1, np.int64)
        inner_of, ends_of = {}, {}
        for i in range(graph.n_paths):
            path = graph.path(i)
            inner_of[i] = np.array([n for n in path if degrees[n] <= 2], np.int64)  # the junction pixels stay
            ends_of[i] = {int(cluster[tuple(xy[n])]) for n in (path[0], path[-1]) if degrees[n] > 2}
            if len(inner_of[i]):
                owner[xy[inner_of[i], 0], xy[inner_of[i], 1]] = i
        _d, (near_r, near_c) = distance_transform_edt(~skeleton, return_indices=True)
        nearest = owner[near_r, near_c]
        rows, cols = np.nonzero(region & (nearest >= 0))
        whose = nearest[rows, cols]
        owned = np.bincount(whose, minlength=graph.n_paths)
        doomed: set[int] = set()
        inside: dict[int, int] = {}  # end branch -> its junction, for ends inside the junction's circle
        cornered: dict[int, bool] = {}
        centre = np.zeros((graph.n_paths, 3))  # junction row, column, radius of each end branch inside its circle
        centre[:, 2] = np.inf
        for i, row in table.iterrows():
            if int(row["branch_type"]) != 1 or not len(inner_of[i]):  # only junction-to-end branches can be spurs
                continue
            path = graph.path(i)
            junction, end = (path[0], path[-1]) if degrees[path[0]] > 2 else (path[-1], path[0])
            r_junction, r_end = float(radius[tuple(xy[junction])]), float(radius[tuple(xy[end])])
            length = float(row["branch_distance"])
            if owned[i] < settings.min_share * area and length < settings.reach_factor * r_junction:
                doomed.add(i)  # worth nothing: owns too little and reaches too short
            if length + r_end <= (1 + settings.fork_share) * r_junction + settings.end_margin:  # doomed too: a fork
                inside[i] = int(cluster[tuple(xy[junction])])
                centre[i] = (xy[junction, 0], xy[junction, 1], r_junction)
                cornered[i] = r_end < settings.corner * r_junction  # ends in a corner, not a rounded tip
        if inside:  # a bump on a wide body: worth a joint when enough of it lies past its junction's circle
            past = np.hypot(rows - centre[whose, 0], cols - centre[whose, 1]) > centre[whose, 2]
            beyond = np.bincount(whose[past], minlength=graph.n_paths)
            doomed |= {i for i in inside if beyond[i] < 2 * settings.min_share * area}
            at_hub: dict[int, list[int]] = {}
            for k, hub in inside.items():
                at_hub.setdefault(hub, []).append(k)
            touching: dict[int, set[int]] = {}
            for k, hubs_of in ends_of.items():
                for hub in hubs_of:
                    if hubs_of != {hub}:  # a loop on one junction is not the body going on
                        touching.setdefault(hub, set()).add(k)
            for hub, forks in at_hub.items():  # a fork: two ends into corners from a junction the body goes on from
                if len(forks) >= 2 and touching.get(hub, set()) - set(forks):
                    doomed |= {k for k in forks if cornered[k]}
        for i in doomed:
            skeleton[xy[inner_of[i], 0], xy[inner_of[i], 1]] = False
        if not doomed:
            break
        skeleton = skeletonize(skeleton)
    return skeleton


def _douglas_peucker(path: np.ndarray, tolerance: float) -> np.ndarray:
    """The path's corners: Douglas-Peucker simplification keeping both ends, (K, 2)."""
    if len(path) <= 2:
        return path
    closed = np.allclose(path[0], path[-1])
    simplified = cv2.approxPolyDP(path.astype(np.float32)[:, None, :], tolerance, closed=False)[:, 0, :]
    if closed and len(simplified) < 4:  # a loop needs at least a triangle to stay a loop
        idx = np.linspace(0, len(path) - 1, 4).round().astype(int)
        simplified = path[idx]
    return simplified.astype(float)


# -- joint identity across frames (the dataset builder's tracking, and pose-image imports) ---------------
def track_joints(
    start: np.ndarray, found: list[np.ndarray | None], centroids: np.ndarray, first: int, reach: float
) -> np.ndarray:
    """Joint positions (F, J, 2) from `start` (J, 2) at frame `first` and each frame's found joints (K, 2) or None.

    Each frame predicts every joint (its own last motion if it was matched last frame, else the subject's
    centroid shift) and takes the found joints by optimal assignment, gated at `reach` pixels."""
    frames = len(found)
    centroids = _filled(centroids)
    positions = np.empty((frames, len(start), 2))
    positions[first] = start
    velocity = np.zeros_like(start)
    matched = np.zeros(len(start), bool)
    for f in range(first - 1, -1, -1):  # before the first skeleton: the body's motion only
        positions[f] = positions[f + 1] + (centroids[f] - centroids[f + 1])
    for f in range(first + 1, frames):
        shift = centroids[f] - centroids[f - 1]
        predicted = positions[f - 1] + np.where(matched[:, None], velocity, shift)
        seen = found[f]
        current, matched = (
            assign(predicted, seen, reach) if seen is not None else (predicted, np.zeros(len(start), bool))
        )
        velocity = current - positions[f - 1]
        positions[f] = current
    return positions


def assign(predicted: np.ndarray, found: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray]:
    """Predicted joints (J, 2) moved to found joints (K, 2) by least total distance, each pair within
    `reach` (at least 3 px); returns the positions and which joints found a match."""
    from scipy.optimize import linear_sum_assignment

    out, matched = predicted.copy(), np.zeros(len(predicted), bool)
    if not len(found):
        return out, matched
    distance = np.linalg.norm(predicted[:, None] - found[None], axis=-1)  # (J, K)
    gate = max(reach, 3.0)
    cost = np.where(distance <= gate, distance, 1e6)  # beyond the gate: only taken when nothing else fits
    rows, cols = linear_sum_assignment(cost)
    for j, k in zip(rows, cols, strict=True):
        if distance[j, k] <= gate:
            out[j], matched[j] = found[k], True
    return out, matched


def _filled(centroids: np.ndarray) -> np.ndarray:
    """Centroids with frames that had no subject taking their nearest earlier (else later) value."""
    out = centroids.copy()
    for f in range(1, len(out)):
        if np.isnan(out[f]).any():
            out[f] = out[f - 1]
    for f in range(len(out) - 2, -1, -1):
        if np.isnan(out[f]).any():
            out[f] = out[f + 1]
    return np.nan_to_num(out)


def mask_centroid(mask: np.ndarray) -> np.ndarray:
    """The centre of a mask's pixels (x, y); (0, 0) for an empty mask."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()]) if len(xs) else np.zeros(2)


WHOLE_PICTURE = 0.9  # a mask covering this share of the picture is no real subject mask (a photo without alpha)
CLOSE_UP_SIDES = 3  # a subject whose mask runs along this many sides of the picture fills the frame


def auto_rig_warning(mask: np.ndarray, rig: Rig) -> str | None:
    """One line telling the user why Auto-rig's `rig` may be of little use, or None: a mask covering
    WHOLE_PICTURE of the picture or more (a photo without alpha: the rig follows the frame), a subject filling
    the frame (its mask along CLOSE_UP_SIDES sides of the picture: a close-up, its limbs past the frame), or a
    rig of fewer than 3 joints (one blob without limbs: a face, a cup)."""
    mask = np.asarray(mask, bool)
    if not mask.size:
        return None
    share = float(mask.mean())
    if share >= WHOLE_PICTURE:
        return (
            f"the mask covers {share:.0%} of the picture, not just the subject, so the rig follows the frame: "
            "cut the subject out or paint its mask first"
        )
    sides = sum(float(side.mean()) >= 0.1 for side in (mask[0], mask[-1], mask[:, 0], mask[:, -1]))
    if sides >= CLOSE_UP_SIDES:
        return (
            f"the subject fills the frame (its mask runs along {sides} sides of the picture), so limbs past the "
            "frame are not found: check the rig, or add a template"
        )
    if len(rig.joints) < 3:
        return (
            f"only {len(rig.joints)} joints: the mask is one blob with no limbs to follow; "
            "add a template or place joints by hand"
        )
    return None
