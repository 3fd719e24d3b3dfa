"""Whatever save_project writes, load_project reads back: a project past a limit is refused before anything is
written, with the very line load_project gives for that file; check_limits (the window's check) agrees."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import write_arm_project

from poseanything_studio.core import project as P
from poseanything_studio.core.camera import CameraKey, CameraPath
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import check_limits, load_project, project_to_dict, save_project
from poseanything_studio.core.rig import Bone, Joint, Rig
from poseanything_studio.core.tracks import Key, Track

ROOT = Path(__file__).resolve().parents[2]


def _many_joints(p):
    joints = tuple(Joint(f"j{i}", (float(i % 50), float(i // 50))) for i in range(P.MAX_JOINTS + 1))
    return replace(p, rig=Rig(joints, ()), tracks={})


def _many_bones(p):
    joints = tuple(Joint(f"j{i}", (float(i), 0.0)) for i in range(P.MAX_JOINTS))
    bones = tuple(Bone(f"b{i}_{k}", f"j{i}", f"j{(i + k) % P.MAX_JOINTS}") for k in (1, 2, 3) for i in range(400))
    return replace(p, rig=Rig(joints, bones), tracks={})


def _long_track(p):
    return p.with_track("tip", Track(tuple(Key(f, (1.0, 2.0)) for f in range(P.MAX_KEYS + 1))))


def _long_camera(p):
    return replace(p, camera=CameraPath(tuple(CameraKey(f) for f in range(P.MAX_KEYS + 1))))


def _far_key(p):
    return p.with_track("tip", Track((Key(P.MAX_KEY_FRAME + 1, (1.0, 2.0)),)))


def _far_joint(p):
    return replace(p, rig=p.rig.with_joints_moved({"mid": (P.MAX_COORD * 3, 5.0)}))


def _long_prompt(p):
    return replace(p, render=replace(p.render, prompt="x" * (P.MAX_PROMPT_CHARS + 1)))


def _long_negative(p):
    return replace(p, render=replace(p.render, negative_prompt="no " * P.MAX_PROMPT_CHARS))


def _too_many_keys_in_all(p):
    per = P.MAX_TOTAL_KEYS // 30 + 1
    joints = tuple(Joint(f"j{i}", (float(i), 0.0)) for i in range(30))
    track = Track(tuple(Key(f, (1.0, 2.0)) for f in range(per)))
    return replace(p, rig=Rig(joints, ()), tracks={j.id: track for j in joints})


def _huge_render(p):
    return replace(p, frames=P.MAX_FRAMES, size=(P.MAX_SIDE, P.MAX_SIDE))


CASES = {
    "joints": (_many_joints, "rig.joints: 501 joints; a rig has at most 500"),
    "bones": (_many_bones, "rig.bones: 1200 bones; a rig has at most 1000"),
    "track keys": (_long_track, "tracks.tip: 10001 keys; a track has at most 10000"),
    "camera keys": (_long_camera, "camera: 10001 keys; the camera path has at most 10000"),
    "key frame": (_far_key, "tracks.tip[0].frame: 100001 must be a whole frame number from 0 to 100000"),
    "coordinate": (_far_joint, "rig.joints[1].xy: [3000000, 5] is too far out"),
    "prompt": (_long_prompt, "render.prompt: 10001 characters; a prompt has at most 10000"),
    "negative prompt": (_long_negative, "render.negative_prompt: 30000 characters; a prompt has at most"),
    "all keys": (_too_many_keys_in_all, "tracks: 200010 keys; tracks and camera together hold at most 200000"),
    "render size": (_huge_render, "frames: 2401 frames of 4096x4096 is more than one render makes"),
}


@pytest.mark.parametrize("name", CASES)
def test_save_refuses_what_load_refuses_with_the_same_line(tmp_path, name):
    build, words = CASES[name]
    base = load_project(write_arm_project(tmp_path))
    project = build(base)
    target = tmp_path / "over.pasproj"
    with pytest.raises(ProjectError) as saved:
        save_project(project, target)
    assert not target.exists() and not [p for p in tmp_path.iterdir() if ".pastmp-" in p.name]
    target.write_text(json.dumps(project_to_dict(replace(project, path=None))))  # the file a save would have made
    with pytest.raises(ProjectError) as loaded:
        load_project(target)
    assert str(saved.value) == str(loaded.value)
    assert words in str(saved.value) and "\n" not in str(saved.value)
    with pytest.raises(ProjectError) as checked:  # the window's check before an edit: the same words
        check_limits(project, since=base)
    assert str(checked.value) == f"{loaded.value.key}: {loaded.value.detail}"


def test_at_each_limit_the_project_saves_and_reopens_equal(tmp_path):
    base = load_project(write_arm_project(tmp_path))
    joints = tuple(Joint(f"j{i}", (float(i % 50), float(i // 50))) for i in range(P.MAX_JOINTS))
    bones = tuple(Bone(f"b{i}_{k}", f"j{i}", f"j{(i + k) % P.MAX_JOINTS}") for k in (1, 2) for i in range(P.MAX_JOINTS))
    project = replace(
        base,
        rig=Rig(joints, bones),
        tracks={"j0": Track(tuple(Key(f, (1.0, -P.MAX_COORD)) for f in range(P.MAX_KEYS)))},
        render=replace(base.render, prompt="a" * P.MAX_PROMPT_CHARS),
    )
    check_limits(project)
    saved = save_project(project, tmp_path / "full.pasproj")
    assert load_project(tmp_path / "full.pasproj") == saved == replace(project, path=saved.path)


def test_a_lone_surrogate_in_a_joint_id_is_saved_escaped_and_reads_back_the_same(tmp_path):
    base = load_project(write_arm_project(tmp_path))
    project = edits_rename(base, "tip", "tip\udc80")
    saved = save_project(project, tmp_path / "odd.pasproj")
    raw = (tmp_path / "odd.pasproj").read_bytes()
    raw.decode("utf-8")  # the file is valid UTF-8
    assert b"tip\\udc80" in raw
    again = load_project(tmp_path / "odd.pasproj")
    assert again == saved and "tip\udc80" in again.rig.joint_ids and "tip\udc80" in again.tracks


def edits_rename(project, old, new):
    tracks = {(new if k == old else k): v for k, v in project.tracks.items()}
    if old not in tracks:
        tracks[new] = Track((Key(0, (1.0, 2.0)),))
    return replace(project, rig=project.rig.renamed_joint(old, new), tracks=tracks)


def test_the_docs_state_every_limit_as_the_code_has_it():
    text = (ROOT / "docs" / "project-limits.md").read_text()
    for name in (
        "MAX_FRAMES",
        "MAX_SIDE",
        "MAX_JOINTS",
        "MAX_BONES",
        "MAX_KEYS",
        "MAX_TOTAL_KEYS",
        "MAX_KEY_FRAME",
        "MAX_ID_CHARS",
        "MAX_PROMPT_CHARS",
        "MAX_PROJECT_BYTES",
        "MAX_NAME_BYTES",
    ):
        value = getattr(P, name)
        shown = f"{value // 2**20} MB" if name == "MAX_PROJECT_BYTES" else f"{value:,}"
        row = next((line for line in text.splitlines() if f"`{name}`" in line), "")
        assert shown in row, f"docs/project-limits.md: {name} should read {shown}"
