"""`poseanything-studio render` as a user runs it: examples render, bad input gets one line and exit 2."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import write_arm_project

from poseanything_studio.commands import main
from poseanything_studio.core.camera import apply_affine, camera_matrix
from poseanything_studio.core.project import load_project, reference_to_output
from poseanything_studio.rendering.export import read_video

ORANGE = np.array([230, 120, 30])  # the joint caps drawn on the robot arm example


def _orange_near(frame: np.ndarray, xy: np.ndarray, radius: int = 30) -> np.ndarray:
    x0, y0 = (int(v) - radius for v in xy)
    window = frame[max(y0, 0) : y0 + 2 * radius, max(x0, 0) : x0 + 2 * radius].astype(int)
    close = np.abs(window - ORANGE).sum(-1) < 90
    ys, xs = np.nonzero(close)
    assert xs.size > 20, f"no orange joint cap near {xy}"
    return np.array([xs.mean() + max(x0, 0), ys.mean() + max(y0, 0)])


def test_an_example_renders_and_the_wrist_goes_where_its_joint_went(examples_dir):
    project_path = examples_dir / "robot_arm.pasproj"
    out = examples_dir / "arm.mp4"
    assert main(["render", str(project_path), "-o", str(out)]) == 0
    frames, fps = read_video(out)
    project = load_project(project_path)
    assert frames.shape == (project.frames, 480, 832, 3) and fps == project.fps
    to_output = reference_to_output(project.read_image().shape[1::-1], project.size)
    wrist = project.rig.joint_index("wrist")
    cameras = project.camera.sample(project.frames)
    seen = {}
    for f in (0, 24):
        joint = apply_affine(to_output, project.joint_positions()[f, wrist])
        seen[f] = apply_affine(camera_matrix(cameras[f], project.size), joint)  # where the wrist should show
        assert np.linalg.norm(_orange_near(frames[f], seen[f]) - seen[f]) < 6
    assert np.linalg.norm(seen[24] - seen[0]) > 30  # it really moved


def test_every_example_renders(examples_dir, tmp_path):
    for name in ("cat", "fish", "robot_arm"):
        assert (
            main(
                [
                    "render",
                    str(examples_dir / f"{name}.pasproj"),
                    "-o",
                    str(tmp_path / f"{name}.mp4"),
                    "--frames",
                    "5",
                    "--size",
                    "320x192",
                ]
            )
            == 0
        )
        frames, _ = read_video(tmp_path / f"{name}.mp4")
        assert frames.shape == (5, 192, 320, 3)


def test_pose_and_parts_previews(arm_project, tmp_path):
    assert main(["render", str(arm_project), "-o", str(tmp_path / "pose"), "--preview", "pose"]) == 0
    assert main(["render", str(arm_project), "-o", str(tmp_path / "parts.mp4"), "--preview", "parts"]) == 0
    pose = sorted((tmp_path / "pose").glob("*.png"))
    assert len(pose) == 5
    import cv2

    first = cv2.imread(str(pose[0]))
    assert (first.sum(-1) == 0).mean() > 0.9  # mostly black canvas with the bones on it
    parts, _ = read_video(tmp_path / "parts.mp4")
    assert parts.shape[0] == 5 and parts[0].max() > 100


def test_camera_preview_draws_the_rectangle_moving_with_the_pan(tmp_path):
    import cv2

    path = write_arm_project(
        tmp_path,
        camera=[
            {"frame": 0, "pan": [0, 0], "zoom": 1.0, "roll": 0, "interp": "linear"},
            {"frame": 4, "pan": [40, 0], "zoom": 1.0, "roll": 0, "interp": "linear"},
        ],
    )
    assert main(["render", str(path), "-o", str(tmp_path / "cam"), "--preview", "camera"]) == 0
    frames = [cv2.imread(str(p)) for p in sorted((tmp_path / "cam").glob("*.png"))]
    assert len(frames) == 5

    def left_edge(frame):  # the leftmost column that is lit over most of the height: the rectangle's left side
        lit = (frame.sum(-1) > 60).mean(0)
        return int(np.flatnonzero(lit > 0.5)[0])

    assert abs(left_edge(frames[4]) - left_edge(frames[0]) - 40) <= 2  # the rectangle moves with the 40 px pan


def _run_bad(args, capsys):
    code = main(["render", *args])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda d: d.update(version=9), "version 9 is newer"),
        (lambda d: d.update(image="missing.png"), "image: no such file"),
        (lambda d: d["rig"]["bones"].append({"id": "z", "a": "tip", "b": "nobody"}), "rig.bones[2].b"),
        (lambda d: d.update(tracks={"tip": [{"frame": 0, "xy": [1, 2], "interp": "wobbly"}]}), "interp"),
        (lambda d: d.update(camera=[{"frame": 0, "zoom": 0}]), "camera[0].zoom"),
        (lambda d: d.update(frames=0), "frames"),
        (lambda d: d.update(size=[10**5, 32]), "size"),
        (lambda d: d.update(image="\ud800.png"), "image: '\\ud800.png' holds a character no file name can hold"),
        (lambda d: d.update(subject_mask="m\udfff/x.png"), "subject_mask: "),
        (lambda d: d.update(render={"renderer": "puppet", "model_dir": "\ud800"}), "render.model_dir: "),
    ],
)
def test_bad_projects_give_one_line_exit_2_and_write_nothing(tmp_path, capsys, edit, words):
    path = write_arm_project(tmp_path)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    out = tmp_path / "out.mp4"
    code, err = _run_bad([str(path), "-o", str(out)], capsys)
    assert code == 2 and words in err and str(path) in err and len(err.splitlines()) == 1
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arm.pasproj", "arm.png", "arm_mask.png"]


def test_truncated_json(tmp_path, capsys):
    path = write_arm_project(tmp_path)
    path.write_text(path.read_text()[:40])
    code, err = _run_bad([str(path), "-o", str(tmp_path / "o.mp4")], capsys)
    assert code == 2 and "not valid JSON" in err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--frames", "10"], "--frames: 10 must be 4k+1"),
        (["--size", "100x100"], "multiples of 32"),
        (["--renderer", "magic"], "invalid choice: 'magic'"),
        (["--offload", "magic"], "(choose from 'auto', 'none', 'model', 'group')"),  # the words, as --help lists them
        (["--frames", "abc"], "invalid int value: 'abc'"),
        (["--guidance", "nan"], "--guidance: nan must be a number from 0 to 50"),
        (["--steps", "0"], "--steps: 0 must be a whole number from 1 to 1000"),
    ],
)
def test_bad_options_exit_2(arm_project, tmp_path, capsys, args, words):
    with pytest.raises(SystemExit) as exit_info:
        code = main(["render", str(arm_project), "-o", str(tmp_path / "o.mp4"), *args])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err  # one line, not argparse's usage block
    assert not (tmp_path / "o.mp4").exists()


def test_unwritable_output_and_existing_output(arm_project, tmp_path, capsys):
    code, err = _run_bad([str(arm_project), "-o", str(tmp_path / "no" / "such" / "o.mp4")], capsys)
    assert code == 2 and "does not exist" in err
    existing = tmp_path / "keep.mp4"
    existing.write_bytes(b"precious")
    code, err = _run_bad([str(arm_project), "-o", str(existing)], capsys)
    assert code == 2 and "--overwrite" in err and existing.read_bytes() == b"precious"
    assert main(["render", str(arm_project), "-o", str(existing), "--overwrite"]) == 0
    assert existing.read_bytes() != b"precious"


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path):
    path = write_arm_project(tmp_path, frames=2401, size=(1024, 1024))
    out = tmp_path / "long.mp4"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    main_py = str(Path(__file__).resolve().parents[1] / "main.py")  # runs like the console script
    # A shell's background job (`cmd &`, as CI may run us) ignores SIGINT and children inherit that; a user's
    # terminal does not, so start the render with the default disposition.
    proc = subprocess.Popen(
        [sys.executable, main_py, "render", str(path), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".long.mp4") for p in tmp_path.iterdir()):
        time.sleep(0.1)  # wait until it is writing frames
    time.sleep(0.5)
    masks = _signal_masks(proc.pid)  # said when it fails: was SIGINT (bit 2, 0x2) blocked, ignored or caught?
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (err, masks)
    assert "cancelled" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["arm.pasproj", "arm.png", "arm_mask.png"]


def _signal_masks(pid: int) -> str:
    """The process' blocked, ignored and caught signal masks from /proc (Linux), for a failure's message."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return "no /proc"
    return " ".join(line.replace("\t", "") for line in lines if line.startswith(("SigBlk", "SigIgn", "SigCgt")))


