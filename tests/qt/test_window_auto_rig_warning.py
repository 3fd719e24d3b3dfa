"""After Auto-rig the window says, in the status bar, when the mask gave it no real subject to work on."""

from __future__ import annotations

import cv2
import numpy as np


def _auto_rig(studio, qtbot, monkeypatch, mask: np.ndarray) -> str:
    """Paint `mask`, run Rig > Auto-rig (replacing the rig), and return the status bar's line once it is done."""
    monkeypatch.setattr(studio, "ask_auto_rig_mode", lambda: "replace")
    studio.doc.apply_mask(mask, "paint")
    studio.auto_rig()
    qtbot.waitUntil(lambda: not studio.busy.running, timeout=30_000)
    return studio.statusBar().currentMessage()


def test_a_mask_over_the_whole_picture_is_called_out(studio, qtbot, monkeypatch):
    """File > New on a photo without alpha: the mask is the picture and the rig follows the frame."""
    line = _auto_rig(studio, qtbot, monkeypatch, np.ones((480, 832), bool))
    assert line.startswith("Auto-rig: ") and "covers 100% of the picture" in line
    assert studio.doc.project.rig.joints  # the rig is still applied: the user decides


def test_a_close_up_filling_the_frame_is_called_out(studio, qtbot, monkeypatch):
    """A face filling the frame: its mask runs along the top, the bottom and the left side of the picture."""
    mask = np.zeros((480, 832), np.uint8)
    cv2.ellipse(mask, (300, 240), (420, 300), 0, 0, 360, 1, -1)
    line = _auto_rig(studio, qtbot, monkeypatch, mask > 0)
    assert mask.mean() < 0.9 and "fills the frame" in line


def test_a_rig_with_limbs_on_a_real_mask_gets_no_warning(studio, qtbot, monkeypatch):
    mask = np.zeros((480, 832), bool)
    mask[200:240, 100:700] = True
    mask[100:400, 380:420] = True
    assert _auto_rig(studio, qtbot, monkeypatch, mask) == "Auto-rig: 5 joints, 4 bones"
