"""PoseAnythingTransformer3DModel: pose injection, shape checks, and the real config's parameter count."""

import pytest
import torch
from diffusers import WanTransformer3DModel

from poseanything_studio.model.part_attention import PartContext
from poseanything_studio.model.tiny import TINY_TRANSFORMER_CONFIG
from poseanything_studio.model.transformer import (
    WAN22_TI2V_5B_CONFIG,
    WAN22_TI2V_5B_PARAMETERS,
    ModelShapeError,
    PoseAnythingTransformer3DModel,
    ptcm_parameters,
)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    base = WanTransformer3DModel(**TINY_TRANSFORMER_CONFIG).eval()
    return base, PoseAnythingTransformer3DModel.from_base(base).eval()


def inputs(batch=2, frames=3, height=4, width=6, per_token=True):
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(batch, 8, frames, height, width, generator=g)
    pose = torch.randn(batch, 8, frames, height, width, generator=g)
    tokens = frames * (height // 2) * (width // 2)
    timestep = torch.full((batch, tokens), 700.0) if per_token else torch.full((batch,), 700.0)
    if per_token:
        timestep[:, : tokens // frames] = 0  # TI2V: the first latent frame is the clean reference image
    text = torch.randn(batch, 5, 16, generator=g)
    return latents, timestep, text, pose


def part_context(frames=9, height=64, width=96, mode="identity"):
    masks = torch.zeros(frames, 3, height, width, dtype=torch.bool)
    masks[:, 0, : height // 2] = True
    masks[:, 1, height // 2 :, : width // 2] = True
    masks[:, 2, height // 2 :, width // 2 :] = True
    return PartContext.from_masks(masks, mode=mode)


@pytest.mark.parametrize("per_token", [True, False])
def test_zero_pose_half_is_bit_identical_to_base(models, per_token):
    base, model = models
    latents, timestep, text, pose = inputs(per_token=per_token)
    with torch.no_grad():
        expected = base(latents, timestep, text).sample
        got = model(latents, timestep, text, pose_latents=pose).sample
        with_ptcm = model(latents, timestep, text, pose_latents=pose, part_context=part_context()).sample
    assert torch.equal(got, expected)
    assert torch.equal(with_ptcm, expected)  # PTCM's zero output projection: exactly the identity


def test_nonzero_pose_half_changes_output(models):
    base, _ = models
    model = PoseAnythingTransformer3DModel.from_base(base).eval()
    with torch.no_grad():
        model.patch_embedding.weight[:, 8:].normal_(std=0.1)
        latents, timestep, text, pose = inputs()
        before = base(latents, timestep, text).sample
        after = model(latents, timestep, text, pose_latents=pose).sample
        after_other_pose = model(latents, timestep, text, pose_latents=pose.flip(0)).sample
    assert not torch.allclose(before, after)
    assert not torch.allclose(after, after_other_pose)


def test_from_base_widens_and_keeps_base_weights(models):
    base, model = models
    assert model.patch_embedding.weight.shape == (24, 16, 1, 2, 2)
    assert torch.equal(model.patch_embedding.weight[:, :8], base.patch_embedding.weight)
    assert not model.patch_embedding.weight[:, 8:].any()
    assert torch.equal(model.blocks[1].ptcm.to_q.weight, base.blocks[1].attn1.to_q.weight)
    assert not model.blocks[1].ptcm.to_out.weight.any()
    assert model.config.in_channels == 8 and model.config.pose_channels == 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: {**a, "pose_latents": None}, "pose_latents is required"),
        (lambda a: {**a, "pose_latents": a["pose_latents"][:, :4]}, "pose_latents must be"),
        (lambda a: {**a, "hidden_states": a["hidden_states"][:, :4]}, "hidden_states must be"),
        (
            lambda a: {**a, "hidden_states": a["hidden_states"][..., :5], "pose_latents": a["pose_latents"][..., :5]},
            "multiples of the patch",
        ),
        (lambda a: {**a, "timestep": a["timestep"][:, :5]}, "timestep must be"),
        (lambda a: {**a, "encoder_hidden_states": a["encoder_hidden_states"][..., :4]}, "encoder_hidden_states"),
        (lambda a: {**a, "part_context": part_context(frames=5)}, "token grid"),
        (lambda a: {**a, "part_context": PartContext.stack([part_context()] * 3)}, "parts of 3 samples"),
    ],
)
def test_shape_errors_name_the_input(models, change, message):
    _, model = models
    latents, timestep, text, pose = inputs()
    args = {"hidden_states": latents, "timestep": timestep, "encoder_hidden_states": text, "pose_latents": pose}
    with pytest.raises(ModelShapeError, match=message):
        model(**change(args))


def test_real_config_parameter_count_on_meta():
    with torch.device("meta"):
        base = WanTransformer3DModel(**WAN22_TI2V_5B_CONFIG)
        model = PoseAnythingTransformer3DModel(**WAN22_TI2V_5B_CONFIG)
    count = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for p in base.parameters()) == WAN22_TI2V_5B_PARAMETERS == 4_999_787_712
    pose_half = 3072 * 48 * 1 * 2 * 2
    assert pose_half == 589_824
    assert ptcm_parameters(3072, 30) == 1_133_015_040
    assert sum(p.numel() for b in model.blocks for p in b.ptcm.parameters()) == 1_133_015_040
    assert count == 4_999_787_712 + 589_824 + 1_133_015_040


def test_save_and_load_pretrained_round_trip(models, tmp_path):
    _, model = models
    with torch.no_grad():
        model.blocks[0].ptcm.to_out.weight.normal_()
    model.save_pretrained(tmp_path, safe_serialization=True)
    loaded = PoseAnythingTransformer3DModel.from_pretrained(tmp_path).eval()
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    latents, timestep, text, pose = inputs()
    context = part_context()
    with torch.no_grad():
        assert torch.equal(
            model(latents, timestep, text, pose_latents=pose, part_context=context).sample,
            loaded(latents, timestep, text, pose_latents=pose, part_context=part_context()).sample,
        )
        model.blocks[0].ptcm.to_out.weight.zero_()


def with_live_ptcm(model):
    """A copy of the model whose PTCM output projections are non-zero, so the parts change the output."""
    trained = PoseAnythingTransformer3DModel.from_config(model.config).eval()
    trained.load_state_dict(model.state_dict())
    with torch.no_grad():
        for module in trained.ptcm_modules:
            module.to_out.weight.normal_(std=0.5)
    return trained


def test_a_batch_of_clips_with_their_own_parts_equals_each_clip_alone(models):
    _, model = models
    trained = with_live_ptcm(model)
    latents, timestep, text, pose = inputs()
    flipped = PartContext(part_context().tokens.flip(-1), (3, 2, 3))  # clip 1's parts mirrored left-right
    contexts = [part_context(), flipped]
    with torch.no_grad():
        together = trained(latents, timestep, text, pose_latents=pose, part_context=PartContext.stack(contexts)).sample
        alone = [
            trained(
                latents[i : i + 1],
                timestep[i : i + 1],
                text[i : i + 1],
                pose_latents=pose[i : i + 1],
                part_context=contexts[i],
            ).sample
            for i in range(2)
        ]
        shared = trained(latents, timestep, text, pose_latents=pose, part_context=part_context()).sample
    assert torch.allclose(together, torch.cat(alone), atol=1e-5)
    assert not torch.allclose(together[1], shared[1], atol=1e-3)  # clip 1's own parts matter
    assert torch.allclose(together[0], shared[0], atol=1e-5)


def test_ptcm_processors_are_in_diffusers_registry_and_can_be_swapped(models):
    from diffusers.models.attention_processor import AttnProcessor
    from ptcm_reference import ReferencePTCMProcessor

    _, model = models
    trained = with_live_ptcm(model)
    latents, timestep, text, pose = inputs()
    with torch.no_grad():
        fused = trained(latents, timestep, text, pose_latents=pose, part_context=part_context()).sample
    processors = trained.attn_processors
    assert "blocks.0.ptcm.processor" in processors and len(processors) == 3 * len(trained.blocks)
    swapped = {k: ReferencePTCMProcessor() if ".ptcm." in k else v for k, v in processors.items()}
    trained.set_attn_processor(swapped)  # a dict naming every processor, PTCM's included
    assert isinstance(trained.attn_processors["blocks.1.ptcm.processor"], ReferencePTCMProcessor)
    with torch.no_grad():
        reference = trained(latents, timestep, text, pose_latents=pose, part_context=part_context()).sample
    assert torch.allclose(fused, reference, atol=1e-5) and not torch.allclose(fused, inputs()[0], atol=1e-2)
    trained.set_attn_processor({k: AttnProcessor() for k in processors})  # as diffusers' own suite does
    assert all(type(p) is AttnProcessor for p in trained.attn_processors.values())
    trained.set_attn_processor(
        {k: v for k, v in processors.items() if ".ptcm." not in k}
        | {k: AttnProcessor() for k in processors if ".ptcm." in k}
    )
    with pytest.warns(UserWarning, match="not a PTCM processor"), torch.no_grad():
        fallback = trained(latents, timestep, text, pose_latents=pose, part_context=part_context()).sample
    assert torch.equal(fallback, fused)  # a WanAttention processor cannot do PTCM's math: the default runs


def test_blocks_compile_whole_with_ptcm_off_and_with_breaks_with_it_on(models):
    """diffusers' compile tests use fullgraph=True: PTCM's hooks must not break the graph when PTCM is off."""
    _, model = models
    trained = with_live_ptcm(model)
    latents, timestep, text, pose = inputs()
    with torch.no_grad():
        eager = trained(latents, timestep, text, pose_latents=pose).sample
        eager_parts = trained(latents, timestep, text, pose_latents=pose, part_context=part_context()).sample
        torch._dynamo.reset()
        whole = torch.compile(trained, fullgraph=True, backend="eager")
        assert torch.allclose(whole(latents, timestep, text, pose_latents=pose).sample, eager, atol=1e-6)
        torch._dynamo.reset()
        trained.compile_repeated_blocks(backend="eager")  # as --compile does; PTCM on runs outside the graphs
        compiled_parts = trained(latents, timestep, text, pose_latents=pose, part_context=part_context()).sample
        torch._dynamo.reset()
    assert torch.allclose(compiled_parts, eager_parts, atol=1e-6) and not torch.allclose(eager_parts, eager, atol=1e-3)
