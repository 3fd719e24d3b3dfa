"""Our sampling against the authors' release: goldens written from the official code by tools/release_goldens/sampling.py.

The goldens ran the release's own `WanVideoPipeline.__call__` (probe, union masks, restart, PTC steps, Euler,
seed-123 noise, output conversion) with the deterministic stand-ins of tools/release_goldens/standin.py in
place of the DiT and VAE; here our loop runs with the same stand-ins and must land on the same numbers.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model.release_sampling import (
    PTC_LAST_STEP,
    ReleaseScheduler,
    clean_prompt,
    release_sample,
    release_union_masks,
    tiled_decode,
    tiled_encode,
    video_to_uint8,
)
from tools.release_goldens.standin import StandInModel, StandInVAE

GOLDENS = Path(__file__).resolve().parents[1] / "release" / "goldens" / "sampling"


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDENS / name) as data:
        return dict(data)


def unpack_masks(data: dict) -> list[list[np.ndarray]]:
    return [list(frame[:count]) for frame, count in zip(data["masks"], data["mask_counts"], strict=True)]


def test_scheduler_sigmas_and_timesteps_are_the_releases():
    data = golden("scheduler.npz")
    scheduler = ReleaseScheduler()
    np.testing.assert_array_equal(scheduler.sigmas.numpy(), data["sigmas"])
    np.testing.assert_array_equal(scheduler.timesteps.numpy(), data["timesteps"])
    assert scheduler.sigmas[0] == 1 and len(scheduler.sigmas) == 50  # linspace(1, 0, 51)[:-1], shifted


@pytest.mark.parametrize("name", ["sample_derived.npz", "sample_given.npz"])
def test_union_masks_from_the_probes_attention_equal_the_releases(name):
    data = golden(name)
    grid = (21, data["masks"].shape[2], data["masks"].shape[3])
    first, union = release_union_masks(torch.from_numpy(data["attention"]), unpack_masks(data),
                                       data["condition_index"].tolist(), grid)
    np.testing.assert_array_equal(union.numpy(), data["union_masks"])
    np.testing.assert_array_equal(first.numpy(), data["masks"][0, :data["mask_counts"][0]] != 0)
    assert union[-1].any(), "latent frame 0's parts land in the last union mask (the release's l_i - 1 = -1)"


def run_ours(data: dict, given_attention: bool) -> tuple[torch.Tensor, list[torch.Tensor], list[bool]]:
    """Our release loop with the stand-ins, from the same seed-123 noise and first-frame latent."""
    model, vae = StandInModel(4), StandInVAE(4)
    image = torch.from_numpy(data["image"]).float().permute(2, 0, 1)[:, None] / 127.5 - 1  # (3, 1, H, W)
    first_frame = vae.encode_video(image[None])
    height, width = data["image"].shape[:2]
    noise = torch.randn((1, 4, 21, height // 16, width // 16), generator=torch.Generator("cpu").manual_seed(123))
    noise[:, :, 0:1] = first_frame
    seen, ptc = [], []

    def velocity(latents, t, parts):
        seen.append(latents.clone())
        ptc.append(parts is not None)
        first = None if parts is None else parts.first_masks
        return model.velocity(latents, t, first, None if parts is None else parts.union_masks)

    def probe(latents, t):
        seen.append(latents.clone())
        ptc.append(False)
        return torch.from_numpy(data["attention"]) if given_attention else model.attention(latents)

    latents = release_sample(velocity, probe, noise, first_frame, ReleaseScheduler(), unpack_masks(data),
                             data["condition_index"].tolist())
    return latents, seen, ptc


@pytest.mark.parametrize("name", ["sample_derived.npz", "sample_given.npz"])
def test_fifty_euler_steps_after_the_probe_land_on_the_releases_latents(name):
    data = golden(name)
    latents, seen, ptc = run_ours(data, given_attention=name == "sample_given.npz")
    assert len(seen) == len(data["call_latents"]) == 5 + 1 + 50  # 5 probe steps, the probe, 50 steps
    np.testing.assert_allclose(torch.stack(seen)[:, 0].numpy(), data["call_latents"], atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(ptc, data["call_ptc"])
    assert ptc.index(True) == 6 and sum(ptc) == PTC_LAST_STEP + 1  # PTC on steps 0..5 of the restart only
    np.testing.assert_allclose(latents[0].numpy(), data["latents"], atol=1e-5, rtol=1e-5)


def test_output_frames_truncate_as_the_release_does():
    data = golden("sample_derived.npz")
    video = StandInVAE(4).decode_latents(torch.from_numpy(data["latents"])[None]).clamp(-1, 1)
    frames = video_to_uint8(video)
    np.testing.assert_array_equal(frames, data["frames"])
    rounded = ((video[0].permute(1, 2, 3, 0) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    assert (rounded != frames).any(), "rounding would have given other frames: truncation is what is checked"


def test_tiled_vae_encode_and_decode_blend_as_the_releases():
    data = golden("tiling.npz")
    stand_in = StandInVAE(4, seed=5, factor=2)
    decoded = tiled_decode(stand_in.decode_latents, torch.from_numpy(data["latents"]), factor=2)
    np.testing.assert_allclose(decoded.numpy(), data["decoded"], atol=1e-5, rtol=1e-5)
    encoded = tiled_encode(stand_in.encode_video, torch.from_numpy(data["video"])[None], 4, factor=2)
    np.testing.assert_allclose(encoded.numpy(), data["encoded"], atol=1e-5, rtol=1e-5)
    whole = stand_in.decode_latents(torch.from_numpy(data["latents"])).clamp(-1, 1)
    assert (whole - decoded).abs().max() > 1e-3, "untiled decoding differs: the tiles' blend is what is checked"


def test_tiles_at_832x480_cover_every_pixel_with_weights_summing_to_one():
    ones = tiled_decode(lambda z: torch.ones(1, 3, z.shape[2] * 4 - 3, z.shape[3] * 16, z.shape[4] * 16),
                        torch.zeros(1, 48, 2, 30, 52))
    assert ones.shape == (1, 3, 5, 480, 832)
    torch.testing.assert_close(ones, torch.ones_like(ones))


def test_prompt_cleaning_is_the_release_prompters():
    cleaned = json.loads((GOLDENS / "prompts.json").read_text(encoding="utf-8"))
    assert {text: clean_prompt(text) for text in cleaned} == cleaned
