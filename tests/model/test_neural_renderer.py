"""The `poseanything` renderer on the tiny model: .pasproj -> MP4, previews, cancel, and one-line errors."""

import threading

import numpy as np
import pytest
from helpers import write_arm_project

from model.cli import main as model_main
from poseanything_studio.cli import main as cli_main
from poseanything_studio.core.project import load_project
from poseanything_studio.rendering.events import Frame, Preview, Progress, RenderCancelled
from poseanything_studio.rendering.export import read_video
from poseanything_studio.rendering.job import NeuralOptions, make_job
from poseanything_studio.rendering.runner import run


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_renderer") / "model"
    assert model_main(["tiny", str(folder)]) == 0
    return folder


@pytest.fixture
def moving_arm(tmp_path):
    track = [{"frame": 0, "xy": [180, 80], "interp": "smooth"}, {"frame": 8, "xy": [150, 30], "interp": "smooth"}]
    camera = [{"frame": 0, "pan": [0, 0]}, {"frame": 8, "pan": [20, 0]}]
    return write_arm_project(tmp_path, tip_track=track, camera=camera, frames=9)


def test_pasproj_to_mp4_with_the_tiny_model(tiny_dir, moving_arm, tmp_path):
    out = tmp_path / "arm.mp4"
    code = cli_main(["render", str(moving_arm), "-o", str(out), "--renderer", "poseanything", "--model-dir",
                     str(tiny_dir), "--device", "cpu", "--steps", "2", "--seed", "3"])
    assert code == 0
    frames, fps = read_video(out)
    assert frames.shape == (9, 160, 256, 3) and fps == 12


def test_events_previews_and_repeatable_seed(tiny_dir, moving_arm):
    job = make_job(load_project(moving_arm), renderer="poseanything", steps=2, seed=1,
                   neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu"))
    events = list(run(job))
    previews = [e for e in events if isinstance(e, Preview)]
    assert {"prediction", "matching"} <= {p.kind for p in previews}
    prediction = [p for p in previews if p.kind == "prediction"]
    assert len(prediction) == 2 and prediction[0].image.shape == (160, 256, 3)
    assert [p for p in previews if p.kind == "matching"][-1].data.shape == (3, 2)  # (F', bones)
    assert [e.done for e in events if isinstance(e, Progress) and e.stage == "steps"][-2:] == [1, 2]
    frames = np.stack([e.image for e in events if isinstance(e, Frame)])
    again = np.stack([e.image for e in run(job) if isinstance(e, Frame)])
    assert frames.shape == (9, 160, 256, 3) and np.array_equal(frames, again)


def test_attention_matching_for_imported_skeletons_changes_the_render(tiny_dir, moving_arm, tmp_path):
    renders = {}
    for matching in ("identity", "attention"):
        job = make_job(load_project(moving_arm), renderer="poseanything", steps=2, seed=1,
                       neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu", matching=matching))
        events = list(run(job))
        renders[matching] = np.stack([e.image for e in events if isinstance(e, Frame)])
        attention = [p.data for p in events if isinstance(p, Preview) and p.kind == "matching"][-1]
    identity = np.tile(np.arange(attention.shape[1]), (attention.shape[0], 1))
    assert not np.array_equal(attention, identity)  # the random tiny model matches parts differently...
    assert not np.array_equal(renders["identity"], renders["attention"])  # ...and the render follows that matching
    code = cli_main(["render", str(moving_arm), "-o", str(tmp_path / "a.mp4"), "--renderer", "poseanything",
                     "--model-dir", str(tiny_dir), "--device", "cpu", "--steps", "1", "--matching", "attention"])
    assert code == 0


def test_cancel_interrupts_the_denoising(tiny_dir, moving_arm):
    job = make_job(load_project(moving_arm), renderer="poseanything", steps=20,
                   neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu"))
    cancel = threading.Event()
    steps = []
    with pytest.raises(RenderCancelled):
        for event in run(job, cancel):
            if isinstance(event, Progress) and event.stage == "steps" and event.done:
                steps.append(event.done)
                cancel.set()
            assert not isinstance(event, Frame)
    assert steps and max(steps) <= 2


@pytest.mark.parametrize(("extra", "message"), [
    ([], "needs --model-dir"),
    (["--model-dir", "{tmp}/nowhere"], "does not exist"),
    (["--model-dir", "{tiny}", "--checkpoint", "{tmp}/weights.pt"], "pickle checkpoints are never loaded"),
    (["--model-dir", "{tiny}", "--device", "cuda"], "CUDA is not available"),
])
def test_errors_are_one_line_exit_2_and_write_nothing(tiny_dir, moving_arm, tmp_path, capsys, extra, message):
    import torch

    if "cuda" in extra and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    (tmp_path / "weights.pt").write_bytes(b"x")
    out = tmp_path / "out.mp4"
    extra = [a.format(tmp=tmp_path, tiny=tiny_dir) for a in extra]
    device = [] if "--device" in extra else ["--device", "cpu"]
    code = cli_main(["render", str(moving_arm), "-o", str(out), "--renderer", "poseanything", *device, *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [next(
        line for line in err.splitlines() if line.startswith("error:"))]
    assert not out.exists()


def test_render_with_offload_and_compile_options_gives_the_same_video(tiny_dir, moving_arm, tmp_path, monkeypatch):
    from model.pipeline import PoseAnythingPipeline

    compiled = []
    monkeypatch.setattr(PoseAnythingPipeline, "compile_transformer",
                        lambda self: compiled.append(self.transformer.compile_repeated_blocks(backend="eager")))
    videos = []
    for extra in ([], ["--offload", "group", "--compile"]):
        out = tmp_path / f"arm{len(videos)}.mp4"
        code = cli_main(["render", str(moving_arm), "-o", str(out), "--renderer", "poseanything", "--model-dir",
                         str(tiny_dir), "--device", "cpu", "--steps", "2", "--seed", "3", *extra])
        assert code == 0
        videos.append(read_video(out)[0])
    assert len(compiled) == 1 and np.array_equal(videos[0], videos[1])
