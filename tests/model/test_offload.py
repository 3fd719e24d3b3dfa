"""The pipeline under diffusers' offloading hooks: the same frames as without, inputs on the execution device."""

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLWan
from helpers import pipeline_scene

from poseanything_studio.model.errors import ModelError
from poseanything_studio.model.pipeline import PoseAnythingPipeline
from poseanything_studio.model.tiny import CHECKPOINT_NAME


def load(tiny_dir, offload):
    pipe = PoseAnythingPipeline.from_model_dir(tiny_dir, tiny_dir / CHECKPOINT_NAME, device="cpu", offload=offload)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def scene():
    return pipeline_scene(frames=5, width=64, second_part_x=20)[:3]


@pytest.fixture(scope="module")
def resident_frames(tiny_dir):
    image, pose, masks = scene()
    return load(tiny_dir, "none")(
        image, pose, masks, prompt="a cat walks", num_inference_steps=2, generator=torch.Generator().manual_seed(3)
    ).frames


@pytest.mark.parametrize("mode", ["model", "group"])
def test_offloaded_render_equals_the_resident_one(tiny_dir, resident_frames, mode, monkeypatch):
    pipe = load(tiny_dir, mode)
    hooked = [m for m in (pipe.transformer, pipe.text_encoder, pipe.vae) if getattr(m, "_hf_hook", None)]
    grouped = [m for m in (pipe.transformer, pipe.text_encoder) if getattr(m, "_diffusers_hook", None)]
    assert (len(hooked) == 3) if mode == "model" else (len(grouped) == 2)  # diffusers' hooks are on
    # A GPU under offload: the VAE waits on one device (there the CPU) and runs on another (the GPU). Here it
    # reports a device that is not the execution device, so any input put on `vae.device` fails loudly.
    monkeypatch.setattr(AutoencoderKLWan, "device", property(lambda self: torch.device("cuda")))
    seen = []
    encode = pipe.vae.encode

    def spy(video, *args, **kwargs):
        seen.append(video.device)
        return encode(video, *args, **kwargs)

    monkeypatch.setattr(pipe.vae, "encode", spy)
    image, pose, masks = scene()
    frames = pipe(
        image, pose, masks, prompt="a cat walks", num_inference_steps=2, generator=torch.Generator().manual_seed(3)
    ).frames
    assert seen and all(d == torch.device("cpu") for d in seen)
    assert np.array_equal(frames, resident_frames)


def test_unknown_offload_mode_is_refused(tiny_dir):
    with pytest.raises(ModelError, match="offload must be one of auto, none, model, group"):
        load(tiny_dir, "disk")


def test_auto_keeps_everything_on_the_cpu(tiny_dir):
    pipe = load(tiny_dir, "auto")
    assert not getattr(pipe.transformer, "_hf_hook", None) and not getattr(pipe.transformer, "_diffusers_hook", None)


def test_regional_compile_keeps_the_frames(tiny_dir, resident_frames):
    pipe = load(tiny_dir, "none")
    pipe.compile_transformer(backend="eager")  # the same graphs and PTCM graph breaks; no C++ toolchain needed
    assert all(b._compiled_call_impl is not None for b in pipe.transformer.blocks)  # nn.Module.compile, per block
    image, pose, masks = scene()
    frames = pipe(
        image, pose, masks, prompt="a cat walks", num_inference_steps=2, generator=torch.Generator().manual_seed(3)
    ).frames
    assert np.array_equal(frames, resident_frames)


@pytest.mark.parametrize(("free_gib", "mode"), [(70, "none"), (40, "model"), (22, "group")])
def test_auto_picks_by_free_gpu_memory(monkeypatch, free_gib, mode):
    from poseanything_studio.model import pipeline

    monkeypatch.setattr(pipeline.torch.cuda, "mem_get_info", lambda device: (free_gib * 2**30, 80 * 2**30))
    assert pipeline.auto_offload(torch.device("cuda")) == mode
