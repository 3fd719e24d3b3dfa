"""Pose frames and camera-rectangle frames as images: what the neural renderer (and other
pose-driven video tools) take as condition. Each bone keeps one colour, derived from its id, in
every frame and across saves; joints are white dots; the canvas is black.

The "release" style draws as the official PoseAnything release's skeleton images are drawn: every bone a
white line about 3 px wide (at an 832 px long side), no joint dots, no anti-aliasing, on black.
"""

from __future__ import annotations

import colorsys
import hashlib

import cv2
import numpy as np

from .camera import camera_matrix, invert_affine
from .rig import Bone, Joint, Rig

JOINT_COLOUR = (255, 255, 255)
FAR = float(2**20)  # pixels: points farther out are clipped here, so OpenCV's fixed-point drawing cannot overflow


def clip_far(xy: np.ndarray) -> np.ndarray:
    """Points as float64, clipped to +-FAR pixels (far off-screen either way; OpenCV needs bounded ints)."""
    return np.clip(np.nan_to_num(np.asarray(xy, np.float64), nan=0.0), -FAR, FAR)


def bone_colour(bone_id: str) -> tuple[int, int, int]:
    """A saturated RGB colour that depends only on the bone's id."""
    digest = hashlib.blake2b(bone_id.encode("utf-8"), digest_size=4).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536.0
    value = 0.85 + 0.15 * (digest[2] / 255.0)
    r, g, b = colorsys.hsv_to_rgb(hue, 1.0, value)
    return (round(r * 255), round(g * 255), round(b * 255))


def line_width(size: tuple[int, int]) -> int:
    """Bone thickness in pixels for a frame of `size` (width, height): 4 px at 480 lines."""
    return max(2, round(min(size) / 120))


def draw_pose(rig: Rig, xy: np.ndarray, size: tuple[int, int], canvas: np.ndarray | None = None) -> np.ndarray:
    """One pose frame: bones of `rig` at joint positions `xy` (J, 2, output pixels) on black, (H, W, 3) RGB."""
    w, h = size
    out = np.zeros((h, w, 3), np.uint8) if canvas is None else canvas
    thick = line_width(size)
    shift = 4  # sub-pixel precision for anti-aliased drawing
    pts = np.round(clip_far(xy) * (1 << shift)).astype(np.int64)
    for (a, b), bone in zip(rig.bone_joint_indices(), rig.bones, strict=True):
        cv2.line(out, tuple(map(int, pts[a])), tuple(map(int, pts[b])), bone_colour(bone.id), thick, cv2.LINE_AA, shift)
    for p in pts:
        cv2.circle(out, tuple(map(int, p)), (thick + 1) << shift, JOINT_COLOUR, -1, cv2.LINE_AA, shift)
    return out


POSE_STYLES = ("colour", "release")
RELEASE_LINE_PX = 3  # the release's skeleton images: white strokes about 3 px wide
RELEASE_LONG_SIDE = 832  # ... at the release's frame size


def release_line_width(size: tuple[int, int]) -> int:
    """Stroke width (odd, pixels) of the release style at `size`: 3 px at an 832 px long side, in proportion."""
    return max(1, round(RELEASE_LINE_PX * max(size) / RELEASE_LONG_SIDE)) | 1


def draw_release_pose(rig: Rig, xy: np.ndarray, size: tuple[int, int], canvas: np.ndarray | None = None) -> np.ndarray:
    """One pose frame in the release's style: white bones on black, no joints, (H, W, 3) RGB, values 0 or 255.

    A 1 px line per bone thickened by a square of `release_line_width`: a stroke as wide along a diagonal as
    across a row, with flat ends (no round caps, which would read as joint dots).
    """
    w, h = size
    line = np.zeros((h, w), np.uint8)
    shift = 4
    pts = np.round(clip_far(xy) * (1 << shift)).astype(np.int64)
    for a, b in rig.bone_joint_indices():
        cv2.line(line, tuple(map(int, pts[a])), tuple(map(int, pts[b])), 255, 1, cv2.LINE_8, shift)
    width = release_line_width(size)
    stroke = cv2.dilate(line, np.ones((width, width), np.uint8))
    out = np.zeros((h, w, 3), np.uint8) if canvas is None else canvas
    out[stroke > 0] = 255
    return out


def pose_frames(rig: Rig, positions: np.ndarray, size: tuple[int, int], style: str = "colour") -> np.ndarray:
    """Pose frames for joint positions (F, J, 2) in output pixels: (F, H, W, 3) uint8.

    `style` "colour" (ours: coloured bones, white joint dots) or "release" (the official release's white lines).
    """
    if style not in POSE_STYLES:
        raise ValueError(f"unknown pose style {style!r} (use colour or release)")
    draw = draw_pose if style == "colour" else draw_release_pose
    frames = np.zeros((len(positions), size[1], size[0], 3), np.uint8)
    for f, xy in enumerate(positions):
        draw(rig, xy, size, canvas=frames[f])
    return frames


CAMERA_RIG = Rig(
    tuple(Joint(f"camera_{c}", (0.0, 0.0)) for c in ("tl", "tr", "br", "bl")),
    tuple(
        Bone(f"camera_{e}", a, b)
        for e, a, b in (
            ("top", "camera_tl", "camera_tr"),
            ("right", "camera_tr", "camera_br"),
            ("bottom", "camera_br", "camera_bl"),
            ("left", "camera_bl", "camera_tl"),
        )
    ),
)


def camera_rectangle(params: np.ndarray, size: tuple[int, int], inset: float = 0.1) -> np.ndarray:
    """Corners (4, 2) of the camera's frame, seen in the still scene of frame 0.

    It moves with the camera, so against the background flow: a camera panning left gives a
    rectangle moving left while the picture content moves right (the paper's decoupled CFG).
    """
    w, h = size
    corners = np.array(
        [
            [w * inset, h * inset],
            [w * (1 - inset), h * inset],
            [w * (1 - inset), h * (1 - inset)],
            [w * inset, h * (1 - inset)],
        ]
    )
    inverse = invert_affine(camera_matrix(params, size))
    return corners @ inverse[:, :2].T + inverse[:, 2]


def camera_frames(camera_params: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Camera-rectangle frames for per-frame camera parameters (F, 4): (F, H, W, 3) uint8 on black."""
    corners = np.stack([camera_rectangle(p, size) for p in camera_params])
    return pose_frames(CAMERA_RIG, corners, size)
