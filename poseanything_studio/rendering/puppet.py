"""The CPU puppet renderer: the subject as a triangle mesh, deformed as-rigid-as-possible by its bones.

Why ARAP (Igarashi et al. 2005, the two-step closed form), as AnimatedDrawings does: linear blend
skinning needs per-vertex weights and folds at joints; MLS warps the background with the subject.
ARAP keeps every triangle as rigid as the pins allow, so bodies bend at joints and nowhere else.
Pins are the joints plus points sampled along each bone, so limbs stay straight instead of bending
like rubber between their ends. Both ARAP steps are sparse linear systems whose matrices depend only
on the mesh and which vertices are pinned: we factorise them once per rig, and a frame costs two
back-substitutions. Rasterising is one `cv2.remap` over a per-pixel map built from the deformed
triangles (a second, for the triangles another part covers, where parts cross); the background the
subject uncovers is filled by scikit-image's biharmonic inpaint once per picture and mask.

Each pixel of the subject belongs to one bone's part: seeded near each bone by the pixels nearest
it in units of its thickness, flooded through the subject over the picture's edges (`_part_map`).
Every vertex away from a joined boundary moves rigidly with its part's bone (`_Binding`), so what
does not move keeps its pixels and ARAP bends only the bands where parts join. Parts that touch in
the picture but not in the rig move apart cleanly: the mesh is cut along the boundary between two
parts (vertices on it get one copy per side) except where the rig joins them: near a joint they
share (or the ends of one bone between them), and beyond it where their bones leave that joint in
clearly different directions (`_CutRule`). Gaps of background between parts are always cut. Each
bone's `depth` orders the parts where they overlap. docs/puppet.md compares this with AnimatedDrawings.

    mesh = PuppetMesh.build(rgba, mask, rig, rest_xy)        # once per rig (0.1-0.5 s)
    frame = mesh.render(posed_xy, camera_params)             # per frame (a few ms)
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import splu
from scipy.spatial import Delaunay, QhullError, cKDTree
from skimage.segmentation import watershed

from ..core.camera import camera_matrix, invert_affine
from ..core.raster import clip_far
from ..core.rig import Rig
from .events import Frame, Progress, RenderError, RenderEvent, check_cancel

_R90 = np.array([[0.0, -1.0], [1.0, 0.0]])
_REGULARISE = 1e-6  # pulls vertices no pin reaches back to rest, so every system is solvable
_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # the camera at rest, as a 2x3 affine


@dataclass(frozen=True)
class MeshLayout:
    """Vertex spacing in pixels for a frame of a given size."""

    spacing: float

    @staticmethod
    def for_size(size: tuple[int, int]) -> MeshLayout:
        return MeshLayout(spacing=max(6.0, min(size) / 40.0))


class PuppetMesh:
    """A subject's mesh with its pins and the two factorised ARAP systems."""

    def __init__(self, background: np.ndarray, subject: np.ndarray, vertices: np.ndarray,
                 triangles: np.ndarray, pin_vertex: np.ndarray, pin_weights: sp.csr_matrix, rig: Rig,
                 triangle_part: np.ndarray | None = None, pin_normal: sp.csr_matrix | None = None):
        self.background = background  # (H, W, 3) uint8: the picture with the subject filled in
        self.subject = subject  # (H, W, 4) uint8: the picture with the subject mask as alpha
        self.vertices = vertices  # (N, 2) rest positions
        self.triangles = triangles  # (T, 3) vertex indices
        self.pin_vertex = pin_vertex  # (P,) vertex index of each pin
        self.pin_weights = pin_weights  # (P, J) sparse: pin position = pin_weights @ joints + across its bone:
        # (P, J) sparse: the share of the bone's perpendicular, pin += (pin_normal @ joints) @ R90.T
        self.pin_normal = sp.csr_matrix(pin_weights.shape) if pin_normal is None else pin_normal
        self.rig = rig
        # (T,) the bone whose part each triangle is (draw order follows it; crossing parts composite in layers)
        self.triangle_part = np.zeros(len(triangles), np.int64) if triangle_part is None else triangle_part
        self.size = (background.shape[1], background.shape[0])
        self._factorise()

    # -- building -------------------------------------------------------------------------------
    @staticmethod
    def build(rgba: np.ndarray, mask: np.ndarray, rig: Rig, rest_xy: np.ndarray,
              layout: MeshLayout | None = None) -> PuppetMesh:
        """Mesh the subject of `rgba` (output size) under `mask`, pinned to `rig` at `rest_xy` (J, 2)."""
        size = (rgba.shape[1], rgba.shape[0])
        layout = layout or MeshLayout.for_size(size)
        pin_xy, pin_weights, pin_bone = _pins(rig, rest_xy, layout.spacing, size)
        covered = _covered(mask, layout.spacing)
        nearest = _part_map(mask, rig, rest_xy, rgba[..., :3])
        rule = _CutRule.of(rig, rest_xy, mask, covered, layout.spacing)
        cuts = _cut_points(np.where(covered > 0, nearest, -1), rule, layout.spacing)
        vertices, triangles = _mesh(covered, pin_xy, cuts, layout.spacing)
        tri_part = nearest[_pixel(vertices[triangles].mean(1), covered.shape)]
        vertices, triangles, origin = _cut_mesh(vertices, triangles, tri_part, len(pin_xy), rule)
        # Pins are the first len(pin_xy) points (each with its copies on either side of a cut); drop
        # vertices no kept triangle uses.
        used = np.zeros(len(vertices), bool)
        used[triangles.ravel()] = True
        remap = np.cumsum(used) - 1
        pin_rows = np.flatnonzero(used & (origin < len(pin_xy)))
        vertices, triangles = vertices[used], remap[triangles]
        radii = bone_radii(covered > 0, rig, rest_xy)
        binding = _Binding.of(vertices, triangles, tri_part, rig, rest_xy, radii, layout.spacing)
        pin_vertex, pin_weights, pin_normal = binding.pins(remap[pin_rows], pin_weights[origin[pin_rows]],
                                                           pin_bone[origin[pin_rows]])
        order = _draw_order(tri_part, rig)
        alpha = _feathered_alpha(mask)
        subject = np.dstack([rgba[..., :3], alpha])
        return PuppetMesh(fill_background(rgba[..., :3], mask), subject, vertices, triangles[order], pin_vertex,
                          pin_weights, rig, tri_part[order], pin_normal)

    def _factorise(self) -> None:
        n = len(self.vertices)
        pinned = np.zeros(n, bool)
        pinned[self.pin_vertex] = True
        self._free = np.flatnonzero(~pinned)
        # Step 1, similarity: each vertex of a triangle expressed in the frame of its other two.
        a1 = _similarity_matrix(self.vertices, self.triangles)  # (6T, 2N)
        free2 = np.concatenate([2 * self._free, 2 * self._free + 1])
        pin2 = np.concatenate([2 * self.pin_vertex, 2 * self.pin_vertex + 1])
        self._free2, self._pin2 = free2, pin2
        a1 = a1.tocsc()
        a_free, a_pin = a1[:, free2], a1[:, pin2]
        reg = _REGULARISE * sp.identity(len(free2))
        self._step1 = splu((a_free.T @ a_free + reg).tocsc())
        self._step1_pin = (a_free.T @ a_pin).tocsr()
        rest2 = np.empty(2 * n)
        rest2[0::2], rest2[1::2] = self.vertices[:, 0], self.vertices[:, 1]
        self._step1_rest = _REGULARISE * rest2[free2]
        # Step 2, rigidity: edges of each triangle rotated rest edges, solved for x and y alike.
        self._edges = np.concatenate([self.triangles[:, [0, 1]], self.triangles[:, [1, 2]],
                                      self.triangles[:, [2, 0]]])  # (3T, 2)
        e = len(self._edges)
        rows = np.repeat(np.arange(e), 2)
        d = sp.csc_matrix((np.tile([-1.0, 1.0], e), (rows, self._edges.ravel())), shape=(e, n))
        d_free, d_pin = d[:, self._free], d[:, self.pin_vertex]
        self._step2 = splu((d_free.T @ d_free + _REGULARISE * sp.identity(len(self._free))).tocsc())
        self._step2_pin = (d_free.T @ d_pin).tocsr()
        self._step2_edges = d_free.T.tocsr()
        self._step2_rest = _REGULARISE * self.vertices[self._free]
        self._rest_edges = self.vertices[self._edges[:, 1]] - self.vertices[self._edges[:, 0]]

    # -- per frame ------------------------------------------------------------------------------
    def deform(self, joint_xy: np.ndarray) -> np.ndarray:
        """Vertex positions (N, 2) for joints at `joint_xy` (J, 2)."""
        pins = self.pin_weights @ joint_xy + (self.pin_normal @ joint_xy) @ _R90.T  # (P, 2)
        n = len(self.vertices)
        pins2 = np.concatenate([pins[:, 0], pins[:, 1]])  # order of self._pin2
        free = self._step1.solve(self._step1_rest - self._step1_pin @ pins2)
        step1 = np.empty((n, 2))
        step1[self._free] = np.stack([free[: len(self._free)], free[len(self._free):]], axis=1)
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

    def render(self, joint_xy: np.ndarray, camera: np.ndarray | None = None) -> np.ndarray:
        """The frame (H, W, 3) uint8 with joints at `joint_xy` (J, 2) seen through `camera` (4,)."""
        cam = camera_matrix(camera, self.size) if camera is not None else _IDENTITY
        moved = self.deform(joint_xy) @ cam[:, :2].T + cam[:, 2]
        out = _warp_reflected(self.background, cam)
        # Warp and blend only inside the deformed mesh's bounding box: the rest is background.
        x0, y0, x1, y1 = _clipped_box(moved, self.size, margin=2)
        if x1 <= x0 or y1 <= y0:
            return out
        local = moved - (x0, y0)
        box = (x1 - x0, y1 - y0)
        front = _triangle_index(local, self.triangles, box)
        layers = [front]
        part = np.append(self.triangle_part, -1)
        hidden = np.flatnonzero(_under_other_parts(local, self.triangles, self.triangle_part, part[front]))
        if len(hidden):
            # Where two parts overlap, the part behind shows through the soft edge of the one in front: a
            # second pass draws the triangles another part covers (earliest on top) where its part differs.
            back = _triangle_index(local, self.triangles[hidden[::-1]], box)
            back = np.where(back >= 0, hidden[::-1][back], -1)
            back[part[back] == part[front]] = -1
            layers.insert(0, back)
        for index in layers:
            if (index >= 0).any():
                map_x, map_y = _source_maps(index, local, self.vertices, self.triangles)
                subject = cv2.remap(self.subject, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=(0, 0, 0, 0))
                out[y0:y1, x0:x1] = composite(out[y0:y1, x0:x1], subject)
        return out


    def coverage(self, joint_xy: np.ndarray) -> np.ndarray:
        """(H, W) uint8: the subject's alpha with joints at `joint_xy` (J, 2), as `render` places it (no camera)."""
        moved = self.deform(joint_xy)
        out = np.zeros((self.size[1], self.size[0]), np.uint8)
        x0, y0, x1, y1 = _clipped_box(moved, self.size, margin=2)
        if x1 <= x0 or y1 <= y0:
            return out
        local = moved - (x0, y0)
        index = _triangle_index(local, self.triangles, (x1 - x0, y1 - y0))
        if (index >= 0).any():
            map_x, map_y = _source_maps(index, local, self.vertices, self.triangles)
            out[y0:y1, x0:x1] = cv2.remap(np.ascontiguousarray(self.subject[..., 3]), map_x, map_y, cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return out

    def subject_alpha(self, joint_xy: np.ndarray, camera: np.ndarray | None = None) -> np.ndarray:
        """(H, W) uint8: the subject's alpha in the frame `render` makes, camera included (for exports with alpha)."""
        alpha = self.coverage(joint_xy)
        if camera is None:
            return alpha
        return cv2.warpAffine(alpha, camera_matrix(camera, self.size), self.size, flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)


class PuppetRenderer:
    """The `puppet` renderer: CPU mesh warp, no GPU, no weights."""

    name = "puppet"

    def render(self, job, cancel: threading.Event) -> Iterator[RenderEvent]:
        if not job.mask.any():
            source = job.project.subject_mask or "the mask derived from the picture"
            raise RenderError(f"{source}: the subject mask is empty, so the puppet has nothing to move "
                              "(paint the subject in the window, or give subject_mask a picture of it)")
        mesh = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy)
        for f in range(job.frames):
            check_cancel(cancel)
            alpha = mesh.subject_alpha(job.positions[f], job.camera[f]) if getattr(job, "alpha", False) else None
            yield Frame(f, mesh.render(job.positions[f], job.camera[f]), alpha)
            yield Progress(f + 1, job.frames)


