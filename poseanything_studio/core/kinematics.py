"""A hierarchy over any rig, forward and inverse kinematics, and local (angle, length) coordinates.

Each connected group of joints (one subject) gets a root: the joint the user picked, else the graph
centre (the joint whose farthest joint is the fewest bones away; ties go to the joint nearest the
group's rest centroid, then to rig order). A breadth-first spanning tree from each root gives every
other joint a parent; bones the tree does not use (a rig with a cycle) stay as length constraints.

A joint's local coordinates are its bone's length and its angle against the parent's own bone (the
direction grandparent -> parent; world x for a joint whose parent is a root). Turning a joint keeps
every joint below it at the same local coordinates, which is what forward kinematics is. Inverse
kinematics bends a chain above a dragged end joint with bone lengths fixed: two bones in closed form,
bending to the side the rest pose bends; longer chains by FABRIK (Aristidou and Lasenby, 2011).

Pure numpy: poses are (J, 2) float arrays in the rig's joint order.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .rig import Rig
from .tracks import Track, closed_loop, looped_times, sample_values

EPS = 1e-9
FABRIK_ITERATIONS = 30
FABRIK_TOLERANCE = 0.01  # pixels
RELAX_ITERATIONS = 40  # passes over the length constraints of a rig with a cycle


@dataclass(frozen=True)
class Hierarchy:
    """A spanning forest over a rig: parents, a parents-first order, and the bones left over as constraints."""

    joint_ids: tuple[str, ...]
    parent: tuple[int, ...]  # -1 for a root
    order: tuple[int, ...]  # every joint, each after its parent
    roots: tuple[int, ...]
    constraints: tuple[tuple[int, int], ...]  # joint index pairs of bones outside the tree

    def index(self, joint_id: str) -> int:
        return self.joint_ids.index(joint_id)

    def children(self, joint: int) -> list[int]:
        return [j for j in self.order if self.parent[j] == joint]

    def subtree(self, joint: int) -> list[int]:
        """`joint` and every joint below it, parents first."""
        inside = {joint}
        for j in self.order:
            if self.parent[j] in inside:
                inside.add(j)
        return [j for j in self.order if j in inside]

    def is_leaf(self, joint: int) -> bool:
        return not any(p == joint for p in self.parent)

    def ancestors(self, joint: int) -> list[int]:
        """Parent, grandparent, ... up to the root."""
        out, j = [], self.parent[joint]
        while j >= 0:
            out.append(j)
            j = self.parent[j]
        return out


def hierarchy(rig: Rig, roots: Sequence[str] = ()) -> Hierarchy:
    """The rig's spanning forest; `roots`: chosen roots (unknown ids, and a second pick in a group, are ignored)."""
    return _hierarchy(rig, tuple(roots))


@lru_cache(maxsize=64)
def _hierarchy(rig: Rig, roots: tuple[str, ...]) -> Hierarchy:
    ids = rig.joint_ids
    index = {j: i for i, j in enumerate(ids)}
    adjacency: list[list[int]] = [[] for _ in ids]
    for a, b in rig.bone_joint_indices():
        adjacency[a].append(int(b))
        adjacency[b].append(int(a))
    rest = rig.rest_xy()
    chosen = [index[r] for r in roots if r in index]
    parent = [-1] * len(ids)
    order: list[int] = []
    root_list: list[int] = []
    seen: set[int] = set()
    for group in rig.components():
        members = sorted(index[j] for j in group)
        picks = [r for r in chosen if ids[r] in group]
        root = picks[0] if picks else central_joint(members, adjacency, rest)
        root_list.append(root)
        queue = deque([root])
        seen.add(root)
        while queue:
            j = queue.popleft()
            order.append(j)
            for k in adjacency[j]:
                if k not in seen:
                    seen.add(k)
                    parent[k] = j
                    queue.append(k)
    tree = {(min(j, p), max(j, p)) for j, p in enumerate(parent) if p >= 0}
    constraints, used = [], set()
    for a, b in rig.bone_joint_indices():
        pair = (min(int(a), int(b)), max(int(a), int(b)))
        if pair in tree and pair not in used:
            used.add(pair)  # a second bone over the same pair is a constraint like any other
            continue
        constraints.append((int(a), int(b)))
    return Hierarchy(ids, tuple(parent), tuple(order), tuple(root_list), tuple(constraints))


