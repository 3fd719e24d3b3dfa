"""Building (or resuming) a dataset: each clip read, filtered, masked, skeletonised and written whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.fileio import atomic_dir, atomic_write_bytes, atomic_write_text
from poseanything_studio.core.images import fit_to_size, mask_png
from poseanything_studio.core.project import rig_to_dict
from poseanything_studio.core.raster import pose_frames
from poseanything_studio.core.rig import Rig
from poseanything_studio.core.skeleton import mask_centroid, skeleton_from_mask, track_joints
from poseanything_studio.videoio import VIDEO_SUFFIXES, VideoReadError, VideoTooLarge
from poseanything_studio.videoio import read_frames as read_video_frames

from .filters import ClipRejected, Filters, check_area, check_camera, check_scene_cuts, check_tracking
from .masks import DEFAULT_MASKING, Masking, clip_masks


def track_skeletons(masks: np.ndarray, filters: Filters) -> tuple[Rig, np.ndarray]:
    """The first frame's rig and its joint positions in every frame (F, J, 2); rejects on T_skel/T."""
    rigs: list[Rig | None] = []
    for mask in masks:
        try:
            rigs.append(skeleton_from_mask(mask))
        except ProjectError:
            rigs.append(None)
    found = sum(r is not None for r in rigs)
    if found / len(rigs) < filters.min_skeleton:
        raise ClipRejected(f"skeleton: extracted in {found} of {len(rigs)} frames (needs {filters.min_skeleton:.0%})")
    first = next(f for f, r in enumerate(rigs) if r is not None)
    template = rigs[first]
    centroids = np.array([mask_centroid(m) if m.any() else np.full(2, np.nan) for m in masks])
    found = [r.rest_xy() if r is not None and f > first else None for f, r in enumerate(rigs)]
    reach = 0.25 * float(np.sqrt(masks[first].sum() + 1))
    return template, track_joints(template.rest_xy(), found, centroids, first, reach)


def read_frames(path: Path, size: tuple[int, int], max_frames: int) -> np.ndarray:
    """The clip's first 4k+1 frames (at most `max_frames`), fitted to `size`; ClipRejected if unreadable or too large
    (what decoding would cost is checked from the video's header first, videoio.MAX_VIDEO_PIXELS)."""
    try:
        frames = read_video_frames(path, max_frames)
    except VideoTooLarge as err:
        raise ClipRejected(f"too large: {err}") from None
    except VideoReadError:
        frames = np.zeros((0, 1, 1, 3), np.uint8)
    if len(frames) < 5:
        raise ClipRejected(f"unreadable: {len(frames)} frames could be decoded (a clip needs at least 5)")
    keep = (len(frames) - 1) // 4 * 4 + 1
    return np.stack([fit_to_size(frame, size) for frame in frames[:keep]])


def build_clip(
    video: Path,
    out_dir: Path,
    size: tuple[int, int],
    filters: Filters,
    masks_dir: Path | None,
    max_frames: int,
    fps: float = 24,
    masking: Masking = DEFAULT_MASKING,
) -> dict:
    """Process one clip into `out_dir/clips/NAME`; returns its manifest entry (raises ClipRejected)."""
    frames = read_frames(video, size, max_frames)
    check_scene_cuts(frames, filters)
    masks, source = clip_masks(frames, masks_dir / video.stem if masks_dir else None, size, masking)
    check_camera(frames, masks, filters)
    check_area(masks, filters)
    check_tracking(masks, filters)
    rig, positions = track_skeletons(masks, filters)
    write_clip(out_dir / "clips" / video.stem, frames, masks, rig, positions, fps)
    rel = f"clips/{video.stem}"
    return {
        "clip": video.stem,
        "status": "accepted",
        "video": f"{rel}/video.mp4",
        "pose": f"{rel}/pose.mp4",
        "masks": f"{rel}/masks",
        "rig": f"{rel}/rig.json",
        "mask_source": source,
        "frames": len(frames),
        "joints": len(rig.joints),
        "bones": len(rig.bones),
    }


def write_clip(
    target: Path, frames: np.ndarray, masks: np.ndarray, rig: Rig, positions: np.ndarray, fps: float
) -> None:
    """A clip's folder (video.mp4, pose.mp4, masks/NNNNN.png, rig.json), filled in a temporary folder and moved
    in whole (core/fileio.atomic_dir): a failure part-way leaves no file of the clip behind."""
    from poseanything_studio.rendering.export import FrameWriter, OutputTarget

    size = (frames.shape[2], frames.shape[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(target) as tmp:
        for name, images in (("video.mp4", frames), ("pose.mp4", pose_frames(rig, positions, size))):
            with FrameWriter(OutputTarget("mp4", tmp / name), fps, size, len(images)) as writer:
                for image in images:
                    writer.write(image)
        (tmp / "masks").mkdir()
        for f, mask in enumerate(masks):
            (tmp / "masks" / f"{f:05d}.png").write_bytes(mask_png(mask))  # raises on a full disk
        rig_file = {**rig_to_dict(rig), "positions": np.round(positions, 1).tolist()}  # core's one rig writer
        (tmp / "rig.json").write_text(json.dumps(rig_file), encoding="utf-8")


def build(
    videos: Path,
    out_dir: Path,
    size: tuple[int, int],
    filters: Filters,
    masks_dir: Path | None = None,
    max_frames: int = 49,
    progress: bool = False,
    masking: Masking = DEFAULT_MASKING,
) -> list[dict]:
    """Build (or resume) a dataset; returns the manifest entries written by this run.

    Once a clip is done its line joins the manifest, which is rewritten whole (core/fileio's temporary and
    rename): a kill or a full disk leaves the previous manifest, never a line cut short. Ctrl+C loses at most
    the clip in progress (its half-written folder is removed) and a re-run resumes after the last line. A clip
    that fails for a reason no filter names (a decoder or OpenCV error) is logged as `error:` and skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "manifest.jsonl"
    text, done = _done_clips(manifest)
    if not manifest.is_file():
        atomic_write_text(manifest, text, replace=False)  # a dataset from here on, also if the first clip is cut
    todo = [
        v
        for v in sorted(videos.iterdir())  # regular files only: opening a FIFO would wait forever
        if v.suffix.lower() in VIDEO_SUFFIXES and v.stem not in done and v.is_file()
    ]
    written = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), unit="clip", dynamic_ncols=True)
    for video in todo:
        try:
            entry = build_clip(video, out_dir, size, filters, masks_dir, max_frames, masking=masking)
        except ClipRejected as reason:
            entry = {"clip": video.stem, "status": "rejected", "reason": str(reason)}
        except (cv2.error, OSError, ValueError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            entry = {"clip": video.stem, "status": "rejected", "reason": f"error: {first}"}
        text += json.dumps(entry) + "\n"
        atomic_write_text(manifest, text)
        written.append(entry)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return written


class BadManifest(ValueError):
    """A manifest.jsonl this command cannot resume from."""


def _done_clips(manifest: Path) -> tuple[str, set[str]]:
    """The manifest's text and the clips it already lists (to resume after them); BadManifest for a line that is
    not an entry. A last line cut short (by an earlier version, which appended in place) is dropped: redone."""
    if not manifest.is_file():
        return "", set()
    data = manifest.read_bytes()
    if data and not data.endswith(b"\n"):
        data = data[: data.rfind(b"\n") + 1]
        atomic_write_bytes(manifest, data)
    text = data.decode("utf-8", errors="replace")
    done = set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not isinstance(entry.get("clip"), str):
            raise BadManifest(f"{manifest}: line {number} is not a clip entry; move the file away to start over")
        done.add(entry["clip"])
    return text, done
