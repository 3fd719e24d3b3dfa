"""A folder of skeleton images becomes a rig and its motion.

Two drawings are read: our own pose frames (`render --preview pose`: each bone a coloured line, each joint
a white dot), whose dots are the joints and whose coloured lines between dots are the bones; and the official
PoseAnything release's `skeleton_image/NAME/NNN.png` (white lines on black, no dots), whose joints are found
as the dataset builder finds them (the medial axis of the lines, split at ends, junctions and bends). Joint
identity across frames is the dataset builder's too (each joint predicted from its motion, then matched to
that frame's joints by optimal assignment). Frames with nothing drawn keep the last pose.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .camera import apply_affine
from .errors import ProjectError
from .images import ImageReadError, read_rgba
from .keying import DEFAULT_TOLERANCE, apply_motion
from .project import Project, reference_to_output
from .rig import Bone, Joint, Rig
from .skeleton import mask_centroid, skeleton_from_mask, track_joints

MAX_POSE_IMAGES = 10_000
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
DOT_LEVEL = 235  # a joint dot is white: every channel at least this
LINE_LEVEL = 40  # a drawn pixel: some channel above this


@dataclass(frozen=True)
class PoseSequence:
    """A rig found in the first drawn frame and its joints in every frame ([T, J, 2] image pixels)."""

    rig: Rig
    positions: np.ndarray
    size: tuple[int, int]  # (width, height) of the images
    style: str  # "dots" (our pose frames) or "lines" (the release's)


def read_pose_images(folder: str | Path) -> list[np.ndarray]:
    """The folder's pictures in name order as RGB uint8 arrays; one ProjectError naming a bad file."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProjectError("not a folder of pose images", source=str(folder))
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICTURE_SUFFIXES)
    if not files:
        raise ProjectError("no pictures (.png, .jpg) in the folder", source=str(folder))
    if len(files) > MAX_POSE_IMAGES:
        raise ProjectError(f"{len(files)} pictures; at most {MAX_POSE_IMAGES}", source=str(folder))
    images = []
    for path in files:
        try:
            images.append(read_rgba(path)[..., :3])
        except ImageReadError as err:
            raise ProjectError(str(err), source=str(path)) from None
        if images[-1].shape != images[0].shape:
            raise ProjectError(
                f"{images[-1].shape[1]}x{images[-1].shape[0]}, unlike the first picture's "
                f"{images[0].shape[1]}x{images[0].shape[0]}",
                source=str(path),
            )
    return images


def pose_sequence(images: list[np.ndarray], source: str = "<pose images>") -> PoseSequence:
    """The rig drawn in `images` and its motion (see the module's docstring)."""
    dotted = any(_coloured(image) and _dots(image).size for image in images[:3])
    found = [(_dotted_rig(image) if dotted else _line_rig(image)) for image in images]
    first, template = next(((f, rig) for f, rig in enumerate(found) if rig is not None and rig.joints), (None, None))
    if first is None or template is None:
        raise ProjectError("no skeleton is drawn in any picture", source=source)
    masks = [image.max(axis=2) > LINE_LEVEL for image in images]
    centroids = np.array([mask_centroid(m) if m.any() else np.full(2, np.nan) for m in masks])
    joints = [r.rest_xy() if r is not None and r.joints and f > first else None for f, r in enumerate(found)]
    extent = np.ptp(template.rest_xy(), axis=0).max() if len(template.joints) > 1 else 20.0
    positions = track_joints(template.rest_xy(), joints, centroids, first, 0.2 * float(extent))
    h, w = images[0].shape[:2]
    return PoseSequence(template, positions, (w, h), "dots" if dotted else "lines")


def _coloured(image: np.ndarray) -> bool:
    """Whether the drawn lines are in colours (our pose frames) rather than white (the release's)."""
    drawn = image[image.max(axis=2) > LINE_LEVEL].astype(int)
    return bool(len(drawn)) and float(np.mean(drawn.max(axis=1) - drawn.min(axis=1) > 60)) > 0.2


