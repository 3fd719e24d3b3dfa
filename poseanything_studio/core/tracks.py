"""Keyframe tracks and their interpolation: step, linear and smooth.

`interp` on a key says how the value leaves that key, up to the next one.

Smooth is a cubic Hermite curve with monotone (Fritsch-Carlson) tangents, computed per component:
it passes through every key, never overshoots between two keys (a value between two keys stays
between their values), and eases in and out at the first and last key (tangent zero there). We chose
it over Catmull-Rom, which overshoots on uneven spacing, and over Bezier handles, which a v1 file
has no room for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from .errors import ProjectError

INTERPOLATIONS = ("step", "linear", "smooth")


@dataclass(frozen=True)
class Key:
    """One keyframe: a value (any number of components) at a frame, and how it leaves."""

    frame: int
    value: tuple[float, ...]
    interp: str = "smooth"

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _floats(self.value))
        if self.interp not in INTERPOLATIONS:
            raise ProjectError(f"unknown interpolation {self.interp!r} (use step, linear or smooth)", key="interp")
        if not isinstance(self.frame, int) or isinstance(self.frame, bool) or self.frame < 0:
            raise ProjectError(f"frame {self.frame!r} must be a whole number >= 0", key="frame")
        if not all(isinstance(v, float) and math.isfinite(v) for v in self.value):
            raise ProjectError(f"value {self.value!r} must be finite numbers", key="value")


def _floats(values) -> tuple:
    """`values` as a tuple of floats where each is a real number (ints too); other items left for the check."""
    return tuple(
        float(v)
        if isinstance(v, int | float | np.floating | np.integer) and not isinstance(v, bool) and -1e308 < v < 1e308
        else v
        for v in values
    )


@dataclass(frozen=True)
class Track:
    """Keys sorted by frame, at most one per frame."""

    keys: tuple[Key, ...] = ()

    def __post_init__(self) -> None:
        keys = tuple(sorted(self.keys, key=lambda k: k.frame))
        frames = [k.frame for k in keys]
        if len(set(frames)) != len(frames):
            dup = next(f for f in frames if frames.count(f) > 1)
            raise ProjectError(f"two keys at frame {dup}", key="frame")
        if len({len(k.value) for k in keys}) > 1:
            raise ProjectError("keys of one track must have the same number of values", key="value")
        object.__setattr__(self, "keys", keys)

    def __bool__(self) -> bool:
        return bool(self.keys)

    # Derived once per track (a Track never changes; an edit makes a new one): sampling reads these every frame,
    # and during a drag most tracks are the same objects from one move to the next.
    @cached_property
    def frames(self) -> tuple[int, ...]:
        return tuple(k.frame for k in self.keys)

    @cached_property
    def times(self) -> np.ndarray:
        """The key frames as float64 (K,), read-only."""
        return _read_only(np.array(self.frames, dtype=np.float64))

    @cached_property
    def values(self) -> np.ndarray:
        """The key values (K, D) float64, read-only."""
        return _read_only(np.array([k.value for k in self.keys], dtype=np.float64))

    @cached_property
    def interps(self) -> tuple[str, ...]:
        return tuple(k.interp for k in self.keys)

    @cached_property
    def still(self) -> bool:
        """Whether every key holds the same value (to 1e-6): a joint keyed so stays put."""
        return bool(np.ptp(self.values, axis=0).max() < 1e-6) if self.keys else True

    def key_at(self, frame: int) -> Key | None:
        return next((k for k in self.keys if k.frame == frame), None)

    def with_key(self, key: Key) -> Track:
        """This track with `key` added, replacing any key at the same frame."""
        return Track((*[k for k in self.keys if k.frame != key.frame], key))

    def without_key(self, frame: int) -> Track:
        return Track(tuple(k for k in self.keys if k.frame != frame))

    def with_key_moved(self, old_frame: int, new_frame: int) -> Track:
        """This track with the key at `old_frame` moved to `new_frame` (replacing what was there)."""
        key = self.key_at(old_frame)
        if key is None:
            return self
        return self.without_key(old_frame).with_key(replace(key, frame=new_frame))

    def sample(self, frames: Sequence[float] | np.ndarray) -> np.ndarray:
        """Values at `frames` (may be fractional), (N, D). Held constant before the first key and after the last."""
        return sample_keys(self.keys, np.asarray(frames, dtype=np.float64))


def sample_keys(keys: Sequence[Key], t: np.ndarray) -> np.ndarray:
    """Evaluate sorted keys at times `t` (N,), giving (N, D)."""
    if not keys:
        raise ValueError("cannot sample a track with no keys")
    times = np.array([k.frame for k in keys], dtype=np.float64)
    values = np.array([k.value for k in keys], dtype=np.float64)  # (K, D)
    return sample_values(times, values, [k.interp for k in keys], t)


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def sample_values(times: np.ndarray, values: np.ndarray, interps: Sequence[str], t: np.ndarray) -> np.ndarray:
    """Keys given as arrays (sorted `times` (K,), `values` (K, D), one interpolation name per key) at times `t`.

    The same rules as `sample_keys`, for values that are not a file's keys (a bone's angle and length).
    """
    t = np.asarray(t, dtype=np.float64)
    out = np.empty((t.size, values.shape[1]))
    if len(times) == 1:
        out[:] = values[0]
        return out
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)  # (N,)
    t0, t1 = times[seg], times[seg + 1]
    u = np.clip((t - t0) / (t1 - t0), 0.0, 1.0)[:, None]  # (N, 1)
    v0, v1 = values[seg], values[seg + 1]
    used = set(interps[:-1])  # a key's interpolation leads to the next key: the last one's is never used
    if used == {"step"}:  # one kind (the common case): only its curve, the same numbers as the mix below
        out = v0
    elif used == {"linear"}:
        out = v0 + (v1 - v0) * u
    else:
        smooth = _hermite(times, values, seg, u, v0, v1)
        if used == {"smooth"}:
            out = smooth
        else:
            linear = v0 + (v1 - v0) * u
            kinds = np.array([INTERPOLATIONS.index(i) for i in interps])[seg]  # 0 step, 1 linear, 2 smooth
            out = np.where((kinds == 0)[:, None], v0, np.where((kinds == 1)[:, None], linear, smooth))
    out[t <= times[0]] = values[0]
    out[t >= times[-1]] = values[-1]
    return out


def _hermite(
    times: np.ndarray, values: np.ndarray, seg: np.ndarray, u: np.ndarray, v0: np.ndarray, v1: np.ndarray
) -> np.ndarray:
    """The smooth curve: cubic Hermite with monotone tangents over each time's segment `seg` at fraction `u`."""
    tangents = _monotone_tangents(times, values)  # (K, D)
    h = (times[seg + 1] - times[seg])[:, None]
    h00, h10 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u
    h01, h11 = -2 * u**3 + 3 * u**2, u**3 - u**2
    return h00 * v0 + h10 * h * tangents[seg] + h01 * v1 + h11 * h * tangents[seg + 1]


