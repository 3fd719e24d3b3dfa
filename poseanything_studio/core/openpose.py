"""OpenPose and COCO keypoint JSON in and out, and pose frames in the OpenPose palette.

In: OpenPose's one file per frame (`people[].pose_keypoints_2d`, COCO-18 or BODY_25, told apart by length),
the one-file form ControlNet pose editors and ComfyUI write (one frame as a dict with `people`, or a list of
such frames, with `canvas_width`/`canvas_height`; coordinates in pixels or normalised to [0, 1]), and COCO
keypoint annotations (`annotations[].keypoints`: COCO person-17 or AP-10K's 17 animal keypoints). The first
person of each frame is read. The keypoints become a 2D MotionClip that `core.mocap` retargets onto the rig by
bone direction, exactly as a BVH clip (the human template's joints from OpenPose/COCO names, the quadruped's
from AP-10K); keypoints with zero confidence are filled from the frames around them.

Out: the human template's joints as OpenPose JSON (BODY_25 or COCO-18; one file per frame, or the one-file
form), and pose frames drawn in the OpenPose colours (what ControlNet's openpose models, Wan-Animate and
UniAnimate take).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import ProjectError
from .keying import DEFAULT_TOLERANCE
from .mocap import ImportReport, MotionClip, import_clip
from .project import Project

COCO18 = (
    "Nose",
    "Neck",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "REye",
    "LEye",
    "REar",
    "LEar",
)
BODY25 = (
    "Nose",
    "Neck",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
    "MidHip",
    "RHip",
    "RKnee",
    "RAnkle",
    "LHip",
    "LKnee",
    "LAnkle",
    "REye",
    "LEye",
    "REar",
    "LEar",
    "LBigToe",
    "LSmallToe",
    "LHeel",
    "RBigToe",
    "RSmallToe",
    "RHeel",
)
COCO17 = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
AP10K = (
    "left_eye",
    "right_eye",
    "nose",
    "neck",
    "root_of_tail",
    "left_shoulder",
    "left_elbow",
    "left_front_paw",
    "right_shoulder",
    "right_elbow",
    "right_front_paw",
    "left_hip",
    "left_knee",
    "left_back_paw",
    "right_hip",
    "right_knee",
    "right_back_paw",
)
LAYOUTS = {"coco18": COCO18, "body25": BODY25, "coco17": COCO17, "ap10k": AP10K}

# Rig joint -> the keypoint it is, or a blend of keypoints: ((name, weight), ...). Human template and quadruped.
OPENPOSE_TO_HUMAN: dict[str, tuple[tuple[str, float], ...]] = {
    "head": (("Nose", 1.0),),
    "neck": (("Neck", 1.0),),
    "pelvis": (("RHip", 0.5), ("LHip", 0.5)),
    "chest": (("Neck", 0.65), ("RHip", 0.175), ("LHip", 0.175)),
    "shoulder_l": (("LShoulder", 1.0),),
    "elbow_l": (("LElbow", 1.0),),
    "hand_l": (("LWrist", 1.0),),
    "shoulder_r": (("RShoulder", 1.0),),
    "elbow_r": (("RElbow", 1.0),),
    "hand_r": (("RWrist", 1.0),),
    "hip_l": (("LHip", 1.0),),
    "knee_l": (("LKnee", 1.0),),
    "foot_l": (("LAnkle", 1.0),),
    "hip_r": (("RHip", 1.0),),
    "knee_r": (("RKnee", 1.0),),
    "foot_r": (("RAnkle", 1.0),),
}
COCO17_TO_HUMAN: dict[str, tuple[tuple[str, float], ...]] = {
    "head": (("nose", 1.0),),
    "neck": (("left_shoulder", 0.5), ("right_shoulder", 0.5)),
    "pelvis": (("left_hip", 0.5), ("right_hip", 0.5)),
    "chest": (("left_shoulder", 0.325), ("right_shoulder", 0.325), ("left_hip", 0.175), ("right_hip", 0.175)),
    "shoulder_l": (("left_shoulder", 1.0),),
    "elbow_l": (("left_elbow", 1.0),),
    "hand_l": (("left_wrist", 1.0),),
    "shoulder_r": (("right_shoulder", 1.0),),
    "elbow_r": (("right_elbow", 1.0),),
    "hand_r": (("right_wrist", 1.0),),
    "hip_l": (("left_hip", 1.0),),
    "knee_l": (("left_knee", 1.0),),
    "foot_l": (("left_ankle", 1.0),),
    "hip_r": (("right_hip", 1.0),),
    "knee_r": (("right_knee", 1.0),),
    "foot_r": (("right_ankle", 1.0),),
}
AP10K_TO_QUADRUPED: dict[str, tuple[tuple[str, float], ...]] = {
    "nose": (("nose", 1.0),),
    "head": (("left_eye", 0.5), ("right_eye", 0.5)),
    "neck": (("neck", 1.0),),
    "chest": (("left_shoulder", 0.5), ("right_shoulder", 0.5)),
    "hips": (("left_hip", 0.5), ("right_hip", 0.5)),
    "tail1": (("root_of_tail", 1.0),),
    "front_l_knee": (("left_elbow", 1.0),),
    "front_l_paw": (("left_front_paw", 1.0),),
    "front_r_knee": (("right_elbow", 1.0),),
    "front_r_paw": (("right_front_paw", 1.0),),
    "back_l_knee": (("left_knee", 1.0),),
    "back_l_paw": (("left_back_paw", 1.0),),
    "back_r_knee": (("right_knee", 1.0),),
    "back_r_paw": (("right_back_paw", 1.0),),
}
BODY25_TO_HUMAN = {**OPENPOSE_TO_HUMAN, "pelvis": (("MidHip", 1.0),), "chest": (("Neck", 0.65), ("MidHip", 0.35))}
JOINT_TABLES = {
    "coco18": OPENPOSE_TO_HUMAN,
    "body25": BODY25_TO_HUMAN,
    "coco17": COCO17_TO_HUMAN,
    "ap10k": AP10K_TO_QUADRUPED,
}
MAX_FILES = 100_000
MAX_JSON_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Keypoints:
    """Keypoints over time: [T, K, 2] pixels (x right, y down) and [T, K] confidence (0 = not seen)."""

    layout: str
    xy: np.ndarray
    confidence: np.ndarray
    canvas: tuple[int, int] | None  # (width, height) when the file says
    source: str

    @property
    def names(self) -> tuple[str, ...]:
        return LAYOUTS[self.layout]


# --- reading -------------------------------------------------------------------------------------------------------


def read_keypoints(path: str | Path) -> Keypoints:
    """Keypoints from an OpenPose folder of per-frame JSON files, or one JSON file in any form above."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json")
        if not files:
            raise ProjectError("no .json files in the folder", source=str(path))
        if len(files) > MAX_FILES:
            raise ProjectError(f"{len(files)} files; at most {MAX_FILES} frames", source=str(path))
        frames = [_frame_people(_load_json(f), str(f)) for f in files]
        return _keypoints_from_frames(frames, [str(f) for f in files], str(path), _canvas(_load_json(files[0])))
    data = _load_json(path)
    if isinstance(data, dict) and "annotations" in data:
        return _coco_keypoints(data, str(path))
    if isinstance(data, dict) and isinstance(data.get("frames"), list):
        data = data["frames"]
    if isinstance(data, list):
        if not data:
            raise ProjectError("the list of frames is empty", key="[0]", source=str(path))
        frames = [_frame_people(frame, f"{path}: [{i}]") for i, frame in enumerate(data)]
        return _keypoints_from_frames(frames, [f"[{i}]" for i in range(len(data))], str(path), _canvas(data[0]))
    return _keypoints_from_frames([_frame_people(data, str(path))], [""], str(path), _canvas(data))


