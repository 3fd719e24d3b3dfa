"""The official PoseAnything release's inputs: 81 pose frames, its resize, its part masks, from a project or a clip.

What the release's `test_ddp.py` hands its pipeline is, for one clip: the first frame resized (PIL bilinear)
to a long side of 832 with both sides floored to multiples of 32; 81 pose frames (its skeleton images,
resized the same way; a frame without one is black); `condition_index` (the frames that have a pose image);
`binary_masks` (release_parts.py); the metadata's prompt. `release_inputs(project)` builds the same from a
project of ours (its rig drawn in the release's style), and `load_release_clip(path)` from the release's own
`data/test` layout, so both reach the pipeline as one `ReleaseInputs`.
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .camera import apply_affine
from .errors import ProjectError
from .images import MAX_PIXELS, ImageReadError, fit_to_size, picture_info
from .parts import grabcut_mask
from .project import Project, reference_to_output
from .raster import bone_colour, pose_frames
from .release_parts import ReleaseParts, read_bgr, read_gray, release_part_masks, release_size, silhouette_id_image

RELEASE_FRAMES = 81  # the release always renders 81 frames (its pipeline's num_frames; condition_index < 81)
RELEASE_FPS = 24  # test_ddp.py saves every video at 24 fps
MASK_SOURCES = ("painted", "subject_mask", "alpha", "grabcut", "id image", "none")


@dataclass(frozen=True)
class ReleaseFramePlan:
    """Which project time feeds each of the release's 81 frames, and what to keep of the 81 rendered.

    `sources[i]` is the project frame (fractional when the clip is resampled) drawn as pose frame i, or None
    for a black frame (no pose: the model is free there). `output_frames` of the 81 make the video, played at
    `fps`. `message` says in one line what was done.
    """

    sources: tuple[float | None, ...]
    output_frames: int
    fps: float
    message: str


def frame_plan(frames: int, fps: float) -> ReleaseFramePlan:
    """The release's 81 frames for a clip of `frames` at `fps` (see `release_frame_plan`)."""
    if frames == RELEASE_FRAMES:
        return ReleaseFramePlan(
            tuple(float(t) for t in range(frames)),
            frames,
            fps,
            f"{frames} frames at {fps:g} fps, as the release renders",
        )
    if frames < RELEASE_FRAMES:
        sources = tuple(float(t) if t < frames else None for t in range(RELEASE_FRAMES))
        return ReleaseFramePlan(
            sources,
            frames,
            fps,
            f"the release renders {RELEASE_FRAMES} frames: the project's {frames} poses keep "
            f"their timing, frames {frames}-{RELEASE_FRAMES - 1} have no pose and are left out "
            f"of the video ({frames} frames at {fps:g} fps)",
        )
    step = (frames - 1) / (RELEASE_FRAMES - 1)
    sources = tuple(i * step for i in range(RELEASE_FRAMES))
    out_fps = fps / step
    return ReleaseFramePlan(
        sources,
        RELEASE_FRAMES,
        out_fps,
        f"the release renders {RELEASE_FRAMES} frames: the project's {frames} frames "
        f"({(frames - 1) / fps:.2f} s) are sampled every {step:.3g} frames and played at "
        f"{out_fps:.3g} fps, so the motion keeps its timing",
    )


def release_frame_plan(project: Project) -> ReleaseFramePlan:
    """How a project of any length maps to the release's fixed 81 frames.

    An animator keyed timing on purpose, so the timing in seconds is kept either way:
    - up to 81 frames: project frame t is pose frame t; the remaining frames are black, which is the release's
      own rule for a frame without a pose (a clip shorter than 81), and they are cut from the output, so the
      video has exactly the project's frames at its fps;
    - more than 81: the motion is sampled at 81 evenly spaced times over the whole clip (between keys the
      tracks interpolate as always) and the 81 frames are played at a lower fps, so the video lasts as long as
      the project and nothing is cut. Stretching a short clip over 81 frames (slow motion) or cutting a long
      one at frame 81 would each change what the artist made.
    """
    return frame_plan(project.frames, project.fps)


