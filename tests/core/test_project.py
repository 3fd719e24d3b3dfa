"""The project file: exact v1 format, unknown keys kept, atomic saves, one clear line for every bad file."""

import json
import os
from pathlib import Path

import pytest
from helpers import write_arm_project

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import load_project, project_to_dict, save_project
from poseanything_studio.core.tracks import Key, Track

DESIGN_EXAMPLE = {
    "format": "poseanything-project",
    "version": 1,
    "image": "cat.png",
    "subject_mask": "cat_mask.png",
    "fps": 24,
    "frames": 49,
    "size": [832, 480],
    "rig": {
        "joints": [{"id": "head", "xy": [410, 120]}, {"id": "tail", "xy": [120, 300]}],
        "bones": [{"id": "spine", "a": "head", "b": "tail"}],
    },
    "tracks": {
        "head": [
            {"frame": 0, "xy": [410, 120], "interp": "smooth"},
            {"frame": 48, "xy": [450, 110], "interp": "smooth"},
        ]
    },
    "camera": [{"frame": 0, "pan": [0, 0], "zoom": 1.0, "roll": 0.0, "interp": "smooth"}],
    "render": {
        "renderer": "puppet",
        "prompt": "",
        "negative_prompt": "",
        "steps": 30,
        "guidance": 5.0,
        "seed": 0,
        "model_dir": None,
    },
}


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "p.pasproj"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_the_design_example_round_trips_exactly(tmp_path):
    project = load_project(_write(tmp_path, DESIGN_EXAMPLE))
    assert json.loads(json.dumps(project_to_dict(project))) == DESIGN_EXAMPLE
    assert project.joint_positions()[48, 0].tolist() == [450, 110]
    assert project.joint_positions()[30, 1].tolist() == [120, 300]  # no track: stays at rest


def test_unknown_keys_are_kept_on_save(tmp_path):
    data = {
        **DESIGN_EXAMPLE,
        "author": "mia",
        "rig": {**DESIGN_EXAMPLE["rig"], "note": "quadruped"},
        "render": {**DESIGN_EXAMPLE["render"], "sampler": "unipc"},
    }
    project = load_project(_write(tmp_path, data))
    save_project(project, tmp_path / "p.pasproj")
    saved = json.loads((tmp_path / "p.pasproj").read_text())
    assert saved["author"] == "mia" and saved["rig"]["note"] == "quadruped" and saved["render"]["sampler"] == "unipc"


def test_save_as_elsewhere_keeps_the_picture_found(tmp_path):
    path = write_arm_project(tmp_path)
    (tmp_path / "sub").mkdir()
    saved = save_project(load_project(path), tmp_path / "sub" / "copy.pasproj")
    data = json.loads((tmp_path / "sub" / "copy.pasproj").read_text())
    assert data["image"] == "../arm.png"
    assert load_project(tmp_path / "sub" / "copy.pasproj").read_image().shape[:2] == (160, 256)
    assert saved.path == (tmp_path / "sub" / "copy.pasproj").resolve()


