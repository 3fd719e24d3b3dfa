"""Wan2.2-TI2V-5B with channel-concatenated pose latents and PTCM (the PoseAnything paper, arXiv:2512.13465).

`PoseAnythingTransformer3DModel` is diffusers' `WanTransformer3DModel` with two changes:

- the patch embedding takes the video latent and the pose latent concatenated on channels,
  (N, C + C_pose, F', H', W'); the pose half of its weight starts at zero, so an untrained model is the
  base model bit for bit (the two halves are convolved separately and summed, which is the same
  convolution and keeps the zero half exact);
- a PTCM (`model.part_attention`) hangs on every block and runs after its cross-attention.

    base = WanTransformer3DModel.from_pretrained(folder, subfolder="transformer")
    model = PoseAnythingTransformer3DModel.from_base(base)      # pose half zero, PTCM the identity
    out = model(latents, timestep, text, pose_latents=pose, part_context=parts).sample

The official release's weights load as `variant="release"` (`model.release.load_release_transformer`): the same
patch embedding and blocks, the release's PTC (`part_attention.ReleasePartCrossAttention`, fed `release_parts=`)
instead of PTCM, the timestep sinusoid in float64 as the release computes it, and `probe_attention` for its
matching probe. Against the official code at a tiny config, in float32, outputs agree to ~2e-6
(tests/model/test_release_dit.py).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from diffusers import WanTransformer3DModel
from diffusers.configuration_utils import register_to_config
from torch import nn

from .errors import ModelError
from .part_attention import PartContext, PartTemporalCoherence, ReleasePartCrossAttention, ReleaseParts

# The published Wan2.2-TI2V-5B transformer config (Wan-AI/Wan2.2-TI2V-5B-Diffusers, transformer/config.json).
WAN22_TI2V_5B_CONFIG: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 24,
    "attention_head_dim": 128,
    "in_channels": 48,
    "out_channels": 48,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 14336,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "rope_max_seq_len": 1024,
    "pos_embed_seq_len": None,
}
WAN22_TI2V_5B_PARAMETERS = 4_999_787_712  # WanTransformer3DModel(**WAN22_TI2V_5B_CONFIG), diffusers 0.42
RELEASE_PROBE_BLOCK = 27  # the block whose self-attention the release's probe reads (`block_id == 27 and check`)
VARIANTS = ("paper", "release")  # our PTCM (from the paper) or the official release's PTC and timestep embedding


class ModelShapeError(ModelError, ValueError):
    """An input whose shape does not fit the model; the message names the input and both shapes."""


class ChannelConcatPatchEmbed(nn.Conv3d):
    """Patch embedding over [video latent, pose latent] on channels: weight (D, C + C_pose, p_t, p_h, p_w)."""

    def __init__(self, video_channels: int, pose_channels: int, dim: int, patch_size: tuple[int, int, int]):
        super().__init__(video_channels + pose_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.video_channels = video_channels

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """(N, C + C_pose, F', H', W') -> (N, D, F', H'/p_h, W'/p_w); the same as one conv over all channels."""
        c = self.video_channels
        video = F.conv3d(latents[:, :c], self.weight[:, :c], self.bias, self.stride)
        pose = F.conv3d(latents[:, c:], self.weight[:, c:], None, self.stride)
        return video + pose


class PoseAnythingTransformer3DModel(WanTransformer3DModel):
    """WanTransformer3DModel taking pose latents on channels, with a PTCM after each block's cross-attention.

    `in_channels` stays the video latent's channel count (48 for Wan2.2), so pipelines size noise from it.
    """

    @register_to_config
    def __init__(
        self,
        patch_size: tuple[int, ...] = (1, 2, 2),
        num_attention_heads: int = 24,
        attention_head_dim: int = 128,
        in_channels: int = 48,
        out_channels: int = 48,
        text_dim: int = 4096,
        freq_dim: int = 256,
        ffn_dim: int = 14336,
        num_layers: int = 30,
        cross_attn_norm: bool = True,
        qk_norm: str | None = "rms_norm_across_heads",
        eps: float = 1e-6,
        image_dim: int | None = None,
        added_kv_proj_dim: int | None = None,
        rope_max_seq_len: int = 1024,
        pos_embed_seq_len: int | None = None,
        pose_channels: int | None = None,
        ptcm: bool = True,
        variant: str = "paper",
    ) -> None:
        super().__init__(
            patch_size=patch_size,
            num_attention_heads=num_attention_heads,
            attention_head_dim=attention_head_dim,
            in_channels=in_channels,
            out_channels=out_channels,
            text_dim=text_dim,
            freq_dim=freq_dim,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            cross_attn_norm=cross_attn_norm,
            qk_norm=qk_norm,
            eps=eps,
            image_dim=image_dim,
            added_kv_proj_dim=added_kv_proj_dim,
            rope_max_seq_len=rope_max_seq_len,
            pos_embed_seq_len=pos_embed_seq_len,
        )
        if variant not in VARIANTS:
            raise ModelError(f"transformer variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        pose_channels = in_channels if pose_channels is None else pose_channels
        self.register_to_config(pose_channels=pose_channels)
        inner_dim = num_attention_heads * attention_head_dim
        # 1. Patch embedding over [video latent, pose latent]: the pose half starts at zero.
        self.patch_embedding = ChannelConcatPatchEmbed(in_channels, pose_channels, inner_dim, tuple(patch_size))
        with torch.no_grad():
            self.patch_embedding.weight[:, in_channels:] = 0
        # 2. PTCM on every block, after its cross-attention (hooks; see PartTemporalCoherence.attach).
        if ptcm and variant == "paper":
            for block in self.blocks:
                block.ptcm = PartTemporalCoherence(inner_dim, num_attention_heads, eps)
                block.ptcm.attach(block)
        # 3. The official release instead: its PTC (with an affine norm, the release's norm4) on every block, and
        # the timestep sinusoid in float64 as the release computes it.
        if variant == "release":
            for block in self.blocks:
                block.ptc = ReleasePartCrossAttention(inner_dim, num_attention_heads, eps)
                block.ptc.attach(block)
            self.condition_embedder.timesteps_proj = Float64Timesteps(freq_dim)

    # -- building -------------------------------------------------------------------------------------
    @classmethod
    def from_base(
        cls, base: WanTransformer3DModel, pose_channels: int | None = None, ptcm: bool = True
    ) -> PoseAnythingTransformer3DModel:
        """Widen a loaded base model: base weights copied, pose half zero, PTCM q/k/v from self-attention, out zero.

        Built on the meta device and filled by assignment, so the base weights are not held twice.
        """
        config = {k: v for k, v in base.config.items() if not k.startswith("_")}
        with torch.device("meta"):
            model = cls(**config, pose_channels=pose_channels, ptcm=ptcm)
        state = base.state_dict()
        weight = state["patch_embedding.weight"]  # (D, C, p_t, p_h, p_w)
        pose = model.config.pose_channels
        zeros = weight.new_zeros(weight.shape[0], pose, *weight.shape[2:])
        state["patch_embedding.weight"] = torch.cat([weight, zeros], 1)  # (D, C + C_pose, p_t, p_h, p_w)
        if ptcm:
            for i in range(len(base.blocks)):
                state.update(_ptcm_from_self_attention(state, f"blocks.{i}."))
        model.load_state_dict(state, strict=True, assign=True)
        model.rope = base.rope  # its frequency tables are buffers outside the state dict
        return model

    @property
    def ptcm_modules(self) -> list[PartTemporalCoherence]:
        return [block.ptcm for block in self.blocks if hasattr(block, "ptcm")]

    @property
    def release_ptc_modules(self) -> list[ReleasePartCrossAttention]:
        return [block.ptc for block in self.blocks if hasattr(block, "ptc")]

    # -- running --------------------------------------------------------------------------------------
    def forward(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        pose_latents: torch.Tensor | None = None,
        part_context: PartContext | None = None,
        encoder_hidden_states_image: torch.Tensor | None = None,
        return_dict: bool = True,
        attention_kwargs: dict[str, Any] | None = None,
        release_parts: ReleaseParts | None = None,
    ):
        """Denoise: video latents (N, C, F', H', W') with pose latents (N, C_pose, F', H', W') -> (N, C, F', H', W').

        timestep is (N,) or per token (N, F' * H'/2 * W'/2) as Wan2.2 TI2V uses; part_context turns PTCM on
        (variant "paper"), release_parts the release's PTC (variant "release"; None: no PTC this step).
        To match the release in bf16, pass timestep in the latents' dtype: the release rounds t to bf16 (and
        builds the per-token timestep, frame 0 at 0, in that dtype) before its float64 sinusoid.
        """
        self.check_inputs(hidden_states, timestep, encoder_hidden_states, pose_latents, part_context, release_parts)
        # (N, C, F', H', W') ++ (N, C_pose, F', H', W') -> (N, C + C_pose, F', H', W')
        latents = torch.cat([hidden_states, pose_latents.to(hidden_states.dtype)], dim=1)
        scope = (
            self._release_parts(release_parts) if self.config.variant == "release" else self.part_context(part_context)
        )
        with scope:
            return super().forward(
                latents,
                timestep,
                encoder_hidden_states,
                encoder_hidden_states_image,
                return_dict=return_dict,
                attention_kwargs=attention_kwargs,
            )

    def probe_attention(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        pose_latents: torch.Tensor | None = None,
        block_index: int = RELEASE_PROBE_BLOCK,
    ) -> torch.Tensor:
        """The release's matching probe (`model_fn_wan_video(check=True)`): attention weights [N, heads, L0, L].

        Blocks 0..block_index run as usual (no PTC); block `block_index` is then applied again to its own output,
        up to its self-attention: the softmax weights of the frame-0 queries (L0 = h*w tokens) over all L keys,
        with the block's modulation, q/k norms and RoPE, in the activations' dtype as the release computes them.

        Cost: like the official code this materialises [N, heads, L0, L] (and the scores before the softmax, of the
        same size): at 832x480x81 (21x15x26 tokens: L0 = 390, L = 8190, 24 heads) that is 76.7 M values, 153 MB
        in bf16 (307 MB in fp32), twice over at the peak. Time: one whole forward (the official code stops after
        block 27: blocks 28-29 and the head are spare here, ~7%) plus block 27 once more, so that every
        offloading hook runs to its end and the block's weights are on the device while they are used.
        """
        if not 0 <= block_index < len(self.blocks):
            raise ModelShapeError(f"block_index must be from 0 to {len(self.blocks) - 1}, got {block_index}")
        self.check_inputs(hidden_states, timestep, encoder_hidden_states, pose_latents, None, None)
        latents = torch.cat([hidden_states, pose_latents.to(hidden_states.dtype)], dim=1)
        _, h, w = self.token_grid(hidden_states.shape)
        block = self.blocks[block_index]
        kept: dict[str, Any] = {}

        def keep_output(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            kept["inputs"] = (output, *args[1:])  # block's output, text, temb, rotary: its inputs the second time

        def measure(module: nn.Module, args: tuple) -> None:  # attn1's input: the block's modulated norm1(x)
            kept["weights"] = _self_attention_weights(module, args[0], args[3], h * w)

        # A whole forward, then the block once more, each with every hook (offloading's too) run to its end:
        # with offloading the block's weights are on the device only while it runs, so the weights are
        # measured inside it. Blocks after `block_index`, the head and the rest of the second pass are spare.
        scope = self._release_parts if self.config.variant == "release" else self.part_context
        with scope(None):
            handle = block.register_forward_hook(keep_output)
            try:
                super().forward(latents, timestep, encoder_hidden_states, return_dict=False)
            finally:
                handle.remove()
            handle = block.attn1.register_forward_pre_hook(measure)
            try:
                block(*kept["inputs"])
            finally:
                handle.remove()
        return kept["weights"]

    @contextlib.contextmanager
    def _release_parts(self, parts: ReleaseParts | None) -> Iterator[None]:
        """The release's PTC reads `parts` inside this block; None leaves every block exactly the base block."""
        modules = self.release_ptc_modules
        for module in modules:
            module.context = parts
        try:
            yield
        finally:
            for module in modules:
                module.context, module._stream = None, None

    @contextlib.contextmanager
    def part_context(self, context: PartContext | None) -> Iterator[None]:
        """PTCM reads `context` inside this block; None leaves every block exactly the base block."""
        modules = self.ptcm_modules
        if context is not None and not modules:
            raise ModelShapeError("part_context given but this model was built with ptcm=False")
        for module in modules:
            module.context = context
        try:
            yield
        finally:
            for module in modules:
                module.context, module._stream = None, None

    def token_grid(self, latent_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """(F', h, w) transformer tokens for a latent of shape (N, C, F', H', W')."""
        p_t, p_h, p_w = self.config.patch_size
        return latent_shape[2] // p_t, latent_shape[3] // p_h, latent_shape[4] // p_w

    def check_inputs(
        self,
        hidden_states: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        pose_latents: torch.Tensor | None,
        part_context: PartContext | None,
        release_parts: ReleaseParts | None = None,
    ) -> None:
        """Raise ModelShapeError naming the input whose shape does not fit."""
        cfg = self.config
        if hidden_states.ndim != 5 or hidden_states.shape[1] != cfg.in_channels:
            raise ModelShapeError(
                f"hidden_states must be (batch, {cfg.in_channels}, frames, height, width), "
                f"got {tuple(hidden_states.shape)}"
            )
        n, _, frames, height, width = hidden_states.shape
        p_t, p_h, p_w = cfg.patch_size
        if frames % p_t or height % p_h or width % p_w:
            raise ModelShapeError(
                f"latent frames/height/width {frames}x{height}x{width} must be multiples of the patch {p_t}x{p_h}x{p_w}"
            )
        if pose_latents is None:
            raise ModelShapeError("pose_latents is required: pass the VAE-encoded pose frames (zeros for none)")
        expected = (n, cfg.pose_channels, frames, height, width)
        if tuple(pose_latents.shape) != expected:
            raise ModelShapeError(
                f"pose_latents must be {expected} to match hidden_states, got {tuple(pose_latents.shape)}"
            )
        tokens = math.prod(self.token_grid(hidden_states.shape))
        if (
            timestep.ndim == 0
            or timestep.shape[0] != n
            or (timestep.ndim == 2 and timestep.shape[1] != tokens)
            or timestep.ndim > 2
        ):
            raise ModelShapeError(f"timestep must be ({n},) or per token ({n}, {tokens}), got {tuple(timestep.shape)}")
        if (
            encoder_hidden_states.ndim != 3
            or encoder_hidden_states.shape[0] != n
            or encoder_hidden_states.shape[2] != cfg.text_dim
        ):
            raise ModelShapeError(
                f"encoder_hidden_states must be ({n}, tokens, {cfg.text_dim}), got {tuple(encoder_hidden_states.shape)}"
            )
        if part_context is not None and tuple(part_context.grid) != self.token_grid(hidden_states.shape):
            raise ModelShapeError(
                f"part_context is for a token grid {tuple(part_context.grid)}, the latents give "
                f"{self.token_grid(hidden_states.shape)}"
            )
        if part_context is not None and part_context.samples not in (1, n):
            raise ModelShapeError(
                f"part_context holds parts of {part_context.samples} samples for a batch of {n} "
                f"(give 1 set of parts for the whole batch, or one per sample)"
            )
        if part_context is not None and cfg.variant == "release":
            raise ModelShapeError("part_context is our PTCM's; the release's weights take release_parts")
        if release_parts is not None and cfg.variant != "release":
            raise ModelShapeError(
                "release_parts given but this model is not the release variant "
                "(load the official weights with model.release.load_release_transformer)"
            )
        if release_parts is not None and tuple(release_parts.grid) != self.token_grid(hidden_states.shape):
            raise ModelShapeError(
                f"release_parts are for a token grid {tuple(release_parts.grid)} (frames, h, w), "
                f"the latents give {self.token_grid(hidden_states.shape)}"
            )


class Float64Timesteps(nn.Module):
    """The timestep sinusoid [cos, sin] computed in float64, as the release's `sinusoidal_embedding_1d` does.

    Same formula as diffusers' `Timesteps(flip_sin_to_cos=True, downscale_freq_shift=0)`; in float32 the
    arguments (up to 1000 rad) lose ~1e-4 rad, which the release does not. Output in the timestep's float dtype.
    """

    def __init__(self, num_channels: int):
        super().__init__()
        self.num_channels = num_channels

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        half = self.num_channels // 2
        exponent = torch.arange(half, dtype=torch.float64, device=timesteps.device) / half
        angles = torch.outer(timesteps.to(torch.float64), torch.pow(10000, -exponent))
        out = torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)
        return out.to(timesteps.dtype if timesteps.is_floating_point() else torch.float32)


def _self_attention_weights(
    attn: nn.Module, normed: torch.Tensor, rotary_emb: tuple[torch.Tensor, torch.Tensor], first_tokens: int
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) of self-attention `attn` on its input, for the first queries: [N, H, L0, L]."""
    query = attn.norm_q(attn.to_q(normed[:, :first_tokens])).unflatten(2, (attn.heads, -1))  # (N, L0, H, d)
    key = attn.norm_k(attn.to_k(normed)).unflatten(2, (attn.heads, -1))  # (N, L, H, d)
    cos, sin = rotary_emb  # (1, L, 1, d)
    query = _rotate(query, cos[:, :first_tokens], sin[:, :first_tokens]).transpose(1, 2)
    key = _rotate(key, cos, sin).transpose(1, 2)
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    return scores.softmax(dim=-1)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE on interleaved pairs (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos), as WanAttnProcessor applies it."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = cos[..., 0::2], sin[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2).type_as(x)


def _ptcm_from_self_attention(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """PTCM weights of one block: q/k/v and their norms copied from the block's self-attention, output zero."""
    out = {}
    for name in ("to_q", "to_k", "to_v"):
        for kind in ("weight", "bias"):
            out[f"{prefix}ptcm.{name}.{kind}"] = state[f"{prefix}attn1.{name}.{kind}"].clone()
    for name in ("norm_q", "norm_k"):
        out[f"{prefix}ptcm.{name}.weight"] = state[f"{prefix}attn1.{name}.weight"].clone()
    out[f"{prefix}ptcm.to_out.weight"] = torch.zeros_like(state[f"{prefix}attn1.to_out.0.weight"])
    out[f"{prefix}ptcm.to_out.bias"] = torch.zeros_like(state[f"{prefix}attn1.to_out.0.bias"])
    return out


def ptcm_parameters(dim: int, layers: int) -> int:
    """Parameters PTCM adds: per block q, k, v, out (dim x dim + bias) and two RMS norms (dim)."""
    return layers * (4 * (dim * dim + dim) + 2 * dim)
