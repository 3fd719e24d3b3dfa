"""Training data: a dataset folder described by `manifest.jsonl`, read as a torch Dataset.

    DATASET/manifest.jsonl   one JSON object per line:
        {"clip": "cat01", "video": "clips/cat01/video.mp4", "pose": "clips/cat01/pose.mp4",
         "masks": "clips/cat01/masks" | null, "frames": 49, "status": "accepted", "prompt": "a cat walks"}

- `clip` (str, unique), `video` and `pose` (paths relative to DATASET: an .mp4/.mov/.avi/.mkv/.webm file
  or a folder of .png frames, sorted by name), `masks` (null, or a folder of per-frame subject-mask PNGs,
  white = subject), `frames` (int, the clip's frame count), `status` are required; `prompt` is optional
  (default ""). Lines whose status is not "accepted" (the dataset builder also writes rejected clips) are
  skipped; any other fault is a `DatasetError` naming the file, the line and the key.
- An item is `{"clip", "prompt", "video": (F, H, W, 3) uint8, "pose": (F, H, W, 3) uint8,
  "parts": (F, B, H, W) bool}` with F = `num_frames` (the first F frames; the Wan VAE needs 4k+1).
- Part masks for PTCM come from the pose frames: the builder draws each bone in its own stable colour on
  black, so part j of every frame is the pixels of the j-th most common colour of frame 0, dilated by
  `dilate` pixels and kept inside the subject mask when there is one (PAPER.md, PTCM step 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from poseanything_studio.core.images import ImageReadError, read_rgba

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")
REQUIRED_KEYS = {"clip": str, "video": str, "pose": str, "frames": int, "status": str}


class DatasetError(ValueError):
    """A dataset that cannot be read; the message is one line naming the file (and line and key)."""


def read_manifest(root: str | Path) -> list[dict[str, Any]]:
    """The accepted clips of `root/manifest.jsonl`, checked."""
    path = Path(root) / "manifest.jsonl"
    if not path.is_file():
        raise DatasetError(f"{path}: not found (a dataset folder holds a manifest.jsonl)")
    clips, seen = [], set()
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{where}: not JSON ({err.msg})") from None
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: must be a JSON object")
        if entry.get("status") != "accepted":
            continue
        for key, kind in REQUIRED_KEYS.items():
            if not isinstance(entry.get(key), kind) or isinstance(entry.get(key), bool):
                raise DatasetError(f"{where}: key {key!r} must be a {kind.__name__}, got {entry.get(key)!r}")
        if not (entry.get("masks") is None or isinstance(entry["masks"], str)):
            raise DatasetError(f"{where}: key 'masks' must be a path or null, got {entry['masks']!r}")
        if not isinstance(entry.get("prompt", ""), str):
            raise DatasetError(f"{where}: key 'prompt' must be a string")
        if entry["clip"] in seen:
            raise DatasetError(f"{where}: clip {entry['clip']!r} appears twice")
        seen.add(entry["clip"])
        clips.append(entry)
    if not clips:
        raise DatasetError(f"{path}: no accepted clips")
    return clips


def read_frames(path: Path, count: int | None = None) -> np.ndarray:
    """(F, H, W, 3) uint8 from a video file or a folder of PNG frames; the first `count` frames."""
    if path.is_dir():
        files = sorted(path.glob("*.png"))
        if count is not None:
            files = files[:count]
        try:  # the project's one picture reader: sizes checked before decoding, EXIF orientation honoured
            frames = [read_rgba(f)[..., :3] for f in files]
        except ImageReadError as err:
            raise DatasetError(f"{path}: {err}") from None
        if not frames:
            raise DatasetError(f"{path}: no readable PNG frames")
        return np.stack(frames)
    if path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
        raise DatasetError(f"{path}: not a video file ({', '.join(VIDEO_SUFFIXES)}) or a folder of PNG frames")
    import imageio.v2 as imageio

    frames = []
    try:
        with imageio.get_reader(str(path), format="FFMPEG") as reader:
            for frame in reader:
                frames.append(np.asarray(frame)[..., :3])
                if count is not None and len(frames) == count:
                    break
    except Exception as err:  # imageio/ffmpeg raise many types
        raise DatasetError(f"{path}: unreadable video ({err})") from None
    if not frames:
        raise DatasetError(f"{path}: no frames")
    return np.stack(frames)


def read_masks(path: Path, count: int) -> np.ndarray:
    """Subject masks (F, H, W) bool from a folder of PNGs (non-zero = subject)."""
    files = sorted(path.glob("*.png"))[:count]
    try:
        masks = [cv2.cvtColor(read_rgba(f), cv2.COLOR_RGBA2GRAY) for f in files]
    except ImageReadError as err:
        raise DatasetError(f"{path}: {err}") from None
    if len(masks) < count:
        raise DatasetError(f"{path}: needs {count} readable mask PNGs, found {len(masks)}")
    return np.stack(masks) > 127


def part_masks(pose: np.ndarray, subject: np.ndarray | None, max_parts: int = 8, dilate: int = 8) -> np.ndarray:
    """Part masks (F, B, H, W) bool: the pixels of each bone colour of frame 0, dilated, inside the subject."""
    first = pose[0].reshape(-1, 3)
    lit = first[first.max(1) > 32]
    if not len(lit):
        return np.zeros((len(pose), 0, *pose.shape[1:3]), bool)
    colours, counts = np.unique(lit // 16, axis=0, return_counts=True)  # quantised: video compression blurs
    colours = colours[np.argsort(-counts)][:max_parts]
    quantised = pose // 16  # (F, H, W, 3)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
    out = np.zeros((len(pose), len(colours), *pose.shape[1:3]), bool)
    for j, colour in enumerate(colours):
        hit = (np.abs(quantised.astype(np.int16) - colour).max(-1) <= 1) & (pose.max(-1) > 32)  # (F, H, W)
        for f in range(len(pose)):
            out[f, j] = cv2.dilate(hit[f].astype(np.uint8), kernel) > 0
    if subject is not None:
        out &= subject[:, None]
    return out


class ClipDataset(Dataset):
    """The accepted clips of a dataset folder; items as the module docstring says."""

    def __init__(self, root: str | Path, num_frames: int, max_parts: int = 8, dilate: int = 8):
        self.root = Path(root)
        self.clips = read_manifest(self.root)
        self.num_frames, self.max_parts, self.dilate = num_frames, max_parts, dilate
        for entry in self.clips:
            if entry["frames"] < num_frames:
                raise DatasetError(f"{self.root / 'manifest.jsonl'}: clip {entry['clip']!r} has {entry['frames']} "
                                   f"frames, training needs {num_frames}")

    def __len__(self) -> int:
        return len(self.clips)

    def key(self, index: int) -> str:
        """A name for the clip's cached latents."""
        return f"{self.root.resolve()}::{self.clips[index]['clip']}::{self.num_frames}"

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.clips[index]
        video = read_frames(self.root / entry["video"], self.num_frames)
        pose = read_frames(self.root / entry["pose"], self.num_frames)
        if len(video) < self.num_frames or video.shape != pose.shape:
            raise DatasetError(f"{self.root / entry['video']}: {video.shape} frames, pose {pose.shape}; need "
                               f"{self.num_frames} frames of the same size")
        subject = read_masks(self.root / entry["masks"], self.num_frames) if entry.get("masks") else None
        return {"clip": entry["clip"], "prompt": entry.get("prompt", ""), "video": video, "pose": pose,
                "parts": part_masks(pose, subject, self.max_parts, self.dilate)}