def anchored_roots(rig: Rig, still: Collection[str]) -> tuple[str, ...]:
    """Per subject holding joints that never move (`still`: no track, or keys all alike), the most central of them.

    Such a joint is where the subject turns about between keys: a shoulder that stays while the arm swings.
    """
    index = {j: i for i, j in enumerate(rig.joint_ids)}
    adjacency: list[list[int]] = [[] for _ in index]
    for a, b in rig.bone_joint_indices():
        adjacency[a].append(int(b))
        adjacency[b].append(int(a))
    rest, out = rig.rest_xy(), []
    for group in rig.components():
        candidates = sorted(index[j] for j in group if j in still)
        if candidates and len(candidates) < len(group):
            centroid = rest[sorted(index[j] for j in group)].mean(0)
            out.append(
                rig.joint_ids[
                    min(
                        candidates,
                        key=lambda j: (_eccentricity(j, adjacency), float(np.hypot(*(rest[j] - centroid))), j),
                    )
                ]
            )
    return tuple(out)


def central_joint(members: list[int], adjacency: list[list[int]], rest: np.ndarray) -> int:
    """The group's graph centre (least eccentricity in bones), ties to the joint nearest the rest centroid."""
    if len(members) == 1:
        return members[0]
    centroid = rest[members].mean(0)
    best, best_key = members[0], (math.inf, math.inf)
    for j in members:
        key = (_eccentricity(j, adjacency), float(np.hypot(*(rest[j] - centroid))))
        if key < best_key:
            best, best_key = j, key
    return best


def _eccentricity(start: int, adjacency: list[list[int]]) -> int:
    """Bones from `start` to the joint of its group farthest from it."""
    depth = {start: 0}
    queue = deque([start])
    while queue:
        j = queue.popleft()
        for k in adjacency[j]:
            if k not in depth:
                depth[k] = depth[j] + 1
                queue.append(k)
    return max(depth.values())


# -- local coordinates -----------------------------------------------------------------------------
def reference_angles(h: Hierarchy, pose: np.ndarray) -> np.ndarray:
    """For each joint the direction its children's angles are measured from: its own bone's, 0 for a root.

    `pose` is (..., J, 2); the result is (..., J).
    """
    out = np.zeros(pose.shape[:-1])
    for j in h.order:
        p = h.parent[j]
        if p >= 0:
            d = pose[..., j, :] - pose[..., p, :]
            out[..., j] = np.arctan2(d[..., 1], d[..., 0])
    return out


