"""Window tests keep untitled autosaves in their own folder, never the user's application data."""

import pytest


@pytest.fixture(autouse=True)
def _private_untitled_folder(tmp_path, monkeypatch):
    from poseanything_studio.qt import main_window

    folder = tmp_path / "appdata"
    folder.mkdir()
    monkeypatch.setattr(main_window, "untitled_folder", lambda: folder)
    return folder
