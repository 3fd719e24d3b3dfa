"""Folders written whole (core/fileio.atomic_folder, commit_dir, remove_dir): the name holds the old or the new
complete folder at every moment, a failure leaves the old one and no temporary, a killed run's leftovers go."""

import os
import subprocess
import sys

import pytest

from poseanything_studio.core import fileio


def make(folder, text):
    folder.mkdir()
    (folder / "a.txt").write_text(text)
    (folder / "sub").mkdir()
    (folder / "sub" / "b.txt").write_text(text)


def content(folder):
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*.txt"))}


@pytest.mark.parametrize("can_swap", [True, False])
def test_a_folder_replaces_the_old_one_whole(tmp_path, monkeypatch, can_swap):
    if not can_swap:  # a system without renameat2's exchange: moved aside, then in
        monkeypatch.setattr(fileio, "exchange_paths", lambda a, b: False)
    target = tmp_path / "model"
    make(target, "old")
    with fileio.atomic_folder(target) as tmp:
        assert content(target) == {"a.txt": "old", "sub/b.txt": "old"}  # untouched while the new one is written
        (tmp / "a.txt").write_text("new")
    assert content(target) == {"a.txt": "new"}
    assert os.listdir(tmp_path) == ["model"]  # no temporary, no old copy


def test_a_failure_while_writing_leaves_the_old_folder_and_no_temporary(tmp_path):
    target = tmp_path / "model"
    make(target, "old")
    with pytest.raises(RuntimeError), fileio.atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("disk full")
    assert content(target) == {"a.txt": "old", "sub/b.txt": "old"} and os.listdir(tmp_path) == ["model"]


def test_a_failure_in_the_swap_leaves_the_old_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "exchange_paths", lambda a, b: False)
    target = tmp_path / "model"
    make(target, "old")
    real_rename = os.rename
    calls = []

    def second_rename_fails(a, b):
        calls.append(b)
        if len(calls) == 2:  # the old one is aside, the new one fails to move in: the old one comes back
            raise OSError("injected")
        return real_rename(a, b)

    monkeypatch.setattr(fileio.os, "rename", second_rename_fails)
    with pytest.raises(OSError, match="injected"), fileio.atomic_folder(target) as tmp:
        (tmp / "a.txt").write_text("new")
    monkeypatch.setattr(fileio.os, "rename", real_rename)
    assert content(target) == {"a.txt": "old", "sub/b.txt": "old"} and os.listdir(tmp_path) == ["model"]


def test_replace_false_keeps_an_existing_folder(tmp_path):
    target = tmp_path / "mine"
    make(target, "user's")
    with pytest.raises(FileExistsError), fileio.atomic_folder(target, replace=False) as tmp:
        (tmp / "a.txt").write_text("new")
    assert content(target)["a.txt"] == "user's" and os.listdir(tmp_path) == ["mine"]


def test_remove_dir_leaves_nothing(tmp_path):
    make(tmp_path / "old", "x")
    fileio.remove_dir(tmp_path / "old")
    assert os.listdir(tmp_path) == []


def test_a_killed_runs_temporaries_in_a_folder_are_swept_whatever_their_target(tmp_path):
    """A process that made temporaries for two targets and died: both go; a live process's stay."""
    code = (
        "import sys; from pathlib import Path; from poseanything_studio.core import fileio; "
        "d = Path(sys.argv[1]); fileio.new_temp_dir(d / 'step-00000001'); fileio.new_temp_dir(d / 'step-00000002')"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=os.getcwd())
    mine = fileio.new_temp_dir(tmp_path / "step-00000003")
    (tmp_path / "step-00000001").mkdir()
    assert len(os.listdir(tmp_path)) == 4
    removed = fileio.remove_stale_temps_in(tmp_path)
    assert len(removed) == 2 and sorted(os.listdir(tmp_path)) == sorted([mine.name, "step-00000001"])
