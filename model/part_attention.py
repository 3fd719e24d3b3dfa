"""PTCM, the Part-aware Temporal Coherence Module (PAPER.md, key design 2), after every block's cross-attention.

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
   untrained PTCM is exactly the identity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.models.normalization import FP32LayerNorm
from torch import nn

MATCHING_MODES = ("identity", "attention")


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
        raise ValueError(f"part masks of {frames} frames at {width}x{height}: need 4k+1 frames and a size "
                         f"that is a multiple of {spatial}")
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


def part_affinity(query_first: torch.Tensor, key_later: torch.Tensor, parts_first: torch.Tensor,
                  parts_later: torch.Tensor, max_elements: int = 2**26) -> torch.Tensor:
    """Mean attention from first-frame part j to later-frame part t: (S, F'-1, B, B), frame chunk by chunk.

    query_first (N, heads, n, d) are the first frame's n tokens; key_later (N, heads, F'-1, n, d); softmax
    runs over each later frame's n tokens, as cross-frame attention from frame 0 to frame f. parts_first
    (S, B, n) and parts_later (S, F'-1, B, n) are token masks of S = 1 sample (shared by the batch: the
    attention is averaged over the batch) or S = N samples (each sample its own). Only a chunk of frames'
    (n x n) maps exists at once.
    """
    batch, heads, n, dim = query_first.shape
    samples, later = parts_later.shape[0], key_later.shape[2]
    weights_first = parts_first.float() / parts_first.float().sum(-1, keepdim=True).clamp(min=1)  # (S, B, n)
    chunk = max(1, max_elements // max(1, batch * heads * n * n))
    out = []
    for start in range(0, later, chunk):
        keys = key_later[:, :, start:start + chunk]  # (N, heads, c, n, d)
        logits = torch.einsum("nhqd,nhfkd->nhfqk", query_first.float(), keys.float()) / dim**0.5
        attention = logits.softmax(-1).mean(1)  # (N, c, n_query, n_key)
        if samples == 1:
            attention = attention.mean(0, keepdim=True)  # one context for the batch (CFG's two branches)
        out.append(torch.einsum("sjq,sfqk,sftk->sfjt", weights_first, attention,
                                parts_later[:, start:start + chunk].float()))
    bones = parts_first.shape[1]
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

    def __post_init__(self) -> None:
        if self.mode not in MATCHING_MODES:
            raise ValueError(f"unknown matching mode {self.mode!r} (use identity or attention)")
        if self.tokens.ndim == 3:
            self.tokens = self.tokens[None]
        if self.affinity is not None and self.affinity.ndim == 3:
            self.affinity = self.affinity[None]
        frames, h, w = self.grid
        if self.tokens.ndim != 4 or self.tokens.shape[1] != frames or self.tokens.shape[3] != h * w:
            raise ValueError(f"part tokens of shape {tuple(self.tokens.shape)} do not fit the token grid "
                             f"{frames}x{h}x{w} (expected (samples, {frames}, bones, {h * w}))")
        self.tokens = self.tokens.bool()

    @classmethod
    def from_masks(cls, masks: np.ndarray | torch.Tensor, mode: str = "identity", threshold: float = 0.25,
                   device: torch.device | str | None = None) -> PartContext:
        """From pixel part masks (F, B, H, W) or per sample (S, F, B, H, W) bool, 4x32x32 pixels per token."""
        if masks.ndim == 5:
            return cls.from_coverage(torch.stack([pool_part_masks(m) for m in masks]), mode, threshold, device)
        return cls.from_coverage(pool_part_masks(masks), mode, threshold, device)

    @classmethod
    def from_coverage(cls, coverage: torch.Tensor, mode: str = "identity", threshold: float = 0.25,
                      device: torch.device | str | None = None) -> PartContext:
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


def cross_attention_mask(context: PartContext, matching: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Which first-frame key each later query may see, (S, (F'-1)*n, n) bool; which queries see any, (S, (F'-1)*n)."""
    first = context.tokens[:, 0].float()  # (S, B, n): first-frame part j
    later = context.tokens[:, 1:]  # (S, F'-1, B, n)
    matched = torch.gather(later, 2, matching[:, 1:, :, None].expand_as(later)).float()  # frame f's part match[f, j]
    allowed = torch.einsum("sfjq,sjk->sfqk", matched, first) > 0  # (S, F'-1, n_query, n_key)
    allowed = allowed.flatten(1, 2)  # (S, (F'-1)*n, n)
    valid = allowed.any(-1)
    return allowed | ~valid[..., None], valid  # rows with no key see all keys, then are zeroed


