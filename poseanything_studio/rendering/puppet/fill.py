"""The background the subject uncovers: the picture with the subject painted out, cached per picture and mask."""

from __future__ import annotations

import hashlib
import threading

import cv2
import numpy as np

from .texture import texture_detail

GROW = 0.02  # the hole grown by this share of the picture's size: a rough cut-out's fringe (a few pixels of suit)


def background_hole(mask: np.ndarray) -> np.ndarray:
    """The pixels the background fill replaces: the subject and a 3-pixel ring round it (its soft edge)."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0


class FillCache:
    """Background fills by picture, mask and method, so a mesh rebuilt for the same picture does not fill again.

    Owned by whoever rebuilds meshes (the window's preview on every rig edit, a renderer across renders);
    safe to share between threads. Keeps the `capacity` most recent fills: picture and mask rarely change.
    """

    def __init__(self, capacity: int = 4):
        self.capacity = capacity
        self._fills: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._fills)

    def fill(self, rgb: np.ndarray, mask: np.ndarray, max_side: int = 384, method: str = "texture") -> np.ndarray:
        """`fill_background` of `rgb` under `mask`, computed only the first time (a copy, free to change)."""
        key = (
            rgb.shape,
            max_side,
            method,
            hashlib.blake2b(np.ascontiguousarray(rgb).data).digest(),
            hashlib.blake2b(np.packbits(mask).data).digest(),
        )
        with self._lock:
            if key in self._fills:
                return self._fills[key].copy()
        out = _filled(rgb, mask, max_side, method)
        with self._lock:
            self._fills[key] = out
            while len(self._fills) > self.capacity:
                self._fills.pop(next(iter(self._fills)))  # the oldest first
        return out.copy()

    def clear(self) -> None:
        """Forget every fill (a benchmark timing the fill itself)."""
        with self._lock:
            self._fills.clear()


def fill_background(
    rgb: np.ndarray, mask: np.ndarray, max_side: int = 384, method: str = "texture", cache: FillCache | None = None
) -> np.ndarray:
    """The picture with the subject painted out, for the background the subject uncovers.

    The hole is filled at `max_side` pixels and scaled back up (the fill is smooth, so resolution is
    cheap to give away). `biharmonic` (scikit-image) continues the surrounding colours smoothly across
    the hole; OpenCV's `telea` and `ns` (Navier-Stokes) smear edge colours along streaks on large holes
    (benchmarks/inpaint_quality.py measures them against ground truth). `texture`, the default, is
    biharmonic's colours with the picture's own grain copied in from the background round the hole
    (texture.py), so a photo's uncovered wall is not a flat blob.
    With `cache`, a picture and mask filled before are not filled again.
    """
    if not mask.any():
        return rgb.copy()
    if cache is not None:
        return cache.fill(rgb, mask, max_side, method)
    return _filled(rgb, mask, max_side, method)


def _filled(rgb: np.ndarray, mask: np.ndarray, max_side: int, method: str) -> np.ndarray:
    """fill_background without the cache.

    The fill is solved over the hole grown by about 1% of the picture, so the fringe a cut-out mask
    leaves round the subject (a suit's orange, a drawing's outline) is not carried into the
    background as a smear; it is pasted over the hole and faded out across the growth, so there
    is no hard edge where the fill meets the picture."""
    h, w = mask.shape
    hole = background_hole(mask)
    grow = max(2, round(GROW * max(h, w)))
    grown = cv2.dilate(hole.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    scale = min(1.0, max_side / max(h, w))
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    small_hole = cv2.dilate(cv2.resize(grown, (sw, sh), interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
    if small_hole.all():
        return rgb.copy()
    filled = _upsampled(_fill_small(small, small_hole, "biharmonic" if method == "texture" else method), (w, h))
    # Weight 1 over the hole, fading to 0 across the growth.
    outside = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.clip(1.0 - outside / (grow + 1), 0.0, 1.0)[..., None]
    if method == "texture":  # the grain the smooth fill lacks, from the background round the hole
        picture_low = _upsampled(small, (w, h))
        keep_out = cv2.dilate(grown, np.ones((3, 3), np.uint8)) > 0
        filled = filled + texture_detail(rgb - picture_low, picture_low, filled, weight[..., 0] > 0, keep_out)
    out = rgb * (1 - weight) + filled * weight
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _upsampled(small: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float32: `small` scaled up to `size` and lightly smoothed, the low-pass the fill works in."""
    return cv2.GaussianBlur(cv2.resize(small, size, interpolation=cv2.INTER_LINEAR), (5, 5), 0).astype(np.float32)


def _fill_small(small: np.ndarray, small_hole: np.ndarray, method: str) -> np.ndarray:
    """`small` (uint8 RGB) with `small_hole` (uint8, non-zero in the hole) inpainted by `method`."""
    if method == "biharmonic":
        return _biharmonic(small, small_hole > 0)
    if method in ("telea", "ns"):
        return cv2.inpaint(small, small_hole, 5, cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS)
    if method in ("shiftmap", "fsr") and hasattr(cv2, "xphoto"):  # OpenCV contrib, when it is installed
        flag = cv2.xphoto.INPAINT_SHIFTMAP if method == "shiftmap" else cv2.xphoto.INPAINT_FSR_FAST
        out = np.zeros_like(small)
        bgr = np.ascontiguousarray(small[..., ::-1])
        cv2.xphoto.inpaint(bgr, (small_hole == 0).astype(np.uint8) * 255, out, flag)
        return np.ascontiguousarray(out[..., ::-1])
    raise ValueError(
        f"unknown inpaint method {method!r} (use texture, biharmonic, telea or ns; shiftmap or fsr with opencv-contrib)"
    )


def _biharmonic(rgb: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpaint of `hole` in `rgb` (uint8 in and out), each hole solved on its own."""
    from skimage.restoration import inpaint_biharmonic

    filled = inpaint_biharmonic(rgb.astype(np.float64) / 255.0, hole, channel_axis=-1, split_into_regions=True)
    return np.clip(filled * 255.0 + 0.5, 0, 255).astype(np.uint8)
