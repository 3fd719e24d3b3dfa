"""Writing frames: H.264 MP4, looping GIF, WebM VP9 and ProRes 4444 with the subject's alpha (formats.py; all
through the ffmpeg that imageio-ffmpeg ships), or PNG sequences (RGB, or RGBA with the subject's alpha).

Frames stream in one at a time; the output appears under its name only when complete.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from poseanything_studio.core.fileio import atomic_dir, atomic_path

from .formats import BY_SUFFIX, MP4, alpha_capable, alpha_default, video_format


class OutputError(OSError):
    """An output path that cannot be written."""


@dataclass(frozen=True)
class OutputTarget:
    """Where frames go: a video file (MP4, GIF, WebM, MOV), or PNG files named by `pattern` in `folder`."""

    kind: str  # "mp4", "gif", "webm", "mov" (formats.VIDEO_FORMATS) or "png"
    path: Path  # the video file, or the folder of PNGs
    pattern: str = "frame_%05d.png"
    alpha: bool = False  # the frames carry the subject's alpha (WebM, MOV, PNG only)

    @property
    def is_file(self) -> bool:
        """One video file (not a folder of PNGs)."""
        return self.kind != "png"

    def existing(self, frames: int) -> list[Path]:
        """Files this output would replace: the video file, or the frames' names and older frames of the pattern."""
        if self.is_file:
            return [self.path] if self.path.exists() else []
        named = {p for p in (self.path / (self.pattern % i) for i in range(frames)) if p.exists()}
        return sorted(named | set(self.sequence_files()))

    def sequence_files(self) -> list[Path]:
        """Regular files in the folder named by the pattern for some frame number (an earlier render's frames)."""
        if self.kind != "png" or not self.path.is_dir():
            return []
        head, _, tail = re.split(r"(%0?\d*d)", self.pattern, maxsplit=1)
        shape = re.compile(re.escape(head) + r"(\d+)" + re.escape(tail))
        found = []
        with contextlib.suppress(OSError), os.scandir(self.path) as entries:
            for entry in entries:
                match = shape.fullmatch(entry.name)
                if match and self.pattern % int(match.group(1)) == entry.name and entry.is_file(follow_symlinks=False):
                    found.append(Path(entry.path))
        return sorted(found)


def output_target(text: str, alpha: bool | None = None) -> OutputTarget:
    """Parse `-o`: `x.mp4`, `x.gif`, `x.webm`, `x.mov`, a folder (existing or ending in /), or a PNG pattern like
    `out/f_%04d.png`. `alpha`: frames with the subject's alpha (None: the format's default, on for WebM and MOV)."""
    path = Path(text).expanduser()
    if path.suffix.lower() in BY_SUFFIX:
        target = OutputTarget(BY_SUFFIX[path.suffix.lower()].kind, path)
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
        raise OutputError(f"{text}: write .mp4, .gif, .webm, .mov, a folder, or a .png pattern (not {path.suffix})")
    _check_writable(target, text)
    return with_alpha(target, alpha)


def with_alpha(target: OutputTarget, alpha: bool | None) -> OutputTarget:
    """`target` with or without the subject's alpha (None: its format's default); OutputError where it cannot."""
    if alpha is None:
        alpha = alpha_default(target.kind)
    if alpha and not alpha_capable(target.kind):
        raise OutputError(
            f"{target.path}: {video_format(target.kind).label} has no alpha; write .webm, .mov or "
            "PNG frames for the subject alone"
        )
    return replace(target, alpha=bool(alpha))


def _check_writable(target: OutputTarget, text: str) -> None:
    folder = target.path.parent if target.is_file else target.path
    probe = folder if folder.exists() else folder.parent
    if target.kind == "png" and folder.exists() and not folder.is_dir():
        raise OutputError(f"{text}: exists and is not a folder (write .mp4, a folder, or a .png pattern)")
    if target.is_file and not folder.is_dir():
        raise OutputError(f"{text}: folder {str(folder)!r} does not exist")
    if not probe.is_dir():
        raise OutputError(f"{text}: folder {str(probe)!r} does not exist")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{text}: folder {str(probe)!r} is not writable")
    if target.is_file and target.path.is_dir():
        raise OutputError(f"{text}: is a folder")


