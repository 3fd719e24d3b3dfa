"""Rig > Add template on a subject mask: limbs turned to the auto-rig's ends, never waiting on skan's compile."""

from __future__ import annotations

import numpy as np


def test_add_template_turns_limbs_to_the_auto_rigs_ends_once_skan_is_warm(studio):
    """A drawn bird with its wings raised: the template's wing tips land on the drawing's wing tips once the
    start-up warm-up has compiled skan; before it, Add template never waits on the compile (axis fit only)."""
    import sys
    from dataclasses import replace
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
    from subject_masks import bird, tip_distance

    from poseanything_studio.core.rig import Rig
    from poseanything_studio.core.templates import load_templates
    from poseanything_studio.qt import app
    from poseanything_studio.qt.app import warm_up_auto_rig

    subject = bird()
    mask = np.zeros((480, 832), bool)
    mask[: subject.mask.shape[0], : subject.mask.shape[1]] = subject.mask
    studio.doc.apply_mask(mask, "paint")
    template = next(t for t in load_templates() if t.key == "bird")

    def added():
        studio.doc.apply(replace(studio.doc.project, rig=Rig((), ()), tracks={}), "clear the rig")
        studio.add_template(template)
        return studio.doc.project.rig

    app.SKAN_READY.clear()  # as in the first seconds after start-up
    cold = tip_distance(added(), subject)
    warm_up_auto_rig().join()
    warm = tip_distance(added(), subject)
    assert warm < 8 < cold  # 3.8 px against 24.9: the wings along its back
