"""A rig's joints tracked through a reference video, for any subject.

The user places the rig on one frame of the video; each joint is followed frame to frame by OpenCV's
pyramidal Lucas-Kanade optical flow with a forward-backward check (a point tracked forward and back again
must land where it started), on a small window around the joint. After every frame the rig's hierarchy
puts each bone back to its length (a joint keeps the direction the flow gave it from its parent), and a joint
the flow lost is carried by its parent at its last direction until it is found again. Corrections (a joint
placed by hand at some frame) restart the tracking from there. The result is per-frame positions in video
pixels and, per joint, the frames where it was lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from .mocap import tree_parents
from .rig import Rig

FB_LIMIT = 1.5  # pixels a point may miss its start by after tracking forward and back
WINDOW = 21  # Lucas-Kanade window, pixels
LEVELS = 3


@dataclass(frozen=True)
class TrackResult:
    """Joint positions over a video ([T, J, 2] video pixels) and, per joint, the frames where it was lost."""

    positions: np.ndarray
    lost: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def lost_summary(self) -> str:
        if not self.lost:
            return "every joint tracked in every frame"
        parts = [f"{joint} ({len(frames)} frames from {frames[0]})" for joint, frames in self.lost.items()]
        return "lost: " + ", ".join(parts)


def track_rig(
    frames: np.ndarray | list[np.ndarray],
    rig: Rig,
    placed: np.ndarray,
    start: int = 0,
    corrections: Mapping[int, Mapping[str, tuple[float, float]]] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> TrackResult:
    """Track `rig` placed at `placed` ([J, 2]) on frame `start` through `frames` ([T, H, W, 3] uint8), both ways.

    `corrections` maps a frame to joints placed by hand there: tracking passes through them as through the
    start. Runs to the end; for progress and cancel use `track_rig_steps`.
    """
    result = None
    for result in track_rig_steps(frames, rig, placed, start, corrections, cancelled):
        if isinstance(result, TrackResult):
            break
    assert isinstance(result, TrackResult)
    return result


def track_rig_steps(
    frames,
    rig: Rig,
    placed: np.ndarray,
    start: int = 0,
    corrections: Mapping[int, Mapping[str, tuple[float, float]]] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[int | TrackResult]:
    """A generator: yields the number of frames done after each one, then the TrackResult (stops early when
    `cancelled()` turns true, without a result)."""
    count = len(frames)
    if not 0 <= start < count:
        raise ValueError(f"start frame {start} is outside the video's 0-{count - 1}")
    joints = rig.joint_ids
    corrections = {f: dict(c) for f, c in (corrections or {}).items() if 0 <= f < count}
    parents, order = tree_parents(rig)
    bones = _Bones(joints, parents, placed)
    positions = np.zeros((count, len(joints), 2))
    positions[start] = _corrected(placed, corrections.get(start), joints)
    lost = np.zeros((count, len(joints)), bool)
    grey = _Greys(frames)
    done = 1
    yield done
    for step in (1, -1):
        for f in range(start + step, count if step > 0 else -1, step):
            if cancelled():
                return
            previous = positions[f - step]
            moved, ok = _flow(grey[f - step], grey[f], np.concatenate([previous, bones.inner(previous)]))
            n = len(joints)
            joint_xy, joint_ok = _corrected(moved[:n], corrections.get(f), joints), ok[:n]
            if f in corrections:
                joint_ok = joint_ok | np.isin(np.array(joints), list(corrections[f]))
            positions[f] = bones.hold(
                joint_xy, joint_ok, moved[n:], ok[n:], previous, order, set(corrections.get(f, ()))
            )
            lost[f] = ~(joint_ok | bones.found_inside(ok[n:]))
            done += 1
            yield done
    lost_frames = {
        j: tuple(int(f) for f in np.flatnonzero(lost[:, i])) for i, j in enumerate(joints) if lost[:, i].any()
    }
    yield TrackResult(positions, lost_frames)


INNER = (0.45, 0.7)  # where along each bone (parent 0, joint 1) extra points are tracked


class _Bones:
    """The rig's tree with its lengths, and the points inside each bone that steady its direction.

    A joint at the tip of a limb lies on the silhouette's edge, where half of the flow window is background
    that does not move with it; points inside the bone have the subject all around them.
    """

    def __init__(self, joints: tuple[str, ...], parents: Mapping[str, str | None], placed: np.ndarray):
        self.joints, self.parents = joints, parents
        self.child = [joints.index(j) for j, p in parents.items() if p is not None]
        self.parent = [joints.index(p) for j, p in parents.items() if p is not None]
        self.length = {
            j: float(np.linalg.norm(placed[joints.index(j)] - placed[joints.index(p)]))
            for j, p in parents.items()
            if p is not None
        }

    def inner(self, xy: np.ndarray) -> np.ndarray:
        """[B * len(INNER), 2] the inner points of every bone of `xy`."""
        a, b = xy[self.parent], xy[self.child]
        return np.concatenate([a + (b - a) * u for u in INNER]) if self.child else np.zeros((0, 2))

    def found_inside(self, inner_ok: np.ndarray) -> np.ndarray:
        """[J] whether some inner point of the joint's bone was tracked."""
        found = np.zeros(len(self.joints), bool)
        per = inner_ok.reshape(len(INNER), -1) if self.child else np.zeros((len(INNER), 0), bool)
        for k, joint in enumerate(self.child):
            found[joint] = per[:, k].any()
        return found

    def hold(
        self,
        joint_xy: np.ndarray,
        joint_ok: np.ndarray,
        inner_xy: np.ndarray,
        inner_ok: np.ndarray,
        previous: np.ndarray,
        order: list[str],
        placed_by_hand: set[str],
    ) -> np.ndarray:
        """Tracked points put back on the rig: every bone at its length, pointing where its tracked points are
        (the joint and the points inside the bone, averaged), or where it pointed before when none was found."""
        out = joint_xy.copy()
        inner_xy = inner_xy.reshape(len(INNER), -1, 2) if self.child else inner_xy
        inner_ok = inner_ok.reshape(len(INNER), -1) if self.child else inner_ok
        slot = {joint: k for k, joint in enumerate(self.child)}
        for name in order:
            i = self.joints.index(name)
            parent = self.parents[name]
            if parent is None:
                if not joint_ok[i]:  # a lost root moves as the joints that were found did
                    found = joint_ok
                    out[i] = previous[i] + (np.median(joint_xy[found] - previous[found], axis=0) if found.any() else 0)
                continue
            p = self.joints.index(parent)
            if name in placed_by_hand:
                continue
            k = slot[i]
            candidates = [(joint_xy[i], 1.0)] if joint_ok[i] else []
            candidates += [(inner_xy[m, k], u) for m, u in enumerate(INNER) if inner_ok[m, k]]
            units = [
                (xy - out[p]) / max(float(np.linalg.norm(xy - out[p])), 1e-9)
                for xy, _ in candidates
                if np.linalg.norm(xy - out[p]) > 1e-6
            ]
            direction = np.mean(units, axis=0) if units else previous[i] - previous[p]
            norm = float(np.linalg.norm(direction)) or 1.0
            out[i] = out[p] + direction / norm * self.length[name]
        return out


