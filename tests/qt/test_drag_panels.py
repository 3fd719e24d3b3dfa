"""A pose drag on the canvas and the panels beside it: the canvas follows every mouse move; the curve editor and the
dopesheet, which show every frame, catch up when the button comes up (or a second button ends the drag)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor

from poseanything_studio.core import edits
from poseanything_studio.qt.timeline import KEY_COLOURS, ROW_H
from tests.qt.test_window import view_point

JOINT, FRAME = "back_l_paw", 12  # the cat's paw has keys at 8 and 16, none at 12


def joint_xy(doc, joint_id, frame):
    return edits.pose_at(doc.project, frame)[doc.project.rig.joint_index(joint_id)]


def curve(studio, label):
    """The (frames, values) the curve editor draws for `label` ("back_l_paw.x")."""
    item = next(c for c in studio.curves.plot.listDataItems() if c.name() == label)
    return item.getData()


def key_points(studio, joint_id):
    """The frames of the key points the curve editor draws for a joint."""
    return {round(p.pos().x()) for p in studio.curves.points.points() if p.data()[0] == joint_id}


def shown_dopesheet_colour(studio, row: str, frame: int) -> QColor:
    """The colour on screen (what the window last painted, not a fresh rendering) where the dopesheet would mark
    a key of `row` at `frame` (a little right of the mark's middle, where the playhead's line is not)."""
    sheet = studio.timeline.dopesheet
    y = sheet.y_of(sheet.rows().index(row)) + ROW_H / 2
    assert 0 < y < sheet.height(), "the row is in view"
    at = sheet.mapTo(studio, QPoint(round(sheet.x_of(frame) + 2.5), round(y)))  # beside the playhead's line
    return studio.screen().grabWindow(studio.winId()).toImage().pixelColor(at)


def press_and_move(qtbot, studio, a, offsets):
    """Press at `a` (reference pixels) and move through a + each offset, the button held; returns the last point."""
    vp = studio.canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=view_point(studio, a))
    for off in offsets:
        qtbot.mouseMove(vp, view_point(studio, np.asarray(a) + off))
    return np.asarray(a) + offsets[-1]


def start(studio, qtbot):
    doc = studio.doc
    doc.set_frame(FRAME)
    doc.select(joints=[JOINT])
    sheet = studio.timeline.dopesheet
    sheet.scrollbar.setValue(sheet.rows().index(JOINT))  # the paw's row at the top, as the user scrolls it
    qtbot.wait(150)  # the curve editor shows the selected paw, the dopesheet its marks
    assert key_points(studio, JOINT) == {0, 4, 8, 16, 20, 28, 32, 40, 44, 48}
    assert shown_dopesheet_colour(studio, JOINT, FRAME) != KEY_COLOURS["smooth"]
    return joint_xy(doc, JOINT, FRAME)


def test_during_a_drag_the_handle_follows_the_mouse_and_after_it_the_panels_show_the_new_key(studio, qtbot):
    doc, canvas = studio.doc, studio.canvas
    paw = start(studio, qtbot)
    handle = canvas.joint_handles[JOINT]
    vp = canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=view_point(studio, paw))
    for off in ((5, -6), (10, -12), (15, -18), (20, -24)):  # IK: the end joint goes where the mouse is
        qtbot.mouseMove(vp, view_point(studio, paw + off))
        mouse = canvas.mapToScene(view_point(studio, paw + off))
        assert np.hypot(handle.pos().x() - mouse.x(), handle.pos().y() - mouse.y()) < 2.0
    end = paw + (20, -24)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=view_point(studio, end))
    qtbot.wait(50)
    new = joint_xy(doc, JOINT, FRAME)
    assert np.allclose(new, end, atol=2.0)
    assert FRAME in key_points(studio, JOINT)  # the new key's point on the curves
    frames, xs = curve(studio, f"{JOINT}.x")
    _, ys = curve(studio, f"{JOINT}.y")
    at = list(frames).index(FRAME)
    assert np.allclose((xs[at], ys[at]), new)  # the curves pass through it
    assert np.allclose(xs, studio.canvas.poses()[:, doc.project.rig.joint_index(JOINT), 0])  # every frame resampled
    assert shown_dopesheet_colour(studio, JOINT, FRAME) == KEY_COLOURS["smooth"]  # its mark
    assert doc.undo_stack.count() == 1
    doc.undo_stack.undo()  # Ctrl+Z: the key is gone from the curves and the dopesheet too
    qtbot.waitUntil(lambda: FRAME not in key_points(studio, JOINT), timeout=2000)
    assert np.allclose(curve(studio, f"{JOINT}.x")[1][at], paw[0])
    qtbot.waitUntil(lambda: shown_dopesheet_colour(studio, JOINT, FRAME) != KEY_COLOURS["smooth"], timeout=2000)


def test_a_second_button_during_a_drag_ends_it_and_the_panels_catch_up(studio, qtbot):
    doc = studio.doc
    paw = start(studio, qtbot)
    end = press_and_move(qtbot, studio, paw, [(5, -6), (10, -12), (15, -18)])
    vp = studio.canvas.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.MiddleButton, pos=view_point(studio, end))  # starts a pan instead
    qtbot.mouseRelease(vp, Qt.MouseButton.MiddleButton, pos=view_point(studio, end))
    qtbot.wait(50)
    assert np.allclose(joint_xy(doc, JOINT, FRAME), end, atol=2.0)
    assert FRAME in key_points(studio, JOINT)
    assert shown_dopesheet_colour(studio, JOINT, FRAME) == KEY_COLOURS["smooth"]
