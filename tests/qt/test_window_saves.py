"""Every way the window writes a project: new work saved beside its picture, in another folder, under a name
with spaces and non-ASCII letters; a save or autosave killed at any moment; two windows saving one project."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from poseanything_studio.core import edits
from poseanything_studio.core.fileio import TEMP_TAG
from poseanything_studio.core.project import load_project
from poseanything_studio.qt import autosave
from poseanything_studio.qt.main_window import blank_project, checked_pictures

ROOT = Path(__file__).resolve().parents[2]


def _picture(folder: Path, name: str = "photo.png") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    picture = folder / name
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(picture)
    return picture


def _some_work(studio, picture: Path) -> np.ndarray:
    studio.set_project(blank_project(picture))
    doc = studio.doc
    project, a = edits.add_joint(doc.project, (100.0, 120.0))
    project, b = edits.add_joint(project, (200.0, 120.0), parent=a)
    doc.apply(project, "joints")
    doc.apply(edits.set_joint_key(doc.project, b, 24, (210.0, 90.0)), "key")
    mask = np.zeros((240, 320), bool)
    mask[100:140, 90:210] = True
    doc.apply_mask(mask, "Paint mask")
    return mask


def _reopens_as_saved(studio, path: Path, mask: np.ndarray) -> None:
    reopened = load_project(path)
    assert reopened == studio.doc.project
    assert np.array_equal(reopened.read_subject_mask(), mask)
    checked_pictures(reopened, studio.preview)  # the picture reads from where the file says


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


@pytest.mark.parametrize("where", ["beside the picture", "another folder", "spaces and non-ASCII"])
def test_new_work_saves_and_reopens_writing_only_what_was_named(studio, tmp_path, where):
    pictures = tmp_path / "pictures"
    picture = _picture(pictures)
    mask = _some_work(studio, picture)
    folder = {
        "beside the picture": pictures,
        "another folder": tmp_path / "projects",
        "spaces and non-ASCII": tmp_path / "Mes projets été",
    }[where]
    folder.mkdir(exist_ok=True)
    name = "chat d'été – 猫.pasproj" if "ASCII" in where else "cat.pasproj"
    before, pictures_before = _files(folder), _files(pictures)
    assert studio.save_to(folder / name)
    stem = name.removesuffix(".pasproj")
    assert _files(folder) - before == {name, f"{stem}_mask.png"}
    if folder != pictures:
        assert _files(pictures) == pictures_before
    assert not studio.doc.dirty
    _reopens_as_saved(studio, folder / name, mask)
    studio.doc.apply(edits.set_fps(studio.doc.project, 12), "fps")  # saved again: the same two files
    assert studio.save_to(folder / name)
    assert _files(folder) - before == {name, f"{stem}_mask.png"}
    _reopens_as_saved(studio, folder / name, mask)


def test_a_save_clears_what_a_killed_save_left_under_another_mask_name(studio, examples_dir):
    """A save killed while writing `cat_mask2.png` left its temporary; the next save writes `cat_mask.png`
    (the name the project no longer points at) and clears that temporary too, not only its own target's."""
    project = examples_dir / "cat.pasproj"
    doc = studio.doc
    for rows in (100, 120):  # the first save writes cat_mask2.png, the second cat_mask.png again
        mask = np.zeros((480, 832), bool)
        mask[:rows] = True
        doc.apply_mask(mask)
        if rows == 120:
            dead = subprocess.Popen([sys.executable, "-c", "pass"])
            dead.wait()
            left = examples_dir / f".cat_mask2.png{TEMP_TAG}{dead.pid}-abcd.tmp"
            left.write_bytes(b"half a PNG")
        assert studio.save_to(project)
    assert load_project(project).subject_mask == "cat_mask.png"
    assert not left.exists()
    assert not [p.name for p in examples_dir.iterdir() if TEMP_TAG in p.name]


CHILD = textwrap.dedent("""
    import sys
    from dataclasses import replace
    from pathlib import Path
    import numpy as np
    from poseanything_studio.core.project import load_project
    from poseanything_studio.qt.app import application
    from poseanything_studio.qt.main_window import MainWindow
    app = application()
    path, first, count, masks = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "masks"
    window = MainWindow(load_project(path))
    window.dialogs = []
    from PySide6.QtWidgets import QMessageBox
    QMessageBox.critical = lambda *a, **k: print("DIALOG", a[1:], flush=True)
    doc = window.doc
    for n in range(first, first + count):
        doc.apply(replace(doc.project, render=replace(doc.project.render, seed=n)), "seed")
        if masks:
            mask = np.zeros((480, 832), bool)
            mask[: 1 + n % 400] = True
            doc.apply_mask(mask)
        assert window.autosave() is not None
        print("autosaved", n, flush=True)
        assert window.save_to(path)
        print("saved", n, flush=True)
    doc.undo_stack.setClean()
    window.close()
""")