# -- mesh -------------------------------------------------------------------------------------------
def _pins(rig: Rig, rest_xy: np.ndarray, spacing: float,
          size: tuple[int, int] | None = None) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray]:
    """Pin points (P, 2) at rest, their sparse weights (P, J) over the joints and the bone each lies on
    (P,), -1 for joints): the joints, then along bones.

    Each pin hangs on at most two joints, so the weights are stored sparse: their cost grows with
    the pins, not pins x joints. With `size`, pins along a bone are only placed over the picture
    (a bone reaching far outside would otherwise get millions of pins that no triangle uses).
    """
    j = len(rig.joints)
    rows_a, rows_b, ts, bones = [np.arange(j)], [np.arange(j)], [np.zeros(j)], [np.full(j, -1)]
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        length = float(np.hypot(*(rest_xy[b] - rest_xy[a])))
        count = min(int(length // spacing), 1 << 16) if np.isfinite(length) else 0
        if count < 1:
            continue
        lo, hi = (0.0, 1.0) if size is None else _inside_span(rest_xy[a], rest_xy[b], size, spacing)
        t = np.arange(1, count + 1) / (count + 1)
        t = t[(t >= lo) & (t <= hi)]
        rows_a.append(np.full(t.size, a))
        rows_b.append(np.full(t.size, b))
        ts.append(t)
        bones.append(np.full(t.size, k))
    a_idx, b_idx, t = np.concatenate(rows_a), np.concatenate(rows_b), np.concatenate(ts)
    bone = np.concatenate(bones)
    xy = rest_xy[a_idx] * (1 - t)[:, None] + rest_xy[b_idx] * t[:, None] if j else np.zeros((0, 2))
    # Merge pins closer than a pixel (two joints on one spot): the first one wins.
    keep = np.ones(len(xy), bool)
    for first, second in sorted(cKDTree(clip_far(xy)).query_pairs(1.0)) if len(xy) else ():
        if keep[first]:
            keep[second] = False
    rows = np.arange(int(keep.sum()))
    a_idx, b_idx, t = a_idx[keep], b_idx[keep], t[keep]
    weights = sp.csr_matrix((np.concatenate([1 - t, t]), (np.concatenate([rows, rows]),
                                                          np.concatenate([a_idx, b_idx]))), shape=(len(rows), j))
    return xy[keep], weights, bone[keep]


def _inside_span(p: np.ndarray, q: np.ndarray, size: tuple[int, int], margin: float) -> tuple[float, float]:
    """The range of t in [0, 1] where p + t (q - p) lies over the picture grown by `margin` (lo > hi: nowhere)."""
    lo, hi = 0.0, 1.0
    for axis, extent in enumerate(size):
        d = q[axis] - p[axis]
        bounds = (-margin - p[axis], extent + margin - p[axis])
        if abs(d) < 1e-12:
            if not bounds[0] <= 0 <= bounds[1]:
                return 1.0, 0.0
            continue
        t0, t1 = sorted((bounds[0] / d, bounds[1] / d))
        lo, hi = max(lo, t0), min(hi, t1)
    return lo, hi


def _covered(mask: np.ndarray, spacing: float) -> np.ndarray:
    """The subject mask grown by a third of the spacing (uint8), so the mesh covers its soft edge."""
    grow = max(2, int(spacing / 3))
    return cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))


