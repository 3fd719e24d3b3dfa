"""Joints and bones of any graph: chains, stars, trees, several subjects, cycles, a single bone.

A rig is immutable: every edit returns a new rig, so a render can hold a snapshot while the
window goes on editing. Coordinates are reference-image pixels, x right, y down.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from .errors import ProjectError

MAX_DEPTH = 1000  # bone draw depths run from -MAX_DEPTH to MAX_DEPTH
_ID_PATTERN = re.compile(r"^[^\s\x00-\x1f]{1,64}$")


@dataclass(frozen=True)
class Joint:
    """A named point of the skeleton at its rest position."""

    id: str
    xy: tuple[float, float]

    def __post_init__(self) -> None:
        if (
            isinstance(self.xy, tuple | list | np.ndarray)
            and len(self.xy) == 2
            and all(isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in self.xy)
        ):
            object.__setattr__(self, "xy", (float(self.xy[0]), float(self.xy[1])))


@dataclass(frozen=True)
class Bone:
    """A named segment joining joint `a` to joint `b`; `a` is the bone's root end.

    `depth` is the draw order of the bone's part where parts overlap: higher draws in front; equal
    depths keep the rig's order (later bones in front).
    """

    id: str
    a: str
    b: str
    depth: int = 0


@dataclass(frozen=True)
class Rig:
    """A skeleton: joints and the bones between them, validated on construction."""

    joints: tuple[Joint, ...] = ()
    bones: tuple[Bone, ...] = ()

    def __post_init__(self) -> None:
        validate_rig(self.joints, self.bones)

    # -- look-ups -------------------------------------------------------------------------------
    @property
    def joint_ids(self) -> tuple[str, ...]:
        return tuple(j.id for j in self.joints)

    @property
    def bone_ids(self) -> tuple[str, ...]:
        return tuple(b.id for b in self.bones)

    def joint_index(self, joint_id: str) -> int:
        """Position of `joint_id` in `joints` (KeyError if absent)."""
        for i, joint in enumerate(self.joints):
            if joint.id == joint_id:
                return i
        raise KeyError(joint_id)

    def joint(self, joint_id: str) -> Joint:
        return self.joints[self.joint_index(joint_id)]

    def rest_xy(self) -> np.ndarray:
        """Rest positions, (J, 2) float64."""
        return np.array([j.xy for j in self.joints], dtype=np.float64).reshape(-1, 2)

    def bone_joint_indices(self) -> np.ndarray:
        """For each bone the indices of its two joints, (B, 2) int."""
        index = {j.id: i for i, j in enumerate(self.joints)}
        return np.array([(index[b.a], index[b.b]) for b in self.bones], dtype=np.int64).reshape(-1, 2)

    def neighbours(self, joint_id: str) -> list[str]:
        """Joints sharing a bone with `joint_id`."""
        out = []
        for b in self.bones:
            if b.a == joint_id:
                out.append(b.b)
            elif b.b == joint_id:
                out.append(b.a)
        return out

    def components(self) -> list[set[str]]:
        """Connected groups of joints (one per separate subject)."""
        parent = {j.id: j.id for j in self.joints}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for b in self.bones:
            parent[find(b.a)] = find(b.b)
        groups: dict[str, set[str]] = {}
        for j in self.joints:
            groups.setdefault(find(j.id), set()).add(j.id)
        return list(groups.values())

    # -- edits (each returns a new rig) -------------------------------------------------------
    def with_joint(self, joint_id: str, xy: tuple[float, float]) -> Rig:
        """This rig plus a new joint."""
        return replace(self, joints=(*self.joints, Joint(joint_id, _xy(xy))))

    def with_bone(self, bone_id: str, a: str, b: str) -> Rig:
        """This rig plus a new bone from `a` to `b`."""
        return replace(self, bones=(*self.bones, Bone(bone_id, a, b)))

    def with_joints_moved(self, moves: dict[str, tuple[float, float]]) -> Rig:
        """This rig with the rest positions of some joints replaced."""
        return replace(self, joints=tuple(Joint(j.id, _xy(moves[j.id])) if j.id in moves else j for j in self.joints))

    def without(self, joint_ids: Iterable[str] = (), bone_ids: Iterable[str] = ()) -> Rig:
        """This rig less some joints (and every bone touching them) and some bones."""
        gone_joints, gone_bones = set(joint_ids), set(bone_ids)
        return Rig(
            tuple(j for j in self.joints if j.id not in gone_joints),
            tuple(
                b for b in self.bones if b.id not in gone_bones and b.a not in gone_joints and b.b not in gone_joints
            ),
        )

    def renamed_joint(self, old: str, new: str) -> Rig:
        """This rig with joint `old` called `new`, bones following."""

        def ren(x: str) -> str:
            return new if x == old else x

        return Rig(
            tuple(Joint(ren(j.id), j.xy) for j in self.joints),
            tuple(replace(b, a=ren(b.a), b=ren(b.b)) for b in self.bones),
        )

    def renamed_bone(self, old: str, new: str) -> Rig:
        return replace(self, bones=tuple(replace(b, id=new) if b.id == old else b for b in self.bones))

    def with_bone_depth(self, bone_id: str, depth: int) -> Rig:
        """This rig with bone `bone_id` drawn at `depth` (higher in front)."""
        return replace(self, bones=tuple(replace(b, depth=int(depth)) if b.id == bone_id else b for b in self.bones))

    def transformed(self, matrix: np.ndarray) -> Rig:
        """This rig with every rest position mapped by a 2x3 affine matrix."""
        xy = self.rest_xy()
        moved = xy @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]
        return replace(self, joints=tuple(Joint(j.id, _xy(p)) for j, p in zip(self.joints, moved, strict=True)))

    def free_joint_id(self, stem: str = "joint") -> str:
        """A joint id not yet used, `stem1`, `stem2`, ..."""
        return _free_id(stem, set(self.joint_ids))

    def free_bone_id(self, stem: str = "bone") -> str:
        return _free_id(stem, set(self.bone_ids))


def _free_id(stem: str, used: set[str]) -> str:
    n = 1
    while f"{stem}{n}" in used:
        n += 1
    return f"{stem}{n}"


def _xy(value) -> tuple[float, float]:
    return (float(value[0]), float(value[1]))


def validate_rig(joints: tuple[Joint, ...], bones: tuple[Bone, ...]) -> None:
    """Raise ProjectError (key under `rig`) for duplicate or bad ids, bad coordinates, dangling bones."""
    joint_ids = _check_ids("joint", [j.id for j in joints])
    for i, joint in enumerate(joints):
        if not all(isinstance(v, float) and math.isfinite(v) for v in joint.xy):
            raise ProjectError(f"coordinates of joint {joint.id!r} must be finite numbers", key=f"rig.joints[{i}].xy")
    _check_ids("bone", [b.id for b in bones])
    for i, bone in enumerate(bones):
        for end in ("a", "b"):
            if getattr(bone, end) not in joint_ids:
                raise ProjectError(
                    f"bone {bone.id!r} names unknown joint {getattr(bone, end)!r}", key=f"rig.bones[{i}].{end}"
                )
        if not isinstance(bone.depth, int) or isinstance(bone.depth, bool) or abs(bone.depth) > MAX_DEPTH:
            raise ProjectError(
                f"depth of bone {bone.id!r} must be a whole number from -{MAX_DEPTH} to {MAX_DEPTH}",
                key=f"rig.bones[{i}].depth",
            )
        if bone.a == bone.b:
            raise ProjectError(f"bone {bone.id!r} joins joint {bone.a!r} to itself", key=f"rig.bones[{i}]")


def _check_ids(kind: str, ids: list[str]) -> set[str]:
    """The ids as a set; ProjectError at `rig.<kind>s[i].id` for a malformed or repeated one."""
    seen: set[str] = set()
    for i, item in enumerate(ids):
        key = f"rig.{kind}s[{i}].id"
        if not isinstance(item, str) or not _ID_PATTERN.match(item):
            raise ProjectError(f"{kind} id {item!r} must be 1-64 characters without spaces", key=key)
        if item in seen:
            raise ProjectError(f"duplicate {kind} id {item!r}", key=key)
        seen.add(item)
    return seen
