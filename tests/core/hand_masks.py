"""Subject masks drawn by hand (polygons written by eye over a grid) for scikit-image's bundled photos.

They are the ground truth of tests/core/test_template_fit.py, tests/core/test_grabcut.py and
benchmarks/grabcut_iou.py: rough by a few pixels along the outline, never by a limb. The astronaut is the
person alone (the helmet she holds in front of her left arm and the shuttle model are not her); the coffee is the
cup, its saucer and the spoon; chelsea is the cat. `ARMS` outlines each photo's arms as far as they show.
"""

from __future__ import annotations

import cv2
import numpy as np

ASTRONAUT = [
    (225, 15),
    (280, 25),
    (300, 60),
    (300, 105),
    (282, 130),
    (276, 160),
    (295, 185),
    (305, 230),
    (330, 245),
    (350, 265),
    (358, 300),
    (360, 340),
    (335, 352),
    (305, 380),
    (288, 420),
    (280, 470),
    (282, 511),
    (25, 511),
    (22, 480),
    (25, 400),
    (30, 330),
    (40, 280),
    (60, 240),
    (90, 220),
    (115, 200),
    (120, 185),
    (140, 160),
    (168, 145),
    (170, 135),
    (155, 110),
    (152, 70),
    (170, 35),
    (200, 20),
]
CHELSEA = [
    (0, 60),
    (25, 0),
    (385, 0),
    (370, 50),
    (360, 100),
    (362, 150),
    (350, 200),
    (330, 240),
    (320, 270),
    (330, 299),
    (0, 299),
]
# Her left arm, the picture's right: shoulder to where the helmet hides it.
ASTRONAUT_ARM_RIGHT = [(300, 245), (330, 245), (350, 265), (358, 300), (360, 340), (335, 352), (305, 330), (295, 290)]
# Her right arm, the picture's left: shoulder down to the glove.
ASTRONAUT_ARM_LEFT = [
    (90, 220),
    (60, 240),
    (40, 280),
    (30, 330),
    (25, 400),
    (22, 480),
    (25, 511),
    (200, 511),
    (205, 470),
    (120, 440),
    (105, 330),
    (115, 260),
]


# What a user draws for the cut-out (core/grabcut.py): a box around the subject, a few strokes on it and on the
# background that confuses GrabCut (the flag and the helmet by the astronaut, the table round the saucer).
USER_STROKES = {
    "astronaut": {
        "box": (15, 5, 372, 512),
        "foreground": [
            [(225, 60), (225, 200), (200, 300), (150, 420)],
            [(60, 300), (340, 300)],
            [(180, 60), (280, 60)],
            [(255, 320), (255, 500)],
            [(205, 215), (250, 215)],
        ],
        "background": [[(30, 30), (60, 200)], [(330, 420), (450, 480)]],
    },
    "chelsea": {
        "box": (0, 0, 392, 300),
        "foreground": [[(100, 150), (300, 150)], [(200, 50), (200, 280)]],
        "background": [[(380, 120), (372, 170)]],
    },
    "coffee": {
        "box": (70, 10, 490, 395),
        "foreground": [[(290, 60), (290, 330)], [(110, 230), (470, 230)]],
        "background": [[(90, 40), (150, 60)], [(460, 60), (480, 120)], [(100, 370), (140, 385)]],
    },
}
# Rigs a user would place for Mask from rig (core/parts.grabcut_mask), the baseline the cut-out is measured against.
USER_RIG_BONES = {
    "astronaut": [
        ((205, 505), (210, 330)),
        ((210, 330), (222, 205)),
        ((222, 205), (225, 95)),
        ((222, 205), (95, 275)),
        ((95, 275), (60, 420)),
        ((60, 420), (150, 488)),
        ((222, 205), (325, 285)),
        ((325, 285), (345, 400)),
    ],
    "chelsea": [((240, 295), (255, 250)), ((255, 250), (240, 130)), ((240, 130), (60, 15)), ((240, 130), (370, 25))],
    "coffee": [((290, 60), (290, 330)), ((110, 230), (290, 230)), ((290, 230), (470, 230))],
}


def user_strokes(name: str):
    """USER_STROKES[name] as the cut-out's Strokes (core/grabcut.py): the box, subject and background strokes."""
    from poseanything_studio.core.grabcut import Strokes

    drawn = USER_STROKES[name]
    return Strokes(
        box=drawn["box"],
        foreground=tuple(tuple(s) for s in drawn["foreground"]),
        background=tuple(tuple(s) for s in drawn["background"]),
    )


def polygon_mask(points: list[tuple[int, int]], size: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: the inside of `points` (x, y) on a picture of `size` (w, h)."""
    out = np.zeros((size[1], size[0]), np.uint8)
    cv2.fillPoly(out, [np.array(points, np.int32)], 1)
    return out > 0


def coffee_mask() -> np.ndarray:
    """The cup (its rim an ellipse), the saucer (an ellipse) and the spoon's handle above the rim, (400, 600)."""
    out = np.zeros((400, 600), np.uint8)
    cv2.ellipse(out, (278, 229), (201, 159), 0, 0, 360, 1, -1)  # saucer
    cv2.ellipse(out, (291, 100), (120, 84), 0, 0, 360, 1, -1)  # cup, rim seen from above
    cv2.fillPoly(out, [np.array([(398, 72), (424, 66), (420, 112), (400, 112)], np.int32)], 1)  # spoon handle
    return out > 0


def photo(name: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's photo `name` (RGB uint8) and its hand mask."""
    from skimage import data

    rgb = getattr(data, name)()
    size = (rgb.shape[1], rgb.shape[0])
    masks = {
        "astronaut": lambda: polygon_mask(ASTRONAUT, size),
        "chelsea": lambda: polygon_mask(CHELSEA, size),
        "coffee": coffee_mask,
    }
    return rgb, masks[name]()