def test_an_output_folder_that_refuses_files_is_one_line(arm_project, tmp_path, capsys, monkeypatch):
    """A read-only file system passes os.access as root; creating the temporary file then fails."""
    import tempfile

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    for out in (tmp_path / "o.mp4", tmp_path / "frames"):
        code, err = _run_bad([str(arm_project), "-o", str(out)], capsys)
        assert code == 2 and "Read-only file system" in err and len(err.splitlines()) == 1, err
        assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["eval"],
        ["eval", "--bogus", "a", "b"],
        ["model", "frob"],
        ["model", "tiny"],
        ["dataset"],
        ["dataset", "build", "clips", "--bogus"],
        ["train"],
    ],
)
def test_subcommand_option_errors_are_one_line_exit_2(argv, capsys):
    from poseanything_studio.commands import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1


@pytest.mark.skipif(sys.platform != "linux", reason="names of arbitrary bytes: Linux file systems")
def test_names_of_bytes_that_are_not_utf8(tmp_path, capsys):
    """A name from a broken file system (b'\\xff'): rendered where the system takes it, one line where a library
    cannot (the tokenizer library writes UTF-8 names only), never a traceback."""
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/\xff-folder"))
    (tmp_path / "plain").mkdir()
    write_arm_project(tmp_path / "plain")  # OpenCV's own imwrite crashes on such a name: made here, then renamed
    (tmp_path / "plain").rename(folder)
    project = folder / "arm.pasproj"
    out = Path(os.fsdecode(bytes(tmp_path) + b"/\xfe.mp4"))
    assert main(["render", str(project), "-o", str(out)]) == 0
    assert out.stat().st_size > 1000
    capsys.readouterr()
    assert main(["model", "tiny", str(folder / "tiny")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not UTF-8 text" in err, err
    assert not (folder / "tiny").exists()


def test_every_command_the_window_lists_has_its_help(capsys):
    from poseanything_studio.commands import COMMANDS, main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    listed = capsys.readouterr().out
    assert done.value.code == 0
    for name in COMMANDS:
        assert f"\n  {name} " in listed
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0 and f"usage: poseanything-studio {name}" in capsys.readouterr().out
