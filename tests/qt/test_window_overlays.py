"""What the canvas draws over the picture: the mask overlay posed with the puppet, bone depths."""

from __future__ import annotations

import numpy as np


def test_the_mask_overlay_follows_the_posed_puppet(studio, qtbot):
    doc, canvas = studio.doc, studio.canvas
    studio.overlay_actions["mask"].setChecked(True)
    frame = max(range(doc.project.frames), key=lambda f: np.abs(canvas.poses()[f] - canvas.pose()).sum())
    doc.set_frame(frame)
    canvas.refresh()
    shown = canvas.mask_item.pixmap().toImage()
    posed = studio.preview.render_mask(canvas.pose())
    assert posed is not None
    assert canvas.mask_item.transform() == canvas.puppet_item.transform()
    alpha = np.array(
        [[shown.pixelColor(x, y).blue() > 128 for x in range(0, shown.width(), 8)] for y in range(0, shown.height(), 8)]
    )
    assert (alpha == posed[0][::8, ::8]).mean() > 0.98
    studio.tool_actions["brush"].trigger()  # the brush paints the rest picture: the mask shows at rest
    canvas.refresh()
    assert canvas.mask_item.transform().isIdentity()


def test_bone_depth_from_the_window_is_undoable(studio):
    bone = studio.doc.project.rig.bones[0].id
    studio.canvas.set_bone_depth(bone, 4)
    assert studio.doc.project.rig.bones[0].depth == 4
    assert studio.canvas.bone_lines[bone].toolTip() == f"{bone} · depth 4"
    studio.doc.undo_stack.undo()
    assert studio.doc.project.rig.bones[0].depth == 0
