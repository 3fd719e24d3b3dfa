"""Reading pictures, and fitting them to the render size (scale to cover, centre-crop).

`read_rgba` is the one way the project reads a picture (window, CLI, dataset builder): it reads the
header first and refuses a picture whose decoded size would pass `MAX_PIXELS` before decoding anything,
and it turns the picture upright as its EXIF orientation says (phone photos are stored sideways).
"""

from __future__ import annotations

import contextlib
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np

MAX_PIXELS = 50_000_000  # width x height of an input picture: 200 MB decoded as RGBA, 12x the largest render
MAX_FILE_BYTES = 512 * 2**20  # a picture file larger than this is refused before it is read
EXIF_ORIENTATION = 0x0112


class ImageReadError(OSError):
    """A picture that is missing or that cannot be decoded."""


class ImageTooLarge(ImageReadError):
    """A picture whose decoded size passes MAX_PIXELS (found from its header, before decoding)."""

    def __init__(self, message: str, size: tuple[int, int]):
        super().__init__(message)
        self.size = size


def picture_info(path: str | Path, max_pixels: int | None = None) -> tuple[tuple[int, int], int]:
    """(width, height) as stored and the EXIF orientation (1-8) of a picture, from its header only.

    Never decodes pixels (Pillow's PNG `getexif()` would decode the whole picture to look for an EXIF chunk
    after the pixels: 9 GB for a 1 MB file claiming 100000x100000); ImageTooLarge past `max_pixels`, if given,
    before the EXIF is read at all.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    # Pillow's own bomb check fires at open() and hides the size; ours (MAX_PIXELS) runs on every read, first.
    Image.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                size = img.size
                if max_pixels is not None and size[0] * size[1] > max_pixels:
                    raise _too_large(path, size, max_pixels)
                orientation = _orientation(img, path)
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            f"{str(path)!r} is far too large a picture (more than {MAX_PIXELS:,} pixels)", (0, 0)
        ) from None
    except (UnidentifiedImageError, SyntaxError, ValueError, EOFError):
        raise ImageReadError(f"cannot decode {str(path)!r} as an image") from None
    except ImageReadError:
        raise
    except OSError as err:
        raise ImageReadError(f"cannot read {str(path)!r} ({err.strerror or err})") from None
    return size, orientation if 1 <= orientation <= 8 else 1


def _too_large(path: Path, size: tuple[int, int], max_pixels: int) -> ImageTooLarge:
    w, h = size
    return ImageTooLarge(
        f"{str(path)!r} is {w}x{h} ({w * h / 1e6:.0f} MP); pictures of at most "
        f"{max_pixels / 1e6:.0f} MP are read: downscale it first",
        (w, h),
    )


def _orientation(img, path: Path) -> int:
    """The EXIF orientation of an open picture, read without decoding it (1 when there is none or it is broken)."""
    from PIL import Image

    try:
        if img.format == "PNG" and "exif" not in img.info:
            exif = _png_late_exif(path)  # an eXIf chunk after the pixels, which Pillow finds only by decoding
            if exif:
                img.info["exif"] = exif
        return int(Image.Image.getexif(img).get(EXIF_ORIENTATION, 1))  # the base method: reads `info`, no load()
    except Exception:  # a broken EXIF block: the picture is still readable, assume upright
        return 1


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_PNG_CHUNKS = 100_000  # chunk headers looked at for a late eXIf (a real PNG has a few dozen)
_MAX_EXIF_BYTES = 2**20


def _png_late_exif(path: Path) -> bytes | None:
    """The data of a PNG's eXIf chunk, found by hopping over chunk headers (no decoding); None when it has none."""
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            return None
        for _ in range(_MAX_PNG_CHUNKS):
            head = f.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"eXIf":
                return f.read(min(length, _MAX_EXIF_BYTES))
            if kind == b"IEND":
                return None
            f.seek(length + 4, 1)  # the data and its CRC
    return None


def png_damage(data: np.ndarray) -> str | None:
    """What is wrong with a PNG file's chunk structure (cut short, a bad CRC), or None when it is whole.

    Checked before OpenCV decodes it, so a damaged file is our one line, not libpng's own line on stderr first.
    """
    buffer = data.data.cast("B")
    at, end = 8, len(buffer)
    while at + 12 <= end:
        length, kind = struct.unpack_from(">I4s", buffer, at)
        stop = at + 8 + length
        if stop + 4 > end:
            break
        if zlib.crc32(buffer[at + 4 : stop]) != struct.unpack_from(">I", buffer, stop)[0]:
            return f"its {kind.decode('latin-1')!r} chunk is damaged (CRC mismatch)"
        if kind == b"IEND":
            return None
        at = stop + 4
    return "the file is cut short"


