"""The canvas's tools: one handler per tool, and one object per drag from press to release.

A tool (select/move, rotate, rig, camera, mask brush) answers a mouse press with the gesture it starts, or
None; the canvas then hands that gesture every move and the release. Gestures compute a new Project with
`core.edits` (or `core.poses` while posing) and push it as one merged undo command per drag, never moving
an item first, so what the canvas shows is always the document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
from PySide6.QtCore import QLineF, QPointF, QRect, QSize, Qt

from poseanything_studio.core import edits, kinematics, poses
from poseanything_studio.core.edge_brush import paint_edge_line

from .document import new_drag_serial

if TYPE_CHECKING:
    from .canvas import Canvas

CLICK_PIXELS = 3  # a press that moves less than this many screen pixels is a click, not a drag
BONE_PIXELS = 6  # a rig drag from a joint to empty space longer than this adds a joint at its end


def _modifier(event, key: Qt.KeyboardModifier) -> bool:
    return bool(event.modifiers() & key)


class Gesture:
    """One drag on the canvas: the press made it; `move` follows the mouse, `release` finishes it."""

    def __init__(self, canvas: Canvas):
        self.canvas = canvas

    def move(self, pos: QPointF, event) -> None:
        """The mouse moved to `pos` (scene coordinates) with the button held."""

    def release(self, pos: QPointF, event) -> None:
        """The button came up at `pos`; the canvas has already forgotten this gesture."""

    def abandon(self) -> None:
        """Another press replaced this gesture before its release (a second button): finish without one."""


class Pan(Gesture):
    """Middle button, or Space + left button: scroll the view with the mouse."""

    def __init__(self, canvas: Canvas, event):
        super().__init__(canvas)
        self.last = event.position()
        canvas.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def move(self, pos: QPointF, event) -> None:
        delta = event.position() - self.last
        self.last = event.position()
        bars = self.canvas.horizontalScrollBar(), self.canvas.verticalScrollBar()
        bars[0].setValue(int(bars[0].value() - delta.x()))
        bars[1].setValue(int(bars[1].value() - delta.y()))

    def release(self, pos: QPointF, event) -> None:
        self.canvas.set_tool(self.canvas.tool)  # the tool's own cursor again


class _KeyingDrag(Gesture):
    """A drag that moves joints: it waits for a few screen pixels of movement, and a click without a move
    selects just `click_only` (a click on one of several selected joints)."""

    def __init__(self, canvas: Canvas, pos: QPointF, click_only: str | None):
        super().__init__(canvas)
        self.start, self.click_only = pos, click_only
        self.serial, self.moved = new_drag_serial(), False

    def moved_by(self, pos: QPointF) -> np.ndarray | None:
        """The drag's offset in scene pixels, or None while it is still a click."""
        delta = np.array([pos.x() - self.start.x(), pos.y() - self.start.y()])
        if not self.moved and np.hypot(*delta) * self.canvas.transform().m11() < CLICK_PIXELS:
            return None
        if not self.moved:
            self.moved = True
            self.canvas.posing.emit(True)  # the curves and dopesheet wait for the release (they show every frame)
        return delta

    def release(self, pos: QPointF, event) -> None:
        if self.click_only and not self.moved:
            self.canvas.doc.select(joints=[self.click_only])
        elif self.moved:
            self.canvas.refresh()  # every frame and the full-size puppet again, once the drag is over
            self.canvas.posing.emit(False)  # and the panels, once

    def abandon(self) -> None:
        if self.moved:
            self.canvas.refresh()
            self.canvas.posing.emit(False)


class JointDrag(_KeyingDrag):
    """Move joints by the mouse's offset (keyed at the playhead in Animate mode, the rest pose in Setup)."""

    def __init__(self, canvas: Canvas, pos: QPointF, joints: list[str], click_only: str | None = None):
        super().__init__(canvas, pos, click_only)
        doc = canvas.doc
        pose = edits.pose_at(doc.project, doc.frame)
        index = {j: i for i, j in enumerate(doc.project.rig.joint_ids)}
        self.start_xy = {j: pose[index[j]].copy() for j in joints}

    def move(self, pos: QPointF, event=None) -> None:
        delta = self.moved_by(pos)
        if delta is None:
            return  # a click, not yet a drag
        doc = self.canvas.doc
        moves = {j: tuple(xy + delta) for j, xy in self.start_xy.items()}
        text = "Move rig" if len(moves) == len(doc.project.rig.joints) > 1 else "Move joints"
        doc.apply(edits.move_joints(doc.project, moves, doc.frame, self.canvas.animate), text, drag=self.serial)


