"""OpenPose and COCO keypoint JSON in and out: every form the tools write reads onto the rig by bone
direction, a bad file is one line naming the file and the key, and what we write reads back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.openpose import (
    BODY25,
    COCO18,
    coco18_from,
    draw_openpose,
    human_keypoints,
    import_keypoints,
    openpose_frames_json,
    read_keypoints,
)
from poseanything_studio.core.project import Project
from poseanything_studio.core.templates import load_templates, placed


def _project(key: str = "human", frames: int = 9) -> Project:
    template = next(t for t in load_templates() if t.key == key)
    return Project(image="picture.png", rig=placed(template, (200, 40, 180, 400)), frames=frames, fps=24)


def _person(frames: int, layout=BODY25, raise_arm_by: float = 90.0) -> np.ndarray:
    """[F, K, 3] a person facing the camera whose right wrist swings up from hanging to `raise_arm_by` degrees."""
    base = {
        "Nose": (300, 80),
        "Neck": (300, 120),
        "RShoulder": (270, 125),
        "RElbow": (265, 175),
        "RWrist": (262, 225),
        "LShoulder": (330, 125),
        "LElbow": (335, 175),
        "LWrist": (338, 225),
        "MidHip": (300, 240),
        "RHip": (285, 240),
        "RKnee": (283, 320),
        "RAnkle": (282, 400),
        "LHip": (315, 240),
        "LKnee": (317, 320),
        "LAnkle": (318, 400),
    }
    out = np.zeros((frames, len(layout), 3))
    for f in range(frames):
        angle = np.radians(raise_arm_by * f / (frames - 1))
        pose = dict(base)
        ex, ey = base["RElbow"]
        hang = np.subtract(base["RWrist"], base["RElbow"])
        turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
        pose["RWrist"] = tuple(np.array([ex, ey]) + turn @ hang)
        for k, name in enumerate(layout):
            if name in pose:
                out[f, k] = (*pose[name], 0.9)
    return out


def _write_frames(folder, keypoints: np.ndarray) -> None:
    folder.mkdir()
    for f, frame in enumerate(keypoints):
        (folder / f"clip_{f:012d}_keypoints.json").write_text(
            json.dumps({"version": 1.3, "people": [{"pose_keypoints_2d": frame.reshape(-1).tolist()}]})
        )


def _forearm_turn(project: Project, side: str) -> np.ndarray:
    xy = project.joint_positions()
    fore = xy[:, project.rig.joint_index(f"hand_{side}")] - xy[:, project.rig.joint_index(f"elbow_{side}")]
    angle = np.degrees(np.arctan2(fore[:, 1], fore[:, 0]))
    return np.abs((angle - angle[0] + 180) % 360 - 180)


def test_openpose_files_one_per_frame_drive_the_human_template(tmp_path):
    _write_frames(tmp_path / "json", _person(9))
    project, report = import_keypoints(_project(), tmp_path / "json")
    assert report.frames == 9
    # The person's right arm is on the picture's left, as the template's _l arm: that one turns, by 90 degrees.
    assert _forearm_turn(project, "l")[-1] == pytest.approx(90, abs=2)
    assert _forearm_turn(project, "r")[-1] == pytest.approx(0, abs=1)
    xy = project.joint_positions()
    idx = project.rig.bone_joint_indices()
    lengths = np.linalg.norm(xy[:, idx[:, 0]] - xy[:, idx[:, 1]], axis=-1)
    assert np.all(np.abs(lengths / lengths[0] - 1) < 0.01)


def test_the_one_file_form_of_the_pose_editors_reads_the_same_with_normalised_coordinates(tmp_path):
    people = _person(9, COCO18)
    frames = [
        {
            "canvas_width": 640,
            "canvas_height": 480,
            "people": [{"pose_keypoints_2d": (frame * [1 / 640, 1 / 480, 1]).reshape(-1).tolist()}],
        }
        for frame in people
    ]
    (tmp_path / "poses.json").write_text(json.dumps(frames))
    keypoints = read_keypoints(tmp_path / "poses.json")
    assert keypoints.layout == "coco18" and keypoints.canvas == (640, 480)
    assert np.allclose(keypoints.xy, people[..., :2], atol=1e-6)
    project, _ = import_keypoints(_project(), tmp_path / "poses.json")
    assert _forearm_turn(project, "l")[-1] == pytest.approx(90, abs=2)


def test_a_keypoint_not_seen_in_some_frames_is_filled_from_the_frames_around_it(tmp_path):
    people = _person(9)
    wrist = BODY25.index("RWrist")
    people[4, wrist] = 0  # OpenPose writes 0, 0, 0 for a point it did not see
    _write_frames(tmp_path / "json", people)
    project, _ = import_keypoints(_project(), tmp_path / "json")
    turn = _forearm_turn(project, "l")
    assert turn[4] == pytest.approx((turn[3] + turn[5]) / 2, abs=3)


def test_ap10k_keypoints_drive_the_quadruped(tmp_path):
    names = [
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
    ]
    pose = {
        "left_eye": (95, 52),
        "right_eye": (105, 52),
        "nose": (112, 60),
        "neck": (90, 70),
        "root_of_tail": (20, 70),
        "left_shoulder": (78, 80),
        "left_elbow": (78, 110),
        "left_front_paw": (78, 140),
        "right_shoulder": (82, 80),
        "right_elbow": (82, 110),
        "right_front_paw": (82, 140),
        "left_hip": (30, 80),
        "left_knee": (30, 110),
        "left_back_paw": (30, 140),
        "right_hip": (34, 80),
        "right_knee": (34, 110),
        "right_back_paw": (34, 140),
    }
    annotations = []
    for f in range(5):
        lifted = dict(pose, left_front_paw=(78 + 6 * f, 140 - 6 * f))
        annotations.append({"image_id": f, "category_id": 1, "keypoints": [v for n in names for v in (*lifted[n], 2)]})
    (tmp_path / "ap10k.json").write_text(
        json.dumps(
            {
                "images": [{"id": f, "file_name": f"{f}.jpg"} for f in range(5)],
                "annotations": annotations,
                "categories": [{"id": 1, "name": "dog", "keypoints": names}],
            }
        )
    )
    keypoints = read_keypoints(tmp_path / "ap10k.json")
    assert keypoints.layout == "ap10k" and keypoints.xy.shape == (5, 17, 2)
    project, report = import_keypoints(_project("quadruped", frames=5), tmp_path / "ap10k.json")
    assert {"front_l_paw", "back_r_knee", "tail1", "nose"} <= set(report.mapping)
    xy = project.joint_positions()
    moved = {j for j in project.rig.joint_ids if np.ptp(xy[:, project.rig.joint_index(j)], axis=0).max() > 2}
    assert moved & {"front_l_paw", "front_r_paw"} and not moved & {"back_l_paw", "back_r_paw"}


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("{not json", "not valid JSON"),
        ('{"people": "nobody"}', "people"),
        ('{"people": [{"pose_keypoints_2d": [1, 2, 3]}]}', "expected 54 (COCO-18) or 75 (BODY_25)"),
        ('{"people": [{"pose_keypoints_2d": [1, "two", 3]}]}', "people[0].pose_keypoints_2d"),
        ('{"people": []}', "no person in any frame"),
        ('{"annotations": [{"image_id": 1, "keypoints": [1, 2]}]}', "annotations[0].keypoints"),
    ],
)
def test_a_malformed_keypoint_file_is_one_line_naming_the_file_and_the_key(tmp_path, content, words):
    path = tmp_path / "bad.json"
    path.write_text(content)
    start = _project()
    with pytest.raises(ProjectError) as caught:
        import_keypoints(start, path)
    assert "bad.json" in str(caught.value) and words in str(caught.value) and "\n" not in str(caught.value)
    assert start.tracks == {}


def test_what_we_write_as_openpose_reads_back_onto_the_same_joints(tmp_path):
    start = _project()
    xy = start.joint_positions()
    keypoints = human_keypoints(start.rig.joint_ids, xy, "body25")
    assert keypoints.shape == (start.frames, 25, 3)
    assert keypoints[0, BODY25.index("LEye"), 2] == 0  # the rig has no eyes: unseen, as OpenPose writes
    documents = openpose_frames_json(keypoints, (832, 480))
    (tmp_path / "out.json").write_text(json.dumps(documents))
    back = read_keypoints(tmp_path / "out.json")
    assert back.layout == "body25"
    assert np.allclose(back.xy[:, BODY25.index("RElbow")], xy[:, start.rig.joint_index("elbow_r")], atol=1e-3)


def test_the_openpose_drawing_uses_its_palette_on_black():
    start = _project()
    keypoints = coco18_from(human_keypoints(start.rig.joint_ids, start.joint_positions()[:1], "body25"), "body25")
    picture = draw_openpose(keypoints[0], (640, 480))
    assert picture.shape == (480, 640, 3) and picture[0, 0].tolist() == [0, 0, 0]
    neck = keypoints[0, 1, :2].astype(int)
    assert picture[neck[1], neck[0]].tolist() == [255, 85, 0]  # keypoint 1, the neck, in OpenPose's orange