def _pixel(xy: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices (clipped to the picture) of points (..., 2)."""
    h, w = shape
    xy = clip_far(xy)
    return (np.clip(np.round(xy[..., 1]).astype(np.int64), 0, h - 1),
            np.clip(np.round(xy[..., 0]).astype(np.int64), 0, w - 1))


def _part_map(mask: np.ndarray, rig: Rig, rest_xy: np.ndarray, rgb: np.ndarray | None = None) -> np.ndarray:
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
    _, nearest_pixel = cv2.distanceTransformWithLabels((lines == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                                       labelType=cv2.DIST_LABEL_PIXEL)
    bone_of_label = np.zeros(int(nearest_pixel.max()) + 1, np.int32)
    bone_of_label[nearest_pixel[lines > 0]] = lines[lines > 0] - 1
    nearest = bone_of_label[nearest_pixel]
    inside = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    seeds, relief = lines, np.zeros((h, w), np.uint8)
    if len(rig.bones) <= _SCALED_PARTS_MAX_BONES:
        label, score = _thickness_nearest(inside, rig, rest_xy)
        seeds = _anchored(np.where(score <= _SEED_REACH, label, 0), lines, inside)
        if rgb is not None:
            relief = _edges(rgb)
    flood = watershed(relief, np.where(inside, seeds, 0), mask=inside)
    if len(rig.bones) <= _SCALED_PARTS_MAX_BONES and rgb is not None:
        # A flood along a drawn outline can carry one part round another's edge: give such pixels back to
        # the bone that is clearly nearer (in radii) than the one the flood gave them to; on a drawn
        # outline (dark pixels on the subject's rim, 4 px) sooner, as it runs from part to part unbroken.
        own = _score_of(flood - 1, inside, rig, rest_xy)
        rim = inside & ~(cv2.erode(inside.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0)
        rim &= cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY) < 90
        wrong = np.where(rim, (own > score + 0.3) & (own > 1.0), (own > score + 0.75) & (own > 1.5)) & (label > 0)
        flood[wrong] = label[wrong]
        nearest = _nearest_inside(flood, inside) - 1
    return np.where(flood > 0, flood - 1, nearest).astype(np.int32)


_SEED_REACH = 0.6  # seeds reach 0.6 of a bone's radius from it; the flood over the picture's edges does the rest
_SCALED_PARTS_MAX_BONES = 200  # beyond this, parts are the nearest bone through the subject (one flood, any size)


def _bone_lines(rig: Rig, rest_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) int32: bone index + 1 along each bone's line, 0 elsewhere."""
    lines = np.zeros(shape, np.int32)
    xy = np.round(clip_far(rest_xy)).astype(np.int64)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        cv2.line(lines, (int(xy[a, 0]), int(xy[a, 1])), (int(xy[b, 0]), int(xy[b, 1])), k + 1, 1)
    return lines


def bone_radii(inside: np.ndarray, rig: Rig, rest_xy: np.ndarray) -> np.ndarray:
    """(B,) each bone's half-thickness in the mask: the median distance to the outline along the bone."""
    depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 3)
    xy = clip_far(rest_xy)
    radii = np.full(len(rig.bones), 1.5)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        t = np.linspace(0.0, 1.0, 17)[:, None]
        samples = xy[a] * (1 - t) + xy[b] * t
        ok = (samples >= 0).all(1) & (samples[:, 0] < inside.shape[1]) & (samples[:, 1] < inside.shape[0])
        values = depth[_pixel(samples[ok], inside.shape)] if ok.any() else np.zeros(0)
        values = values[values > 0]
        if len(values):
            radii[k] = max(1.5, float(np.median(values)))
    return radii


