"""A fuzz of the window's own saves: random edit sequences through core/edits.py and the document's undo stack
(joints, bones, keys, camera, masks, templates, renames, deletes, settings, undo and redo, and edits past the
format's limits), saved and autosaved by the window's save code, each reopened and compared field by field."""

from __future__ import annotations

import contextlib
import json
import os
import random
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from helpers import write_arm_project

from poseanything_studio.core import edits
from poseanything_studio.core.edits import CAMERA_ROW
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.images import read_mask
from poseanything_studio.core.project import Project, load_project, project_bytes, project_from_dict
from poseanything_studio.core.templates import load_templates, placed
from poseanything_studio.qt.autosave import AUTOSAVE_MASK_KEY, autosave_mask_of, autosave_work
from poseanything_studio.qt.document import Document
from poseanything_studio.qt.saving import save_work

SEQUENCES = int(__import__("os").environ.get("FUZZ_SEQUENCES", 500))
NAMES = ["knee", "Ellbogen", "épaule", "手首", "tip\udc80", "a" * 64, "bad name", "x" * 65, "hips", "mid"]


def _joint(rng, p):
    return rng.choice(p.rig.joint_ids) if p.rig.joints else None


def _xy(rng, far: bool = False):
    if far and rng.random() < 0.3:
        return (rng.choice([-1, 1]) * rng.uniform(1e6, 1e7), rng.uniform(0, 160))  # past MAX_COORD: refused
    return (rng.uniform(-50, 300), rng.uniform(-50, 210))


def _edit(rng: random.Random, doc: Document, templates) -> None:
    """One random edit, as the window makes it (a ProjectError from an edit is the window's refusal)."""
    p, frame = doc.project, rng.randrange(0, 200)
    j = _joint(rng, p)
    choice = rng.randrange(19)
    if choice == 0:
        doc.apply(edits.add_joint(p, _xy(rng, far=True), j if rng.random() < 0.7 else None)[0], "Add joint")
    elif choice == 1 and j:
        doc.apply(edits.add_bone(p, j, _joint(rng, p)), "Add bone")
    elif choice == 2 and j:
        bones = rng.sample(p.rig.bone_ids, k=min(len(p.rig.bone_ids), rng.randrange(2)))
        doc.apply(edits.delete_rig_items(p, [j] if rng.random() < 0.6 else [], bones), "Delete")
    elif choice == 3 and j:
        doc.apply(edits.rename_joint(p, j, rng.choice(NAMES) + rng.choice(["", str(rng.randrange(9))])), "Rename")
    elif choice == 4 and p.rig.bones:
        doc.apply(edits.rename_bone(p, rng.choice(p.rig.bone_ids), rng.choice(NAMES)), "Rename bone")
    elif choice == 5 and j:
        moved = edits.move_joints(p, {j: _xy(rng, far=True)}, frame, rng.random() < 0.5)
        doc.apply(moved, "Move", drag=rng.randrange(3))
    elif choice == 6 and p.rig.joints:
        ids = rng.sample(p.rig.joint_ids, k=rng.randrange(1, len(p.rig.joints) + 1))
        doc.apply(edits.scale_joints(p, ids, rng.uniform(0.5, 1.6), frame, rng.random() < 0.5), "Scale")
    elif choice == 7:
        rows = [CAMERA_ROW, *rng.sample(p.rig.joint_ids, k=min(3, len(p.rig.joints)))]
        doc.apply(edits.insert_keys(p, rows, frame if rng.random() < 0.9 else 100_001), "Insert key")
    elif choice == 8 and j:
        doc.apply(edits.set_joint_key(p, j, frame, _xy(rng, far=True)), "Key")
    elif choice == 9:
        refs = [(r, f) for r in [CAMERA_ROW, *p.rig.joint_ids] for f in edits.key_frames(p, r)]
        picked = rng.sample(refs, k=min(len(refs), rng.randrange(1, 4)))
        action = rng.randrange(4)
        if action == 0:
            doc.apply(edits.delete_keys(p, picked), "Delete keys")
        elif action == 1:
            doc.apply(edits.move_keys(p, picked, rng.randrange(-20, 20), p.frames - 1), "Move keys")
        elif action == 2:
            doc.apply(edits.set_interp(p, picked, rng.choice(["step", "linear", "smooth"])), "Interp")
        elif picked:
            row, f = picked[0]
            component = rng.randrange(4 if row == CAMERA_ROW else 2)
            value = rng.uniform(0.5, 3) if (row, component) == (CAMERA_ROW, 2) else rng.uniform(-100, 400)
            doc.apply(edits.set_key_value(p, picked[0], component, value, rng.choice([None, f + 3])), "Key value")
    elif choice == 10:
        params = (rng.uniform(-80, 80), rng.uniform(-80, 80), rng.uniform(0.5, 2.5), rng.uniform(-30, 30))
        doc.apply(edits.set_camera_key(p, frame, params), "Camera")
    elif choice == 11:
        doc.apply(edits.set_frames(p, rng.randrange(1, 3000)), "Frames")
    elif choice == 12:
        doc.apply(edits.set_fps(p, rng.uniform(0, 300)), "fps")
    elif choice == 13:
        mask = np.zeros((160, 256), bool)
        y, x = rng.randrange(150), rng.randrange(240)
        mask[y : y + rng.randrange(1, 60), x : x + rng.randrange(1, 90)] = True
        doc.apply_mask(mask if rng.random() < 0.8 else None, "Paint mask")
    elif choice == 14:
        rig = placed(rng.choice(templates), (rng.uniform(0, 100), rng.uniform(0, 60), 120.0, 90.0))
        doc.apply(edits.merge_rig(p, rig)[0], "Add template")
    elif choice == 15:
        text = rng.choice(["", "a cat", "un chat qui saute ✨", "x" * 10_001, "tab\tand\nnew line", "nul\x00?"])
        doc.apply(replace(p, render=replace(p.render, prompt=text, seed=rng.randrange(2**40))), "Render settings")
    elif choice == 16:
        size = (rng.choice([32, 256, 832, 4096, 4128]), rng.choice([32, 160, 480, 4096]))
        doc.apply(replace(p, size=size), "Size")
    elif choice == 17 and doc.undo_stack.canUndo():
        doc.undo_stack.undo()
    elif choice == 18 and doc.undo_stack.canRedo():
        doc.undo_stack.redo()


