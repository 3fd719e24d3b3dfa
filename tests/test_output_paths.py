"""Commands never write onto their own inputs, never replace a file silently, and say so in one line."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from poseanything_studio.commands import main
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


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "nowhere" / "m.csv", "does not exist"),
        (lambda d: d, "is a folder"),
        (lambda d: d / ("x" * 300 + ".csv"), "longer than 255 bytes"),
    ],
)
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
    assert "line 1 is not a clip entry" in _one_line_2(
        ["dataset", "build", str(clips), "-o", str(tmp_path / "ds")], capsys
    )


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


def test_an_overwritten_png_sequence_is_exactly_the_new_frames(tmp_path, capsys):
    from helpers import write_arm_project

    project = write_arm_project(tmp_path, frames=13)
    frames = tmp_path / "frames"
    assert main(["render", str(project), "-o", str(frames) + "/"]) == 0
    mine = ["notes.txt", "frame_00003.jpg", "frame_7.png", "other_00007.png", "frame_00001.png.bak"]
    for name in mine:
        (frames / name).write_text("mine")
    short = write_arm_project(tmp_path, frames=5)
    err = _one_line_2(["render", str(short), "-o", str(frames) + "/"], capsys)
    assert "exists; pass --overwrite" in err
    assert main(["render", str(short), "-o", str(frames) + "/", "--overwrite"]) == 0
    assert sorted(p.name for p in frames.iterdir()) == sorted([f"frame_{i:05d}.png" for i in range(5)] + mine)
    assert all((frames / name).read_text() == "mine" for name in mine)


def test_older_frames_alone_still_ask_before_they_go(tmp_path, capsys):
    """Frames 5-12 of an earlier render, none of the names a 5-frame render writes: still not replaced silently."""
    from helpers import write_arm_project

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(5, 13):
        (frames / f"frame_{i:05d}.png").write_bytes(b"old")
    project = write_arm_project(tmp_path, frames=5)
    err = _one_line_2(["render", str(project), "-o", str(frames)], capsys)
    assert "frame_00005.png: exists; pass --overwrite" in err
    assert len(list(frames.iterdir())) == 8


@pytest.mark.parametrize("kind", ["mp4", "png"])
def test_an_output_that_appears_during_a_render_is_kept(tmp_path, kind):
    from poseanything_studio.core.fileio import TEMP_TAG
    from poseanything_studio.rendering.export import OutputError

    target = output_target(str(tmp_path / ("out.mp4" if kind == "mp4" else "seq/")))
    appeared = tmp_path / "out.mp4" if kind == "mp4" else tmp_path / "seq" / "frame_00002.png"
    with (
        pytest.raises(OutputError, match="appeared while rendering; it was kept"),
        FrameWriter(target, 12, (64, 32), 5, overwrite=False) as writer,
    ):
        for f in range(5):
            writer.write(np.full((32, 64, 3), 50, np.uint8))
            if f == 2:
                appeared.parent.mkdir(exist_ok=True)
                appeared.write_bytes(b"someone else's")
    assert appeared.read_bytes() == b"someone else's"
    assert sorted(p.name for p in appeared.parent.iterdir()) == [appeared.name]  # no new frame, no temporary
    assert not any(TEMP_TAG in p.name for p in tmp_path.rglob("*"))


@pytest.mark.parametrize("way", ["renameat2", "link", "check"])
def test_rename_without_replace_keeps_the_target_every_way(tmp_path, monkeypatch, way):
    import errno

    from poseanything_studio.core import fileio

    if way != "renameat2":
        monkeypatch.setattr(fileio, "libc_renameat2", lambda: None)
    elif fileio.libc_renameat2() is None:
        pytest.skip("no renameat2 here")
    if way == "check":

        def no_links(*_args):
            raise OSError(errno.EPERM, "links not supported")

        monkeypatch.setattr(os, "link", no_links)
    kept, new = tmp_path / "kept", tmp_path / "new"
    kept.write_text("kept")
    new.write_text("new")
    with pytest.raises(FileExistsError) as info:
        fileio.rename_no_replace(new, kept)
    assert info.value.filename == str(kept)
    assert kept.read_text() == "kept" and new.read_text() == "new"
    fileio.rename_no_replace(new, tmp_path / "moved")
    assert (tmp_path / "moved").read_text() == "new" and not new.exists()


def test_save_as_onto_a_symlink_replaces_the_link_not_the_file_it_points_to(tmp_path):
    from helpers import write_arm_project

    from poseanything_studio.core.project import load_project, save_project

    project_path = write_arm_project(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = elsewhere / "theirs.pasproj"
    theirs.write_text("someone else's project")
    link = tmp_path / "link.pasproj"
    link.symlink_to(theirs)
    saved = save_project(load_project(project_path), link)
    assert theirs.read_text() == "someone else's project"
    assert not link.is_symlink() and saved.path == link
    assert load_project(link).rig == load_project(project_path).rig


def test_examples_copy_that_fails_half_way_leaves_nothing(tmp_path, capsys, monkeypatch):
    import shutil

    from poseanything_studio.bundled import example_projects

    real_copy = shutil.copy2
    last = sorted(example_projects().values())[-1].name  # the disk fills when this file comes, after the others

    def copy_then_full(source, target, **kwargs):
        if Path(source).name == last:
            raise OSError(28, "No space left on device", str(target))
        return real_copy(source, target, **kwargs)

    monkeypatch.setattr(shutil, "copy2", copy_then_full)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    err = _one_line_2(["examples", "--copy", str(mine)], capsys)
    assert "No space left on device" in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    err = _one_line_2(["examples", "--copy", str(tmp_path / "new")], capsys)
    assert not (tmp_path / "new").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def _eval_error(args, capsys) -> str:
    """Exit 2 and one error line (after the table and its note on what was not computed)."""
    code = main(args)
    errors = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("note: ")]
    assert code == 2 and len(errors) == 1, errors
    return errors[0]


def test_an_eval_csv_that_cannot_be_written_or_appears_meanwhile(videos, tmp_path, capsys, monkeypatch):
    from poseanything_studio.commands import evaluate as evaluation

    pred, gt = videos
    before = sorted(p.name for p in tmp_path.iterdir())
    real = evaluation.to_csv

    def someone_writes_it(rows):
        (tmp_path / "m.csv").write_text("someone else's")
        return real(rows)

    monkeypatch.setattr(evaluation, "to_csv", someone_writes_it)
    err = _eval_error(["eval", str(pred), str(gt), "--csv", str(tmp_path / "m.csv")], capsys)
    assert "appeared while evaluating; it was kept" in err
    assert (tmp_path / "m.csv").read_text() == "someone else's"
    (tmp_path / "m.csv").unlink()
    monkeypatch.setattr(evaluation, "to_csv", real)

    from poseanything_studio.core import fileio

    def full_disk(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio, "fsync_file", full_disk)
    err = _eval_error(["eval", str(pred), str(gt), "--csv", str(tmp_path / "m.csv")], capsys)
    assert "No space left on device" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_model_tiny_that_fails_half_way_leaves_nothing(tmp_path, capsys, monkeypatch):
    from poseanything_studio.model import tiny

    real = tiny.write_tiny_model

    def write_then_fill_the_disk(root, **kwargs):
        real(root, **kwargs)
        raise OSError(28, "No space left on device", str(root / "model_index.json"))

    monkeypatch.setattr(tiny, "write_tiny_model", write_then_fill_the_disk)
    err = _one_line_2(["model", "tiny", str(tmp_path / "m")], capsys)
    assert "No space left on device" in err
    assert list(tmp_path.iterdir()) == []
