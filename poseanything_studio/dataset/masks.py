"""Subject masks of a clip: given per frame, or by background subtraction for steady-camera clips (GrabCut optional)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from poseanything_studio.core.images import fit_to_size, read_mask
from poseanything_studio.core.parts import grabcut

from .filters import ClipRejected


@dataclass(frozen=True)
class Masking:
    """Where subject masks come from when a clip has no given masks."""

    background: str = "median"  # "median" (distance from the median frame) or "mog2" (OpenCV's subtractor)
    grabcut: bool = False  # refine each frame's mask with GrabCut (slower, tighter edges)


DEFAULT_MASKING = Masking()


# -- masks --------------------------------------------------------------------------------------------
def background_masks(frames: np.ndarray, threshold: float = 30.0) -> np.ndarray:
    """Subject masks (F, H, W) bool for a steady camera: distance from the median frame, cleaned up.

    The median is the background only where the subject is absent for more than half the clip: for a
    subject that barely moves, give masks with --masks instead.
    """
    background = np.median(frames, axis=0).astype(np.float32)
    diff = np.abs(frames.astype(np.float32) - background).max(axis=-1)
    masks = diff > threshold
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    return np.stack([_largest_blob(cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_CLOSE, kernel)) for m in masks])


def subtractor_masks(frames: np.ndarray, threshold: float = 16.0, variance: float = 25.0) -> np.ndarray:
    """Subject masks (F, H, W) bool from OpenCV's MOG2 background subtractor.

    A short clip is too few frames for MOG2 to learn its background from while the subject moves, so the
    model is first fitted to the median frame (with `variance` as the noise it allows), then each frame
    is classified against it without further learning.
    """
    model = cv2.createBackgroundSubtractorMOG2(history=20, varThreshold=threshold, detectShadows=False)
    model.setVarInit(variance)
    model.setVarMin(variance)
    background = np.median(frames, axis=0).astype(np.uint8)[..., ::-1]
    for _ in range(20):
        model.apply(np.ascontiguousarray(background))
    masks = [model.apply(np.ascontiguousarray(frame[..., ::-1]), learningRate=0) > 0 for frame in frames]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    return np.stack([_largest_blob(cv2.morphologyEx(m.astype(np.uint8), cv2.MORPH_OPEN, kernel)) for m in masks])


def refine_grabcut(frames: np.ndarray, masks: np.ndarray, band: int = 6, iterations: int = 2) -> np.ndarray:
    """Masks snapped to the subject's edges by GrabCut: the eroded mask is sure subject, far outside sure
    background, a `band`-pixel ring either side of the edge is decided by GrabCut's colour models."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    out = np.zeros_like(masks)
    for f, (frame, mask) in enumerate(zip(frames, masks, strict=True)):
        inside = cv2.erode(mask.astype(np.uint8), kernel) > 0
        near = cv2.dilate(mask.astype(np.uint8), kernel) > 0
        if not inside.any():
            out[f] = mask
            continue
        labels = np.where(near, cv2.GC_PR_BGD, cv2.GC_BGD).astype(np.uint8)
        labels[mask] = cv2.GC_PR_FGD
        labels[inside] = cv2.GC_FGD
        grabcut(frame[..., ::-1], labels, iterations)
        out[f] = _largest_blob(np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8))
    return out


def _largest_blob(mask: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.zeros(mask.shape, bool)
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def given_masks(folder: Path, frames: int, size: tuple[int, int]) -> np.ndarray:
    """Per-frame mask pictures from `folder` (sorted PNGs), fitted to `size`."""
    files = sorted(folder.glob("*.png"))
    if len(files) < frames:
        raise ClipRejected(f"masks: {folder} has {len(files)} masks for {frames} frames")
    return np.stack([fit_to_size(read_mask(f), size) for f in files[:frames]])


def clip_masks(
    frames: np.ndarray, given: Path | None, size: tuple[int, int], masking: Masking
) -> tuple[np.ndarray, str]:
    """The clip's subject masks (F, H, W) bool and where they came from."""
    if given is not None and given.is_dir():
        return given_masks(given, len(frames), size), "given"
    masks = subtractor_masks(frames) if masking.background == "mog2" else background_masks(frames)
    if masking.grabcut:
        return refine_grabcut(frames, masks), f"{masking.background}+grabcut"
    return masks, masking.background
