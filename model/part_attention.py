"""PTCM, the Part-aware Temporal Coherence Module (PoseAnything, arXiv:2512.13465), after each block's cross-attention.

Three steps, each a short function here:

1. `pool_part_masks` / `token_part_masks`: per-bone part masks (F, B, H, W) at pixel size become
   token masks (F', B, h*w) on the transformer's grid (VAE 4x16x16, patch 1x2x2: h = H/32, w = W/32).
   `PartContext` holds them per sample, (S, F', B, h*w): one set shared by a batch, or one per sample.
2. Matching: during the first K steps each block measures cross-frame attention from first-frame part
   tokens to every later frame (`part_affinity`, one frame chunk at a time, never the whole
   token-by-token map) and first-frame part j is matched to the later part with the most attention.
   With the rig's identity matching (studio renders) the attention matching is still measured, for
   the preview.
3. `PTCMAttnProcessor`: tokens of frame f in part match[f, j] attend to first-frame tokens of part j;
   the result goes through a zero-initialised output projection and is added as a residual, so an
   untrained PTCM is exactly the identity. The masked attention runs without a mask: queries are
   grouped by the key set they see (`part_groups`) and each group attends to its gathered keys, so
   fused kernels run and background tokens cost nothing (tests/ptcm_reference.py keeps the masked
   original the tests compare against).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.normalization import FP32LayerNorm
from torch import nn

from poseanything_studio.core.modes import Matching, values

MATCHING_MODES = values(Matching)


# -- 1. part masks on the token grid ------------------------------------------------------------------
def pool_part_masks(masks: np.ndarray | torch.Tensor, temporal: int = 4, spatial: int = 32) -> torch.Tensor:
    """Part coverage per latent token: (F, B, H, W) bool -> (F', B, H/spatial, W/spatial) float in [0, 1].

    Latent frame 0 is pixel frame 0 alone; latent frame k covers pixel frames 4k-3 .. 4k (the Wan VAE is causal).
    """
    masks = torch.as_tensor(np.asarray(masks) if not torch.is_tensor(masks) else masks)
    if masks.ndim != 4:
        raise ValueError(f"part masks must be (frames, bones, height, width), got shape {tuple(masks.shape)}")
    frames, bones, height, width = masks.shape
    if (frames - 1) % temporal or height % spatial or width % spatial:
        raise ValueError(
            f"part masks of {frames} frames at {width}x{height}: need 4k+1 frames and a size "
            f"that is a multiple of {spatial}"
        )
    masks = masks.float()
    first = masks[:1]  # (1, B, H, W)
    rest = masks[1:].reshape(-1, temporal, bones, height, width).mean(1)  # (F'-1, B, H, W)
    pooled = torch.cat([first, rest]) if len(rest) else first  # (F', B, H, W)
    return F.avg_pool2d(pooled, spatial)  # (F', B, h, w)


def token_part_masks(coverage: torch.Tensor, threshold: float = 0.25) -> torch.Tensor:
    """Tokens in each part: coverage (F', B, h, w) -> (F', B, h*w) bool; a part present keeps its best token."""
    flat = coverage.flatten(2)  # (F', B, h*w)
    tokens = flat >= threshold
    best = flat.argmax(-1, keepdim=True)  # (F', B, 1)
    present = flat.amax(-1, keepdim=True) > 0
    return tokens | (torch.zeros_like(tokens).scatter_(-1, best, True) & present)


# -- 2. matching ----------------------------------------------------------------------------------------
def identity_matching(frames: int, bones: int, samples: int = 1) -> torch.Tensor:
    """Part j of every frame is first-frame part j: (S, F', B) long."""
    return torch.arange(bones).expand(samples, frames, bones).clone()


def part_affinity(
    query_first: torch.Tensor,
    key_later: torch.Tensor,
    parts_first: torch.Tensor,
    parts_later: torch.Tensor,
    max_elements: int = 2**27,
) -> torch.Tensor:
    """Mean attention from first-frame part j to later-frame part t: (S, F'-1, B, B), a chunk of frames at a time.

    query_first (N, heads, n, d) are the first frame's n tokens; key_later (N, heads, F'-1, n, d); softmax
    runs over each later frame's n tokens, as cross-frame attention from frame 0 to frame f. parts_first
    (S, B, n) and parts_later (S, F'-1, B, n) are token masks of S = 1 sample (shared by the batch: the
    attention is averaged over the batch) or S = N samples (each sample its own).

    The attention map is never formed: attention @ parts is one fused attention call per chunk of frames
    with the later frame's part masks as the values (bones padded to the head width), so flash or
    memory-efficient kernels run; the result is then averaged over heads and pooled over first-frame parts.
    """
    batch, heads, n, dim = query_first.shape
    samples, later, bones = parts_later.shape[0], key_later.shape[2], parts_first.shape[1]
    weights_first = parts_first.float() / parts_first.float().sum(-1, keepdim=True).clamp(min=1)  # (S, B, n)
    width = -(-bones // dim) * dim  # bones padded to whole heads
    chunk = max(1, max_elements // max(1, batch * heads * n * width))
    out = []
    for start in range(0, later, chunk):
        c = min(chunk, later - start)
        query = query_first[:, None].expand(batch, c, heads, n, dim).reshape(batch * c, heads, n, dim)
        keys = key_later[:, :, start : start + c].transpose(1, 2).reshape(batch * c, heads, n, dim)
        parts = parts_later[:, start : start + c].transpose(-1, -2).to(query.dtype)  # (S, c, n, B)
        parts = F.pad(parts, (0, width - bones)).expand(batch, c, n, width)  # S = 1 broadcasts over the batch
        seen = []
        for lo in range(0, width, dim):  # values as wide as the keys, for the fused kernels
            values = parts[..., lo : lo + dim].reshape(batch * c, 1, n, dim).expand(-1, heads, -1, -1).contiguous()
            seen.append(F.scaled_dot_product_attention(query, keys, values))  # (N*c, heads, n_query, dim)
        seen = torch.cat(seen, -1)[..., :bones].float().mean(1).unflatten(0, (batch, c))  # (N, c, n_query, B)
        if samples == 1:
            seen = seen.mean(0, keepdim=True)  # one context for the batch (CFG's two branches)
        out.append(torch.einsum("sjq,sfqt->sfjt", weights_first, seen))
    return torch.cat(out, 1) if out else query_first.new_zeros(samples, 0, bones, bones)


@dataclass
class PartContext:
    """What PTCM reads during one forward: part tokens per sample and latent frame, the matching, its statistics.

    `tokens` is (S, F', B, h*w): S = 1 is one set of parts shared by every sample of the batch (a render's
    two CFG branches); S = N gives each of the N samples its own parts (training batches of different clips;
    pad bone counts with empty parts, see `stack`). `mode` picks the matching the part cross-attention uses
    ("identity": the rig's; "attention": measured). While `measure` is set (the first K steps) every block
    adds its cross-frame attention to `affinity`, per sample.
    """

    tokens: torch.Tensor  # (S, F', B, h*w) bool; (F', B, h*w) is taken as S = 1
    grid: tuple[int, int, int]  # (F', h, w) token grid
    mode: str = "identity"
    measure: bool = True
    affinity: torch.Tensor | None = field(default=None, repr=False)  # (S, F'-1, B, B) summed over blocks, steps
    _groups: tuple[object, list[PartGroups]] | None = field(default=None, init=False, repr=False, compare=False)
    _version: int = field(default=0, init=False, repr=False, compare=False)  # bumped by every add_affinity

    def __post_init__(self) -> None:
        if self.mode not in MATCHING_MODES:
            raise ValueError(f"unknown matching mode {self.mode!r} (use identity or attention)")
        if self.tokens.ndim == 3:
            self.tokens = self.tokens[None]
        if self.affinity is not None and self.affinity.ndim == 3:
            self.affinity = self.affinity[None]
        frames, h, w = self.grid
        if self.tokens.ndim != 4 or self.tokens.shape[1] != frames or self.tokens.shape[3] != h * w:
            raise ValueError(
                f"part tokens of shape {tuple(self.tokens.shape)} do not fit the token grid "
                f"{frames}x{h}x{w} (expected (samples, {frames}, bones, {h * w}))"
            )
        self.tokens = self.tokens.bool()

    @classmethod
    def from_masks(
        cls,
        masks: np.ndarray | torch.Tensor,
        mode: str = "identity",
        threshold: float = 0.25,
        device: torch.device | str | None = None,
    ) -> PartContext:
        """From pixel part masks (F, B, H, W) or per sample (S, F, B, H, W) bool, 4x32x32 pixels per token."""
        if masks.ndim == 5:
            return cls.from_coverage(torch.stack([pool_part_masks(m) for m in masks]), mode, threshold, device)
        return cls.from_coverage(pool_part_masks(masks), mode, threshold, device)

    @classmethod
    def from_coverage(
        cls,
        coverage: torch.Tensor,
        mode: str = "identity",
        threshold: float = 0.25,
        device: torch.device | str | None = None,
    ) -> PartContext:
        """From pooled part coverage (F', B, h, w) or per sample (S, F', B, h, w) float, as `pool_part_masks` gives."""
        coverage = torch.as_tensor(coverage)
        if coverage.ndim == 4:
            coverage = coverage[None]
        frames, _, h, w = coverage.shape[1:]
        tokens = token_part_masks(coverage.float().flatten(0, 1), threshold).unflatten(0, coverage.shape[:2])
        return cls(tokens.to(device), (frames, h, w), mode)

    @classmethod
    def stack(cls, contexts: list[PartContext]) -> PartContext:
        """One context of S = sum of samples: each its own parts, bone counts padded with empty parts."""
        if not contexts:
            raise ValueError("stack needs at least one PartContext")
        grids = {tuple(c.grid) for c in contexts}
        if len(grids) != 1:
            raise ValueError(f"part contexts of different token grids {sorted(grids)} cannot share a batch")
        bones = max(c.bones for c in contexts)
        tokens = [F.pad(c.tokens, (0, 0, 0, bones - c.bones)) for c in contexts]  # (S_i, F', bones, n)
        first = contexts[0]
        return cls(torch.cat(tokens), first.grid, first.mode, first.measure)

    @property
    def samples(self) -> int:
        return self.tokens.shape[0]

    @property
    def bones(self) -> int:
        return self.tokens.shape[2]

    def add_affinity(self, affinity: torch.Tensor) -> None:
        """Accumulate one block's (S, F'-1, B, B) part affinity."""
        affinity = affinity.detach().float()
        self.affinity = affinity if self.affinity is None else self.affinity + affinity.to(self.affinity)
        self._version += 1

    def part_groups(self) -> list[PartGroups]:
        """Each sample's query groups under the current matching; reused while the matching stays the same."""
        key = "identity" if self.mode == "identity" else self._version
        if self._groups is None or self._groups[0] != key:
            matching = self.matching()
            groups = [part_groups(t[0], t[1:], m) for t, m in zip(self.tokens, matching, strict=True)]
            self._groups = (key, groups)
        return self._groups[1]

    def attention_matching(self) -> torch.Tensor:
        """For each sample, latent frame and first-frame part, the later part it attends to most: (S, F', B) long."""
        matching = identity_matching(self.grid[0], self.bones, self.samples).to(self.tokens.device)
        if self.affinity is None:
            return matching
        present = self.tokens[:, 1:].any(-1)  # (S, F'-1, B): part t exists in frame f
        scores = self.affinity.masked_fill(~present[:, :, None, :], float("-inf"))  # (S, F'-1, B_first, B_later)
        best = scores.argmax(-1)  # (S, F'-1, B)
        usable = present.any(-1, keepdim=True) & self.tokens[:, :1].any(-1)  # first part and a later part exist
        matching[:, 1:] = torch.where(usable, best, matching[:, 1:])
        return matching

    def matching(self) -> torch.Tensor:
        """The matching the part cross-attention uses now: (S, F', B) long."""
        if self.mode == "identity":
            return identity_matching(self.grid[0], self.bones, self.samples).to(self.tokens.device)
        return self.attention_matching()


@dataclass(frozen=True)
class PartGroups:
    """One sample's later-frame queries grouped by the first-frame keys they may see.

    A query token in later frame f sees the first-frame tokens of every part j whose match match[f, j]
    covers it (parts overlap at their borders, so a token can see the union of several parts). Queries
    seeing the same key set form a group; `queries` lists the later-frame token indices group by group,
    `bounds[g]` is group g's slice of it and `keys[g]` its first-frame key indices. Queries in no part
    (the background) are in no group.
    """

    queries: torch.Tensor  # (L_q,) long, indices into the (F'-1)*n later-frame tokens
    bounds: tuple[tuple[int, int], ...]
    keys: tuple[torch.Tensor, ...]


def part_groups(first: torch.Tensor, later: torch.Tensor, matching: torch.Tensor) -> PartGroups:
    """Group one sample's later tokens by visible key set: first (B, n), later (F'-1, B, n) bool, matching (F', B)."""
    matched = torch.gather(later, 1, matching[1:, :, None].expand_as(later))  # frame f's part match[f, j], by j
    sees = matched.permute(0, 2, 1).flatten(0, 1)  # ((F'-1)*n, B): query q sees first-frame part j
    key_sets, group_of = torch.unique(sees.to(torch.uint8), dim=0, return_inverse=True)  # (G, B), ((F'-1)*n,)
    key_masks = (key_sets.float() @ first.float()) > 0  # (G, n): the first-frame tokens each group sees
    usable = key_masks.any(-1)  # a group in no part (or whose parts are absent from frame 0) sees nothing
    group_of = torch.where(usable[group_of], group_of, -1)
    order = torch.argsort(group_of, stable=True)
    counts = torch.bincount(group_of + 1, minlength=len(key_sets) + 1).tolist()
    queries = order[counts[0] :]
    bounds, keys, start = [], [], 0
    for g, count in enumerate(counts[1:]):
        if count:
            bounds.append((start, start + count))
            keys.append(key_masks[g].nonzero().flatten())
            start += count
    return PartGroups(queries, tuple(bounds), tuple(keys))


# -- 3. part-level cross-attention ------------------------------------------------------------------------
def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(N, L, D) -> (N, heads, L, D/heads)."""
    return x.unflatten(2, (heads, -1)).transpose(1, 2)


class PTCMAttnProcessor:
    """Part-level cross-attention: Q from later-frame part tokens, K/V from matched first-frame parts.

    Exact masked attention computed without a mask: each group of queries seeing one key set (see
    `part_groups`) runs one unmasked attention call against its gathered keys, so fused kernels (flash,
    memory-efficient, cuDNN) run; background tokens skip q, attention and the output projection.
    """

    is_ptcm_processor = True

    def __call__(self, attn: PartTemporalCoherence, hidden_states: torch.Tensor, context: PartContext) -> torch.Tensor:
        frames, h, w = context.grid
        n, heads = h * w, attn.heads
        tokens = hidden_states.shape[1]
        normed = None
        if context.measure and frames > 1:  # every later token's key is needed for the matching
            normed = _layer_norm(attn, hidden_states)
            first = normed[:, :n]
            query_first = _heads(attn.norm_q(attn.to_q(first)), heads)  # (N, heads, n, d)
            key_later = _heads(attn.norm_k(attn.to_k(normed[:, n:])), heads).unflatten(2, (frames - 1, n))
            context.add_affinity(part_affinity(query_first, key_later, context.tokens[:, 0], context.tokens[:, 1:]))
        else:
            first = _layer_norm(attn, hidden_states[:, :n])
        key = _heads(attn.norm_k(attn.to_k(first)), heads)  # (N, heads, n, d)
        value = _heads(attn.to_v(first), heads)

        residual = torch.empty_like(hidden_states)  # (N, F'*n, D): 0 on frame 0, to_out's output on later frames
        residual[:, :n] = 0
        for sample, groups in enumerate(context.part_groups()):
            rows = slice(None) if context.samples == 1 else slice(sample, sample + 1)
            index = groups.queries + n  # token indices in the whole sequence
            x = (normed[rows] if normed is not None else hidden_states[rows]).index_select(1, index)
            if normed is None:
                x = _layer_norm(attn, x)
            query = _heads(attn.norm_q(attn.to_q(x)), heads)  # (N', heads, L_q, d)
            k, v = key[rows], value[rows]
            out = torch.cat(
                [
                    F.scaled_dot_product_attention(query[:, :, lo:hi], k[:, :, keys], v[:, :, keys])
                    for (lo, hi), keys in zip(groups.bounds, groups.keys, strict=True)
                ]
                or [query[:, :, :0]],
                dim=2,
            )  # (N', heads, L_q, d)
            out = attn.to_out(out.transpose(1, 2).flatten(2)).to(residual.dtype)  # (N', L_q, D)
            later = residual[rows, n:]
            if len(groups.queries) < tokens - n:  # tokens in no part get to_out(0), the output bias
                later.copy_(attn.to_out.bias.to(residual.dtype).expand_as(later))
            later.index_copy_(1, groups.queries, out)
        return residual


def _layer_norm(attn: PartTemporalCoherence, x: torch.Tensor) -> torch.Tensor:
    """PTCM's input norm in one kernel: statistics in fp32 (as FP32LayerNorm), the input's dtype out."""
    return F.layer_norm(x, attn.norm.normalized_shape, eps=attn.norm.eps)


_DEFAULT_PROCESSOR = PTCMAttnProcessor()


class _AfterCrossAttention(nn.Module):
    """Hooks on a WanTransformerBlock: add `self(x + ca, self.context)` to its cross-attention output ca.

    Both part modules hang on blocks this way (ours, PTCM, and the release's PTC), without forking the block's
    forward: `attach` remembers the residual stream at the block's cross-attention norm and adds the module's
    residual to the cross-attention's output, which is what the block's residual then becomes.
    """

    context: object = None
    _stream: torch.Tensor | None = None

    def attach(self, block: nn.Module) -> None:
        """Register on `block`: remember x at norm2, add PTCM(x + ca) to the cross-attention output ca."""
        block.norm2.register_forward_pre_hook(self._remember_stream)
        block.attn2.register_forward_hook(self._after_cross_attention)

    # With PTCM off (no context) the hooks are no-ops that torch.compile traces through, so a compiled block
    # (even fullgraph=True) has no graph break; with PTCM on, its data-dependent part grouping runs eagerly.
    def _remember_stream(self, module: nn.Module, args: tuple) -> None:
        if self.context is not None:
            self._keep_stream(args[0])

    @torch.compiler.disable
    def _keep_stream(self, stream: torch.Tensor) -> None:
        self._stream = stream  # (N, S, D): the block's hidden_states after self-attention

    def _after_cross_attention(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        if self.context is None:
            return None  # PTCM off: the block is untouched
        return self._add_part_attention(output)

    @torch.compiler.disable
    def _add_part_attention(self, output: torch.Tensor) -> torch.Tensor:
        stream, self._stream = self._stream, None
        if stream is None:
            return output
        hidden_states = stream.type_as(output) + output  # what the block's residual becomes after cross-attention
        return output + self(hidden_states, self.context)


class PartTemporalCoherence(_AfterCrossAttention):
    """PTCM of one block: norm, q/k/v with RMS q/k norms (as WanAttention), zero-initialised output."""

    def __init__(self, dim: int, heads: int, eps: float = 1e-6, processor: PTCMAttnProcessor | None = None):
        super().__init__()
        self.heads = heads
        self.norm = FP32LayerNorm(dim, eps, elementwise_affine=False)
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.norm_q = nn.RMSNorm(dim, eps=eps, elementwise_affine=True)
        self.norm_k = nn.RMSNorm(dim, eps=eps, elementwise_affine=True)
        self.to_out = nn.Linear(dim, dim)
        nn.init.zeros_(self.to_out.weight)
        nn.init.zeros_(self.to_out.bias)
        self.processor = processor or PTCMAttnProcessor()
        self.context: PartContext | None = None  # set by the transformer for one forward
        self._stream: torch.Tensor | None = None  # the block's residual stream before cross-attention

    # diffusers' attention-processor registry (`model.attn_processors`, `model.set_attn_processor`) lists
    # PTCM as "blocks.<i>.ptcm.processor" through these two methods.
    def set_processor(self, processor) -> None:
        """Swap the part attention's math (e.g. a quantised or cached PTCM processor)."""
        self.processor = processor

    def get_processor(self, return_deprecated_lora: bool = False):
        """The processor in use, as diffusers' attention modules report theirs."""
        return self.processor

    def forward(self, hidden_states: torch.Tensor, context: PartContext) -> torch.Tensor:
        """The residual to add: (N, F'*h*w, D) -> (N, F'*h*w, D).

        A processor made for WanAttention (set on every layer by `set_attn_processor(one_processor)`)
        cannot compute PTCM: the default PTCM processor runs instead, with one warning.
        """
        processor = self.processor
        if not getattr(processor, "is_ptcm_processor", False):
            warnings.warn(
                f"PTCM was given the attention processor {type(processor).__name__}, which is not a "
                f"PTCM processor (no is_ptcm_processor); PTCM runs its own PTCMAttnProcessor",
                stacklevel=2,
            )
            processor = _DEFAULT_PROCESSOR
        return processor(self, hidden_states, context)


# -- 4. the release's PTC (the official PoseAnything weights) ------------------------------------------------
@dataclass(frozen=True)
class ReleaseParts:
    """The release's part masks on the token grid (h = H/32, w = W/32; F latent frames), for one denoising step.

    first_masks[j]: first-frame part j. union_masks[f - 1, j]: the tokens of latent frame f matched to part j (the
    probe's union masks). One set serves the whole batch, as in the official pipeline.
    """

    first_masks: torch.Tensor  # [P, h, w] bool
    union_masks: torch.Tensor  # [F - 1, P, h, w] bool

    def __post_init__(self) -> None:
        first, union = self.first_masks, self.union_masks
        if not (torch.is_tensor(first) and first.ndim == 3):
            raise ValueError(
                f"ReleaseParts.first_masks must be a [parts, h, w] bool tensor, got "
                f"{tuple(first.shape) if torch.is_tensor(first) else type(first).__name__}"
            )
        if not (torch.is_tensor(union) and union.ndim == 4):
            raise ValueError(
                f"ReleaseParts.union_masks must be a [frames - 1, parts, h, w] bool tensor, got "
                f"{tuple(union.shape) if torch.is_tensor(union) else type(union).__name__}"
            )
        if first.dtype != torch.bool or union.dtype != torch.bool:
            raise ValueError(f"ReleaseParts masks must be bool, got {first.dtype} and {union.dtype}")
        if first.shape[0] < 1 or union.shape[1] != first.shape[0] or union.shape[2:] != first.shape[1:]:
            raise ValueError(
                f"ReleaseParts: union_masks {tuple(union.shape)} must be [frames - 1, "
                f"{first.shape[0]}, {first.shape[1]}, {first.shape[2]}] for first_masks "
                f"{tuple(first.shape)} (at least one part)"
            )

    @property
    def grid(self) -> tuple[int, int, int]:
        """(F, h, w): the token grid these masks are for."""
        return self.union_masks.shape[0] + 1, self.first_masks.shape[1], self.first_masks.shape[2]

    @property
    def parts(self) -> int:
        return self.first_masks.shape[0]


class FP32RMSNorm(nn.RMSNorm):
    """RMS norm as the release computes it: statistics in fp32, cast back, then the weight (`wan_video_dit.RMSNorm`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), self.normalized_shape, None, self.eps).to(x.dtype) * self.weight


class ReleasePTCAttnProcessor:
    """The release's part cross-attention, as `CrossAttention_instance` computes it after `norm4`.

    For each first-frame part j: q from the later-frame tokens multiplied by their union mask for j, k and v
    from the frame-0 tokens multiplied by part j's first-frame mask (masked tokens are zeros, so they still
    enter as q/k/v of the bias alone), plain attention (no mask, no RoPE); the parts' outputs are summed and go
    through one output projection. Each projection runs once for all parts: a token its mask keeps gets the
    projection of itself, a masked one the projection of zero, which is the bias (what the release computes for
    it, in any dtype), so no part pays for its own q/k/v matmuls.
    """

    is_release_ptc_processor = True

    def __call__(
        self, attn: ReleasePartCrossAttention, hidden_states: torch.Tensor, parts: ReleaseParts
    ) -> torch.Tensor:
        _, h, w = parts.grid
        n, heads = h * w, attn.heads
        normed = attn.norm(hidden_states)  # xx = norm4(x)
        first, later = normed[:, :n], normed[:, n:]
        query_all = attn.to_q(later)  # (N, (F-1)*n, D)
        key_all, value_all = attn.to_k(first), attn.to_v(first)  # (N, n, D)
        first_masks = parts.first_masks.to(hidden_states.device).reshape(parts.parts, n, 1)
        union_masks = parts.union_masks.to(hidden_states.device).transpose(0, 1).reshape(parts.parts, -1, 1)
        total = None
        for j in range(parts.parts):
            query = attn.norm_q(torch.where(union_masks[j], query_all, attn.to_q.bias.to(query_all.dtype)))
            key = attn.norm_k(torch.where(first_masks[j], key_all, attn.to_k.bias.to(key_all.dtype)))
            value = torch.where(first_masks[j], value_all, attn.to_v.bias.to(value_all.dtype))
            out = F.scaled_dot_product_attention(_heads(query, heads), _heads(key, heads), _heads(value, heads))
            out = out.transpose(1, 2).flatten(2)  # (N, (F-1)*n, D)
            total = out if total is None else total + out
        return attn.to_out(total)  # (N, (F-1)*n, D): added to frames 1..F-1


class ReleasePartCrossAttention(_AfterCrossAttention):
    """The release's PTC of one block (`blocks.N.cross_attn_instance` + `blocks.N.norm4`), after cross-attention.

    norm: LayerNorm with weight and bias (the release's norm4); to_q/to_k/to_v/to_out and fp32 RMS q/k norms
    across heads. Its residual is zero on frame 0 and the part attention on frames 1..F-1.
    """

    def __init__(self, dim: int, heads: int, eps: float = 1e-6, processor: ReleasePTCAttnProcessor | None = None):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(dim, eps=eps, elementwise_affine=True)
        self.to_q = nn.Linear(dim, dim)
        self.to_k = nn.Linear(dim, dim)
        self.to_v = nn.Linear(dim, dim)
        self.to_out = nn.Linear(dim, dim)
        self.norm_q = FP32RMSNorm(dim, eps=eps, elementwise_affine=True)
        self.norm_k = FP32RMSNorm(dim, eps=eps, elementwise_affine=True)
        self.processor = processor or ReleasePTCAttnProcessor()
        self.context: ReleaseParts | None = None  # set by the transformer for one forward
        self._stream: torch.Tensor | None = None

    def set_processor(self, processor) -> None:
        """Swap the part attention's math (diffusers' `set_attn_processor` reaches this module too)."""
        self.processor = processor

    def get_processor(self, return_deprecated_lora: bool = False):
        """The processor in use, as diffusers' attention modules report theirs."""
        return self.processor

    def forward(self, hidden_states: torch.Tensor, parts: ReleaseParts) -> torch.Tensor:
        """The residual to add, (N, F*h*w, D) -> (N, F*h*w, D): zero on frame 0, PTC on later frames."""
        processor = self.processor
        if not getattr(processor, "is_release_ptc_processor", False):
            warnings.warn(
                f"the release PTC was given the attention processor {type(processor).__name__}; it runs "
                f"its own ReleasePTCAttnProcessor",
                stacklevel=2,
            )
            processor = _DEFAULT_RELEASE_PROCESSOR
        n = parts.grid[1] * parts.grid[2]
        later = processor(self, hidden_states, parts).to(hidden_states.dtype)
        return torch.cat([hidden_states.new_zeros(hidden_states.shape[0], n, hidden_states.shape[2]), later], 1)


_DEFAULT_RELEASE_PROCESSOR = ReleasePTCAttnProcessor()