def _monotone_tangents(times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson tangents: zero at the ends and at local extrema, harmonic mean of secants elsewhere."""
    secants = np.diff(values, axis=0) / np.diff(times)[:, None]  # (K-1, D)
    tangents = np.zeros_like(values)
    left, right = secants[:-1], secants[1:]
    same_sign = (left * right) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        harmonic = 2.0 / (1.0 / np.where(same_sign, left, 1.0) + 1.0 / np.where(same_sign, right, 1.0))
    tangents[1:-1] = np.where(same_sign, harmonic, 0.0)
    return tangents


def looped_times(t: np.ndarray, loop: tuple[int, int] | None) -> np.ndarray:
    """Times with a loop applied: from `end` on, time runs again from `start` (period end - start)."""
    t = np.asarray(t, dtype=np.float64)
    if loop is None:
        return t
    start, end = loop
    return np.where(t >= end, start + np.mod(t - start, end - start), t)


def closed_loop(
    times: np.ndarray, values: np.ndarray, interps: Sequence[str], loop: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Keys as arrays, cut at the loop's end and closed by a key there holding the value at its start.

    Keys at or past `end` are not played (they stay in the file); the closing key makes the pose at `end`
    the pose at `start`, so a loop has no seam and frame `end` (never shown twice) equals frame `start`.
    """
    interps = list(interps)
    if loop is None:
        return times, values, interps
    start, end = loop
    keep = times < end
    if not keep.any():
        return times, values, interps
    times, values = times[keep], values[keep]
    interps = [i for i, k in zip(interps, keep, strict=True) if k]
    at_start = sample_values(times, values, interps, np.array([float(start)]))
    return np.append(times, float(end)), np.vstack([values, at_start]), [*interps, interps[-1]]
