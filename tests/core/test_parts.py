"""Subject masks and per-bone part masks."""

import cv2
import numpy as np

from poseanything_studio.core.parts import (
    BACKGROUND,
    PART_RULES,
    capped_dilation_masks,
    colour_parts,
    grabcut_mask,
    part_labels,
    posed_part_masks,
    posed_part_pictures,
    rest_part_masks,
    subject_mask,
)
from poseanything_studio.core.rig import Bone, Joint, Rig

# An L-shaped subject: a horizontal bar then a vertical one.
L_RIG = Rig(
    (Joint("a", (20.0, 20.0)), Joint("b", (80.0, 20.0)), Joint("c", (80.0, 80.0))),
    (Bone("top", "a", "b"), Bone("side", "b", "c")),
)


def _l_mask():
    mask = np.zeros((100, 100), bool)
    mask[12:29, 12:89] = True
    mask[12:89, 72:89] = True
    return mask


def test_nearest_bone_partition_covers_the_subject_only():
    mask = _l_mask()
    labels = part_labels(mask, L_RIG, L_RIG.rest_xy())
    assert (labels[~mask] == BACKGROUND).all() and (labels[mask] != BACKGROUND).all()
    assert labels[20, 30] == 0 and labels[70, 80] == 1


def test_capped_dilation_covers_each_part_but_not_beyond_the_cap():
    mask = _l_mask()
    labels = part_labels(mask, L_RIG, L_RIG.rest_xy())
    masks = capped_dilation_masks(labels, L_RIG, L_RIG.rest_xy(), cap=100, coverage=1.0)
    assert masks[0][labels == 0].all() and masks[1][labels == 1].all()
    capped = capped_dilation_masks(labels, L_RIG, L_RIG.rest_xy(), cap=3)
    assert capped[0].sum() < masks[0].sum()


def test_parts_follow_their_bone():
    mask = _l_mask()
    labels = part_labels(mask, L_RIG, L_RIG.rest_xy())
    posed = L_RIG.rest_xy().copy()
    posed[2] = [20.0, 20.0 + 0.0]  # swing the side bone up and left, about b: c goes to (20, 20)
    posed[2] = [80.0 - 60.0, 20.0]
    masks = posed_part_masks(labels, L_RIG, L_RIG.rest_xy(), posed[None])
    side = masks[0, 1]
    ys, xs = np.nonzero(side)
    assert xs.mean() < 60 and abs(ys.mean() - 20) < 5  # now lies along the top bar


def test_part_pictures_made_a_bone_at_a_time_show_the_parts_the_masks_show():
    """The previews' low-memory path (a rest part at a time, cropped) draws what the full (F, B, H, W) masks draw."""
    mask = _l_mask()
    rest = L_RIG.rest_xy()
    swung = rest.copy()
    swung[2] = [20.0, 20.0]
    positions = np.stack([rest, swung])
    for rule in PART_RULES:
        full = posed_part_masks(rest_part_masks(mask, L_RIG, rest, rule), L_RIG, rest, positions)
        pictures = list(posed_part_pictures(mask, L_RIG, rest, positions, rule))
        assert len(pictures) == 2
        for masks, picture in zip(full, pictures, strict=True):
            assert np.array_equal(picture, colour_parts(masks, L_RIG))
        assert not np.array_equal(pictures[0], pictures[1])  # the side part moved with its bone


def test_alpha_is_the_subject_mask_when_the_picture_has_one():
    rgba = np.full((50, 50, 4), 255, np.uint8)
    rgba[..., 3] = 0
    rgba[10:40, 10:40, 3] = 255
    assert subject_mask(rgba, L_RIG).sum() == 900


def test_grabcut_finds_a_subject_seeded_by_the_rig():
    rng = np.random.default_rng(0)
    img = (rng.random((120, 160, 3)) * 60 + 20).astype(np.uint8)  # dark noisy background
    truth = np.zeros((120, 160), np.uint8)
    cv2.ellipse(truth, (80, 60), (50, 22), 0, 0, 360, 1, -1)
    img[truth > 0] = (230, 200, 40)
    rig = Rig((Joint("l", (45.0, 60.0)), Joint("r", (115.0, 60.0))), (Bone("body", "l", "r"),))
    found = grabcut_mask(img, rig)
    iou = (found & (truth > 0)).sum() / (found | (truth > 0)).sum()
    assert iou > 0.85


def test_grabcut_gives_the_same_mask_whatever_ran_before_in_the_process():
    # GrabCut's k-means++ start draws from OpenCV's process-wide RNG: the same picture must still give the same
    # subject mask (and so the same part masks, in training data and renders) on its first call and any later one.
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)  # a noisy picture: GrabCut's colour models vary
    img[16:48, 8:40] = 200
    rig = Rig(
        (Joint("a", (8.0, 24.0)), Joint("b", (40.0, 24.0)), Joint("c", (8.0, 40.0)), Joint("d", (40.0, 40.0))),
        (Bone("upper", "a", "b"), Bone("lower", "c", "d")),
    )
    first = grabcut_mask(img, rig)
    later = [grabcut_mask(img, rig) for _ in range(6)]
    cv2.setRNGSeed(12345)  # as any other OpenCV user in the process may
    later.append(grabcut_mask(img, rig))
    for mask in later:
        np.testing.assert_array_equal(mask, first)
