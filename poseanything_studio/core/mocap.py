"""Motion capture onto any rig: a BVH clip read (pybvh), projected onto a plane, retargeted by bone direction.

The clip's joints are matched to the rig's by name (built-in tables for CMU, Mixamo and Rokoko skeletons and
the human template's own names, or a mapping the user edits). Each frame, every rig bone whose two joints are
matched takes the direction of the matched clip bone in the projection plane and keeps its own rest length,
so a clip recorded on any body drives a rig of any proportions without stretching it. The root travels as the
clip's root does, scaled by the ratio of the rig's leg length to the clip's. Joints the clip lacks keep their
offset from their parent (a tail on a human clip follows the hips).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .errors import ProjectError
from .keying import DEFAULT_TOLERANCE, apply_motion
from .kinematics import hierarchy
from .project import Project
from .rig import Rig

PLANES = ("front", "side", "auto")
MAX_CLIP_FRAMES = 100_000  # frames of one clip (an hour at 30 fps): bounds what a file can cost
MAX_CLIP_JOINTS = 1_000


@dataclass(frozen=True)
class MotionClip:
    """3D joint positions over time, as read from a mocap file (y up once read)."""

    names: tuple[str, ...]
    parents: tuple[int, ...]  # index of each joint's parent, -1 for the root
    positions: np.ndarray  # [T, J, 3], world units of the file, +y up
    fps: float
    source: str

    @property
    def frames(self) -> int:
        return int(self.positions.shape[0])


# --- reading ---------------------------------------------------------------------------------------------------


def read_bvh(path: str | Path) -> MotionClip:
    """A BVH file as a MotionClip; a malformed file is one ProjectError naming the file (and line, where known).

    pybvh (maintained, numpy-based, reads every channel order and end sites) does the parsing and forward
    kinematics; the size is checked from the MOTION header before the frames are parsed.
    """
    path = Path(path)
    source = str(path)
    _check_bvh_header(path)
    try:
        from pybvh import read_bvh_file

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pybvh warns when rest pose and first frame disagree on "up"
            bvh = read_bvh_file(path)
            positions = np.asarray(bvh.joint_positions(), dtype=np.float64)
            up = bvh.world_up
    except (OSError, UnicodeDecodeError) as err:
        raise ProjectError(f"cannot read: {err}", source=source) from None
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as err:
        raise ProjectError(f"not a valid BVH file: {_first_line(err)}", source=source) from None
    if positions.ndim != 3 or positions.shape[0] == 0 or positions.shape[1] == 0:
        raise ProjectError("MOTION: the file has no frames", key="MOTION", source=source)
    if not np.isfinite(positions).all():
        raise ProjectError("MOTION: a frame holds a value that is not a finite number", key="MOTION", source=source)
    names = tuple(bvh.joint_names)
    index = {name: i for i, name in enumerate(names)}
    parents = tuple(index.get(_parent_name(bvh, name), -1) for name in names)
    fps = float(bvh.fps)
    if not (math.isfinite(fps) and 0 < fps <= 1000):
        raise ProjectError(
            f"Frame Time gives {fps:g} fps (use a frame time of 1/1000 s or more)", key="Frame Time", source=source
        )
    return MotionClip(names, parents, _to_y_up(positions, up), fps, source)


def _check_bvh_header(path: Path) -> None:
    """ProjectError unless the file starts with HIERARCHY and its MOTION header states a frame count in bounds."""
    source = str(path)
    try:
        with path.open("r", encoding="utf-8", errors="strict") as f:
            head = f.readline()
            if head.strip().upper() != "HIERARCHY":
                raise ProjectError("not a BVH file: the first line is not HIERARCHY", key="HIERARCHY", source=source)
            joints = 0
            for number, line in enumerate(f, start=2):
                word = line.split(maxsplit=1)[0].upper() if line.strip() else ""
                if word in ("ROOT", "JOINT"):
                    joints += 1
                    if joints > MAX_CLIP_JOINTS:
                        raise ProjectError(f"more than {MAX_CLIP_JOINTS} joints", key="HIERARCHY", source=source)
                elif word == "MOTION":
                    frames_line = f.readline()
                    match = re.match(r"\s*Frames:\s*(\d+)\s*$", frames_line, re.IGNORECASE)
                    if not match:
                        raise ProjectError(
                            f"line {number + 1}: expected 'Frames: N' after MOTION", key="Frames", source=source
                        )
                    frames = int(match.group(1))
                    if not 1 <= frames <= MAX_CLIP_FRAMES:
                        raise ProjectError(
                            f"{frames} frames; a clip has 1 to {MAX_CLIP_FRAMES}", key="Frames", source=source
                        )
                    return
    except UnicodeDecodeError:
        raise ProjectError("not a BVH file: it is not text (UTF-8)", source=source) from None
    except OSError as err:
        raise ProjectError(f"cannot read: {err.strerror or err}", source=source) from None
    raise ProjectError("no MOTION section", key="MOTION", source=source)


def _parent_name(bvh, name: str) -> str | None:
    node = next((n for n in bvh.nodes if n.name == name), None)
    parent = getattr(node, "parent", None)
    return getattr(parent, "name", None)


def _to_y_up(positions: np.ndarray, up: str) -> np.ndarray:
    """Rotate the file's axes so that its up axis is +y (right-handed, a proper rotation)."""
    sign = -1.0 if up.startswith("-") else 1.0
    axis = "xyz".index(up[-1])
    if axis == 1:
        return positions * np.array([1.0, sign, sign])  # -y up: a half turn about x
    if axis == 2:  # z up: x stays, y <- z, z <- -y
        turned = positions[..., [0, 2, 1]] * np.array([1.0, 1.0, -1.0])
        return turned * np.array([1.0, sign, sign])
    turned = positions[..., [1, 0, 2]] * np.array([-1.0, 1.0, 1.0])  # x up: y <- x, x <- -y
    return turned * np.array([sign, sign, 1.0])


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# --- joint names --------------------------------------------------------------------------------------------------

