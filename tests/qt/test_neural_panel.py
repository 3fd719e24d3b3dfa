"""The render panel's neural path as a user drives it: the tiny model on the CPU in the worker, live model
previews, Cancel within a step, a poseanything project that cannot run here, and the device probe."""

from __future__ import annotations

import json
import shutil

import pytest
from PySide6.QtCore import Qt

from poseanything_studio.qt import render_panel
from poseanything_studio.rendering import devices, model_folders
from poseanything_studio.rendering.devices import CudaDevice, DeviceProbe

SMALL = {"w": 128, "h": 96, "frames": 5}


@pytest.fixture(scope="module")
def base_dir(tiny_dir, tmp_path_factory):
    """The tiny model without a PoseAnything checkpoint, as the public Wan2.2 weights come."""
    folder = tmp_path_factory.mktemp("base_panel") / "model"
    shutil.copytree(tiny_dir, folder, ignore=shutil.ignore_patterns("poseanything.safetensors"))
    return folder


def set_spin(qtbot, spin, value) -> None:
    spin.setValue(value)
    spin.editingFinished.emit()


@pytest.fixture
def ui(studio):
    """The studio window; afterwards the panel's pending edit timer is stopped (no save prompt at exit)."""
    yield studio
    studio.render_panel.drop_pending_settings()


def choose_tiny_on_cpu(panel, qtbot, model_dir, steps: int) -> None:
    """What a user does: poseanything, the CPU, the model folder, a small size and few steps."""
    panel.renderer.setCurrentIndex(1)
    panel.choose_device("cpu")
    panel.model_dir.setText(str(model_dir))
    panel.model_dir.editingFinished.emit()
    panel.steps.setValue(steps)
    set_spin(qtbot, panel.width_spin, SMALL["w"])
    set_spin(qtbot, panel.height_spin, SMALL["h"])
    set_spin(qtbot, panel.frames_spin, SMALL["frames"])


def test_tiny_model_renders_in_the_worker_with_live_model_previews(ui, qtbot, tiny_dir, event_loop_watch):
    panel = ui.render_panel
    choose_tiny_on_cpu(panel, qtbot, tiny_dir, steps=3)
    assert panel.render_button.isEnabled(), panel.render_button.toolTip()
    previews = []
    panel.controller.preview.connect(lambda event: previews.append((event.kind, event.index)))
    with event_loop_watch, qtbot.waitSignal(panel.controller.finished, timeout=120_000) as blocker:
        qtbot.mouseClick(panel.render_button, Qt.MouseButton.LeftButton)
        assert panel.controller.running and not panel.render_button.isEnabled()  # the click returned at once
    result = blocker.args[0]
    assert result is not None and len(result.frames) == SMALL["frames"]
    assert result.frames[0].shape == (SMALL["h"], SMALL["w"], 3)
    assert [i for kind, i in previews if kind == "prediction"] == [0, 1, 2]  # the x0 estimate at every step
    assert ("parts", 0) in previews and ("matching", 0) in previews  # PTCM's tokens and matching from step 1
    assert "part tokens" in panel.views["parts"].note and "attention matching" in panel.views["matching"].note
    event_loop_watch.assert_kept_turning()  # the window kept painting while the model ran
    assert panel.render_button.isEnabled() and panel.export_button.isEnabled()
    render = ui.doc.project.render
    assert render.renderer == "poseanything" and render.model_dir == str(tiny_dir)


