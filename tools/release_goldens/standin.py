"""Deterministic stand-ins for the DiT and the VAE, shared by the golden writer and the parity tests.

The sampling goldens run the release's own `WanVideoPipeline.__call__` (its probe, union-mask loop, restart,
scheduler and output conversion) with these in place of the 5B DiT and the VAE, and the tests run our loop
with the same stand-ins: any difference is in the sampling code, not in the networks. Each stand-in depends
on everything the real model would (latents, timestep, PTC parts), so a wrong index or a wrong step shows.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
import torch.nn.functional as F


def _tokens(latents: torch.Tensor) -> torch.Tensor:
    """(1, C, F', H', W') -> (F' * H'/2 * W'/2, C): the transformer's 1x2x2 patches, averaged."""
    pooled = F.avg_pool3d(latents, (1, 2, 2))[0]  # (C, F', h, w)
    return pooled.permute(1, 2, 3, 0).reshape(-1, latents.shape[1])


class StandInModel:
    """velocity(latents, t, first_masks, union_masks) and attention(latents) as deterministic functions."""

    def __init__(self, channels: int, heads: int = 2, head_dim: int = 4, seed: int = 7):
        g = torch.Generator().manual_seed(seed)
        self.mix = torch.randn(channels, channels, generator=g) / channels**0.5
        self.to_q = torch.randn(channels, heads * head_dim, generator=g)
        self.to_k = torch.randn(channels, heads * head_dim, generator=g)
        self.heads, self.head_dim = heads, head_dim

    def velocity(
        self,
        latents: torch.Tensor,
        timestep: torch.Tensor,
        first_masks: torch.Tensor | None = None,
        union_masks: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """A flow-like velocity; with parts, frames 1.. get first-frame part means where their union mask is on."""
        mix = self.mix.to(latents)
        v = torch.einsum("dc,bcfhw->bdfhw", mix, torch.tanh(latents)) * (timestep.to(latents) / 1000) + 0.5 * latents
        if first_masks is None or union_masks is None:
            return v
        pooled = F.avg_pool3d(latents, (1, 2, 2))  # (1, C, F', h, w)
        extra = torch.zeros_like(pooled)
        for j, first in enumerate(first_masks):
            weight = first.to(latents)
            mean = (pooled[:, :, 0] * weight).sum((-1, -2)) / weight.sum().clamp(min=1)  # (1, C)
            extra[:, :, 1:] += 0.3 * (j + 1) * mean[:, :, None, None, None] * union_masks[:, j].to(latents)[None, None]
        return v + extra.repeat_interleave(2, -1).repeat_interleave(2, -2)

    def attention(self, latents: torch.Tensor) -> torch.Tensor:
        """Softmax attention of frame-0 tokens over all tokens: (1, heads, L0, L)."""
        tokens = _tokens(latents)  # (L, C)
        first = latents.shape[3] * latents.shape[4] // 4
        q = (tokens[:first] @ self.to_q.to(latents)).unflatten(-1, (self.heads, self.head_dim)).transpose(0, 1)
        k = (tokens @ self.to_k.to(latents)).unflatten(-1, (self.heads, self.head_dim)).transpose(0, 1)
        return torch.softmax(q @ k.transpose(-1, -2) / self.head_dim**0.5, dim=-1)[None]

    def official_model_fn(self, attention: torch.Tensor | None = None, calls: list | None = None):
        """The release's `model_fn` signature; `attention` given overrides the computed one; calls are recorded."""

        def model_fn(latents=None, timestep=None, union_mask=None, first_masks=None, check=False, **_):
            if calls is not None:
                calls.append(
                    {
                        "latents": latents.clone(),
                        "timestep": timestep.clone(),
                        "check": check,
                        "union_mask": None if union_mask is None else union_mask.clone(),
                    }
                )
            if check:
                return self.attention(latents) if attention is None else attention
            first = (
                None if first_masks is None else torch.stack([torch.as_tensor(np.asarray(m) != 0) for m in first_masks])
            )
            return self.velocity(latents, timestep, first, union_mask)

        return model_fn


class StandInVAE:
    """encode: factor x factor average and a 3 -> C map; decode: a C -> 3 map, 4 frames per latent frame, nearest."""

    def __init__(self, channels: int, seed: int = 11, factor: int = 16):
        g = torch.Generator().manual_seed(seed)
        self.factor = factor
        self.to_latent = torch.randn(channels, 3, generator=g)
        self.to_rgb = torch.randn(3, channels, generator=g) / channels**0.5
        self.channels = channels

    def encode_video(self, video: torch.Tensor) -> torch.Tensor:
        """(1, 3, T, H, W) -> (1, C, (T+3)//4, H/factor, W/factor), plus the tile's own mean (so tiling shows)."""
        rest = video[:, :, 1:].unflatten(2, (-1, 4)).mean(3)  # latent frame k: pixel frames 4k-3 .. 4k
        frames = torch.cat([video[:, :, :1], rest], 2)
        pooled = F.avg_pool3d(frames, (1, self.factor, self.factor))
        return torch.einsum("cr,brfhw->bcfhw", self.to_latent.to(video), pooled) + video.mean()

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """(1, C, F', h, w) -> (1, 3, 4F'-3, h x factor, w x factor), unclamped, plus the tile's mean."""
        rgb = torch.einsum("rc,bcfhw->brfhw", self.to_rgb.to(latents), latents) + 0.2 * latents.mean()
        rgb = torch.cat([rgb[:, :, :1], rgb[:, :, 1:].repeat_interleave(4, 2)], 2)
        return 1.2 * torch.tanh(rgb.repeat_interleave(self.factor, -1).repeat_interleave(self.factor, -2))


class OfficialVAEStub:
    """What the release pipeline asks of `pipe.vae` (encode the first frame, decode the latents), via StandInVAE."""

    upsampling_factor = 16

    def __init__(self, vae: StandInVAE):
        self.vae = vae
        self.model = type("Model", (), {"z_dim": vae.channels})()
        self.decoded: torch.Tensor | None = None

    def encode(self, videos, device=None, tiled=False, tile_size=None, tile_stride=None):
        return torch.cat([self.vae.encode_video(v[None]) for v in videos])

    def decode(self, latents, device=None, tiled=False, tile_size=None, tile_stride=None):
        self.decoded = latents.clone()
        return self.vae.decode_latents(latents).clamp(-1, 1)


# -- the clip goldens: name-seeded weights and stand-ins for the VAE's two conv stacks ----------------------------
def seeded(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """A tensor of standard normal values drawn from a generator seeded by `name` alone (both sides agree)."""
    seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") % 2**63
    return torch.randn(tuple(shape), generator=torch.Generator().manual_seed(seed))


def seeded_weight(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    """Small random weights for tensor `name`: norm scales near 1, biases near 0, matrices by 1/sqrt(fan in)."""
    noise = seeded(name, shape)
    if name.endswith(".gamma") or ("norm" in name and name.endswith(".weight")):
        return 1 + 0.2 * noise
    if len(shape) <= 1:
        return 0.1 * noise
    if name.endswith("modulation"):
        return noise / shape[-1] ** 0.5
    return noise / max(int(np.prod(shape[1:])), 1) ** 0.5


def seeded_prompt(tokens: int = 7, length: int = 512, width: int = 16) -> torch.Tensor:
    """Given prompt embeddings (1, length, width), zero past `tokens` as umT5's are: both pipelines get these."""
    embeds = seeded("prompt", (1, length, width))
    embeds[:, tokens:] = 0
    return embeds


class StandInVAEEncoder(torch.nn.Module):
    """In place of the VAE's encoder stack (the release's Encoder3d_38, diffusers' WanEncoder3d), called the same way.

    One chunk of the patchified video (B, 12, 1 or 4 frames, H/2, W/2) -> (B, channels, 1, H/16, W/16): the
    chunk averaged over its frames and 8x8 pixels, a seeded 12 -> channels map, tanh. What runs around it is the
    real VAE code of each side: patchify, the 1 + 4k chunking, the 1x1x1 quant conv, the mean, the normalisation.
    """

    def __init__(self, channels: int, in_channels: int = 12, factor: int = 8):
        super().__init__()
        self.factor = factor
        self.register_buffer("weight", seeded("stand-in encoder", (channels, in_channels)) / in_channels**0.5)

    def forward(self, x, feat_cache=None, feat_idx=(0,)):
        pooled = F.avg_pool3d(x, (x.shape[2], self.factor, self.factor))
        return torch.tanh(torch.einsum("oc,bcfhw->bofhw", self.weight.to(x), pooled) * 3)


class StandInVAEDecoder(torch.nn.Module):
    """In place of the VAE's decoder stack: one latent frame (B, z, 1, h, w) -> (B, 12, 1 or 4, 8h, 8w), unclamped.

    The first chunk gives 1 frame, the others 4 (as the real decoders do); a seeded z -> 12 map, a different
    gain per output frame, nearest 8x upsampling. Around it: the post-quant conv, the frame-by-frame loop,
    unpatchify, and (outside the VAE) each pipeline's tiling, blend and clamp.
    """

    def __init__(self, channels: int, out_channels: int = 12, factor: int = 8):
        super().__init__()
        self.factor = factor
        self.register_buffer("weight", seeded("stand-in decoder", (out_channels, channels)) / channels**0.5)

    def forward(self, x, feat_cache=None, feat_idx=(0,), first_chunk=False):
        rgb = torch.einsum("oc,bcfhw->bofhw", self.weight.to(x), x)
        frames = 1 if first_chunk else 4
        gains = torch.linspace(1.4, 0.8, frames, dtype=x.dtype, device=x.device)[None, None, :, None, None]
        video = rgb.expand(-1, -1, frames, -1, -1) * gains
        return video.repeat_interleave(self.factor, -1).repeat_interleave(self.factor, -2)