def _edges(rgb: np.ndarray) -> np.ndarray:
    """(H, W) uint8 edge strength of a picture: the largest colour gradient over its channels, lightly smoothed."""
    smooth = cv2.GaussianBlur(rgb, (3, 3), 0).astype(np.int16)
    gx = np.abs(cv2.Sobel(smooth, cv2.CV_16S, 1, 0)).max(-1)
    gy = np.abs(cv2.Sobel(smooth, cv2.CV_16S, 0, 1)).max(-1)
    return np.clip((gx.astype(np.int32) + gy) // 8, 0, 255).astype(np.uint8)


def _thickness_nearest(inside: np.ndarray, rig: Rig, rest_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) int32 bone index + 1 of the bone nearest in units of its radius (0 where none is near), and
    (H, W) float32 that distance in radii."""
    h, w = inside.shape
    radii = bone_radii(inside, rig, rest_xy)
    best = np.full((h, w), np.inf, np.float32)
    label = np.zeros((h, w), np.int32)
    xy = clip_far(rest_xy)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        window = _window(xy[a], xy[b], 3.0 * radii[k] + 2, (w, h))
        if window is None:
            continue
        ys, xs, (rows, cols) = window
        y0, y1, x0, x1 = rows.start, rows.stop, cols.start, cols.stop
        score = (_segment_distance(xs, ys, xy[a], xy[b]) / radii[k]).astype(np.float32)
        window, labels = best[y0:y1, x0:x1], label[y0:y1, x0:x1]
        better = (score < window) & inside[y0:y1, x0:x1]
        window[better] = score[better]
        labels[better] = k + 1
    return label, best


def _nearest_inside(flood: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """`flood` carried outside `inside` from the nearest pixel inside: the soft edge round a torso is the torso's,
    even where an arm's bone is nearer in a straight line."""
    _, nearest_pixel = cv2.distanceTransformWithLabels((~inside).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5,
                                                       labelType=cv2.DIST_LABEL_PIXEL)
    value = np.zeros(int(nearest_pixel.max()) + 1, np.int32)
    value[nearest_pixel[inside]] = flood[inside]
    return value[nearest_pixel]


def _score_of(part: np.ndarray, inside: np.ndarray, rig: Rig, rest_xy: np.ndarray) -> np.ndarray:
    """(H, W) float32: each pixel's distance, in its bone's radii, from the bone of `part` (inf far from it)."""
    h, w = part.shape
    radii = bone_radii(inside, rig, rest_xy)
    out = np.full((h, w), np.inf, np.float32)
    xy = clip_far(rest_xy)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        window = _window(xy[a], xy[b], 3.0 * radii[k] + 2, (w, h))
        if window is None:
            continue
        ys, xs, sl = window
        mine = part[sl] == k
        out[sl][mine] = _segment_distance(xs, ys, xy[a], xy[b])[mine] / radii[k]
    return out


def _window(p: np.ndarray, q: np.ndarray, reach: float, size: tuple[int, int]):
    """Pixel grids (ys, xs) and the slice of the box round segment p-q grown by `reach`, or None off the picture."""
    w, h = size
    lo = np.floor(np.minimum(p, q) - reach).astype(np.int64)
    hi = np.ceil(np.maximum(p, q) + reach).astype(np.int64) + 1
    x0, y0, x1, y1 = max(0, lo[0]), max(0, lo[1]), min(w, hi[0]), min(h, hi[1])
    if x1 <= x0 or y1 <= y0:
        return None
    ys, xs = np.mgrid[y0:y1, x0:x1]
    return ys, xs, (slice(y0, y1), slice(x0, x1))


def _segment_distance(xs: np.ndarray, ys: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distance of each pixel (xs, ys) from the segment p-q."""
    d = q - p
    t = np.clip(((xs - p[0]) * d[0] + (ys - p[1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
    return np.hypot(xs - p[0] - t * d[0], ys - p[1] - t * d[1])


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


@dataclass(frozen=True)
class _CutRule:
    """Where the parts of two bones are cut apart rather than joined in one mesh.

    Two parts are joined only through a joint their bones share: within `radius` of that joint, and
    beyond it only where the bones leave the joint in clearly different directions (a chain, or a
    leg below a body, whose boundary is skin that stretches). Where both bones run alongside each
    other (two legs from one hip, a tail folded onto itself) or share no joint at all, the boundary
    between their parts is cut, so the parts move apart without a web between them.
    """

    ends: np.ndarray  # (B, 2) joint indices of each bone
    joint_xy: np.ndarray  # (J, 2)
    radius: np.ndarray  # (J,) joined within this distance of a shared joint
    gaps: np.ndarray  # (H, W) bool: narrow gaps in the subject that the mesh bridges; parts never join there
    links: dict  # (bone a, bone b) -> (a's joint, b's joint) for bones joined by one bone between them

    ALONGSIDE_COS = float(np.cos(np.radians(40.0)))  # a boundary point within 40 degrees of both bones

    @staticmethod
    def of(rig: Rig, rest_xy: np.ndarray, mask: np.ndarray, covered: np.ndarray, spacing: float) -> _CutRule:
        """The rule for `rig` at rest over the subject `mask` and the mesh's region `covered` (mask grown)."""
        depth = cv2.distanceTransform(covered, cv2.DIST_L2, 3)
        inside = np.isfinite(rest_xy).all(1) & (np.abs(rest_xy) < 1e7).all(1)
        at_joint = np.where(inside, depth[_pixel(rest_xy, covered.shape)], 0.0)
        subject = mask.astype(np.uint8)
        span = 2 * max(2, int(spacing / 3)) + 3  # the widest gap the grown mask closes, and a little more
        closed = cv2.morphologyEx(subject, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (span, span)))
        gaps = (closed > 0) & ~(cv2.dilate(subject, np.ones((3, 3), np.uint8)) > 0)
        ends = rig.bone_joint_indices()
        return _CutRule(ends, clip_far(rest_xy), np.maximum(1.5 * at_joint, 1.5 * spacing), gaps, _links(ends))

    def cut(self, part_a: np.ndarray, part_b: np.ndarray, xy: np.ndarray) -> np.ndarray:
        """For point pairs of parts (K,), (K,) at points (K, 2): True where the two parts are cut apart."""
        joined = part_a == part_b
        if not len(self.ends):
            return ~joined & False
        # A gap in the picture (background the mesh bridges between two parts) is always cut.
        in_gap = self.gaps[_pixel(xy, self.gaps.shape)]
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
                joined[idx] |= near | ~alongside
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

    def _cosine(self, bone: np.ndarray, end: int, offset: np.ndarray, distance: np.ndarray) -> np.ndarray:
        """Cosine between `offset` (from the bone's end `end`) and the bone leaving that end."""
        start, stop = self.joint_xy[self.ends[bone, end]], self.joint_xy[self.ends[bone, 1 - end]]
        direction = stop - start
        norm = np.hypot(direction[:, 0], direction[:, 1]) * distance
        return np.where(norm > 1e-9, (direction * offset).sum(1) / np.maximum(norm, 1e-9), 1.0)


@dataclass(frozen=True)
class _Binding:
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
    free: np.ndarray  # (V,) bool: in a band round a bending joint or a joined boundary
    ends: np.ndarray  # (B, 2) joint indices of each bone
    rest_xy: np.ndarray  # (J, 2)

    @staticmethod
    def of(vertices: np.ndarray, triangles: np.ndarray, tri_part: np.ndarray, rig: Rig, rest_xy: np.ndarray,
           radii: np.ndarray, spacing: float) -> _Binding:
        """The binding of a cut mesh (`tri_part` per triangle) to `rig` at `rest_xy`; `radii` (B,) bone thickness.

        The band round a joined boundary lies on the thinner part's side (both sides where the two
        are about as thick) and is about as wide as that part is thick, between one and two
        spacings: an arm bends at its root, the torso it leaves holds still."""
        n = len(vertices)
        corner_vertex, corner_part = triangles.ravel(), np.repeat(tri_part, 3)
        lo, hi = np.full(n, np.iinfo(np.int64).max), np.full(n, -1)
        np.minimum.at(lo, corner_vertex, corner_part)
        np.maximum.at(hi, corner_vertex, corner_part)
        part = np.where(lo == hi, hi, -1)
        free = part < 0
        shared = np.flatnonzero((part < 0) & (hi >= 0))
        if len(shared) and len(radii):
            r_lo, r_hi = radii[lo[shared]], radii[hi[shared]]
            width = np.clip(1.5 * np.minimum(r_lo, r_hi), spacing, 2 * spacing)
            near = cKDTree(vertices).query_ball_point(vertices[shared], width)
            centre = np.repeat(shared, [len(v) for v in near])
            vertex = np.fromiter((v for group in near for v in group), np.int64, len(centre))
            thin_lo = radii[lo[centre]] <= 1.25 * radii[hi[centre]]
            thin_hi = radii[hi[centre]] <= 1.25 * radii[lo[centre]]
            bends = ((part[vertex] == lo[centre]) & thin_lo) | ((part[vertex] == hi[centre]) & thin_hi)
            free[vertex[bends]] = True
        return _Binding(vertices, part, free, rig.bone_joint_indices(), clip_far(rest_xy))

    def pins(self, pin_vertex: np.ndarray, pin_weights: sp.csr_matrix,
             pin_bone: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
        """Pin vertices with their weights along (P, J) and across (P, J) bones: the joints, the bone pins
        lying on their own bone's part, and every held vertex."""
        own = (pin_bone < 0) | (self.part[pin_vertex] < 0) | (self.part[pin_vertex] == pin_bone)
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
        u = (offset * (d @ _R90.T)).sum(1) / length2
        joints = pin_weights.shape[1]
        k = np.arange(len(rows))
        along = sp.csr_matrix((np.concatenate([1 - t, t]), (np.concatenate([k, k]), np.concatenate([a, b]))),
                              shape=(len(rows), joints))
        across = sp.csr_matrix((np.concatenate([-u, u]), (np.concatenate([k, k]), np.concatenate([a, b]))),
                               shape=(len(rows), joints))
        return (np.concatenate([pin_vertex, rows]), sp.vstack([pin_weights, along]).tocsr(),
                sp.vstack([sp.csr_matrix(pin_weights.shape), across]).tocsr())


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


def _cut_points(labels: np.ndarray, rule: _CutRule, spacing: float) -> np.ndarray:
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


def _mesh(covered: np.ndarray, pin_xy: np.ndarray, cut_xy: np.ndarray,
          spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """Points (pins first, then cut lines, outline and interior grid) and triangles covering `covered`."""
    h, w = covered.shape
    contours, _ = cv2.findContours(covered, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    outline = [_outline_points(c[:, 0, :], spacing) for c in contours if len(c) >= 3]
    ys, xs = np.mgrid[spacing / 2: h: spacing, spacing / 2: w: spacing]
    inner = cv2.erode(covered, np.ones((int(spacing / 2) * 2 + 1,) * 2, np.uint8))
    grid = np.stack([xs.ravel(), ys.ravel()], 1)
    grid = grid[inner[grid[:, 1].astype(int), grid[:, 0].astype(int)] > 0]
    cut_xy = _away_from(cut_xy, pin_xy, spacing / 3)
    # Cut lines are sampled densely and kept clear of other points, so Delaunay edges follow them.
    others = _away_from(np.concatenate([*outline, grid]) if outline else grid, cut_xy, spacing / 2)
    others = _away_from(others, pin_xy, spacing / 3)  # keep pins exact: drop other points sitting on them
    points = np.concatenate([pin_xy, cut_xy, others])
    try:
        triangles = Delaunay(points).simplices if len(points) >= 3 else np.zeros((0, 3), np.int64)
    except QhullError:  # every point on one line (a straight rig over an empty or hairline mask)
        return points, np.zeros((0, 3), np.int64)
    # Keep triangles inside the subject: centroid and edge midpoints on the (grown) mask.
    corners = points[triangles]  # (T, 3, 2)
    probes = np.concatenate([corners.mean(1, keepdims=True), (corners + np.roll(corners, 1, axis=1)) / 2], 1)
    probe_mask = cv2.dilate(covered, np.ones((3, 3), np.uint8))  # a pixel of slack for rounded probes
    inside = (probe_mask[_pixel(probes, (h, w))] > 0).all(1)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    return points, triangles[inside & (area > 1e-3)]


def _away_from(points: np.ndarray, anchors: np.ndarray, distance: float) -> np.ndarray:
    """`points` farther than `distance` from every anchor."""
    if not len(points) or not len(anchors):
        return points
    gap, _ = cKDTree(clip_far(anchors)).query(points, distance_upper_bound=distance)
    return points[~np.isfinite(gap)]


def _outline_points(contour: np.ndarray, spacing: float) -> np.ndarray:
    """Points on a closed contour of pixels (K, 2): its corners, so concave corners are not cut off, and
    every `spacing`-th pixel between them. All are contour pixels, so outline edges lie on the mask."""
    corners = cv2.approxPolyDP(contour.reshape(-1, 1, 2).astype(np.int32), 1.0, True)[:, 0, :]
    samples = contour[:: max(1, int(spacing))]
    near = np.hypot(*(samples[:, None, :] - corners[None, :, :]).transpose(2, 0, 1)).min(1) < spacing / 2
    return np.concatenate([corners, samples[~near]]).astype(np.float64)


def _cut_mesh(vertices: np.ndarray, triangles: np.ndarray, tri_part: np.ndarray, pin_count: int,
              rule: _CutRule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _split_corners(vertices: np.ndarray, corner_vertex: np.ndarray, corner_part: np.ndarray,
                   rule: _CutRule) -> np.ndarray:
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
        parts = pairs[pair_start[k]: pair_start[k] + parts_per_vertex[v], 1]
        group = _join_groups(joined[k])
        corners = corner_order[corner_start[k]: corner_stop[k]]  # this vertex's corners
        for g in np.unique(group)[1:]:  # the first group keeps the vertex, every other gets a copy
            split[corners[np.isin(corner_part[corners], parts[group == g])]] = next_index
            next_index += 1
    return split


def _joined_at_vertices(vertices: np.ndarray, pairs: np.ndarray, multi: np.ndarray, pair_start: np.ndarray,
                        parts_per_vertex: np.ndarray, rule: _CutRule) -> list[np.ndarray]:
    """For each vertex in `multi`, the (n, n) matrix of which of its n parts are joined there (one rule call)."""
    blocks, firsts, seconds, where = [], [], [], []
    for k, v in enumerate(multi):
        n = int(parts_per_vertex[v])
        a, b = np.triu_indices(n, 1)
        parts = pairs[pair_start[k]: pair_start[k] + n, 1]
        blocks.append((n, a, b))
        firsts.append(parts[a])
        seconds.append(parts[b])
        where.append(np.repeat(v, len(a)))
    cut = rule.cut(np.concatenate(firsts), np.concatenate(seconds), vertices[np.concatenate(where)])
    out, offset = [], 0
    for n, a, b in blocks:
        joined = np.eye(n, dtype=bool)
        joined[a, b] = joined[b, a] = ~cut[offset: offset + len(a)]
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


def _draw_order(tri_part: np.ndarray, rig: Rig) -> np.ndarray:
    """Triangle order for drawing: by their bone's depth, then the bone's place in the rig (later in front)."""
    if not rig.bones or not len(tri_part):
        return np.arange(len(tri_part))
    depth = np.array([bone.depth for bone in rig.bones], np.int64)
    return np.lexsort((tri_part, depth[tri_part]))


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
        y = (rel * (e @ _R90.T)).sum(1) / length2
        t = len(triangles)
        # coefficients (2x2 blocks) on v_i, v_j, v_k
        eye = np.eye(2)[None]
        ci = -(1 - x)[:, None, None] * eye + y[:, None, None] * _R90[None]
        cj = -x[:, None, None] * eye - y[:, None, None] * _R90[None]
        ck = np.broadcast_to(eye, (t, 2, 2))
        for coef, corner in ((ci, i), (cj, j), (ck, k)):
            v = triangles[:, corner]
            for r in range(2):
                for c in range(2):
                    rows.append(row + 2 * np.arange(t) + r)
                    cols.append(2 * v + c)
                    vals.append(coef[:, r, c])
        row += 2 * t
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(row, 2 * len(vertices)))


def _triangle_rotations(rest: np.ndarray, moved: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """The rotation (T, 2, 2) that best turns each rest triangle onto its moved one."""
    p = rest[triangles] - rest[triangles].mean(1, keepdims=True)  # (T, 3, 2)
    q = moved[triangles] - moved[triangles].mean(1, keepdims=True)
    dot = (p * q).sum((1, 2))
    cross = (p[..., 0] * q[..., 1] - p[..., 1] * q[..., 0]).sum(1)
    angle = np.arctan2(cross, dot)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


# -- raster -----------------------------------------------------------------------------------------
def _triangle_index(moved: np.ndarray, triangles: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) int32: the last triangle drawn over each pixel, -1 where none."""
    w, h = size
    index = np.full((h, w), -1, np.int32)
    shift = 4
    fixed = np.round(clip_far(moved) * (1 << shift)).astype(np.int32)
    fill = cv2.fillConvexPoly
    for t, corners in enumerate(fixed[triangles]):  # (3, 2) rows of one gathered array: no index per triangle
        fill(index, corners, t, cv2.LINE_8, shift)
    return index


def _under_other_parts(moved: np.ndarray, triangles: np.ndarray, tri_part: np.ndarray,
                       front_part: np.ndarray) -> np.ndarray:
    """Per triangle: True where another part is drawn over one of its corners, edge midpoints or centroid."""
    corners = moved[triangles]  # (T, 3, 2)
    probes = np.concatenate([corners, (corners + np.roll(corners, 1, axis=1)) / 2, corners.mean(1, keepdims=True)], 1)
    shown = front_part[_pixel(probes, front_part.shape)]  # (T, 7)
    return ((shown >= 0) & (shown != tri_part[:, None])).any(1)


def _source_maps(index: np.ndarray, moved: np.ndarray, rest: np.ndarray, triangles: np.ndarray):
    """Per-pixel source coordinates for the triangles in `index` (-1 where none covers), float32 maps."""
    h, w = index.shape
    ys, xs = np.nonzero(index >= 0)
    tid = index[ys, xs]
    used, inverse = np.unique(tid, return_inverse=True)
    # Affine from screen to source per triangle in use.
    dst = np.concatenate([moved[triangles[used]], np.ones((len(used), 3, 1))], 2)  # (U, 3, 3)
    src = rest[triangles[used]]  # (U, 3, 2)
    det = np.linalg.det(dst)
    ok = np.abs(det) > 1e-9
    affine = np.zeros((len(used), 3, 2))
    affine[ok] = np.linalg.solve(dst[ok], src[ok])  # dst @ A = src
    map_x = np.full((h, w), -1.0, np.float32)
    map_y = np.full((h, w), -1.0, np.float32)
    a = affine[inverse]  # (P, 3, 2)
    map_x[ys, xs] = xs * a[:, 0, 0] + ys * a[:, 1, 0] + a[:, 2, 0]
    map_y[ys, xs] = xs * a[:, 0, 1] + ys * a[:, 1, 1] + a[:, 2, 1]
    return map_x, map_y


def _clipped_box(points: np.ndarray, size: tuple[int, int], margin: int) -> tuple[int, int, int, int]:
    """The integer box (x0, y0, x1, y1) around `points` (N, 2) grown by `margin`, clipped to the frame."""
    w, h = size
    if not len(points):
        return 0, 0, 0, 0
    lo = np.floor(np.nan_to_num(points.min(0), nan=0.0)) - margin
    hi = np.ceil(np.nan_to_num(points.max(0), nan=0.0)) + margin + 1
    x0, y0 = (int(np.clip(v, 0, m)) for v, m in zip(lo, (w, h), strict=True))
    x1, y1 = (int(np.clip(v, 0, m)) for v, m in zip(hi, (w, h), strict=True))
    return x0, y0, x1, y1


def _warp_reflected(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`image` moved by a 2x3 affine, mirrored beyond its edges, at its own size.

    The mirrored picture repeats every 2W x 2H pixels, so the source offset is reduced by that
    period first: OpenCV's reflect border is slow for far-off sources (a pan of 1e9 px hung it).
    """
    h, w = image.shape[:2]
    if np.array_equal(matrix, _IDENTITY):
        return image.copy()
    inverse = invert_affine(matrix)
    inverse[:, 2] = np.mod(np.nan_to_num(inverse[:, 2]), [2 * w, 2 * h])
    return cv2.warpAffine(image, inverse, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REFLECT)


def composite(background: np.ndarray, subject_rgba: np.ndarray) -> np.ndarray:
    """Subject (H, W, 4) over background (H, W, 3), both uint8."""
    alpha = subject_rgba[..., 3:4].astype(np.uint16)
    out = (subject_rgba[..., :3] * alpha + background * (255 - alpha) + 127) // 255
    return out.astype(np.uint8)


def _feathered_alpha(mask: np.ndarray) -> np.ndarray:
    """The subject mask as an alpha channel with a one-pixel soft edge."""
    return cv2.GaussianBlur(mask.astype(np.uint8) * 255, (3, 3), 0)


def background_hole(mask: np.ndarray) -> np.ndarray:
    """The pixels the background fill replaces: the subject and a 3-pixel ring round it (its soft edge)."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0


def fill_background(rgb: np.ndarray, mask: np.ndarray, max_side: int = 384, method: str = "biharmonic") -> np.ndarray:
    """The picture with the subject painted out, for the background the subject uncovers.

    The hole is filled at `max_side` pixels and scaled back up (the fill is smooth, so resolution is
    cheap to give away). `biharmonic` (scikit-image, the default) continues the surrounding colours
    smoothly across the hole; OpenCV's `telea` and `ns` (Navier-Stokes) smear edge colours along
    streaks on large holes. benchmarks/inpaint_quality.py measures them against ground truth.
    """
    if not mask.any():
        return rgb.copy()
    key = (rgb.shape, max_side, method, hashlib.blake2b(np.ascontiguousarray(rgb)).digest(),
           hashlib.blake2b(np.packbits(mask)).digest())
    with _FILLS_LOCK:
        if key in _FILLS:
            return _FILLS[key].copy()
    out = _filled(rgb, mask, max_side, method)
    with _FILLS_LOCK:
        _FILLS[key] = out
        while len(_FILLS) > 4:  # the window rebuilds meshes on every rig edit: picture and mask rarely change
            _FILLS.pop(next(iter(_FILLS)))
    return out.copy()


_FILLS: dict = {}
_FILLS_LOCK = threading.Lock()


def _filled(rgb: np.ndarray, mask: np.ndarray, max_side: int, method: str) -> np.ndarray:
    """fill_background without the cache.

    The fill is solved over the hole grown by about 1% of the picture, so the fringe a cut-out mask
    leaves round the subject (a suit's orange, a drawing's outline) is not carried into the
    background as a smear; it is pasted over the hole and faded out across the growth, so there
    is no hard edge where the fill meets the picture."""
    h, w = mask.shape
    hole = background_hole(mask)
    grow = max(2, round(0.012 * max(h, w)))
    grown = cv2.dilate(hole.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    scale = min(1.0, max_side / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    small_hole = cv2.dilate(cv2.resize(grown, (sw, sh), interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
    if small_hole.all():
        return rgb.copy()
    filled = _fill_small(small, small_hole, method)
    filled = cv2.GaussianBlur(cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR), (5, 5), 0)
    # Weight 1 over the hole, fading to 0 across the growth.
    outside = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.clip(1.0 - outside / (grow + 1), 0.0, 1.0)[..., None]
    out = rgb * (1 - weight) + filled * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _fill_small(small: np.ndarray, small_hole: np.ndarray, method: str) -> np.ndarray:
    """`small` (uint8 RGB) with `small_hole` (uint8, non-zero in the hole) inpainted by `method`."""
    if method == "biharmonic":
        return _biharmonic(small, small_hole > 0)
    if method in ("telea", "ns"):
        return cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS)
    if method in ("shiftmap", "fsr") and hasattr(cv2, "xphoto"):  # OpenCV contrib, when it is installed
        flag = cv2.xphoto.INPAINT_SHIFTMAP if method == "shiftmap" else cv2.xphoto.INPAINT_FSR_FAST
        out = np.zeros_like(small)
        bgr = np.ascontiguousarray(small[..., ::-1])
        cv2.xphoto.inpaint(bgr, (small_hole == 0).astype(np.uint8) * 255, out, flag)
        return np.ascontiguousarray(out[..., ::-1])
    raise ValueError(f"unknown inpaint method {method!r} (use biharmonic, telea or ns; shiftmap or fsr with "
                     "opencv-contrib)")


def _biharmonic(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpaint of `hole` in `rgb` (uint8 in and out), each hole solved on its own."""
    from skimage.restoration import inpaint_biharmonic

    filled = inpaint_biharmonic(rgb.astype(np.float64) / 255.0, hole, channel_axis=-1, split_into_regions=True)
    return np.clip(filled * 255.0 + 0.5, 0, 255).astype(np.uint8)
