"""The project's one video reader: a video file or a folder of PNG frames as (F, H, W, 3) uint8 RGB.

The dataset builder (xpose), the training data (model/data.py), evaluation and the export tests all read
through here, so a clip decodes to the same pixels wherever it is read. Files are decoded by
imageio-ffmpeg's bundled ffmpeg (the one that writes our MP4s), frames as RGB24; stopping after
`max_frames` closes the decoder early instead of decoding the whole file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")


class VideoReadError(ValueError):
    """A video that cannot be read; the message is one line naming the file."""


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
            for buffer in reader:
                frames.append(np.frombuffer(buffer, np.uint8).reshape(h, w, 3))
                if max_frames is not None and len(frames) >= max_frames:
                    break
        finally:
            reader.close()  # stops ffmpeg when we leave early
    except (OSError, RuntimeError, StopIteration, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VideoReadError(f"{path}: unreadable video ({first})") from None
    if not frames:
        raise VideoReadError(f"{path}: no frames")
    return np.stack(frames), float(meta.get("fps") or 0.0)


def read_frames(path: str | os.PathLike, max_frames: int | None = None) -> np.ndarray:
    """(F, H, W, 3) uint8 RGB from a video file or a folder of PNG frames (sorted by name); the first `max_frames`."""
    path = Path(path)
    if path.is_dir():
        from .core.images import ImageReadError, read_rgba  # the one picture reader: sizes checked, EXIF honoured

        files = sorted(path.glob("*.png"))[:max_frames]
        try:
            frames = [read_rgba(f)[..., :3] for f in files]
        except ImageReadError as err:
            raise VideoReadError(f"{path}: {err}") from None
        if not frames:
            raise VideoReadError(f"{path}: no readable PNG frames")
        return np.stack(frames)
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoReadError(f"{path}: not a video file ({', '.join(VIDEO_SUFFIXES)}) or a folder of PNG frames")
    return read_video(path, max_frames)[0]


def reference_video(path: str | os.PathLike, fps: float, count: int, long_side: int = 640) -> np.ndarray:
    """A reference video as `count` frames at `fps` (the project's), scaled so its long side is at most
    `long_side`: (count', H, W, 3) uint8, count' <= count where the video is shorter.

    Frames are decoded one at a time and only the ones that land on the project's frames are kept, so a long
    or large video costs what the project uses, not what the file holds.
    """
    import cv2
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f"{path}: no such video file")
    kept: list[np.ndarray] = []
    try:
        reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = next(reader)
        w, h = meta["size"]
        source_fps = float(meta.get("fps") or fps)
        scale = min(1.0, long_side / max(w, h))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        try:
            for index, buffer in enumerate(reader):
                while len(kept) < count and round(len(kept) * source_fps / fps) == index:
                    frame = np.frombuffer(buffer, np.uint8).reshape(h, w, 3)
                    kept.append(cv2.resize(frame, size, interpolation=cv2.INTER_AREA) if scale < 1 else frame.copy())
                if len(kept) >= count:
                    break
        finally:
            reader.close()
    except (OSError, RuntimeError, StopIteration, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise VideoReadError(f"{path}: unreadable video ({first})") from None
    if not kept:
        raise VideoReadError(f"{path}: no frames")
    return np.stack(kept)
