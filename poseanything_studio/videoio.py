"""The project's one video reader: a video file or a folder of PNG frames as (F, H, W, 3) uint8 RGB.

The dataset builder (dataset/), the training data (model/data.py), evaluation and the export tests all read
through here, so a clip decodes to the same pixels wherever it is read. Files are decoded by
imageio-ffmpeg's bundled ffmpeg (the one that writes our MP4s), frames as RGB24; stopping after
`max_frames` closes the decoder early instead of decoding the whole file.

What a read may cost is checked before it is paid (docs/limits.md): a frame at most `core.images.MAX_PIXELS`,
and the frames read x width x height at most `MAX_VIDEO_PIXELS`, from the video's header (its size, duration and
frame rate) or the PNG frames' headers; a header that understates is caught while decoding, at the same limit.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Generator
from pathlib import Path
from typing import NamedTuple

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
MAX_VIDEO_PIXELS = 1_000_000_000  # frames x width x height read at once: 3 GB of RGB (478 frames of 1920x1088)


class VideoReadError(ValueError):
    """A video that cannot be read; the message is one line naming the file."""


class VideoTooLarge(VideoReadError):
    """A video (or folder of frames) holding more than a reader may decode: one line naming the file and field."""


def check_video_cost(path: Path, frames: int, size: tuple[int, int], max_pixels: int | None = None) -> None:
    """VideoTooLarge when one frame passes the picture limit or `frames` of `size` pass `max_pixels`
    (default MAX_VIDEO_PIXELS)."""
    from .core.images import MAX_PIXELS

    max_pixels = MAX_VIDEO_PIXELS if max_pixels is None else max_pixels
    w, h = size
    if w * h > MAX_PIXELS:
        raise VideoTooLarge(
            f"{path}: size: frames of {w}x{h} are {w * h / 1e6:.0f} million pixels; a video frame "
            f"is at most {MAX_PIXELS / 1e6:.0f} million"
        )
    if frames * w * h > max_pixels:
        raise VideoTooLarge(
            f"{path}: frames x size: {frames} frames of {w}x{h} are {frames * w * h / 1e9:.1f} "
            f"billion pixels; a video read at once is at most {max_pixels / 1e9:.1f} billion (e.g. "
            f"{max_pixels // (1920 * 1088)} frames of 1920x1088): use a shorter or smaller video"
        )


def header_frames(meta: dict, max_frames: int | None) -> int:
    """The frames a read will decode, from the header's duration and frame rate (and `max_frames`); 1 if unknown."""
    import math

    duration, fps = float(meta.get("duration") or 0), float(meta.get("fps") or 0)
    known = math.ceil(duration * fps) if duration > 0 and fps > 0 and math.isfinite(duration * fps) else None
    if known is None:  # the frame's own size is still checked; the frame count while decoding
        return 1
    return known if max_frames is None else min(known, max_frames)