class FrameWriter:
    """Context manager taking frames in order; commits the output on a clean exit, else leaves nothing.

    Every failure while writing (a full disk, ffmpeg dying, a frame of the wrong shape) is an OutputError
    of one line, and the temporary output is removed. `overwrite`: the user agreed to replace what
    `target.existing()` lists; a PNG sequence then holds exactly the new frames (the older frames of the
    pattern past the new count are removed, nothing else). Without it, an output that appeared while the
    frames were made is kept, and this output is not written.
    """

    def __init__(self, target: OutputTarget, fps: float, size: tuple[int, int], frames: int, overwrite: bool = True):
        self.target, self.fps, self.size, self.frames = target, fps, size, frames
        self.overwrite = overwrite
        self.written = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> FrameWriter:
        self._writer: Mp4Encoder | None = None  # ffmpeg starts with the first frame: an early failure leaves no trace
        try:
            if self.target.is_file:
                self._tmp = self._stack.enter_context(
                    atomic_path(self.target.path, suffix=self.target.path.suffix, replace=self.overwrite)
                )
            else:
                self._folder = self._stack.enter_context(atomic_dir(self.target.path, replace=self.overwrite))
        except (OSError, ValueError) as err:  # e.g. a read-only file system, which os.access does not see
            raise OutputError(f"{self.target.path}: cannot write there ({_reason(err)})") from None
        return self

    def write(self, image: np.ndarray, alpha: np.ndarray | None = None) -> None:
        """Add the next frame, (H, W, 3) uint8 RGB at `size` (or (H, W, 4) RGBA), and the subject's alpha (H, W)
        uint8 for a target with alpha (none given: opaque). A target without alpha drops it."""
        image = _frame_for(self.target, image, alpha, self.size)
        if self.target.is_file:
            if self._writer is None:
                self._writer = Mp4Encoder(
                    self._tmp,
                    self.fps,
                    self.size,
                    shown_as=self.target.path,
                    kind=self.target.kind,
                    alpha=self.target.alpha,
                )
            self._writer.write(image)
        else:
            name = self._folder / (self.target.pattern % self.written)
            bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA) if self.target.alpha else image[..., ::-1]
            ok, encoded = cv2.imencode(".png", np.ascontiguousarray(bgr))
            if not ok:
                raise OutputError(f"{name.name}: could not encode the frame as PNG")
            try:
                with open(name, "wb") as f:  # Python's own write reports a full disk (cv2.imwrite may not)
                    f.write(encoded.tobytes())
            except OSError as err:
                raise OutputError(f"{self.target.path / name.name}: could not write ({_reason(err)})") from None
        self.written += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self._writer is not None:
                self._writer.close(abort=exc_type is not None)  # flushes, ends ffmpeg and checks its exit status
            if exc_type is None and self.written != self.frames:
                raise OutputError(f"{self.target.path}: got {self.written} frames of {self.frames}")
            if exc_type is None:
                done = bool(self._stack.__exit__(None, None, None))  # fsync and rename into place
                self._remove_older_frames()
                return done
        except FileExistsError as err:
            self._stack.__exit__(type(err), err, err.__traceback__)
            raise OutputError(
                f"{err.filename or self.target.path}: appeared while rendering; it was kept and "
                "nothing was written (pass --overwrite to replace it)"
            ) from None
        except OSError as err:
            if not isinstance(err, OutputError):
                err = OutputError(f"{self.target.path}: could not write ({_reason(err)})")
            self._stack.__exit__(type(err), err, err.__traceback__)  # deletes the temporary output
            raise err from None
        except BaseException as err:
            self._stack.__exit__(type(err), err, err.__traceback__)
            raise
        return bool(self._stack.__exit__(exc_type, exc, tb))

    def _remove_older_frames(self) -> None:
        """After an agreed overwrite: the pattern's frames past the new count (an earlier, longer render's)."""
        if self.target.kind != "png" or not self.overwrite:
            return
        new = {self.target.pattern % i for i in range(self.written)}
        for path in self.target.sequence_files():
            if path.name not in new:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _frame_for(target: OutputTarget, image: np.ndarray, alpha: np.ndarray | None, size: tuple[int, int]) -> np.ndarray:
    """The frame as `target` takes it: RGBA with the subject's alpha (opaque when none) or RGB."""
    h, w = size[1], size[0]
    if image.ndim != 3 or image.shape[:2] != (h, w) or image.shape[2] not in (3, 4):
        raise ValueError(f"frame of shape {image.shape}, expected {(h, w, 3)}")
    if alpha is None and image.shape[2] == 4:
        image, alpha = image[..., :3], image[..., 3]
    if not target.alpha:
        return image[..., :3]
    if alpha is None:
        alpha = np.full((h, w), 255, np.uint8)
    if alpha.shape != (h, w):
        raise ValueError(f"alpha of shape {alpha.shape}, expected {(h, w)}")
    return np.dstack([image[..., :3], alpha.astype(np.uint8)])


def _reason(err: BaseException) -> str:
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def _status_text(status: int | None) -> str:
    """How ffmpeg ended, in words."""
    if status is None:
        return "it stopped reading frames"
    if status < 0:
        return f"killed by signal {-status}"
    return f"exit status {status}"


