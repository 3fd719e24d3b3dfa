"""How the mesh hangs on the rig: which vertices their bone holds rigidly, which bend (ARAP) near joints."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from poseanything_studio.core.raster import clip_far
from poseanything_studio.core.rig import Rig

from .geometry import R90


@dataclass(frozen=True)
class Binding:
    """Which mesh vertices their part's bone holds rigidly, and which bend freely (ARAP) near joints.

    AnimatedDrawings pins its mesh at the joints only, and ARAP carries everything between them: a
    torso's corner goes along with an arm held out from it. Here every vertex of one part, away
    from the joints where its bone bends and from the boundaries where it is joined to another
    part, moves with its bone as a similarity (its place along and across the bone is kept), so
    an unmoved part keeps its pixels exactly and a moved one stays rigid; ARAP bends only the
    bands round joints and joined boundaries, which stretch as skin does.
    """

    vertices: np.ndarray  # (V, 2) rest positions
    part: np.ndarray  # (V,) the bone whose part a vertex is; -1 where it joins several parts
    touching: np.ndarray  # (V, 2) the lowest and the highest bone whose part's triangles use the vertex
    free: np.ndarray  # (V,) bool: in a band round a bending joint or a joined boundary
    ends: np.ndarray  # (B, 2) joint indices of each bone
    rest_xy: np.ndarray  # (J, 2)

    @staticmethod
    def of(
        vertices: np.ndarray,
        triangles: np.ndarray,
        tri_part: np.ndarray,
        rig: Rig,
        rest_xy: np.ndarray,
        radii: np.ndarray,
        spacing: float,
        creases: frozenset[tuple[int, int]] = frozenset(),
    ) -> Binding:
        """The binding of a cut mesh (`tri_part` per triangle) to `rig` at `rest_xy`; `radii` (B,) bone thickness,
        `creases` the chains the motion opens wide (cuts.opening_creases).

        The band round a joined boundary lies on the thinner part's side (both sides where the two
        are about as thick) and is about as wide as that part is thick, between one and two
        spacings: an arm bends at its root, the torso it leaves holds still. `_bending_sides` says
        where the thicker side bends too."""
        n = len(vertices)
        corner_vertex, corner_part = triangles.ravel(), np.repeat(tri_part, 3)
        lo, hi = np.full(n, np.iinfo(np.int64).max), np.full(n, -1)
        np.minimum.at(lo, corner_vertex, corner_part)
        np.maximum.at(hi, corner_vertex, corner_part)
        part = np.where(lo == hi, hi, -1)
        free = part < 0
        shared = np.flatnonzero((part < 0) & (hi >= 0))
        ends, far = rig.bone_joint_indices(), clip_far(rest_xy)
        if len(shared) and len(radii):
            r_lo, r_hi = radii[lo[shared]], radii[hi[shared]]
            width = np.clip(1.5 * np.minimum(r_lo, r_hi), spacing, 2 * spacing)
            near = cKDTree(vertices).query_ball_point(vertices[shared], width)
            counts = [len(v) for v in near]
            centre, band = np.repeat(shared, counts), np.repeat(width, counts)
            vertex = np.fromiter((v for group in near for v in group), np.int64, len(centre))
            length = np.hypot(*(far[ends[:, 1]] - far[ends[:, 0]]).T)
            collars = _collar_creases(ends, creases)
            lo_bends, hi_bends = _bending_sides(lo[centre], hi[centre], radii, length, band, collars)
            bends = ((part[vertex] == lo[centre]) & lo_bends) | ((part[vertex] == hi[centre]) & hi_bends)
            free[vertex[bends]] = True
        return Binding(vertices, part, np.stack([np.where(hi >= 0, lo, -1), hi], 1), free, ends, far)

    def _on_its_bones(self, pin_vertex: np.ndarray, pin_weights: sp.csr_matrix, pin_bone: np.ndarray) -> np.ndarray:
        """(P,) bool: whether each pin's vertex is on a part of the pin's bone (a joint's: of a bone at that joint)."""
        lo, hi = self.touching[pin_vertex].T
        if not len(self.ends):
            return np.ones(len(pin_vertex), bool)
        bones = len(self.ends)
        known = (lo >= 0) & (lo < bones) & (hi >= 0) & (hi < bones)
        lo_c, hi_c = np.clip(lo, 0, bones - 1), np.clip(hi, 0, bones - 1)
        joint = np.asarray(pin_weights.argmax(axis=1)).ravel()  # a joint pin's one joint
        at_joint = (self.ends[lo_c] == joint[:, None]).any(1) | (self.ends[hi_c] == joint[:, None]).any(1)
        on_bone = (lo == pin_bone) | (hi == pin_bone)
        return ~known | np.where(pin_bone < 0, at_joint, on_bone)

    def pins(
        self, pin_vertex: np.ndarray, pin_weights: sp.csr_matrix, pin_bone: np.ndarray
    ) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
        """Pin vertices with their weights along (P, J) and across (P, J) bones: the joints and the bone pins lying
        on their own bones' parts, and every held vertex. A joint on another bone's part (a hind leg's knee
        placed on the edge of the leg drawn in front of it) does not hold that part's vertex: the front leg
        lifted would tear there."""
        own = self._on_its_bones(pin_vertex, pin_weights, pin_bone)
        pin_vertex, pin_weights = pin_vertex[own], pin_weights[own]
        held = ~self.free & (self.part >= 0) & (self.part < len(self.ends))  # a rig of lone joints: no bone holds
        held[pin_vertex] = False
        rows = np.flatnonzero(held)
        a, b = self.ends[self.part[rows]].T if len(rows) else (np.zeros(0, np.int64),) * 2
        d = self.rest_xy[b] - self.rest_xy[a]
        length2 = (d * d).sum(1)
        ok = length2 > 1e-6  # a bone of no length has no direction to hold a vertex by
        rows, a, b, d, length2 = rows[ok], a[ok], b[ok], d[ok], length2[ok]
        offset = self.vertices[rows] - self.rest_xy[a]
        t = (offset * d).sum(1) / length2
        u = (offset * (d @ R90.T)).sum(1) / length2
        joints = pin_weights.shape[1]
        k = np.arange(len(rows))
        along = sp.csr_matrix(
            (np.concatenate([1 - t, t]), (np.concatenate([k, k]), np.concatenate([a, b]))), shape=(len(rows), joints)
        )
        across = sp.csr_matrix(
            (np.concatenate([-u, u]), (np.concatenate([k, k]), np.concatenate([a, b]))), shape=(len(rows), joints)
        )
        return (
            np.concatenate([pin_vertex, rows]),
            sp.vstack([pin_weights, along]).tocsr(),
            sp.vstack([sp.csr_matrix(pin_weights.shape), across]).tocsr(),
        )


def _bending_sides(
    a: np.ndarray, b: np.ndarray, radii: np.ndarray, length: np.ndarray, band: np.ndarray, both: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For joined parts' bones `a` < `b` (K,) with bands `band` (K,) px wide: (a's side bends, b's side bends).

    The thinner part bends (both where they are about as thick), and the thicker one too where the thinner
    bone is shorter than the band is wide (a forearm the helmet hides but for 13 px would hold the elbow's
    whole bend in a few triangles: 1.8x stretched in the astronaut's Wave) or where (a, b) is a crease the
    motion opens wide past a collar or hip bone, `both` (M, 2) (the collar's shoulder cap turns partway with the
    raised arm instead of holding the arm's outer side where it was)."""
    a_bends = radii[a] <= 1.25 * radii[b]
    b_bends = radii[b] <= 1.25 * radii[a]
    short = (a_bends & (length[a] < band)) | (b_bends & (length[b] < band))
    crease = (a[:, None] == both[:, 0]) & (b[:, None] == both[:, 1])
    either = short | crease.any(1)
    return a_bends | either, b_bends | either


def _collar_creases(ends: np.ndarray, creases: frozenset[tuple[int, int]]) -> np.ndarray:
    """(M, 2) the `creases` whose first bone leads only to the second (a collar bone to its arm, a hip bone to its
    leg; not a spine branching into arms and head), each pair sorted."""
    degree = np.bincount(ends.ravel(), minlength=int(ends.max(initial=-1)) + 1)
    kept = [sorted(pair) for pair in creases if degree[ends[pair[0], 1]] == 2]
    return np.array(kept, np.int64).reshape(-1, 2)