def _load_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ProjectError(f"larger than {MAX_JSON_BYTES // 2**20} MB", source=str(path))
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ProjectError("not a JSON file: it is not UTF-8 text", source=str(path)) from None
    except json.JSONDecodeError as err:
        raise ProjectError(
            f"not valid JSON: {err.msg} at line {err.lineno} column {err.colno}", source=str(path)
        ) from None
    except OSError as err:
        raise ProjectError(f"cannot read: {err.strerror or err}", source=str(path)) from None


def _canvas(frame: Any) -> tuple[int, int] | None:
    if isinstance(frame, dict):
        w, h = frame.get("canvas_width"), frame.get("canvas_height")
        if isinstance(w, int | float) and isinstance(h, int | float) and w > 0 and h > 0:
            return int(w), int(h)
    return None


def _frame_people(frame: Any, where: str) -> list[float] | None:
    """The first person's flat `pose_keypoints_2d` of one frame (None when nobody is in it)."""
    if not isinstance(frame, dict) or not isinstance(frame.get("people"), list):
        raise ProjectError("expected an object with a 'people' list", key="people", source=where)
    for i, person in enumerate(frame["people"]):
        flat = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if flat is None:
            raise ProjectError("a person without pose_keypoints_2d", key=f"people[{i}].pose_keypoints_2d", source=where)
        if not isinstance(flat, list) or not all(isinstance(v, int | float) and math.isfinite(v) for v in flat):
            raise ProjectError("must be a list of numbers", key=f"people[{i}].pose_keypoints_2d", source=where)
        if flat:
            return [float(v) for v in flat]
    return None