def read_video(path: str | os.PathLike, max_frames: int | None = None) -> tuple[np.ndarray, float]:
    """The first `max_frames` (default all) frames of a video file, (F, H, W, 3) uint8 RGB, and its frame rate."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such video file")
    frames: list[np.ndarray] = []
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(reader)
        w, h = meta["size"]
        try:
            check_video_cost(path, header_frames(meta, max_frames), (w, h))  # before a frame is decoded
            for buffer in reader:
                frames.append(np.frombuffer(buffer, np.uint8).reshape(h, w, 3))
                if max_frames is not None and len(frames) >= max_frames:
                    break
                check_video_cost(path, len(frames) + 1, (w, h))  # a header that said fewer frames than it holds
        finally:
            _close_quietly(reader)  # stops ffmpeg when we leave early
    except VideoReadError:
        raise
    except (OSError, RuntimeError, StopIteration, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VideoReadError(f"{path}: unreadable video ({first})") from None
    if not frames:
        raise VideoReadError(f"{path}: no frames")
    return np.stack(frames), float(meta.get("fps") or 0.0)


def _close_quietly(reader) -> None:
    """Stop the decoder. An ffmpeg blocked writing a large frame is killed after 1.5 s, and imageio-ffmpeg's
    warning about it ("We had to kill ffmpeg") is kept off stderr, where a refusal is one line."""
    logger = logging.getLogger("imageio_ffmpeg")

    def above_warnings(record: logging.LogRecord) -> bool:
        return record.levelno > logging.WARNING

    logger.addFilter(above_warnings)
    try:
        reader.close()
    finally:
        logger.removeFilter(above_warnings)


def read_frames(path: str | os.PathLike, max_frames: int | None = None) -> np.ndarray:
    """(F, H, W, 3) uint8 RGB from a video file or a folder of PNG frames (sorted by name); the first `max_frames`."""
    path = Path(path)
    if path.is_dir():
        from .core.images import ImageReadError, picture_info, read_rgba  # the one picture reader: sizes checked

        files = sorted(path.glob("*.png"))[:max_frames]
        try:
            _check_pictures_cost(path, [picture_info(f)[0] for f in files])  # headers only
            frames = [read_rgba(f)[..., :3] for f in files]
        except ImageReadError as err:
            raise VideoReadError(f"{path}: {err}") from None
        if not frames:
            raise VideoReadError(f"{path}: no readable PNG frames")
        return np.stack(frames)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoReadError(f"{path}: not a video file ({', '.join(VIDEO_SUFFIXES)}) or a folder of PNG frames")
    return read_video(path, max_frames)[0]


def _check_pictures_cost(folder: Path, sizes: list[tuple[int, int]]) -> None:
    """VideoTooLarge when a folder's PNG frames together pass MAX_VIDEO_PIXELS (each picture is checked on its own)."""
    total = sum(w * h for w, h in sizes)
    if total > MAX_VIDEO_PIXELS:  # read here, not bound at import: tests lower it
        w, h = max(sizes, key=lambda s: s[0] * s[1])
        raise VideoTooLarge(
            f"{folder}: frames x size: {len(sizes)} PNG frames (up to {w}x{h}) are {total / 1e9:.1f} "
            f"billion pixels; a video read at once is at most {MAX_VIDEO_PIXELS / 1e9:.1f} billion: "
            "use fewer or smaller frames"
        )


class ReadProgress(NamedTuple):
    """How far a reference-video read is: `done` of the `total` frames it expects to keep (from the header)."""

    done: int
    total: int


def reference_video(path: str | os.PathLike, fps: float, count: int, long_side: int = 640) -> np.ndarray:
    """A reference video as `count` frames at `fps` (the project's), scaled so its long side is at most
    `long_side`: (count', H, W, 3) uint8, count' <= count where the video is shorter.

    Frames are decoded one at a time and only the ones that land on the project's frames are kept, so a long
    or large video costs what the project uses, not what the file holds.
    """
    steps = reference_video_steps(path, fps, count, long_side)
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def reference_video_steps(
    path: str | os.PathLike,
    fps: float,
    count: int,
    long_side: int = 640,
    cancelled: Callable[[], bool] = lambda: False,
) -> Generator[ReadProgress, None, np.ndarray | None]:
    """`reference_video` as a generator: yields a ReadProgress before the first frame and after each frame
    kept, and returns the frames (StopIteration.value); returns None, the decoder stopped, as soon as
    `cancelled()` turns true (checked before each frame is decoded). VideoReadError (one line) as there."""
    import cv2
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such video file")
    kept: list[np.ndarray] = []
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        try:
            meta = next(reader)
            w, h = meta["size"]
            source_fps = float(meta.get("fps") or fps)
            scale = min(1.0, long_side / max(w, h))
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            duration = float(meta.get("duration") or 0)
            expected = math.ceil(duration * fps) if duration > 0 and math.isfinite(duration * fps) else count
            total = max(1, min(count, expected))
            yield ReadProgress(0, total)
            for index, buffer in enumerate(reader):
                if cancelled():
                    return None
                while len(kept) < count and round(len(kept) * source_fps / fps) == index:
                    frame = np.frombuffer(buffer, np.uint8).reshape(h, w, 3)
                    kept.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if scale < 1 else frame.copy())
                    yield ReadProgress(len(kept), max(total, len(kept)))
                if len(kept) >= count:
                    break
        finally:
            _close_quietly(reader)  # stops ffmpeg when we leave early (the end, Cancel)
    except (OSError, RuntimeError, StopIteration, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VideoReadError(f"{path}: unreadable video ({first})") from None
    if cancelled():
        return None
    if not kept:
        raise VideoReadError(f"{path}: no frames")
    return np.stack(kept)