@dataclass(frozen=True)
class ReleaseInputs:
    """Everything the release's pipeline takes for one clip, at the release size; arrays are read-only.

    `picture` (H, W, 3) uint8 RGB is the first frame; `pose_frames` (81, H, W, 3) uint8; `condition_index` the
    frames with a pose, ascending, `parts.binary_masks[i]` the token masks of frame `condition_index[i]`;
    `subject_mask` (H, W) bool at the release size (what PTC cuts the first frame's parts with) and
    `mask_source` where it came from (one of MASK_SOURCES).
    """

    name: str
    size: tuple[int, int]  # (width, height)
    picture: np.ndarray
    pose_frames: np.ndarray
    condition_index: tuple[int, ...]
    parts: ReleaseParts
    subject_mask: np.ndarray
    mask_source: str
    plan: ReleaseFramePlan
    prompt: str = ""
    files: tuple[str, ...] = ()  # the files it was read from (a release clip's), never to be overwritten

    @property
    def binary_masks(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """The pipeline's `binary_masks`: per entry of `condition_index`, that frame's token masks."""
        return self.parts.binary_masks


# -- the release's resizes ------------------------------------------------------------------------------
def resize_picture_like_release(image) -> np.ndarray:
    """data_utils.crop_and_resize: PIL bilinear (anti-aliased) to `release_size`; (H, W, C) uint8 out.

    torchvision's resize of a PIL image is PIL's own `Image.resize(size, BILINEAR)`, called here directly.
    """
    from PIL import Image

    pil = _pil(image)
    return np.asarray(pil.resize(release_size(*pil.size), Image.Resampling.BILINEAR))


def condition_frames(images: Sequence, condition_index: Sequence[int]) -> np.ndarray:
    """data_utils.load_condition_image: the 81 pose frames, (81, H, W, 3) uint8 RGB.

    `images[i]` (PIL images or arrays) is the pose of frame `condition_index[i]`, converted to RGB and resized
    the release's way; other frames are black, at the first image's resized size. Index 81 and past are dropped
    (test_ddp.py does so before loading). ValueError when the pose images do not all resize to one size.
    """
    index = [int(i) for i in condition_index]
    rgb = [_pil(im).convert("RGB") for im in images]
    if not rgb:
        raise ValueError("no pose images")
    first = resize_picture_like_release(rgb[0])
    frames = np.zeros((RELEASE_FRAMES, *first.shape), np.uint8)
    for i in range(RELEASE_FRAMES):
        if i in index:
            frame = resize_picture_like_release(rgb[index.index(i)])
            if frame.shape != first.shape:
                raise ValueError(
                    f"the pose image of frame {i} resizes to {frame.shape[1]}x{frame.shape[0]}, "
                    f"the first to {first.shape[1]}x{first.shape[0]}"
                )
            frames[i] = frame
    return frames


def _pil(image):
    """`image` as a PIL image (arrays are wrapped)."""
    from PIL import Image

    return image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image))


