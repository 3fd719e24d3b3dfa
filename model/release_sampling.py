"""Sampling exactly as the authors' release does it (Ryan-w2024/PoseAnything, `WanVideoPipeline.__call__`).

Each piece is a small function the pipeline calls when it runs the official weights, checked against golden
files written from the official code (tools/release_goldens/sampling.py, tests/model/test_release_sampling.py):

- `ReleaseScheduler`: DiffSynth's FlowMatchScheduler as the release builds it (shift 5, sigma_min 0,
  extra_one_step): sigmas = shift(linspace(1, 0, steps + 1)[:-1]), plain Euler steps, the last step to 0.
- `release_union_masks`: the probe's matching, the release's loop with its index quirks kept (see there).
- `release_sample`: the probe (5 Euler steps without PTC, then block 27's attention), the union masks,
  the latents restored, and the 50 steps with PTC on steps 0..5 only; the first latent frame re-imposed
  after every step.
- `clean_prompt`: the release prompter's cleaning (ftfy, HTML unescaped twice, whitespace collapsed).
- `tiled_encode` / `tiled_decode`: the release's VAE tiling (34x34 latent tiles, stride 18x16, linear blend).
- `video_to_uint8`: its output conversion, which truncates (x + 1) * 127.5 instead of rounding.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

RELEASE_STEPS = 50
RELEASE_SHIFT = 5.0
RELEASE_GUIDANCE = 1.0
RELEASE_SEED = 123
PROBE_STEPS = 5  # Euler steps before the probe's attention (the release's `progress_id == 5`)
PTC_LAST_STEP = 5  # PTC runs on steps 0..5 of the restarted sampling (`progress_id > 5` turns it off)
PROBE_BLOCK = 27
VAE_TILE = (34, 34)  # latent units (x16 pixels for the Wan2.2 VAE)
VAE_STRIDE = (18, 16)


@dataclass(frozen=True)
class ProbeResult:
    """What the probe found: the attention it used, the union masks it built, per latent frame and first part."""

    attention: torch.Tensor  # (B, heads, L0, L)
    first_masks: torch.Tensor  # (P, h, w) bool, token grid
    union_masks: torch.Tensor  # (F'-1, P, h, w) bool: union_masks[k] is what latent frame k + 1 uses


class ReleaseScheduler:
    """DiffSynth's FlowMatchScheduler(shift=5, sigma_min=0, extra_one_step=True) in inference use, float32."""

    num_train_timesteps = 1000

    def __init__(self, steps: int = RELEASE_STEPS, shift: float = RELEASE_SHIFT):
        self.set_timesteps(steps, shift)

    def set_timesteps(self, steps: int, shift: float = RELEASE_SHIFT) -> None:
        """sigmas = shift s / (1 + (shift - 1) s) for s = linspace(1, 0, steps + 1)[:-1]; timesteps = 1000 sigmas."""
        base = torch.linspace(1.0, 0.0, steps + 1)[:-1]
        self.shift = shift
        self.sigmas = shift * base / (1 + (shift - 1) * base)
        self.timesteps = self.sigmas * self.num_train_timesteps

    def step(self, velocity: torch.Tensor, index: int, sample: torch.Tensor) -> torch.Tensor:
        """One Euler step from sigma[index] to the next sigma (0 after the last), in the sample's dtype."""
        sigma = self.sigmas[index]
        following = self.sigmas[index + 1] if index + 1 < len(self.sigmas) else 0
        return sample + velocity * (following - sigma)


