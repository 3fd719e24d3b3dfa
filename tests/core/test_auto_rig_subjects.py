"""Auto-rig and templates on subjects with known ends (tests/core/subject_masks.py): a person, four-legged
animals, a bird, a fish, drawings, and scikit-image's astronaut.

Auto-rig gives an end joint at each limb, head and tail end and a joint at each bend; a template fitted to the
mask puts its extremities (hands, feet, head; paws, nose, tail tip; beak, wing tips; fins) at those ends. The
fit used to lay limbs along the mask's medial axis only, and a limb the axis did not show kept the template's
shape: the bird's raised wings lay along its back (24.9 px mean off), the astronaut's waving arm hung by her side.
"""

from __future__ import annotations

import numpy as np
import pytest
from subject_masks import SUBJECTS, Subject, tip_distance

from poseanything_studio.core.skeleton import skeleton_from_mask
from poseanything_studio.core.templates import fitted, load_templates

TEMPLATES = {t.key: t for t in load_templates()}
DRAWN = [name for name in SUBJECTS if name != "astronaut"]


def _scale(subject: Subject) -> float:
    return float(np.sqrt(subject.mask.sum()))


def _end_joints(rig) -> np.ndarray:
    return rig.rest_xy()[[len(rig.neighbours(j)) == 1 for j in rig.joint_ids]]


def _fit(subject: Subject):
    return fitted(TEMPLATES[subject.template], (subject.mask.shape[1], subject.mask.shape[0]), subject.mask)


@pytest.mark.parametrize("name", DRAWN)
def test_auto_rig_finds_every_limb_head_and_tail_end(name):
    subject = SUBJECTS[name]()
    ends = _end_joints(skeleton_from_mask(subject.mask))
    for end, xy in subject.ends.items():
        assert np.linalg.norm(ends - xy, axis=1).min() < 0.07 * _scale(subject), end


@pytest.mark.parametrize("name", [n for n in DRAWN if SUBJECTS[n]().bends])
def test_auto_rig_puts_a_joint_at_each_bend(name):
    """Elbows, knees, a raised tail's turn, a wing's wrist: the drawn child's elbows had none (a 14 degree bend)."""
    subject = SUBJECTS[name]()
    joints = skeleton_from_mask(subject.mask).rest_xy()
    for bend, xy in subject.bends.items():
        assert np.linalg.norm(joints - xy, axis=1).min() < 0.06 * _scale(subject), bend


@pytest.mark.parametrize("name", DRAWN)
def test_a_fitted_templates_tips_lie_at_the_subjects_ends(name):
    subject = SUBJECTS[name]()
    rig = _fit(subject)
    for tip, end in subject.tips.items():
        single = Subject(subject.name, subject.template, subject.mask, subject.ends, tips={tip: end})
        near = min(tip_distance(rig, single), _paired(rig, subject, tip))
        assert near < 0.08 * _scale(subject), tip
    assert tip_distance(rig, subject) < 0.05 * _scale(subject)


def _paired(rig, subject: Subject, tip: str) -> float:
    """The tip's distance to its side partner's end (near and far legs are not told apart)."""
    partner = tip.replace("_l", "_r") if "_l" in tip else tip.replace("_r", "_l")
    if partner == tip or partner not in subject.tips:
        return float("inf")
    return float(np.hypot(*np.subtract(rig.joint(tip).xy, subject.ends[subject.tips[partner]])))


def test_the_astronauts_head_and_raised_arm_are_found_and_the_template_follows_them():
    """A wide photo subject: the old pruning (branches under two junction radii) left 2 joints; the arm she
    holds out (to where the helmet hides it) is a bump on her body, kept for the area it owns."""
    subject = SUBJECTS["astronaut"]()
    rig = skeleton_from_mask(subject.mask)
    ends = _end_joints(rig)
    assert len(rig.joints) >= 5
    for end in ("head", "hand_b"):
        assert np.linalg.norm(ends - subject.ends[end], axis=1).min() < 20, end
    fit = _fit(subject)
    for tip in ("head", "hand_r"):  # the template's arm turned out along hers (its hand hung 131 px away)
        assert np.hypot(*np.subtract(fit.joint(tip).xy, subject.ends[subject.tips[tip]])) < 20, tip
