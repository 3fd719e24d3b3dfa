"""Igarashi's two-step as-rigid-as-possible solve, factorised once per mesh and pins."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from .geometry import R90

_REGULARISE = 1e-6  # pulls vertices no pin reaches back to rest, so every system is solvable


class ArapSolver:
    """Vertex positions for pinned vertices placed anywhere, as rigid per triangle as the pins allow.

    Both steps are sparse linear systems whose matrices depend only on the mesh and which vertices
    are pinned: they are factorised here, once, so a solve is two back-substitutions.
    """

    def __init__(self, vertices: np.ndarray, triangles: np.ndarray, pin_vertex: np.ndarray):
        self.vertices = vertices  # (N, 2) rest positions
        self.triangles = triangles  # (T, 3) vertex indices
        self.pin_vertex = pin_vertex  # (P,) the pinned vertices, in the order `solve` takes their positions
        n = len(vertices)
        pinned = np.zeros(n, bool)
        pinned[pin_vertex] = True
        self._free = np.flatnonzero(~pinned)
        # Step 1, similarity: each vertex of a triangle expressed in the frame of its other two.
        free2 = np.concatenate([2 * self._free, 2 * self._free + 1])
        pin2 = np.concatenate([2 * pin_vertex, 2 * pin_vertex + 1])
        a1 = _similarity_matrix(vertices, triangles).tocsc()  # (6T, 2N)
        a_free, a_pin = a1[:, free2], a1[:, pin2]
        reg = _REGULARISE * sp.identity(len(free2))
        self._step1 = splu((a_free.T @ a_free + reg).tocsc())
        self._step1_pin = (a_free.T @ a_pin).tocsr()
        rest2 = np.empty(2 * n)
        rest2[0::2], rest2[1::2] = vertices[:, 0], vertices[:, 1]
        self._step1_rest = _REGULARISE * rest2[free2]
        # Step 2, rigidity: edges of each triangle rotated rest edges, solved for x and y alike.
        edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])  # (3T, 2)
        e = len(edges)
        rows = np.repeat(np.arange(e), 2)
        d = sp.csc_matrix((np.tile([-1.0, 1.0], e), (rows, edges.ravel())), shape=(e, n))
        d_free, d_pin = d[:, self._free], d[:, pin_vertex]
        self._step2 = splu((d_free.T @ d_free + _REGULARISE * sp.identity(len(self._free))).tocsc())
        self._step2_pin = (d_free.T @ d_pin).tocsr()
        self._step2_edges = d_free.T.tocsr()
        self._step2_rest = _REGULARISE * vertices[self._free]
        self._rest_edges = vertices[edges[:, 1]] - vertices[edges[:, 0]]

    def solve(self, pins: np.ndarray) -> np.ndarray:
        """Vertex positions (N, 2) with the pinned vertices at `pins` (P, 2)."""
        n, free = len(self.vertices), len(self._free)
        pins2 = np.concatenate([pins[:, 0], pins[:, 1]])  # x of every pin, then y, as the step 1 columns
        solved = self._step1.solve(self._step1_rest - self._step1_pin @ pins2)
        step1 = np.empty((n, 2))
        step1[self._free] = np.stack([solved[:free], solved[free:]], axis=1)
        step1[self.pin_vertex] = pins
        # Fit each triangle's rotation to step 1, then solve for positions matching rotated rest edges.
        rotations = _triangle_rotations(self.vertices, step1, self.triangles)  # (T, 2, 2)
        rot_e = np.concatenate([rotations] * 3)  # edges are stacked [01; 12; 20] per triangle
        target = np.einsum("eij,ej->ei", rot_e, self._rest_edges)
        rhs = self._step2_edges @ target - self._step2_pin @ pins + self._step2_rest
        out = np.empty((n, 2))
        out[self._free] = self._step2.solve(rhs)
        out[self.pin_vertex] = pins
        return out


def _similarity_matrix(vertices: np.ndarray, triangles: np.ndarray) -> sp.csr_matrix:
    """Igarashi step 1: rows r = v_k - v_i - x (v_j - v_i) - y R90 (v_j - v_i) for each corner, (6T, 2N)."""
    rows, cols, vals = [], [], []
    row = 0
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        vi, vj, vk = (vertices[triangles[:, c]] for c in (i, j, k))
        e = vj - vi
        rel = vk - vi
        length2 = np.maximum((e * e).sum(1), 1e-12)
        x = (rel * e).sum(1) / length2
        y = (rel * (e @ R90.T)).sum(1) / length2
        t = len(triangles)
        # coefficients (2x2 blocks) on v_i, v_j, v_k
        eye = np.eye(2)[None]
        ci = -(1 - x)[:, None, None] * eye + y[:, None, None] * R90[None]
        cj = -x[:, None, None] * eye - y[:, None, None] * R90[None]
        ck = np.broadcast_to(eye, (t, 2, 2))
        for coef, corner in ((ci, i), (cj, j), (ck, k)):
            v = triangles[:, corner]
            for r in range(2):
                for c in range(2):
                    rows.append(row + 2 * np.arange(t) + r)
                    cols.append(2 * v + c)
                    vals.append(coef[:, r, c])
        row += 2 * t
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(row, 2 * len(vertices))
    )


def _triangle_rotations(rest: np.ndarray, moved: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """The rotation (T, 2, 2) that best turns each rest triangle onto its moved one."""
    p = rest[triangles] - rest[triangles].mean(1, keepdims=True)  # (T, 3, 2)
    q = moved[triangles] - moved[triangles].mean(1, keepdims=True)
    dot = (p * q).sum((1, 2))
    cross = (p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]).sum(1)
    angle = np.arctan2(cross, dot)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
