"""`poseanything-studio dataset build VIDEOS_DIR -o DATASET`: an XPose-style pose/video dataset (arXiv:2512.13465).

For each clip: the cheap model-free part of the paper's clip filter (scene cuts by colour-histogram
distance between neighbouring frames; camera motion by the global flow of the background), subject masks
(given per frame, or by background subtraction for steady-camera clips), the paper's mask filters, a
skeleton per frame (`core.skeleton`), pose frames drawn by the core's raster, and one line in
`DATASET/manifest.jsonl`, accepted or rejected with its reason. Re-running skips clips already in the
manifest, so an interrupted build resumes; a broken video is logged and skipped.

    DATASET/manifest.jsonl                      {"clip", "status": "accepted"|"rejected", "reason", ...}
    DATASET/clips/NAME/video.mp4                the clip, fitted to --size, 4k+1 frames
    DATASET/clips/NAME/pose.mp4                 its pose frames (bones in stable colours on black)
    DATASET/clips/NAME/masks/00000.png ...      subject masks
    DATASET/clips/NAME/rig.json                 the first frame's rig (joint ids match the pose frames)

Joint identity across frames: the first frame's skeleton is the template. Each later frame predicts
every template joint (its own last motion, or the subject's overall motion, the shift of the mask's
centroid, for a joint not seen last frame), then matches predictions to that frame's skeleton joints by
optimal assignment (scipy's `linear_sum_assignment`, least total distance) with a distance gate of a
quarter of the subject's size; a joint with no match within the gate keeps its prediction. Two joints
that cross keep their identities; bones that appear later are not added, and a joint whose skeleton
point vanished drifts with its prediction.

What remains of the paper's Qwen2.5-VL filter: "a single non-human subject" needs a vision-language
model and is not checked here (masks from background subtraction keep the largest moving blob);
scene cuts and camera motion are checked without a model, as above.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np

from .core.errors import ProjectError
from .core.fileio import atomic_dir
from .core.images import fit_to_size, mask_png, read_mask
from .core.parts import grabcut
from .core.project import parse_size
from .core.raster import pose_frames
from .core.rig import Rig
from .core.skeleton import mask_centroid, skeleton_from_mask, track_joints
from .videoio import VIDEO_SUFFIXES, VideoReadError
from .videoio import read_frames as read_video_frames


@dataclass(frozen=True)
class Filters:
    """The paper's filters; every threshold is a command-line option."""

    min_area: float = 0.02  # subject area / frame area, median over the clip
    max_area: float = 0.8
    min_iou: float = 0.5  # mask IoU with the previous frame, every frame
    min_skeleton: float = 0.8  # T_skel / T: frames whose skeleton could be extracted
    max_cut: float = 0.3  # Bhattacharyya distance of neighbouring frames' HSV histograms above this = a scene cut
    max_camera: float = 0.005  # background motion, fraction of the frame width per frame (mean over the clip)


@dataclass(frozen=True)
class Masking:
    """Where subject masks come from when a clip has no given masks."""

    background: str = "median"  # "median" (distance from the median frame) or "mog2" (OpenCV's subtractor)
    grabcut: bool = False  # refine each frame's mask with GrabCut (slower, tighter edges)


class ClipRejected(Exception):
    """A clip that fails a filter; the message is the reason written to the manifest."""


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


# -- filters ------------------------------------------------------------------------------------------
def check_scene_cuts(frames: np.ndarray, filters: Filters) -> None:
    """Reject a clip with a scene cut: neighbouring frames whose colour histograms differ by more than max_cut."""
    distances = histogram_distances(frames)
    if len(distances) and distances.max() > filters.max_cut:
        f = int(distances.argmax())
        raise ClipRejected(f"scene cut: histogram distance {distances[f]:.2f} between frames {f} and {f + 1} "
                           f"(allowed {filters.max_cut:.2f})")


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
    grey = [cv2.resize(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA)
            for f in frames]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))
    away = [cv2.dilate(cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST), kernel) == 0
            for m in masks]
    ys, xs = np.mgrid[2:size[1] - 2:3, 2:size[0] - 2:3]  # a grid of sample points
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
        raise ClipRejected(f"camera: the background moves {speed:.2%} of the frame width a frame "
                           f"(allowed {filters.max_camera:.2%})")


def check_area(masks: np.ndarray, filters: Filters) -> None:
    ratio = float(np.median(masks.mean(axis=(1, 2))))
    if not filters.min_area <= ratio <= filters.max_area:
        raise ClipRejected(f"area: subject covers {ratio:.1%} of the frame (allowed "
                           f"{filters.min_area:.0%}-{filters.max_area:.0%})")


