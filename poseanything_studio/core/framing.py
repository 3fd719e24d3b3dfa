"""Framing a new project on a picture: an output size (multiples of 32) whose frame shows the whole subject.

The project places its picture by scaling it to cover `size` and cropping the middle (core/images.py
`cover_matrix`), so a size of another shape than the picture crops it: 832x480 on a 4:3 photo cut a pig's
feet and ears. Here the size takes the picture's own shape, rounded to multiples of 32 in the direction
whose crop (a few pixels) misses the subject's box plus a margin. We do not zoom the camera in on a small
subject: the camera scales the frame after the picture is fitted to the output size, so it would blur, and
a moving limb needs the room. Only when no size of the picture's shape avoids the subject (a subject touching
opposite edges) does a still camera zoom out by the little that shows it whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .camera import CameraKey, CameraPath

STEP = 32  # sides are multiples of this (what the Wan VAE needs)
LONG_SIDE = 832  # the long side a new project's frame aims for (the neural renderer's usual 832x480)
LONG_SIDES = tuple(range(640, 1025, STEP))  # the long sides tried
MARGIN = 0.06  # of the subject box's longer side, on each side
MIN_MARGIN_PX = 8
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")


@dataclass(frozen=True)
class Framing:
    """The output size, and the camera that shows the whole subject (no keys: the camera at rest)."""

    size: tuple[int, int]
    camera: CameraPath = CameraPath()


def is_picture(path: str | Path) -> bool:
    """Whether `path` names a picture (by its first bytes, else its suffix), as opposed to a project file."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return path.suffix.lower() in PICTURE_SUFFIXES
    if head.startswith(_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    return path.suffix.lower() in PICTURE_SUFFIXES and not head.lstrip().startswith(b"{")


def alpha_subject(rgba: np.ndarray) -> np.ndarray | None:
    """The subject a picture's alpha shows, (H, W) bool, or None for an opaque picture (as core.parts reads it)."""
    alpha = rgba[..., 3]
    if alpha.min() < 250 and (alpha > 127).any():
        return alpha > 127
    return None


def subject_box(picture_size: tuple[int, int], subject: np.ndarray | None) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in picture pixels: the subject's bounding box, or the whole picture when none is known."""
    w, h = picture_size
    if subject is None or not subject.any():
        return (0.0, 0.0, float(w), float(h))
    ys, xs = np.nonzero(subject)
    sx, sy = w / subject.shape[1], h / subject.shape[0]  # a mask of another size than the picture
    return (xs.min() * sx, ys.min() * sy, (xs.max() + 1) * sx, (ys.max() + 1) * sy)


def with_margin(box: tuple[float, float, float, float], picture_size: tuple[int, int]) -> tuple[float, ...]:
    """`box` grown by MARGIN on each side, kept inside the picture."""
    x0, y0, x1, y1 = box
    pad = max(MARGIN * max(x1 - x0, y1 - y0), MIN_MARGIN_PX)
    return (
        max(0.0, x0 - pad),
        max(0.0, y0 - pad),
        min(float(picture_size[0]), x1 + pad),
        min(float(picture_size[1]), y1 + pad),
    )


def visible_box(picture_size: tuple[int, int], size: tuple[int, int], zoom: float = 1.0) -> tuple[float, ...]:
    """The part of the picture (x0, y0, x1, y1, picture pixels) a frame of `size` shows (cover, centre-crop),
    through a still camera of `zoom` centred on the frame."""
    w, h = picture_size
    scale = max(size[0] / w, size[1] / h) * zoom
    vw, vh = size[0] / scale, size[1] / scale
    return ((w - vw) / 2, (h - vh) / 2, (w + vw) / 2, (h + vh) / 2)


def cut(inner: tuple[float, ...], outer: tuple[float, ...]) -> float:
    """How many pixels of `inner` fall outside `outer`, summed over the four sides."""
    return (
        max(0.0, outer[0] - inner[0])
        + max(0.0, outer[1] - inner[1])
        + max(0.0, inner[2] - outer[2])
        + max(0.0, inner[3] - outer[3])
    )


def candidate_sizes(picture_size: tuple[int, int]) -> list[tuple[int, int]]:
    """Sizes near the picture's shape: each long side of LONG_SIDES, the short side rounded down and up."""
    w, h = picture_size
    ratio = min(w, h) / max(w, h)
    sizes = []
    for long in LONG_SIDES:
        exact = long * ratio / STEP
        for short in {max(1, int(np.floor(exact))), max(1, int(np.ceil(exact)))}:
            sizes.append((long, short * STEP) if w >= h else (short * STEP, long))
    return sizes


def picture_framing(picture_size: tuple[int, int], subject: np.ndarray | None = None) -> Framing:
    """The size (and, rarely, a zoomed-out still camera) whose frame shows the subject's box with its margin.

    Among the sizes of the picture's shape: the one cropping least of the subject, then of its margin, then
    nearest LONG_SIDE. When even that crops a known subject, a still camera zooms out just enough to show it.
    """
    box = subject_box(picture_size, subject)
    padded = with_margin(box, picture_size)

    def score(size: tuple[int, int]) -> tuple[float, float, int]:
        view = visible_box(picture_size, size)
        return (round(cut(box, view), 3), round(cut(padded, view), 3), abs(max(size) - LONG_SIDE))

    size = min(candidate_sizes(picture_size), key=score)
    if subject is None or cut(box, visible_box(picture_size, size)) <= 0:  # no subject known: a pixel of edge
        return Framing(size)
    return Framing(size, CameraPath((CameraKey(0, zoom=_zoom_to_show(box, picture_size, size)),)))


def _zoom_to_show(box: tuple[float, ...], picture_size: tuple[int, int], size: tuple[int, int]) -> float:
    """The largest still-camera zoom (<= 1) whose frame, centred, holds `box`."""
    view = visible_box(picture_size, size)
    cx, cy = (view[0] + view[2]) / 2, (view[1] + view[3]) / 2
    need_w = 2 * max(cx - box[0], box[2] - cx)
    need_h = 2 * max(cy - box[1], box[3] - cy)
    zoom = min(1.0, (view[2] - view[0]) / need_w, (view[3] - view[1]) / need_h)
    return float(np.floor(zoom * 1000) / 1000)  # rounded down: never a hair short of the subject
