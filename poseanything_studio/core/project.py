"""The project document (`*.pasproj`, JSON, version 1): load, validate, save.

A `Project` is immutable; edits make a new one with `dataclasses.replace`. Unknown keys at the top
level, in `rig` and in `render` are kept and written back on save. Every problem in a file becomes
one `ProjectError` naming the file and the key.
"""

from __future__ import annotations

import json
import math
import os
import weakref
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from .camera import CameraKey, CameraPath
from .errors import ProjectError
from .fileio import atomic_write_bytes
from .images import ImageReadError, cover_matrix, fit_to_size, read_mask, read_rgba
from .kinematics import Hierarchy, RotationSample, anchored_roots, hierarchy, rotation_sample, sample_rotation
from .modes import Init, Renderer, values
from .rig import Bone, Joint, Rig
from .tracks import Key, Track, closed_loop, looped_times, sample_values

FORMAT = "poseanything-project"
VERSION = 1
RENDERERS = values(Renderer)
INITS = values(Init)
# -- limits ------------------------------------------------------------------------------------------
# Every bound of the format, one constant each: load_project refuses a file past one, save_project refuses to
# write one (the same check, the same line), and the window refuses an edit that would pass one
# (check_limits). docs/project-limits.md lists them for users.
MAX_FRAMES = 2401  # 100 s at 24 fps
MAX_SIDE = 4096
FPS_RANGE = (1, 240)
MAX_COORD = 1e6  # pixels: joint positions and pans beyond this are typos, and overflow the rasteriser
MAX_JOINTS = 500  # joints per rig (a detailed hand-and-face rig has ~150); each costs mesh pins and part masks
MAX_BONES = 2 * MAX_JOINTS
MAX_KEYS = 10_000  # keys in one track or in the camera path
MAX_TOTAL_KEYS = 200_000  # keys of all tracks and the camera together: ~25 MB of file, well under MAX_PROJECT_BYTES
MAX_KEY_FRAME = 100_000  # a key's frame number (keys may sit past the last frame, but not absurdly far)
MAX_ID_CHARS = 200  # characters of a joint or bone id
MAX_INTERP_CHARS = 20  # characters of a key's interp (the valid ones are step, linear and smooth)
MAX_PROMPT_CHARS = 10_000  # characters of a prompt or negative prompt (the text encoder reads ~2,000 at most)
STEPS_RANGE = (1, 1000)
GUIDANCE_RANGE = (0, 50)
MAX_SEED = 2**63 - 1
MAX_RENDER_PIXELS = MAX_FRAMES * 1920 * 1088  # frames x width x height of one render: 100 s of 1080p
MAX_PROJECT_BYTES = 64 * 2**20  # a project file (the examples are 10-30 KB)
MAX_NAME_BYTES = 255  # bytes of one path component (what common file systems allow)
INTERPOLATION_MODES = ("rotation", "position")  # between keys: bones turn about their parents, or joints slide


@dataclass(frozen=True)
class RenderSettings:
    """What the `render` section asks of a renderer."""

    renderer: Renderer = Renderer.PUPPET
    prompt: str = ""
    negative_prompt: str = ""
    steps: int = 30
    guidance: float = 5.0
    seed: int = 0
    model_dir: str | None = None
    checkpoint: str | None = None  # PoseAnything checkpoint; None: poseanything.safetensors in model_dir if there
    init: Init = Init.AUTO  # neural start: noise, puppet (refine the puppet render), auto (puppet without checkpoint)
    strength: float = 0.4  # how much of the schedule a puppet refinement re-runs, (0, 1]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


class _PerValue:
    """One derived value per live object, found by identity (a Project holds dicts, so it has no hash), dropped
    with the object; outside the object, so its fields (and `Project(**p.__dict__)`) stay as they are."""

    def __init__(self):
        self._items: dict[int, tuple[weakref.ref, Any]] = {}

    def get(self, owner: Any, make) -> Any:
        key = id(owner)
        item = self._items.get(key)
        if item is not None and item[0]() is owner:
            return item[1]
        value = make()

        def forget(_ref: weakref.ref, key: int = key) -> None:
            self._items.pop(key, None)

        self._items[key] = (weakref.ref(owner, forget), value)
        return value


_HIERARCHIES = _PerValue()
_RIG_HIERARCHIES = _PerValue()  # per rig object: {(roots, still joints): Hierarchy}, a drag's moves share the rig


def _rig_hierarchy(rig: Rig, roots: tuple[str, ...], still: frozenset[str]) -> Hierarchy:
    """The hierarchy for `rig` with these chosen roots and still joints, worked out once per rig object and both."""
    known = _RIG_HIERARCHIES.get(rig, dict)
    if (roots, still) not in known:
        known[(roots, still)] = hierarchy(rig, (*roots, *anchored_roots(rig, still)))
    return known[(roots, still)]