def _layout_for(count: int, key: str, where: str) -> str:
    if count == 18 * 3:
        return "coco18"
    if count == 25 * 3:
        return "body25"
    raise ProjectError(
        f"{count} numbers: expected 54 (COCO-18) or 75 (BODY_25) as x, y, confidence", key=key, source=where
    )


def _keypoints_from_frames(
    frames: Sequence[list[float] | None], names: Sequence[str], source: str, canvas: tuple[int, int] | None
) -> Keypoints:
    counts = {len(f) for f in frames if f is not None}
    if not counts:
        raise ProjectError("no person in any frame", key="people", source=source)
    if len(counts) > 1:
        first = next(i for i, f in enumerate(frames) if f is not None and len(f) != len(frames[0] or f))
        raise ProjectError(
            "frames mix keypoint layouts", key=f"{names[first]} people[0].pose_keypoints_2d", source=source
        )
    count = counts.pop()
    layout = _layout_for(count, "people[0].pose_keypoints_2d", source)
    k = count // 3
    flat = np.array([f if f is not None else [0.0] * count for f in frames]).reshape(len(frames), k, 3)
    xy, confidence = flat[..., :2], flat[..., 2]
    if canvas is not None and np.all(xy[confidence > 0] <= 1.0):  # normalised coordinates
        xy = xy * np.array(canvas, dtype=float)
    return Keypoints(layout, xy, confidence, canvas, source)


def _coco_keypoints(data: dict, source: str) -> Keypoints:
    """COCO keypoint annotations in image order: person-17, or AP-10K's animals by the category's names."""
    annotations = data.get("annotations")
    if not isinstance(annotations, list) or not annotations:
        raise ProjectError("no annotations", key="annotations", source=source)
    names = None
    for category in data.get("categories") or []:
        if isinstance(category, dict) and isinstance(category.get("keypoints"), list):
            names = tuple(category["keypoints"])
            break
    layout = "ap10k" if names == AP10K or (names and "root_of_tail" in names) else "coco17"
    images = {im.get("id"): i for i, im in enumerate(data.get("images") or []) if isinstance(im, dict)}
    by_image: dict[Any, list[float]] = {}
    for i, annotation in enumerate(annotations):
        flat = annotation.get("keypoints") if isinstance(annotation, dict) else None
        if not isinstance(flat, list) or len(flat) != 51 or not all(isinstance(v, int | float) for v in flat):
            raise ProjectError(
                "must be 51 numbers (17 keypoints as x, y, visibility)",
                key=f"annotations[{i}].keypoints",
                source=source,
            )
        by_image.setdefault(annotation.get("image_id"), [float(v) for v in flat])
    order = sorted(by_image, key=lambda image_id: images.get(image_id, math.inf) if images else image_id)
    flat = np.array([by_image[i] for i in order]).reshape(len(order), 17, 3)
    return Keypoints(layout, flat[..., :2], (flat[..., 2] > 0).astype(float), None, source)


