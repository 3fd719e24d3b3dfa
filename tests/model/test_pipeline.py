"""PoseAnythingPipeline on the tiny random model: loading, errors, end to end, seeds, callbacks, refinement."""

import math
import shutil

import numpy as np
import pytest
import torch
from helpers import pipeline_scene

from poseanything_studio.commands.model import main as model_main
from poseanything_studio.model.errors import ModelError, PipelineInterrupted
from poseanything_studio.model.pipeline import PoseAnythingPipeline, PoseAnythingPipelineOutput, check_model_dir
from poseanything_studio.model.tiny import CHECKPOINT_NAME


@pytest.fixture(scope="module")
def pipe(tiny_dir):
    pipe = PoseAnythingPipeline.from_pretrained(tiny_dir, tiny_dir / CHECKPOINT_NAME, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def scene():
    return pipeline_scene()


def seeded(seed):
    return torch.Generator("cpu").manual_seed(seed)


ALL_INPUTS = ("latents", "x0", "preview", "matching", "attention_matching", "part_tokens")


def test_tiny_render_end_to_end_is_repeatable(pipe):
    image, pose, masks, camera = scene()
    steps = []

    def callback(p, i, t, kwargs):
        steps.append((i, p.num_timesteps, kwargs))
        return {}

    out = pipe(
        image,
        pose,
        masks,
        camera,
        prompt="a cat walks",
        num_inference_steps=3,
        generator=seeded(7),
        callback_on_step_end=callback,
        callback_on_step_end_tensor_inputs=ALL_INPUTS,
    )
    assert isinstance(out, PoseAnythingPipelineOutput)
    assert out.frames.shape == (1, 9, 64, 96, 3) and out.frames.dtype == np.uint8
    again = pipe(image, pose, masks, camera, prompt="a cat walks", num_inference_steps=3, generator=seeded(7))
    assert np.array_equal(out.frames, again.frames)
    other = pipe(image, pose, masks, camera, prompt="a cat walks", num_inference_steps=3, generator=seeded(8))
    assert not np.array_equal(out.frames, other.frames)
    (frames,) = pipe(
        image, pose, masks, camera, prompt="a cat walks", num_inference_steps=3, generator=seeded(7), return_dict=False
    )
    assert np.array_equal(frames, out.frames)
    assert [(i, n) for i, n, _ in steps] == [(0, 3), (1, 3), (2, 3)]
    kwargs = steps[0][2]
    assert set(kwargs) == set(ALL_INPUTS)
    assert kwargs["preview"].shape == (3, 4, 6, 3) and kwargs["preview"].dtype == np.uint8
    assert kwargs["matching"].shape == (3, 2) and kwargs["attention_matching"].shape == (3, 2)
    assert kwargs["part_tokens"].shape == (3, 2, 2, 3)
    assert np.array_equal(kwargs["matching"], np.tile([0, 1], (3, 1)))  # identity, the studio default


def test_callback_gets_only_the_tensor_inputs_asked_for_and_can_replace_latents(pipe):
    image, pose, masks, _ = scene()
    seen = []

    def zero_latents(p, i, t, kwargs):
        seen.append(sorted(kwargs))
        return {"latents": torch.zeros_like(kwargs["latents"])}

    zeroed = pipe(
        image,
        pose,
        masks,
        num_inference_steps=2,
        generator=seeded(1),
        callback_on_step_end=zero_latents,
        output_type="latent",
    ).frames
    plain = pipe(image, pose, masks, num_inference_steps=2, generator=seeded(1), output_type="latent").frames
    assert seen == [["latents"], ["latents"]]  # the default, as in diffusers
    assert torch.count_nonzero(zeroed[:, :, 1:]) == 0 and torch.count_nonzero(plain[:, :, 1:]) > 0
    with pytest.raises(ValueError, match="'noise_pred' is not one of latents"):
        pipe(
            image,
            pose,
            masks,
            num_inference_steps=1,
            callback_on_step_end=zero_latents,
            callback_on_step_end_tensor_inputs=["noise_pred"],
        )


def puppet_like(image, frames=9):
    """A video to refine: the picture sliding right a few pixels a frame."""
    return np.stack([np.roll(image, 3 * f, axis=1) for f in range(frames)])


def transformer_calls(pipe, **kwargs):
    calls = []
    hook = pipe.transformer.register_forward_hook(lambda *_: calls.append(1))
    try:
        frames = pipe(**kwargs).frames[0]
    finally:
        hook.remove()
    return len(calls), frames


def test_refinement_runs_the_last_ceil_strength_steps(pipe):
    image, pose, masks, _ = scene()
    video = puppet_like(image)
    for strength, steps in ((0.3, 10), (0.25, 8), (0.55, 7), (1.0, 4)):
        calls, _ = transformer_calls(
            pipe,
            image=image,
            pose_frames=pose,
            part_masks=masks,
            video=video,
            strength=strength,
            num_inference_steps=steps,
            generator=seeded(0),
        )
        assert calls == math.ceil(strength * steps), (strength, steps)


def test_refinement_near_zero_strength_is_the_vae_round_trip(pipe):
    image, pose, masks, _ = scene()
    video = puppet_like(image)
    round_trip = pipe.decode_latents(pipe.encode_video(video)).astype(int)
    _, tiny = transformer_calls(
        pipe,
        image=image,
        pose_frames=pose,
        part_masks=masks,
        video=video,
        strength=1e-4,
        num_inference_steps=10,
        generator=seeded(0),
    )
    _, half = transformer_calls(
        pipe,
        image=image,
        pose_frames=pose,
        part_masks=masks,
        video=video,
        strength=0.5,
        num_inference_steps=10,
        generator=seeded(0),
    )
    assert np.abs(tiny.astype(int) - round_trip).max() <= 2  # the first frame is the clean image, as in any render
    assert np.abs(half.astype(int) - round_trip).mean() > 10 * np.abs(tiny.astype(int) - round_trip).mean() + 1


def test_refinement_keeps_the_clean_first_frame_and_seeds_reproduce(pipe):
    image, pose, masks, _ = scene()
    video = puppet_like(image)[::-1].copy()  # its first frame is not the picture
    runs = [
        pipe(
            image,
            pose,
            masks,
            video=video,
            strength=0.5,
            num_inference_steps=4,
            generator=seeded(s),
            output_type="latent",
        ).frames
        for s in (5, 5, 6)
    ]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])
    condition = pipe.encode_video(image[None])
    assert torch.allclose(runs[0][:, :, :1], condition)  # Wan2.2 TI2V: the first latent frame is the clean picture