def test_cancel_stops_the_model_within_one_step(ui, qtbot, tiny_dir):
    panel = ui.render_panel
    choose_tiny_on_cpu(panel, qtbot, tiny_dir, steps=60)
    steps = []

    def on_progress(event):
        if event.stage == "steps" and event.done:
            steps.append(event.done)
            panel.cancel_render()

    panel.controller.progress.connect(on_progress)
    with qtbot.waitSignal(panel.controller.finished, timeout=120_000) as blocker:
        qtbot.mouseClick(panel.render_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is None and panel.result is None
    assert steps and max(steps) <= 2  # the step under way when Cancel came, and no further one
    assert "cancelled" in panel.progress.format()


def test_without_a_checkpoint_the_panel_says_the_pose_is_ignored(ui, qtbot, base_dir):
    panel = ui.render_panel
    choose_tiny_on_cpu(panel, qtbot, base_dir, steps=2)
    assert panel.render_button.isEnabled()
    assert "ignores the pose" in panel.neural_note.text() and "puppet" in panel.neural_note.text()
    assert panel.strength.isEnabled()  # auto = puppet refinement without a checkpoint
    panel.init.setCurrentIndex(panel.init.findData("noise"))
    assert not panel.strength.isEnabled()


def write_neural_project(examples_dir, model_dir) -> object:
    path = examples_dir / "cat.pasproj"
    data = json.loads(path.read_text())
    data["render"].update(renderer="poseanything", model_dir=str(model_dir), init="puppet", strength=0.35)
    path.write_text(json.dumps(data))
    return path


def open_window(path, tmp_path, qtbot):
    from PySide6.QtCore import QSettings

    from poseanything_studio.core.project import load_project
    from poseanything_studio.qt.main_window import MainWindow

    window = MainWindow(load_project(path), settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    return window


def test_a_poseanything_project_that_cannot_run_opens_selected_and_unchanged(examples_dir, tmp_path, qtbot, tiny_dir):
    path = write_neural_project(examples_dir, tmp_path / "no_such_model")
    window = open_window(path, tmp_path, qtbot)
    panel = window.render_panel
    before = window.doc.project
    assert panel.renderer.currentText() == "poseanything"
    assert panel.init.currentData() == "puppet" and panel.strength.value() == pytest.approx(0.35)
    assert not panel.render_button.isEnabled()
    assert "Cannot render" in panel.render_button.toolTip() and "Cannot render" in panel.neural_note.text()
    panel.start_render()  # as the menu's Render would: refused with the reason, nothing rewritten
    qtbot.wait(700)  # longer than the settings timer
    assert not panel.controller.running
    assert window.doc.project == before and window.doc.undo_stack.count() == 0
    panel.choose_device("cpu")
    panel.model_dir.setText(str(tiny_dir))
    panel.model_dir.editingFinished.emit()
    assert panel.render_button.isEnabled()  # the user fixed it: Render comes back
    qtbot.wait(700)
    assert window.doc.project.render.model_dir == str(tiny_dir) and window.doc.undo_stack.count() == 1
    assert window.doc.project.render.renderer == "poseanything"
    window.doc.undo_stack.setClean()


def test_cpu_is_for_test_models_only(ui, qtbot, tiny_dir, tmp_path):
    big = tmp_path / "big"
    shutil.copytree(tiny_dir, big)
    with open(big / "transformer" / "diffusion_pytorch_model.safetensors", "ab") as f:
        f.truncate(model_folders.CPU_MODEL_LIMIT_BYTES + 1)
    panel = ui.render_panel
    choose_tiny_on_cpu(panel, qtbot, big, steps=2)
    assert not panel.render_button.isEnabled() and "test models only" in panel.render_button.toolTip()


def test_found_cuda_devices_are_listed_first_and_chosen(ui, monkeypatch):
    monkeypatch.setattr(render_panel, "device_probe", render_panel.device_probe)  # restored after the test
    panel = ui.render_panel
    panel.set_devices(DeviceProbe((CudaDevice(0, "NVIDIA H100 80GB HBM3", 81559), CudaDevice(1, "NVIDIA L4", 23034))))
    labels = [panel.device.itemText(i) for i in range(panel.device.count())]
    assert labels == ["cuda:0 — NVIDIA H100 80GB HBM3, 80 GB", "cuda:1 — NVIDIA L4, 22 GB", "CPU (test models only)"]
    assert panel.device.currentData() == "cuda:0"
    panel.renderer.setCurrentIndex(1)
    assert "no CUDA GPU" not in panel.render_button.toolTip()
    panel.set_devices(DeviceProbe((), "no NVIDIA GPU found (nvidia-smi lists none)"))
    assert [panel.device.itemData(i) for i in range(panel.device.count())] == ["cpu"]


def test_probe_reads_nvidia_smi_and_asks_torch(monkeypatch):
    smi = "0, NVIDIA GeForce RTX 4090, 24564\n1, NVIDIA RTX A6000, 49140\nNo devices were found\n"
    gpus = devices.parse_smi(smi)
    assert [(g.index, g.name, g.memory_mib) for g in gpus] == [
        (0, "NVIDIA GeForce RTX 4090", 24564),
        (1, "NVIDIA RTX A6000", 49140),
    ]
    monkeypatch.setattr(devices, "nvidia_smi_gpus", lambda: gpus)
    monkeypatch.setattr(devices, "ask_torch", lambda: {"cuda": False, "build": None, "names": []})
    probe = devices.probe_devices()
    assert probe.devices == () and "CPU-only build" in probe.note
    monkeypatch.setattr(devices, "ask_torch", lambda: {"cuda": True, "build": "12.8", "names": ["RTX 4090"]})
    assert [d.device for d in devices.probe_devices().devices] == ["cuda:0"]  # torch sees one (CUDA_VISIBLE_DEVICES)
    monkeypatch.setattr(devices, "nvidia_smi_gpus", list)
    assert "no NVIDIA GPU" in devices.probe_devices().note


# -- the official weights in the window ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def release_dir(tiny_dir, tmp_path_factory):
    """The tiny model's transformer with random weights in the official release's layout (its two shards)."""
    import torch

    from poseanything_studio.model.checks import read_config
    from poseanything_studio.model.release import release_config, write_release_checkpoint
    from poseanything_studio.model.transformer import PoseAnythingTransformer3DModel

    base = {k: v for k, v in read_config(tiny_dir / "transformer" / "config.json").items() if not k.startswith("_")}
    torch.manual_seed(5)
    folder = tmp_path_factory.mktemp("release_panel") / "PoseAnything"
    write_release_checkpoint(PoseAnythingTransformer3DModel(**release_config(base)), folder)
    return folder


@pytest.fixture
def small_release(monkeypatch):
    """The project's release inputs, made as core.release makes them but at 96x64 (the release resizes to 832)."""
    import numpy as np

    from poseanything_studio.core import release
    from poseanything_studio.core.release_parts import ReleaseParts

    def small_inputs(project, painted_mask=None, **_size):  # frames=, size=: the stand-in keeps its own
        rng = np.random.default_rng(0)
        pose = np.zeros((81, 64, 96, 3), np.uint8)
        masks = []
        for f in range(81):
            pose[f, 20:30, 10 + f // 3 : 40 + f // 3] = 255
            left = np.zeros((2, 3), bool)
            left[:, : 1 + f // 41] = True
            masks.append((left, ~left))
        plan = release.ReleaseFramePlan(tuple(float(f) for f in range(81)), 81, 24.0, "81 frames at 24 fps")
        return release.ReleaseInputs(
            name="small",
            size=(96, 64),
            picture=rng.integers(0, 256, (64, 96, 3), dtype=np.uint8),
            pose_frames=pose,
            condition_index=tuple(range(81)),
            parts=ReleaseParts(1, (3, 2), tuple(masks)),
            subject_mask=np.ones((64, 96), bool),
            mask_source="painted",
            plan=plan,
        )

    monkeypatch.setattr(release, "release_inputs", small_inputs)


def choose_release_on_cpu(panel, qtbot, model_dir, checkpoint, steps: int) -> None:
    choose_tiny_on_cpu(panel, qtbot, model_dir, steps)
    panel.checkpoint.setText(str(checkpoint))
    panel.checkpoint.editingFinished.emit()


def test_official_weights_show_the_releases_segments_and_the_probes_matching_and_count_the_probe(
    ui, qtbot, tiny_dir, release_dir, small_release
):
    panel = ui.render_panel
    choose_release_on_cpu(panel, qtbot, tiny_dir, release_dir, steps=6)
    assert panel.render_button.isEnabled(), panel.render_button.toolTip()
    previews, progress = [], []
    panel.controller.preview.connect(lambda event: previews.append(event.kind))
    panel.controller.progress.connect(lambda event: progress.append((event.stage, event.done, event.total)))
    with qtbot.waitSignal(panel.controller.finished, timeout=300_000) as blocker:
        qtbot.mouseClick(panel.render_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    project = ui.doc.project  # the release's frames come back at the project's length and size, as every render's
    assert result is not None and len(result.frames) == project.frames
    assert result.frames[0].shape[:2] == (project.size[1], project.size[0])
    assert previews.index("release_parts") < previews.index("release_matching")
    assert "skeleton segments" in panel.views["parts"].note and "probe" in panel.views["matching"].note
    stepping = [(stage, done, total) for stage, done, total in progress if stage in ("probe", "steps")]
    # progress counts the probe's 5 steps, then the 6 (the window may coalesce some updates)
    assert {total for _, _, total in stepping} == {11}
    stages = [stage for stage, _, _ in stepping]
    assert stages[0] == "probe" and "steps" in stages and stages == sorted(stages)  # probe, then steps
    assert all(done <= 5 for stage, done, _ in stepping if stage == "probe")
    assert all(done >= 6 for stage, done, _ in stepping if stage == "steps")


def test_cancel_during_the_probe_stops_the_official_weights_render(ui, qtbot, tiny_dir, release_dir, small_release):
    panel = ui.render_panel
    choose_release_on_cpu(panel, qtbot, tiny_dir, release_dir, steps=50)
    done = []

    def on_progress(event):
        if event.stage in ("probe", "steps") and event.done:
            done.append((event.stage, event.done))
            panel.cancel_render()

    panel.controller.progress.connect(on_progress)
    with qtbot.waitSignal(panel.controller.finished, timeout=300_000) as blocker:
        qtbot.mouseClick(panel.render_button, Qt.MouseButton.LeftButton)
    assert blocker.args[0] is None and panel.result is None
    assert done and all(stage == "probe" for stage, _ in done) and max(n for _, n in done) <= 2
    assert "cancelled" in panel.progress.format()
