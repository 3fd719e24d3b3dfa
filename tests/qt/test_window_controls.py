"""The window's controls: toolbar buttons that stay put, icon player buttons, the render ETA, the dopesheet's scroll."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication


def test_toolbar_buttons_stay_put_when_the_undo_text_changes(studio, qtbot):
    from PySide6.QtWidgets import QToolBar

    bar = studio.findChild(QToolBar, "Tools")
    last = bar.widgetForAction(bar.actions()[-1])
    x = last.mapTo(studio, last.rect().topLeft()).x()
    studio.doc.apply(
        studio.doc.project.__class__(**{**studio.doc.project.__dict__, "fps": 12}),
        "a change with a very long description that would widen an undo button",
    )
    QApplication.processEvents()
    assert last.mapTo(studio, last.rect().topLeft()).x() == x
    undo = next(a for a in bar.actions() if a.text() == "Undo")
    assert undo.isEnabled() and "very long description" in undo.toolTip()


def test_cancel_clears_the_eta(studio, qtbot):
    panel = studio.render_panel
    panel.eta.setText("elapsed 1.0 s · ETA 9.0 s")
    panel.cancel_render()
    assert panel.eta.text() == ""


def test_the_player_buttons_are_icons_not_glyphs(studio):
    button = studio.render_panel.play_button
    assert button.text() == "" and not button.icon().isNull()


def test_the_dopesheet_scrolls_when_rows_overflow(studio, qtbot):
    sheet = studio.timeline.dopesheet
    studio.timeline_dock.setFloating(True)
    studio.timeline_dock.resize(900, 160)
    qtbot.waitUntil(lambda: sheet.height() < 160)
    assert sheet.scrollbar.isVisible()
    sheet.scrollbar.setValue(sheet.scrollbar.maximum())
    assert sheet.scroll == sheet.scrollbar.maximum() > 0
    last = len(sheet.rows()) - 1
    assert sheet.y_of(last) < sheet.height() and sheet.row_at(sheet.y_of(last) + 1) == sheet.rows()[-1]
    studio.timeline_dock.resize(900, 900)
    qtbot.waitUntil(lambda: not sheet.scrollbar.isVisible())