def test_refinement_inputs_are_checked(pipe):
    image, pose, masks, _ = scene()
    with pytest.raises(ValueError, match=r"strength must be in \(0, 1\]"):
        pipe(image, pose, masks, video=puppet_like(image), strength=0)
    with pytest.raises(ValueError, match="needs a video"):
        pipe(image, pose, masks, strength=0.5)
    with pytest.raises(ValueError, match="video must be"):
        pipe(image, pose, masks, video=puppet_like(image, 5), strength=0.5)


def test_loads_through_diffusers_without_a_checkpoint(tiny_dir):
    base = PoseAnythingPipeline.from_pretrained(tiny_dir, device="cpu")
    assert not base.has_checkpoint
    assert torch.count_nonzero(base.transformer.patch_embedding.weight[:, 8:]) == 0  # the pose half is zero
    assert all(torch.count_nonzero(m.to_out.weight) == 0 for m in base.transformer.ptcm_modules)
    assert base.vae.dtype == torch.float32 and type(base.scheduler).__name__ == "UniPCMultistepScheduler"
    base.set_progress_bar_config(disable=True)
    ptcm_calls, seen = [], []
    base.transformer.ptcm_modules[0].register_forward_hook(lambda *_: ptcm_calls.append(1))
    image, pose, masks, _ = scene()
    base(
        image,
        pose,
        masks,
        num_inference_steps=2,
        callback_on_step_end=lambda p, i, t, kw: seen.append(kw),
        callback_on_step_end_tensor_inputs=["part_tokens"],
    )
    assert not base.ptcm_active() and ptcm_calls == [] and seen[0]["part_tokens"] is None  # zero PTCM is skipped


def test_interrupt_stops_without_decoding(pipe):
    image, pose, masks, _ = scene()

    def callback(p, i, t, kwargs):
        p.interrupt = True

    with pytest.raises(PipelineInterrupted, match="step 1 of 4"):
        pipe(image, pose, masks, num_inference_steps=4, callback_on_step_end=callback)
    with pytest.raises(PipelineInterrupted, match="step 1 of 2"):  # a refinement counts its own steps
        pipe(
            image,
            pose,
            masks,
            video=puppet_like(image),
            strength=0.5,
            num_inference_steps=4,
            callback_on_step_end=callback,
        )


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
        PoseAnythingPipeline.from_pretrained(tiny_dir, device="cuda")


def test_tiny_command_refuses_a_full_folder(tiny_dir, capsys):
    assert model_main(["tiny", str(tiny_dir)]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_memory_table_from_the_real_configs(capsys):
    assert model_main(["memory"]) == 0
    out = capsys.readouterr().out
    assert "| 1280x704x121 | 27,280 | 45.8 GiB | 24.7 GiB | 23.8 GiB | 14.2 GiB |" in out
    assert "transformer 12.27 GB" in out and "H100" in out