def _dots(image: np.ndarray) -> np.ndarray:
    """[K, 2] centres of white dots (joints in our pose frames)."""
    white = (image.min(axis=2) >= DOT_LEVEL).astype(np.uint8)
    count, _, stats, centres = cv2.connectedComponentsWithStats(white, connectivity=8)
    keep = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= 3]
    return centres[keep] if keep else np.zeros((0, 2))


def _dotted_rig(image: np.ndarray) -> Rig | None:
    """Joints at the white dots; a bone between two dots the drawing joins with one colour."""
    dots = _dots(image)
    if not len(dots):
        return None
    joints = tuple(Joint(f"j{k + 1}", (round(float(x), 1), round(float(y), 1))) for k, (x, y) in enumerate(dots))
    drawn = image.max(axis=2) > LINE_LEVEL
    bones: list[Bone] = []
    for a in range(len(dots)):
        for b in range(a + 1, len(dots)):
            if _joined(image, drawn, dots[a], dots[b], dots):
                bones.append(Bone(f"b{len(bones) + 1}", f"j{a + 1}", f"j{b + 1}"))
    return Rig(joints, tuple(bones))


def _joined(image: np.ndarray, drawn: np.ndarray, a: np.ndarray, b: np.ndarray, dots: np.ndarray) -> bool:
    """Whether a line of one colour runs from dot a to dot b, passing no other dot."""
    length = float(np.linalg.norm(b - a))
    if length < 4:
        return False
    u = np.linspace(0.15, 0.85, max(5, int(length / 3)))
    points = a + (b - a) * u[:, None]
    others = np.delete(
        dots, [np.argmin(np.linalg.norm(dots - a, axis=1)), np.argmin(np.linalg.norm(dots - b, axis=1))], axis=0
    )
    if len(others):
        d = others - a
        gap = np.abs((b - a)[0] * d[:, 1] - (b - a)[1] * d[:, 0]) / length
        along = ((others - a) @ (b - a)) / length**2
        if np.any((gap < 3) & (along > 0.05) & (along < 0.95)):
            return False
    xs = np.clip(points[:, 0].round().astype(int), 0, image.shape[1] - 1)
    ys = np.clip(points[:, 1].round().astype(int), 0, image.shape[0] - 1)
    if not drawn[ys, xs].all():
        return False
    colours = image[ys, xs].astype(int)
    return bool(np.abs(colours - np.median(colours, axis=0)).max() <= 60)


def _line_rig(image: np.ndarray) -> Rig | None:
    """The release's white-line drawing: the medial axis of the (slightly thickened) lines as a rig."""
    drawn = image.max(axis=2) > LINE_LEVEL
    if drawn.sum() < 10:
        return None
    thick = cv2.dilate(drawn.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    try:
        return skeleton_from_mask(thick)
    except ProjectError:
        return None


def import_pose_images(
    project: Project, folder: str | Path, start: int = 0, tolerance: float = DEFAULT_TOLERANCE
) -> tuple[Project, PoseSequence]:
    """(project with the drawn rig as its rig and the drawn motion keyed from `start`, PoseSequence).

    The pose images are frames of the output: their pixels map to the picture's through the same cover and
    centre-crop as the render's (a picture of another shape is cropped as it renders). The project's old rig
    and its keys are replaced: the drawing is a rig of its own.
    """
    sequence = pose_sequence(read_pose_images(folder), str(folder))
    h, w = project.read_image().shape[:2]
    to_output = reference_to_output((w, h), sequence.size)
    to_picture = cv2.invertAffineTransform(to_output)
    rig = sequence.rig.transformed(to_picture)
    positions = apply_affine(to_picture, sequence.positions)
    count = min(len(positions), project.frames - start)
    if count <= 0:
        raise ProjectError(f"start frame {start} is outside the project's 0-{project.frames - 1}", key="start")
    fresh = replace(project, rig=rig, tracks={})
    motion = {j.id: positions[:count, k] for k, j in enumerate(rig.joints)}
    return apply_motion(fresh, motion, start, tolerance), sequence
