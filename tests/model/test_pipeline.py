"""PoseAnythingPipeline on the tiny random model: loading, errors, end to end, seeds, callback and interrupt."""

import shutil

import numpy as np
import pytest
import torch

from model.cli import main as model_main
from model.errors import ModelError, PipelineInterrupted
from model.pipeline import PoseAnythingPipeline, check_model_dir
from model.tiny import CHECKPOINT_NAME


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "model"
    assert model_main(["tiny", str(folder)]) == 0
    return folder


@pytest.fixture(scope="module")
def pipe(tiny_dir):
    pipe = PoseAnythingPipeline.from_model_dir(tiny_dir, tiny_dir / CHECKPOINT_NAME, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def scene(frames=9, height=64, width=96):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pose = np.zeros((frames, height, width, 3), np.uint8)
    masks = np.zeros((frames, 2, height, width), bool)
    for f in range(frames):
        pose[f, 20:30, 10 + 4 * f : 40 + 4 * f] = 255
        masks[f, 0, 10:40, 5 + 4 * f : 30 + 4 * f] = True
        masks[f, 1, 30:60, 30 + 4 * f : 60 + 4 * f] = True
    camera = np.zeros_like(pose)
    for f in range(frames):
        camera[f, 8 + f : 56 + f, 10 - f] = 255
    return image, pose, masks, camera


def test_tiny_render_end_to_end_is_repeatable(pipe):
    image, pose, masks, camera = scene()
    steps = []

    def callback(p, i, t, kwargs):
        steps.append(kwargs)
        return {}

    out = pipe(image, pose, masks, camera, prompt="a cat walks", num_inference_steps=3, seed=7,
               callback_on_step_end=callback)
    assert out.shape == (9, 64, 96, 3) and out.dtype == np.uint8
    again = pipe(image, pose, masks, camera, prompt="a cat walks", num_inference_steps=3, seed=7)
    assert np.array_equal(out, again)
    other = pipe(image, pose, masks, camera, prompt="a cat walks", num_inference_steps=3, seed=8)
    assert not np.array_equal(out, other)
    assert [k["step"] for k in steps] == [1, 2, 3] and steps[0]["steps"] == 3
    assert steps[0]["preview"].shape == (3, 4, 6, 3) and steps[0]["preview"].dtype == np.uint8
    assert steps[0]["matching"].shape == (3, 2) and steps[0]["attention_matching"].shape == (3, 2)
    assert steps[0]["part_tokens"].shape == (3, 2, 2, 3)
    assert np.array_equal(steps[0]["matching"], np.tile([0, 1], (3, 1)))  # identity, the studio default


def test_interrupt_stops_without_decoding(pipe):
    image, pose, masks, _ = scene()

    def callback(p, i, t, kwargs):
        p.interrupt = True

    with pytest.raises(PipelineInterrupted, match="step 1 of 4"):
        pipe(image, pose, masks, num_inference_steps=4, callback_on_step_end=callback)


def test_bad_inputs_get_one_clear_error(pipe):
    image, pose, masks, _ = scene()
    with pytest.raises(ValueError, match="4k\\+1"):
        pipe(image, pose[:8], masks[:8], num_inference_steps=1)
    with pytest.raises(ValueError, match="multiples of 32"):
        pipe(image[:48], pose[:, :48], masks[:, :, :48], num_inference_steps=1)
    with pytest.raises(ValueError, match="part_masks"):
        pipe(image, pose, masks[:5], num_inference_steps=1)


def test_missing_pieces_are_named(tiny_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_dir, broken)
    shutil.rmtree(broken / "vae")
    with pytest.raises(ModelError, match="sub-folder vae/ is missing"):
        check_model_dir(broken)
    shutil.copytree(tiny_dir / "vae", broken / "vae")
    (broken / "text_encoder" / "model.safetensors").rename(broken / "text_encoder" / "pytorch_model.bin")
    with pytest.raises(ModelError, match=r"text_encoder/model\.safetensors is missing .*pickle"):
        check_model_dir(broken)
    with pytest.raises(ModelError, match="does not exist"):
        check_model_dir(tmp_path / "nowhere")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_missing_is_a_model_error(tiny_dir):
    with pytest.raises(ModelError, match="CUDA is not available"):
        PoseAnythingPipeline.from_model_dir(tiny_dir, device="cuda")


def test_tiny_command_refuses_a_full_folder(tiny_dir, capsys):
    assert model_main(["tiny", str(tiny_dir)]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_memory_table_from_the_real_configs(capsys):
    assert model_main(["memory"]) == 0
    out = capsys.readouterr().out
    assert "| 1280x704x121 | 27,280 | 45.8 GiB | 24.7 GiB | 23.8 GiB | 14.2 GiB |" in out
    assert "transformer 12.27 GB" in out and "H100" in out