# -- a project of ours ---------------------------------------------------------------------------------
def release_subject_mask(
    project: Project, rgba: np.ndarray, painted: np.ndarray | None = None
) -> tuple[np.ndarray, str]:
    """The subject mask PTC cuts with, at the picture's size, and where it came from.

    A mask `painted` in the window, else the project's `subject_mask` file, else the picture's alpha (when it
    has transparency), else GrabCut seeded by the rig: the same order as every render of ours.
    """
    h, w = rgba.shape[:2]
    given, source = (painted, "painted") if painted is not None else (project.read_subject_mask(), "subject_mask")
    if given is not None:
        if given.shape != (h, w):
            given = cv2.resize(given.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return given.astype(bool), source
    alpha = rgba[..., 3]
    if alpha.min() < 250 and (alpha > 127).any():
        return alpha > 127, "alpha"
    return grabcut_mask(rgba[..., :3], project.rig), "grabcut"


def project_positions(project: Project, times: Sequence[float]) -> np.ndarray:
    """Every joint at (possibly fractional) project `times`, reference-image pixels, (N, J, 2)."""
    at = np.asarray(times, np.float64)
    out = np.repeat(project.rig.rest_xy()[None], len(at), axis=0)
    for j, joint_id in enumerate(project.rig.joint_ids):
        track = project.tracks.get(joint_id)
        if track:
            out[:, j] = track.sample(at)
    return out


def release_inputs(
    project: Project,
    painted_mask: np.ndarray | None = None,
    *,
    frames: int | None = None,
    size: tuple[int, int] | None = None,
) -> ReleaseInputs:
    """The release's inputs for a project: its rig drawn in the release style on 81 frames, its part masks.

    `frames` and `size` (width, height) override the project's, as `render --frames/--size` do. The size is
    `release_size(size)` (832 on the long side, floored to 32s: a 832x480 project stays 832x480). The picture
    is framed as every render of ours frames it (scaled to cover, centre-cropped), now at that size, and the
    joints follow the same transform. The release cuts the first frame's parts with its white-background id
    image; ours is the subject mask drawn as one (`silhouette_id_image`). `painted_mask` (picture size) wins.
    """
    plan = frame_plan(project.frames if frames is None else frames, project.fps)
    size = release_size(*(project.size if size is None else size))
    rgba = project.read_image()
    mask, source = release_subject_mask(project, rgba, painted_mask)
    to_output = reference_to_output((rgba.shape[1], rgba.shape[0]), size)
    posed_at = [(i, t) for i, t in enumerate(plan.sources) if t is not None]  # frames with a pose, their times
    posed = [i for i, _ in posed_at]
    positions = apply_affine(to_output, project_positions(project, [t for _, t in posed_at]))
    poses = np.zeros((RELEASE_FRAMES, size[1], size[0], 3), np.uint8)
    poses[posed] = pose_frames(project.rig, positions, size, style="release")
    fitted_mask = fit_to_size(mask, size)
    parts = release_part_masks([poses[i, ..., 0] for i in posed], silhouette_id_image(fitted_mask))
    name = project.path.stem if project.path else "untitled"
    return _frozen(
        ReleaseInputs(
            name=name,
            size=size,
            picture=np.ascontiguousarray(fit_to_size(rgba, size)[..., :3]),
            pose_frames=poses,
            condition_index=tuple(posed),
            parts=parts,
            subject_mask=fitted_mask,
            mask_source=source,
            plan=plan,
            prompt=project.render.prompt,
        )
    )


def colour_release_parts(inputs: ReleaseInputs) -> np.ndarray:
    """The token masks of every posed frame, part j in one colour throughout, upscaled: (81, H, W, 3) uint8.

    What PTC sees, for the window's Parts view and `render --preview parts` (frames without a pose stay black).
    """
    w, h = inputs.size
    frames = np.zeros((len(inputs.pose_frames), h, w, 3), np.uint8)
    for index, masks in zip(inputs.condition_index, inputs.binary_masks, strict=True):
        for j, mask in enumerate(masks):
            frames[index][cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0] = bone_colour(
                f"part {j}"
            )
    return frames


def _frozen(inputs: ReleaseInputs) -> ReleaseInputs:
    for array in (inputs.picture, inputs.pose_frames, inputs.subject_mask):
        array.setflags(write=False)
    return inputs


# -- a clip of the release's data/test --------------------------------------------------------------------
def locate_release_clip(path: str | Path) -> tuple[Path, str]:
    """(data folder, clip name) from `DATA/NAME` or `DATA/skeleton_image/NAME` (the release's layout)."""
    path = Path(path).expanduser()
    name = path.name
    base = path.parent.parent if path.parent.name == "skeleton_image" else path.parent
    if not name or not (base / "metadata.csv").is_file():
        raise ProjectError(
            "no metadata.csv beside first_frame/, skeleton_image/ and video/ (give DATA/NAME, "
            "e.g. data/test/EZwrDYL6YIw_69)",
            source=str(base / "metadata.csv"),
        )
    return base, name


def clip_metadata(base: Path, name: str) -> tuple[list[int], str, list[str]]:
    """The clip's row of `metadata.csv`: (condition_index, prompt, condition_images), as VideoGenDataset reads it.

    `condition_images` (the release's loader ignores that column) is [] when absent or not a list of names.
    """
    source = str(base / "metadata.csv")
    try:
        with open(base / "metadata.csv", encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ProjectError(f"cannot read: {getattr(err, 'strerror', None) or err}", source=source) from None
    for row in rows:
        if Path(str(row.get("file_name") or "")).stem == name or str(row.get("file_name")) == name:
            try:
                index = ast.literal_eval(row.get("condition_index") or "")
            except (ValueError, SyntaxError):
                raise ProjectError(
                    f"row {name}: condition_index is not a list of frame numbers", source=source, key="condition_index"
                ) from None
            if not isinstance(index, list | tuple) or not all(isinstance(i, int) and i >= 0 for i in index):
                raise ProjectError(
                    f"row {name}: condition_index is not a list of frame numbers", source=source, key="condition_index"
                )
            return list(index), str(row.get("text") or ""), _names(row.get("condition_images"))
    raise ProjectError(f"no row for {name!r} (file_name column)", source=source)


def _names(text: str | None) -> list[str]:
    """A metadata cell listing file names, else []."""
    try:
        names = ast.literal_eval(text or "")
    except (ValueError, SyntaxError):
        return []
    ok = isinstance(names, list | tuple) and all(isinstance(n, str) for n in names)
    return [Path(n).name for n in names] if ok else []


def _pose_paths(folder: Path, index: list[int], listed: list[str]) -> tuple[list[Path], str]:
    """The pose image of each frame: `NNN.png` as the release's loader names them; else the row's own names.

    The release's TikTok clip names its images in `condition_images` (NAME_0001.png... for frames 0...) and has no
    NNN.png, which the release's own loader would miss; those names are then used, and the message says so.
    """
    numbered = [folder / f"{i:03d}.png" for i in index]
    if listed and not numbered[0].exists() and (folder / listed[0]).exists():
        return [folder / n for n in listed], f", pose images by the metadata's condition_images ({listed[0]}...)"
    return numbered, ""


def _open_picture(path: Path):
    """A PIL image of a clip file, size-checked from its header; ProjectError naming the file otherwise."""
    from PIL import Image

    try:
        (w, h), _ = picture_info(path) if path.is_file() else ((0, 0), 1)
    except ImageReadError as err:
        raise ProjectError(str(err).replace(repr(str(path)), "").strip() or "cannot decode", source=str(path)) from None
    if not path.is_file():
        raise ProjectError("no such file (the release's data layout needs it)", source=str(path))
    if w * h > MAX_PIXELS:
        raise ProjectError(f"is {w}x{h}; pictures of at most {MAX_PIXELS / 1e6:.0f} MP are read", source=str(path))
    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except Exception:  # Pillow raises many types for a corrupt file
        raise ProjectError("cannot decode as an image", source=str(path)) from None


def load_release_clip(path: str | Path) -> ReleaseInputs:
    """A clip of the release's `data/test` layout, read the way test_ddp.py reads it.

    `first_frame/NAME.png` is the picture, `skeleton_image/NAME/NNN.png` (NNN = each of the metadata row's
    `condition_index` below 81) the pose frames, `video/NAME_id.png` the subject (on white) and the row's
    `text` the prompt. Without an id image the release runs with alpha 1 and uncut parts, and so does this.
    ProjectError naming the file for anything missing or unreadable.
    """
    base, name = locate_release_clip(path)
    index, prompt, listed = clip_metadata(base, name)
    kept = [k for k, i in enumerate(index) if i < RELEASE_FRAMES]
    # the k-th listed name goes with the k-th index (the TikTok row lists 81 names for its 82 frame numbers)
    index, listed = [index[k] for k in kept], [listed[k] for k in kept] if len(listed) > max(kept, default=0) else []
    if not index:
        raise ProjectError(
            f"row {name}: no frame of condition_index is below {RELEASE_FRAMES}",
            source=str(base / "metadata.csv"),
            key="condition_index",
        )
    picture_path = base / "first_frame" / f"{name}.png"
    picture = _open_picture(picture_path)
    pose_paths, naming = _pose_paths(base / "skeleton_image" / name, index, listed)
    poses = [_open_picture(p) for p in pose_paths]
    try:
        frames = condition_frames(poses, index)
    except ValueError as err:
        raise ProjectError(str(err), source=str(pose_paths[0].parent)) from None
    size = (frames.shape[2], frames.shape[1])
    if min(size) < 32:
        raise ProjectError(
            f"resizes to {size[0]}x{size[1]}: too narrow for the release (32 px at least)", source=str(pose_paths[0])
        )
    greys = [_grey(p) for p in pose_paths]
    id_path = base / "video" / f"{name}_id.png"
    id_bgr = _id_image(id_path)
    parts = release_part_masks(greys, id_bgr)
    subject, source = _clip_subject(id_bgr, size)
    subject_file = id_path.name if id_bgr is not None else "nothing (no video/NAME_id.png: alpha 1, parts uncut)"
    plan = ReleaseFramePlan(
        tuple(float(i) if i in index else None for i in range(RELEASE_FRAMES)),
        RELEASE_FRAMES,
        RELEASE_FPS,
        f"release clip {name}: {RELEASE_FRAMES} frames at {RELEASE_FPS} fps, poses on "
        f"{len(index)} of them, subject from {subject_file}{naming}",
    )
    return _frozen(
        ReleaseInputs(
            name=name,
            size=size,
            picture=_clip_picture(picture, size),
            pose_frames=frames,
            condition_index=tuple(index),
            parts=parts,
            subject_mask=subject,
            mask_source=source,
            plan=plan,
            prompt=prompt,
            files=tuple(str(p) for p in (base / "metadata.csv", picture_path, id_path, *pose_paths)),
        )
    )


def _grey(path: Path) -> np.ndarray:
    grey = read_gray(path)
    if grey is None:
        raise ProjectError("OpenCV cannot read it as a grey image", source=str(path))
    return grey


def _id_image(path: Path) -> np.ndarray | None:
    """The clip's id image as the release reads it, None when absent (the release then goes on without)."""
    if not path.exists():
        return None
    _open_picture(path)  # size and decode checks, one clear line
    image = read_bgr(path)
    if image is None:
        raise ProjectError("OpenCV cannot read it as a picture", source=str(path))
    return image


def _clip_subject(id_bgr: np.ndarray | None, size: tuple[int, int]) -> tuple[np.ndarray, str]:
    """The subject at the release size as segment_skeleton sees it (resized id image, grey <= 245)."""
    from .release_parts import resize_like_release, subject_mask_from_id

    if id_bgr is None:
        return np.ones((size[1], size[0]), bool), "none"
    mask = subject_mask_from_id(resize_like_release(id_bgr))
    if mask.shape != (size[1], size[0]):
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
    return mask > 0, "id image"


def _clip_picture(picture, size: tuple[int, int]) -> np.ndarray:
    """test_ddp's first frame: crop_and_resize of the file (RGB), then the pipeline's resize to the pose size."""
    from PIL import Image

    resized = Image.fromarray(resize_picture_like_release(picture.convert("RGB")))
    if resized.size != size:
        resized = resized.resize(size)  # the pipeline's input_image.resize((width, height)): PIL's default
    return np.ascontiguousarray(np.asarray(resized))
