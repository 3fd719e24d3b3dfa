"""Training data: a dataset folder described by `manifest.jsonl`, read as a torch Dataset.

    DATASET/manifest.jsonl   one JSON object per line:
        {"clip": "cat01", "video": "clips/cat01/video.mp4", "pose": "clips/cat01/pose.mp4",
         "masks": "clips/cat01/masks" | null, "rig": "clips/cat01/rig.json" | null, "frames": 49,
         "status": "accepted", "prompt": "a cat walks"}

- `clip` (str, unique), `video` and `pose` (paths relative to DATASET: an .mp4/.mov/.avi/.mkv/.webm file
  or a folder of .png frames, sorted by name), `frames` (int, the clip's frame count), `status` are
  required; `masks` (null, or a folder of per-frame subject-mask PNGs, white = subject), `rig` (null, or
  a JSON file `{"joints": [{"id", "xy"}], "bones": [{"id", "a", "b"}], "positions": [[[x, y], ...], ...]}`:
  the first frame's rig, read by the project file's rig reader, and every frame's joint positions, as
  `dataset build` writes it) and `prompt` (default "") are optional. Lines whose status is not "accepted"
  (the builder also writes rejected clips) are skipped; any other fault is a `DatasetError` naming the file,
  the line and the key.
- An item is `{"clip", "prompt", "video": (F, H, W, 3) uint8, "pose": (F, H, W, 3) uint8,
  "parts": (F, B, H, W) bool}` with F = `num_frames` (the first F frames; the Wan VAE needs 4k+1).
- Part masks for PTCM are built exactly as the renderer builds them (`core.parts.clip_part_masks`): the
  part rule (default the paper's capped dilation) applied to frame 0's subject mask at the rig's joints,
  each part carried into later frames by its bone's motion. B is the rig's bone count. Frame 0's subject
  mask is the clip's first mask, else derived from the picture and the rig as a project without a
  subject mask is. A clip without a rig has no parts (B = 0): PTCM cannot train on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.images import ImageReadError, read_rgba
from poseanything_studio.core.parts import DEFAULT_PART_RULE, PART_RULES, clip_part_masks, subject_mask
from poseanything_studio.core.project import rig_from
from poseanything_studio.core.rig import Rig

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
        for key in ("masks", "rig"):
            if not (entry.get(key) is None or isinstance(entry[key], str)):
                raise DatasetError(f"{where}: key {key!r} must be a path or null, got {entry[key]!r}")
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
    """(F, H, W, 3) uint8 from a video file or a folder of PNG frames; the first `count` frames (videoio)."""
    from poseanything_studio.videoio import VideoReadError
    from poseanything_studio.videoio import read_frames as read

    try:
        return read(path, count)
    except VideoReadError as err:
        raise DatasetError(str(err)) from None


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


def read_rig(path: Path, frames: int) -> tuple[Rig, np.ndarray]:
    """The rig and its joint positions (F, J, 2) from a builder's rig.json; DatasetError names the key."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise DatasetError(f"{path}: not found (the manifest's 'rig')") from None
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: not JSON ({err.msg})") from None
    try:
        rig = rig_from(raw)  # the project file's rig reader: same shape, same checks
    except ProjectError as err:
        raise DatasetError(str(err.located(str(path)))) from None
    positions = np.asarray(raw.get("positions", []), dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (len(rig.joints), 2) or len(positions) < frames:
        raise DatasetError(
            f"{path}: positions: needs at least {frames} frames of {len(rig.joints)} (x, y) "
            f"joints, got shape {positions.shape}"
        )
    return rig, positions[:frames]


def clip_parts(
    first_frame: np.ndarray,
    first_mask: np.ndarray | None,
    rig: Rig,
    positions: np.ndarray,
    rule: str = DEFAULT_PART_RULE,
) -> np.ndarray:
    """Part masks (F, B, H, W) bool as the renderer makes them, with frame 0 as the reference picture."""
    rgba = np.dstack([first_frame, np.full(first_frame.shape[:2], 255, np.uint8)])
    mask = subject_mask(rgba, rig, first_mask)
    return clip_part_masks(mask, rig, positions[0], positions, rule)


class ClipDataset(Dataset):
    """The accepted clips of a dataset folder; items as the module docstring says."""

    def __init__(self, root: str | Path, num_frames: int, part_rule: str = DEFAULT_PART_RULE):
        if part_rule not in PART_RULES:
            raise ValueError(f"unknown part rule {part_rule!r} (use {' or '.join(PART_RULES)})")
        self.root = Path(root)
        self.clips = read_manifest(self.root)
        self.num_frames, self.part_rule = num_frames, part_rule
        for entry in self.clips:
            if entry["frames"] < num_frames:
                raise DatasetError(
                    f"{self.root / 'manifest.jsonl'}: clip {entry['clip']!r} has {entry['frames']} "
                    f"frames, training needs {num_frames}"
                )

    def __len__(self) -> int:
        return len(self.clips)

    def key(self, index: int) -> str:
        """A name for the clip's cached latents and part tokens."""
        return f"{self.root.resolve()}::{self.clips[index]['clip']}::{self.num_frames}::{self.part_rule}"

    def has_parts(self, index: int) -> bool:
        """Whether the clip has a rig (and so part masks for PTCM)."""
        return bool(self.clips[index].get("rig"))

    def __getitem__(self, index: int) -> dict[str, Any]:
        entry = self.clips[index]
        video = read_frames(self.root / entry["video"], self.num_frames)
        pose = read_frames(self.root / entry["pose"], self.num_frames)
        if len(video) < self.num_frames or video.shape != pose.shape:
            raise DatasetError(
                f"{self.root / entry['video']}: {video.shape} frames, pose {pose.shape}; need "
                f"{self.num_frames} frames of the same size"
            )
        subject = read_masks(self.root / entry["masks"], self.num_frames) if entry.get("masks") else None
        if entry.get("rig"):
            rig, positions = read_rig(self.root / entry["rig"], self.num_frames)
            parts = clip_parts(video[0], None if subject is None else subject[0], rig, positions, self.part_rule)
        else:
            parts = np.zeros((self.num_frames, 0, *video.shape[1:3]), bool)
        return {"clip": entry["clip"], "prompt": entry.get("prompt", ""), "video": video, "pose": pose, "parts": parts}
