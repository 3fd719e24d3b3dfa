"""Pure edits of the immutable Project: every function takes a Project and returns a new one.

No Qt here (napari's rule: models stay free of Qt). The window turns each call into one undo command.
Keys are addressed as (row, frame), where row is a joint id or CAMERA_ROW.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from . import poses
from .camera import REST, CameraKey, CameraPath
from .project import FPS_RANGE, MAX_FRAMES, Project
from .rig import Rig
from .tracks import Key, Track

CAMERA_ROW = "\x00camera"  # not a valid joint id, so it never clashes with one
KeyRef = tuple[str, int]


# -- reading --------------------------------------------------------------------------------------
def pose_at(project: Project, frame: float) -> np.ndarray:
    """Joint positions (J, 2) at one frame, reference-image pixels (the project's interpolation and loop)."""
    return project.positions_at([frame])[0]


def camera_at(project: Project, frame: int) -> np.ndarray:
    """Camera (pan x, pan y, zoom, roll) at one frame."""
    if not project.camera.keys:
        return np.array(REST)
    return project.camera.sample(max(frame, project.camera.keys[-1].frame) + 1)[frame]


def key_frames(project: Project, row: str) -> tuple[int, ...]:
    """Frames holding a key on `row`."""
    if row == CAMERA_ROW:
        return tuple(k.frame for k in project.camera.keys)
    track = project.tracks.get(row)
    return track.frames if track else ()


def key_interp(project: Project, ref: KeyRef) -> str | None:
    """Interpolation of the key at `ref`, None if there is none."""
    row, frame = ref
    if row == CAMERA_ROW:
        return next((k.interp for k in project.camera.keys if k.frame == frame), None)
    track = project.tracks.get(row)
    key = track.key_at(frame) if track else None
    return key.interp if key else None


def nearest_valid_frames(count: int) -> int:
    """The nearest 4k+1 frame count, at least 1."""
    return max(1, 4 * round((max(1, count) - 1) / 4) + 1)


# -- rig ------------------------------------------------------------------------------------------
def add_joint(project: Project, xy: tuple[float, float], parent: str | None = None) -> tuple[Project, str]:
    """A new joint at `xy` (and a bone from `parent` when given); returns the project and the joint id."""
    joint_id = project.rig.free_joint_id("joint")
    rig = project.rig.with_joint(joint_id, xy)
    if parent is not None and parent in rig.joint_ids:
        rig = rig.with_bone(rig.free_bone_id("bone"), parent, joint_id)
    return replace(project, rig=rig), joint_id


def add_bone(project: Project, a: str, b: str) -> Project:
    """A bone from `a` to `b`, unless the two are the same joint or already joined."""
    if a == b or any({bone.a, bone.b} == {a, b} for bone in project.rig.bones):
        return project
    return replace(project, rig=project.rig.with_bone(project.rig.free_bone_id("bone"), a, b))


def delete_rig_items(project: Project, joint_ids: Iterable[str], bone_ids: Iterable[str]) -> Project:
    """Without these joints (their bones and tracks too) and bones."""
    joint_ids = set(joint_ids)
    rig = project.rig.without(joint_ids, bone_ids)
    tracks = {k: v for k, v in project.tracks.items() if k not in joint_ids}
    return replace(
        project,
        rig=rig,
        tracks=tracks,
        roots=tuple(r for r in project.roots if r not in joint_ids),
        pins=tuple(p for p in project.pins if p not in joint_ids),
    )


def rename_joint(project: Project, old: str, new: str) -> Project:
    """Joint `old` called `new`; its bones and track follow. ProjectError for a bad or taken name."""
    if old == new:
        return project
    if new in project.rig.joint_ids:
        from .errors import ProjectError

        raise ProjectError(f"a joint called {new!r} exists already")
    rig = project.rig.renamed_joint(old, new)
    tracks = {(new if k == old else k): v for k, v in project.tracks.items()}
    roots, pins = (tuple(new if j == old else j for j in ids) for ids in (project.roots, project.pins))
    return replace(project, rig=rig, tracks=tracks, roots=roots, pins=pins)


def rename_bone(project: Project, old: str, new: str) -> Project:
    """Bone `old` called `new`."""
    if old == new:
        return project
    return replace(project, rig=project.rig.renamed_bone(old, new))


def move_joints(project: Project, moves: dict[str, tuple[float, float]], frame: int, animate: bool) -> Project:
    """Joints moved to new positions: keys at `frame` when animating, else new rest positions.

    In setup mode a joint that already has a track is keyed too (its rest would not show).
    """
    rest_moves, keyed = {}, {}
    for joint_id, xy in moves.items():
        if animate or project.tracks.get(joint_id):
            keyed[joint_id] = xy
        else:
            rest_moves[joint_id] = xy
    if keyed:  # keyed with their tracked parents, so the bone lengths posed are the ones that play
        ids = project.rig.joint_ids
        before = pose_at(project, frame)
        after = before.copy()
        for joint_id, xy in keyed.items():
            after[ids.index(joint_id)] = xy
        project = poses.key_pose(project, frame, before, after, keyed)
    if rest_moves:
        project = replace(project, rig=project.rig.with_joints_moved(rest_moves))
    return project


def set_joint_key(project: Project, joint_id: str, frame: int, xy: tuple[float, float]) -> Project:
    """A key at `frame` holding `xy`, keeping that key's interpolation if one was there."""
    track = project.tracks.get(joint_id) or Track()
    old = track.key_at(frame)
    key = Key(frame, (float(xy[0]), float(xy[1])), old.interp if old else "smooth")
    return project.with_track(joint_id, track.with_key(key))


def merge_rig(project: Project, other: Rig, suffix_from: int = 2) -> tuple[Project, list[str]]:
    """`other`'s joints and bones added, ids made unique; returns the project and the new joint ids."""
    taken_j, taken_b = set(project.rig.joint_ids), set(project.rig.bone_ids)
    names = {j.id: _unique(j.id, taken_j, suffix_from) for j in other.joints}
    rig = project.rig
    for joint in other.joints:
        rig = rig.with_joint(names[joint.id], joint.xy)
    for bone in other.bones:
        rig = rig.with_bone(_unique(bone.id, taken_b, suffix_from), names[bone.a], names[bone.b])
    return replace(project, rig=rig), list(names.values())


def _unique(name: str, taken: set[str], start: int) -> str:
    out, n = name, start
    while out in taken:
        out, n = f"{name}_{n}", n + 1
    taken.add(out)
    return out


def scale_joints(project: Project, joint_ids: Iterable[str], factor: float, frame: int, animate: bool) -> Project:
    """Joints scaled about their centroid by `factor`."""
    ids = list(joint_ids)
    if not ids:
        return project
    pose = pose_at(project, frame)
    index = {j: i for i, j in enumerate(project.rig.joint_ids)}
    xy = pose[[index[j] for j in ids]]
    centre = xy.mean(0)
    moved = centre + (xy - centre) * factor
    return move_joints(project, {j: tuple(p) for j, p in zip(ids, moved, strict=True)}, frame, animate)


# -- keys -----------------------------------------------------------------------------------------
def insert_keys(project: Project, rows: Iterable[str], frame: int) -> Project:
    """Keys at `frame` on `rows`, holding the values they have there now."""
    pose = pose_at(project, frame)
    index = {j: i for i, j in enumerate(project.rig.joint_ids)}
    for row in rows:
        if row == CAMERA_ROW:
            project = set_camera_key(project, frame, camera_at(project, frame))
        elif row in index:
            project = set_joint_key(project, row, frame, tuple(pose[index[row]]))
    return project


def set_camera_key(project: Project, frame: int, params) -> Project:
    """A camera key at `frame` with (pan x, pan y, zoom, roll), keeping that key's interpolation."""
    px, py, zoom, roll = (float(v) for v in params)
    old = next((k for k in project.camera.keys if k.frame == frame), None)
    key = CameraKey(frame, (px, py), max(zoom, 1e-3), roll, old.interp if old else "smooth")
    return replace(project, camera=project.camera.with_key(key))


def delete_keys(project: Project, refs: Iterable[KeyRef]) -> Project:
    """Without the keys at `refs`."""
    for row, frame in refs:
        if row == CAMERA_ROW:
            project = replace(project, camera=project.camera.without_key(frame))
        elif project.tracks.get(row):
            project = project.with_track(row, project.tracks[row].without_key(frame))
    return project


def move_keys(project: Project, refs: Iterable[KeyRef], delta: int, last_frame: int) -> Project:
    """The keys at `refs` moved `delta` frames (clamped to 0..last_frame, the moved ones win clashes)."""
    refs = list(refs)
    if not refs or delta == 0:
        return project
    by_row: dict[str, list[int]] = {}
    for row, frame in refs:
        by_row.setdefault(row, []).append(frame)
    lo, hi = min(f for _, f in refs), max(f for _, f in refs)
    delta = int(np.clip(delta, -lo, last_frame - hi))
    for row, frames in by_row.items():
        keys = _row_keys(project, row)
        moving = [replace(k, frame=k.frame + delta) for k in keys if k.frame in frames]
        staying = [k for k in keys if k.frame not in frames and k.frame not in {m.frame for m in moving}]
        project = _with_row_keys(project, row, staying + moving)
    return project


def moved_refs(refs: Iterable[KeyRef], delta: int, last_frame: int) -> list[KeyRef]:
    """Where `move_keys` puts the keys at `refs`."""
    refs = list(refs)
    if not refs:
        return []
    lo, hi = min(f for _, f in refs), max(f for _, f in refs)
    delta = int(np.clip(delta, -lo, last_frame - hi))
    return [(r, f + delta) for r, f in refs]


def set_interp(project: Project, refs: Iterable[KeyRef], interp: str) -> Project:
    """The keys at `refs` leaving by `interp` (step, linear or smooth)."""
    for row, frame in refs:
        keys = _row_keys(project, row)
        project = _with_row_keys(project, row, [replace(k, interp=interp) if k.frame == frame else k for k in keys])
    return project


def set_key_value(project: Project, ref: KeyRef, component: int, value: float, new_frame: int | None = None) -> Project:
    """One component of the key at `ref` set to `value` (camera: pan x, pan y, zoom, roll), maybe moved in time."""
    row, frame = ref
    target = frame if new_frame is None else max(0, int(new_frame))
    keys = _row_keys(project, row)
    old = next((k for k in keys if k.frame == frame), None)
    if old is None:
        return project
    v = list(old.value)
    v[component] = max(float(value), 1e-3) if (row == CAMERA_ROW and component == 2) else float(value)
    others = [k for k in keys if k.frame not in (frame, target)]
    return _with_row_keys(project, row, [*others, Key(target, tuple(v), old.interp)])


def _row_keys(project: Project, row: str) -> list[Key]:
    if row == CAMERA_ROW:
        return [k.as_key() for k in project.camera.keys]
    track = project.tracks.get(row)
    return list(track.keys) if track else []


def _with_row_keys(project: Project, row: str, keys: list[Key]) -> Project:
    unique = {k.frame: k for k in keys}  # a later key at the same frame wins
    if row == CAMERA_ROW:
        return replace(project, camera=CameraPath(tuple(CameraKey.from_key(k) for k in unique.values())))
    return project.with_track(row, Track(tuple(unique.values())))


# -- timing ---------------------------------------------------------------------------------------
def set_frames(project: Project, frames: int) -> Project:
    """A frame count snapped to 4k+1; keys past the end stay (they are kept, not lost)."""
    return replace(project, frames=min(nearest_valid_frames(frames), MAX_FRAMES))


def set_fps(project: Project, fps: float) -> Project:
    """A new frame rate between 1 and 240."""
    fps = float(min(max(fps, FPS_RANGE[0]), FPS_RANGE[1]))
    return replace(project, fps=int(fps) if fps.is_integer() else fps)


def camera_pan_delta(params, drag_xy: tuple[float, float], scale: float) -> np.ndarray:
    """Camera params after dragging its frame by `drag_xy` reference pixels (`scale`: output px per reference px)."""
    px, py, zoom, roll = (float(v) for v in params)
    t = math.radians(roll)
    rot = zoom * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    d = rot @ (np.asarray(drag_xy, float) * scale)
    return np.array([px + d[0], py + d[1], zoom, roll])
