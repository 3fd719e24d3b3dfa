"""The untrained PoseAnything pipeline is diffusers' Wan2.2 TI2V pipeline: same noise, steps and CFG, same latents."""

from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image

from poseanything_studio.model.pipeline import PoseAnythingPipeline, _load_scheduler
from poseanything_studio.model.tiny import write_tiny_model


def test_untrained_pipeline_equals_diffusers_wan_image_to_video_with_expanded_timesteps(tmp_path, monkeypatch):
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel
    from diffusers.pipelines.wan import pipeline_wan_i2v

    # diffusers cleans prompts with ftfy when it is installed; for a plain ASCII prompt that is the identity
    monkeypatch.setattr(pipeline_wan_i2v, "ftfy", SimpleNamespace(fix_text=lambda text: text), raising=False)

    folder = tmp_path / "model"
    write_tiny_model(folder)
    ours = PoseAnythingPipeline.from_model_dir(folder, None, device="cpu")  # zero pose half, zero PTCM output
    ours.set_progress_bar_config(disable=True)
    base = WanTransformer3DModel.from_pretrained(folder, subfolder="transformer", use_safetensors=True).eval()
    theirs = WanImageToVideoPipeline(
        tokenizer=ours.tokenizer,
        text_encoder=ours.text_encoder,
        vae=ours.vae,
        scheduler=_load_scheduler(folder),
        transformer=base,
        expand_timesteps=True,
    )
    theirs.set_progress_bar_config(disable=True)

    rng = np.random.default_rng(0)
    frames, height, width = 9, 64, 96
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pose = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)  # an untrained model ignores it
    settings = {
        "prompt": "a cat walks",
        "negative_prompt": "blurry",
        "num_inference_steps": 4,
        "guidance_scale": 5.0,
        "max_sequence_length": 16,
    }
    got = ours(image, pose, output_type="latent", generator=torch.Generator("cpu").manual_seed(0), **settings).frames
    want = theirs(
        Image.fromarray(image),
        height=height,
        width=width,
        num_frames=frames,
        output_type="latent",
        generator=torch.Generator("cpu").manual_seed(0),
        **settings,
    ).frames
    assert got.shape == want.shape == (1, 8, 3, height // 16, width // 16)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    assert (got[:, :, 1:] - got[:, :, :1]).abs().mean() > 0.1  # the later frames were generated, not copied