POSE_HINTS = {
    "rotate": "Rotate {} about its parent (Ctrl: move its subtree)",
    "turn": "Rotate {} about its parent",
    "translate": "Move {} and everything below it",
    "ik": "IK: pull {}, bending up to {} bones",
}
POSE_UNDO_TEXT = {"turn": "Rotate", "rotate": "Rotate", "translate": "Move", "ik": "IK"}


class PoseDrag(_KeyingDrag):
    """Pose one joint (Animate mode): rotate it about its parent (FK), translate its subtree, pull an end joint
    (IK), or "turn" about the parent following the mouse's angle (the Rotate tool)."""

    def __init__(
        self,
        canvas: Canvas,
        pos: QPointF,
        joint_id: str,
        mode: str,
        click_only: str | None = None,
        aim_from_mouse: bool = False,
    ):
        super().__init__(canvas, pos, click_only)
        project = self.base = canvas.doc.project
        h = self.hierarchy = project.hierarchy()
        self.pose = edits.pose_at(project, canvas.doc.frame)
        self.joint = j = h.index(joint_id)
        self.mode = kinematics.drag_mode(h, j) if mode == "auto" else mode
        self.pins = {h.index(p) for p in project.pins if p in h.joint_ids}
        self.aim, self.rest = aim_from_mouse, project.rig.rest_xy()
        parent = h.parent[j]
        self.pivot = self.pose[parent if parent >= 0 else j].copy()  # what "turn" rotates about
        canvas.status_message.emit(POSE_HINTS[self.mode].format(joint_id, canvas.ik_bones or "all"))

    def move(self, pos: QPointF, event=None) -> None:
        delta = self.moved_by(pos)
        if delta is None:
            return  # a click, not yet a drag
        canvas = self.canvas
        h, base, j = self.hierarchy, self.pose, self.joint
        if self.mode == "turn":
            a0 = np.arctan2(*(np.array([self.start.x(), self.start.y()]) - self.pivot)[::-1])
            a1 = np.arctan2(*(np.array([pos.x(), pos.y()]) - self.pivot)[::-1])
            turned = kinematics.rotate_subtree(h, base, j, float(a1 - a0), self.pivot)
            new = kinematics.settle(h, base, turned, self.rest, j, self.pins, canvas.ik_bones)
        else:
            target = np.array([pos.x(), pos.y()]) if self.aim else base[j] + delta
            new = kinematics.pose_drag(h, base, self.rest, j, target, self.mode, self.pins, canvas.ik_bones)
        frame = canvas.doc.frame
        if canvas.animate:
            project = poses.key_pose(self.base, frame, base, new)
        else:
            moved = {h.joint_ids[i]: tuple(new[i]) for i in range(len(new)) if np.hypot(*(new[i] - base[i])) > 1e-9}
            project = edits.move_joints(self.base, moved, frame, False)
        canvas.doc.apply(project, f"{POSE_UNDO_TEXT[self.mode]} {h.joint_ids[j]}", drag=self.serial)


class BandSelect(Gesture):
    """Drag on empty space: select the joints inside the rubber band (Shift adds to the selection)."""

    def __init__(self, canvas: Canvas, pos: QPointF, shift: bool):
        super().__init__(canvas)
        self.origin, self.shift = canvas.mapFromScene(pos), shift
        canvas.rubber.setGeometry(QRect(self.origin, QSize()))
        canvas.rubber.show()

    def move(self, pos: QPointF, event) -> None:
        self.canvas.rubber.setGeometry(QRect(self.origin, event.position().toPoint()).normalized())

    def release(self, pos: QPointF, event) -> None:
        canvas, doc = self.canvas, self.canvas.doc
        canvas.rubber.hide()
        area = canvas.mapToScene(QRect(self.origin, event.position().toPoint()).normalized()).boundingRect()
        pose = edits.pose_at(doc.project, doc.frame)
        inside = [j for j, xy in zip(doc.project.rig.joint_ids, pose, strict=True) if area.contains(QPointF(*xy))]
        joints = [*doc.selected_joints, *inside] if self.shift else inside
        bones = [b.id for b in doc.project.rig.bones if b.a in joints and b.b in joints]
        doc.select(joints=joints, bones=bones)


