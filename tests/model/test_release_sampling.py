"""Our sampling against the authors' release: goldens written from the official code (tools/release_goldens).

The goldens ran the release's own `WanVideoPipeline.__call__` (probe, union masks, restart, PTC steps, Euler,
seed-123 noise, output conversion) with the deterministic stand-ins of tools/release_goldens/standin.py in
place of the DiT and VAE; here our loop runs with the same stand-ins and must land on the same numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

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


# -- the pipeline's release path on the tiny model ---------------------------------------------------------------
# h20-dit's interface, stood in until its branch is merged: the transformer's forward takes `release_parts=`
# (ReleaseParts(first_masks, union_masks)) and `probe_attention(..., block_index=)` gives (B, heads, L0, L).
@dataclass(frozen=True)
class StandInReleaseParts:
    first_masks: torch.Tensor
    union_masks: torch.Tensor


class StandInRelease:
    """Wraps the tiny transformer's forward to take release_parts (nudging the output, so PTC's steps show) and
    adds probe_attention; every pass is recorded in `calls`."""

    def __init__(self, transformer):
        self.transformer = transformer
        self.calls: list[dict] = []
        self.plain_forward = transformer.forward
        transformer.forward = self.forward
        transformer.probe_attention = self.probe_attention

    def forward(self, hidden_states, timestep, encoder_hidden_states, pose_latents, release_parts=None,
                return_dict=True):
        self.calls.append({"kind": "ptc" if release_parts is not None else "plain", "timestep": timestep.clone(),
                           "pose": pose_latents.clone(), "text": encoder_hidden_states.clone()})
        out = self.plain_forward(hidden_states=hidden_states, timestep=timestep,
                                 encoder_hidden_states=encoder_hidden_states, pose_latents=pose_latents,
                                 return_dict=False)[0]
        if release_parts is not None:
            out = out + 0.1 * release_parts.union_masks.any(1).float().mean()
        return (out,)

    def probe_attention(self, hidden_states, timestep, encoder_hidden_states, pose_latents, block_index):
        self.calls.append({"kind": "probe", "block": block_index, "timestep": timestep.clone()})
        tokens = F.avg_pool3d(hidden_states.float(), (1, 2, 2))[0].flatten(1).T  # (L, C)
        first = hidden_states.shape[3] * hidden_states.shape[4] // 4
        return torch.softmax(tokens[:first] @ tokens.T, -1)[None, None].expand(1, 2, -1, -1)


@pytest.fixture
def release_pipe(tiny_dir, monkeypatch):
    from model.pipeline import PoseAnythingPipeline

    monkeypatch.setattr("model.transformer.ReleaseParts", StandInReleaseParts, raising=False)
    pipe = PoseAnythingPipeline.from_pretrained(tiny_dir, tiny_dir / "poseanything.safetensors", device="cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe.stand_in = StandInRelease(pipe.transformer)
    pipe.release_weights = True
    return pipe


def release_scene(height: int = 64, width: int = 96):
    """81 frames (the release's length): a bar moving right, poses on frames 0..59 only, black after; two parts."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pose = np.zeros((81, height, width, 3), np.uint8)
    index = list(range(60))
    masks = []
    for f in index:
        pose[f, 20:30, 10 + f // 2: 40 + f // 2] = 255
        left, right = np.zeros((height // 32, width // 32), bool), np.zeros((height // 32, width // 32), bool)
        left[:, : 1 + f // 40], right[:, 1 + f // 40:] = True, True
        masks.append([left, right])
    return image, pose, masks, index


def test_release_render_probes_then_restarts_with_ptc_on_its_first_six_steps(release_pipe):
    image, pose, masks, index = release_scene()
    seen = []

    def callback(p, step, _t, kwargs):
        seen.append((step, p.num_timesteps, kwargs["stage"], kwargs["release_parts"] is not None))

    out = release_pipe.release_call(image, pose, masks, index, prompt="a cat  walks", num_inference_steps=8,
                                    generator=torch.Generator("cpu").manual_seed(123), callback_on_step_end=callback,
                                    callback_on_step_end_tensor_inputs=("stage", "release_parts", "preview"))
    assert out.frames.shape == (1, 81, 64, 96, 3) and out.frames.dtype == np.uint8
    kinds = [c["kind"] for c in release_pipe.stand_in.calls]
    assert kinds == ["plain"] * 5 + ["probe"] + ["ptc"] * 6 + ["plain"] * 2  # guidance 1: one pass a step
    assert release_pipe.stand_in.calls[5]["block"] == 1  # block 27 of 30; the tiny model's last of 2
    assert [s[:2] for s in seen] == [(i, 13) for i in range(13)]  # progress counts the probe's 5 steps
    assert [s[2] for s in seen[:5]] == ["probe"] * 5 and {s[2] for s in seen[5:]} == {"steps"}
    assert not any(s[3] for s in seen[:5]) and all(s[3] for s in seen[5:])
    timesteps = ReleaseScheduler(8).timesteps
    first = release_pipe.stand_in.calls[0]["timestep"]
    assert (first[0, :6] == 0).all() and torch.allclose(first[0, 6:], timesteps[0].expand(120))  # image tokens: 0
    again = release_pipe.release_call(image, pose, masks, index, prompt="a cat walks", num_inference_steps=8,
                                      generator=torch.Generator("cpu").manual_seed(123))
    np.testing.assert_array_equal(out.frames, again.frames)  # the same seed, the same video


def test_release_render_without_part_masks_skips_the_probe(release_pipe):
    image, pose, _masks, index = release_scene()
    release_pipe.release_call(image, pose, None, index, num_inference_steps=4)
    assert [c["kind"] for c in release_pipe.stand_in.calls] == ["plain"] * 4
    assert release_pipe.num_timesteps == 4


def test_cancel_during_the_probe_stops_before_the_restart(release_pipe):
    from model.errors import PipelineInterrupted

    image, pose, masks, index = release_scene()

    def cancel_at_two(p, step, _t, _kwargs):
        if step == 2:
            p.interrupt = True

    with pytest.raises(PipelineInterrupted, match="probe"):
        release_pipe.release_call(image, pose, masks, index, num_inference_steps=8, callback_on_step_end=cancel_at_two)
    assert [c["kind"] for c in release_pipe.stand_in.calls] == ["plain"] * 3


def test_guidance_above_one_runs_the_negative_with_the_same_pose_or_the_camera(release_pipe):
    image, pose, _masks, index = release_scene()
    release_pipe.release_call(image, pose, None, index, num_inference_steps=2, guidance_scale=3.0)
    calls = release_pipe.stand_in.calls
    assert len(calls) == 4  # two passes a step
    torch.testing.assert_close(calls[0]["pose"], calls[1]["pose"])  # the release: pose_cfg off, the same pose
    assert not torch.equal(calls[0]["text"], calls[1]["text"])  # the release's negative prompt
    camera = np.zeros_like(pose)
    for f in range(81):
        camera[f, 8:56, 10 + f // 4] = 255
    calls.clear()
    release_pipe.release_call(image, pose, None, index, num_inference_steps=2, guidance_scale=3.0,
                              camera_frames=camera)
    assert not torch.equal(calls[0]["pose"], calls[1]["pose"])  # ours: the camera in the negative anchor


def test_release_prompt_is_cleaned_as_the_release_prompter_does(release_pipe, monkeypatch):
    prompts = []
    encode = release_pipe.encode_prompt
    monkeypatch.setattr(release_pipe, "encode_prompt",
                        lambda text, *a, **k: prompts.append(text) or encode(text, *a, **k))
    image, pose, _masks, index = release_scene()
    release_pipe.release_call(image, pose, None, index, prompt="a  cat &amp;amp; dog\n", num_inference_steps=1)
    assert prompts == ["a cat & dog"]
