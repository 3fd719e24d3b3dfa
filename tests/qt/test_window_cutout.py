"""The Cut out tool and the edge-snapping brush as a user drives them on the astronaut photo."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from test_window import drag, view_point

from poseanything_studio.core.grabcut import iou

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))  # the hand masks live beside the core tests
from hand_masks import USER_STROKES, photo


@pytest.fixture
def astronaut(studio, tmp_path):
    """The window on a new project on the astronaut photo, and her hand mask."""
    from poseanything_studio.qt.main_window import blank_project

    rgb, hand = photo("astronaut")
    path = tmp_path / "astronaut.png"
    cv2.imwrite(str(path), rgb[..., ::-1])
    studio.set_project(blank_project(path))
    studio.canvas.refresh()
    return studio, hand


def _stroke(qtbot, window, points, button=Qt.MouseButton.LeftButton, modifier=Qt.KeyboardModifier.NoModifier):
    vp = window.canvas.viewport()
    qtbot.mousePress(vp, button, modifier, pos=view_point(window, points[0]))
    for p in points[1:]:
        qtbot.mouseMove(vp, view_point(window, p))
    qtbot.mouseRelease(vp, button, modifier, pos=view_point(window, points[-1]))


def _cut(qtbot, window) -> None:
    assert window.busy.running  # it runs in the background
    qtbot.waitUntil(lambda: not window.busy.running, timeout=60_000)


def test_a_box_cuts_the_astronaut_out_in_one_undo_step_and_strokes_refine_it(astronaut, qtbot):
    window, hand = astronaut
    doc = window.doc
    window.tool_actions["cutout"].trigger()
    assert window.canvas.tool == "cutout" and "box" in window.statusBar().currentMessage()
    before, steps = doc.mask, doc.undo_stack.index()
    x0, y0, x1, y1 = USER_STROKES["astronaut"]["box"]
    drag(qtbot, window, (x0, y0), (x1, y1 - 1))
    _cut(qtbot, window)
    boxed = doc.mask
    assert boxed is not None and iou(boxed, hand) > 0.75  # measured 0.78
    assert doc.undo_stack.index() == steps + 1 and window.overlay_actions["mask"].isChecked()
    assert window.canvas.mask_item.isVisible()
    # the helmet she holds and the shuttle model are background; her hair is her. Drawn quickly: the first
    # stroke starts a cut, the others wait and the last marks are cut once it ends
    for points in USER_STROKES["astronaut"]["background"]:
        _stroke(qtbot, window, points, Qt.MouseButton.RightButton)
    for points in USER_STROKES["astronaut"]["foreground"]:
        _stroke(qtbot, window, points)
    qtbot.waitUntil(lambda: not window.busy.running, timeout=60_000)  # a waiting cut starts as one ends
    strokes = len(USER_STROKES["astronaut"]["background"]) + len(USER_STROKES["astronaut"]["foreground"])
    assert steps + 3 <= doc.undo_stack.index() < steps + 1 + strokes  # the waiting marks were cut together
    refined = doc.mask
    assert iou(refined, hand) > iou(boxed, hand) + 0.05  # measured 0.90 against 0.78
    tool = window.canvas.tools["cutout"]
    assert len(tool.marks) == 1 + strokes and all(m.isVisible() for m in tool.marks)
    window.tool_actions["select"].trigger()
    assert not any(m.isVisible() for m in tool.marks)  # the marks show with their tool only
    window.tool_actions["cutout"].trigger()
    assert all(m.isVisible() for m in tool.marks)
    doc.undo_stack.undo()
    assert doc.mask is not refined
    while doc.undo_stack.index() > steps:  # one step per cut
        doc.undo_stack.undo()
    assert doc.mask is before


def test_the_human_template_added_on_her_cut_out_lands_as_on_her_hand_mask(astronaut, qtbot):
    """Cut out as a user cuts her (a box and strokes), then Rig > Add template > Human: her shoulders, neck and
    waving arm take their places on her hand mask (the pocket the cut leaves at her collar put the shoulders on
    her chin and a hand in the pocket)."""
    from poseanything_studio.core.templates import fitted, load_templates

    window, hand = astronaut
    window.tool_actions["cutout"].trigger()
    x0, y0, x1, y1 = USER_STROKES["astronaut"]["box"]
    drag(qtbot, window, (x0, y0), (x1, y1 - 1))
    _cut(qtbot, window)
    for points in USER_STROKES["astronaut"]["background"]:
        _stroke(qtbot, window, points, Qt.MouseButton.RightButton)
    for points in USER_STROKES["astronaut"]["foreground"]:
        _stroke(qtbot, window, points)
    qtbot.waitUntil(lambda: not window.busy.running, timeout=60_000)
    human = next(a for a in window.templates_menu.actions() if a.text() == "Human body")
    human.trigger()
    qtbot.waitUntil(lambda: not window.busy.running, timeout=120_000)  # skan's first compile
    rig = window.doc.project.rig
    on_hand = fitted(next(t for t in load_templates() if t.key == "human"), (512, 512), hand)
    for joint in ("neck", "shoulder_l", "shoulder_r", "elbow_r", "hand_r"):
        off = float(np.hypot(*np.subtract(rig.joint(joint).xy, on_hand.joint(joint).xy)))
        assert off < 40, f"{joint} at {rig.joint(joint).xy}, {off:.0f} px from its place on her hand mask"


def test_marks_on_another_picture_are_forgotten(astronaut, qtbot, tmp_path):
    from poseanything_studio.qt.main_window import blank_project

    window, _hand = astronaut
    window.tool_actions["cutout"].trigger()
    _stroke(qtbot, window, [(30, 30), (60, 200)], Qt.MouseButton.RightButton)
    tool = window.canvas.tools["cutout"]
    assert tool.strokes().background and tool.marks
    rgb, _ = photo("coffee")
    cv2.imwrite(str(tmp_path / "coffee.png"), rgb[..., ::-1])
    window.set_project(blank_project(tmp_path / "coffee.png"))
    assert not tool.marks and not tool.strokes().background


def test_a_cut_running_or_waiting_when_the_picture_changes_lands_nowhere(astronaut, qtbot, tmp_path):
    from poseanything_studio.qt.main_window import blank_project

    window, _hand = astronaut
    window.tool_actions["cutout"].trigger()
    x0, y0, x1, y1 = USER_STROKES["astronaut"]["box"]
    drag(qtbot, window, (x0, y0), (x1, y1))
    _stroke(qtbot, window, [(30, 30), (60, 200)], Qt.MouseButton.RightButton)  # waits for the first cut
    assert window.busy.running and "then Cut out" in window.statusBar().currentMessage()
    rgb, _ = photo("coffee")
    cv2.imwrite(str(tmp_path / "coffee.png"), rgb[..., ::-1])
    window.set_project(blank_project(tmp_path / "coffee.png"))
    qtbot.waitUntil(lambda: not window.busy.running, timeout=60_000)
    assert window.doc.mask is None and window.doc.undo_stack.count() == 0


def test_without_a_box_or_a_subject_stroke_it_says_so_and_changes_nothing(astronaut, qtbot):
    window, _hand = astronaut
    window.tool_actions["cutout"].trigger()
    steps = window.doc.undo_stack.count()
    _stroke(qtbot, window, [(30, 30), (60, 200)], Qt.MouseButton.RightButton)  # background only
    assert not window.busy.running and window.doc.undo_stack.count() == steps
    assert "box" in window.statusBar().currentMessage()
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point(window, (200, 200)))
    assert not window.busy.running and window.doc.undo_stack.count() == steps  # a click is no box
    assert "box" in window.statusBar().currentMessage()


def test_the_edge_brush_paints_her_side_of_an_edge_and_a_plain_brush_spills_over(astronaut, qtbot):
    window, hand = astronaut
    doc = window.doc
    window.tool_actions["brush"].trigger()
    # down the hair's edge against the wall, and the suit's against the black helmet she holds
    strokes = (([(293, 60), (293, 105)], 15), ([(283, 410), (283, 430)], 12))

    def paint(**kw) -> np.ndarray:
        for points, radius in strokes:
            window.canvas.brush_radius = radius
            _stroke(qtbot, window, points, **kw)
        painted = doc.mask.copy()
        for _ in strokes:
            doc.undo_stack.undo()
        return painted

    plain = paint()
    window.act_brush_snaps.trigger()
    assert window.canvas.brush_snaps
    snapped = paint()
    assert (plain & ~hand).sum() > 500 and (snapped & ~hand).sum() < 0.05 * (plain & ~hand).sum()  # 5 px of 838
    assert (snapped & hand).sum() > 0.75 * (plain & hand).sum()  # and most of her side
    assert np.array_equal(paint(modifier=Qt.KeyboardModifier.ControlModifier), plain)  # Ctrl: plain this once
    window.canvas.brush_radius = 15
    _stroke(qtbot, window, [(293, 60), (293, 105)])
    _stroke(qtbot, window, [(293, 60), (293, 105)], Qt.MouseButton.RightButton)  # erasing takes the same pixels
    assert doc.undo_stack.undoText() == "Erase mask" and not doc.mask.any()