class BoneDraw(Gesture):
    """Rig tool, drag from a joint: onto another joint adds a bone, into empty space a joint joined to it."""

    def __init__(self, canvas: Canvas, pos: QPointF, joint_id: str, joint_pos: QPointF):
        super().__init__(canvas)
        self.joint, self.start = joint_id, joint_pos
        canvas.temp_line.setLine(QLineF(joint_pos, pos))
        canvas.temp_line.show()

    def move(self, pos: QPointF, event) -> None:
        self.canvas.temp_line.setLine(QLineF(self.start, pos))

    def release(self, pos: QPointF, event) -> None:
        canvas, doc, a = self.canvas, self.canvas.doc, self.joint
        canvas.temp_line.hide()
        target = canvas.item_at(pos)
        target_joint = getattr(target, "joint_id", None)
        if target_joint is not None and target_joint != a:
            doc.apply(edits.add_bone(doc.project, a, target_joint), f"Add bone {a}-{target_joint}")
            doc.select(joints=[target_joint])
        elif target is None and QLineF(self.start, pos).length() * canvas.transform().m11() > BONE_PIXELS:
            project, joint_id = edits.add_joint(doc.project, (pos.x(), pos.y()), a)
            if doc.apply(project, f"Add joint {joint_id}"):
                doc.select(joints=[joint_id])
        else:
            doc.select(joints=[a])


class CameraPan(Gesture):
    """Camera tool: drag pans the camera (a key on the camera row at the playhead)."""

    def __init__(self, canvas: Canvas, pos: QPointF):
        super().__init__(canvas)
        self.start, self.serial = pos, new_drag_serial()
        self.params = edits.camera_at(canvas.doc.project, canvas.doc.frame).copy()

    def move(self, pos: QPointF, event) -> None:
        doc = self.canvas.doc
        scale = float(self.canvas.to_output()[0, 0])
        params = edits.camera_pan_delta(self.params, (pos.x() - self.start.x(), pos.y() - self.start.y()), scale)
        doc.apply(edits.set_camera_key(doc.project, doc.frame, params), "Pan camera", drag=self.serial)


class BrushStroke(Gesture):
    """Mask brush: paint (or erase) the subject mask along the mouse; one undo step when the button comes up.
    Snapping to edges (`snap`), each dab takes only the pixels on its centre's side of a picture edge."""

    def __init__(self, canvas: Canvas, pos: QPointF, erase: bool, snap: bool = False):
        super().__init__(canvas)
        ref = canvas.preview.shown_reference(canvas.doc.project)
        mask = canvas.current_mask()
        if mask is None:
            mask = np.zeros(ref.shape[:2], bool)
        self.mask, self.erase, self.last = mask.copy(), erase, pos
        self.picture = ref if snap and ref.shape[:2] == mask.shape else None
        canvas.overlays["mask"] = True
        self.move(pos, None)

    def move(self, pos: QPointF, event) -> None:
        radius, value = self.canvas.brush_radius, 0 if self.erase else 1
        a, b = self.last, pos
        if self.picture is not None:
            self.mask = paint_edge_line(self.mask, self.picture, (a.x(), a.y()), (b.x(), b.y()), radius, bool(value))
            self.last = pos
            self.canvas.draw_mask(self.mask)
            return
        painted = self.mask.astype(np.uint8)
        cv2.line(painted, (int(a.x()), int(a.y())), (int(b.x()), int(b.y())), value, max(1, int(2 * radius)))
        cv2.circle(painted, (int(b.x()), int(b.y())), int(radius), value, -1)
        self.mask, self.last = painted > 0, pos
        self.canvas.draw_mask(self.mask)

    def release(self, pos: QPointF, event) -> None:
        self.canvas.doc.apply_mask(self.mask, "Erase mask" if self.erase else "Paint mask")


class Tool:
    """A canvas tool: what a left press (or a brush's right press) starts, and the cursor it shows."""

    cursor = Qt.CursorShape.ArrowCursor

    def __init__(self, canvas: Canvas):
        self.canvas = canvas

    def press(self, pos: QPointF, event) -> Gesture | None:
        """The gesture a press at `pos` (scene coordinates) starts, or None."""
        return None

    def hover(self, pos: QPointF) -> None:
        """The mouse moved to `pos`, pressed or not."""


