"""Writing frames: H.264 MP4 (yuv420p, via the ffmpeg that imageio-ffmpeg ships) or PNG sequences.

Frames stream in one at a time; the output appears under its name only when complete.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..core.fileio import atomic_dir, atomic_path


class OutputError(OSError):
    """An output path that cannot be written."""


@dataclass(frozen=True)
class OutputTarget:
    """Where frames go: an MP4 file, or PNG files named by `pattern` in `folder`."""

    kind: str  # "mp4" or "png"
    path: Path  # the MP4 file, or the folder of PNGs
    pattern: str = "frame_%05d.png"

    def existing(self, frames: int) -> list[Path]:
        """Files this output would replace."""
        if self.kind == "mp4":
            return [self.path] if self.path.exists() else []
        return [p for p in (self.path / (self.pattern % i) for i in range(frames)) if p.exists()]


def output_target(text: str) -> OutputTarget:
    """Parse `-o`: `x.mp4`, a folder (existing or ending in /), or a PNG pattern like `out/f_%04d.png`."""
    path = Path(text).expanduser()
    if path.suffix.lower() == ".mp4":
        target = OutputTarget("mp4", path)
    elif path.suffix.lower() == ".png":
        name = path.name
        if not re.search(r"%0?\d*d", name):
            name = f"{path.stem}_%05d.png"
        try:
            name % 0
        except (TypeError, ValueError):
            raise OutputError(f"{text}: a PNG pattern takes one number, like frame_%05d.png") from None
        target = OutputTarget("png", path.parent, name)
    elif text.endswith(("/", os.sep)) or path.is_dir() or not path.suffix:
        target = OutputTarget("png", path)
    else:
        raise OutputError(f"{text}: write .mp4, a folder, or a .png pattern (not {path.suffix})")
    _check_writable(target, text)
    return target


def _check_writable(target: OutputTarget, text: str) -> None:
    folder = target.path.parent if target.kind == "mp4" else target.path
    probe = folder if folder.exists() else folder.parent
    if target.kind == "mp4" and not folder.is_dir():
        raise OutputError(f"{text}: folder {str(folder)!r} does not exist")
    if not probe.is_dir():
        raise OutputError(f"{text}: folder {str(probe)!r} does not exist")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{text}: folder {str(probe)!r} is not writable")
    if target.kind == "mp4" and target.path.is_dir():
        raise OutputError(f"{text}: is a folder")


class FrameWriter:
    """Context manager taking frames in order; commits the output on a clean exit, else leaves nothing."""

    def __init__(self, target: OutputTarget, fps: float, size: tuple[int, int], frames: int):
        self.target, self.fps, self.size, self.frames = target, fps, size, frames
        self.written = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> FrameWriter:
        self._writer = None  # ffmpeg starts with the first frame, so a render that fails first leaves no trace
        try:
            if self.target.kind == "mp4":
                self._tmp = self._stack.enter_context(atomic_path(self.target.path, suffix=".mp4"))
            else:
                self._folder = self._stack.enter_context(atomic_dir(self.target.path))
        except OSError as err:  # e.g. a read-only file system, which os.access does not see
            raise OutputError(f"{self.target.path}: cannot write there ({err.strerror or err})") from None
        return self

    def write(self, image: np.ndarray) -> None:
        """Add the next frame, (H, W, 3) uint8 RGB at `size`."""
        if image.shape != (self.size[1], self.size[0], 3):
            raise ValueError(f"frame of shape {image.shape}, expected {(self.size[1], self.size[0], 3)}")
        if self.target.kind == "mp4":
            if self._writer is None:
                self._writer = _mp4_writer(self._tmp, self.fps, self.size)
                self._writer.send(None)
            self._writer.send(np.ascontiguousarray(image))
        else:
            name = self._folder / (self.target.pattern % self.written)
            if not cv2.imwrite(str(name), np.ascontiguousarray(image[..., ::-1])):
                raise OutputError(f"{name}: could not write")
        self.written += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self._writer is not None:
                self._writer.close()  # flushes and ends ffmpeg
            if exc_type is None and self.written != self.frames:
                raise OutputError(f"{self.target.path}: got {self.written} frames of {self.frames}")
        except BaseException as err:
            self._stack.__exit__(type(err), err, err.__traceback__)  # deletes the temporary output
            raise
        return bool(self._stack.__exit__(exc_type, exc, tb))


def _mp4_writer(path: Path, fps: float, size: tuple[int, int]):
    import imageio_ffmpeg

    return imageio_ffmpeg.write_frames(
        str(path), size, fps=fps, codec="libx264", pix_fmt_in="rgb24", pix_fmt_out="yuv420p", quality=None,
        bitrate=None, output_params=["-crf", "18", "-preset", "veryfast", "-movflags", "+faststart"],
        macro_block_size=16, ffmpeg_log_level="error")


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """All frames of a video, (F, H, W, 3) uint8, and its frame rate (the project's one reader, videoio)."""
    from ..videoio import read_video as read

    return read(path)


def write_frames(frames: Iterator[np.ndarray] | np.ndarray, target: OutputTarget, fps: float,
                 size: tuple[int, int], count: int) -> None:
    """Write `count` frames to `target` atomically."""
    with FrameWriter(target, fps, size, count) as writer:
        for image in frames:
            writer.write(image)
