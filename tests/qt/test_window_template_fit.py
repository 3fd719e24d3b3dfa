"""Rig > Add template: fitted to the subject's mask in the background, limbs turned to the auto-rig's ends even
before the start-up warm-up has compiled skan; with no mask, placed in the middle, and the status bar says so."""

from __future__ import annotations

import numpy as np


def _clear_rig(studio) -> None:
    from dataclasses import replace

    from poseanything_studio.core.rig import Rig

    studio.doc.apply(replace(studio.doc.project, rig=Rig((), ()), tracks={}), "clear the rig")


def test_add_template_fits_in_the_background_with_limbs_on_the_drawn_limbs(studio, qtbot):
    """A drawn bird with its wings raised: the template's wing tips land on the drawing's wing tips (3.8 px;
    24.9 along its back with the axis fit alone, which Add template gave before skan was compiled)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
    from subject_masks import bird, tip_distance

    from poseanything_studio.core.templates import load_templates

    subject = bird()
    mask = np.zeros((480, 832), bool)
    mask[: subject.mask.shape[0], : subject.mask.shape[1]] = subject.mask
    studio.doc.apply_mask(mask, "paint")
    _clear_rig(studio)
    studio.add_template(next(t for t in load_templates() if t.key == "bird"))
    assert studio.busy.running and not studio.templates_menu.isEnabled()  # no second fit while this one runs
    qtbot.waitUntil(lambda: not studio.busy.running, timeout=120_000)  # skan's first compile: 16-33 s
    assert studio.templates_menu.isEnabled()
    assert tip_distance(studio.doc.project.rig, subject) < 8
    assert "fitted to the subject's mask" in studio.statusBar().currentMessage()
    studio.doc.undo_stack.undo()
    assert not studio.doc.project.rig.joints  # one undo step


def test_add_template_with_no_mask_says_how_to_fit_it(studio, qtbot):
    from poseanything_studio.core.templates import load_templates

    studio.doc.apply_mask(np.ones((480, 832), bool), "paint")  # a photo with no alpha: the whole picture
    _clear_rig(studio)
    studio.add_template(next(t for t in load_templates() if t.key == "human"))
    qtbot.waitUntil(lambda: not studio.busy.running, timeout=120_000)
    assert len(studio.doc.project.rig.joints) > 5
    assert "no subject mask yet" in studio.statusBar().currentMessage()
    assert "Cut out" in studio.statusBar().currentMessage()
    # The minute's autosave comes while the hint shows: it writes, says so in its corner, and leaves the hint.
    assert studio.autosaves.write() is not None
    assert "Cut out" in studio.statusBar().currentMessage()
    assert studio.autosaves.label.text().startswith("Autosaved ")


def test_a_fit_that_ends_after_the_picture_changed_is_dropped(studio, qtbot, monkeypatch):
    from dataclasses import replace

    from poseanything_studio.core.templates import load_templates

    _clear_rig(studio)
    studio.add_template(load_templates()[0])
    studio.doc.apply(replace(studio.doc.project, image="elsewhere.png"), "another picture")
    qtbot.waitUntil(lambda: not studio.busy.running, timeout=120_000)
    assert not studio.doc.project.rig.joints
    assert "the picture changed meanwhile" in studio.statusBar().currentMessage()
