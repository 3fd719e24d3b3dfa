"""Window tests keep untitled autosaves in their own folder, never the user's application data."""

import pytest


@pytest.fixture(autouse=True)
def untitled_folder(tmp_path, monkeypatch):
    from poseanything_studio.qt import autosave

    folder = tmp_path / "appdata"
    folder.mkdir()
    monkeypatch.setattr(autosave, "untitled_folder", lambda: folder)
    return folder