# --- onto a rig ----------------------------------------------------------------------------------------------------


def keypoint_clip(keypoints: Keypoints, rig_joints: Sequence[str], fps: float) -> tuple[MotionClip, dict[str, str]]:
    """(a 2D MotionClip with one track per rig joint the layout gives, mapping rig joint -> that track).

    Each rig joint's track is its keypoint (or blend of keypoints) with unseen frames filled from the nearest
    seen ones; a joint whose keypoints are never seen is left out.
    """
    table = JOINT_TABLES[keypoints.layout]
    index = {name: i for i, name in enumerate(keypoints.names)}
    tracks, names = [], []
    for joint in rig_joints:
        blend = table.get(joint)
        if not blend or any(name not in index for name, _ in blend):
            continue
        filled = [(_filled(keypoints.xy[:, index[n]], keypoints.confidence[:, index[n]]), w) for n, w in blend]
        parts = [(p, w) for p, w in filled if p is not None]
        if len(parts) < len(filled):  # a keypoint of the blend is never seen
            continue
        tracks.append(sum(p * w for p, w in parts))
        names.append(joint)
    if not tracks:
        raise ProjectError(
            f"none of the rig's joints is a {keypoints.layout} keypoint (use the human template's "
            "names, or the quadruped's for AP-10K)",
            source=keypoints.source,
        )
    xy = np.stack(tracks, axis=1)  # [T, J, 2] y down
    positions = np.concatenate([xy[..., :1], -xy[..., 1:], np.zeros_like(xy[..., :1])], axis=-1)  # y up
    clip = MotionClip(tuple(names), tuple(-1 for _ in names), positions, fps, keypoints.source)
    return clip, {j: j for j in names}


def _filled(xy: np.ndarray, confidence: np.ndarray) -> np.ndarray | None:
    seen = confidence > 0
    if not seen.any():
        return None
    t = np.arange(len(xy))
    return np.stack([np.interp(t, t[seen], xy[seen, d]) for d in range(2)], axis=1)


def import_keypoints(
    project: Project, path: str | Path, start: int = 0, fps: float | None = None, tolerance: float = DEFAULT_TOLERANCE
) -> tuple[Project, ImportReport]:
    """(project with the keypoints' motion keyed from frame `start`, ImportReport); one file = one frame at
    `fps` (the project's by default). Retargeted by bone direction as a BVH clip is."""
    keypoints = read_keypoints(path)
    clip, mapping = keypoint_clip(keypoints, project.rig.joint_ids, fps or project.fps)
    return import_clip(project, clip, mapping, "front", start, tolerance)


# --- out -----------------------------------------------------------------------------------------------------------


def human_keypoints(joint_ids: Sequence[str], positions: np.ndarray, layout: str = "body25") -> np.ndarray:
    """[F, K, 3] OpenPose keypoints (x, y, confidence) from the human template's joints ([F, J, 2] pixels).

    Keypoints the rig has no joint for (eyes, ears, toes) get confidence 0, as OpenPose writes unseen points.
    """
    names = LAYOUTS[layout]
    index = {j: i for i, j in enumerate(joint_ids)}
    rig_for = {"Nose": "head", "Neck": "neck", "MidHip": "pelvis"}
    for joint, blend in OPENPOSE_TO_HUMAN.items():
        if len(blend) == 1:
            rig_for[blend[0][0]] = joint
    out = np.zeros((positions.shape[0], len(names), 3))
    for k, name in enumerate(names):
        joint_id = rig_for.get(name)
        if joint_id is not None and joint_id in index:
            out[:, k, :2] = positions[:, index[joint_id]]
            out[:, k, 2] = 1.0
    return out


