"""PTCM: part masks on the token grid, attention matching, and the zero-initialised residual."""

import numpy as np
import pytest
import torch
from poseanything_studio.model.part_attention import (
    PartContext,
    PartTemporalCoherence,
    part_affinity,
    pool_part_masks,
    token_part_masks,
)
from ptcm_reference import ReferencePTCMProcessor, cross_attention_mask, reference_affinity


def test_pool_part_masks_follows_the_vae_grid():
    masks = np.zeros((9, 2, 64, 96), bool)
    masks[0, 0, :32, :32] = True  # first latent frame: pixel frame 0 only
    masks[1:5, 1, 32:, 64:] = True  # latent frame 1 = pixel frames 1..4
    masks[5, 1, 32:, 64:] = True  # one of latent frame 2's four frames
    coverage = pool_part_masks(masks)
    assert coverage.shape == (3, 2, 2, 3)
    assert coverage[0, 0, 0, 0] == 1 and coverage[0, 0].sum() == 1
    assert coverage[1, 1, 1, 2] == 1
    assert coverage[2, 1, 1, 2] == 0.25
    tokens = token_part_masks(coverage, threshold=0.5)
    assert tokens.shape == (3, 2, 6)
    assert tokens[2, 1, 5]  # below the threshold but the part's best token
    with pytest.raises(ValueError, match="4k\\+1"):
        pool_part_masks(masks[:8])


def permuted_tokens(frames=4, bones=5, side=6, seed=0):
    """Parts as random token sets; frame f's part perm[f, j] is first-frame part j (moved elsewhere)."""
    rng = np.random.default_rng(seed)
    n = side * side
    tokens = np.zeros((frames, bones, n), bool)
    perm = np.stack([np.arange(bones)] + [rng.permutation(bones) for _ in range(frames - 1)])
    for f in range(frames):
        owner = rng.permutation(np.arange(n) % bones)  # every token in exactly one part
        for t in range(bones):
            tokens[f, t] = owner == t
    return torch.from_numpy(tokens), torch.from_numpy(perm)


def test_attention_matching_recovers_a_known_permutation():
    frames, bones, heads, dim = 4, 5, 2, 16
    tokens, perm = permuted_tokens(frames, bones)
    n = tokens.shape[-1]
    g = torch.Generator().manual_seed(0)
    part_features = torch.randn(bones, heads, dim, generator=g) * 3  # one direction per first-frame part
    query_first = torch.zeros(1, heads, n, dim)
    key_later = torch.zeros(1, heads, frames - 1, n, dim)
    for j in range(bones):
        query_first[0, :, tokens[0, j]] = part_features[j][:, None]
        for f in range(1, frames):
            key_later[0, :, f - 1, tokens[f, perm[f, j]]] = part_features[j][:, None]  # built to match
    key_later += 0.1 * torch.randn(key_later.shape, generator=g)
    context = PartContext(tokens, (frames, 6, 6), mode="attention")
    affinity = part_affinity(query_first, key_later, tokens[None, 0], tokens[None, 1:], max_elements=n * n)
    assert affinity.shape == (1, frames - 1, bones, bones)  # one sample, one frame a chunk
    context.add_affinity(affinity)
    assert torch.equal(context.attention_matching(), perm[None])
    assert torch.equal(context.matching(), perm[None])
    identity = PartContext(tokens, (frames, 6, 6), mode="identity", affinity=affinity)
    assert torch.equal(identity.matching(), torch.arange(bones).expand(1, frames, bones))
    assert torch.equal(identity.attention_matching(), perm[None])  # still measured, for the preview


def test_cross_attention_mask_pairs_matched_parts():
    tokens, perm = permuted_tokens(3, 3, side=4)
    context = PartContext(tokens, (3, 4, 4))
    allowed, valid = cross_attention_mask(context, perm[None])
    n = 16
    assert allowed.shape == (1, 2 * n, n) and valid.all()
    for f in (1, 2):
        for j in range(3):
            for q in torch.nonzero(tokens[f, perm[f, j]]).flatten():
                row = allowed[0, (f - 1) * n + q]
                assert torch.equal(row, tokens[0, j])


def test_ptcm_zero_output_is_identity_and_trained_output_stays_in_parts():
    torch.manual_seed(0)
    ptcm = PartTemporalCoherence(dim=24, heads=2)
    tokens, _ = permuted_tokens(3, 3, side=4)
    tokens[1:, :, :4] = False  # four tokens of each later frame are background
    context = PartContext(tokens, (3, 4, 4))
    x = torch.randn(2, 48, 24)
    assert not ptcm(x, context).any()
    torch.nn.init.normal_(ptcm.to_out.weight)
    torch.nn.init.zeros_(ptcm.to_out.bias)
    out = ptcm(x, context)
    assert not out[:, :16].any()  # the first frame is the anchor
    assert not out[:, 16:20].any() and not out[:, 32:36].any()  # background tokens get nothing
    assert out[:, 20:32].abs().sum() > 0


def two_sample_context(mode="identity"):
    """Two samples of one token grid with different parts: sample 1 has 2 bones (padded to 3), moved around."""
    tokens_a, _ = permuted_tokens(3, 3, side=4, seed=1)
    tokens_b, _ = permuted_tokens(3, 2, side=4, seed=2)
    tokens_a[1:, :, :3] = False
    one = [PartContext(tokens_a, (3, 4, 4), mode), PartContext(tokens_b, (3, 4, 4), mode)]
    return PartContext.stack(one), one