@dataclass(frozen=True)
class Project:
    """Everything a render needs, as one immutable value."""

    image: str
    rig: Rig
    subject_mask: str | None = None
    fps: float = 24
    frames: int = 49
    size: tuple[int, int] = (832, 480)
    tracks: dict[str, Track] = field(default_factory=dict)
    camera: CameraPath = CameraPath()
    render: RenderSettings = RenderSettings()
    roots: tuple[str, ...] = ()  # joints the user made roots of their subjects (else each subject's centre)
    pins: tuple[str, ...] = ()  # joints that stay put while posing (a planted foot)
    interpolation: str = "rotation"  # or "position": each joint's x and y interpolated on their own
    loop: tuple[int, int] | None = None  # (start, end): from `end` on, the keys from `start` play again
    path: Path | None = field(default=None, compare=False)
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    rig_extra: dict[str, Any] = field(default_factory=dict, compare=False)

    # -- files next to the project ------------------------------------------------------------
    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    @property
    def source(self) -> str:
        return str(self.path) if self.path else "<project>"

    def resolve(self, relative: str) -> Path:
        """A path from the file, relative to the project's folder."""
        return (self.base_dir / relative).resolve()

    def model_dir_path(self) -> str | None:
        """`render.model_dir` as an absolute path: a relative one is read against the project's folder."""
        if self.render.model_dir is None:
            return None
        return str(self.resolve(str(Path(self.render.model_dir).expanduser())))

    def read_image(self) -> np.ndarray:
        """The reference picture, (h, w, 4) RGBA uint8, at its own size."""
        try:
            return read_rgba(self.resolve(self.image))
        except ImageReadError as err:
            raise ProjectError(str(err), source=self.source, key="image") from None

    def read_subject_mask(self) -> np.ndarray | None:
        """The `subject_mask` file as (h, w) bool at the reference picture's size, or None."""
        if self.subject_mask is None:
            return None
        try:
            return read_mask(self.resolve(self.subject_mask))
        except ImageReadError as err:
            raise ProjectError(str(err), source=self.source, key="subject_mask") from None

    # -- animation ----------------------------------------------------------------------------
    def joint_positions(self, frames: int | None = None) -> np.ndarray:
        """Every joint at every frame in reference-image pixels, (F, J, 2)."""
        frames = self.frames if frames is None else frames
        return self.positions_at(np.arange(frames))

    def positions_at(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """Every joint at `times` (frames, may be fractional), (N, J, 2), by the project's interpolation and loop.

        Rotation (the default): each joint follows its bone's angle and length against its parent (see
        `kinematics.sample_rotation`); position: each joint's x and y interpolated on their own.
        """
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        rest = self.rig.rest_xy()
        tracks = self._joint_tracks()
        if self.interpolation == "rotation":
            return sample_rotation(self.hierarchy(), rest, tracks, t, self.loop)
        out = np.repeat(rest[None], t.size, axis=0)
        played = looped_times(t, self.loop)
        groups: dict[tuple, list[int]] = {}  # joints keyed at the same frames alike: sampled as one curve
        for j, joint_id in enumerate(self.rig.joint_ids):
            track = tracks.get(joint_id)
            if track:
                groups.setdefault((track.frames, track.interps), []).append(j)
        for (frames, interps), joints in groups.items():
            values = np.hstack([tracks[self.rig.joint_ids[j]].values for j in joints])
            sampled = sample_values(*closed_loop(np.array(frames, float), values, list(interps), self.loop), played)
            out[:, joints] = sampled.reshape(t.size, len(joints), 2)
        return out

    def pose_sample(
        self, frame: float, previous: RotationSample | None = None
    ) -> tuple[np.ndarray, RotationSample | None]:
        """Every joint at one frame (J, 2), as `positions_at`, and the work a next call may reuse (None for position
        interpolation): given `previous` from a call on an earlier value, joints whose keys, and whose ancestors'
        keys, did not change are copied from it; a drag's every move re-keys a few joints and samples the frame."""
        if self.interpolation != "rotation":
            return self.positions_at([frame])[0], None
        t = np.array([float(frame)])
        sample = rotation_sample(self.hierarchy(), self.rig.rest_xy(), self._joint_tracks(), t, self.loop, previous)
        return sample.positions[0], sample

    def _joint_tracks(self) -> dict[str, Track]:
        """The tracks that key a joint of the rig (and hold keys)."""
        ids = set(self.rig.joint_ids)
        return {j: tr for j, tr in self.tracks.items() if tr and j in ids}

    def hierarchy(self) -> Hierarchy:
        """The rig's roots and parents: the user's roots, else per subject its most central joint that never moves
        (no track, or keys all alike), else its most central joint.

        Kept on this value once worked out (a Project never changes; an edit is a new one): a drag, the canvas
        and the key writer each ask for it on every mouse move."""
        return _HIERARCHIES.get(
            self, lambda: _rig_hierarchy(self.rig, tuple(self.roots), frozenset(self.still_joints()))
        )

    def still_joints(self) -> set[str]:
        """Joints that stay put through the animation: no track, or every key at the same place."""
        out = set()
        for joint_id in self.rig.joint_ids:
            track = self.tracks.get(joint_id)
            if not track or track.still:
                out.add(joint_id)
        return out

    def with_track(self, joint_id: str, track: Track) -> Project:
        tracks = {k: v for k, v in self.tracks.items() if k != joint_id}
        if track:
            tracks[joint_id] = track
        return replace(self, tracks=tracks)


def rescaled_picture(project: Project, image: str, scale: float, subject_mask: str | None = None) -> Project:
    """`project` on a copy of its picture scaled by `scale`: joints and keys follow, so every frame looks the same.

    Camera pans are output pixels and stay as they are; `subject_mask` replaces the mask path when given.
    """
    matrix = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]])
    tracks = {
        jid: Track(tuple(replace(k, value=tuple(v * scale for v in k.value)) for k in t.keys))
        for jid, t in project.tracks.items()
    }
    return replace(
        project,
        image=image,
        rig=project.rig.transformed(matrix),
        tracks=tracks,
        subject_mask=subject_mask if subject_mask is not None else project.subject_mask,
    )


