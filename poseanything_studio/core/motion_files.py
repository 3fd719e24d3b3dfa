"""Any motion file onto a project, chosen by what the path is: the one dispatch the CLI and the window share."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .errors import ProjectError
from .keying import DEFAULT_TOLERANCE
from .mocap import import_bvh
from .openpose import import_keypoints
from .pose_images import import_pose_images
from .project import Project


def import_motion(
    project: Project,
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    plane: str = "front",
    start: int = 0,
    fps: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[Project, str]:
    """(project with the motion of `path` keyed, a one-line summary): a .bvh file (with `mapping`, rig joint ->
    clip joint, else the saved or guessed one), a keypoint .json, a folder of OpenPose .json files, or a folder
    of pose images (the drawing becomes the rig)."""
    path = Path(path)
    if path.suffix.lower() == ".bvh":
        result, report = import_bvh(project, path, mapping, plane, start, tolerance)
        return result, report.summary(str(path))
    if path.is_dir() and not any(path.glob("*.json")):
        result, sequence = import_pose_images(project, path, start, tolerance)
        return result, (
            f"{path.name}: a rig of {len(sequence.rig.joints)} joints and {len(sequence.rig.bones)} "
            f"bones drawn as {sequence.style}, {len(sequence.positions)} frames"
        )
    if path.is_dir() or path.suffix.lower() == ".json":
        result, report = import_keypoints(project, path, start, fps, tolerance)
        return result, report.summary(str(path))
    raise ProjectError(
        "not a motion file: use .bvh, a keypoint .json, or a folder of OpenPose .json files or of pose images",
        source=str(path),
    )