def _child(project: Path, first: int, count: int, masks: bool, home: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(project), str(first), str(count), "masks" if masks else "plain"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=home,
    )


def _numbers(lines: list[str], word: str) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith(word + " ")]


@pytest.mark.slow
def test_a_save_or_autosave_killed_at_any_moment_loses_nothing(examples_dir, tmp_path):
    """SIGKILL a window saving and autosaving in a loop, at random moments, many times: the project always
    opens (the old or the new version), and work that reached an autosave is in the project or is offered back."""
    project = examples_dir / "cat.pasproj"
    side = autosave.autosave_path(project)
    rng = random.Random(2121)
    seeds_seen = set()
    for kill in range(12):
        child = _child(project, 1000 * (kill + 1), 10_000, masks=True, home=tmp_path)
        first = child.stdout.readline()
        assert first.startswith("autosaved"), first + child.stderr.read()
        lines = [first.strip()] + [child.stdout.readline().strip() for _ in range(rng.randrange(1, 4))]
        time.sleep(rng.uniform(0.0, 0.3))  # then somewhere in a save or an autosave (or between)
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        lines += out.splitlines()
        assert not [line for line in lines if line.startswith("DIALOG")], lines
        saved = load_project(project)  # never half-written, never gone
        saved.read_subject_mask()  # its mask is a whole PNG
        newest = saved.render.seed
        if side.is_file() and autosave.found_autosaves([project]) == [side]:
            recovered = load_project(side)
            newest = max(newest, recovered.render.seed)
        assert newest >= max(_numbers(lines, "autosaved")), (kill, lines[-3:], saved.render.seed)
        seeds_seen.add(saved.render.seed)
    assert len(seeds_seen) > 6  # the kills landed at different moments
    child = _child(project, 99_000, 1, masks=True, home=tmp_path)  # one clean run after the kills
    assert child.wait(120) == 0, child.stderr.read()
    assert load_project(project).render.seed == 99_000
    assert not [p.name for p in examples_dir.iterdir() if TEMP_TAG in p.name]  # no litter left
    assert not side.exists()


@pytest.mark.slow
def test_two_windows_saving_one_project_leave_one_whole_version(examples_dir, tmp_path):
    project = examples_dir / "cat.pasproj"
    children = [_child(project, first, 25, masks=False, home=tmp_path) for first in (10_000, 20_000)]
    reads = 0
    while any(c.poll() is None for c in children):
        data = load_project(project)  # every read while they save is a whole version
        assert data.render.seed in {0, *range(10_000, 10_025), *range(20_000, 20_025)} or reads == 0
        reads += 1
        time.sleep(0.02)
    for c in children:
        out, err = c.communicate()
        assert c.returncode == 0, err
        assert _numbers(out.splitlines(), "saved")[-1] % 10_000 == 24
    final = load_project(project)
    assert final.render.seed in {10_024, 20_024}
    assert json.loads(project.read_text())["render"]["seed"] == final.render.seed
    assert not [p.name for p in examples_dir.iterdir() if TEMP_TAG in p.name]
    assert reads > 3


def test_a_screenshot_is_written_whole_or_not_at_all(examples_dir, tmp_path, qtbot, capsys):
    from poseanything_studio.qt.app import run_window

    out = tmp_path / "shot é.png"
    assert run_window(str(examples_dir / "cat.pasproj"), screenshot=str(out)) == 0
    assert Image.open(out).size[0] > 500 and not [p for p in tmp_path.iterdir() if TEMP_TAG in p.name]
    missing = tmp_path / "no such folder" / "shot.png"
    assert run_window(str(examples_dir / "cat.pasproj"), screenshot=str(missing)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"poseanything-studio: could not write {missing}"]


def _mask(rows: int) -> np.ndarray:
    mask = np.zeros((480, 832), bool)
    mask[:rows] = True
    return mask


