"""PuppetMesh (built once per rig, rendered per frame) and the `puppet` renderer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp

from poseanything_studio.core.camera import camera_matrix
from poseanything_studio.core.rig import Rig
from poseanything_studio.rendering.events import Frame, Progress, RenderError, RenderEvent, check_cancel
from poseanything_studio.rendering.job import RenderJob

from .arap import ArapSolver
from .behind import UncoveredPlates
from .binding import Binding
from .cuts import CutRule, cut_mesh, cut_points, opening_creases
from .fill import FillCache, fill_background
from .geometry import R90, pixel_index
from .mesh import bone_pins, covered_region, triangulate
from .parts import bone_radii, part_map
from .raster import (
    IDENTITY,
    clipped_box,
    composite,
    draw_order,
    feathered_alpha,
    source_maps,
    triangle_index,
    under_other_parts,
    warp_reflected,
)


@dataclass(frozen=True)
class MeshLayout:
    """Vertex spacing in pixels for a frame of a given size."""

    spacing: float

    @staticmethod
    def for_size(size: tuple[int, int]) -> MeshLayout:
        return MeshLayout(spacing=max(6.0, min(size) / 40.0))


class PuppetMesh:
    """A subject's mesh with its pins, its filled background and its factorised ARAP solve."""

    def __init__(
        self,
        background: np.ndarray,
        subject: np.ndarray,
        vertices: np.ndarray,
        triangles: np.ndarray,
        pin_vertex: np.ndarray,
        pin_weights: sp.csr_matrix,
        rig: Rig,
        triangle_part: np.ndarray | None = None,
        pin_normal: sp.csr_matrix | None = None,
        plates: UncoveredPlates | None = None,
    ):
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
        # the body under thinner parts (a torso under its arm), drawn over the background as the body moves
        self.plates = UncoveredPlates.none() if plates is None else plates
        self._small_background: np.ndarray | None = None  # the background at render_small's size, once
        self._arap = ArapSolver(vertices, triangles, pin_vertex)

    # -- building -------------------------------------------------------------------------------
    @staticmethod
    def build(
        rgba: np.ndarray,
        mask: np.ndarray,
        rig: Rig,
        rest_xy: np.ndarray,
        layout: MeshLayout | None = None,
        fills: FillCache | None = None,
        creases: frozenset[tuple[int, int]] = frozenset(),
    ) -> PuppetMesh:
        """Mesh the subject of `rgba` (output size) under `mask`, pinned to `rig` at `rest_xy` (J, 2).

        The background fill comes from `fills` when it holds this picture and mask (a rig edit, a second
        render), and is kept there; without a cache it is computed. `creases` (cuts.opening_creases of the
        motion to render) are the chains cut open in their crease."""
        size = (rgba.shape[1], rgba.shape[0])
        layout = layout or MeshLayout.for_size(size)
        pin_xy, pin_weights, pin_bone = bone_pins(rig, rest_xy, layout.spacing, size)
        covered = covered_region(mask, layout.spacing)
        nearest = part_map(mask, rig, rest_xy, rgba[..., :3])
        radii = bone_radii(covered > 0, rig, rest_xy)
        rule = CutRule.of(rig, rest_xy, mask, covered, layout.spacing, radii, creases)
        cuts = cut_points(np.where(covered > 0, nearest, -1), rule, layout.spacing)
        vertices, triangles = triangulate(covered, pin_xy, cuts, layout.spacing)
        tri_part = nearest[pixel_index(vertices[triangles].mean(1), covered.shape)]
        vertices, triangles, origin = cut_mesh(vertices, triangles, tri_part, len(pin_xy), rule)
        # Pins are the first len(pin_xy) points (each with its copies on either side of a cut); drop
        # vertices no kept triangle uses.
        used = np.zeros(len(vertices), bool)
        used[triangles.ravel()] = True
        remap = np.cumsum(used) - 1
        pin_rows = np.flatnonzero(used & (origin < len(pin_xy)))
        vertices, triangles = vertices[used], remap[triangles]
        binding = Binding.of(vertices, triangles, tri_part, rig, rest_xy, radii, layout.spacing, creases)
        pin_vertex, pin_weights, pin_normal = binding.pins(
            remap[pin_rows], pin_weights[origin[pin_rows]], pin_bone[origin[pin_rows]]
        )
        order = draw_order(tri_part, rig)
        alpha = feathered_alpha(mask)
        subject = np.dstack([rgba[..., :3], alpha])
        background = fill_background(rgba[..., :3], mask, cache=fills)
        plates = UncoveredPlates.build(rgba[..., :3], mask, nearest, rig, rest_xy, radii)
        return PuppetMesh(
            background,
            subject,
            vertices,
            triangles[order],
            pin_vertex,
            pin_weights,
            rig,
            tri_part[order],
            pin_normal,
            plates,
        )

    # -- per frame ------------------------------------------------------------------------------
    def deform(self, joint_xy: np.ndarray) -> np.ndarray:
        """Vertex positions (N, 2) for joints at `joint_xy` (J, 2)."""
        pins = self.pin_weights @ joint_xy + (self.pin_normal @ joint_xy) @ R90.T  # (P, 2)
        return self._arap.solve(pins)

    def render(self, joint_xy: np.ndarray, camera: np.ndarray | None = None) -> np.ndarray:
        """The frame (H, W, 3) uint8 with joints at `joint_xy` (J, 2) seen through `camera` (4,)."""
        return self._render(joint_xy, camera, None)

    def render_with_alpha(
        self, joint_xy: np.ndarray, camera: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The frame, as `render` makes it, and the subject's alpha in it (H, W) uint8 (the mesh and the body's
        plates where a limb has left it), from one rasterisation: what exports with alpha write."""
        alpha = np.zeros((self.size[1], self.size[0]), np.uint8)
        return self._render(joint_xy, camera, alpha), alpha

    def _render(self, joint_xy: np.ndarray, camera: np.ndarray | None, alpha: np.ndarray | None) -> np.ndarray:
        """The frame through `camera`; with `alpha` (H, W) uint8, the subject's alpha is written into it."""
        cam = camera_matrix(camera, self.size) if camera is not None else IDENTITY
        moved = self.deform(joint_xy) @ cam[:, :2].T + cam[:, 2]
        out = self.plates.draw(warp_reflected(self.background, cam), joint_xy, cam, alpha)
        return self._draw(moved, out, alpha)

    def render_small(self, joint_xy: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """The frame at `scale` of the mesh's size (no camera) and its 2x3 mesh -> frame matrix: a drag's quick
        draft, fewer pixels to warp from the same textures (the full-size render replaces it)."""
        w, h = self.size
        small = (max(8, round(w * scale)), max(8, round(h * scale)))
        if self._small_background is None or self._small_background.shape[1::-1] != small:
            self._small_background = cv2.resize(self.background, small, interpolation=cv2.INTER_AREA)
        sx, sy = small[0] / w, small[1] / h
        moved = self.deform(joint_xy) * (sx, sy)
        matrix = np.array([[sx, 0.0, 0.0], [0.0, sy, 0.0]])
        return self._draw(moved, self.plates.draw(self._small_background.copy(), joint_xy, matrix)), matrix

    def _draw(self, moved: np.ndarray, out: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
        """The subject's triangles at `moved` (N, 2) (in `out`'s pixels) warped and blended over `out`; with
        `alpha` (`out`'s size), the subject's alpha is composited into it as the colours are."""
        size = (out.shape[1], out.shape[0])
        # Warp and blend only inside the deformed mesh's bounding box: the rest is background.
        x0, y0, x1, y1 = clipped_box(moved, size, margin=2)
        if x1 <= x0 or y1 <= y0:
            return out
        local = moved - (x0, y0)
        shown = None if alpha is None else alpha[y0:y1, x0:x1].astype(np.float32)
        for map_x, map_y in self._layer_maps(local, (x1 - x0, y1 - y0)):
            subject = cv2.remap(
                self.subject, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0)
            )
            out[y0:y1, x0:x1] = composite(out[y0:y1, x0:x1], subject)
            if shown is not None:
                shown = _over(subject[..., 3].astype(np.float32), shown)
        if alpha is not None and shown is not None:
            alpha[y0:y1, x0:x1] = np.round(shown).astype(np.uint8)
        return out

    def _layer_maps(self, local: np.ndarray, box: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Source maps (x, y) of each layer `_layers` gives that holds any triangle, in compositing order."""
        for index in self._layers(local, box):
            if (index >= 0).any():
                yield source_maps(index, local, self.vertices, self.triangles)

    def _layers(self, local: np.ndarray, box: tuple[int, int]) -> list[np.ndarray]:
        """Triangle index maps (H, W) over `box` for the vertices at `local`, to composite in order: where two parts
        overlap, the part behind shows through the soft edge of the one in front, so a second map (first in the
        list) holds the triangles another part covers (earliest on top) where its part differs."""
        front = triangle_index(local, self.triangles, box)
        part = np.append(self.triangle_part, -1)
        hidden = np.flatnonzero(under_other_parts(local, self.triangles, self.triangle_part, part[front]))
        if not len(hidden):
            return [front]
        back = triangle_index(local, self.triangles[hidden[::-1]], box)
        back = np.where(back >= 0, hidden[::-1][back], -1)
        back[part[back] == part[front]] = -1
        return [back, front]

    def coverage(self, joint_xy: np.ndarray) -> np.ndarray:
        """(H, W) uint8: the subject's alpha with joints at `joint_xy` (J, 2), as `render` places it (no camera)."""
        moved = self.deform(joint_xy)
        out = np.zeros((self.size[1], self.size[0]), np.uint8)
        x0, y0, x1, y1 = clipped_box(moved, self.size, margin=2)
        if x1 <= x0 or y1 <= y0:
            return out
        local = moved - (x0, y0)
        shown: np.ndarray = np.zeros((y1 - y0, x1 - x0), np.float32)
        source = np.ascontiguousarray(self.subject[..., 3])
        for map_x, map_y in self._layer_maps(local, (x1 - x0, y1 - y0)):
            alpha = cv2.remap(source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            shown = _over(alpha.astype(np.float32), shown)
        out[y0:y1, x0:x1] = np.round(shown).astype(np.uint8)
        return out

    def subject_alpha(self, joint_xy: np.ndarray, camera: np.ndarray | None = None) -> np.ndarray:
        """(H, W) uint8: the subject's alpha in the frame `render` makes, camera included (`render_with_alpha`'s)."""
        return self.render_with_alpha(joint_xy, camera)[1]


def _over(alpha: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """Alpha (float, 0-255) of a layer drawn over what is `shown` already, as `composite` blends colours."""
    return alpha + shown * (1 - alpha / 255)


class PuppetRenderer:
    """The `puppet` renderer: CPU mesh warp, no GPU, no weights."""

    name = "puppet"

    def __init__(self, fills: FillCache | None = None):
        self.fills = FillCache() if fills is None else fills  # one fill per picture and mask, however many renders

    def render(self, job: RenderJob, cancel: threading.Event) -> Iterator[RenderEvent]:
        """Frames of `job` and the progress after each; the mesh (and the fill) is built first."""
        if not job.mask.any():
            source = job.project.subject_mask or "the mask derived from the picture"
            raise RenderError(
                f"{source}: the subject mask is empty, so the puppet has nothing to move "
                "(paint the subject in the window, or give subject_mask a picture of it)"
            )
        creases = opening_creases(job.rig, job.rest_xy, job.positions)
        mesh = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy, fills=self.fills, creases=creases)
        for f in range(job.frames):
            check_cancel(cancel)
            if job.alpha:
                frame, alpha = mesh.render_with_alpha(job.positions[f], job.camera[f])
                yield Frame(f, frame, alpha)
            else:
                yield Frame(f, mesh.render(job.positions[f], job.camera[f]), None)
            yield Progress(f + 1, job.frames)
