"""Sampled motion (a position per frame for some joints) as the fewest keys that reproduce it.

Every importer (mocap, OpenPose JSON, pose images, a tracked video, presets) ends here: the per-frame
positions become linear keys chosen by Ramer-Douglas-Peucker in time, and the result is checked through the
project's own sampling (`Project.joint_positions`, whatever interpolation the project uses) with keys added
where a frame is still further off than the tolerance. Keys outside the imported range stay as they were.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from .project import Project
from .tracks import Key, Track

DEFAULT_TOLERANCE = 0.5  # pixels of the reference picture
BONE_TOLERANCE = 0.005  # a bone's length between keys may differ from the motion's by half a percent
MAX_PASSES = 12


def reduce_keys(samples: np.ndarray, tolerance: float) -> list[int]:
    """Indices of the samples ([N, D]) to key so that linear interpolation stays within `tolerance` everywhere."""
    n = samples.shape[0]
    if n <= 2:
        return list(range(n))
    keep = {0, n - 1}
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        u = (np.arange(a + 1, b) - a) / (b - a)
        line = samples[a] + (samples[b] - samples[a]) * u[:, None]
        error = np.linalg.norm(samples[a + 1 : b] - line, axis=1)
        worst = int(np.argmax(error))
        if error[worst] > tolerance:
            mid = a + 1 + worst
            keep.add(mid)
            stack += [(a, mid), (mid, b)]
    return sorted(keep)


def apply_motion(
    project: Project, motion: Mapping[str, np.ndarray], start: int = 0, tolerance: float = DEFAULT_TOLERANCE
) -> Project:
    """`project` with each joint of `motion` ([N, 2] pixels, frame `start` onward) keyed to follow it.

    Keys of those joints inside [start, start + N) are replaced; keys elsewhere, and other joints, stay. The
    keys are linear; where the project's own sampling still misses a frame by more than `tolerance`, that
    frame is keyed too (a few passes), so the result holds the tolerance under rotation interpolation as well.
    """
    motion = {j: np.asarray(m, dtype=float) for j, m in motion.items() if j in project.rig.joint_ids}
    if not motion:
        return project
    n = next(iter(motion.values())).shape[0]
    chosen: dict[str, set[int]] = {j: set(reduce_keys(m, tolerance)) for j, m in motion.items()}
    result = project
    for _ in range(MAX_PASSES):
        result = _with_keys(project, motion, chosen, start)
        sampled = result.joint_positions(max(result.frames, start + n))
        worse = False
        for joint, m in motion.items():
            j = result.rig.joint_index(joint)
            error = np.linalg.norm(sampled[start : start + n, j] - m, axis=1)
            bad = np.flatnonzero(error > tolerance)
            if bad.size:
                worse = True
                chosen[joint].add(int(bad[np.argmax(error[bad])]))
        worse |= _key_stretched_bones(result, motion, sampled[start : start + n], chosen)
        if not worse:
            break
    return result


def _key_stretched_bones(
    project: Project, motion: Mapping[str, np.ndarray], sampled: np.ndarray, chosen: Mapping[str, set[int]]
) -> bool:
    """Key the frames where a bone between keys is off its length in `motion` by more than BONE_TOLERANCE of
    it, at both ends; True if any was keyed. A short bone can stretch by a larger share than a position
    tolerance shows (under position interpolation a turning bone shortens between keys)."""
    rig = project.rig
    keyed = False
    for bone in rig.bones:
        if bone.a not in motion and bone.b not in motion:
            continue
        a, b = sampled[:, rig.joint_index(bone.a)], sampled[:, rig.joint_index(bone.b)]
        want = np.linalg.norm(motion.get(bone.b, b) - motion.get(bone.a, a), axis=1)
        error = np.abs(np.linalg.norm(b - a, axis=1) - want) / np.maximum(want, 1e-6)
        bad = np.flatnonzero(error > BONE_TOLERANCE)
        if bad.size:
            for end in (bone.a, bone.b):
                if end in chosen:
                    chosen[end].update(int(f) for f in bad)
            keyed = True
    return keyed


def _with_keys(
    project: Project, motion: Mapping[str, np.ndarray], chosen: Mapping[str, set[int]], start: int
) -> Project:
    tracks = dict(project.tracks)
    for joint, m in motion.items():
        end = start + m.shape[0]
        kept = [k for k in (tracks[joint].keys if joint in tracks else ()) if not start <= k.frame < end]
        new = [Key(start + i, (float(m[i, 0]), float(m[i, 1])), "linear") for i in sorted(chosen[joint])]
        tracks[joint] = Track(tuple(sorted(kept + new, key=lambda k: k.frame)))
    return replace(project, tracks=tracks)