@pytest.mark.parametrize("mode", ["identity", "attention"])
def test_each_sample_gets_its_own_parts_as_if_run_alone(mode):
    torch.manual_seed(0)
    ptcm = PartTemporalCoherence(dim=24, heads=2)
    torch.nn.init.normal_(ptcm.to_out.weight)
    both, one = two_sample_context(mode)
    assert both.samples == 2 and both.bones == 3 and not both.tokens[1, :, 2].any()  # the padded bone is empty
    x = torch.randn(2, 48, 24)
    together = ptcm(x, both)
    alone = [ptcm(x[i : i + 1], one[i]) for i in range(2)]
    assert torch.allclose(together[0:1], alone[0], atol=1e-6) and torch.allclose(together[1:2], alone[1], atol=1e-6)
    assert not torch.allclose(together[0], together[1], atol=1e-3)  # different masks, different outputs
    shared = ptcm(x, PartContext(one[0].tokens, (3, 4, 4), mode))  # one set of parts for the whole batch
    if mode == "identity":  # the shared context gives sample 1 sample 0's parts
        assert torch.allclose(shared[1], ptcm(x[1:2], one[0])[0], atol=1e-6)
        assert not torch.allclose(shared[1], together[1], atol=1e-3)
    assert torch.allclose(both.affinity[1:2, :, :2, :2], one[1].affinity, atol=1e-6)  # matching measured per sample
    assert both.matching().shape == (2, 3, 3)


def test_stack_refuses_contexts_of_different_grids():
    tokens, _ = permuted_tokens(3, 2, side=4)
    with pytest.raises(ValueError, match="token grids"):
        PartContext.stack([PartContext(tokens, (3, 4, 4)), PartContext(tokens[..., :8], (3, 2, 4))])


def overlapping_parts(samples, frames=4, bones=4, side=6, seed=0):
    """Random parts that overlap (a token in up to 2 parts), with background tokens and a part absent from frame 0."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.rand(samples, frames, bones, side * side, generator=g) < 0.3
    tokens[:, 1:, :, :5] = False  # background in every later frame
    tokens[0, 0, bones - 1] = False  # sample 0's last part is not in the first frame
    return tokens


@pytest.mark.parametrize("samples", [1, 2])
@pytest.mark.parametrize("mode", ["identity", "attention"])
def test_fused_processor_equals_the_masked_reference(samples, mode):
    torch.manual_seed(0)
    ptcm = PartTemporalCoherence(dim=32, heads=2)
    torch.nn.init.normal_(ptcm.to_out.weight)
    torch.nn.init.normal_(ptcm.to_out.bias)  # tokens in no part get the output bias, as in the reference
    reference = PartTemporalCoherence(dim=32, heads=2, processor=ReferencePTCMProcessor())
    reference.load_state_dict(ptcm.state_dict())
    tokens = overlapping_parts(samples)
    x = torch.randn(2, 4 * 36, 32)
    fused_context, reference_context = PartContext(tokens, (4, 6, 6), mode), PartContext(tokens, (4, 6, 6), mode)
    for measure in (True, True, False):  # two blocks measuring (the matching moves), then one using it
        fused_context.measure = reference_context.measure = measure
        assert torch.allclose(ptcm(x, fused_context), reference(x, reference_context), atol=1e-5)
    assert torch.allclose(fused_context.affinity, reference_context.affinity, atol=1e-5)
    assert torch.equal(fused_context.matching(), reference_context.matching())
    if mode == "attention":
        assert not torch.equal(fused_context.matching(), PartContext(tokens, (4, 6, 6)).matching())


def test_affinity_in_frame_chunks_equals_the_whole_map():
    g = torch.Generator().manual_seed(3)
    tokens = overlapping_parts(1, frames=5, bones=3)
    query_first, key_later = torch.randn(2, 2, 36, 8, generator=g), torch.randn(2, 2, 4, 36, 8, generator=g)
    whole = reference_affinity(query_first, key_later, tokens[:, 0], tokens[:, 1:])
    chunked = part_affinity(query_first, key_later, tokens[:, 0], tokens[:, 1:], max_elements=2 * 2 * 36 * 8)
    assert chunked.shape == (1, 4, 3, 3) and torch.allclose(chunked, whole, atol=1e-6)


def test_fused_processor_never_passes_a_mask(monkeypatch):
    import poseanything_studio.model.part_attention as part_attention

    calls = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(kwargs.get("attn_mask", args[3] if len(args) > 3 else None))
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(part_attention.F, "scaled_dot_product_attention", spy)
    ptcm = PartTemporalCoherence(dim=32, heads=2)
    ptcm(torch.randn(2, 4 * 36, 32), PartContext(overlapping_parts(1), (4, 6, 6)))
    assert calls and all(mask is None for mask in calls)  # no mask: the fused kernels are eligible


def test_fused_processor_trains_like_the_reference():
    torch.manual_seed(1)
    fused = PartTemporalCoherence(dim=32, heads=2)
    torch.nn.init.normal_(fused.to_out.weight)
    reference = PartTemporalCoherence(dim=32, heads=2, processor=ReferencePTCMProcessor())
    reference.load_state_dict(fused.state_dict())
    tokens = overlapping_parts(2, seed=4)
    x = torch.randn(2, 4 * 36, 32, requires_grad=True)
    y = x.detach().clone().requires_grad_(True)
    target = torch.randn(2, 4 * 36, 32)
    for module, inp in ((fused, x), (reference, y)):
        context = PartContext(tokens, (4, 6, 6))
        context.measure = False  # training runs without measuring the matching
        ((module(inp, context) - target) ** 2).mean().backward()
    for (name, a), (_, b) in zip(fused.named_parameters(), reference.named_parameters(), strict=True):
        assert torch.allclose(a.grad, b.grad, atol=1e-5), name
    assert torch.allclose(x.grad, y.grad, atol=1e-5) and fused.to_q.weight.grad.abs().sum() > 0