def reference_to_output(image_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """2x3 affine from reference-image pixels to output pixels (cover, centre-crop)."""
    return cover_matrix(image_size, size)


def fitted_image(project: Project, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The reference picture fitted to the render size and the 2x3 matrix that placed it."""
    size = size or project.size
    rgba = project.read_image()
    matrix = reference_to_output((rgba.shape[1], rgba.shape[0]), size)
    return fit_to_size(rgba, size), matrix


# -- reading ----------------------------------------------------------------------------------------
def load_project(path: str | os.PathLike) -> Project:
    """Read and validate a project file; ProjectError (one line, file and key) for anything wrong."""
    path = Path(path)
    source = str(path)
    if "\0" in source:
        raise ProjectError("a path cannot hold a NUL byte", source=repr(source))
    try:
        if path.exists() and not path.is_dir() and not path.is_file():  # a FIFO or a device: reading could hang
            raise ProjectError("is not a regular file", source=source)
        if path.is_file() and path.stat().st_size > MAX_PROJECT_BYTES:
            raise ProjectError(
                f"is {path.stat().st_size / 2**20:.0f} MB; a project file is at most {MAX_PROJECT_BYTES // 2**20} MB",
                source=source,
            )
        text = path.read_bytes().decode("utf-8-sig")  # a byte-order mark (Windows Notepad) is fine
    except FileNotFoundError:
        raise ProjectError("no such file", source=source) from None
    except IsADirectoryError:
        raise ProjectError("is a folder, not a project file", source=source) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ProjectError(f"cannot read: {getattr(err, 'strerror', None) or err}", source=source) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProjectError(
            f"not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})", source=source
        ) from None
    except RecursionError:
        raise ProjectError("not valid JSON (nested too deeply)", source=source) from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts
        reason = "a number of too many digits" if "digits" in str(err) else str(err)
        raise ProjectError(f"not valid JSON ({reason})", source=source) from None
    try:
        project = project_from_dict(data)
    except ProjectError as err:
        raise err.located(source) from None
    return replace(project, path=path.resolve())


def project_from_dict(data: Any) -> Project:
    """Build a Project from parsed JSON, checking every key."""
    if not isinstance(data, dict):
        raise ProjectError("the file must hold a JSON object")
    if data.get("format") != FORMAT:
        raise ProjectError(f"expected {FORMAT!r}, found {_short(data.get('format'))}", key="format")
    version = data.get("version")
    if not _is_int(version) or version < 1:
        raise ProjectError(f"version {_short(version)} must be a whole number >= 1", key="version")
    if version > VERSION:
        raise ProjectError(
            f"version {version} is newer than this program reads ({VERSION}); update PoseAnything Studio", key="version"
        )
    image = data.get("image")
    if not isinstance(image, str) or not image:
        raise ProjectError("must name the reference picture (a path relative to the project)", key="image")
    check_path_text(image, "image")
    mask = data.get("subject_mask")
    if mask is not None and (not isinstance(mask, str) or not mask):
        raise ProjectError("must be a path or null", key="subject_mask")
    if mask is not None:
        check_path_text(mask, "subject_mask")
    frames = _frames_from(data.get("frames", 49))
    rig = rig_from(data.get("rig"))
    size = parse_size(data.get("size", [832, 480]), key="size")
    check_render_budget(frames, size)
    known = {
        "format",
        "version",
        "image",
        "subject_mask",
        "fps",
        "frames",
        "size",
        "rig",
        "tracks",
        "camera",
        "render",
        "interpolation",
        "loop",
    }
    tracks, camera = _tracks_from(data.get("tracks", {}), rig), _camera_from(data.get("camera", []))
    _check_total_keys(tracks, camera)
    return Project(
        image=image,
        rig=rig,
        subject_mask=mask,
        fps=_fps_from(data.get("fps", 24)),
        frames=frames,
        size=size,
        tracks=tracks,
        camera=camera,
        render=_render_from(data.get("render", {})),
        roots=_joint_list_from(data["rig"].get("roots", []), rig, "rig.roots"),
        pins=_joint_list_from(data["rig"].get("pins", []), rig, "rig.pins"),
        interpolation=_interpolation_from(data.get("interpolation", "rotation")),
        loop=_loop_from(data.get("loop")),
        extra={k: v for k, v in data.items() if k not in known},
        rig_extra={k: v for k, v in data["rig"].items() if k not in ("joints", "bones", "roots", "pins")},
    )


def parse_size(value: Any, key: str = "size") -> tuple[int, int]:
    """[width, height], each a multiple of 32 between 32 and MAX_SIDE."""
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(_is_int(v) for v in value)):
        raise ProjectError(f"{_short(value)} must be [width, height] in whole pixels", key=key)
    w, h = value
    if not (32 <= w <= MAX_SIDE and 32 <= h <= MAX_SIDE) or w % 32 or h % 32:
        raise ProjectError(f"{w}x{h} must be multiples of 32 between 32 and {MAX_SIDE}", key=key)
    return (int(w), int(h))


def check_render_budget(frames: int, size: tuple[int, int], key: str = "frames") -> None:
    """ProjectError when frames x width x height passes MAX_RENDER_PIXELS."""
    if frames * size[0] * size[1] > MAX_RENDER_PIXELS:
        raise ProjectError(
            f"{frames} frames of {size[0]}x{size[1]} is more than one render makes (at most "
            f"{MAX_RENDER_PIXELS / 1e9:.1f} billion pixels, e.g. 2401 frames of 1920x1088): "
            "render fewer frames or a smaller size",
            key=key,
        )


def check_path_text(text: str, key: str) -> None:
    """ProjectError for a path no file system takes: a NUL byte, or a name longer than MAX_NAME_BYTES."""
    if "\0" in text:
        raise ProjectError(f"{_short(text)} holds a NUL byte, which no file name can", key=key)
    try:
        os.fsencode(text)  # what the system would be given: a lone surrogate such as \ud800 has no bytes
    except UnicodeError:
        raise ProjectError(
            f"{_short(text)} holds a character no file name can hold (a lone surrogate)", key=key
        ) from None
    for part in Path(text).parts:
        if len(os.fsencode(part)) > MAX_NAME_BYTES:
            raise ProjectError(f"the name {_short(part)} is longer than {MAX_NAME_BYTES} bytes", key=key)


def _frames_from(value: Any) -> int:
    if not _is_int(value) or not 1 <= value <= MAX_FRAMES or value % 4 != 1:
        raise ProjectError(
            f"{_short(value)} must be 4k+1 frames between 1 and {MAX_FRAMES} (e.g. 49, 81, 121)", key="frames"
        )
    return value


def check_limits(project: Project, since: Project | None = None) -> None:
    """ProjectError (the line load_project would give) when `project` passes a limit of the format.

    For the window, before it accepts an edit: the checks load_project makes that the in-memory types do not
    (counts, ranges, coordinates, text lengths). Tracks and rigs that are the same objects as in `since` (the
    value before the edit) were checked then and are skipped, so an edit costs what it changed.
    """
    if since is None or project.image != since.image or project.subject_mask != since.subject_mask:
        check_path_text(project.image, "image")
        if project.subject_mask is not None:
            check_path_text(project.subject_mask, "subject_mask")
    _frames_from(project.frames)
    _fps_from(project.fps)
    parse_size(list(project.size))
    check_render_budget(project.frames, project.size)
    if since is None or project.rig is not since.rig:
        _check_rig_limits(project.rig)
    old_tracks = since.tracks if since is not None else {}
    joint_ids = set(project.rig.joint_ids)
    for joint_id, track in project.tracks.items():
        if joint_id not in joint_ids:
            raise ProjectError(
                f"names unknown joint {_short(joint_id)}", key=f"tracks.{_short(joint_id, 40).strip(chr(39))}"
            )
        old = old_tracks.get(joint_id)
        if track is not old:  # its keys that are the old track's own objects were checked with it
            checked = {id(k) for k in old.keys} if old is not None else set()
            _check_keys(track.keys, f"tracks.{_short(joint_id, 40).strip(chr(39))}", "keys; a track has", checked)
    if since is None or project.camera is not since.camera:
        _check_count(len(project.camera.keys), MAX_KEYS, "camera", "keys; the camera path has")
        for i, k in enumerate(project.camera.keys):
            _frame_from(k.frame, f"camera[{i}].frame")
            _xy_from(_num_pair(k.pan), f"camera[{i}].pan")
            _roll_from(_num(k.roll), f"camera[{i}].roll")
    _check_total_keys(project.tracks, project.camera)
    if since is None or project.render is not since.render:
        r = project.render
        _check_prompt(r.prompt, "render.prompt")
        _check_prompt(r.negative_prompt, "render.negative_prompt")
        _check_render_values(r.steps, r.guidance, r.seed, r.model_dir, r.checkpoint, r.init, r.strength)


def _check_rig_limits(rig: Rig) -> None:
    _check_count(len(rig.joints), MAX_JOINTS, "rig.joints", "joints; a rig has")
    _check_count(len(rig.bones), MAX_BONES, "rig.bones", "bones; a rig has")
    for i, joint in enumerate(rig.joints):
        _id_from(joint.id, f"rig.joints[{i}].id")
        _xy_from(_num_pair(joint.xy), f"rig.joints[{i}].xy")
    for i, bone in enumerate(rig.bones):
        _id_from(bone.id, f"rig.bones[{i}].id")


def _check_keys(keys: tuple[Key, ...], key: str, what: str, checked: Collection[int] = ()) -> None:
    """The count and each key's frame, value and interpolation, but for the keys whose id() is in `checked`."""
    _check_count(len(keys), MAX_KEYS, key, what)
    for i, k in enumerate(keys):
        if id(k) in checked:
            continue
        _frame_from(k.frame, f"{key}[{i}].frame")
        _xy_from(_num_pair(k.value), f"{key}[{i}].xy")
        _interp_from(k.interp, f"{key}[{i}].interp")


def _fps_from(value: Any) -> float:
    lo, hi = FPS_RANGE
    if not _is_number(value) or not lo <= value <= hi:
        raise ProjectError(f"{_short(value)} must be a number between {lo} and {hi}", key="fps")
    return value


def _check_count(count: int, limit: int, key: str, what: str) -> None:
    """ProjectError at `key` when `count` items pass `limit` ("N joints; a rig has at most 500")."""
    if count > limit:
        noun, _, holder = what.partition(";")
        raise ProjectError(f"{count} {noun};{holder} at most {limit}", key=key)


def _check_total_keys(tracks: dict[str, Track], camera: CameraPath) -> None:
    total = sum(len(t.keys) for t in tracks.values()) + len(camera.keys)
    _check_count(total, MAX_TOTAL_KEYS, "tracks", "keys; tracks and camera together hold")


def rig_from(value: Any) -> Rig:
    """A rig from its JSON object ({joints: [{id, xy}], bones: [{id, a, b, depth?}]}); ProjectError naming the key.

    The one rig reader: project files, rig templates and the dataset's rig.json (model/data.py).
    """
    if not isinstance(value, dict):
        raise ProjectError("must be an object with joints and bones", key="rig")
    joints_raw, bones_raw = value.get("joints", []), value.get("bones", [])
    if not isinstance(joints_raw, list):
        raise ProjectError("must be a list", key="rig.joints")
    if not isinstance(bones_raw, list):
        raise ProjectError("must be a list", key="rig.bones")
    _check_count(len(joints_raw), MAX_JOINTS, "rig.joints", "joints; a rig has")
    _check_count(len(bones_raw), MAX_BONES, "rig.bones", "bones; a rig has")
    joints = []
    for i, item in enumerate(joints_raw):
        key = f"rig.joints[{i}]"
        if not isinstance(item, dict):
            raise ProjectError("must be an object with id and xy", key=key)
        joints.append(Joint(_id_from(item.get("id"), key + ".id"), _xy_from(item.get("xy"), key + ".xy")))
    bones = []
    for i, item in enumerate(bones_raw):
        key = f"rig.bones[{i}]"
        if not isinstance(item, dict):
            raise ProjectError("must be an object with id, a and b", key=key)
        depth = item.get("depth", 0)
        if not _is_int(depth):
            raise ProjectError(
                f"{_short(depth)} must be a whole number (draw order, higher in front)", key=key + ".depth"
            )
        bones.append(
            Bone(
                _id_from(item.get("id"), key + ".id"),
                _id_from(item.get("a"), key + ".a"),
                _id_from(item.get("b"), key + ".b"),
                int(depth),
            )
        )
    return Rig(tuple(joints), tuple(bones))


def _tracks_from(value: Any, rig: Rig) -> dict[str, Track]:
    if not isinstance(value, dict):
        raise ProjectError("must be an object from joint id to a list of keys", key="tracks")
    tracks = {}
    joint_ids = set(rig.joint_ids)
    for joint_id, keys_raw in value.items():
        key = f"tracks.{_short(joint_id, 40).strip(chr(39))}"
        if joint_id not in joint_ids:
            raise ProjectError(f"names unknown joint {_short(joint_id)}", key=key)
        if not isinstance(keys_raw, list):
            raise ProjectError("must be a list of keys", key=key)
        _check_count(len(keys_raw), MAX_KEYS, key, "keys; a track has")
        keys = []
        for i, item in enumerate(keys_raw):
            k = f"{key}[{i}]"
            if not isinstance(item, dict):
                raise ProjectError("must be an object with frame, xy and interp", key=k)
            keys.append(
                _key(
                    lambda item=item, k=k: Key(
                        _frame_from(item.get("frame"), k + ".frame"),
                        _xy_from(item.get("xy"), k + ".xy"),
                        _interp_from(item.get("interp", "smooth"), k + ".interp"),
                    ),
                    k,
                )
            )
        tracks[joint_id] = _key(lambda keys=keys: Track(tuple(keys)), key)
    return tracks


def _joint_list_from(value: Any, rig: Rig, key: str) -> tuple[str, ...]:
    """A list of joint ids of the rig (roots, pins), without repeats."""
    if not isinstance(value, list):
        raise ProjectError("must be a list of joint ids", key=key)
    ids = set(rig.joint_ids)
    for i, item in enumerate(value):
        if item not in ids:
            raise ProjectError(f"names unknown joint {_short(item)}", key=f"{key}[{i}]")
    return tuple(dict.fromkeys(value))


def _interpolation_from(value: Any) -> str:
    if value not in INTERPOLATION_MODES:
        raise ProjectError(
            f'{_short(value)} must be "rotation" (bones turn between keys) or "position"', key="interpolation"
        )
    return value


def _loop_from(value: Any) -> tuple[int, int] | None:
    """null, or {start, end}: whole frames with 0 <= start < end."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProjectError('must be an object {"start": frame, "end": frame} or null', key="loop")
    start = _frame_from(value.get("start"), "loop.start")
    end = _frame_from(value.get("end"), "loop.end")
    if end <= start:
        raise ProjectError(f"end {end} must come after start {start}", key="loop.end")
    return (start, end)


def _camera_from(value: Any) -> CameraPath:
    if not isinstance(value, list):
        raise ProjectError("must be a list of camera keys", key="camera")
    _check_count(len(value), MAX_KEYS, "camera", "keys; the camera path has")
    keys = []
    for i, item in enumerate(value):
        k = f"camera[{i}]"
        if not isinstance(item, dict):
            raise ProjectError("must be an object with frame, pan, zoom, roll and interp", key=k)
        zoom, roll = item.get("zoom", 1.0), item.get("roll", 0.0)
        if not _is_number(zoom) or not zoom > 0:
            raise ProjectError(f"zoom {_short(zoom)} must be a number > 0", key=k + ".zoom")
        _roll_from(roll, k + ".roll")
        keys.append(
            _key(
                lambda item=item, k=k, zoom=zoom, roll=roll: CameraKey(
                    _frame_from(item.get("frame"), k + ".frame"),
                    _xy_from(item.get("pan", [0, 0]), k + ".pan"),
                    float(zoom),
                    float(roll),
                    _interp_from(item.get("interp", "smooth"), k + ".interp"),
                ),
                k,
            )
        )
    return _key(lambda: CameraPath(tuple(keys)), "camera")


def _render_from(value: Any) -> RenderSettings:
    if not isinstance(value, dict):
        raise ProjectError("must be an object", key="render")
    d = RenderSettings()
    renderer = value.get("renderer", d.renderer)
    if renderer not in RENDERERS:
        raise ProjectError(f"unknown renderer {_short(renderer)} (use {' or '.join(RENDERERS)})", key="render.renderer")
    for name in ("prompt", "negative_prompt"):
        _check_prompt(value.get(name, ""), f"render.{name}")
    steps, guidance, seed = value.get("steps", d.steps), value.get("guidance", d.guidance), value.get("seed", d.seed)
    model_dir, checkpoint = value.get("model_dir"), value.get("checkpoint")
    init, strength = value.get("init", d.init), value.get("strength", d.strength)
    _check_render_values(steps, guidance, seed, model_dir, checkpoint, init, strength)
    known = {
        "renderer",
        "prompt",
        "negative_prompt",
        "steps",
        "guidance",
        "seed",
        "model_dir",
        "checkpoint",
        "init",
        "strength",
    }
    return RenderSettings(
        Renderer(renderer),
        value.get("prompt", ""),
        value.get("negative_prompt", ""),
        steps,
        float(guidance),
        seed,
        model_dir,
        checkpoint,
        Init(init),
        float(strength),
        {k: v for k, v in value.items() if k not in known},
    )


def _check_prompt(text: Any, key: str) -> None:
    if not isinstance(text, str):
        raise ProjectError("must be text", key=key)
    _check_count(len(text), MAX_PROMPT_CHARS, key, "characters; a prompt has")


def _check_render_values(
    steps: Any, guidance: Any, seed: Any, model_dir: Any, checkpoint: Any, init: Any, strength: Any
) -> None:
    """ProjectError under `render.` for a value of the render section out of its range."""
    if not _is_int(steps) or not STEPS_RANGE[0] <= steps <= STEPS_RANGE[1]:
        raise ProjectError(
            f"{_short(steps)} must be a whole number from {STEPS_RANGE[0]} to {STEPS_RANGE[1]}", key="render.steps"
        )
    if not _is_number(guidance) or not GUIDANCE_RANGE[0] <= guidance <= GUIDANCE_RANGE[1]:
        raise ProjectError(
            f"{_short(guidance)} must be a number from {GUIDANCE_RANGE[0]} to {GUIDANCE_RANGE[1]}",
            key="render.guidance",
        )
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ProjectError(f"{_short(seed)} must be a whole number >= 0", key="render.seed")
    for name, path in (("model_dir", model_dir), ("checkpoint", checkpoint)):
        if path is not None and not isinstance(path, str):
            raise ProjectError("must be a path or null", key=f"render.{name}")
        if path is not None:
            check_path_text(path, f"render.{name}")
    if init not in INITS:
        raise ProjectError(f"unknown init {_short(init)} (use {', '.join(INITS)})", key="render.init")
    if not _is_number(strength) or not 0 < strength <= 1:
        raise ProjectError(f"{_short(strength)} must be a number above 0 and at most 1", key="render.strength")


def _roll_from(value: Any, key: str) -> float:
    if not _is_number(value) or abs(value) > MAX_COORD:
        raise ProjectError(f"{_short(value)} must be a number of degrees", key=key)
    return value


def _key(build, key: str):
    """Run `build`, re-raising a ProjectError from a dataclass check under `key`.

    A dataclass names its own field ("interp"), which goes under `key`; a key that is already a
    full path (from the parsing helpers, it starts with `key`) is kept as it is.
    """
    try:
        return build()
    except ProjectError as err:
        if err.key and (err.key == key or err.key.startswith((key + ".", key + "["))):
            raise
        raise ProjectError(err.detail, key=f"{key}.{err.key}" if err.key else key) from None


def _is_int(v: Any) -> TypeGuard[int]:
    """An int that is not a bool (JSON's true is no count); narrows `v` for the range checks after it."""
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> TypeGuard[int | float]:
    """A finite int or float (not a bool, not an int too large for a float)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _id_from(value: Any, key: str) -> str:
    if not isinstance(value, str):
        raise ProjectError(f"{_short(value)} must be a text id", key=key)
    if len(value) > MAX_ID_CHARS or "\0" in value:
        raise ProjectError(f"{_short(value)} must be at most {MAX_ID_CHARS} characters, without NUL", key=key)
    return value


def _interp_from(value: Any, key: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_INTERP_CHARS:
        raise ProjectError(f"{_short(value)} must be step, linear or smooth", key=key)
    return value


def _frame_from(value: Any, key: str) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_KEY_FRAME:
        raise ProjectError(f"{_short(value)} must be a whole frame number from 0 to {MAX_KEY_FRAME}", key=key)
    return value


def _xy_from(value: Any, key: str) -> tuple[float, float]:
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(_is_number(v) for v in value)):
        raise ProjectError(f"{_short(value)} must be [x, y] numbers", key=key)
    if max(abs(value[0]), abs(value[1])) > MAX_COORD:
        raise ProjectError(f"{_short(value)} is too far out (at most {MAX_COORD:g} pixels)", key=key)
    return (float(value[0]), float(value[1]))


def _short(value: Any, limit: int = 60) -> str:
    """repr of `value`, cut to keep the error on one readable line."""
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python converts to text
        return "a number far too large"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- writing ----------------------------------------------------------------------------------------
def project_to_dict(project: Project) -> dict[str, Any]:
    """The JSON object for `project`, unknown keys included."""
    rig = {**project.rig_extra, **rig_to_dict(project.rig), **_posing_keys(project)}
    r = project.render
    return {
        "format": FORMAT,
        "version": VERSION,
        "image": project.image,
        "subject_mask": project.subject_mask,
        "fps": project.fps,
        "frames": project.frames,
        "size": list(project.size),
        "rig": rig,
        "tracks": {
            jid: [{"frame": k.frame, "xy": _num_pair(k.value), "interp": k.interp} for k in t.keys]
            for jid, t in project.tracks.items()
            if t
        },
        "camera": [
            {"frame": k.frame, "pan": _num_pair(k.pan), "zoom": _num(k.zoom), "roll": _num(k.roll), "interp": k.interp}
            for k in project.camera.keys
        ],
        "render": {
            **r.extra,
            "renderer": r.renderer,
            "prompt": r.prompt,
            "negative_prompt": r.negative_prompt,
            "steps": r.steps,
            "guidance": r.guidance,
            "seed": r.seed,
            "model_dir": r.model_dir,
            **_neural_keys(r),
        },
        **({"interpolation": project.interpolation} if project.interpolation != "rotation" else {}),
        **({"loop": {"start": project.loop[0], "end": project.loop[1]}} if project.loop else {}),
        **project.extra,
    }


def rig_to_dict(rig: Rig) -> dict[str, Any]:
    """The rig's JSON object ({joints: [{id, xy}], bones: [{id, a, b, depth?}]}), as `rig_from` reads it back.

    The one rig writer: project files and the dataset builder's rig.json (read for training by model/data.py).
    """
    return {
        "joints": [{"id": j.id, "xy": _num_pair(j.xy)} for j in rig.joints],
        "bones": [{"id": b.id, "a": b.a, "b": b.b, **({"depth": b.depth} if b.depth else {})} for b in rig.bones],
    }


def _posing_keys(project: Project) -> dict[str, Any]:
    """rig.roots and rig.pins where set (joints no longer in the rig dropped), so older files round-trip unchanged."""
    ids = set(project.rig.joint_ids)
    out = {}
    for name in ("roots", "pins"):
        kept = [j for j in getattr(project, name) if j in ids]
        if kept:
            out[name] = kept
    return out


def _neural_keys(r: RenderSettings) -> dict[str, Any]:
    """checkpoint, init and strength where they differ from the defaults (older files round-trip unchanged)."""
    d = RenderSettings()
    return {k: getattr(r, k) for k in ("checkpoint", "init", "strength") if getattr(r, k) != getattr(d, k)}


def save_project(project: Project, path: str | os.PathLike) -> Project:
    """Write `project` to `path` atomically; relative paths are rewritten for the new folder.

    What is written is first read back by the loader's own checks (`project_from_dict`): a project
    load_project would refuse is never written (ProjectError, the same line, naming `path`), so every saved
    file opens again. Returns the project as read back (numbers as the file holds them, `path` set), so the
    caller holds exactly what reopening the file gives, and the right base folder.
    """
    path = Path(path).expanduser()
    path = path.parent.resolve() / path.name  # not the name itself: a link there is replaced, never written through
    moved = project
    if project.path is None or project.path.parent != path.parent:
        moved = replace(
            project,
            image=_relative(project.resolve(project.image), path.parent),
            subject_mask=None
            if project.subject_mask is None
            else _relative(project.resolve(project.subject_mask), path.parent),
        )
    raw, read_back = _file_bytes(moved, str(path))
    atomic_write_bytes(path, raw)
    return replace(read_back, path=path)


def project_bytes(project: Project, source: str = "<project>") -> bytes:
    """The file's bytes for `project` (UTF-8 JSON), checked as load_project checks them; ProjectError otherwise.

    A lone surrogate (a name from a broken file system, kept by Python as U+DC80..U+DCFF) is written as its
    JSON escape (`\\udc80`), which reads back as the same text: such work stays saveable.
    """
    return _file_bytes(project, source)[0]


def _file_bytes(project: Project, source: str) -> tuple[bytes, Project]:
    """The file's bytes for `project` and the project load_project will read from them."""
    data = project_to_dict(project)
    try:
        read_back = project_from_dict(data)
    except ProjectError as err:
        raise ProjectError(err.detail, source=source, key=err.key) from None  # the line load_project gives
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    raw = text.encode("utf-8", "backslashreplace")  # only a lone surrogate needs it; JSON reads the escape back
    if len(raw) > MAX_PROJECT_BYTES:
        raise ProjectError(
            f"is {len(raw) / 2**20:.0f} MB; a project file is at most {MAX_PROJECT_BYTES // 2**20} MB", source=source
        )
    return raw, read_back


def _relative(target: Path, folder: Path) -> str:
    try:
        return Path(os.path.relpath(target, folder)).as_posix()
    except ValueError:  # another drive on Windows
        return str(target)


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else round(float(v), 4)


def _num_pair(v) -> list[float | int]:
    return [_num(v[0]), _num(v[1])]
