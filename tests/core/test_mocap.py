"""BVH onto a rig: the clip's bone directions drive the rig's bones at the rig's own lengths, the root
travels by leg length, joints the clip lacks follow their parent, and a bad file changes nothing."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from motion_files import write_bvh

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.mocap import guess_mapping, import_bvh, read_bvh
from poseanything_studio.core.project import Project
from poseanything_studio.core.templates import load_templates, placed


def _human_project(frames: int = 25, fps: float = 24) -> Project:
    human = next(t for t in load_templates() if t.key == "human")
    return Project(image="picture.png", rig=placed(human, (200, 40, 180, 400)), frames=frames, fps=fps)


def _bone_lengths(project: Project) -> np.ndarray:
    xy = project.joint_positions()
    idx = project.rig.bone_joint_indices()
    return np.linalg.norm(xy[:, idx[:, 0]] - xy[:, idx[:, 1]], axis=-1)  # (F, B)


def _angle(v: np.ndarray) -> np.ndarray:
    return np.degrees(np.arctan2(v[..., 1], v[..., 0]))


def test_a_known_arm_swing_turns_the_rigs_arm_by_the_same_angle_at_its_own_length(tmp_path):
    frames = 31
    swing = np.stack([np.linspace(0, 90, frames), np.zeros(frames), np.zeros(frames)], axis=1)
    path = write_bvh(tmp_path / "swing.bvh", frames, 30, {"RightArm": swing})
    project, report = import_bvh(_human_project(), path)
    # Seen from the front, the figure's right arm is on the picture's left, where the template has its _l arm:
    # the rig's sides take the clip's sides as seen, so the arm that swings is the one on the left.
    assert report.mapping["elbow_l"] == "RightForeArm" and report.mapping["pelvis"] == "Hips"
    assert project.extra["joint_mapping"]["elbow_r"] == "RightForeArm"  # the mapping by name, kept for next time
    xy = project.joint_positions()
    rig = project.rig
    assert np.allclose(xy[:, rig.joint_index("elbow_r")], xy[0, rig.joint_index("elbow_r")], atol=0.6)
    upper = xy[:, rig.joint_index("elbow_l")] - xy[:, rig.joint_index("shoulder_l")]
    turned = np.abs((_angle(upper) - _angle(upper[0]) + 180) % 360 - 180)
    clip_seconds = np.arange(project.frames) / project.fps
    expected = np.minimum(clip_seconds, 1.0) * 90  # the clip lasts 1 s; then its last pose holds
    assert np.allclose(turned, expected, atol=1.5)
    lengths = _bone_lengths(project)
    assert np.all(np.abs(lengths / lengths[0] - 1) < 0.01)
    rest_upper = np.subtract(rig.joint("elbow_l").xy, rig.joint("shoulder_l").xy)
    assert np.allclose(np.linalg.norm(upper, axis=1), np.linalg.norm(rest_upper), rtol=0.01)


def test_shoulders_and_hips_stay_on_the_trunk_and_turn_with_it(tmp_path):
    """The clip's collarbones rise 43 degrees from its chest (CMU_BODY); a drawing's shoulders stay where the
    drawing has them, and lean with the trunk; its hips stay on its pelvis, which does not lean."""
    frames = 25
    lean = np.stack([np.linspace(0, 30, frames), np.zeros(frames), np.zeros(frames)], axis=1)
    path = write_bvh(tmp_path / "lean.bvh", frames, 24, {"Spine": lean})
    before = _human_project()
    project, _ = import_bvh(before, path)
    xy, rest = project.joint_positions(), before.joint_positions()[0]
    rig = project.rig

    def offset(poses, joint, parent):
        return poses[..., rig.joint_index(joint), :] - poses[..., rig.joint_index(parent), :]

    trunk_turn = _angle(offset(xy, "neck", "chest")) - _angle(offset(rest, "neck", "chest"))
    assert np.abs(trunk_turn[-1]) > 25  # the trunk leaned (the template's shoulders hang from its neck) ...
    for side in ("l", "r"):
        drawn = offset(rest, f"shoulder_{side}", "neck")
        moved = offset(xy, f"shoulder_{side}", "neck")
        assert np.allclose(moved[0], drawn, atol=0.6)  # unleaned: the shoulder where the drawing has it
        turn = (_angle(moved) - _angle(drawn) - trunk_turn + 180) % 360 - 180
        assert np.all(np.abs(turn) < 1.0)  # ... and the shoulder with it, at the drawing's angle to the trunk
        assert np.allclose(offset(xy, f"hip_{side}", "pelvis"), offset(rest, f"hip_{side}", "pelvis"), atol=0.6)
    lengths = _bone_lengths(project)
    assert np.all(np.abs(lengths / lengths[0] - 1) < 0.01)


def test_the_root_travels_by_the_ratio_of_leg_lengths(tmp_path):
    frames = 49
    travel = np.zeros((frames, 3))
    travel[:, 0] = np.linspace(0, 82, frames)  # one clip leg length (42 + 40 cm) to the figure's left
    path = write_bvh(tmp_path / "walk.bvh", frames, 24, root_travel=travel)
    start = _human_project(frames=49)
    project, _ = import_bvh(start, path)
    rig = start.rig
    leg_px = np.linalg.norm(np.subtract(rig.joint("hip_l").xy, rig.joint("knee_l").xy)) + np.linalg.norm(
        np.subtract(rig.joint("knee_l").xy, rig.joint("foot_l").xy)
    )
    pelvis = project.joint_positions()[:, rig.joint_index("pelvis")]
    assert abs(abs(pelvis[-1, 0] - pelvis[0, 0]) - leg_px) < 0.02 * leg_px
    assert np.allclose(pelvis[:, 1], pelvis[0, 1], atol=0.5)


def test_a_joint_the_clip_lacks_follows_its_parent_and_keys_outside_the_clip_stay(tmp_path):
    frames = 25
    travel = np.zeros((frames, 3))
    travel[:, 0] = np.linspace(0, 40, frames)
    path = write_bvh(tmp_path / "slide.bvh", frames, 24, root_travel=travel)
    start = _human_project(frames=49)
    pelvis = start.rig.joint("pelvis").xy
    rig = start.rig.with_joint("tail", (pelvis[0], pelvis[1] + 30)).with_bone("tail_bone", "pelvis", "tail")
    start = replace(start, rig=rig)
    project, report = import_bvh(start, path)
    assert "tail" in report.unmapped
    xy = project.joint_positions()
    offset = xy[:, rig.joint_index("tail")] - xy[:, rig.joint_index("pelvis")]
    assert np.allclose(offset, [0, 30], atol=0.6)
    assert np.ptp(xy[:24, rig.joint_index("pelvis"), 0]) > 20  # the body did travel


def test_the_clip_is_resampled_to_the_projects_fps(tmp_path):
    frames = 121  # 2 s at 60 fps
    swing = np.stack([np.linspace(0, 120, frames), np.zeros(frames), np.zeros(frames)], axis=1)
    path = write_bvh(tmp_path / "fast.bvh", frames, 60, {"LeftForeArm": swing})
    project, report = import_bvh(_human_project(frames=49, fps=24), path)
    assert report.frames == 49 and report.clip_frames == 121
    xy = project.joint_positions()
    rig = project.rig
    fore = xy[:, rig.joint_index("hand_r")] - xy[:, rig.joint_index("elbow_r")]  # the clip's left, seen from the front
    turned = np.abs((_angle(fore) - _angle(fore[0]) + 180) % 360 - 180)
    assert turned[24] == pytest.approx(60, abs=1.5)  # 1 s in: half of the 120-degree turn
    assert turned[48] == pytest.approx(120, abs=1.5)


def test_a_mapping_the_user_edits_is_saved_with_the_project_and_used_again(tmp_path):
    frames = 13
    swing = np.stack([np.linspace(0, 60, frames), np.zeros(frames), np.zeros(frames)], axis=1)
    path = write_bvh(tmp_path / "swing.bvh", frames, 24, {"LeftArm": swing})
    start = _human_project(frames=13)
    mapping = {"pelvis": "Hips", "neck": "Neck", "shoulder_r": "LeftArm", "elbow_r": "LeftForeArm"}
    project, report = import_bvh(start, path, mapping=mapping)
    assert project.extra["joint_mapping"] == mapping == report.mapping
    again, report_again = import_bvh(project, path)
    assert report_again.mapping == mapping
    xy = again.joint_positions()
    upper = xy[:, again.rig.joint_index("elbow_r")] - xy[:, again.rig.joint_index("shoulder_r")]
    turned = np.abs((_angle(upper) - _angle(upper[0]) + 180) % 360 - 180)
    assert turned[-1] == pytest.approx(60, abs=1.5)
    assert "elbow_l" not in again.tracks  # not in the mapping and its parent still: its keys (none) stay


def test_names_from_mixamo_and_rokoko_map_onto_the_human_template():
    rig = _human_project().rig
    mixamo = [
        "mixamorig:Hips",
        "mixamorig:Spine2",
        "mixamorig:Neck",
        "mixamorig:Head",
        "mixamorig:LeftArm",
        "mixamorig:LeftForeArm",
        "mixamorig:LeftHand",
        "mixamorig:LeftUpLeg",
        "mixamorig:LeftLeg",
    ]
    assert guess_mapping(rig, mixamo)["knee_l"] == "mixamorig:LeftLeg"
    rokoko = ["Hips", "Spine4", "Neck", "Head", "RightThigh", "RightShin", "RightFoot"]
    found = guess_mapping(rig, rokoko)
    assert found["hip_r"] == "RightThigh" and found["knee_r"] == "RightShin" and found["chest"] == "Spine4"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not a bvh\n", "first line is not HIERARCHY"),
        ("HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\n", "no MOTION"),
        (
            "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\nMOTION\nFrames: x\n",
            "Frames: N",
        ),
        (
            "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\nMOTION\n"
            "Frames: 2\nFrame Time: 0.04\n0 0 0\n0 zero 0\n",
            "not a valid BVH",
        ),
        (
            "HIERARCHY\nROOT Hips\n{\n OFFSET 0 0 0\n CHANNELS 3 Xposition Yposition Zposition\n}\nMOTION\n"
            "Frames: 999999999\nFrame Time: 0.04\n0 0 0\n",
            "frames; a clip has",
        ),
    ],
)
def test_a_malformed_bvh_is_one_line_naming_the_file_and_the_project_is_unchanged(tmp_path, text, words):
    path = tmp_path / "broken.bvh"
    path.write_text(text)
    start = _human_project()
    with pytest.raises(ProjectError) as caught:
        import_bvh(start, path)
    message = str(caught.value)
    assert "broken.bvh" in message and words in message and "\n" not in message
    assert start.tracks == {}


def test_a_bvh_that_is_not_text_is_one_line(tmp_path):
    path = tmp_path / "binary.bvh"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(ProjectError, match=r"binary\.bvh.*not a BVH file"):
        read_bvh(path)


QUADRUPED_BODY = (  # a four-legged BVH named as the quadruped template names its joints (+y up, facing +x)
    ("hips", None, (0, 60, 0)),
    ("chest", "hips", (50, 0, 0)),
    ("neck", "chest", (10, 10, 0)),
    ("head", "neck", (8, 8, 0)),
    ("nose", "head", (8, -2, 0)),
    ("tail1", "hips", (-12, 4, 0)),
    ("tail2", "tail1", (-10, 2, 0)),
    ("tail3", "tail2", (-10, 0, 0)),
    ("front_l_knee", "chest", (0, -30, 4)),
    ("front_l_paw", "front_l_knee", (0, -28, 0)),
    ("front_r_knee", "chest", (0, -30, -4)),
    ("front_r_paw", "front_r_knee", (0, -28, 0)),
    ("back_l_knee", "hips", (0, -30, 4)),
    ("back_l_paw", "back_l_knee", (0, -28, 0)),
    ("back_r_knee", "hips", (0, -30, -4)),
    ("back_r_paw", "back_r_knee", (0, -28, 0)),
)


def test_a_four_legged_clip_drives_the_quadruped_template_by_its_joint_names(tmp_path):
    frames = 25
    lift = np.stack([np.linspace(0, 60, frames), np.zeros(frames), np.zeros(frames)], axis=1)
    path = write_bvh(tmp_path / "paw.bvh", frames, 24, {"front_l_knee": lift}, body=QUADRUPED_BODY)
    template = next(t for t in load_templates() if t.key == "quadruped")
    start = Project(image="picture.png", rig=placed(template, (100, 100, 400, 220)), frames=25, fps=24)
    project, report = import_bvh(start, path, plane="side")
    assert len(report.mapping) == 16 and report.mapping["front_l_paw"] == "front_l_paw"
    lengths = _bone_lengths(project)
    assert np.all(np.abs(lengths / lengths[0] - 1) < 0.01)
    xy = project.joint_positions()
    paw = xy[:, project.rig.joint_index("front_l_paw")]
    assert np.linalg.norm(paw[-1] - paw[0]) > 20  # the lifted leg moved its paw
