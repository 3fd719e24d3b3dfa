"""Poses to reuse: copy one frame's pose (some joints or all), paste it at another frame or into another project
with the same joint names, mirror it left/right, loop a range of frames.

A copied pose is a small JSON object (the window puts it on the system clipboard):

    {"format": "poseanything-pose", "version": 1, "image": "cat.png",
     "joints": {"knee": {"xy": [310, 260], "parent": "hip", "angle": -71.5}, ...}}

`angle` is the direction of the joint's bone from its parent, in degrees (x right, y down). Pasting turns
each pasted joint's bone to that direction, keeping the target's bone lengths, and carries the joints below
it; a root takes the copied position only when the pose came from the same picture. Keys stay positions:
every joint that moved is keyed at the frame. A joint whose parent was pasted back to where it was copied takes
its copied position exactly, so a whole pose pasted in its own project is the copied pose to the bit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import PurePath
from typing import Any

import numpy as np

from .kinematics import Hierarchy, place, to_local
from .project import Project
from .tracks import Key, Track

POSE_FORMAT = "poseanything-pose"
_SIDES = {"l": "r", "r": "l", "L": "R", "R": "L", "left": "right", "right": "left", "Left": "Right", "Right": "Left"}


class PoseError(ValueError):
    """A pasted text that is not a pose this program wrote (one line saying why)."""


def copy_pose(project: Project, frame: int, joint_ids: Iterable[str] | None = None) -> dict[str, Any]:
    """The pose of `joint_ids` (all joints when None or empty) at `frame`, as a JSON-ready dict."""
    h, pose = project.hierarchy(), project.positions_at([frame])[0]
    ids = [j for j in (joint_ids or project.rig.joint_ids) if j in h.joint_ids] or list(h.joint_ids)
    joints = {}
    for joint_id in ids:
        j = h.index(joint_id)
        p = h.parent[j]
        entry: dict[str, Any] = {"xy": [round(float(v), 4) for v in pose[j]], "parent": None, "angle": None}
        if p >= 0:
            d = pose[j] - pose[p]
            entry.update(parent=h.joint_ids[p], angle=round(math.degrees(math.atan2(d[1], d[0])), 6))
        joints[joint_id] = entry
    return {"format": POSE_FORMAT, "version": 1, "image": PurePath(project.image).name, "joints": joints}


def pose_to_text(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


def pose_from_text(text: str) -> dict[str, Any]:
    """A copied pose back from its text; PoseError when it is not one."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        raise PoseError("the clipboard holds no pose (not JSON)") from None
    if not isinstance(data, dict) or data.get("format") != POSE_FORMAT or not isinstance(data.get("joints"), dict):
        raise PoseError("the clipboard holds no pose (copy one with Ctrl+C on the canvas)")
    for joint_id, entry in data["joints"].items():
        xy = entry.get("xy") if isinstance(entry, dict) else None
        if not (isinstance(xy, list) and len(xy) == 2 and all(_finite(v) for v in xy)):
            raise PoseError(f"the pose's joint {joint_id!r} has no position [x, y]")
        if entry.get("angle") is not None and not _finite(entry["angle"]):
            raise PoseError(f"the pose's joint {joint_id!r} has a bad angle")
    return data


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def paste_pose(project: Project, payload: Mapping[str, Any], frame: int) -> tuple[Project, list[str]]:
    """`payload` pasted at `frame`: the project and the joints it matched (none matched: the project unchanged)."""
    h, before = project.hierarchy(), project.positions_at([frame])[0]
    joints = {j: e for j, e in payload["joints"].items() if j in h.joint_ids}
    if not joints:
        return project, []
    same_picture = payload.get("image") == PurePath(project.image).name
    angle, length = to_local(h, before)
    out = before.copy()
    for j in h.order:
        p, entry = h.parent[j], joints.get(h.joint_ids[j])
        if p < 0:
            if entry is not None and same_picture:
                out[h.subtree(j)] += np.asarray(entry["xy"], float) - out[j]
            continue
        parent_entry = joints.get(h.joint_ids[p])
        if (
            entry is not None
            and same_picture
            and parent_entry is not None
            and np.hypot(*(out[p] - parent_entry["xy"])) < 1e-6
        ):
            out[j] = entry["xy"]  # its parent is where it was copied: the copied position, to the bit
        elif entry is not None and entry.get("parent") == h.joint_ids[p] and entry.get("angle") is not None:
            a = math.radians(entry["angle"])
            out[j] = out[p] + length[j] * np.array([math.cos(a), math.sin(a)])
        else:
            out = place(h, out, angle, length, [j])
    return key_pose(project, frame, before, out, joints), list(joints)