# Rig joint (the human template's names) -> the name each common skeleton gives that joint, most specific first.
NAME_TABLES: dict[str, dict[str, tuple[str, ...]]] = {
    "human": {
        j: (j,)
        for j in (
            "head",
            "neck",
            "chest",
            "pelvis",
            "shoulder_l",
            "elbow_l",
            "hand_l",
            "shoulder_r",
            "elbow_r",
            "hand_r",
            "hip_l",
            "knee_l",
            "foot_l",
            "hip_r",
            "knee_r",
            "foot_r",
        )
    },
    "cmu": {
        "head": ("Head",),
        "neck": ("Neck1", "Neck"),
        "chest": ("Spine1", "Spine"),
        "pelvis": ("Hips",),
        "shoulder_l": ("LeftArm",),
        "elbow_l": ("LeftForeArm",),
        "hand_l": ("LeftHand",),
        "shoulder_r": ("RightArm",),
        "elbow_r": ("RightForeArm",),
        "hand_r": ("RightHand",),
        "hip_l": ("LeftUpLeg",),
        "knee_l": ("LeftLeg",),
        "foot_l": ("LeftFoot",),
        "hip_r": ("RightUpLeg",),
        "knee_r": ("RightLeg",),
        "foot_r": ("RightFoot",),
    },
    "mixamo": {
        "head": ("mixamorig:Head",),
        "neck": ("mixamorig:Neck",),
        "chest": ("mixamorig:Spine2", "mixamorig:Spine1"),
        "pelvis": ("mixamorig:Hips",),
        "shoulder_l": ("mixamorig:LeftArm",),
        "elbow_l": ("mixamorig:LeftForeArm",),
        "hand_l": ("mixamorig:LeftHand",),
        "shoulder_r": ("mixamorig:RightArm",),
        "elbow_r": ("mixamorig:RightForeArm",),
        "hand_r": ("mixamorig:RightHand",),
        "hip_l": ("mixamorig:LeftUpLeg",),
        "knee_l": ("mixamorig:LeftLeg",),
        "foot_l": ("mixamorig:LeftFoot",),
        "hip_r": ("mixamorig:RightUpLeg",),
        "knee_r": ("mixamorig:RightLeg",),
        "foot_r": ("mixamorig:RightFoot",),
    },
    "rokoko": {
        "head": ("Head",),
        "neck": ("Neck",),
        "chest": ("Spine4", "Spine3", "Spine2"),
        "pelvis": ("Hips",),
        "shoulder_l": ("LeftArm",),
        "elbow_l": ("LeftForeArm",),
        "hand_l": ("LeftHand",),
        "shoulder_r": ("RightArm",),
        "elbow_r": ("RightForeArm",),
        "hand_r": ("RightHand",),
        "hip_l": ("LeftThigh", "LeftUpLeg"),
        "knee_l": ("LeftShin", "LeftLeg"),
        "foot_l": ("LeftFoot",),
        "hip_r": ("RightThigh", "RightUpLeg"),
        "knee_r": ("RightShin", "RightLeg"),
        "foot_r": ("RightFoot",),
    },
}


