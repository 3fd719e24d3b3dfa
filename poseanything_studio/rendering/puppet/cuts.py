"""Where the mesh is cut between parts (the rule), and the mesh opened along those cuts."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from poseanything_studio.core.raster import clip_far
from poseanything_studio.core.rig import Rig

from .geometry import pixel_index


@dataclass(frozen=True)
class CutRule:
    """Where the parts of two bones are cut apart rather than joined in one mesh.

    Two parts are joined only through a joint their bones share: within `radius` of that joint, and
    beyond it only where the bones leave the joint in clearly different directions (a chain, or a
    leg below a body, whose boundary is skin that stretches). Where both bones run alongside each
    other (two legs from one hip, a tail folded onto itself) or share no joint at all, the boundary
    between their parts is cut, so the parts move apart without a web between them. A chain in
    `creases` (one the motion opens wide, `opening_creases`) is also cut in the angle between its two
    bones, past CREASE_DEPTH of the thinner one's half-thickness from their joint: an arm hanging against
    the body and raised over the head opens at the armpit instead of pulling a web from her side.
    """

    ends: np.ndarray  # (B, 2) joint indices of each bone
    joint_xy: np.ndarray  # (J, 2)
    radius: np.ndarray  # (J,) joined within this distance of a shared joint
    gaps: np.ndarray  # (H, W) bool: narrow gaps in the subject that the mesh bridges; parts never join there
    links: dict  # (bone a, bone b) -> (a's joint, b's joint) for bones joined by one bone between them
    thickness: np.ndarray  # (B,) each bone's half-thickness (parts.bone_radii)
    creases: frozenset[tuple[int, int]]  # (bone ending at a joint, bone leaving it): chains cut in their crease

    ALONGSIDE_COS = float(np.cos(np.radians(40.0)))  # a boundary point within 40 degrees of both bones

    CREASE_DEPTH = 0.9  # a crease is cut past this share of the thinner bone's half-thickness from the joint

    @staticmethod
    def of(
        rig: Rig,
        rest_xy: np.ndarray,
        mask: np.ndarray,
        covered: np.ndarray,
        spacing: float,
        thickness: np.ndarray,
        creases: frozenset[tuple[int, int]] = frozenset(),
    ) -> CutRule:
        """The rule for `rig` at rest over the subject `mask` and the mesh's region `covered` (mask grown), each
        bone `thickness` (B,) thick (parts.bone_radii), the chains of `creases` (`opening_creases`) cut open in
        their crease."""
        depth = cv2.distanceTransform(covered, cv2.DIST_L2, 3)
        inside = np.isfinite(rest_xy).all(1) & (np.abs(rest_xy) < 1e7).all(1)
        at_joint = np.where(inside, depth[pixel_index(rest_xy, covered.shape)], 0.0)
        subject = mask.astype(np.uint8)
        span = 2 * max(2, int(spacing / 3)) + 3  # the widest gap the grown mask closes, and a little more
        closed = cv2.morphologyEx(subject, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (span, span)))
        gaps = (closed > 0) & ~(cv2.dilate(subject, np.ones((3, 3), np.uint8)) > 0)
        ends = rig.bone_joint_indices()
        radius = np.maximum(1.5 * at_joint, 1.5 * spacing)
        return CutRule(ends, clip_far(rest_xy), radius, gaps, _links(ends), thickness, frozenset(creases))

    def cut(self, part_a: np.ndarray, part_b: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """For point pairs of parts (K,), (K,) at points (K, 2): True where the two parts are cut apart."""
        joined = part_a == part_b
        if not len(self.ends):
            return ~joined & False
        # A gap in the picture (background the mesh bridges between two parts) is always cut.
        in_gap = self.gaps[pixel_index(xy, self.gaps.shape)]
        for end_a in (0, 1):
            for end_b in (0, 1):
                shared = self.ends[part_a, end_a]
                share = (shared == self.ends[part_b, end_b]) & ~joined
                if not share.any():
                    continue
                idx = np.flatnonzero(share)
                pivot = self.joint_xy[shared[idx]]
                offset = xy[idx] - pivot
                distance = np.hypot(offset[:, 0], offset[:, 1])
                near = distance <= self.radius[shared[idx]]
                along_a = self._cosine(part_a[idx], end_a, offset, distance)
                along_b = self._cosine(part_b[idx], end_b, offset, distance)
                alongside = (along_a > self.ALONGSIDE_COS) & (along_b > self.ALONGSIDE_COS)
                link = near | ~alongside
                if end_a != end_b and self.creases:  # one bone ends where the other leaves: a chain
                    link &= ~self._in_crease(part_a[idx], end_a, part_b[idx], offset, distance)
                joined[idx] |= link
        self._join_linked(part_a, part_b, xy, joined)
        return ~joined | (in_gap & (part_a != part_b))

    def _join_linked(self, part_a: np.ndarray, part_b: np.ndarray, xy: np.ndarray, joined: np.ndarray) -> None:
        """Join, in place, parts whose bones are linked through one bone (an arm and a spine through a
        collarbone) near either end of that bone, as for a shared joint: an arm held out from a torso
        bends at its root instead of tearing off it; one hanging alongside the torso stays cut from it."""
        todo = np.flatnonzero(~joined & (part_a != part_b))
        if not len(todo) or not self.links:
            return
        pairs, inverse = np.unique(np.stack([part_a[todo], part_b[todo]], 1), axis=0, return_inverse=True)
        for k, (bone_a, bone_b) in enumerate(pairs):
            link = self.links.get((int(bone_a), int(bone_b)))
            if link is None:
                continue
            idx = todo[inverse.ravel() == k]
            pivots = self.joint_xy[list(link)]  # (2, 2): a's end and b's end of the bone between them
            gap = np.hypot(*(xy[idx][:, None, :] - pivots[None]).transpose(2, 0, 1))  # (K, 2)
            which = np.argmin(gap, 1)
            offset = xy[idx] - pivots[which]
            distance = gap[np.arange(len(idx)), which]
            near = distance <= self.radius[np.array(link)[which]]
            ends_a = (self.ends[bone_a] == link[0]).argmax()
            ends_b = (self.ends[bone_b] == link[1]).argmax()
            along_a = self._cosine(np.full(len(idx), bone_a), int(ends_a), offset, distance)
            along_b = self._cosine(np.full(len(idx), bone_b), int(ends_b), offset, distance)
            alongside = (along_a > self.ALONGSIDE_COS) & (along_b > self.ALONGSIDE_COS)
            joined[idx] |= near & ~alongside

    def _in_crease(
        self, bone_a: np.ndarray, end_a: int, bone_b: np.ndarray, offset: np.ndarray, distance: np.ndarray
    ) -> np.ndarray:
        """For boundary points at `offset` (K, 2), `distance` (K,) from the joint where bones `bone_a` (leaving it
        from its end `end_a`) and `bone_b` (from the other end) meet: whether the pair is in `creases` and the
        point lies in the angle between the two bones, past CREASE_DEPTH of the thinner one's half-thickness."""
        parent, child = (bone_a, bone_b) if end_a == 1 else (bone_b, bone_a)
        listed = np.array([(int(p), int(c)) in self.creases for p, c in zip(parent, child, strict=True)], bool)
        a, b = self._direction(bone_a, end_a), self._direction(bone_b, 1 - end_a)
        turn = np.sign(_cross(a, b))
        between = (np.sign(_cross(a, offset)) == turn) & (np.sign(_cross(offset, b)) == turn)
        deep = distance > self.CREASE_DEPTH * np.minimum(self.thickness[bone_a], self.thickness[bone_b])
        return listed & between & deep

    def _direction(self, bone: np.ndarray, end: int) -> np.ndarray:
        """(K, 2) unit directions of `bone` leaving its end `end`."""
        d = self.joint_xy[self.ends[bone, 1 - end]] - self.joint_xy[self.ends[bone, end]]
        return d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9)[:, None]

    def _cosine(self, bone: np.ndarray, end: int, offset: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Cosine between `offset` (from the bone's end `end`) and the bone leaving that end."""
        start, stop = self.joint_xy[self.ends[bone, end]], self.joint_xy[self.ends[bone, 1 - end]]
        direction = stop - start
        norm = np.hypot(direction[:, 0], direction[:, 1]) * distance
        return np.where(norm > 1e-9, (direction * offset).sum(1) / np.maximum(norm, 1e-9), 1.0)


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K,) the z of the cross product of (K, 2) vectors."""
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


CREASE_OPENS = 75.0  # degrees a chain's crease must open by, in some frame, to be cut open
CREASE_NARROW = 160.0  # a chain bent less than this (degrees between its bones) at rest has no crease


def opening_creases(rig: Rig, rest_xy: np.ndarray, poses: np.ndarray) -> frozenset[tuple[int, int]]:
    """(bone ending at a joint, bone leaving it) for each chain past a branching joint (a collar bone and its arm,
    a hip bone and its leg) whose crease, the angle between the two bones under CREASE_NARROW at rest, some pose
    of `poses` (F, J, 2) opens by more than CREASE_OPENS: the astronaut's arm, hanging against her body, raised
    120 degrees by the Wave. A crease that opens less stays skin (an arm swung out 45 degrees stretches its
    armpit smoothly; cut, it opened as a jagged notch)."""
    ends = rig.bone_joint_indices()
    rest, poses = clip_far(np.asarray(rest_xy, float)), clip_far(np.asarray(poses, float).reshape(-1, *rest_xy.shape))
    if not len(ends) or not len(poses):
        return frozenset()
    degree = np.bincount(ends.ravel(), minlength=len(rest))
    found = set()
    for parent, (root, joint) in enumerate(ends):
        if degree[root] < 3:
            continue
        for child in np.flatnonzero(ends[:, 0] == joint):
            tip = ends[child, 1]
            at_rest = float(_bend(rest, root, joint, tip))
            if abs(at_rest) >= CREASE_NARROW:
                continue
            opened = (_bend(poses, root, joint, tip) - at_rest + 180.0) % 360.0 - 180.0  # wrapped to [-180, 180)
            if (np.sign(at_rest) * opened > CREASE_OPENS).any():
                found.add((parent, int(child)))
    return frozenset(found)


def _bend(xy: np.ndarray, root: int, joint: int, tip: int) -> np.ndarray:
    """Degrees turned at `joint` from the way back to `root` to the way on to `tip`, signed, for joints `xy`
    (..., J, 2)."""
    back, out = xy[..., root, :] - xy[..., joint, :], xy[..., tip, :] - xy[..., joint, :]
    cross = back[..., 0] * out[..., 1] - back[..., 1] * out[..., 0]
    return np.degrees(np.arctan2(cross, (back * out).sum(-1)))


def _links(ends: np.ndarray, limit: int = 200_000) -> dict:
    """(bone a, bone b) -> (a's joint, b's joint) for bones sharing no joint but each a joint of one bone between."""
    by_joint: dict[int, list[int]] = {}
    for k, (a, b) in enumerate(ends):
        by_joint.setdefault(int(a), []).append(k)
        by_joint.setdefault(int(b), []).append(k)
    links: dict = {}
    for c, (c0, c1) in enumerate(ends):
        first, second = by_joint.get(int(c0), []), by_joint.get(int(c1), [])
        if len(first) * len(second) > limit - len(links):
            continue
        for bone_a in first:
            for bone_b in second:
                if c in (bone_a, bone_b) or bone_a == bone_b or set(ends[bone_a]) & set(ends[bone_b]):
                    continue
                links[(bone_a, bone_b)] = (int(c0), int(c1))
                links[(bone_b, bone_a)] = (int(c1), int(c0))
    return links


def cut_points(labels: np.ndarray, rule: CutRule, spacing: float) -> np.ndarray:
    """Points (K, 2) along the boundaries between parts that `rule` cuts, about a third of `spacing` apart."""
    found = []
    for axis in (0, 1):
        first = labels[:-1, :] if axis == 0 else labels[:, :-1]
        second = labels[1:, :] if axis == 0 else labels[:, 1:]
        ys, xs = np.nonzero((first != second) & (first >= 0) & (second >= 0))
        if not len(ys):
            continue
        mid = np.stack([xs + 0.5 * axis, ys + 0.5 * (1 - axis)], 1).astype(np.float64)
        cut = rule.cut(first[ys, xs], second[ys, xs], mid)
        found.append(mid[cut])
    points = np.concatenate(found) if found else np.zeros((0, 2))
    return _thinned(points, spacing / 3)


def _thinned(points: np.ndarray, gap: float) -> np.ndarray:
    """A subset of `points` with no two closer than `gap`, greedily in scan order."""
    if len(points) < 2:
        return points
    tree = cKDTree(points)
    keep = np.ones(len(points), bool)
    for i in range(len(points)):
        if keep[i]:
            near = tree.query_ball_point(points[i], gap)
            keep[near] = False
            keep[i] = True
    return points[keep]


def cut_mesh(
    vertices: np.ndarray, triangles: np.ndarray, tri_part: np.ndarray, pin_count: int, rule: CutRule
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mesh opened along cuts: a vertex used by parts that `rule` cuts apart there gets one copy per side.

    Returns vertices, triangles and, per vertex, the index of the vertex it was copied from. A piece
    the cuts would leave with no pin (a sliver across a cut) stays joined, so nothing floats free.
    """
    if not len(triangles):
        return vertices, triangles, np.arange(len(vertices))
    corner_vertex, corner_part = triangles.ravel(), np.repeat(tri_part, 3)
    split = _split_corners(vertices, corner_vertex, corner_part, rule)
    for _ in range(2):
        loose = _unpinned(split, len(vertices), pin_count, corner_vertex)
        if not loose.any():
            break
        corners = np.repeat(loose, 3)
        split[corners] = corner_vertex[corners]  # back onto the original vertex
    used = np.unique(split)
    origin = np.where(used < len(vertices), used, 0)
    copies = used >= len(vertices)
    origin[copies] = _copy_origin(corner_vertex, split)[used[copies]]
    remap = np.zeros(int(split.max()) + 1 if len(split) else 1, np.int64)
    remap[used] = np.arange(len(used))
    out_vertices = vertices[origin]
    return out_vertices, remap[split].reshape(-1, 3), origin


def _split_corners(
    vertices: np.ndarray, corner_vertex: np.ndarray, corner_part: np.ndarray, rule: CutRule
) -> np.ndarray:
    """For each triangle corner, the vertex it uses once cut: its own, or a new index >= len(vertices)."""
    split = corner_vertex.copy()
    pairs = np.unique(np.stack([corner_vertex, corner_part], 1), axis=0)  # sorted by vertex
    parts_per_vertex = np.bincount(pairs[:, 0], minlength=len(vertices))
    multi = np.flatnonzero(parts_per_vertex > 1)
    if not len(multi):
        return split
    pair_start = np.searchsorted(pairs[:, 0], multi)
    joined = _joined_at_vertices(vertices, pairs, multi, pair_start, parts_per_vertex, rule)
    corner_order = np.argsort(corner_vertex, kind="stable")
    corner_start = np.searchsorted(corner_vertex[corner_order], multi)
    corner_stop = np.searchsorted(corner_vertex[corner_order], multi, side="right")
    next_index = len(vertices)
    for k, v in enumerate(multi):
        parts = pairs[pair_start[k] : pair_start[k] + parts_per_vertex[v], 1]
        group = _join_groups(joined[k])
        corners = corner_order[corner_start[k] : corner_stop[k]]  # this vertex's corners
        for g in np.unique(group)[1:]:  # the first group keeps the vertex, every other gets a copy
            split[corners[np.isin(corner_part[corners], parts[group == g])]] = next_index
            next_index += 1
    return split


def _joined_at_vertices(
    vertices: np.ndarray,
    pairs: np.ndarray,
    multi: np.ndarray,
    pair_start: np.ndarray,
    parts_per_vertex: np.ndarray,
    rule: CutRule,
) -> list[np.ndarray]:
    """For each vertex in `multi`, the (n, n) matrix of which of its n parts are joined there (one rule call)."""
    blocks, firsts, seconds, where = [], [], [], []
    for k, v in enumerate(multi):
        n = int(parts_per_vertex[v])
        a, b = np.triu_indices(n, 1)
        parts = pairs[pair_start[k] : pair_start[k] + n, 1]
        blocks.append((n, a, b))
        firsts.append(parts[a])
        seconds.append(parts[b])
        where.append(np.repeat(v, len(a)))
    cut = rule.cut(np.concatenate(firsts), np.concatenate(seconds), vertices[np.concatenate(where)])
    out, offset = [], 0
    for n, a, b in blocks:
        joined = np.eye(n, dtype=bool)
        joined[a, b] = joined[b, a] = ~cut[offset : offset + len(a)]
        offset += len(a)
        out.append(joined)
    return out


def _join_groups(joined: np.ndarray) -> np.ndarray:
    """Group number per part at a vertex, from which parts are joined there (n, n): a part joins the first
    group whose every member it is joined to.

    Not transitive: where an arm is joined to a collarbone and the collarbone to the spine, but the arm
    is cut from the spine, the arm's vertex is not welded to the spine's through the collarbone.
    """
    group = np.full(len(joined), -1)
    members: list[list[int]] = []
    for i in range(len(joined)):
        for g, ids in enumerate(members):
            if joined[i, ids].all():
                group[i] = g
                ids.append(i)
                break
        else:
            group[i] = len(members)
            members.append([i])
    return group


def _copy_origin(corner_vertex: np.ndarray, split: np.ndarray) -> np.ndarray:
    """index -> original vertex, for every index in `split`."""
    origin = np.zeros(int(split.max()) + 1, np.int64)
    origin[split] = corner_vertex
    return origin


def _unpinned(split: np.ndarray, vertex_count: int, pin_count: int, corner_vertex: np.ndarray) -> np.ndarray:
    """Per triangle: True where its piece of the cut mesh holds no pin."""
    n = int(split.max()) + 1
    tri = split.reshape(-1, 3)
    edges = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]]])
    graph = sp.coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    origin = _copy_origin(corner_vertex, split)
    pinned_components = np.unique(component[np.unique(split)[origin[np.unique(split)] < pin_count]])
    return ~np.isin(component[tri[:, 0]], pinned_components)