# -- 3. part-level cross-attention ------------------------------------------------------------------------
class PTCMAttnProcessor:
    """Masked part-level cross-attention: Q from later-frame part tokens, K/V from matched first-frame parts."""

    def __call__(self, attn: PartTemporalCoherence, hidden_states: torch.Tensor,
                 context: PartContext) -> torch.Tensor:
        frames, h, w = context.grid
        n = h * w
        x = attn.norm(hidden_states.float()).type_as(hidden_states)  # (N, F'*n, D)
        first, later = x[:, :n], x[:, n:]  # (N, n, D), (N, (F'-1)*n, D)

        key = attn.norm_k(attn.to_k(first)).unflatten(2, (attn.heads, -1)).transpose(1, 2)  # (N, heads, n, d)
        value = attn.to_v(first).unflatten(2, (attn.heads, -1)).transpose(1, 2)
        query = attn.norm_q(attn.to_q(later)).unflatten(2, (attn.heads, -1)).transpose(1, 2)  # (N, heads, L, d)

        if context.measure and frames > 1:
            query_first = attn.norm_q(attn.to_q(first)).unflatten(2, (attn.heads, -1)).transpose(1, 2)
            key_later = attn.norm_k(attn.to_k(later)).unflatten(2, (attn.heads, -1)).transpose(1, 2)
            key_later = key_later.unflatten(2, (frames - 1, n))  # (N, heads, F'-1, n, d)
            context.add_affinity(part_affinity(query_first, key_later, context.tokens[:, 0], context.tokens[:, 1:]))

        allowed, valid = cross_attention_mask(context, context.matching())  # S = 1 broadcasts over the batch
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=allowed[:, None])  # (N, heads, L, d)
        out = out.transpose(1, 2).flatten(2) * valid[:, :, None].to(out.dtype)  # (N, L, D)
        out = attn.to_out(out.type_as(hidden_states))
        return torch.cat([torch.zeros_like(hidden_states[:, :n]), out], dim=1)  # frame 0 is the anchor


class PartTemporalCoherence(nn.Module):
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

    def set_processor(self, processor) -> None:
        """Swap the attention math (e.g. a fused kernel)."""
        self.processor = processor

    def forward(self, hidden_states: torch.Tensor, context: PartContext) -> torch.Tensor:
        """The residual to add: (N, F'*h*w, D) -> (N, F'*h*w, D)."""
        return self.processor(self, hidden_states, context)

    # Hooks on a WanTransformerBlock: run PTCM on x + cross_attn(x) without forking the block's forward.
    def attach(self, block: nn.Module) -> None:
        """Register on `block`: remember x at norm2, add PTCM(x + ca) to the cross-attention output ca."""
        block.norm2.register_forward_pre_hook(self._remember_stream)
        block.attn2.register_forward_hook(self._after_cross_attention)

    def _remember_stream(self, module: nn.Module, args: tuple) -> None:
        if self.context is not None:
            self._stream = args[0]  # (N, S, D) float: the block's hidden_states after self-attention

    def _after_cross_attention(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        if self.context is None or self._stream is None:
            return None  # PTCM off: the block is untouched
        stream, self._stream = self._stream, None
        hidden_states = stream.type_as(output) + output  # what the block's residual becomes after cross-attention
        return output + self(hidden_states, self.context)