def key_pose(project: Project, frame: int, before: np.ndarray, after: np.ndarray, also: Iterable[str] = ()) -> Project:
    """Keys at `frame` for every joint whose position differs between the two poses, for the joints `also`, for the
    tracked children of moved joints (between keys a child turns with its parent, so one that stayed is keyed
    where it stayed) and for the tracked parents of all those (where a joint and its parent are both keyed, the
    key's distance is its bone's length: see `kinematics.sample_rotation`). What was posed is what plays."""
    ids = project.rig.joint_ids
    moved = {j for j in range(len(ids)) if np.hypot(*(after[j] - before[j])) > 1e-6}
    keyed = {ids[j] for j in moved} | set(also)
    h = project.hierarchy()
    keyed |= {ids[j] for j in range(len(ids)) if h.parent[j] in moved and project.tracks.get(ids[j])}
    for joint_id in list(keyed):
        p = h.parent[h.index(joint_id)]
        if p >= 0 and project.tracks.get(ids[p]):
            keyed.add(ids[p])
    tracks = dict(project.tracks)
    for j, joint_id in enumerate(ids):
        if joint_id in keyed:
            track = tracks.get(joint_id) or Track()
            old = track.key_at(frame)
            tracks[joint_id] = track.with_key(
                Key(frame, (float(after[j][0]), float(after[j][1])), old.interp if old else "smooth")
            )
    return replace(project, tracks=tracks)


# -- mirror ------------------------------------------------------------------------------------------
def mirror_pairs(joint_ids: Iterable[str], extra: Iterable[tuple[str, str]] = ()) -> dict[str, str]:
    """Left/right partners: names that differ only in an `l`/`r` (or `left`/`right`) part between `_`, `.` or `-`
    (`hip_l`/`hip_r`, `front_l_knee`/`front_r_knee`), plus a user's pairs; each joint maps to its partner."""
    ids = list(joint_ids)
    present = set(ids)
    out: dict[str, str] = {}
    for joint_id in ids:
        parts = re.split(r"([_.\-])", joint_id)
        for i, part in enumerate(parts):
            if part in _SIDES:
                other = "".join([*parts[:i], _SIDES[part], *parts[i + 1 :]])
                if other in present and other != joint_id:
                    out[joint_id] = other
                    break
    for a, b in extra:
        if a in present and b in present and a != b:
            out[a], out[b] = b, a
    return out


def user_pairs(project: Project) -> list[tuple[str, str]]:
    """Pairs the file names in `rig.mirror` ([[a, b], ...]), for rigs whose names carry no side."""
    raw = project.rig_extra.get("mirror", [])
    return (
        [
            (a, b)
            for a, b in (p for p in raw if isinstance(p, list) and len(p) == 2)
            if isinstance(a, str) and isinstance(b, str)
        ]
        if isinstance(raw, list)
        else []
    )


def faces_viewer(project: Project, pairs: Mapping[str, str]) -> bool:
    """True when partners sit either side of the subject at rest (a front view), False when they overlap (a side
    view, as the cat's legs): a front view mirrors by reflection, a side view by swapping the two sides' poses."""
    rest, ids = project.rig.rest_xy(), project.rig.joint_ids
    pairs_ix = [(ids.index(a), ids.index(b)) for a, b in pairs.items()]
    bones = project.rig.bone_joint_indices()
    if not pairs_ix or not len(bones):
        return False
    spread = np.mean([abs(rest[a, 0] - rest[b, 0]) for a, b in pairs_ix])
    bone = np.median(np.hypot(*(rest[bones[:, 1]] - rest[bones[:, 0]]).T))
    return bool(spread > 0.5 * bone)


def mirror_pose(project: Project, frame: int, pairs: Mapping[str, str] | None = None) -> Project:
    """The pose at `frame` mirrored left/right, keyed there.

    Each joint's turn away from its rest angle goes to its partner: negated in a front view (a reflection,
    unpaired joints' turns negated too), as it is in a side view (the sides swap). Lengths and roots stay.
    """
    pairs = dict(pairs) if pairs is not None else mirror_pairs(project.rig.joint_ids, user_pairs(project))
    h: Hierarchy = project.hierarchy()
    before, rest = project.positions_at([frame])[0], project.rig.rest_xy()
    rest_angle, _ = to_local(h, rest)
    angle, length = to_local(h, before)
    turn = np.angle(np.exp(1j * (angle - rest_angle)))
    sign = -1.0 if faces_viewer(project, pairs) else 1.0
    new = angle.copy()
    for j, joint_id in enumerate(h.joint_ids):
        if h.parent[j] < 0:
            continue
        partner = pairs.get(joint_id)
        if partner is not None:
            new[j] = rest_angle[j] + sign * turn[h.index(partner)]
        elif sign < 0:
            new[j] = rest_angle[j] - turn[j]
    after = place(h, before, new, length, [j for j in h.order if h.parent[j] >= 0])
    return key_pose(project, frame, before, after)


# -- loop --------------------------------------------------------------------------------------------
def set_loop(project: Project, start: int, end: int) -> Project:
    """From `end` on, the keys from `start` play again; frame `end` shows frame `start`'s pose (never twice in a
    looping video when `end` is the frame count). ValueError unless 0 <= start < end."""
    start, end = int(start), int(end)
    if not 0 <= start < end:
        raise ValueError(f"a loop runs from a frame to a later one (got {start} to {end})")
    return replace(project, loop=(start, end))


def without_loop(project: Project) -> Project:
    return replace(project, loop=None)
