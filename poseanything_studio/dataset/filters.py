"""The paper's clip filters: scene cuts, camera motion, subject area, mask tracking; each raises ClipRejected."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np


@dataclass(frozen=True)
class Filters:
    """The paper's filters; every threshold is a command-line option."""

    min_area: float = 0.02  # subject area / frame area, median over the clip
    max_area: float = 0.8
    min_iou: float = 0.5  # mask IoU with the previous frame, every frame
    min_skeleton: float = 0.8  # T_skel / T: frames whose skeleton could be extracted
    max_cut: float = 0.3  # Bhattacharyya distance of neighbouring frames' HSV histograms above this = a scene cut
    max_camera: float = 0.005  # background motion, fraction of the frame width per frame (mean over the clip)


class ClipRejected(Exception):
    """A clip that fails a filter; the message is the reason written to the manifest."""


def check_scene_cuts(frames: np.ndarray, filters: Filters) -> None:
    """Reject a clip with a scene cut: neighbouring frames whose colour histograms differ by more than max_cut."""
    distances = histogram_distances(frames)
    if len(distances) and distances.max() > filters.max_cut:
        f = int(distances.argmax())
        raise ClipRejected(
            f"scene cut: histogram distance {distances[f]:.2f} between frames {f} and {f + 1} "
            f"(allowed {filters.max_cut:.2f})"
        )


def histogram_distances(frames: np.ndarray) -> np.ndarray:
    """Bhattacharyya distance between each frame's hue-saturation histogram and the next one's, (F-1,)."""
    hists = []
    for frame in frames:
        hsv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
        hists.append(cv2.normalize(hist, None, 1.0, 0.0, cv2.NORM_L1))
    return np.array([cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA) for a, b in pairwise(hists)])


def camera_motion(frames: np.ndarray, masks: np.ndarray, width: int = 160) -> np.ndarray:
    """How far the background moves between neighbouring frames, (F-1,) in pixels of the clip.

    Dense optical flow (Farneback) on small grey frames, kept on the background (outside the dilated
    subject masks of both frames); a similarity transform (shift, zoom, roll) is fitted to it robustly,
    and its motion is the mean shift of the frame's four corners, so pans, zooms and rolls all count."""
    h, w = frames.shape[1:3]
    scale = min(1.0, width / w)
    size = (max(8, round(w * scale)), max(8, round(h * scale)))
    grey = [
        cv2.resize(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
        for f in frames
    ]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    away = [
        cv2.dilate(cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST), kernel) == 0 for m in masks
    ]
    ys, xs = np.mgrid[2 : size[1] - 2 : 3, 2 : size[0] - 2 : 3]  # a grid of sample points
    corners = np.array([[0, 0], [size[0], 0], [0, size[1]], [size[0], size[1]]], np.float32)
    out = np.zeros(len(frames) - 1)
    for f in range(len(frames) - 1):
        flow = cv2.calcOpticalFlowFarneback(grey[f], grey[f + 1], None, 0.5, 3, 15, 3, 5, 1.2, 0)
        keep = away[f][ys, xs] & away[f + 1][ys, xs]
        if keep.sum() < 12:
            continue  # almost no background to see: nothing to say about the camera
        src = np.stack([xs[keep], ys[keep]], 1).astype(np.float32)
        dst = src + flow[ys[keep], xs[keep]]
        matrix, _ = cv2.estimateAffinePartial2D(src, dst, method=cv2.LMEDS)
        if matrix is not None:
            moved = corners @ matrix[:, :2].T + matrix[:, 2]
            out[f] = float(np.linalg.norm(moved - corners, axis=1).mean()) / scale
    return out


def check_camera(frames: np.ndarray, masks: np.ndarray, filters: Filters) -> None:
    """Reject a clip whose camera moves: background motion above max_camera of the width per frame."""
    speed = float(camera_motion(frames, masks).mean()) / frames.shape[2]
    if speed > filters.max_camera:
        raise ClipRejected(
            f"camera: the background moves {speed:.2%} of the frame width a frame (allowed {filters.max_camera:.2%})"
        )


def check_area(masks: np.ndarray, filters: Filters) -> None:
    ratio = float(np.median(masks.mean(axis=(1, 2))))
    if not filters.min_area <= ratio <= filters.max_area:
        raise ClipRejected(
            f"area: subject covers {ratio:.1%} of the frame (allowed {filters.min_area:.0%}-{filters.max_area:.0%})"
        )


def check_tracking(masks: np.ndarray, filters: Filters) -> None:
    for f in range(1, len(masks)):
        union = (masks[f] | masks[f - 1]).sum()
        iou = (masks[f] & masks[f - 1]).sum() / union if union else 0.0
        if iou < filters.min_iou:
            raise ClipRejected(
                f"tracking: mask IoU {iou:.2f} between frames {f - 1} and {f} (needs {filters.min_iou:.2f})"
            )
