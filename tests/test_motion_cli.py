"""`poseanything-studio motion`: import writes a new project with the motion keyed and leaves the input as it
was; a bad motion file is one line and exit 2; export and video write what other tools read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from motion_files import write_bvh

from poseanything_studio.commands import main
from poseanything_studio.core.project import Project, load_project, save_project
from poseanything_studio.core.templates import load_templates, placed

MAIN_PY = str(Path(__file__).resolve().parents[1] / "main.py")


def _human_project(tmp_path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (480, 480), "white").save(tmp_path / "person.png")
    human = next(t for t in load_templates() if t.key == "human")
    project = Project(
        image=str(tmp_path / "person.png"), rig=placed(human, (150, 40, 180, 400)), frames=25, fps=24, size=(480, 480)
    )
    return save_project(project, tmp_path / "person.pasproj").path


def test_import_a_bvh_writes_a_new_project_and_keeps_the_input(tmp_path, capsys):
    source = _human_project(tmp_path)
    before = source.read_bytes()
    swing = np.stack([np.linspace(0, 90, 25), np.zeros(25), np.zeros(25)], axis=1)
    bvh = write_bvh(tmp_path / "wave.bvh", 25, 24, {"RightArm": swing})
    assert main(["motion", "import", str(source), str(bvh), "-o", str(tmp_path / "waving.pasproj")]) == 0
    out = capsys.readouterr().out
    assert "wave.bvh: 16 joints mapped" in out
    assert source.read_bytes() == before
    waving = load_project(tmp_path / "waving.pasproj")
    assert waving.tracks and waving.extra["joint_mapping"]["pelvis"] == "Hips"
    assert main(["motion", "import", str(source), str(bvh), "-o", str(tmp_path / "waving.pasproj")]) == 2
    assert "exists" in capsys.readouterr().err


def test_a_malformed_bvh_is_one_line_exit_2_and_nothing_written(tmp_path):
    source = _human_project(tmp_path)
    (tmp_path / "bad.bvh").write_text("HIERARCHY\nROOT Hips\n{\n}\nMOTION\nFrames: many\n")
    done = subprocess.run(
        [
            sys.executable,
            MAIN_PY,
            "motion",
            "import",
            str(source),
            str(tmp_path / "bad.bvh"),
            "-o",
            str(tmp_path / "out.pasproj"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.bvh" in lines[0] and "Frames" in lines[0]
    assert not (tmp_path / "out.pasproj").exists()


def test_export_openpose_json_reads_back_as_the_rigs_joints(tmp_path):
    source = _human_project(tmp_path)
    assert main(["motion", "export", str(source), "-o", str(tmp_path / "pose.json")]) == 0
    documents = json.loads((tmp_path / "pose.json").read_text())
    assert len(documents) == 25 and len(documents[0]["people"][0]["pose_keypoints_2d"]) == 75
    assert main(["motion", "export", str(source), "-o", str(tmp_path / "frames") + "/"]) == 0
    files = sorted((tmp_path / "frames").glob("*_keypoints.json"))
    assert len(files) == 25
    again = tmp_path / "again.pasproj"
    assert main(["motion", "import", str(source), str(tmp_path / "frames"), "-o", str(again)]) == 0
    a, b = load_project(source).joint_positions(), load_project(again).joint_positions()
    assert np.abs(a - b).max() < 1.0  # a still pose out and back in: the rig stays where it was


def test_a_pose_video_in_the_openpose_palette(tmp_path):
    source = _human_project(tmp_path)
    assert main(["motion", "video", str(source), "-o", str(tmp_path / "pose") + "/"]) == 0
    from poseanything_studio.core.images import read_rgba

    frames = sorted((tmp_path / "pose").glob("*.png"))
    assert len(frames) == 25
    picture = read_rgba(frames[0])[..., :3]
    colours = {tuple(c) for c in picture.reshape(-1, 3)[::7].tolist()}
    assert (255, 85, 0) in colours and (0, 0, 0) in colours  # OpenPose's neck orange, on black


def test_a_pose_video_in_the_release_style_is_white_lines_on_black(tmp_path):
    source = _human_project(tmp_path)
    assert main(["motion", "video", str(source), "-o", str(tmp_path / "release") + "/", "--style", "release"]) == 0
    from poseanything_studio.core.images import read_rgba

    picture = read_rgba(sorted((tmp_path / "release").glob("*.png"))[0])[..., :3]
    assert set(np.unique(picture).tolist()) == {0, 255} and (picture == 255).all(axis=2).any()
