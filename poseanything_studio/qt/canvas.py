"""The canvas: the reference picture, the rig as draggable handles, overlays, the camera frame and the mask brush.

Scene coordinates are reference-picture pixels. Items only draw the document: a drag computes a new
Project with `edits` and pushes it as an undo command (one per drag, merged), never moving an item's
own state first, so what you see is always the document.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
    QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsPolygonItem,
    QGraphicsScene,
    QGraphicsView,
    QInputDialog,
    QMenu,
    QRubberBand,
)

from poseanything_studio.core import edits
from poseanything_studio.core.camera import apply_affine, invert_affine
from poseanything_studio.core.parts import colour_parts, part_labels, part_masks, posed_part_masks
from poseanything_studio.core.raster import bone_colour, camera_rectangle
from poseanything_studio.core.rig import MAX_DEPTH

from .canvas_tools import Gesture, Pan, make_tools
from .document import Document, new_drag_serial
from .previews import PuppetPreview, rgb_image
from .throttle import Throttle


class Tool(StrEnum):
    """The canvas's tools; a tool is its name ("brush" == Tool.BRUSH), as the window's actions name them."""

    SELECT = "select"
    ROTATE = "rotate"
    RIG = "rig"
    CAMERA = "camera"
    BRUSH = "brush"
    CUTOUT = "cutout"


AT_REST_TOOLS = ("brush", "cutout")  # tools that mark the rest picture: the mask shows at rest, right-drags are theirs


ONION_OFFSETS = (-4, -2, 2, 4)
HANDLE_RADIUS = 6.0
DRAG_PUPPET_MS = 80  # while a drag lasts the puppet warp redraws at most this often; the handles on every move
DRAG_DRAFT_SCALE = 0.7  # a drag's draft puppet: this much of the scrubbing draft's size (0.35 of the output's)


class JointHandle(QGraphicsEllipseItem):
    """A joint: a round handle of constant screen size."""

    def __init__(self, joint_id: str):
        r = HANDLE_RADIUS
        super().__init__(-r, -r, 2 * r, 2 * r)
        self.joint_id = joint_id
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # a move blits it, it is not drawn again
        self.setZValue(20)
        self.setToolTip(joint_id)
        self.pinned = self.root = False
        self.set_selected(False)

    def set_selected(self, selected: bool) -> None:
        """Fill orange when selected, white otherwise; a pinned joint has a thick red ring, a root a blue one."""
        self.setBrush(QBrush(QColor(255, 160, 0) if selected else QColor(255, 255, 255)))
        if self.pinned:
            self.setPen(QPen(QColor(230, 40, 40), 3.5))
        elif self.root:
            self.setPen(QPen(QColor(40, 120, 255), 3.0))
        else:
            self.setPen(QPen(QColor(20, 20, 20), 1.5))

    def set_role(self, pinned: bool, root: bool, selected: bool) -> None:
        """Show whether the joint is pinned (stays put while posing) or a subject's root."""
        self.pinned, self.root = pinned, root
        self.set_selected(selected)
        tip = self.joint_id + (" · pinned" if pinned else "") + (" · root" if root else "")
        self.setToolTip(tip)


class BoneLine(QGraphicsLineItem):
    """A bone: a line in its pose-frame colour (constant screen width)."""

    def __init__(self, bone_id: str):
        super().__init__()
        self.bone_id = bone_id
        self.setZValue(10)
        self.setToolTip(bone_id)
        self.set_selected(False)

    def set_selected(self, selected: bool) -> None:
        """Wider, with a white core, when selected."""
        colour = QColor(*bone_colour(self.bone_id))
        pen = QPen(QColor(255, 255, 255) if selected else colour, 6 if selected else 4)
        pen.setCosmetic(True)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        self.setPen(pen)