def check_tracking(masks: np.ndarray, filters: Filters) -> None:
    for f in range(1, len(masks)):
        union = (masks[f] | masks[f - 1]).sum()
        iou = (masks[f] & masks[f - 1]).sum() / union if union else 0.0
        if iou < filters.min_iou:
            raise ClipRejected(f"tracking: mask IoU {iou:.2f} between frames {f - 1} and {f} "
                               f"(needs {filters.min_iou:.2f})")


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


# -- one clip -----------------------------------------------------------------------------------------
def read_frames(path: Path, size: tuple[int, int], max_frames: int) -> np.ndarray:
    """The clip's first 4k+1 frames (at most `max_frames`), fitted to `size`; ClipRejected if unreadable."""
    try:
        frames = read_video_frames(path, max_frames)
    except VideoReadError:
        frames = np.zeros((0, 1, 1, 3), np.uint8)
    if len(frames) < 5:
        raise ClipRejected(f"unreadable: {len(frames)} frames could be decoded (a clip needs at least 5)")
    keep = (len(frames) - 1) // 4 * 4 + 1
    return np.stack([fit_to_size(frame, size) for frame in frames[:keep]])


def clip_masks(frames: np.ndarray, given: Path | None, size: tuple[int, int],
               masking: Masking) -> tuple[np.ndarray, str]:
    """The clip's subject masks (F, H, W) bool and where they came from."""
    if given is not None and given.is_dir():
        return given_masks(given, len(frames), size), "given"
    masks = subtractor_masks(frames) if masking.background == "mog2" else background_masks(frames)
    if masking.grabcut:
        return refine_grabcut(frames, masks), f"{masking.background}+grabcut"
    return masks, masking.background


def build_clip(video: Path, out_dir: Path, size: tuple[int, int], filters: Filters, masks_dir: Path | None,
               max_frames: int, fps: float = 24, masking: Masking = Masking()) -> dict:
    """Process one clip into `out_dir/clips/NAME`; returns its manifest entry (raises ClipRejected)."""
    from .rendering.export import FrameWriter, OutputTarget

    frames = read_frames(video, size, max_frames)
    check_scene_cuts(frames, filters)
    masks, source = clip_masks(frames, masks_dir / video.stem if masks_dir else None, size, masking)
    check_camera(frames, masks, filters)
    check_area(masks, filters)
    check_tracking(masks, filters)
    rig, positions = track_skeletons(masks, filters)
    target = out_dir / "clips" / video.stem
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(target) as tmp:
        for name, images in (("video.mp4", frames), ("pose.mp4", pose_frames(rig, positions, size))):
            with FrameWriter(OutputTarget("mp4", tmp / name), fps, size, len(images)) as writer:
                for image in images:
                    writer.write(image)
        (tmp / "masks").mkdir()
        for f, mask in enumerate(masks):
            (tmp / "masks" / f"{f:05d}.png").write_bytes(mask_png(mask))  # raises on a full disk
        (tmp / "rig.json").write_text(json.dumps({
            "joints": [{"id": j.id, "xy": list(j.xy)} for j in rig.joints],
            "bones": [{"id": b.id, "a": b.a, "b": b.b} for b in rig.bones],
            "positions": np.round(positions, 1).tolist()}))
    rel = f"clips/{video.stem}"
    return {"clip": video.stem, "status": "accepted", "video": f"{rel}/video.mp4", "pose": f"{rel}/pose.mp4",
            "masks": f"{rel}/masks", "rig": f"{rel}/rig.json", "mask_source": source, "frames": len(frames),
            "joints": len(rig.joints), "bones": len(rig.bones)}


# -- the command --------------------------------------------------------------------------------------
def build(videos: Path, out_dir: Path, size: tuple[int, int], filters: Filters, masks_dir: Path | None = None,
          max_frames: int = 49, progress: bool = False, masking: Masking = Masking()) -> list[dict]:
    """Build (or resume) a dataset; returns the manifest entries written by this run.

    Each clip's line is appended (and flushed) once the clip is done, so Ctrl+C loses at most the clip in
    progress (its half-written folder is removed) and a re-run resumes after the last line. A clip that
    fails for a reason no filter names (a decoder or OpenCV error) is logged as `error:` and skipped."""
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / "manifest.jsonl"
    done = _done_clips(manifest)
    todo = [v for v in sorted(videos.iterdir())  # regular files only: opening a FIFO would wait forever
            if v.suffix.lower() in VIDEO_SUFFIXES and v.stem not in done and v.is_file()]
    written = []
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), unit="clip", dynamic_ncols=True)
    with manifest.open("a", encoding="utf-8") as log:
        for video in todo:
            try:
                entry = build_clip(video, out_dir, size, filters, masks_dir, max_frames, masking=masking)
            except ClipRejected as reason:
                entry = {"clip": video.stem, "status": "rejected", "reason": str(reason)}
            except (cv2.error, OSError, ValueError, RuntimeError) as err:
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                entry = {"clip": video.stem, "status": "rejected", "reason": f"error: {first}"}
            log.write(json.dumps(entry) + "\n")
            log.flush()
            written.append(entry)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return written


