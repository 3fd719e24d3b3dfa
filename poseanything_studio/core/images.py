"""Reading pictures, and fitting them to the render size (scale to cover, centre-crop)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageReadError(OSError):
    """A picture that is missing or that OpenCV cannot decode."""


def read_rgba(path: str | Path) -> np.ndarray:
    """The picture at `path` as (H, W, 4) uint8 RGBA; opaque alpha when the file has none."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"no such file {str(path)!r}")
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise ImageReadError(f"cannot decode {str(path)!r} as an image")
    if image.dtype != np.uint8:
        image = (image / (np.iinfo(image.dtype).max / 255.0)).round().astype(np.uint8) \
            if image.dtype.kind == "u" else np.clip(image * 255, 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGBA)
    elif image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return image


def read_mask(path: str | Path) -> np.ndarray:
    """A mask picture as (H, W) bool: alpha if it has transparency, else pixels brighter than mid-grey."""
    rgba = read_rgba(path)
    if rgba[..., 3].min() < 255:
        return rgba[..., 3] > 127
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY) > 127


def cover_matrix(src_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """2x3 affine taking source pixels to output pixels: scale to cover `size`, centre-crop.

    Sizes are (width, height).
    """
    scale = max(size[0] / src_size[0], size[1] / src_size[1])
    tx = (size[0] - src_size[0] * scale) / 2.0
    ty = (size[1] - src_size[1] * scale) / 2.0
    return np.array([[scale, 0.0, tx], [0.0, scale, ty]])


def fit_to_size(image: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """`image` scaled to cover `size` (width, height) and centre-cropped."""
    src = (image.shape[1], image.shape[0])
    matrix = cover_matrix(src, size)
    shrinking = matrix[0, 0] < 1
    interp = cv2.INTER_NEAREST if nearest else (cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if image.dtype == bool:
        out = cv2.warpAffine(image.astype(np.uint8) * 255, matrix, size, flags=cv2.INTER_LINEAR)
        return out > 127
    if shrinking and not nearest:
        # Area-average down to about the right size first (warpAffine would alias), then place exactly.
        w, h = max(1, round(src[0] * matrix[0, 0])), max(1, round(src[1] * matrix[1, 1]))
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        matrix = matrix @ np.diag([src[0] / w, src[1] / h, 1.0])
        interp = cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, size, flags=interp, borderMode=cv2.BORDER_REPLICATE)
