"""The `poseanything` renderer on the tiny model: .pasproj -> MP4, previews, cancel, and one-line errors."""

import threading

import numpy as np
import pytest
from helpers import write_arm_project

from poseanything_studio.commands import main as cli_main
from poseanything_studio.commands.model import main as model_main
from poseanything_studio.core.project import load_project
from poseanything_studio.rendering.events import Frame, Notice, Preview, Progress, RenderCancelled
from poseanything_studio.rendering.export import read_video
from poseanything_studio.rendering.job import NeuralOptions, make_job
from poseanything_studio.rendering.runner import run


@pytest.fixture
def moving_arm(tmp_path):
    track = [{"frame": 0, "xy": [180, 80], "interp": "smooth"}, {"frame": 8, "xy": [150, 30], "interp": "smooth"}]
    camera = [{"frame": 0, "pan": [0, 0]}, {"frame": 8, "pan": [20, 0]}]
    return write_arm_project(tmp_path, tip_track=track, camera=camera, frames=9)


def test_pasproj_to_mp4_with_the_tiny_model(tiny_dir, moving_arm, tmp_path):
    out = tmp_path / "arm.mp4"
    code = cli_main(
        [
            "render",
            str(moving_arm),
            "-o",
            str(out),
            "--renderer",
            "poseanything",
            "--model-dir",
            str(tiny_dir),
            "--device",
            "cpu",
            "--steps",
            "2",
            "--seed",
            "3",
        ]
    )
    assert code == 0
    frames, fps = read_video(out)
    assert frames.shape == (9, 160, 256, 3) and fps == 12


def test_events_previews_and_repeatable_seed(tiny_dir, moving_arm):
    job = make_job(
        load_project(moving_arm),
        renderer="poseanything",
        steps=2,
        seed=1,
        neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu"),
    )
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
        job = make_job(
            load_project(moving_arm),
            renderer="poseanything",
            steps=2,
            seed=1,
            neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu", matching=matching),
        )
        events = list(run(job))
        renders[matching] = np.stack([e.image for e in events if isinstance(e, Frame)])
        attention = [p.data for p in events if isinstance(p, Preview) and p.kind == "matching"][-1]
    identity = np.tile(np.arange(attention.shape[1]), (attention.shape[0], 1))
    assert not np.array_equal(attention, identity)  # the random tiny model matches parts differently...
    assert not np.array_equal(renders["identity"], renders["attention"])  # ...and the render follows that matching
    code = cli_main(
        [
            "render",
            str(moving_arm),
            "-o",
            str(tmp_path / "a.mp4"),
            "--renderer",
            "poseanything",
            "--model-dir",
            str(tiny_dir),
            "--device",
            "cpu",
            "--steps",
            "1",
            "--matching",
            "attention",
        ]
    )
    assert code == 0


def test_cancel_interrupts_the_denoising(tiny_dir, moving_arm):
    job = make_job(
        load_project(moving_arm),
        renderer="poseanything",
        steps=20,
        neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu"),
    )
    cancel = threading.Event()
    steps = []
    with pytest.raises(RenderCancelled):
        for event in run(job, cancel):
            if isinstance(event, Progress) and event.stage == "steps" and event.done:
                steps.append(event.done)
                cancel.set()
            assert not isinstance(event, Frame)
    assert steps and max(steps) <= 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "needs --model-dir"),
        (["--model-dir", "{tmp}/nowhere"], "does not exist"),
        (["--model-dir", "{tiny}", "--checkpoint", "{tmp}/weights.pt"], "pickle checkpoints are never loaded"),
        (["--model-dir", "{tiny}", "--device", "cuda"], "CUDA is not available"),
        (["--model-dir", "{tiny}", "--checkpoint", "{tmp}/missing.safetensors"], "checkpoint not found"),
        (["--model-dir", "{tiny}", "--init", "puppet", "--strength", "0"], "above 0 and at most 1"),
        (["--model-dir", "{tiny}", "--init", "puppet", "--strength", "nan"], "above 0 and at most 1"),
    ],
)
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
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        next(line for line in err.splitlines() if line.startswith("error:"))
    ]
    assert not out.exists()


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    """A tiny model folder without a PoseAnything checkpoint: the base model, as the public weights are."""
    folder = tmp_path_factory.mktemp("base") / "model"
    assert model_main(["tiny", str(folder), "--no-checkpoint"]) == 0
    assert not (folder / "poseanything.safetensors").exists() and (folder / "transformer").is_dir()
    return folder


def step_events(events):
    return [e for e in events if isinstance(e, Progress) and e.stage == "steps" and e.done]


def test_without_a_checkpoint_it_refines_the_puppet_render_and_says_so_once(base_dir, moving_arm):
    job = make_job(
        load_project(moving_arm),
        renderer="poseanything",
        steps=5,
        seed=2,
        neural=NeuralOptions(model_dir=str(base_dir), device="cpu", strength=0.4),
    )
    events = list(run(job))
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "ignores the pose" in notices[0] and "refines the puppet render" in notices[0]
    assert any(isinstance(e, Progress) and e.stage == "puppet" for e in events)  # the puppet render came first
    assert [e.done for e in step_events(events)] == [1, 2] and step_events(events)[0].total == 2  # ceil(0.4 x 5)
    frames = np.stack([e.image for e in events if isinstance(e, Frame)])
    again = np.stack([e.image for e in run(job) if isinstance(e, Frame)])
    assert np.array_equal(frames, again)  # seeds reproduce