def test_a_crash_mid_save_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = write_arm_project(tmp_path)
    before = path.read_bytes()
    project = load_project(path).with_track("tip", Track((Key(0, (1.0, 2.0)),)))

    def crash(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_project(project, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def _bad(**changes):
    data = json.loads(json.dumps(DESIGN_EXAMPLE))
    for dotted, value in changes.items():
        node, *path = dotted.split("__")
        target = data
        for part in [node, *path][:-1]:
            target = target[int(part)] if isinstance(target, list) else target[part]
        last = [node, *path][-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        ('{"format": "poseanything-project", "version": 1, "ima', None, "not valid JSON"),
        ("[]", None, "JSON object"),
        (_bad(format="something"), "format", "expected 'poseanything-project'"),
        (_bad(version=2), "version", "newer than this program reads"),
        (_bad(image=""), "image", "must name the reference picture"),
        (_bad(rig__bones__0__b="ghost"), "rig.bones[0].b", "unknown joint 'ghost'"),
        (_bad(tracks={"ghost": []}), "tracks.ghost", "unknown joint"),
        (_bad(rig__joints__1__id="head"), "rig.joints[1].id", "duplicate joint id"),
        (_bad(rig__joints__0__xy=["a", 3]), "rig.joints[0].xy", "must be [x, y] numbers"),
        (_bad(tracks__head__0__interp="bouncy"), "tracks.head[0].interp", "unknown interpolation"),
        (_bad(camera__0__zoom=0), "camera[0].zoom", "must be a number > 0"),
        (_bad(camera__0__zoom=-1.5), "camera[0].zoom", "must be a number > 0"),
        (_bad(frames=0), "frames", "4k+1"),
        (_bad(frames=50), "frames", "4k+1"),
        (_bad(frames=10**6 + 1), "frames", "4k+1"),
        (_bad(size=[0, 480]), "size", "multiples of 32"),
        (_bad(size=[833, 480]), "size", "multiples of 32"),
        (_bad(size=[100000, 480]), "size", "multiples of 32"),
        (_bad(render__renderer="magic"), "render.renderer", "unknown renderer 'magic'"),
        (_bad(render__steps=0), "render.steps", "from 1 to 1000"),
    ],
)
def test_bad_files_give_one_line_naming_file_and_key(tmp_path, data, key, words):
    path = _write(tmp_path, data)
    with pytest.raises(ProjectError) as err:
        load_project(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert words in message
    if key:
        assert f": {key}: " in message


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ProjectError, match="no such file"):
        load_project(tmp_path / "nope.pasproj")
    with pytest.raises(ProjectError, match="is a folder"):
        load_project(tmp_path)


def test_missing_and_unreadable_images_name_the_image_key(tmp_path):
    path = write_arm_project(tmp_path)
    (tmp_path / "arm.png").write_bytes(b"not a png")
    with pytest.raises(ProjectError, match=r"arm.pasproj: image: cannot decode"):
        load_project(path).read_image()
    (tmp_path / "arm.png").unlink()
    with pytest.raises(ProjectError, match=r"arm.pasproj: image: no such file"):
        load_project(path).read_image()


@pytest.mark.parametrize(
    ("data", "key", "words"),
    [
        (_bad(camera__0__pan=[0]), "camera[0].pan", "must be [x, y] numbers"),
        (_bad(camera__0__interp="bogus"), "camera[0].interp", "unknown interpolation"),
        (_bad(tracks__head__0__frame=1.5), "tracks.head[0].frame", "whole frame number"),
        (_bad(rig__joints__0__xy=[1e300, 0]), "rig.joints[0].xy", "too far out"),
        (_bad(rig__joints__0__xy=[10**400, 0]), "rig.joints[0].xy", "must be [x, y] numbers"),
        (_bad(tracks__head__0__xy=[1e308, -1e308]), "tracks.head[0].xy", "too far out"),
        (_bad(camera__0__pan=[1e300, 0]), "camera[0].pan", "too far out"),
        (_bad(camera__0__zoom=1e300), "camera[0].zoom", "between 0.01 and 100"),
        (_bad(camera__0__roll=1e300), "camera[0].roll", "degrees"),
    ],
)
def test_keys_are_named_once_and_absurd_numbers_are_refused(tmp_path, data, key, words):
    with pytest.raises(ProjectError) as err:
        load_project(_write(tmp_path, data))
    assert str(err.value) == f"{tmp_path / 'p.pasproj'}: {key}: {err.value.detail}"
    assert words in err.value.detail


def test_a_byte_order_mark_is_fine_and_deep_nesting_is_one_line(tmp_path):
    path = tmp_path / "p.pasproj"
    path.write_text(json.dumps(DESIGN_EXAMPLE), encoding="utf-8-sig")  # as Windows Notepad saves
    assert load_project(path).frames == 49
    path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(ProjectError, match="nested too deeply"):
        load_project(path)
