"""A picture over the pixel limit: New and Open offer smaller copies beside it and scale the rig to match."""

from __future__ import annotations

import numpy as np
from PIL import Image

from poseanything_studio.core.project import load_project


def test_new_project_offers_to_downscale_a_huge_picture(studio, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QMessageBox

    from poseanything_studio.core import images

    picture = tmp_path / "big.png"
    Image.fromarray(np.full((300, 400, 3), 120, np.uint8)).save(picture)
    monkeypatch.setattr(images, "MAX_PIXELS", 30_000)  # 400x300 = 120,000 pixels: too large here
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(picture), ""))
    asked = []
    monkeypatch.setattr(
        QMessageBox, "question", lambda _p, title, *a, **k: asked.append(title) or QMessageBox.StandardButton.Yes
    )
    studio.doc.undo_stack.setClean()
    studio.new_project()
    assert "Picture too large" in asked
    image = studio.doc.project.resolve(studio.doc.project.image)
    assert image != picture and image.parent == tmp_path
    h, w = studio.doc.project.read_image().shape[:2]
    assert w * h <= 30_000 and abs(w / h - 4 / 3) < 0.05


def test_opening_a_project_with_a_huge_picture_offers_smaller_copies(studio, examples_dir, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from poseanything_studio.core import images
    from poseanything_studio.rendering.job import make_job

    original = load_project(examples_dir / "cat.pasproj")
    before = make_job(original, frames=5, size=(256, 160)).positions
    w, h = images.upright_size(examples_dir / "cat.png")
    monkeypatch.setattr(images, "MAX_PIXELS", w * h // 3)  # the cat is now 3x over the limit
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert studio.open_path(examples_dir / "cat.pasproj", ask=False)
    project = studio.doc.project
    assert project.image != original.image and (examples_dir / project.image).is_file()
    assert studio.doc.dirty  # the file on disk still names the large picture until saved
    after = make_job(project, frames=5, size=(256, 160)).positions
    assert np.abs(after - before).max() < 1.0  # joints moved with the picture: the same frames, in output pixels
