"""No stale display: the overlays, the puppet preview, the camera frame and the render panel follow the
document as it is now, not as it was when the last mesh or render was made."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PySide6.QtWidgets import QFileDialog

from poseanything_studio.core import edits
from poseanything_studio.core.project import reference_to_output
from poseanything_studio.core.raster import camera_rectangle
from poseanything_studio.qt.picture_start import open_any


def shown_mask(window) -> np.ndarray:
    """The subject-mask overlay as drawn: (H, W) bool in reference pixels (drawn at rest, as the brush paints)."""
    item = window.canvas.mask_item
    assert item.isVisible() and item.transform().isIdentity(), "the mask is drawn posed by a mesh of another mask"
    image = item.pixmap().toImage()
    w, h = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), np.uint8).reshape(h, image.bytesPerLine() // 4, 4)[:, :w]
    return buffer[..., 3] > 100  # the mask's own tint is more opaque than the shade around it


def test_the_mask_overlay_shows_mask_from_rig_at_once(studio):
    studio.overlay_actions["mask"].setChecked(True)
    ref = studio.preview.shown_reference(studio.doc.project)
    new = np.zeros(ref.shape[:2], bool)
    new[10:60, 10:80] = True  # far from the cat: nothing the old mask had
    studio.apply_mask_from_rig(new)  # what Mask from rig does when GrabCut returns
    drawn = shown_mask(studio)  # no event loop ran: the mesh for the new mask is not built yet
    assert drawn[30, 40] and not drawn[ref.shape[0] // 2, ref.shape[1] // 2]


def test_the_preview_never_shows_the_old_picture_while_the_new_mesh_builds(studio, tmp_path):
    from dataclasses import replace

    assert studio.canvas.puppet_item.isVisible()
    project = studio.doc.project
    ref = studio.preview.shown_reference(project)
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), cv2.cvtColor(np.ascontiguousarray(ref[::-1]), cv2.COLOR_RGBA2BGRA))  # upside down
    studio.doc.apply(replace(project, image=str(other), subject_mask=None), "Another picture, same rig")
    result = studio.preview.result  # the mesh of the new picture is not built yet: no event loop ran
    assert not studio.canvas.puppet_item.isVisible() or (result is not None and result.key[0] == str(other))
    studio.doc.apply(edits.set_frames(studio.doc.project, 9), "frames")
    before = studio.preview.result
    studio.doc.apply(edits.set_frames(studio.doc.project, 13), "frames")  # an edit the mesh does not depend on
    assert studio.preview.result is before


def test_the_camera_frame_has_the_new_projects_scale_right_after_open(studio, tmp_path):
    studio.overlay_actions["camera"].setChecked(True)
    picture = tmp_path / "wide.png"
    cv2.imwrite(str(picture), np.full((300, 1200, 3), 128, np.uint8))  # another size than the cat's
    assert open_any(studio, picture, ask=False)
    project = studio.doc.project
    corners = camera_rectangle(edits.camera_at(project, 0), project.size, inset=0.0)
    to_ref = np.linalg.inv(np.vstack([reference_to_output((1200, 300), project.size), [0, 0, 1]]))[:2]
    expected = corners @ to_ref[:, :2].T + to_ref[:, 2]
    polygon = studio.canvas.camera_item.polygon()
    drawn = np.array([[polygon[i].x(), polygon[i].y()] for i in range(polygon.size())])
    assert np.allclose(drawn[:4], expected, atol=0.5)


def render(studio, qtbot, frames: int = 5):
    panel = studio.render_panel
    studio.doc.apply(edits.set_frames(studio.doc.project, frames), "frames")
    with qtbot.waitSignal(panel.controller.finished, timeout=60_000) as blocker:
        panel.start_render()
    return blocker.args[0]


def test_a_new_project_clears_the_last_render_and_export(studio, qtbot, tmp_path, monkeypatch):
    panel = studio.render_panel
    assert render(studio, qtbot) is not None and panel.export_button.isEnabled()
    picture = tmp_path / "mine.png"
    cv2.imwrite(str(picture), np.full((400, 400, 3), 90, np.uint8))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(picture), ""))
    studio.new_project()
    assert Path(studio.doc.project.image) == picture.resolve()
    assert panel.result is None and not panel.export_button.isEnabled() and not panel.play_button.isEnabled()
    assert all(view.image is None for view in panel.views.values())
    assert "done" not in panel.progress.format()


def test_a_render_of_the_previous_project_is_dropped_when_it_ends(studio, qtbot, examples_dir):
    panel = studio.render_panel
    studio.doc.apply(edits.set_frames(studio.doc.project, 41), "frames")
    with qtbot.waitSignal(panel.controller.frame, timeout=60_000):
        panel.start_render()
    studio.open_path(examples_dir / "fish.pasproj", ask=False)
    qtbot.waitUntil(lambda: not panel.controller.running, timeout=60_000)
    assert panel.result is None and not panel.export_button.isEnabled()
    assert panel.render_button.isEnabled()  # the new project can render at once


def test_export_from_the_window_in_every_format(studio, qtbot, tmp_path, monkeypatch):
    from poseanything_studio.qt.render_panel import EXPORT_CHOICES

    panel = studio.render_panel
    result = render(studio, qtbot)
    assert result.has_alpha
    for n, (label, suffix, alpha) in enumerate(EXPORT_CHOICES):
        base = tmp_path / f"export{n}"
        monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, base=base, label=label: (str(base), label))
        panel.export_dialog()
        qtbot.waitUntil(panel.export_button.isEnabled, timeout=60_000)
        if suffix == ".png":
            files = sorted(tmp_path.glob(f"export{n}_*.png"))
            assert len(files) == 5
            channels = cv2.imread(str(files[0]), cv2.IMREAD_UNCHANGED).shape[2]
            assert channels == (4 if alpha else 3)
        else:
            assert base.with_suffix(suffix).is_file(), label
    assert not studio.dialogs


def test_export_never_replaces_png_frames_without_asking(studio, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from poseanything_studio.qt.render_panel import EXPORT_CHOICES

    panel = studio.render_panel
    render(studio, qtbot)
    mine = tmp_path / "shot_00000.png"
    mine.write_bytes(b"my own picture")
    label = next(choice[0] for choice in EXPORT_CHOICES if choice[1] == ".png" and not choice[2])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "shot.png"), label))
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.No)
    panel.export_dialog()
    assert asked and "shot_00000.png" in asked[0]
    assert mine.read_bytes() == b"my own picture" and len(list(tmp_path.glob("shot_*.png"))) == 1
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    panel.export_dialog()
    qtbot.waitUntil(
        lambda: len(list(tmp_path.glob("shot_*.png"))) == 5 and panel.export_button.isEnabled(), timeout=60_000
    )
    assert mine.read_bytes() != b"my own picture"


def test_the_preview_cuts_the_crease_the_motion_opens_as_the_render_does(tmp_path):
    """The Wave raises the astronaut's arm 120 degrees: the render cuts her armpit open, and so does the preview's
    mesh; a motion that no longer opens it rebuilds the preview without the cut."""
    import sys
    from dataclasses import replace

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "core"))
    from hand_masks import photo

    from poseanything_studio.core.presets import apply_preset
    from poseanything_studio.core.project import Project
    from poseanything_studio.core.templates import fitted, load_templates
    from poseanything_studio.qt.previews import MeshInputs, build_mesh, mesh_key, still_fits
    from poseanything_studio.rendering.puppet import PuppetMesh, opening_creases

    rgb, mask = photo("astronaut")
    rig = fitted(next(t for t in load_templates() if t.key == "human"), (512, 512), mask)
    cv2.imwrite(str(tmp_path / "astronaut.png"), rgb[..., ::-1])
    still = Project(image="astronaut.png", rig=rig, frames=25, fps=24, size=(512, 512), path=tmp_path / "a.pasproj")
    waving = apply_preset(still, "wave")
    rgba = np.dstack([rgb, np.full(mask.shape, 255, np.uint8)])
    creases = opening_creases(rig, rig.rest_xy(), waving.joint_positions(waving.frames))
    assert creases  # the collar bone and the arm
    rendered = PuppetMesh.build(rgba, mask, rig, rig.rest_xy(), creases=creases)
    key = mesh_key(waving, mask)
    preview = build_mesh(MeshInputs(rgba, mask, waving, key)).mesh
    assert preview is not None and len(preview.vertices) == len(rendered.vertices)  # the same cut vertices
    uncut = build_mesh(MeshInputs(rgba, mask, still, mesh_key(still, mask))).mesh
    assert uncut is not None and len(uncut.vertices) < len(preview.vertices)
    assert mesh_key(still, mask) != key and still_fits(key, mesh_key(still, mask))  # rebuilt; stands in meanwhile
    assert mesh_key(replace(waving, fps=12), mask) == key  # an edit opening the same creases: no rebuild
