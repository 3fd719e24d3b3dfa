"""A project whose picture cannot be read is a dialog and the document stays; a picture broken after
opening paints a stand-in; opening reads the picture once."""

from __future__ import annotations

import json


def test_a_project_whose_picture_cannot_be_read_is_a_dialog_and_the_document_stays(studio, examples_dir):
    data = json.loads((examples_dir / "cat.pasproj").read_text())
    (examples_dir / "broken.png").write_bytes(b"not a picture")
    (examples_dir / "broken.pasproj").write_text(json.dumps({**data, "image": "broken.png"}))
    before = studio.doc.project
    assert not studio.open_path(examples_dir / "broken.pasproj")
    assert studio.doc.project is before
    assert studio.dialogs and "broken.png" in studio.dialogs[-1][1] and "cannot decode" in studio.dialogs[-1][1]


def test_a_picture_broken_after_opening_paints_a_stand_in(studio, examples_dir, qtbot):
    told = []
    studio.preview.failed.connect(told.append)
    (examples_dir / "cat.png").write_bytes(b"gone bad")
    studio.canvas.forget_picture()  # as if the picture changed on disk since it was read
    studio.preview.result = None
    for tool in studio.tool_actions.values():  # every tool redraws; the camera tool reads the picture's size
        tool.setChecked(True)
    studio.canvas.refresh()
    studio.grab()  # paints every widget; pytest-qt fails the test if a paintEvent or slot raises
    assert told and "cat.png" in told[0] and "cannot decode" in told[0]


def test_opening_a_project_reads_its_picture_once(studio, examples_dir, monkeypatch):
    """The picture is checked before the project replaces the open one; that read is the one the canvas shows."""
    from poseanything_studio.core import project as project_module
    from poseanything_studio.qt.app import open_window

    reads = []
    original = project_module.read_rgba
    monkeypatch.setattr(project_module, "read_rgba", lambda path: reads.append(path) or original(path))
    assert studio.open_path(examples_dir / "fish.pasproj", ask=False)
    studio.canvas.refresh()
    assert len(reads) == 1 and reads[0].name == "fish.png"
    window = open_window(str(examples_dir / "robot_arm.pasproj"))
    window.canvas.refresh()
    assert [p.name for p in reads[1:]] == ["robot_arm.png"]
    window.doc.undo_stack.setClean()
    window.close()