def _differences(a, b) -> list[str]:
    """The fields where two projects differ (their file paths aside)."""
    return [f.name for f in fields(a) if f.name != "path" and getattr(a, f.name) != getattr(b, f.name)]


def _as_the_file_holds(project: Project, folder: Path) -> Project:
    """`project` as a file in `folder` holds it: numbers rounded as written, paths relative to `folder`."""
    data = json.loads(
        project_bytes(
            replace(
                project,
                image=str(project.resolve(project.image)),
                subject_mask=(str(project.resolve(project.subject_mask)) if project.subject_mask else None),
            )
        )
    )
    moved = project_from_dict(data)
    return replace(
        moved,
        path=folder / "x",
        image=os.path.relpath(moved.image, folder),
        subject_mask=(os.path.relpath(moved.subject_mask, folder) if moved.subject_mask else None),
    )


def _check_reopens(doc: Document, path: Path, seed: int, step: int, autosave: bool = False) -> None:
    reopened = load_project(path)
    if autosave:  # the side file's note of its mask PNG, which recovery drops
        reopened = replace(reopened, extra={k: v for k, v in reopened.extra.items() if k != AUTOSAVE_MASK_KEY})
    expected = _as_the_file_holds(doc.project, path.parent) if autosave else doc.project
    diff = _differences(reopened, expected)
    assert not diff, f"seed {seed}, step {step}: {path.name} reopened with other {diff}"
    if doc.mask is not None:
        mask_file = autosave_mask_of(path) if autosave else reopened.resolve(reopened.subject_mask)
        assert np.array_equal(read_mask(mask_file), doc.mask), f"seed {seed}, step {step}: the painted mask"


@pytest.mark.slow
def test_random_edit_sequences_always_reopen_to_the_same_document(tmp_path, qtbot, monkeypatch):
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # durability is the kill test's; this one checks contents
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    base = load_project(write_arm_project(base_dir))
    templates = load_templates()
    out = tmp_path / "saves"
    out.mkdir()
    for seed in range(SEQUENCES):
        rng = random.Random(seed)
        doc = Document(base)
        path = out / f"fuzz {seed % 7} é.pasproj"
        for step in range(rng.randrange(3, 17)):
            try:
                with contextlib.suppress(ProjectError):  # an edit the window refuses with a message (a bad name)
                    _edit(rng, doc, templates)
            except Exception as err:
                raise AssertionError(f"seed {seed}, step {step}: the edit raised {err!r}") from err
            if rng.random() < 0.12:
                side = out / f"fuzz {seed}.pasproj.autosave"
                autosave_work(doc.project, doc.mask, side)
                _check_reopens(doc, side, seed, step, autosave=True)
        saved = save_work(doc.project, doc.mask, path)
        doc.replace_saved(saved)  # as the window's save_to does
        _check_reopens(doc, path, seed, -1)