class _Greys:
    """Grey versions of video frames, made when first asked for and kept (each is read twice)."""

    def __init__(self, frames):
        self.frames, self.cache = frames, {}

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self.cache:
            frame = np.asarray(self.frames[index])
            self.cache[index] = cv2.cvtColor(frame[..., :3], cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
            if len(self.cache) > 4:
                self.cache.pop(next(iter(self.cache)))
        return self.cache[index]


def _flow(a: np.ndarray, b: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points of frame a in frame b, and which passed the forward-backward check."""
    p0 = points.astype(np.float32).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)

    def track(src: np.ndarray, dst: np.ndarray, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # nextPts is an output here (no OPTFLOW_USE_INITIAL_FLOW): a buffer of the right shape, its values unread
        moved, status, _ = cv2.calcOpticalFlowPyrLK(
            src, dst, start, np.empty_like(start), winSize=(WINDOW, WINDOW), maxLevel=LEVELS, criteria=criteria
        )
        return np.asarray(moved), np.asarray(status)

    p1, st1 = track(a, b, p0)
    back, st2 = track(b, a, p1)
    error = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
    h, w = a.shape[:2]
    inside = (p1[:, 0, 0] >= 0) & (p1[:, 0, 0] < w) & (p1[:, 0, 1] >= 0) & (p1[:, 0, 1] < h)
    ok = (st1[:, 0] == 1) & (st2[:, 0] == 1) & (error < FB_LIMIT) & inside
    return p1.reshape(-1, 2).astype(float), ok


def _corrected(
    points: np.ndarray, correction: Mapping[str, tuple[float, float]] | None, joints: tuple[str, ...]
) -> np.ndarray:
    if not correction:
        return points
    out = points.copy()
    for joint, xy in correction.items():
        if joint in joints:
            out[joints.index(joint)] = xy
    return out


def tracked_clip(result: TrackResult, rig: Rig, fps: float, source: str = "<video>"):
    """(the tracked positions as a 2D MotionClip, mapping rig joint -> itself) for `core.mocap.import_clip`,
    which retargets them onto the picture's rig by bone direction at the picture rig's lengths."""
    from .mocap import MotionClip

    xy = result.positions
    positions = np.concatenate([xy[..., :1], -xy[..., 1:], np.zeros_like(xy[..., :1])], axis=-1)  # y up
    clip = MotionClip(rig.joint_ids, tuple(-1 for _ in rig.joint_ids), positions, float(fps), source)
    return clip, {j: j for j in rig.joint_ids}