def upright_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of a picture as it is shown (EXIF orientation applied), from its header only."""
    (w, h), orientation = picture_info(path)
    return (h, w) if orientation >= 5 else (w, h)


def read_rgba(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """The picture at `path` as (H, W, 4) uint8 RGBA, upright; opaque alpha when the file has none.

    ImageTooLarge (from the header, before decoding) past `max_pixels` (default MAX_PIXELS).
    """
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    path = _checked_file(path)
    (w, h), orientation = picture_info(path, max_pixels)
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise ImageReadError(f"cannot read {str(path)!r} ({getattr(err, 'strerror', None) or err})") from None
    if data[:8].tobytes() == PNG_SIGNATURE and (damage := png_damage(data)):
        raise ImageReadError(f"cannot decode {str(path)!r} as an image: {damage}")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None  # UNCHANGED: no EXIF rotation
    if image is None or image.shape[:2] != (h, w):
        image = _pillow_decode(path)  # formats OpenCV lacks (e.g. GIF, palette tricks); BGR(A) like cv2
    return orient(_to_rgba(image), orientation)


def _checked_file(path: str | Path) -> Path:
    """`path` if it names a regular file of sensible size; ImageReadError otherwise (never a hang on a FIFO)."""
    text = str(path)
    if "\0" in text:
        raise ImageReadError(f"{text!r}: a path cannot hold a NUL byte")
    path = Path(path)
    try:
        is_file = path.is_file()
        size = path.stat().st_size if is_file else 0
    except (OSError, ValueError) as err:  # e.g. a name longer than the file system allows
        raise ImageReadError(f"cannot read {text!r} ({getattr(err, 'strerror', None) or err})") from None
    if not is_file:
        raise ImageReadError(f"{text!r} is not a regular file" if path.exists() else f"no such file {text!r}")
    if size > MAX_FILE_BYTES:
        raise ImageReadError(
            f"{text!r} is {size / 2**20:.0f} MB; picture files of at most {MAX_FILE_BYTES // 2**20} MB are read"
        )
    return path


def _pillow_decode(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                rgba = np.asarray(img.convert("RGBA"))
    except Exception:  # Pillow raises many types for a corrupt file
        raise ImageReadError(f"cannot decode {str(path)!r} as an image") from None
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)


def _to_rgba(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        image = (
            (image / (np.iinfo(image.dtype).max / 255.0)).round().astype(np.uint8)
            if image.dtype.kind == "u"
            else np.clip(np.nan_to_num(image) * 255, 0, 255).astype(np.uint8)
        )
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGBA)
    if image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGBA)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)


def orient(image: np.ndarray, orientation: int) -> np.ndarray:
    """`image` as stored, turned upright for its EXIF `orientation` (1-8, as Pillow's exif_transpose)."""
    turns = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.swapaxes(0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a.swapaxes(0, 1)[::-1, ::-1],
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(turns.get(orientation, turns[1])(image))


def read_mask(path: str | Path) -> np.ndarray:
    """A mask picture as (H, W) bool: alpha if it has transparency, else pixels brighter than mid-grey."""
    rgba = read_rgba(path)
    if rgba[..., 3].min() < 255:
        return rgba[..., 3] > 127
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2GRAY) > 127


def mask_png(mask: np.ndarray) -> bytes:
    """A boolean mask as a black-and-white PNG (what read_mask reads back); OSError if it cannot be encoded."""
    ok, png = cv2.imencode(".png", np.asarray(mask).astype(np.uint8) * 255)
    if not ok:
        raise OSError(f"could not encode a {mask.shape[1]}x{mask.shape[0]} mask as PNG")
    return png.tobytes()


def write_mask(mask: np.ndarray, path: str | Path) -> None:
    """Write a boolean mask to `path` as a black-and-white PNG, atomically (whole or not at all)."""
    from .fileio import atomic_write_bytes

    atomic_write_bytes(path, mask_png(mask))


def downscaled_copy(path: str | Path, max_pixels: int | None = None) -> Path:
    """Write `NAME_WxH.png` beside a too-large picture, upright and scaled to fit `max_pixels`; its path.

    Only for pictures up to 4x the limit (decoding needs their full size once).
    """
    from PIL import Image

    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    path = _checked_file(path)
    try:
        (w, h), orientation = picture_info(path, 4 * max_pixels)
    except ImageTooLarge as err:
        w, h = err.size
        raise ImageTooLarge(f"{str(path)!r} is {w}x{h}: too large even to downscale here", (w, h)) from None
    scale = (max_pixels / (w * h)) ** 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with Image.open(path) as img:
            img.draft("RGB", (int(w * scale), int(h * scale)))  # JPEG decodes at a reduced size directly
            rgba = np.asarray(img.convert("RGBA"))
    rgba = orient(rgba, orientation)
    new = (max(1, int(rgba.shape[1] * scale)), max(1, int(rgba.shape[0] * scale)))
    small = cv2.resize(rgba, new, interpolation=cv2.INTER_AREA) if new != rgba.shape[1::-1] else rgba
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(small, cv2.COLOR_RGBA2BGRA))
    if not ok:
        raise ImageReadError(f"could not encode a downscaled copy of {str(path)!r}")
    try:
        return _new_file(path.parent, f"{path.stem}_{small.shape[1]}x{small.shape[0]}", ".png", encoded.tobytes())
    except OSError as err:  # e.g. a read-only folder
        raise ImageReadError(
            f"cannot write a smaller copy beside {str(path)!r} ({getattr(err, 'strerror', None) or err})"
        ) from None


def _new_file(folder: Path, stem: str, suffix: str, data: bytes) -> Path:
    """Write `data` as STEM.SUFFIX in `folder`, or STEM-2.SUFFIX, ... where that name is taken: never over another
    file (one holding exactly `data`, an earlier copy, is reused); the path written."""
    from .fileio import atomic_write_bytes

    for n in range(1, 100):
        out = folder / (f"{stem}{suffix}" if n == 1 else f"{stem}-{n}{suffix}")
        try:
            atomic_write_bytes(out, data, replace=False)
            return out
        except FileExistsError:
            with contextlib.suppress(OSError):
                if out.is_file() and out.stat().st_size == len(data) and out.read_bytes() == data:
                    return out
    raise FileExistsError(f"{folder / (stem + suffix)} and 98 other names are taken")


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
