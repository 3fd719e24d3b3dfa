"""Limits and odd values in project files: each one line naming the file and the key, never a crash."""

from __future__ import annotations

import json
import os

import pytest
from helpers import write_arm_project

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.project import MAX_JOINTS, load_project


def _with(tmp_path, edit) -> str:
    path = write_arm_project(tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def _refused(path) -> str:
    with pytest.raises(ProjectError) as info:
        load_project(path)
    message = str(info.value)
    assert "\n" not in message and len(message) < 400 and "arm.pasproj" in message
    return message


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            lambda d: (
                d["rig"].update(joints=[{"id": f"j{i}", "xy": [i % 100, i // 100]} for i in range(10_000)], bones=[])
                or d.update(tracks={})
            ),
            f"rig.joints: 10000 joints; a rig has at most {MAX_JOINTS}",
        ),
        (
            lambda d: d["tracks"].update(tip=[{"frame": 10**30, "xy": [1, 2]}]),
            "tracks.tip[0].frame: 1000000000000000000",
        ),
        (lambda d: d.update(image="cat\u0000.png"), "image: 'cat\\x00.png' holds a NUL byte"),
        (lambda d: d.update(image="x" * 300 + ".png"), "image: the name 'xxxx"),
        (
            lambda d: (
                d["render"].update(model_dir="m" * 300) if "render" in d else d.update(render={"model_dir": "m" * 300})
            ),
            "render.model_dir: the name",
        ),
        (
            lambda d: d.update(frames=2401, size=[4096, 4096]),
            "frames: 2401 frames of 4096x4096 is more than one render",
        ),
        (lambda d: d["rig"]["joints"][0].update(id="j" * 10_000), "rig.joints[0].id: 'jjjj"),
        (
            lambda d: d["tracks"].update(tip=[{"frame": 0, "xy": [1, 2], "interp": "s" * 10_000}]),
            "tracks.tip[0].interp",
        ),
    ],
)
def test_absurd_values_are_one_line(tmp_path, edit, words):
    assert words in _refused(_with(tmp_path, edit))


def test_a_number_of_thousands_of_digits(tmp_path):
    path = write_arm_project(tmp_path)
    path.write_text(path.read_text().replace('"fps": 12', '"fps": 1' + "0" * 5000))
    assert "not valid JSON (a number of too many digits)" in _refused(path)


def test_a_fifo_or_a_huge_file_is_refused_without_reading(tmp_path):
    fifo = tmp_path / "arm.pasproj"
    os.mkfifo(fifo)
    assert "is not a regular file" in _refused(fifo)  # reading it would wait for a writer forever
    fifo.unlink()
    with open(fifo, "wb") as f:
        f.truncate(65 * 2**20)  # sparse: takes no disk
    assert "a project file is at most 64 MB" in _refused(fifo)


def test_relative_model_dir_is_read_against_the_project(tmp_path, monkeypatch):
    path = _with(tmp_path, lambda d: d.setdefault("render", {}).update(model_dir="weights/wan"))
    monkeypatch.chdir("/")
    assert load_project(path).model_dir_path() == str(tmp_path / "weights" / "wan")