def to_local(h: Hierarchy, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(angle, length) of every joint against its parent, each (..., J); roots get 0 and 0."""
    ref = reference_angles(h, pose)
    angle, length = np.zeros(pose.shape[:-1]), np.zeros(pose.shape[:-1])
    for j in h.order:
        p = h.parent[j]
        if p >= 0:
            d = pose[..., j, :] - pose[..., p, :]
            angle[..., j] = np.arctan2(d[..., 1], d[..., 0]) - ref[..., p]
            length[..., j] = np.hypot(d[..., 0], d[..., 1])
    return angle, length


def place(h: Hierarchy, pose: np.ndarray, angle: np.ndarray, length: np.ndarray, joints: Collection[int]) -> np.ndarray:
    """`pose` with `joints` (each below a joint already placed) put back at their local coordinates, parents first."""
    out = pose.copy()
    todo = set(joints)
    for j in h.order:
        p = h.parent[j]
        if j in todo and p >= 0:
            pp = h.parent[p]
            ref = 0.0 if pp < 0 else math.atan2(out[p, 1] - out[pp, 1], out[p, 0] - out[pp, 0])
            a = ref + angle[j]
            out[j] = out[p] + length[j] * np.array([math.cos(a), math.sin(a)])
    return out


# -- forward kinematics ------------------------------------------------------------------------------
def translate_subtree(h: Hierarchy, pose: np.ndarray, joint: int, delta: Sequence[float]) -> np.ndarray:
    """`joint` and everything below it moved by `delta`."""
    out = pose.copy()
    out[h.subtree(joint)] += np.asarray(delta, dtype=np.float64)
    return out


def rotate_subtree(
    h: Hierarchy, pose: np.ndarray, joint: int, radians: float, pivot: Sequence[float] | None = None
) -> np.ndarray:
    """`joint` and everything below it turned by `radians` about `pivot` (default: its parent; a root about itself)."""
    if pivot is None:
        p = h.parent[joint]
        pivot = pose[p] if p >= 0 else pose[joint]
    centre = np.asarray(pivot, dtype=np.float64)
    c, s = math.cos(radians), math.sin(radians)
    rot = np.array([[c, -s], [s, c]])
    out = pose.copy()
    below = h.subtree(joint)
    out[below] = (pose[below] - centre) @ rot.T + centre
    return out


def aim(h: Hierarchy, pose: np.ndarray, joint: int, target: Sequence[float]) -> np.ndarray:
    """`joint` turned about its parent to point at `target`, carrying its subtree (a root is moved there instead)."""
    p = h.parent[joint]
    if p < 0:
        return translate_subtree(h, pose, joint, np.asarray(target, dtype=np.float64) - pose[joint])
    now, want = pose[joint] - pose[p], np.asarray(target, dtype=np.float64) - pose[p]
    if np.hypot(*want) < EPS:
        return pose.copy()
    turn = math.atan2(want[1], want[0]) - math.atan2(now[1], now[0])
    return rotate_subtree(h, pose, joint, turn)


# -- inverse kinematics ------------------------------------------------------------------------------
def ik_chain(
    h: Hierarchy, joint: int, pinned: Collection[int] = (), bones: int = 2, stop: int | None = None
) -> list[int]:
    """The chain an IK drag of `joint` bends: base first, up to `bones` bones (0: no limit), a pinned joint, `stop`
    or the root, whichever comes first."""
    chain = [joint]
    j = joint
    while h.parent[j] >= 0 and (bones <= 0 or len(chain) <= bones):
        j = h.parent[j]
        chain.append(j)
        if j in pinned or j == stop:
            break
    return chain[::-1]


def solve_chain(points: np.ndarray, target: Sequence[float], bend: float = 1.0) -> np.ndarray:
    """New positions for a chain (base first, base fixed) reaching for `target` with its bone lengths kept.

    Two bones: closed form, the middle joint on the `bend` side (+1 or -1: the sign of
    cross(end - base, middle - base)). Longer chains: FABRIK from the current shape.
    """
    points = np.asarray(points, dtype=np.float64)
    goal = np.asarray(target, dtype=np.float64)
    lengths = np.hypot(*np.diff(points, axis=0).T)
    if len(points) < 2:
        return points.copy()
    if len(points) == 2:
        return np.array([points[0], _toward(points[0], goal, lengths[0], points[1])])
    if len(points) == 3:
        return _two_bone(points, goal, lengths, bend)
    return _fabrik(points, goal, lengths)


def _toward(origin: np.ndarray, target: np.ndarray, length: float, fallback: np.ndarray) -> np.ndarray:
    d = target - origin
    n = np.hypot(*d)
    if n < EPS:
        d, n = fallback - origin, np.hypot(*(fallback - origin))
        if n < EPS:
            return origin.copy()
    return origin + d / n * length


def _two_bone(points: np.ndarray, target: np.ndarray, lengths: np.ndarray, bend: float) -> np.ndarray:
    base = points[0]
    l1, l2 = float(lengths[0]), float(lengths[1])
    to_target = target - base
    dist = float(np.hypot(*to_target))
    if dist < EPS:
        to_target, dist = points[2] - base, float(np.hypot(*(points[2] - base)))
        if dist < EPS:
            return points.copy()
    reach = float(np.clip(dist, abs(l1 - l2) + 1e-6, l1 + l2 - 1e-6)) if l1 > EPS and l2 > EPS else dist
    direction = to_target / dist
    if l1 < EPS:
        return np.array([base, base, base + direction * l2])
    cos_a = np.clip((l1 * l1 + reach * reach - l2 * l2) / (2 * l1 * reach), -1.0, 1.0)
    a = math.acos(cos_a) * (1.0 if bend >= 0 else -1.0)
    c, s = math.cos(a), math.sin(a)
    middle = base + l1 * np.array([c * direction[0] - s * direction[1], s * direction[0] + c * direction[1]])
    end = _toward(middle, base + direction * reach, l2, points[2])
    return np.array([base, middle, end])


def _fabrik(points: np.ndarray, target: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    p = points.copy()
    base = points[0].copy()
    if np.hypot(*(target - base)) >= lengths.sum():  # out of reach: straighten toward the target
        for i in range(1, len(p)):
            p[i] = _toward(p[i - 1], target, lengths[i - 1], p[i])
        return p
    for _ in range(FABRIK_ITERATIONS):
        p[-1] = target
        for i in range(len(p) - 2, -1, -1):
            p[i] = _toward(p[i + 1], p[i], lengths[i], p[i])
        p[0] = base
        for i in range(1, len(p)):
            p[i] = _toward(p[i - 1], p[i], lengths[i - 1], p[i])
        if np.hypot(*(p[-1] - target)) < FABRIK_TOLERANCE:
            break
    return p


def cross2(u: np.ndarray, v: np.ndarray) -> float:
    """The z of the cross product of two 2D vectors."""
    return float(u[0] * v[1] - u[1] * v[0])


def bend_side(rest: np.ndarray, chain: Sequence[int], pose: np.ndarray | None = None) -> float:
    """+1 or -1: the side of the base-end line the middle joint of a two-bone chain lies on at rest
    (the current pose decides where the rest pose is straight)."""
    for xy in (rest, pose):
        if xy is None:
            continue
        a, b, c = xy[chain[0]], xy[chain[1]], xy[chain[2]]
        cross = cross2(c - a, b - a)
        scale = float(np.hypot(*(b - a)) * np.hypot(*(c - b)))
        if abs(cross) > 1e-3 * max(scale, EPS):
            return 1.0 if cross > 0 else -1.0
    return 1.0


def ik_drag(
    h: Hierarchy,
    pose: np.ndarray,
    rest: np.ndarray,
    joint: int,
    target: Sequence[float],
    pinned: Collection[int] = (),
    bones: int = 2,
) -> np.ndarray:
    """`joint` pulled toward `target` by bending the chain above it; joints below the chain follow rigidly."""
    chain = ik_chain(h, joint, pinned, bones)
    if len(chain) < 2:
        return translate_subtree(h, pose, joint, np.asarray(target, dtype=np.float64) - pose[joint])
    return _pose_chain(h, pose, chain, solve_chain(pose[chain], target, _bend(rest, pose, chain)))


def _bend(rest: np.ndarray, pose: np.ndarray, chain: list[int]) -> float:
    return bend_side(rest, chain, pose) if len(chain) == 3 else 1.0


def _pose_chain(h: Hierarchy, pose: np.ndarray, chain: list[int], solved: np.ndarray) -> np.ndarray:
    """`pose` with the chain's joints at `solved` and every other joint below the chain's base carried along."""
    angle, length = to_local(h, pose)
    out = pose.copy()
    out[chain] = solved
    on_chain = set(chain)
    return place(h, out, angle, length, [j for j in h.subtree(chain[0]) if j not in on_chain])


def hold_pins(
    h: Hierarchy,
    before: np.ndarray,
    after: np.ndarray,
    rest: np.ndarray,
    pinned: Collection[int],
    anchor: int,
    bones: int = 2,
) -> np.ndarray:
    """`after` with each pinned joint below `anchor` that moved pulled back where it was, bending the chain above
    it (not above `anchor`): a planted foot stays while the hips move."""
    out = after
    below = set(h.subtree(anchor))
    for pin in pinned:
        if pin == anchor or pin not in below or np.hypot(*(out[pin] - before[pin])) < 1e-6:
            continue
        chain = ik_chain(h, pin, (), bones, stop=anchor)
        if len(chain) >= 2:
            out = _pose_chain(h, out, chain, solve_chain(out[chain], before[pin], _bend(rest, out, chain)))
    return out


def relax_constraints(
    h: Hierarchy, pose: np.ndarray, lengths: dict[tuple[int, int], float], free: Collection[int]
) -> np.ndarray:
    """Bones outside the tree (cycles) pulled back to `lengths` by moving only `free` joints, tree bones kept too.

    Position-based relaxation: each pass moves the two ends of every bone (the free ones) toward its length.
    """
    free = set(free)
    if not h.constraints or not free:
        return pose
    pairs = [(j, p) for j, p in enumerate(h.parent) if p >= 0] + list(h.constraints)
    out = pose.copy()
    for _ in range(RELAX_ITERATIONS):
        for a, b in pairs:
            fa, fb = a in free, b in free
            if not (fa or fb):
                continue
            want = lengths.get((a, b), lengths.get((b, a)))
            if want is None:
                continue
            d = out[b] - out[a]
            n = float(np.hypot(*d))
            if n < EPS:
                continue
            fix = (n - want) / n * d
            if fa and fb:
                out[a] += fix / 2
                out[b] -= fix / 2
            elif fa:
                out[a] += fix
            else:
                out[b] -= fix
    return out


def bone_lengths(h: Hierarchy, pose: np.ndarray) -> dict[tuple[int, int], float]:
    """Length of every tree bone and constraint in `pose`, by joint index pair."""
    pairs = [(p, j) for j, p in enumerate(h.parent) if p >= 0] + list(h.constraints)
    return {(a, b): float(np.hypot(*(pose[b] - pose[a]))) for a, b in pairs}


# -- what a drag does ----------------------------------------------------------------------------------
DRAG_MODES = ("auto", "rotate", "translate", "ik")


def drag_mode(h: Hierarchy, joint: int) -> str:
    """What a plain drag of `joint` does: a root translates its subject, an end joint pulls by IK, others rotate."""
    if h.parent[joint] < 0:
        return "translate"
    return "ik" if h.is_leaf(joint) else "rotate"


def pose_drag(
    h: Hierarchy,
    pose: np.ndarray,
    rest: np.ndarray,
    joint: int,
    target: Sequence[float],
    mode: str = "auto",
    pinned: Collection[int] = (),
    bones: int = 2,
) -> np.ndarray:
    """The pose after dragging `joint` to `target`: rotate (aim about the parent), translate (the subtree), ik, or
    auto (by `drag_mode`); pinned joints stay put and cycle bones keep their lengths."""
    mode = drag_mode(h, joint) if mode == "auto" else mode
    if mode == "ik":
        after = ik_drag(h, pose, rest, joint, target, pinned, bones)
    elif mode == "translate":
        after = translate_subtree(h, pose, joint, np.asarray(target, dtype=np.float64) - pose[joint])
    else:
        after = aim(h, pose, joint, target)
    return settle(h, pose, after, rest, joint, pinned, bones)


def settle(
    h: Hierarchy,
    before: np.ndarray,
    after: np.ndarray,
    rest: np.ndarray,
    joint: int,
    pinned: Collection[int] = (),
    bones: int = 2,
) -> np.ndarray:
    """After an FK or IK move of `joint`: pinned joints pulled back, then cycle bones relaxed to their lengths."""
    pinned = set(pinned)
    out = hold_pins(h, before, after, rest, pinned, joint, bones)
    if h.constraints:
        moved = np.flatnonzero(np.hypot(*(out - before).T) > 1e-9)
        free = {int(j) for j in moved} - pinned - {joint}
        out = relax_constraints(h, out, bone_lengths(h, before), free)
    return out


# -- interpolation that turns limbs -------------------------------------------------------------------
def sample_rotation(
    h: Hierarchy, rest: np.ndarray, tracks: Mapping[str, Track], t: np.ndarray, loop: tuple[int, int] | None = None
) -> np.ndarray:
    """Joint positions (N, J, 2) at times `t`, each joint following its bone's angle and length between its keys.

    Roots interpolate their positions. Every other keyed joint has, at each of its own keys, a local angle
    (against its parent's bone at that frame, parents evaluated first) and a length; the angles are unwrapped
    (the shortest turn between keys) and angle and length are interpolated by the keys' step/linear/smooth rules.
    A joint with no track stays at its rest position. A loop cuts and closes each joint's keys (`closed_loop`).
    """
    return rotation_sample(h, rest, tracks, t, loop).positions


@dataclass(frozen=True)
class RotationSample:
    """What `rotation_sample` worked out (read-only): the positions (N, J, 2) and, to reuse in the next sample of
    the same times, its inputs and per-joint arrays on the key-time grid."""

    positions: np.ndarray
    h: Hierarchy
    rest: np.ndarray
    loop: tuple[int, int] | None
    t: np.ndarray
    grid: np.ndarray
    world: np.ndarray
    data: np.ndarray
    ref: np.ndarray
    tracks: tuple[Track | None, ...]


def rotation_sample(
    h: Hierarchy,
    rest: np.ndarray,
    tracks: Mapping[str, Track],
    t: np.ndarray,
    loop: tuple[int, int] | None = None,
    previous: RotationSample | None = None,
) -> RotationSample:
    """`sample_rotation`, keeping its work; with `previous` (a sample of the same times, hierarchy, rest pose and
    loop) a joint whose keys and whose ancestors' keys are unchanged is copied from it, not sampled again: a drag
    re-keys a few joints on every move, and the canvas samples the playhead frame after each."""
    t = np.asarray(t, dtype=np.float64)
    played = looped_times(t, loop)
    keyed = [tr for tr in tracks.values() if tr]
    extra = [np.array([float(loop[0])])] if loop else []
    grid = np.unique(np.concatenate([played, *[tr.times for tr in keyed], *extra]))
    world = np.repeat(rest[None], len(grid), axis=0)  # (G, J, 2)
    data = world.copy()  # the same, except at each joint's own keys: the key's position as the file holds it
    ref = np.zeros((2, len(grid), len(h.joint_ids)))  # each joint's own bone direction on the grid: played, data
    joint_tracks = [tracks.get(joint_id) for joint_id in h.joint_ids]
    same = _unchanged_joints(previous, h, rest, joint_tracks, t, grid, loop)
    for level in _levels(h):  # a level's joints hang from joints placed already: sampled together
        groups: dict[tuple, list[int]] = {}
        for j in level:
            p, track = h.parent[j], joint_tracks[j]
            if not track or same[j]:
                continue
            if p < 0:
                world[:, j] = sample_values(*closed_loop(track.times, track.values, track.interps, loop), grid)
                continue
            parent_track = joint_tracks[p]
            frames = track.frames
            if parent_track:
                parent_frames = set(parent_track.frames)
                fixed = tuple(f in parent_frames for f in frames)
            else:
                fixed = (True,) * len(frames)
            groups.setdefault((frames, track.interps, fixed), []).append(j)
        keyed_here = []  # (key rows on the grid, joints, their key values (K, n, 2)) of this level
        for (_frames, interps, fixed), joints in groups.items():
            grouped = [jt for jt in (joint_tracks[j] for j in joints) if jt is not None]  # each grouped joint has one
            values = np.stack([jt.values for jt in grouped], axis=1)  # (K, n, 2)
            times = grouped[0].times
            world[:, joints] = _turned(
                world,
                data,
                ref,
                [h.parent[j] for j in joints],
                times,
                values,
                list(interps),
                grid,
                loop,
                np.array(fixed, bool),
            )
            keyed_here.append((np.searchsorted(grid, times), joints, values))
        data[:, level] = world[:, level]
        for j in level:
            root_track = joint_tracks[j]
            if h.parent[j] < 0 and root_track and not same[j]:
                keyed_here.append((np.searchsorted(grid, root_track.times), [j], root_track.values[:, None]))
        for at, joints, values in keyed_here:
            data[at[:, None], joints] = values
        children = [j for j in level if h.parent[j] >= 0]
        if children:
            parents = [h.parent[j] for j in children]
            for i, xy in enumerate((world, data)):
                d = xy[:, children] - xy[:, parents]
                ref[i][:, children] = np.arctan2(d[..., 1], d[..., 0])
        kept = [j for j in level if same[j]]
        if kept and previous is not None:  # as sampled before: its keys and its ancestors' are the same
            world[:, kept], data[:, kept], ref[:, :, kept] = (
                previous.world[:, kept],
                previous.data[:, kept],
                previous.ref[:, :, kept],
            )
    for array in (world, data, ref):
        array.setflags(write=False)
    positions = world[np.searchsorted(grid, played)]
    return RotationSample(positions, h, rest, loop, t, grid, world, data, ref, tuple(joint_tracks))


def _unchanged_joints(
    previous: RotationSample | None,
    h: Hierarchy,
    rest: np.ndarray,
    joint_tracks: list[Track | None],
    t: np.ndarray,
    grid: np.ndarray,
    loop: tuple[int, int] | None,
) -> list[bool]:
    """Per joint: whether `previous` sampled it from the same keys, its ancestors too, on the same grid."""
    n = len(joint_tracks)
    if (
        previous is None
        or previous.h is not h
        or previous.loop != loop
        or not np.array_equal(previous.t, t)
        or not np.array_equal(previous.grid, grid)
        or not np.array_equal(previous.rest, rest)
    ):
        return [False] * n
    same = [False] * n
    for j in h.order:  # parents first
        p = h.parent[j]
        same[j] = (p < 0 or same[p]) and _same_keys(joint_tracks[j], previous.tracks[j])
    return same


def _same_keys(a: Track | None, b: Track | None) -> bool:
    """Whether two tracks hold the same keys (a drag re-keys a joint that stayed with the same value)."""
    if a is b:
        return True
    if not a or not b:
        return not a and not b
    return a.frames == b.frames and a.interps == b.interps and np.array_equal(a.values, b.values)


@lru_cache(maxsize=64)
def _levels(h: Hierarchy) -> list[list[int]]:
    """Joints by their number of bones from the root, nearest first (cached: one hierarchy serves every sample)."""
    depth: dict[int, int] = {}
    for j in h.order:
        depth[j] = depth[h.parent[j]] + 1 if h.parent[j] >= 0 else 0
    out: list[list[int]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for j in h.order:
        out[depth[j]].append(j)
    return out


def _closed_angles(
    times: np.ndarray, local: np.ndarray, interps: list[str], loop: tuple[int, int] | None, angles: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """`closed_loop` for keys whose first `angles` columns are angles: the closing key turns the short way."""
    times, local, interps = closed_loop(times, local, interps, loop)
    if loop is not None and len(local) > 1:
        step = local[-1, :angles] - local[-2, :angles]
        local[-1, :angles] = local[-2, :angles] + (step + math.pi) % (2 * math.pi) - math.pi
    return times, local, interps


def _turned(
    world: np.ndarray,
    data: np.ndarray,
    ref: np.ndarray,
    parents: list[int],
    times: np.ndarray,
    values: np.ndarray,
    interps: list[str],
    grid: np.ndarray,
    loop: tuple[int, int] | None,
    fixed: np.ndarray,
) -> np.ndarray:
    """Child joints' positions on the grid, (G, n, 2), from their keys (`values` (K, n, 2), all at `times` with the
    same `interps`) read as (angle, length) against their `parents`.

    The angle comes from every key; the length from the keys at frames where the parent's position is data too
    (`fixed`: it has a key there, or no track), since against an interpolated parent a key's distance is not its
    bone's length. Where no key is at such a frame, every key gives the length.
    """
    n = len(parents)
    at = np.searchsorted(grid, times)
    d = values - data[at][:, parents]  # (K, n, 2)
    angle = np.arctan2(d[..., 1], d[..., 0]) - ref[1][at][:, parents]
    turns = (np.diff(angle, axis=0) + math.pi) % (2 * math.pi) - math.pi  # the shortest way between keys
    angle = angle[:1] + np.concatenate([np.zeros((1, n)), np.cumsum(turns, axis=0)])
    length = np.hypot(d[..., 0], d[..., 1])
    if fixed.all() or not fixed.any():  # one curve for both (the common case: parent keyed alike)
        sampled = sample_values(*_closed_angles(times, np.hstack([angle, length]), interps, loop, n), grid)
        a, bone = sampled[:, :n], sampled[:, n:]
    else:
        a = sample_values(*_closed_angles(times, angle, interps, loop, n), grid)
        keep = [i for i, k in zip(interps, fixed, strict=True) if k]
        bone = sample_values(*closed_loop(times[fixed], length[fixed], keep, loop), grid)
    a = a + ref[0][:, parents]
    out = world[:, parents] + bone[..., None] * np.stack([np.cos(a), np.sin(a)], axis=-1)
    same = np.abs(world[at][:, parents] - data[at][:, parents]).max(-1) < 1e-9  # (K, n)
    exact = same & fixed[:, None] & (times < (loop[1] if loop else np.inf))[:, None]
    ks, js = np.nonzero(exact)
    out[at[ks], js] = values[ks, js]  # where a key is reproduced anyway, it is reproduced to the bit
    return out