def _plain(name: str) -> str:
    """A joint name without namespace, case, separators or side spelling, for matching across skeletons."""
    name = name.rsplit(":", 1)[-1].lower()
    return re.sub(r"[\s_.\-]+", "", name)


def guess_mapping(rig: Rig, clip_names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Rig joint -> clip joint, by the built-in tables (the one matching most joints wins), then by equal names."""
    by_plain = {_plain(n): n for n in clip_names}
    best: dict[str, str] = {}
    for table in NAME_TABLES.values():
        found = {}
        for joint, candidates in table.items():
            if joint not in rig.joint_ids:
                continue
            hit = next((by_plain[_plain(c)] for c in candidates if _plain(c) in by_plain), None)
            if hit is not None:
                found[joint] = hit
        if len(found) > len(best):
            best = found
    for joint in rig.joint_ids:  # any other rig joint whose name the clip shares
        if joint not in best and _plain(joint) in by_plain and by_plain[_plain(joint)] not in best.values():
            best[joint] = by_plain[_plain(joint)]
    return best


def check_mapping(mapping: Mapping[str, str], rig: Rig, clip: MotionClip, key: str = "joint_mapping") -> None:
    """ProjectError naming the first entry that names a joint the rig or the clip does not have."""
    clip_names = set(clip.names)
    for joint, source_joint in mapping.items():
        if joint not in rig.joint_ids:
            raise ProjectError(f"the rig has no joint {joint!r}", key=f"{key}.{joint}")
        if source_joint not in clip_names:
            raise ProjectError(f"{clip.source} has no joint {source_joint!r}", key=f"{key}.{joint}")


# --- projection and retargeting -----------------------------------------------------------------------------------


def project_clip(clip: MotionClip, plane: str = "front") -> np.ndarray:
    """[T, J, 2] positions on a plane, image convention (x right, y down), in the clip's units.

    `front` looks along the clip's z axis (x right), `side` along x (z right), `auto` picks the vertical plane
    in which the joints move most (the first principal axis of their horizontal motion), as AnimatedDrawings
    offers for its retargeting.
    """
    if plane not in PLANES:
        raise ProjectError(f"unknown plane {plane!r} (use {', '.join(PLANES)})", key="plane")
    p = clip.positions
    if plane == "front":
        across = np.array([1.0, 0.0])
    elif plane == "side":
        across = np.array([0.0, 1.0])
    else:
        horizontal = p[..., [0, 2]] - p[..., [0, 2]].mean(axis=(0, 1))
        flat = horizontal.reshape(-1, 2)
        _, _, vt = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
        across = vt[0] if vt[0][np.argmax(np.abs(vt[0]))] > 0 else -vt[0]
    x = p[..., 0] * across[0] + p[..., 2] * across[1]
    return np.stack([x, -p[..., 1]], axis=-1)


def facing_rig(
    clip2d: np.ndarray, clip: MotionClip, rig: Rig, mapping: Mapping[str, str]
) -> tuple[np.ndarray, dict[str, str]]:
    """(`clip2d`, mapping) turned so that the clip's first frame lies over the rig's rest pose side for side.

    A figure seen from the front shows its left side on the right of the picture; rigs are drawn either way
    (the human template has its `_l` joints on the picture's left). When the clip's sides disagree with the
    rig's (the sum of cosines between matched bones' horizontal directions is negative), the `_l`/`_r` joints
    of the rig swap their clip joints, so the motion stays as filmed and each arm drives the arm on its side
    of the picture; a rig without `_l`/`_r` pairs sees the clip mirrored instead.
    """
    mapping = dict(mapping)
    if _agreement(clip2d, clip, rig, mapping) >= 0:
        return clip2d, mapping
    swapped = _swapped_sides(mapping, rig)
    if swapped != mapping and _agreement(clip2d, clip, rig, swapped) > 0:
        return clip2d, swapped
    return clip2d * np.array([-1.0, 1.0]), mapping


def _agreement(clip2d: np.ndarray, clip: MotionClip, rig: Rig, mapping: Mapping[str, str]) -> float:
    index = {name: i for i, name in enumerate(clip.names)}
    total = 0.0
    for bone in rig.bones:
        if mapping.get(bone.a) in index and mapping.get(bone.b) in index:
            ours = np.subtract(rig.joint(bone.b).xy, rig.joint(bone.a).xy)
            theirs = clip2d[0, index[mapping[bone.b]]] - clip2d[0, index[mapping[bone.a]]]
            norm = float(np.linalg.norm(ours) * np.linalg.norm(theirs))
            if norm > 1e-9:
                total += float(ours[0] * theirs[0]) / norm  # only the horizontal part changes side
    return total


SIDE_SUFFIXES = (("_l", "_r"), ("_L", "_R"), (".l", ".r"), ("Left", "Right"), ("left", "right"))


def side_partner(joint: str, joint_ids: tuple[str, ...] | list[str]) -> str | None:
    """The joint on the other side (`hand_l` <-> `hand_r`, `front_l_paw` <-> `front_r_paw`), if the rig has it."""
    for left, right in SIDE_SUFFIXES:
        for a, b in ((left, right), (right, left)):
            if a in joint:
                other = joint[::-1].replace(a[::-1], b[::-1], 1)[::-1]  # the last occurrence
                if other != joint and other in joint_ids:
                    return other
    return None


def _swapped_sides(mapping: Mapping[str, str], rig: Rig) -> dict[str, str]:
    out = dict(mapping)
    for joint in mapping:
        partner = side_partner(joint, rig.joint_ids)
        if partner is not None:
            if partner in mapping:
                out[joint] = mapping[partner]
            else:
                out.pop(joint, None)
    return out


def tree_parents(rig: Rig, roots: list[str] | None = None) -> tuple[dict[str, str | None], list[str]]:
    """(each joint's parent, the joints parents first) in the rig's hierarchy (`core.kinematics`): a root per
    subject, `roots` where given, else its graph centre."""
    h = hierarchy(rig, tuple(roots or ()))
    ids = h.joint_ids
    return ({ids[j]: (ids[p] if p >= 0 else None) for j, p in enumerate(h.parent)}, [ids[j] for j in h.order])


def resample(positions: np.ndarray, fps_from: float, fps_to: float, frames: int | None = None) -> np.ndarray:
    """[T, J, D] sampled at `fps_from` -> [N, J, D] at `fps_to` (linear in time; the last pose holds)."""
    duration = (positions.shape[0] - 1) / fps_from
    count = frames if frames is not None else math.floor(duration * fps_to + 1e-9) + 1
    t = np.arange(count) / fps_to * fps_from
    t = np.clip(t, 0, positions.shape[0] - 1)
    lo = np.floor(t).astype(int)
    hi = np.minimum(lo + 1, positions.shape[0] - 1)
    w = (t - lo)[:, None, None]
    return positions[lo] * (1 - w) + positions[hi] * w


@dataclass(frozen=True)
class Retargeted:
    """Per-frame rig positions from a clip, and what the retargeting used."""

    positions: dict[str, np.ndarray]  # rig joint -> [N, 2] image pixels
    mapping: dict[str, str]
    scale: float  # rig pixels per clip unit for the root's travel


def retarget(
    rig: Rig, rest: Mapping[str, np.ndarray], clip2d: np.ndarray, clip: MotionClip, mapping: Mapping[str, str]
) -> Retargeted:
    """Drive `rig` by `clip2d` ([N, J, 2] projected clip positions): bone directions, rig lengths, root travel.

    A left/right pair of bones leaving one trunk joint (shoulders off the chest, hips off the pelvis) keeps
    the rig's own shape instead, turned as the line through the clip's pair turns: a drawing's shoulders stay
    where it has them on its chest whatever angle the source's collarbones make (AnimatedDrawings leaves
    shoulders and hips undriven for the same reason).

    `rest` holds each rig joint's position before the import ([2] or [N, 2]); a joint the mapping leaves out
    keeps its offset from its parent. Raises ProjectError when no rig bone has both ends mapped.
    """
    index = {name: i for i, name in enumerate(clip.names)}
    mapped = {j: index[s] for j, s in mapping.items() if s in index and j in rig.joint_ids}
    roots = _preferred_roots(rig, mapped)
    parents, order = tree_parents(rig, roots)
    if not any(p is not None and j in mapped and p in mapped for j, p in parents.items()):
        raise ProjectError("no rig bone has both of its joints mapped to the clip's joints", key="joint_mapping")
    n = clip2d.shape[0]
    rest_n = {j: np.broadcast_to(np.asarray(rest[j], dtype=float), (n, 2)) for j in rig.joint_ids}
    scale = _leg_scale(rig, rest_n, clip.positions[0], mapped, parents)
    girdles = _girdle_turns(rig, rest_n, clip2d, mapped, parents)
    out: dict[str, np.ndarray] = {}
    for joint in order:
        parent = parents[joint]
        if parent is None:
            if joint in mapped:
                travel = clip2d[:, mapped[joint]] - clip2d[0, mapped[joint]]
                out[joint] = rest_n[joint][0] + travel * scale
            else:
                out[joint] = rest_n[joint].copy()
            continue
        if joint in girdles:
            out[joint] = out[parent] + _rotated(rest_n[joint] - rest_n[parent], girdles[joint])
        elif joint in mapped and parent in mapped:
            direction = clip2d[:, mapped[joint]] - clip2d[:, mapped[parent]]
            length = float(np.linalg.norm(rest_n[joint][0] - rest_n[parent][0]))
            out[joint] = out[parent] + _unit_directions(direction, rest_n[joint][0] - rest_n[parent][0]) * length
        else:
            out[joint] = out[parent] + (rest_n[joint] - rest_n[parent])
    return Retargeted(out, {j: clip.names[i] for j, i in mapped.items()}, scale)


def _girdle_turns(
    rig: Rig,
    rest: Mapping[str, np.ndarray],
    clip2d: np.ndarray,
    mapped: Mapping[str, int],
    parents: Mapping[str, str | None],
) -> dict[str, np.ndarray]:
    """Girdle joint -> [N] radians to turn its rest offset by: for each mapped left/right pair sharing a parent,
    the turn of the line through the pair (the clip's shoulders, or hips, against the rig's at rest)."""
    turns: dict[str, np.ndarray] = {}
    for joint, parent in parents.items():
        partner = side_partner(joint, rig.joint_ids)
        if parent is None or partner is None or parents.get(partner) != parent:
            continue
        if not (joint in mapped and partner in mapped):
            continue
        then = rest[partner] - rest[joint]
        now = _unit_directions(clip2d[:, mapped[partner]] - clip2d[:, mapped[joint]], then[0])
        angle = np.arctan2(now[:, 1], now[:, 0]) - np.arctan2(then[:, 1], then[:, 0])
        turns[joint] = (angle + np.pi) % (2 * np.pi) - np.pi
    return turns


def _rotated(offset: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """[N, 2] offsets turned by [N] radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * offset[:, 0] - s * offset[:, 1], s * offset[:, 0] + c * offset[:, 1]], axis=1)


