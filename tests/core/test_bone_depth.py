"""A bone's draw depth: an optional key in the project file, kept on save, checked on load."""

import json

import pytest
from helpers import write_arm_project

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import load_project, save_project


def _with_bones(path, bones):
    data = json.loads(path.read_text())
    data["rig"]["bones"] = bones
    path.write_text(json.dumps(data))
    return path


def test_depth_loads_saves_and_old_files_default_to_zero(tmp_path):
    path = write_arm_project(tmp_path)
    assert [b.depth for b in load_project(path).rig.bones] == [0, 0]
    _with_bones(path, [{"id": "upper", "a": "root", "b": "mid", "depth": 3}, {"id": "lower", "a": "mid", "b": "tip"}])
    project = load_project(path)
    assert [b.depth for b in project.rig.bones] == [3, 0]
    saved = json.loads(save_project(project, tmp_path / "again.pasproj").path.read_text())
    assert saved["rig"]["bones"][0]["depth"] == 3
    assert "depth" not in saved["rig"]["bones"][1]  # files without depths stay as they were


def test_renaming_a_joint_or_bone_keeps_its_depth(tmp_path):
    rig = load_project(write_arm_project(tmp_path)).rig.with_bone_depth("lower", -2)
    assert rig.renamed_joint("mid", "elbow").bones[1].depth == -2
    assert rig.renamed_bone("lower", "forearm").bones[1].depth == -2


@pytest.mark.parametrize("depth", ["front", 1.5, True, 10**9])
def test_a_bad_depth_is_one_line_naming_the_key(tmp_path, depth):
    path = _with_bones(
        write_arm_project(tmp_path),
        [{"id": "upper", "a": "root", "b": "mid", "depth": depth}, {"id": "lower", "a": "mid", "b": "tip"}],
    )
    with pytest.raises(ProjectError, match=r"rig\.bones\[0\]\.depth"):
        load_project(path)