class Canvas(QGraphicsView):
    """The picture with the rig over it; tools: select/move, rig (joints and bones), camera, mask brush."""

    play_toggle_requested = Signal()
    status_message = Signal(str)
    posing = Signal(bool)  # a drag that keys joints began moving (True) or was released (False): panels wait for it
    cutout_requested = Signal(object)  # the Cut out tool's core.grabcut.Strokes: the window cuts the subject out

    def __init__(self, doc: Document, preview: PuppetPreview, parent=None):
        super().__init__(parent)
        self.doc, self.preview = doc, preview
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setBackgroundBrush(QColor(38, 38, 42))
        self.setMouseTracking(True)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tool = Tool.SELECT
        self.animate = True
        self.ik_bones = 2  # bones an IK drag bends above an end joint (0: up to the root or a pin)
        self.overlays = {"puppet": True, "onion": False, "mask": False, "parts": False, "camera": True}
        self.brush_radius = 18.0
        self.brush_snaps = False  # the mask brush's dabs stop at picture edges (core/edge_brush.py)
        self._make_items()
        self._joints: dict[str, JointHandle] = {}
        self._bones: dict[str, BoneLine] = {}
        self._rig_shape: tuple = ()
        self._tipped_rig = None  # the rig whose bone depths the bones' tooltips show
        self._placed: tuple = (None, None)  # (pose, rig shape) the handles and bone lines were last put at
        self.tools = make_tools(self)  # one handler per tool (qt/canvas_tools.py)
        self.gesture: Gesture | None = None  # the drag under way, from press to release
        self._roles_shown: tuple = ()  # (rig shape, selected joints, bones, pins, roots) the handles show
        self._space_down = False
        self._wheel_serial: int | None = None
        self._wheel_timer = QTimer(self, singleShot=True, interval=500)
        self._wheel_timer.timeout.connect(lambda: setattr(self, "_wheel_serial", None))
        self._parts_cache: tuple | None = None
        self._positions: tuple = (None, None)
        self._refine_timer = QTimer(self, singleShot=True, interval=150)
        self._refine_timer.timeout.connect(self.refine)
        self._drag_puppet = Throttle(DRAG_PUPPET_MS, self)
        self._playhead_pose: tuple = (None, None, None)  # (project, frame, pose) sampled during a drag
        self._drag_sample = None  # the last playhead sample's work, reused for the joints a move did not re-key
        self._image_path = None
        self._fitted_once = False
        doc.changed.connect(self.refresh)
        doc.frame_changed.connect(self.draw_frame)
        doc.selection_changed.connect(self._show_selection)
        doc.mask_changed.connect(self.refresh)
        preview.ready.connect(self.refresh)

    # -- items ----------------------------------------------------------------------------------
    def _make_items(self) -> None:
        s = self.scene()
        self.image_item = s.addPixmap(QPixmap())
        self.image_item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)  # scaled once per zoom
        self.puppet_item = QGraphicsPixmapItem()
        self.puppet_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.puppet_item.setZValue(1)
        self.mask_item = QGraphicsPixmapItem()
        self.mask_item.setZValue(2)
        self.parts_item = QGraphicsPixmapItem()
        self.parts_item.setZValue(3)
        self.onion_items = [QGraphicsPathItem() for _ in ONION_OFFSETS]
        for off, item in zip(ONION_OFFSETS, self.onion_items, strict=True):
            pen = QPen(QColor(255, 90, 90) if off < 0 else QColor(90, 220, 120), 2)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setOpacity(0.65 if abs(off) == 2 else 0.35)
            item.setZValue(5)
        self.camera_item = QGraphicsPolygonItem()
        pen = QPen(QColor(255, 230, 80), 2, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)
        self.camera_item.setPen(pen)
        self.camera_item.setZValue(30)
        self.temp_line = QGraphicsLineItem()
        tpen = QPen(QColor(255, 255, 255), 2, Qt.PenStyle.DashLine)
        tpen.setCosmetic(True)
        self.temp_line.setPen(tpen)
        self.temp_line.setZValue(40)
        self.temp_line.hide()
        self.brush_item = QGraphicsEllipseItem()
        bpen = QPen(QColor(0, 220, 255), 1.5)
        bpen.setCosmetic(True)
        self.brush_item.setPen(bpen)
        self.brush_item.setZValue(50)
        self.brush_item.hide()
        for item in (
            self.puppet_item,
            self.mask_item,
            self.parts_item,
            *self.onion_items,
            self.camera_item,
            self.temp_line,
            self.brush_item,
        ):
            s.addItem(item)
        self.rubber = QRubberBand(QRubberBand.Shape.Rectangle, self.viewport())

    def _sync_rig_items(self) -> None:
        """One handle per joint and one line per bone, rebuilt when the rig's shape changes."""
        rig = self.doc.project.rig
        shape = (rig.joint_ids, tuple((b.id, b.a, b.b) for b in rig.bones))
        if shape == self._rig_shape:
            return
        self._rig_shape, self._tipped_rig = shape, None
        for item in [*self._joints.values(), *self._bones.values()]:
            self.scene().removeItem(item)
        self._joints = {j: JointHandle(j) for j in rig.joint_ids}
        self._bones = {b.id: BoneLine(b.id) for b in rig.bones}
        for item in [*self._joints.values(), *self._bones.values()]:
            self.scene().addItem(item)
        self._show_selection()

    @property
    def joint_handles(self) -> dict[str, JointHandle]:
        """The handle drawn for each joint, by joint id."""
        return dict(self._joints)

    @property
    def bone_lines(self) -> dict[str, BoneLine]:
        """The line drawn for each bone, by bone id."""
        return dict(self._bones)

    def _show_selection(self) -> None:
        joints, bones = set(self.doc.selected_joints), set(self.doc.selected_bones)
        project = self.doc.project
        pins = set(project.pins)
        h = project.hierarchy()
        roots = {h.joint_ids[r] for r in h.roots if len(h.subtree(r)) > 1}
        shown = (self._rig_shape, frozenset(joints), frozenset(bones), frozenset(pins), frozenset(roots))
        if shown == self._roles_shown:
            return  # a drag's every move: the same marks, and each handle's cached picture stays
        self._roles_shown = shown
        for jid, item in self._joints.items():
            item.set_role(jid in pins, jid in roots, jid in joints)
        for bid, item in self._bones.items():
            item.set_selected(bid in bones)

    # -- drawing the document ------------------------------------------------------------------
    def refresh(self, *_args) -> None:
        """Redraw everything from the document at the playhead."""
        project = self.doc.project
        self._sync_image()
        self._sync_rig_items()
        self._show_selection()
        if project.rig is not self._tipped_rig:  # not on a drag's every move: the rig stays the same object
            self._tipped_rig = project.rig
            for bone in project.rig.bones:  # right-click a bone to change its depth
                self._bones[bone.id].setToolTip(f"{bone.id} · depth {bone.depth}" if bone.depth else bone.id)
        pose = self.pose()
        self._place_rig(pose)
        if self.gesture is None:
            self._drag_puppet.cancel()
            self._draw_puppet(pose)
        else:  # the draft warp follows the drag at most every DRAG_PUPPET_MS, the latest pose always drawn
            self._drag_puppet.call(lambda: self._draw_drag_puppet(self.pose()))
        self._draw_onion()
        self.draw_mask()
        self._draw_parts(pose)
        self._draw_camera()
        self.preview.request(project, self.doc.mask)

    def _sync_image(self) -> None:
        project = self.doc.project
        path = project.resolve(project.image)
        if path == self._image_path:
            return
        self._image_path = path
        self.image_item.setPixmap(QPixmap.fromImage(rgb_image(self.preview.shown_reference(project))))
        self.scene().setSceneRect(self.image_item.boundingRect().adjusted(-400, -400, 400, 400))
        self._fitted_once = False
        self.fit()

    def _place_rig(self, pose: np.ndarray) -> None:
        """Put the handles and bone lines at `pose`, moving only those whose joints moved since the last call (an
        IK move moves a few)."""
        rig = self.doc.project.rig
        placed, shape = self._placed
        if placed is None or shape != self._rig_shape or placed.shape != pose.shape:
            moved = np.ones(len(pose), bool)
        else:
            moved = (pose != placed).any(axis=1)
        handles = list(self._joints.values())
        for j in np.flatnonzero(moved):
            handles[j].setPos(float(pose[j][0]), float(pose[j][1]))
        for bone, (a, b) in zip(rig.bones, rig.bone_joint_indices(), strict=True):
            if moved[a] or moved[b]:
                self._bones[bone.id].setLine(float(pose[a][0]), float(pose[a][1]), float(pose[b][0]), float(pose[b][1]))
        self._placed = (pose.copy(), self._rig_shape)

    def _draw_puppet(self, pose: np.ndarray, draft: bool = False) -> None:
        out = self.preview.render(pose, draft) if self.overlays["puppet"] else None
        if out is None:
            self.puppet_item.hide()
            return
        self._show_puppet(*out)
        if draft:
            self._refine_timer.start()

    def _draw_drag_puppet(self, pose: np.ndarray) -> None:
        """A drag's draft puppet: the scrubbing draft's mesh at DRAG_DRAFT_SCALE of its size (fewer pixels to warp
        on a move); the release draws it at full size."""
        r = self.preview.result
        draft = None if r is None else r.draft
        if not self.overlays["puppet"] or draft is None or len(pose) != len(draft.rig.joints):
            self._draw_puppet(pose, draft=True)
            return
        frame, to_small = draft.render_small(apply_affine(r.to_draft, pose), DRAG_DRAFT_SCALE)
        self._show_puppet(frame, to_small[:, :2] @ r.to_draft)  # reference -> draft -> small (no shift)
        self._refine_timer.start()

    def _show_puppet(self, frame: np.ndarray, matrix: np.ndarray) -> None:
        """Show a warped frame, placed over the picture by its 2x3 reference -> frame `matrix`."""
        self.puppet_item.setPixmap(QPixmap.fromImage(rgb_image(frame)))
        self.puppet_item.setTransform(_qtransform(invert_affine(matrix)))
        self.puppet_item.show()

    def refine(self) -> None:
        """The playhead rests: redraw the puppet at full size (a drag's release does, at its end)."""
        if self.gesture is not None:
            self._refine_timer.start()  # not while a drag lasts: after it
            return
        self._draw_puppet(self.pose(), draft=False)

    def pose(self) -> np.ndarray:
        """Joint positions at the playhead, from all-frame positions cached per project value."""
        project = self.doc.project
        project = self.doc.project
        if self.gesture is not None and self._positions[0] is not project:  # every move: the playhead frame only
            if self._playhead_pose[0] is not project or self._playhead_pose[1] != self.doc.frame:
                pose, self._drag_sample = project.pose_sample(self.doc.frame, self._drag_sample)
                self._playhead_pose = (project, self.doc.frame, pose)
            return self._playhead_pose[2]
        frames = self.poses()
        return frames[min(self.doc.frame, len(frames) - 1)] if len(frames) else project.rig.rest_xy()

    def poses(self) -> np.ndarray:
        """Joint positions at every frame (frames, joints, 2), cached per project value."""
        project = self.doc.project
        if self._positions[0] is not project:
            self._positions = (project, project.joint_positions(max(project.frames, 1)))
        return self._positions[1]

    def draw_frame(self, *_args) -> None:
        """A new playhead frame: move the rig and draw a draft puppet now, the full one when scrubbing stops."""
        pose = self.pose()
        self._place_rig(pose)
        self._draw_puppet(pose, draft=True)
        self.draw_mask()
        self._draw_onion()
        self._draw_parts(pose)
        self._draw_camera()

    def _draw_onion(self) -> None:
        project, frame = self.doc.project, self.doc.frame
        pairs = project.rig.bone_joint_indices()
        shown = [frame + off for off in ONION_OFFSETS if 0 <= frame + off < project.frames]
        sampled = {}
        if self.overlays["onion"] and shown and self._positions[0] is not project:  # a drag: these frames, one pass
            sampled = dict(zip(shown, project.positions_at(shown), strict=True))
        for off, item in zip(ONION_OFFSETS, self.onion_items, strict=True):
            f = frame + off
            if not self.overlays["onion"] or not 0 <= f < project.frames or not len(pairs):
                item.hide()
                continue
            pose = self._positions[1][f] if self._positions[0] is project else sampled[f]
            path = QPainterPath()
            for a, b in pairs:
                path.moveTo(*pose[a])
                path.lineTo(*pose[b])
            item.setPath(path)
            item.show()

    def current_mask(self) -> np.ndarray | None:
        """The subject mask in use: painted, else the preview's (file, alpha or derived)."""
        if self.doc.mask is not None:
            return self.doc.mask
        return self.preview.result.mask if self.preview.result is not None else None

    def draw_mask(self, mask: np.ndarray | None = None) -> None:
        """Show `mask` (a brush stroke under way), else the mask in use, when the mask overlay is on."""
        mask = self.current_mask() if mask is None else mask
        if not self.overlays["mask"] or mask is None:
            self.mask_item.hide()
            return
        # Over the posed puppet the mask is drawn posed too, in the same space; the brush paints the rest
        # picture, so while it is the tool (or the puppet is hidden) the mask is shown at rest.
        posed = None
        if self.puppet_item.isVisible() and self.tool not in AT_REST_TOOLS and self.gesture is None:
            posed = self.preview.render_mask(self.pose())
        self.mask_item.setTransform(_qtransform(invert_affine(posed[1])) if posed else QTransform())
        mask = posed[0] if posed else mask
        rgba = np.zeros((*mask.shape, 4), np.uint8)
        rgba[mask] = (0, 200, 255, 110)
        rgba[~mask] = (0, 0, 0, 90)
        self.mask_item.setPixmap(QPixmap.fromImage(rgb_image(rgba)))
        self.mask_item.show()

    def _draw_parts(self, pose: np.ndarray) -> None:
        mask, rig = self.current_mask(), self.doc.project.rig
        if not self.overlays["parts"] or mask is None or not rig.bones:
            self.parts_item.hide()
            return
        key = (rig, id(mask))
        if self._parts_cache is None or self._parts_cache[0] != key:
            self._parts_cache = (key, part_labels(mask, rig, rig.rest_xy()))
        labels = self._parts_cache[1]
        posed = posed_part_masks(part_masks(labels, len(rig.bones)), rig, rig.rest_xy(), pose[None])[0]
        colour = colour_parts(posed, rig)
        alpha = (posed.any(0) * 140).astype(np.uint8)
        self.parts_item.setPixmap(QPixmap.fromImage(rgb_image(np.dstack([colour, alpha]))))
        self.parts_item.show()

    def _draw_camera(self) -> None:
        project = self.doc.project
        if not (self.overlays["camera"] or self.tool == "camera"):
            self.camera_item.hide()
            return
        corners = camera_rectangle(edits.camera_at(project, self.doc.frame), project.size, inset=0.0)
        to_ref = invert_affine(self.to_output())
        pts = corners @ to_ref[:, :2].T + to_ref[:, 2]
        self.camera_item.setPolygon(QPolygonF([QPointF(*p) for p in pts]))
        self.camera_item.show()

    def to_output(self) -> np.ndarray:
        """The 2x3 matrix from picture pixels to output pixels (the preview's, else from the picture's size)."""
        if self.preview.result is not None:
            return self.preview.result.to_output
        from poseanything_studio.core.project import reference_to_output

        ref = self.preview.shown_reference(self.doc.project)
        return reference_to_output((ref.shape[1], ref.shape[0]), self.doc.project.size)

    # -- view -----------------------------------------------------------------------------------
    def refit(self) -> None:
        """Fit the picture in the view, and keep it fitted as the view resizes until the user zooms."""
        self._fitted_once = False
        self.fit()

    def forget_picture(self) -> None:
        """The picture may have changed on disk: read and draw it again at the next redraw."""
        self._image_path = None
        self.preview.forget_reference()

    def fit(self) -> None:
        """Fit the picture in the view."""
        rect = self.image_item.boundingRect()
        if not rect.isEmpty():
            self.fitInView(rect.adjusted(-20, -20, 20, 20), Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._fitted_once:
            self.fit()

    def sizeHint(self) -> QSize:
        return QSize(900, 560)

    def set_tool(self, tool: Tool | str) -> None:
        """Switch the active tool (ValueError for a name that is none)."""
        self.tool = Tool(tool)
        self.brush_item.setVisible(tool == "brush")
        self.viewport().setCursor(self.tools[tool].cursor)
        self._draw_camera()

    def set_overlay(self, name: str, on: bool) -> None:
        """Switch an overlay (puppet, onion, mask, parts, camera) on or off."""
        self.overlays[name] = on
        self.refresh()

    # -- events ---------------------------------------------------------------------------------
    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() == Qt.Key.Key_Space:
            event.accept()  # Space is ours here: tap = play/pause, hold + drag = pan
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down, self._space_panned = True, False
            return
        if event.key() == Qt.Key.Key_BracketLeft:
            self.brush_radius = max(2.0, self.brush_radius / 1.25)
        elif event.key() == Qt.Key.Key_BracketRight:
            self.brush_radius = min(400.0, self.brush_radius * 1.25)
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            if not self._space_panned:
                self.play_toggle_requested.emit()
            return
        super().keyReleaseEvent(event)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        mods = event.modifiers()
        if self.tool == "camera" and not mods & Qt.KeyboardModifier.ControlModifier:
            roll = bool(mods & Qt.KeyboardModifier.ShiftModifier)
            self.wheel_camera(steps, roll)
        elif mods & Qt.KeyboardModifier.AltModifier and self.doc.selected_joints:
            steps = steps or event.angleDelta().x() / 120.0  # Alt turns the wheel sideways on some systems
            self._wheel_scale_selection(steps)
        else:
            factor = 1.15**steps
            self.scale(factor, factor)
            self._fitted_once = True

    def _wheel_serial_now(self) -> int:
        if self._wheel_serial is None:
            self._wheel_serial = new_drag_serial()
        self._wheel_timer.start()
        return self._wheel_serial

    def wheel_camera(self, steps: float, roll: bool) -> None:
        """Zoom the camera by wheel `steps` (or roll it, Shift), keyed at the playhead; one undo step per spin."""
        p = self.doc.project
        params = edits.camera_at(p, self.doc.frame).copy()
        if roll:
            params[3] += 2.0 * steps
        else:
            params[2] *= 1.08**steps
        self.doc.apply(
            edits.set_camera_key(p, self.doc.frame, params),
            "Roll camera" if roll else "Zoom camera",
            drag=self._wheel_serial_now(),
        )

    def _wheel_scale_selection(self, steps: float) -> None:
        p = self.doc.project
        moved = edits.scale_joints(p, self.doc.selected_joints, 1.05**steps, self.doc.frame, self.animate)
        self.doc.apply(moved, "Scale joints", drag=self._wheel_serial_now())

    def mousePressEvent(self, event) -> None:
        """Middle button or Space + left: pan; otherwise the active tool's handler starts its gesture."""
        pos = self.mapToScene(event.position().toPoint())
        if self.gesture is not None:  # a second button while a drag lasts: that drag ends here
            gesture, self.gesture = self.gesture, None
            gesture.abandon()
        if event.button() == Qt.MouseButton.MiddleButton or (
            self._space_down and event.button() == Qt.MouseButton.LeftButton
        ):
            self.gesture = Pan(self, event)
            self._space_panned = True
        elif event.button() == Qt.MouseButton.RightButton and self.tool not in AT_REST_TOOLS:
            super().mousePressEvent(event)
        else:
            self.gesture = self.tools[self.tool].press(pos, event)

    def mouseMoveEvent(self, event) -> None:
        pos = self.mapToScene(event.position().toPoint())
        self.tools[self.tool].hover(pos)
        if self.gesture is not None:
            self.gesture.move(pos, event)

    def mouseReleaseEvent(self, event) -> None:
        pos = self.mapToScene(event.position().toPoint())
        gesture, self.gesture = self.gesture, None
        if gesture is None:
            super().mouseReleaseEvent(event)
        else:
            gesture.release(pos, event)

    def show_brush_at(self, pos: QPointF) -> None:
        """Draw the brush's ring at `pos`, its size the brush radius."""
        r = self.brush_radius
        self.brush_item.setRect(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))

    # -- select / move --------------------------------------------------------------------------
    def contextMenuEvent(self, event) -> None:
        """Right-click on a bone: its draw order (depth) where its part overlaps others."""
        item = self.item_at(self.mapToScene(event.pos()))
        if self.tool not in AT_REST_TOOLS and isinstance(item, JointHandle):
            self._joint_menu(item.joint_id, event.globalPos())
            return
        if self.tool in AT_REST_TOOLS or not isinstance(item, BoneLine):
            super().contextMenuEvent(event)
            return
        rig = self.doc.project.rig
        depth = next(b.depth for b in rig.bones if b.id == item.bone_id)
        menu = QMenu(self)
        menu.addSection(f"{item.bone_id}: depth {depth}")
        menu.addAction(f"Draw in front (depth {depth + 1})", lambda: self.set_bone_depth(item.bone_id, depth + 1))
        menu.addAction(f"Draw behind (depth {depth - 1})", lambda: self.set_bone_depth(item.bone_id, depth - 1))
        menu.addAction("Set depth…", lambda: self._ask_bone_depth(item.bone_id, depth))
        menu.exec(event.globalPos())

    def _joint_menu(self, joint_id: str, where) -> None:
        """Right-click on a joint: pin or unpin it, make it its subject's root."""
        project = self.doc.project
        menu = QMenu(self)
        menu.addSection(joint_id)
        pinned = joint_id in project.pins
        menu.addAction("Unpin" if pinned else "Pin (stays put while posing)", lambda: self.toggle_pins([joint_id]))
        h = project.hierarchy()
        if h.parent[h.index(joint_id)] >= 0:
            menu.addAction("Make root of its subject", lambda: self.make_root(joint_id))
        menu.exec(where)

    def _ask_bone_depth(self, bone_id: str, depth: int) -> None:
        value, ok = QInputDialog.getInt(
            self, "Bone depth", f"Draw order of {bone_id}'s part (higher in front):", depth, -MAX_DEPTH, MAX_DEPTH
        )
        if ok:
            self.set_bone_depth(bone_id, value)

    def set_bone_depth(self, bone_id: str, depth: int) -> None:
        """Make `bone_id` draw at `depth` (undoable); where parts overlap, higher depths draw in front."""
        rig = self.doc.project.rig.with_bone_depth(bone_id, max(-MAX_DEPTH, min(MAX_DEPTH, depth)))
        self.doc.apply(replace(self.doc.project, rig=rig), f"Depth of {bone_id}")
        self.status_message.emit(f"{bone_id} draws at depth {depth} (higher draws in front)")

    def item_at(self, pos: QPointF) -> JointHandle | BoneLine | None:
        """The joint handle or bone line under the scene point `pos`, topmost first; None over empty space."""
        view_pos = self.mapFromScene(pos)
        for item in self.items(view_pos):
            if isinstance(item, JointHandle | BoneLine):
                return item
        return None

    # -- posing helpers ---------------------------------------------------------------------------
    def bone_child(self, bone_id: str) -> str:
        """The end of a bone that hangs from the other in the hierarchy."""
        project = self.doc.project
        bone = next(b for b in project.rig.bones if b.id == bone_id)
        h = project.hierarchy()
        return bone.a if h.parent[h.index(bone.a)] == h.index(bone.b) else bone.b

    def toggle_pins(self, joint_ids) -> None:
        """Pin the joints (they stay put while posing), or unpin them when all are pinned already."""
        project = self.doc.project
        ids = [j for j in joint_ids if j in project.rig.joint_ids]
        if not ids:
            return
        pins = tuple(p for p in project.pins if p in project.rig.joint_ids)
        if all(j in pins for j in ids):
            new, text = tuple(p for p in pins if p not in ids), "Unpin"
        else:
            new, text = tuple(dict.fromkeys([*pins, *ids])), "Pin"
        self.doc.apply(replace(project, pins=new), f"{text} {', '.join(ids)}")
        self.status_message.emit(f"{text}ned {', '.join(ids)}")

    def make_root(self, joint_id: str) -> None:
        """Make `joint_id` its subject's root (dragging it moves the subject; others turn about their parents)."""
        project = self.doc.project
        group = next(g for g in project.rig.components() if joint_id in g)
        roots = tuple(r for r in project.roots if r not in group and r in project.rig.joint_ids)
        self.doc.apply(replace(project, roots=(*roots, joint_id)), f"Root {joint_id}")


def _qtransform(matrix: np.ndarray) -> QTransform:
    """A QTransform from a 2x3 affine matrix (x' = m @ [x, y, 1])."""
    m = matrix
    return QTransform(m[0, 0], m[1, 0], m[0, 1], m[1, 1], m[0, 2], m[1, 2])
