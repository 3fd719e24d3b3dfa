"""Skeletons from masks: known shapes give the rigs a person would draw."""

import numpy as np
import pytest

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.skeleton import skeleton_from_mask


def _degrees(rig):
    return sorted(len(rig.neighbours(j)) for j in rig.joint_ids)


def test_a_bar_gives_one_bone_along_it():
    mask = np.zeros((100, 200), bool)
    mask[40:60, 20:180] = True
    rig = skeleton_from_mask(mask)
    assert len(rig.bones) == 1
    xs = sorted(x for x, _ in (j.xy for j in rig.joints))
    assert xs[0] < 40 and xs[1] > 160  # spans the bar, not a stub in its middle


def test_a_plus_sign_gives_a_star():
    mask = np.zeros((200, 200), bool)
    mask[90:110, 20:180] = True
    mask[20:180, 90:110] = True
    rig = skeleton_from_mask(mask)
    assert len(rig.bones) == 4 and _degrees(rig) == [1, 1, 1, 1, 4]
    centre = next(j for j in rig.joints if len(rig.neighbours(j.id)) == 4)
    assert np.allclose(centre.xy, (100, 100), atol=3)


def test_an_l_gives_a_two_bone_chain_bending_at_the_corner():
    mask = np.zeros((200, 200), bool)
    mask[20:40, 20:180] = True
    mask[20:180, 160:180] = True
    rig = skeleton_from_mask(mask)
    assert len(rig.bones) == 2 and _degrees(rig) == [1, 1, 2]


def test_separate_blobs_give_separate_subjects():
    mask = np.zeros((200, 400), bool)
    mask[90:110, 20:180] = True
    mask[90:110, 220:380] = True
    assert len(skeleton_from_mask(mask).components()) == 2


def test_an_empty_mask_is_a_clear_error():
    with pytest.raises(ProjectError, match="no region"):
        skeleton_from_mask(np.zeros((50, 50), bool))


def test_pinholes_in_a_mask_do_not_grow_a_ladder_of_joints():
    """Specks of background inside a subject (between two drawn legs that overlap) each made a loop."""
    mask = np.zeros((100, 200), bool)
    mask[40:60, 20:180] = True
    for x in range(40, 170, 12):
        mask[49:51, x : x + 2] = False  # 2x2 holes along the bar's middle
    rig = skeleton_from_mask(mask)
    assert len(rig.bones) == 1


def test_auto_rig_says_when_it_had_no_real_subject():
    from poseanything_studio.core.skeleton import auto_rig_warning

    whole = np.ones((120, 200), bool)  # a photo without alpha: the mask is the picture
    assert "covers 100% of the picture" in auto_rig_warning(whole, skeleton_from_mask(whole))
    nearly = whole.copy()
    nearly[:, :16] = False  # a threshold that lost one strip: still no real subject
    assert "covers 92% of the picture" in auto_rig_warning(nearly, skeleton_from_mask(nearly))
    blob = np.zeros((200, 200), bool)
    blob[40:160, 50:150] = True  # a face, a cup: one blob
    assert "no limbs" in auto_rig_warning(blob, skeleton_from_mask(blob))
    plus = np.zeros((200, 200), bool)
    plus[90:110, 20:180] = True
    plus[20:180, 90:110] = True
    assert auto_rig_warning(plus, skeleton_from_mask(plus)) is None


def test_auto_rig_says_when_the_subject_fills_the_frame():
    """scikit-image's cat (a face filling the frame, hand mask) runs along three sides: a close-up. The astronaut,
    cut by the picture's bottom only, and a drawing clear of the edges are no close-ups."""
    from hand_masks import photo
    from subject_masks import dog

    from poseanything_studio.core.skeleton import auto_rig_warning

    cat = photo("chelsea")[1]
    assert "fills the frame" in auto_rig_warning(cat, skeleton_from_mask(cat))
    for mask in (photo("astronaut")[1], dog().mask):
        assert auto_rig_warning(mask, skeleton_from_mask(mask)) is None


def test_a_thick_bars_end_forks_are_spurs_and_a_bump_on_a_wide_body_a_limb():
    """Pruning by the area a branch owns: the forks a stubby bar grows into its corners go (one bone, as the
    dataset builder's tracking expects), the astronaut's arm, a bump on her wide body, stays (it was pruned with
    the head by the old rule of two junction radii: 2 joints)."""
    from hand_masks import photo

    bar = np.zeros((96, 128), bool)
    bar[40:56, 45:87] = True
    bar[40:42, 85:87] = False  # a corner nicked, as a video mask's are: the axis forks there
    assert len(skeleton_from_mask(bar).bones) == 1
    rig = skeleton_from_mask(photo("astronaut")[1])
    ends = [np.array(rig.joint(j).xy) for j in rig.joint_ids if len(rig.neighbours(j)) == 1]
    for true in ((225, 70), (345, 335)):  # her head, her left arm out to where the helmet hides it
        assert min(np.hypot(*(e - true)) for e in ends) < 20, true


@pytest.mark.parametrize("shape", [(512, 512), (300, 300), (480, 832)])
def test_a_mask_of_the_whole_picture_gives_a_rig_inside_the_picture(shape):
    """File > New on a photo without alpha (skimage's astronaut, 512x512): the mask is the whole picture. Auto-rig
    failed with 'rig.joints[0].xy: [-1.7e+38, 255.5] is too far out': a mask with no background pixel measured
    ~1.7e38 px to its edge, and its round-blob bone ran off the picture."""
    rig = skeleton_from_mask(np.ones(shape, bool))
    xy = np.array([j.xy for j in rig.joints])
    h, w = shape
    assert len(xy) >= 2 and np.all((xy >= 0) & (xy <= (w, h)))
