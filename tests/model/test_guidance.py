"""Decoupled subject/camera CFG: one batch of two equals separate passes combined by the formula."""

import torch
from diffusers import WanTransformer3DModel

from poseanything_studio.model.guidance import DecoupledGuidance
from poseanything_studio.model.tiny import TINY_TRANSFORMER_CONFIG
from poseanything_studio.model.transformer import PoseAnythingTransformer3DModel


def test_batched_decoupled_cfg_equals_separate_passes():
    torch.manual_seed(0)
    model = PoseAnythingTransformer3DModel.from_base(WanTransformer3DModel(**TINY_TRANSFORMER_CONFIG)).eval()
    with torch.no_grad():
        model.patch_embedding.weight[:, 8:].normal_(std=0.1)
    latents = torch.randn(1, 8, 3, 4, 6)
    subject, camera, empty = torch.randn(3, 1, 8, 3, 4, 6).unbind(0)
    prompt, negative = torch.randn(2, 1, 5, 16).unbind(0)
    timestep = torch.full((1, 18), 600.0)
    guidance = DecoupledGuidance(4.0)

    def eps(pose, text):
        return model(latents, timestep, text, pose_latents=pose).sample

    with torch.no_grad():
        batched = model(
            guidance.batch(latents, latents),
            guidance.batch(timestep, timestep),
            guidance.batch(prompt, negative),
            pose_latents=guidance.batch(subject, camera),
        ).sample
        combined = guidance(batched)
        eps_subject, eps_camera = eps(subject, prompt), eps(camera, negative)
        expected = eps_camera + 4.0 * (eps_subject - eps_camera)
        # no camera motion: the negative anchor is the empty canvas, i.e. ordinary CFG
        ordinary = guidance(
            model(
                guidance.batch(latents, latents),
                guidance.batch(timestep, timestep),
                guidance.batch(prompt, negative),
                pose_latents=guidance.batch(subject, empty),
            ).sample
        )
        eps_uncond = eps(empty, negative)
    assert batched.shape[0] == 2
    torch.testing.assert_close(combined, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ordinary, eps_uncond + 4.0 * (eps_subject - eps_uncond), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(combined, ordinary)  # the camera anchor matters


def test_scale_one_runs_the_positive_branch_alone():
    guidance = DecoupledGuidance(1.0)
    x = torch.randn(1, 3)
    assert guidance.batch(x, -x) is x and guidance(x) is x
