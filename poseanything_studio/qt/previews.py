"""The live puppet preview: a mesh built off the GUI thread once per rig edit, rendered per playhead frame.

The mesh is built from a frozen snapshot (picture, mask, rig, rest pose) by a superqt thread worker;
a newer edit supersedes an older build. Rendering a frame (~10 ms) happens on the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage
from superqt.utils import thread_worker

from poseanything_studio.core.camera import apply_affine
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.images import fit_to_size
from poseanything_studio.core.parts import subject_mask
from poseanything_studio.core.project import Project, reference_to_output
from poseanything_studio.rendering.puppet import FillCache, PuppetMesh, opening_creases


def rgb_image(array: np.ndarray) -> QImage:
    """A QImage (its own copy) of an (H, W, 3) or (H, W, 4) uint8 array."""
    array = np.ascontiguousarray(array)
    h, w = array.shape[:2]
    fmt = QImage.Format.Format_RGBA8888 if array.shape[2] == 4 else QImage.Format.Format_RGB888
    return QImage(array.data, w, h, array.strides[0], fmt).copy()


@dataclass(frozen=True)
class MeshInputs:
    """A frozen snapshot of what a puppet mesh is built from."""

    reference: np.ndarray  # (h, w, 4) the picture at its own size
    given_mask: np.ndarray | None  # painted or file mask at the picture's size
    project: Project
    key: tuple = ()


@dataclass(frozen=True)
class MeshResult:
    """A built mesh and what it was built from."""

    mesh: PuppetMesh | None
    mask: np.ndarray  # (h, w) bool subject mask at the picture's size
    to_output: np.ndarray  # 2x3 reference -> output pixels
    key: tuple
    draft: PuppetMesh | None = None  # the same at DRAFT_SCALE, for scrubbing and playing
    to_draft: np.ndarray | None = None  # 2x3 reference -> draft pixels


def build_mesh(inputs: MeshInputs, fills: FillCache | None = None) -> MeshResult:
    """The subject mask and the puppet mesh for a snapshot (runs in a worker); background fills come from `fills`."""
    p = inputs.project
    ref = inputs.reference
    mask = subject_mask(ref, p.rig, inputs.given_mask)
    to_output = reference_to_output((ref.shape[1], ref.shape[0]), p.size)
    if not len(p.rig.joints):
        return MeshResult(None, mask, to_output, inputs.key)
    creases = inputs.key[CREASES_FIELD] if len(inputs.key) > CREASES_FIELD else project_creases(p)
    mesh = _mesh_at(ref, mask, p, p.size, fills, creases)
    draft_size = (max(32, round(p.size[0] * DRAFT_SCALE)), max(32, round(p.size[1] * DRAFT_SCALE)))
    to_draft = reference_to_output((ref.shape[1], ref.shape[0]), draft_size)
    draft = _mesh_at(ref, mask, p, draft_size, fills, creases)
    return MeshResult(mesh, mask, to_output, inputs.key, draft, to_draft)


def _mesh_at(
    ref: np.ndarray,
    mask: np.ndarray,
    project: Project,
    size: tuple[int, int],
    fills: FillCache | None,
    creases: frozenset[tuple[int, int]],
) -> PuppetMesh:
    to_size = reference_to_output((ref.shape[1], ref.shape[0]), size)
    return PuppetMesh.build(
        fit_to_size(ref, size),
        fit_to_size(mask, size),
        project.rig,
        apply_affine(to_size, project.rig.rest_xy()),
        fills=fills,
        creases=creases,
    )


def project_creases(project: Project) -> frozenset[tuple[int, int]]:
    """The chains the project's motion opens wide enough to cut in their crease, as the renderer cuts them (the
    picture's cover crop scales uniformly, so angles in reference pixels are the render's)."""
    if not project.rig.bones:
        return frozenset()
    return opening_creases(project.rig, project.rig.rest_xy(), project.joint_positions(project.frames))


def mesh_key(project: Project, mask: np.ndarray | None) -> tuple:
    """What a mesh depends on: a new key means a rebuild. The motion counts only through the creases it opens."""
    fields = (project.image, project.subject_mask, project.size, project.rig, id(mask), str(project.base_dir))
    return (*fields, project_creases(project))


RIG_FIELD = 3  # mesh_key's rig: a field a mesh may lag behind (it deforms to the new pose meanwhile)
CREASES_FIELD = 6  # and the creases the motion opens (a crease cut or not is a rig edit's worth of difference)


def still_fits(built: tuple, wanted: tuple | None) -> bool:
    """Whether a mesh built for key `built` may stand in while the mesh for `wanted` builds: only a rig edit
    or a motion that opens other creases apart. Another picture, mask, size or folder would show the old
    subject, placed wrong (stale garbage)."""
    if wanted is None:
        return True

    def fixed(key: tuple) -> tuple:
        return tuple(v for k, v in enumerate(key) if k not in (RIG_FIELD, CREASES_FIELD))

    return fixed(built) == fixed(wanted)


DRAFT_SCALE = 0.5  # scrubbing and playing draw the puppet at half size, then refine when the playhead rests


class PuppetPreview(QObject):
    """Keeps a puppet mesh for the current rig and renders frames at the playhead."""

    ready = Signal()  # a new mesh (and subject mask) is in, or the old one was dropped as no longer fitting
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.result: MeshResult | None = None
        self._wanted: tuple | None = None
        self._pending: MeshInputs | None = None
        self._worker = None
        self._reference_cache: tuple[str, np.ndarray] | None = None
        self._fills = FillCache()  # a rig edit rebuilds the mesh; the picture's background is filled once
        self._unreadable: str | None = None  # the last picture error reported, so it is said once
        self._timer = QTimer(self, singleShot=True, interval=120)
        self._timer.timeout.connect(self._start)

    def reference(self, project: Project) -> np.ndarray:
        """The project's picture (cached by path)."""
        path = str(project.resolve(project.image))
        if self._reference_cache is None or self._reference_cache[0] != path:
            self._reference_cache = (path, project.read_image())
        return self._reference_cache[1]

    def forget_reference(self) -> None:
        """Read the picture again next time (it may have changed on disk since it was read)."""
        self._reference_cache = None

    def shown_reference(self, project: Project) -> np.ndarray:
        """The picture to draw: the project's, or a grey stand-in (and `failed` once) when it cannot be read now.

        For painting and view maths, which must never raise (the file may vanish or break after opening).
        """
        try:
            return self.reference(project)
        except ProjectError as err:
            if self._unreadable != str(err):
                self._unreadable = str(err)
                self.failed.emit(str(err))
            w, h = project.size
            return np.full((h, w, 4), (90, 90, 90, 255), np.uint8)

    def request(self, project: Project, painted_mask: np.ndarray | None, now: bool = False) -> None:
        """Rebuild the mesh for `project` soon, unless the current one already fits."""
        key = mesh_key(project, painted_mask)
        if key == self._wanted and not (now and (self.result is None or self.result.key != key)):
            return
        self._wanted = key
        if self.result is not None and not still_fits(self.result.key, key):
            self.result = None  # never draw the old subject (or its mask, or its framing) over the new document
            self.ready.emit()
        try:
            given = painted_mask if painted_mask is not None else project.read_subject_mask()
            self._pending = MeshInputs(self.reference(project), given, project, key)
        except ProjectError as err:
            self.failed.emit(str(err))
            return
        if now:
            self._timer.stop()
            inputs, self._pending = self._pending, None
            self._accept(build_mesh(inputs, self._fills))
        else:
            self._timer.start()

    def _start(self) -> None:
        if self._worker is not None or self._pending is None:
            return
        inputs, self._pending = self._pending, None
        worker = _mesh_worker(inputs, self._fills)
        worker.returned.connect(self._accept)
        worker.errored.connect(lambda err: self.failed.emit(str(err)))
        worker.finished.connect(self._finished)
        self._worker = worker
        worker.start()

    def abandon(self) -> None:
        """The window is closing: no new build starts, and a running one's mesh is not wanted."""
        self._timer.stop()
        self._pending = None
        self._wanted = None
        if self._worker is not None:
            self._worker.quit()

    def _finished(self) -> None:
        self._worker = None
        if self._pending is not None:
            self._timer.start()

    def _accept(self, result: MeshResult) -> None:
        if result.key != self._wanted:
            return
        self.result = result
        self.ready.emit()

    def render(self, joint_xy_reference: np.ndarray, draft: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
        """The warped frame (RGB) for joints at reference positions and its 2x3 reference->frame matrix; None
        without a mesh. `draft` renders at DRAFT_SCALE (scrubbing), else at the project's size."""
        r = self.result
        if r is None or r.mesh is None or len(joint_xy_reference) != len(r.mesh.rig.joints):
            return None
        mesh, matrix = (r.draft, r.to_draft) if draft and r.draft is not None else (r.mesh, r.to_output)
        return mesh.render(apply_affine(matrix, joint_xy_reference)), matrix

    def render_mask(self, joint_xy_reference: np.ndarray, draft: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
        """The posed subject mask (H, W) bool in the space `render` draws in, and the same 2x3 matrix; None
        without a mesh."""
        r = self.result
        if r is None or r.mesh is None or len(joint_xy_reference) != len(r.mesh.rig.joints):
            return None
        mesh, matrix = (r.draft, r.to_draft) if draft and r.draft is not None else (r.mesh, r.to_output)
        return mesh.coverage(apply_affine(matrix, joint_xy_reference)) > 127, matrix


@thread_worker
def _mesh_worker(inputs: MeshInputs, fills: FillCache) -> MeshResult:
    return build_mesh(inputs, fills)


def checked_pictures(project: Project, preview: PuppetPreview) -> Project:
    """`project` once its picture and subject mask read (ProjectError otherwise), so a bad file never replaces
    the open document and nothing fails later in painting; the picture read is kept for the preview."""
    preview.reference(project)
    project.read_subject_mask()
    return project