class BadManifest(ValueError):
    """A manifest.jsonl this command cannot resume from."""


def _done_clips(manifest: Path) -> set[str]:
    """Clips the manifest already lists (to resume after them); BadManifest for a line that is not an entry."""
    if not manifest.is_file():
        return set()
    text = manifest.read_bytes()
    if text and not text.endswith(b"\n"):  # a line cut short by a kill or a full disk: drop it, redo that clip
        text = text[: text.rfind(b"\n") + 1]
        with manifest.open("r+b") as f:
            f.truncate(len(text))
    done = set()
    for number, line in enumerate(text.decode("utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not isinstance(entry.get("clip"), str):
            raise BadManifest(f"{manifest}: line {number} is not a clip entry; move the file away to start over")
        done.add(entry["clip"])
    return done


def check_output_folder(output: Path, inputs: tuple[Path | None, ...]) -> str | None:
    """Why `output` cannot be the dataset folder (None when it can): a file, unwritable, or one of the inputs."""
    if "\0" in str(output):
        return f"-o: {str(output)!r} holds a NUL byte"
    if output.exists() and not output.is_dir():
        return f"-o: {output} exists and is not a folder"
    for item in inputs:
        if item is not None and output.resolve() == item.resolve():
            return f"-o: {output} is also an input folder; write the dataset elsewhere"
    probe = output if output.is_dir() else next((p for p in output.resolve().parents if p.exists()), None)
    if probe is None or not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        return f"-o: {output}: folder {probe} is not writable"
    return None


def main(argv: list[str]) -> int:
    """`poseanything-studio dataset build VIDEOS_DIR -o DATASET [--masks MASKS_DIR] [thresholds]`."""
    from .cliargs import OneLineParser

    parser = OneLineParser(prog="poseanything-studio dataset", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build or resume a dataset from a folder of clips")
    p.add_argument("videos", type=Path, help="folder of clips (.mp4 .mov .avi .mkv .webm)")
    p.add_argument("-o", "--output", type=Path, required=True, help="dataset folder (created; resumed if present)")
    p.add_argument("--masks", type=Path, help="folder with one sub-folder of per-frame mask PNGs per clip name")
    p.add_argument("--size", default="832x480", help="WxH the clips are fitted to (multiples of 32)")
    p.add_argument("--max-frames", type=int, default=49, help="frames kept per clip (4k+1)")
    p.add_argument("--background", choices=("median", "mog2"), default="median",
                   help="masks for clips without given masks: distance from the median frame, or OpenCV MOG2")
    p.add_argument("--grabcut", action="store_true", help="refine background-subtraction masks with GrabCut")
    defaults = Filters()
    for name, help_text in (("min_area", "smallest subject area ratio"), ("max_area", "largest subject area ratio"),
                            ("min_iou", "smallest mask IoU between neighbouring frames"),
                            ("min_skeleton", "smallest share of frames with a skeleton (T_skel/T)"),
                            ("max_cut", "largest histogram distance between neighbouring frames (scene cuts)"),
                            ("max_camera", "largest background motion, fraction of the width per frame")):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name), help=help_text)
    args = parser.parse_args(argv)
    try:
        size = parse_size([int(v) for v in args.size.lower().split("x")], key="--size")
    except (ValueError, ProjectError) as err:
        print(f"error: --size: {err}", file=sys.stderr)
        return 2
    if not args.videos.is_dir():
        print(f"error: {args.videos}: not a folder of clips", file=sys.stderr)
        return 2
    if args.masks is not None and not args.masks.is_dir():
        print(f"error: --masks: {args.masks}: not a folder", file=sys.stderr)
        return 2
    if args.max_frames < 5 or (args.max_frames - 1) % 4:
        print(f"error: --max-frames: must be 4k+1 and at least 5, got {args.max_frames}", file=sys.stderr)
        return 2
    problem = check_output_folder(args.output, (args.videos, args.masks))
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    filters = Filters(args.min_area, args.max_area, args.min_iou, args.min_skeleton, args.max_cut, args.max_camera)
    try:
        entries = build(args.videos, args.output, size, filters, args.masks, args.max_frames,
                        progress=sys.stderr.isatty(), masking=Masking(args.background, args.grabcut))
    except KeyboardInterrupt:
        print("dataset: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except BadManifest as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a full disk, a folder removed meanwhile: finished clips stay, the one in progress is gone
        print(f"error: {err.filename or args.output}: {err.strerror or err}; run the command again to resume",
              file=sys.stderr)
        return 2
    accepted = sum(e["status"] == "accepted" for e in entries)
    print(f"{accepted} accepted, {len(entries) - accepted} rejected; manifest: {args.output / 'manifest.jsonl'}"
          f" ({json.dumps(asdict(filters))})")
    return 0