def release_union_masks(
    attention: torch.Tensor,
    binary_masks: Sequence[Sequence[np.ndarray]],
    condition_index: Sequence[int],
    grid: tuple[int, int, int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """The release's part matching from the probe's attention: (first_masks (P, h, w), union_masks (F'-1, P, h, w)).

    attention (B, heads, L0, L): frame-0 queries over all L = F' x L0 keys; binary_masks[i] the part masks
    (h, w) of the i-th conditioned frame, condition_index[i] its pixel frame; grid (F', h, w) tokens.
    Kept as the release has it: latent frame l's keys are compared with the parts of pixel frames 4l+1..4l+4
    (those of latent frame l + 1), the best part is written to union_masks[l - 1] (l = 0 wraps to the last)
    as the OR with union_masks[l], so of the four frames the last with parts wins. Sums, means and
    comparisons run in the attention's dtype, in the release's order, so near ties resolve as it does.
    """
    frames, h, w = grid
    weights = torch.sum(attention, dim=1)  # (B, L0, L)
    seq = weights.shape[1]
    first_masks = list(binary_masks[0])
    union = torch.zeros([frames - 1, len(first_masks), h, w], dtype=torch.bool)
    index = list(condition_index)
    for l_i in range(frames - 1):
        frame_weights = weights[:, :, l_i * seq : (l_i + 1) * seq]
        for f_i in range(l_i * 4 + 1, l_i * 4 + 5):
            if f_i not in index or not len(binary_masks[index.index(f_i)]):
                continue
            later = binary_masks[index.index(f_i)]
            for j, first in enumerate(first_masks):
                best = _best_part(frame_weights, first, later)
                if best >= 0:
                    union[l_i - 1][j] = torch.logical_or(union[l_i][j], torch.as_tensor(np.asarray(later[best]) != 0))
    first = (
        torch.stack([torch.as_tensor(np.asarray(m) != 0) for m in first_masks])
        if first_masks
        else torch.zeros(0, h, w, dtype=torch.bool)
    )
    return first, union


def _best_part(weights: torch.Tensor, first: np.ndarray, later: Sequence[np.ndarray]) -> int:
    """The later part with the highest mean attention from first-frame part `first`; -1 when none is comparable."""
    first_flat = torch.as_tensor(np.asarray(first) != 0).reshape(-1)
    best, best_mean = -1, -float("inf")
    for i, mask in enumerate(later):
        selected = weights[:, first_flat, :][:, :, torch.as_tensor(np.asarray(mask) != 0).reshape(-1)]
        if selected.numel() == 0:
            continue
        mean = selected.mean()
        if mean > best_mean:
            best, best_mean = i, mean
    return best


VelocityFn = Callable[[torch.Tensor, torch.Tensor, "ProbeResult | None"], torch.Tensor]
ProbeFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class StepHooks:
    """Called around each Euler step: before(stage, index) (a place to stop), after(stage, index, latents, x0)."""

    before: Callable[[str, int], None] | None = None
    after: Callable[[str, int, torch.Tensor, torch.Tensor], None] | None = None
    probed: Callable[[ProbeResult], None] | None = None


def release_sample(
    velocity: VelocityFn,
    probe: ProbeFn | None,
    latents: torch.Tensor,
    first_frame: torch.Tensor,
    scheduler: ReleaseScheduler,
    binary_masks: Sequence[Sequence[np.ndarray]] | None = None,
    condition_index: Sequence[int] = (),
    hooks: StepHooks = StepHooks(),
    parts: ProbeResult | None = None,
    start: int = 0,
) -> torch.Tensor:
    """The release's denoising: the probe and restart when there are part masks, then all steps; the final latents.

    latents (1, C, F', H', W') with frame 0 already the image latent; first_frame (1, C, 1, H', W') is
    re-imposed after every step. velocity(latents, timestep (1,) in the latents' dtype, parts or None) is one
    model pass; probe(latents, timestep) the attention (B, heads, L0, L). hooks.before/after run around each
    step (stage "probe", then "steps"); hooks.probed once with the matching. `parts` given (ours: a rig's
    parts matched by identity) skips the probe and runs PTC with them on the same steps. `start` > 0 (ours,
    refining a given video): sampling, the probe and PTC's six steps all begin at that step instead of 0.
    """
    if parts is None and binary_masks is not None and probe is not None:
        restart = latents.clone()
        for i in range(start, start + PROBE_STEPS):
            latents = _euler(velocity, scheduler, i, latents, None, first_frame, hooks, "probe")
        t = scheduler.timesteps[start + PROBE_STEPS].unsqueeze(0).to(latents.dtype)
        attention = probe(latents, t)
        frames, height, width = latents.shape[2:]
        first, union = release_union_masks(attention, binary_masks, condition_index, (frames, height // 2, width // 2))
        parts = ProbeResult(attention, first, union)
        latents = restart
    if parts is not None and hooks.probed is not None:
        hooks.probed(parts)
    for i in range(start, len(scheduler.timesteps)):
        latents = _euler(
            velocity, scheduler, i, latents, parts if i <= start + PTC_LAST_STEP else None, first_frame, hooks, "steps"
        )
    return latents


def _euler(
    velocity: VelocityFn,
    scheduler: ReleaseScheduler,
    i: int,
    latents: torch.Tensor,
    parts: ProbeResult | None,
    first_frame: torch.Tensor,
    hooks: StepHooks,
    stage: str,
) -> torch.Tensor:
    """One model pass and Euler step; the first latent frame put back to the image's latent."""
    if hooks.before is not None:
        hooks.before(stage, i)
    t = scheduler.timesteps[i].unsqueeze(0).to(latents.dtype)
    v = velocity(latents, t, parts)
    stepped = scheduler.step(v, i, latents)
    stepped[:, :, 0:1] = first_frame
    if hooks.after is not None:
        hooks.after(stage, i, stepped, latents - scheduler.sigmas[i] * v)
    return stepped


# -- text ---------------------------------------------------------------------------------------------------
def clean_prompt(text: str) -> str:
    """The release prompter's cleaning: ftfy.fix_text, HTML unescaped twice, whitespace collapsed, stripped."""
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return re.sub(r"\s+", " ", text).strip()


# -- VAE tiling and output ----------------------------------------------------------------------------------
def _tiles(height: int, width: int, size: tuple[int, int], stride: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The release's tile origins: (h, h + size_h, w, w + size_w), skipping a tile the previous one already ends."""
    tasks = []
    for h in range(0, height, stride[0]):
        if h - stride[0] >= 0 and h - stride[0] + size[0] >= height:
            continue
        for w in range(0, width, stride[1]):
            if w - stride[1] >= 0 and w - stride[1] + size[1] >= width:
                continue
            tasks.append((h, h + size[0], w, w + size[1]))
    return tasks


def _ramp(length: int, left_bound: bool, right_bound: bool, border: int) -> torch.Tensor:
    x = torch.ones((length,))
    if not left_bound:
        x[:border] = (torch.arange(border) + 1) / border
    if not right_bound:
        x[-border:] = torch.flip((torch.arange(border) + 1) / border, dims=(0,))
    return x


def _blend_mask(shape: tuple[int, ...], bounds: tuple[bool, bool, bool, bool], border: tuple[int, int]) -> torch.Tensor:
    """(1, 1, 1, H, W): the smaller of the vertical and horizontal ramps, 1 at the picture's own edges."""
    height, width = shape[-2:]
    vertical = _ramp(height, bounds[0], bounds[1], border[0])[:, None].expand(height, width)
    horizontal = _ramp(width, bounds[2], bounds[3], border[1])[None, :].expand(height, width)
    return torch.stack([vertical, horizontal]).min(dim=0).values[None, None, None]


def _blend(
    run: Callable[[torch.Tensor], torch.Tensor],
    data: torch.Tensor,
    size: tuple[int, int],
    stride: tuple[int, int],
    scale: tuple[int, int],
    out_frames: int,
    out_channels: int,
    border: tuple[int, int],
) -> torch.Tensor:
    """Run `run` on each tile of data (1, C, T, H, W) and blend the results linearly (sizes x up // down)."""
    _, _, _, height, width = data.shape
    up, down = scale
    out_h, out_w = height * up // down, width * up // down
    weight = torch.zeros((1, 1, out_frames, out_h, out_w), dtype=data.dtype, device=data.device)
    values = torch.zeros((1, out_channels, out_frames, out_h, out_w), dtype=data.dtype, device=data.device)
    for h, h_, w, w_ in _tiles(height, width, size, stride):
        result = run(data[:, :, :, h:h_, w:w_]).to(data.device)
        mask = _blend_mask(result.shape, (h == 0, h_ >= height, w == 0, w_ >= width), border).to(data)
        top, left = h * up // down, w * up // down
        region = (
            slice(None),
            slice(None),
            slice(None),
            slice(top, top + result.shape[3]),
            slice(left, left + result.shape[4]),
        )
        values[region] += result * mask
        weight[region] += mask
    return values / weight


def tiled_decode(
    decode_tile: Callable[[torch.Tensor], torch.Tensor],
    latents: torch.Tensor,
    tile: tuple[int, int] = VAE_TILE,
    stride: tuple[int, int] = VAE_STRIDE,
    factor: int = 16,
) -> torch.Tensor:
    """The release's tiled decode: latents (1, C, F', h, w) -> video (1, 3, 4F'-3, 16h, 16w) in [-1, 1].

    decode_tile maps a latent tile to its (unclamped) video; tiles blend with linear ramps of
    (tile - stride) x factor pixels, in the latents' dtype, and the blend is clamped to [-1, 1].
    """
    border = ((tile[0] - stride[0]) * factor, (tile[1] - stride[1]) * factor)
    frames = latents.shape[2] * 4 - 3
    return _blend(decode_tile, latents, tile, stride, (factor, 1), frames, 3, border).clamp_(-1, 1)


def tiled_encode(
    encode_tile: Callable[[torch.Tensor], torch.Tensor],
    video: torch.Tensor,
    channels: int,
    tile: tuple[int, int] = VAE_TILE,
    stride: tuple[int, int] = VAE_STRIDE,
    factor: int = 16,
) -> torch.Tensor:
    """The release's tiled encode: video (1, 3, T, H, W) -> normalised latents (1, C, (T+3)//4, H/16, W/16).

    Tile and stride are in latent units as the release passes them (x factor in pixels); ramps of
    (tile - stride) pixels // factor latents.
    """
    size = (tile[0] * factor, tile[1] * factor)
    step = (stride[0] * factor, stride[1] * factor)
    border = ((size[0] - step[0]) // factor, (size[1] - step[1]) // factor)
    frames = (video.shape[2] + 3) // 4
    return _blend(encode_tile, video, size, step, (1, factor), frames, channels, border)


def video_to_uint8(video: torch.Tensor) -> np.ndarray:
    """(1, 3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8 as the release converts: (x + 1) x 127.5, clipped, truncated."""
    frames = video[0].permute(1, 2, 3, 0)  # (T, H, W, 3)
    return ((frames - -1) * (255 / 2)).clip(0, 255).to(device="cpu", dtype=torch.uint8).numpy()


def identity_union_masks(
    binary_masks: Sequence[Sequence[np.ndarray]], condition_index: Sequence[int], frames: int
) -> ProbeResult:
    """Ours, not the release's: part j of every frame is the first frame's part j (a rig's bones keep their names).

    union_masks[k] (latent frame k + 1) is the OR of part j over pixel frames 4k+1 .. 4k+4, the frames that
    latent frame encodes; binary_masks as for `release_union_masks`, every frame with the same parts.
    """
    first = torch.stack([torch.as_tensor(np.asarray(m) != 0) for m in binary_masks[0]])
    union = torch.zeros((frames - 1, *first.shape), dtype=torch.bool)
    for masks, f in zip(binary_masks, condition_index, strict=True):
        if f > 0 and (f - 1) // 4 < frames - 1:
            for j, mask in enumerate(masks[: len(first)]):
                union[(f - 1) // 4, j] |= torch.as_tensor(np.asarray(mask) != 0)
    return ProbeResult(torch.zeros(0), first, union)
