"""Tab in a text or number field moves the focus; on the canvas it toggles Animate / Setup mode."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QSpinBox


def test_tab_in_a_number_field_moves_focus_and_keeps_the_mode(studio, qtbot):
    panel = studio.render_panel
    fields = [w for w in panel.findChildren(QSpinBox) if w.isVisible() and w.isEnabled()]
    assert len(fields) >= 2
    first = fields[0]
    first.setFocus()
    qtbot.waitUntil(first.hasFocus)
    animate = studio.act_animate.isChecked()
    qtbot.keyClick(first, Qt.Key.Key_Tab)
    assert studio.act_animate.isChecked() == animate, "Tab in a field switched Animate / Setup mode"
    assert not first.hasFocus() and QApplication.focusWidget() is not None


def test_tab_in_a_text_field_moves_focus(studio, qtbot):
    edits = [w for w in studio.findChildren(QLineEdit) if w.isVisible() and w.isEnabled() and not w.isReadOnly()]
    assert edits
    edits[0].setFocus()
    qtbot.waitUntil(edits[0].hasFocus)
    animate = studio.act_animate.isChecked()
    qtbot.keyClick(edits[0], Qt.Key.Key_Tab)
    assert studio.act_animate.isChecked() == animate and not edits[0].hasFocus()


def test_tab_on_the_canvas_still_toggles_the_mode(studio, qtbot):
    studio.canvas.setFocus()
    qtbot.waitUntil(studio.canvas.hasFocus)
    animate = studio.act_animate.isChecked()
    qtbot.keyClick(studio.canvas, Qt.Key.Key_Tab)
    assert studio.act_animate.isChecked() != animate