def test_with_a_checkpoint_noise_stays_the_default_and_puppet_is_asked_for(tiny_dir, moving_arm):
    project = load_project(moving_arm)
    noise = list(
        run(
            make_job(
                project, renderer="poseanything", steps=3, neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu")
            )
        )
    )
    assert not any(isinstance(e, Notice) for e in noise)
    assert len(step_events(noise)) == 3 and not any(isinstance(e, Progress) and e.stage == "puppet" for e in noise)
    puppet = list(
        run(
            make_job(
                project,
                renderer="poseanything",
                steps=3,
                neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu", init="puppet", strength=0.5),
            )
        )
    )
    assert len(step_events(puppet)) == 2  # ceil(0.5 x 3)


def test_parts_preview_shows_the_models_part_tokens(tiny_dir, moving_arm):
    job = make_job(
        load_project(moving_arm),
        renderer="poseanything",
        steps=2,
        neural=NeuralOptions(model_dir=str(tiny_dir), device="cpu"),
    )
    parts = [e for e in run(job) if isinstance(e, Preview) and e.kind == "parts"]
    tokens = parts[-1].data  # what PTCM uses: (F', bones, h, w) on the 32-pixel token grid
    assert tokens.shape == (3, 2, 5, 8) and tokens.dtype == bool and tokens.any()
    assert parts[-1].image.shape == (160, 2 * 256 + 8, 3)


def test_cli_init_puppet_prints_the_note_once(base_dir, moving_arm, tmp_path, capsys):
    out = tmp_path / "refined.mp4"
    code = cli_main(
        [
            "render",
            str(moving_arm),
            "-o",
            str(out),
            "--renderer",
            "poseanything",
            "--model-dir",
            str(base_dir),
            "--device",
            "cpu",
            "--steps",
            "4",
            "--strength",
            "0.3",
        ]
    )
    assert code == 0 and read_video(out)[0].shape == (9, 160, 256, 3)
    err = capsys.readouterr().err
    assert err.count("no PoseAnything checkpoint") == 1


def test_the_refinement_example_renders_on_a_base_model(base_dir, tmp_path, capsys):
    from poseanything_studio.bundled import examples_dir

    example = examples_dir() / "cat_refine.pasproj"
    render = load_project(example).render
    assert (render.renderer, render.init, render.strength, render.checkpoint) == ("poseanything", "puppet", 0.4, None)
    out = tmp_path / "cat.mp4"
    args = [
        "render",
        str(example),
        "-o",
        str(out),
        "--device",
        "cpu",
        "--frames",
        "5",
        "--size",
        "128x96",
        "--steps",
        "5",
    ]
    assert cli_main(args) == 2  # its model_dir is a placeholder for the user's own folder
    assert "Wan2.2-TI2V-5B-Diffusers does not exist" in capsys.readouterr().err and not out.exists()
    assert cli_main([*args, "--model-dir", str(base_dir)]) == 0
    assert read_video(out)[0].shape == (5, 96, 128, 3)


def test_project_neural_settings_are_checked_and_kept(moving_arm, tmp_path):
    import json

    from poseanything_studio.core.errors import ProjectError
    from poseanything_studio.core.project import save_project

    data = json.loads(moving_arm.read_text())
    data["render"].update(init="puppet", strength=0.25, checkpoint="ck.safetensors")
    moving_arm.write_text(json.dumps(data))
    saved = save_project(load_project(moving_arm), tmp_path / "again.pasproj")
    render = load_project(saved.path).render
    assert (render.init, render.strength, render.checkpoint) == ("puppet", 0.25, "ck.safetensors")
    for key, value, message in (
        ("init", "latent", "unknown init"),
        ("strength", 0, "above 0"),
        ("strength", 1.5, "above 0"),
        ("checkpoint", 3, "path or null"),
    ):
        bad = dict(data, render=dict(data["render"], **{key: value}))
        moving_arm.write_text(json.dumps(bad))
        with pytest.raises(ProjectError, match=message) as err:
            load_project(moving_arm)
        assert f"render.{key}" in str(err.value)


def test_render_with_offload_and_compile_options_gives_the_same_video(tiny_dir, moving_arm, tmp_path, monkeypatch):
    from poseanything_studio.model.pipeline import PoseAnythingPipeline

    compiled = []
    monkeypatch.setattr(
        PoseAnythingPipeline,
        "compile_transformer",
        lambda self: compiled.append(self.transformer.compile_repeated_blocks(backend="eager")),
    )
    videos = []
    for extra in ([], ["--offload", "group", "--compile"]):
        out = tmp_path / f"arm{len(videos)}.mp4"
        code = cli_main(
            [
                "render",
                str(moving_arm),
                "-o",
                str(out),
                "--renderer",
                "poseanything",
                "--model-dir",
                str(tiny_dir),
                "--device",
                "cpu",
                "--steps",
                "2",
                "--seed",
                "3",
                *extra,
            ]
        )
        assert code == 0
        videos.append(read_video(out)[0])
    assert len(compiled) == 1 and np.array_equal(videos[0], videos[1])