def _preferred_roots(rig: Rig, mapped: Mapping[str, int]) -> list[str]:
    """The pelvis or hips where the rig has one (the clip's root moves the body), else a mapped joint."""
    for name in ("pelvis", "hips", "root"):
        if name in rig.joint_ids:
            return [name]
    return [j for j in rig.joint_ids if j in mapped][:1]


def _unit_directions(direction: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """[N, 2] unit vectors; a bone seen end-on (near-zero projected length) keeps the last good direction."""
    norms = np.linalg.norm(direction, axis=1)
    good = norms > 1e-6 * max(float(norms.max(initial=0.0)), 1e-12)
    units = np.zeros_like(direction)
    units[good] = direction[good] / norms[good, None]
    last = fallback / (np.linalg.norm(fallback) or 1.0)
    for i in range(len(units)):
        if good[i]:
            last = units[i]
        else:
            units[i] = last
    return units


def _leg_scale(
    rig: Rig,
    rest: Mapping[str, np.ndarray],
    clip_first: np.ndarray,
    mapped: Mapping[str, int],
    parents: Mapping[str, str | None],
) -> float:
    """Rig pixels per clip unit: the rig's leg (or, lacking legs, all mapped bones) against the clip's 3D one."""
    legs = [("hip_l", "knee_l"), ("knee_l", "foot_l"), ("hip_r", "knee_r"), ("knee_r", "foot_r")]
    pairs = [(a, b) for a, b in legs if a in mapped and b in mapped]
    if not pairs:
        pairs = [(p, j) for j, p in parents.items() if p is not None and j in mapped and p in mapped]
    ours = sum(float(np.linalg.norm(rest[a][0] - rest[b][0])) for a, b in pairs)
    theirs = sum(float(np.linalg.norm(clip_first[mapped[a]] - clip_first[mapped[b]])) for a, b in pairs)
    return ours / theirs if theirs > 1e-9 else 1.0


# --- onto a project -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportReport:
    """What an import did, for the status line and the CLI."""

    mapping: dict[str, str]
    frames: int  # project frames keyed
    clip_frames: int
    unmapped: tuple[str, ...]  # rig joints that follow their parent

    def summary(self, source: str) -> str:
        more = ", ..." if len(self.unmapped) > 6 else ""
        left = (
            f"; {len(self.unmapped)} joints follow their parent ({', '.join(self.unmapped[:6])}{more})"
            if self.unmapped
            else ""
        )
        return (
            f"{Path(source).name}: {len(self.mapping)} joints mapped, {self.clip_frames} clip frames "
            f"as {self.frames} project frames{left}"
        )


MAPPING_KEY = "joint_mapping"  # where a project keeps the mapping the user edited (rig joint -> clip joint)


def import_bvh(
    project: Project,
    path: str | Path,
    mapping: Mapping[str, str] | None = None,
    plane: str = "front",
    start: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[Project, ImportReport]:
    """(project with the BVH clip's motion keyed from frame `start`, ImportReport). Nothing else of it changes.

    The mapping is, in order: the one given, the one saved in the project (`joint_mapping`), the guess from
    the built-in name tables. The mapping used is saved in the project, so the next import reuses it.
    """
    clip = read_bvh(path)
    if mapping is None:
        saved = project.extra.get(MAPPING_KEY)
        mapping = saved if isinstance(saved, dict) and saved else guess_mapping(project.rig, clip.names)
        mapping = {j: s for j, s in mapping.items() if j in project.rig.joint_ids and s in clip.names}
    check_mapping(mapping, project.rig, clip)
    result, report = import_clip(project, clip, mapping, plane, start, tolerance)
    return replace(result, extra={**result.extra, MAPPING_KEY: dict(mapping)}), report


def import_clip(
    project: Project,
    clip: MotionClip,
    mapping: Mapping[str, str],
    plane: str = "front",
    start: int = 0,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[Project, ImportReport]:
    """`clip` retargeted onto `project`'s rig by `mapping` (rig joint -> clip joint) and keyed from `start`."""
    if not mapping:
        raise ProjectError(
            f"no joint of {clip.source} matches a joint of the rig by name; map them by hand", key=MAPPING_KEY
        )
    if not 0 <= start < project.frames:
        raise ProjectError(f"start frame {start} is outside the project's 0-{project.frames - 1}", key="start")
    span = min(project.frames - start, math.floor((clip.frames - 1) / clip.fps * project.fps + 1e-9) + 1)
    flat, mapping = facing_rig(project_clip(clip, plane), clip, project.rig, mapping)
    clip2d = resample(flat, clip.fps, project.fps, span)
    current = project.joint_positions(start + span)[start : start + span]
    rest = {j: current[:, i] for i, j in enumerate(project.rig.joint_ids)}
    moved = retarget(project.rig, rest, clip2d, clip, mapping)
    changed = {
        j: xy
        for j, xy in moved.positions.items()  # a joint the clip leaves where it was keeps its keys
        if np.abs(xy - rest[j]).max() > tolerance
    }
    result = apply_motion(project, changed, start, tolerance)
    unmapped = tuple(j for j in project.rig.joint_ids if j not in moved.mapping)
    return result, ImportReport(dict(moved.mapping), span, clip.frames, unmapped)