def openpose_frames_json(keypoints: np.ndarray, size: tuple[int, int]) -> list[dict[str, Any]]:
    """One OpenPose JSON document per frame, with the canvas size the pose editors read."""
    return [
        {
            "version": 1.3,
            "canvas_width": size[0],
            "canvas_height": size[1],
            "people": [
                {
                    "person_id": [-1],
                    "pose_keypoints_2d": [round(float(v), 3) for v in frame.reshape(-1)],
                    "face_keypoints_2d": [],
                    "hand_left_keypoints_2d": [],
                    "hand_right_keypoints_2d": [],
                }
            ],
        }
        for frame in keypoints
    ]


# OpenPose's COCO-18 limbs (keypoint index pairs) and its colours, as its renderer and ControlNet draw them.
OPENPOSE_LIMBS = (
    (1, 2),
    (1, 5),
    (2, 3),
    (3, 4),
    (5, 6),
    (6, 7),
    (1, 8),
    (8, 9),
    (9, 10),
    (1, 11),
    (11, 12),
    (12, 13),
    (1, 0),
    (0, 14),
    (14, 16),
    (0, 15),
    (15, 17),
)
OPENPOSE_COLOURS = (
    (255, 0, 0),
    (255, 85, 0),
    (255, 170, 0),
    (255, 255, 0),
    (170, 255, 0),
    (85, 255, 0),
    (0, 255, 0),
    (0, 255, 85),
    (0, 255, 170),
    (0, 255, 255),
    (0, 170, 255),
    (0, 85, 255),
    (0, 0, 255),
    (85, 0, 255),
    (170, 0, 255),
    (255, 0, 255),
    (255, 0, 85),
    (255, 0, 170),
)


def draw_openpose(keypoints: np.ndarray, size: tuple[int, int], stick: int = 4) -> np.ndarray:
    """One pose frame in the OpenPose style: [18, 3] COCO-18 keypoints -> (h, w, 3) RGB uint8 on black."""
    w, h = size
    canvas: np.ndarray = np.zeros((h, w, 3), np.uint8)
    for (a, b), colour in zip(OPENPOSE_LIMBS, OPENPOSE_COLOURS, strict=False):
        if keypoints[a, 2] <= 0 or keypoints[b, 2] <= 0:
            continue
        (xa, ya), (xb, yb) = keypoints[a, :2], keypoints[b, :2]
        length = float(np.hypot(xb - xa, yb - ya))
        angle = math.degrees(math.atan2(yb - ya, xb - xa))
        polygon = cv2.ellipse2Poly(
            (int((xa + xb) / 2), int((ya + yb) / 2)), (int(length / 2), stick), int(angle), 0, 360, 1
        )
        layer = canvas.copy()
        cv2.fillConvexPoly(layer, np.asarray(polygon, np.int32), colour)
        canvas = cv2.addWeighted(canvas, 0.4, layer, 0.6, 0)
    for k in range(min(18, keypoints.shape[0])):
        if keypoints[k, 2] > 0:
            cv2.circle(canvas, (int(keypoints[k, 0]), int(keypoints[k, 1])), 4, OPENPOSE_COLOURS[k], -1)
    return canvas


def coco18_from(keypoints: np.ndarray, layout: str) -> np.ndarray:
    """[..., 18, 3] COCO-18 keypoints from BODY_25 or COCO-18 ones (the drawing's layout)."""
    if layout == "coco18":
        return keypoints
    take = [BODY25.index(name) for name in COCO18]
    return keypoints[..., take, :]


def rig_mapping_for(layout: str) -> Mapping[str, tuple[tuple[str, float], ...]]:
    """The rig joints a keypoint layout drives (the human template's, or the quadruped's for AP-10K)."""
    return JOINT_TABLES[layout]