class SelectTool(Tool):
    """Select and move: click or band-select joints and bones, drag to move (Animate: pose them), Alt-drag
    moves the whole rig."""

    def press(self, pos: QPointF, event) -> Gesture | None:
        canvas, doc = self.canvas, self.canvas.doc
        item = canvas.item_at(pos)
        shift = _modifier(event, Qt.KeyboardModifier.ShiftModifier)
        if _modifier(event, Qt.KeyboardModifier.AltModifier):  # Alt-drag moves the whole rig
            return JointDrag(canvas, pos, list(doc.project.rig.joint_ids))
        joint_id, bone_id = getattr(item, "joint_id", None), getattr(item, "bone_id", None)
        if joint_id is not None:
            return self._press_joint(pos, joint_id, shift, _modifier(event, Qt.KeyboardModifier.ControlModifier))
        if bone_id is not None and canvas.animate and not shift:
            child = canvas.bone_child(bone_id)
            doc.select(joints=[child], bones=[bone_id])
            return PoseDrag(canvas, pos, child, "rotate", aim_from_mouse=True)
        if bone_id is not None:
            bone = next(b for b in doc.project.rig.bones if b.id == bone_id)
            bones = [*doc.selected_bones, bone.id] if shift else [bone.id]
            joints = [*doc.selected_joints, bone.a, bone.b] if shift else [bone.a, bone.b]
            doc.select(joints=joints, bones=bones)
            return JointDrag(canvas, pos, list(dict.fromkeys(joints)))
        return BandSelect(canvas, pos, shift)

    def _press_joint(self, pos: QPointF, joint_id: str, shift: bool, ctrl: bool) -> Gesture | None:
        canvas, doc = self.canvas, self.canvas.doc
        joints = list(doc.selected_joints)
        click_only = None
        if shift:
            joints = [j for j in joints if j != joint_id] if joint_id in joints else [*joints, joint_id]
        elif joint_id not in joints:
            joints = [joint_id]
        else:
            click_only = joint_id  # a click without a move selects just this one
        doc.select(joints=joints, bones=doc.selected_bones if shift else ())
        if canvas.animate and not shift and len(joints) == 1:
            return PoseDrag(canvas, pos, joint_id, "translate" if ctrl else "auto", click_only)
        if joint_id in joints:
            return JointDrag(canvas, pos, joints, click_only)
        return None


class RotateTool(Tool):
    """Rotate: turn the joint (or bone) under the mouse, else the selected joint, about its parent."""

    cursor = Qt.CursorShape.PointingHandCursor

    def press(self, pos: QPointF, event) -> Gesture | None:
        canvas, doc = self.canvas, self.canvas.doc
        item = canvas.item_at(pos)
        joint_id, bone_id = getattr(item, "joint_id", None), getattr(item, "bone_id", None)
        if joint_id is None and bone_id is not None:
            joint_id = canvas.bone_child(bone_id)
        elif joint_id is None and doc.selected_joints:
            joint_id = doc.selected_joints[0]
        if joint_id is None:
            return None
        doc.select(joints=[joint_id])
        return PoseDrag(canvas, pos, joint_id, "turn")


class RigTool(Tool):
    """Rig: click adds a joint (joined to the one selected) and drags it; drag from a joint draws a bone."""

    cursor = Qt.CursorShape.CrossCursor

    def press(self, pos: QPointF, event) -> Gesture | None:
        canvas, doc = self.canvas, self.canvas.doc
        item = canvas.item_at(pos)
        joint_id = getattr(item, "joint_id", None)
        if joint_id is not None:
            return BoneDraw(canvas, pos, joint_id, item.pos())
        selected = doc.selected_joints
        project, new_id = edits.add_joint(doc.project, (pos.x(), pos.y()), selected[0] if len(selected) == 1 else None)
        if not doc.apply(project, f"Add joint {new_id}"):
            return None  # past a limit: the status bar says which
        doc.select(joints=[new_id])
        return JointDrag(canvas, pos, [new_id])


class CameraTool(Tool):
    """Camera: drag pans the camera (the wheel zooms and rolls it: Canvas.wheelEvent)."""

    cursor = Qt.CursorShape.SizeAllCursor

    def press(self, pos: QPointF, event) -> Gesture | None:
        return CameraPan(self.canvas, pos)


class BrushTool(Tool):
    """Mask brush: left paints, right or Alt erases; a ring shows the brush under the mouse. Ctrl swaps edge
    snapping (canvas.brush_snaps) for one stroke."""

    cursor = Qt.CursorShape.BlankCursor

    def press(self, pos: QPointF, event) -> Gesture | None:
        erase = event.button() == Qt.MouseButton.RightButton or _modifier(event, Qt.KeyboardModifier.AltModifier)
        snap = self.canvas.brush_snaps != _modifier(event, Qt.KeyboardModifier.ControlModifier)
        return BrushStroke(self.canvas, pos, erase, snap)

    def hover(self, pos: QPointF) -> None:
        self.canvas.show_brush_at(pos)


def make_tools(canvas: Canvas) -> dict[str, Tool]:
    """One handler per tool name in canvas.TOOLS."""
    from .cutout import CutoutTool  # it builds on this module's Tool and Gesture

    return {
        "select": SelectTool(canvas),
        "rotate": RotateTool(canvas),
        "rig": RigTool(canvas),
        "camera": CameraTool(canvas),
        "brush": BrushTool(canvas),
        "cutout": CutoutTool(canvas),
    }
