"""Commands never write onto their own inputs, never replace a file silently, and say so in one line."""

from __future__ import annotations

import os

import numpy as np
import pytest

from poseanything_studio.cli import main
from poseanything_studio.rendering.export import FrameWriter, output_target


def _clip(path, value: int, frames: int = 5):
    with FrameWriter(output_target(str(path)), 12, (64, 32), frames) as writer:
        for _ in range(frames):
            writer.write(np.full((32, 64, 3), value, np.uint8))


@pytest.fixture
def videos(tmp_path):
    _clip(tmp_path / "a.mp4", 100)
    _clip(tmp_path / "b.mp4", 110)
    return tmp_path / "a.mp4", tmp_path / "b.mp4"


def _one_line_2(args, capsys) -> str:
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("option", ["--csv", "--frames-csv"])
def test_eval_never_writes_onto_an_input(videos, capsys, option):
    pred, gt = videos
    before = pred.read_bytes()
    for target in (pred, gt, pred.parent / "." / pred.name):
        err = _one_line_2(["eval", str(pred), str(gt), option, str(target)], capsys)
        assert "is one of this command's inputs" in err
    assert pred.read_bytes() == before


def test_eval_never_replaces_a_file_silently(videos, tmp_path, capsys):
    pred, gt = videos
    mine = tmp_path / "notes.csv"
    mine.write_text("my notes\n")
    err = _one_line_2(["eval", str(pred), str(gt), "--csv", str(mine)], capsys)
    assert "exists; pass --overwrite" in err and mine.read_text() == "my notes\n"
    assert main(["eval", str(pred), str(gt), "--csv", str(mine), "--overwrite"]) == 0
    assert mine.read_text().startswith("clip,frames")


@pytest.mark.parametrize("make,words", [
    (lambda d: d / "nowhere" / "m.csv", "does not exist"),
    (lambda d: d, "is a folder"),
    (lambda d: d / ("x" * 300 + ".csv"), "longer than 255 bytes"),
])
def test_eval_bad_csv_paths_are_one_line(videos, tmp_path, capsys, make, words):
    pred, gt = videos
    err = _one_line_2(["eval", str(pred), str(gt), "--csv", str(make(tmp_path))], capsys)
    assert words in err


def test_dataset_build_output_checks_and_a_fifo_among_the_clips(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    os.mkfifo(clips / "stuck.mp4")  # opening it would wait for a writer forever
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "exists and is not a folder" in _one_line_2(["dataset", "build", str(clips), "-o", str(a_file)], capsys)
    assert "also an input folder" in _one_line_2(["dataset", "build", str(clips), "-o", str(clips)], capsys)
    assert main(["dataset", "build", str(clips), "-o", str(tmp_path / "ds")]) == 0
    assert (tmp_path / "ds" / "manifest.jsonl").read_text() == ""
    (tmp_path / "ds" / "manifest.jsonl").write_text('{"clip": "a", "status": "rejected"}\n{"clip": "b", "sta')
    assert main(["dataset", "build", str(clips), "-o", str(tmp_path / "ds")]) == 0  # a line cut short is dropped
    assert (tmp_path / "ds" / "manifest.jsonl").read_text() == '{"clip": "a", "status": "rejected"}\n'
    (tmp_path / "ds" / "manifest.jsonl").write_text("not json\n")
    assert "line 1 is not a clip entry" in _one_line_2(["dataset", "build", str(clips), "-o", str(tmp_path / "ds")],
                                                       capsys)


def test_model_tiny_output_checks(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert "not an empty folder" in _one_line_2(["model", "tiny", str(a_file)], capsys)
    assert "is not a folder" in _one_line_2(["model", "tiny", str(a_file / "sub")], capsys)
    assert "longer than 255 bytes" in _one_line_2(["model", "tiny", str(tmp_path / ("x" * 300))], capsys)


def test_render_never_replaces_its_own_picture(tmp_path, capsys):
    import json

    from helpers import write_arm_project

    project = write_arm_project(tmp_path)
    frames = tmp_path / "frames"
    frames.mkdir()
    (tmp_path / "arm.png").rename(frames / "frame_00000.png")  # the picture sits where frame 0 would go
    data = json.loads(project.read_text())
    project.write_text(json.dumps({**data, "image": "frames/frame_00000.png"}))
    before = (frames / "frame_00000.png").read_bytes()
    err = _one_line_2(["render", str(project), "-o", str(frames) + "/", "--overwrite"], capsys)
    assert "is an input of this render" in err
    assert (frames / "frame_00000.png").read_bytes() == before