def test_a_save_that_fails_after_writing_the_mask_leaves_the_old_project_and_mask(studio, examples_dir, monkeypatch):
    from poseanything_studio.qt import saving

    project = examples_dir / "cat.pasproj"
    studio.doc.apply_mask(_mask(100), "Paint mask")
    assert studio.save_to(project)
    before = _files(examples_dir)
    studio.doc.apply_mask(_mask(300), "Paint mask")

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device", str(project))

    monkeypatch.setattr(saving, "save_project", full_disk)  # the new mask is written, then the project fails
    assert not studio.save_to(project)
    assert studio.dialogs and studio.dialogs[-1][0] == "Cannot save"
    assert np.array_equal(load_project(project).read_subject_mask(), _mask(100))
    assert not _files(examples_dir) - before  # the mask it wrote went again


KILLED_SAVE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import numpy as np
    from poseanything_studio.core.project import load_project
    from poseanything_studio.qt import saving
    from poseanything_studio.qt.app import application
    from poseanything_studio.qt.main_window import MainWindow
    app = application()
    path, when = Path(sys.argv[1]), sys.argv[2]
    window = MainWindow(load_project(path))
    def mask(rows):
        m = np.zeros((480, 832), bool)
        m[:rows] = True
        return m
    window.doc.apply_mask(mask(100))
    assert window.save_to(path)
    window.doc.apply_mask(mask(300))
    real = saving.save_project
    def killed(project, target):
        if when == "before the project":
            os.kill(os.getpid(), signal.SIGKILL)
        saved = real(project, target)
        os.kill(os.getpid(), signal.SIGKILL)
    saving.save_project = killed
    window.save_to(path)
""")


@pytest.mark.parametrize("when", ["before the project", "after the project"])
def test_a_save_killed_between_mask_and_project_opens_with_the_mask_it_points_at(examples_dir, tmp_path, when):
    """The mask and the project are one unit: killed after the new mask is written (before the project) the
    project opens with its old mask; killed once the project is written, with the new one."""
    project = examples_dir / "cat.pasproj"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "PYTHONPATH": str(ROOT),
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    child = subprocess.run(
        [sys.executable, "-c", KILLED_SAVE, str(project), when],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    rows = 100 if when == "before the project" else 300
    reopened = load_project(project)
    assert np.array_equal(reopened.read_subject_mask(), _mask(rows))


def test_repainting_and_saving_again_keeps_two_mask_files_and_closing_leaves_one(studio, examples_dir):
    project = examples_dir / "cat.pasproj"
    for rows in (100, 200, 300, 400):
        studio.doc.apply_mask(_mask(rows), "Paint mask")
        assert studio.save_to(project)
        assert np.array_equal(load_project(project).read_subject_mask(), _mask(rows))
        assert {p for p in _files(examples_dir) if p.startswith("cat_mask")} == {"cat_mask.png", "cat_mask2.png"}
    studio.doc.undo_stack.undo()  # the step before the last save still finds its mask file
    assert np.array_equal(studio.doc.project.read_subject_mask(), _mask(300))
    studio.doc.undo_stack.redo()
    studio.close()
    assert {p for p in _files(examples_dir) if p.startswith("cat_mask")} == {load_project(project).subject_mask}


KILLED_BEFORE_CLOSE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import numpy as np
    from poseanything_studio.core.project import load_project
    from poseanything_studio.qt.app import application
    from poseanything_studio.qt.main_window import MainWindow
    app = application()
    path = Path(sys.argv[1])
    window = MainWindow(load_project(path))
    for rows in (100, 300):
        m = np.zeros((480, 832), bool)
        m[:rows] = True
        window.doc.apply_mask(m)
        assert window.save_to(path)
    os.kill(os.getpid(), signal.SIGKILL)  # after the saves, before close removes the unused mask
""")


def test_a_mask_left_unused_by_a_window_killed_before_close_goes_when_the_project_opens(studio, examples_dir):
    """Two saves write cat_mask.png then cat_mask2.png; killed before close, the first stays unused. Opening the
    project again removes it, and only it: a file named like a saves' mask that no save wrote stays."""
    project = examples_dir / "cat.pasproj"
    own = examples_dir / "cat_mask7.png"
    own.write_bytes(b"the user's own file")
    child = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_CLOSE, str(project)],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT), "HOME": str(examples_dir)},
        cwd=examples_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert {"cat_mask.png", "cat_mask2.png"} <= _files(examples_dir)
    assert studio.open_path(project, ask=False)
    masks = {p for p in _files(examples_dir) if p.startswith("cat_mask")}
    assert masks == {load_project(project).subject_mask, own.name}
    assert np.array_equal(load_project(project).read_subject_mask(), _mask(300))