class Mp4Encoder:
    """ffmpeg (the one imageio-ffmpeg ships) encoding raw frames from a pipe: H.264 yuv420p, or another of
    formats.py's kinds (RGBA frames in when `alpha`).

    A write after ffmpeg died, or a non-zero exit status at close, is an OutputError with ffmpeg's last
    line (e.g. "No space left on device").
    """

    def __init__(
        self,
        path: Path,
        fps: float,
        size: tuple[int, int],
        shown_as: Path | None = None,
        kind: str = MP4.kind,
        alpha: bool = False,
    ):
        import imageio_ffmpeg

        self.path, self.shown_as = path, shown_as or path
        fps_arg = str(Fraction(fps).limit_denominator())
        cmd = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-y",
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-vcodec",
            "rawvideo",
            "-s",
            f"{size[0]}x{size[1]}",
            "-pix_fmt",
            "rgba" if alpha else "rgb24",
            "-r",
            fps_arg,
            "-i",
            "-",
            *video_format(kind).output_args(alpha),
            str(path),
        ]
        self._message = ""
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close()); ffmpeg's messages: a file, so a chatty ffmpeg never blocks on a pipe
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        except OSError as err:
            self._log.close()
            raise OutputError(f"{self.shown_as}: cannot start ffmpeg ({_reason(err)})") from None
        assert self._proc.stdin is not None  # stdin=PIPE: the frames' pipe
        self._stdin = self._proc.stdin

    def write(self, image: np.ndarray) -> None:
        """Send one (H, W, 3) uint8 RGB frame (RGBA for an encoder made with `alpha`)."""
        try:
            self._stdin.write(np.ascontiguousarray(image, dtype=np.uint8).data)  # the buffer itself: no per-frame copy
        except (BrokenPipeError, OSError, ValueError):
            try:
                status = self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                status = None
            message = self._last_line() or _status_text(status)
            self.close(abort=True)
            raise OutputError(
                f"{self.shown_as}: ffmpeg stopped while writing ({message}); nothing was written"
            ) from None

    def close(self, abort: bool = False) -> None:
        """End the stream and wait for ffmpeg; OutputError when it did not finish cleanly (unless aborting)."""
        if self._log.closed:
            return
        with contextlib.suppress(OSError, ValueError):
            self._stdin.close()
        if abort:
            self._proc.kill()
        status = self._proc.wait()
        message = self._last_line()
        self._log.close()
        if status != 0 and not abort:
            raise OutputError(
                f"{self.shown_as}: ffmpeg failed ({message or _status_text(status)}); nothing was written"
            )

    def _last_line(self) -> str:
        if self._log.closed:
            return self._message
        self._log.seek(0)
        lines = [line.strip() for line in self._log.read().decode("utf-8", "replace").splitlines() if line.strip()]
        self._message = re.sub(r"^\[[^\]]*\]\s*", "", lines[-1])[:200] if lines else ""  # drop "[out#0/mp4 @ 0x..]"
        return self._message


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """All frames of a video, (F, H, W, 3) uint8, and its frame rate (the project's one reader, videoio)."""
    from poseanything_studio.videoio import read_video as read

    return read(path)


def write_frames(
    frames: Iterator[np.ndarray] | np.ndarray,
    target: OutputTarget,
    fps: float,
    size: tuple[int, int],
    count: int,
    overwrite: bool = True,
) -> None:
    """Write `count` frames to `target` atomically (`overwrite`: as FrameWriter's)."""
    with FrameWriter(target, fps, size, count, overwrite=overwrite) as writer:
        for image in frames:
            writer.write(image)


class FrameStore:
    """Rendered frames kept on disk, PNG-compressed (lossless), so memory stays flat in the frame count.

    One anonymous temporary file (unlinked at creation where the system allows, so even a killed program
    leaves nothing); frames are appended in order and read back by index from any thread.
    """

    def __init__(self, level: int = 1):
        self._file = tempfile.TemporaryFile(prefix="poseanything-frames-")  # noqa: SIM115 (closed in close())
        self._spans: list[tuple[int, int]] = []
        self._end = 0
        self._level = level
        self._lock = threading.Lock()
        self.shape: tuple[int, ...] | None = None

    def append(self, image: np.ndarray) -> None:
        """Add the next frame, (H, W, 3) uint8 RGB, or (H, W, 4) RGBA (the subject's alpha kept with it)."""
        four = image.shape[2] == 4
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA) if four else np.ascontiguousarray(image[..., ::-1])
        ok, png = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, self._level])
        if not ok:
            raise OutputError("could not encode a rendered frame")
        data = png.tobytes()
        with self._lock:
            self._file.seek(self._end)
            self._file.write(data)  # OSError on a full disk: the render fails with one line
            self._spans.append((self._end, len(data)))
            self._end += len(data)
        self.shape = image.shape

    def __len__(self) -> int:
        return len(self._spans)

    def __getitem__(self, index: int) -> np.ndarray:
        """Frame `index` as (H, W, 3) uint8 RGB, or RGBA as appended (negative indices count from the end)."""
        start, length = self._spans[index]
        with self._lock:
            self._file.seek(start)
            data = self._file.read(length)
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if image is None:  # the spool file was changed under us (it is ours alone): say which frame
            raise OSError(f"frame {index} of the rendered frames cannot be decoded")
        if image.ndim == 3 and image.shape[2] == 4:
            return cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
        return np.ascontiguousarray(image[..., ::-1])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))

    @property
    def nbytes_on_disk(self) -> int:
        """Bytes the compressed frames take in the temporary file."""
        return self._end

    def close(self) -> None:
        """Drop the frames (the temporary file goes with them)."""
        self._file.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._file.close()
