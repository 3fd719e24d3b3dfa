"""The first save of new work keeps its painted mask: the project points at the PNG that was written, it
reopens and renders, and no unrelated file beside it is overwritten."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from poseanything_studio.core.project import load_project
from poseanything_studio.qt.main_window import blank_project


def _picture_in_its_own_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    picture = folder / "chelsea.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 451, 3), dtype=np.uint8)).save(picture)
    return picture


def _paint(studio) -> np.ndarray:
    mask = np.zeros((300, 451), bool)
    mask[60:240, 100:350] = True
    studio.doc.apply_mask(mask, "Mask from rig")
    return mask


def test_new_work_saved_beside_its_picture_points_at_the_mask_it_wrote(studio, tmp_path, monkeypatch):
    picture = _picture_in_its_own_folder(tmp_path / "same")
    monkeypatch.chdir(tmp_path)  # an untitled project's base is the working directory, not the picture's folder
    studio.set_project(blank_project(picture))
    mask = _paint(studio)
    assert studio.save_to(picture.parent / "cat.pasproj")
    reopened = load_project(picture.parent / "cat.pasproj")
    assert reopened.subject_mask == "cat_mask.png"
    assert np.array_equal(reopened.read_subject_mask(), mask)


def test_save_as_into_another_folder_moves_the_painted_mask_with_the_project(studio, tmp_path):
    picture = _picture_in_its_own_folder(tmp_path / "pictures")
    studio.set_project(blank_project(picture))
    mask = _paint(studio)
    (tmp_path / "a").mkdir()
    assert studio.save_to(tmp_path / "a" / "first.pasproj")
    assert studio.save_to(tmp_path / "b.pasproj")
    reopened = load_project(tmp_path / "b.pasproj")
    assert reopened.subject_mask == "a/first_mask.png"  # the mask the first save wrote, from the new folder
    assert np.array_equal(reopened.read_subject_mask(), mask)
    assert np.array_equal(load_project(tmp_path / "a" / "first.pasproj").read_subject_mask(), mask)


def test_save_as_of_unsaved_painting_into_another_folder_writes_the_mask_there(studio, tmp_path):
    picture = _picture_in_its_own_folder(tmp_path / "pictures")
    studio.set_project(blank_project(picture))
    _paint(studio)
    assert studio.save_to(tmp_path / "a.pasproj")
    (tmp_path / "b").mkdir()
    mask = np.zeros((300, 451), bool)
    mask[10:50, 10:50] = True
    studio.doc.apply_mask(mask, "Paint mask")
    assert studio.save_to(tmp_path / "b" / "new.pasproj")
    reopened = load_project(tmp_path / "b" / "new.pasproj")
    assert reopened.subject_mask == "new_mask.png"
    assert np.array_equal(reopened.read_subject_mask(), mask)


def test_save_as_never_overwrites_an_unrelated_mask_of_the_same_name(studio, tmp_path):
    picture = _picture_in_its_own_folder(tmp_path / "pictures")
    unrelated = picture.parent / "cat_mask.png"
    unrelated.write_bytes(b"someone else's file")
    studio.set_project(blank_project(picture))
    mask = _paint(studio)
    assert studio.save_to(picture.parent / "cat.pasproj")
    assert unrelated.read_bytes() == b"someone else's file"
    reopened = load_project(picture.parent / "cat.pasproj")
    assert reopened.subject_mask == "cat_mask2.png"
    assert np.array_equal(reopened.read_subject_mask(), mask)
    assert studio.save_to(picture.parent / "cat.pasproj")  # saving again rewrites its own mask, not the other
    assert unrelated.read_bytes() == b"someone else's file"
    assert load_project(picture.parent / "cat.pasproj").subject_mask == "cat_mask2.png"
