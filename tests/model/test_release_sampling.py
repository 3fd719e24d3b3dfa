"""Our sampling against the authors' release: goldens written from the official code (tools/release_goldens).

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

from poseanything_studio.model.release_sampling import (
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
    first, union = release_union_masks(
        torch.from_numpy(data["attention"]), unpack_masks(data), data["condition_index"].tolist(), grid
    )
    np.testing.assert_array_equal(union.numpy(), data["union_masks"])
    np.testing.assert_array_equal(first.numpy(), data["masks"][0, : data["mask_counts"][0]] != 0)
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

    latents = release_sample(
        velocity, probe, noise, first_frame, ReleaseScheduler(), unpack_masks(data), data["condition_index"].tolist()
    )
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
    ones = tiled_decode(
        lambda z: torch.ones(1, 3, z.shape[2] * 4 - 3, z.shape[3] * 16, z.shape[4] * 16), torch.zeros(1, 48, 2, 30, 52)
    )
    assert ones.shape == (1, 3, 5, 480, 832)
    torch.testing.assert_close(ones, torch.ones_like(ones))


def test_prompt_cleaning_is_the_release_prompters():
    cleaned = json.loads((GOLDENS / "prompts.json").read_text(encoding="utf-8"))
    assert {text: clean_prompt(text) for text in cleaned} == cleaned


# -- the pipeline's release path on the tiny model ---------------------------------------------------------------
@pytest.fixture(scope="module")
def release_checkpoint(tmp_path_factory, tiny_dir):
    """Random weights for the tiny model's transformer, saved in the release's own layout (two shards)."""
    from poseanything_studio.model.checks import read_config
    from poseanything_studio.model.release import release_config, write_release_checkpoint
    from poseanything_studio.model.transformer import PoseAnythingTransformer3DModel

    base = {k: v for k, v in read_config(tiny_dir / "transformer" / "config.json").items() if not k.startswith("_")}
    torch.manual_seed(5)
    model = PoseAnythingTransformer3DModel(**release_config(base))
    with torch.no_grad():
        for module in model.release_ptc_modules:  # PTC that changes something, so its steps show
            module.to_out.weight.normal_(std=0.5)
    folder = tmp_path_factory.mktemp("release") / "PoseAnything"
    write_release_checkpoint(model, folder)
    return folder


class Recorder:
    """Records every pass of the transformer (forward and probe_attention) and passes it on unchanged."""

    def __init__(self, transformer):
        self.calls: list[dict] = []
        self.forward, self.probe = transformer.forward, transformer.probe_attention
        transformer.forward, transformer.probe_attention = self.record_forward, self.record_probe

    def record_forward(self, *args, release_parts=None, **kwargs):
        self.calls.append(
            {
                "kind": "ptc" if release_parts is not None else "plain",
                "timestep": kwargs["timestep"].clone(),
                "pose": kwargs["pose_latents"].clone(),
                "text": kwargs["encoder_hidden_states"].clone(),
            }
        )
        return self.forward(*args, release_parts=release_parts, **kwargs)

    def record_probe(self, *args, block_index, **kwargs):
        self.calls.append({"kind": "probe", "block": block_index})
        return self.probe(*args, block_index=block_index, **kwargs)


@pytest.fixture
def release_pipe(tiny_dir, release_checkpoint):
    from poseanything_studio.model.pipeline import PoseAnythingPipeline

    pipe = PoseAnythingPipeline.from_pretrained(tiny_dir, release_checkpoint, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe.recorder = Recorder(pipe.transformer)
    return pipe


def test_the_official_weights_bring_the_releases_defaults(release_pipe, tiny_dir):
    from poseanything_studio.model.pipeline import OUR_DEFAULTS, RELEASE_DEFAULTS, PoseAnythingPipeline

    assert release_pipe.release_weights and release_pipe.defaults == RELEASE_DEFAULTS
    assert (RELEASE_DEFAULTS.steps, RELEASE_DEFAULTS.guidance, RELEASE_DEFAULTS.seed) == (50, 1.0, 123)
    ours = PoseAnythingPipeline.from_pretrained(tiny_dir, tiny_dir / "poseanything.safetensors", device="cpu")
    assert not ours.release_weights and ours.defaults == OUR_DEFAULTS
    assert (OUR_DEFAULTS.steps, OUR_DEFAULTS.guidance) == (30, 5.0)


def release_scene(height: int = 64, width: int = 96):
    """81 frames (the release's length): a bar moving right, poses on frames 0..59 only, black after; two parts."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pose = np.zeros((81, height, width, 3), np.uint8)
    index = list(range(60))
    masks = []
    for f in index:
        pose[f, 20:30, 10 + f // 2 : 40 + f // 2] = 255
        left, right = np.zeros((height // 32, width // 32), bool), np.zeros((height // 32, width // 32), bool)
        left[:, : 1 + f // 40], right[:, 1 + f // 40 :] = True, True
        masks.append([left, right])
    return image, pose, masks, index


def test_release_render_probes_then_restarts_with_ptc_on_its_first_six_steps(release_pipe):
    image, pose, masks, index = release_scene()
    seen = []

    def callback(p, step, _t, kwargs):
        seen.append((step, p.num_timesteps, kwargs["stage"], kwargs["release_parts"] is not None))

    out = release_pipe.release_call(
        image,
        pose,
        masks,
        index,
        prompt="a cat  walks",
        num_inference_steps=8,
        generator=torch.Generator("cpu").manual_seed(123),
        callback_on_step_end=callback,
        callback_on_step_end_tensor_inputs=("stage", "release_parts", "preview"),
    )
    assert out.frames.shape == (1, 81, 64, 96, 3) and out.frames.dtype == np.uint8
    kinds = [c["kind"] for c in release_pipe.recorder.calls]
    assert kinds == ["plain"] * 5 + ["probe"] + ["ptc"] * 6 + ["plain"] * 2  # guidance 1: one pass a step
    assert release_pipe.recorder.calls[5]["block"] == 1  # block 27 of 30; the tiny model's last of 2
    assert [s[:2] for s in seen] == [(i, 13) for i in range(13)]  # progress counts the probe's 5 steps
    assert [s[2] for s in seen[:5]] == ["probe"] * 5 and {s[2] for s in seen[5:]} == {"steps"}
    assert not any(s[3] for s in seen[:5]) and all(s[3] for s in seen[5:])
    timesteps = ReleaseScheduler(8).timesteps
    first = release_pipe.recorder.calls[0]["timestep"]
    assert (first[0, :6] == 0).all() and torch.allclose(first[0, 6:], timesteps[0].expand(120))  # image tokens: 0
    again = release_pipe.release_call(
        image,
        pose,
        masks,
        index,
        prompt="a cat walks",
        num_inference_steps=8,
        generator=torch.Generator("cpu").manual_seed(123),
    )
    np.testing.assert_array_equal(out.frames, again.frames)  # the same seed, the same video


def test_release_render_without_part_masks_skips_the_probe(release_pipe):
    image, pose, _masks, index = release_scene()
    release_pipe.release_call(image, pose, None, index, num_inference_steps=4)
    assert [c["kind"] for c in release_pipe.recorder.calls] == ["plain"] * 4
    assert release_pipe.num_timesteps == 4


def test_cancel_during_the_probe_stops_before_the_restart(release_pipe):
    from poseanything_studio.model.errors import PipelineInterrupted

    image, pose, masks, index = release_scene()

    def cancel_at_two(p, step, _t, _kwargs):
        if step == 2:
            p.interrupt = True

    with pytest.raises(PipelineInterrupted, match="probe"):
        release_pipe.release_call(image, pose, masks, index, num_inference_steps=8, callback_on_step_end=cancel_at_two)
    assert [c["kind"] for c in release_pipe.recorder.calls] == ["plain"] * 3


def test_guidance_above_one_runs_the_negative_with_the_same_pose_or_the_camera(release_pipe):
    image, pose, _masks, index = release_scene()
    release_pipe.release_call(image, pose, None, index, num_inference_steps=2, guidance_scale=3.0)
    calls = release_pipe.recorder.calls
    assert len(calls) == 4  # two passes a step
    torch.testing.assert_close(calls[0]["pose"], calls[1]["pose"])  # the release: pose_cfg off, the same pose
    assert not torch.equal(calls[0]["text"], calls[1]["text"])  # the release's negative prompt
    camera = np.zeros_like(pose)
    for f in range(81):
        camera[f, 8:56, 10 + f // 4] = 255
    calls.clear()
    release_pipe.release_call(image, pose, None, index, num_inference_steps=2, guidance_scale=3.0, camera_frames=camera)
    assert not torch.equal(calls[0]["pose"], calls[1]["pose"])  # ours: the camera in the negative anchor


def test_release_prompt_is_cleaned_as_the_release_prompter_does(release_pipe, monkeypatch):
    prompts = []
    encode = release_pipe.encode_prompt
    monkeypatch.setattr(
        release_pipe, "encode_prompt", lambda text, *a, **k: prompts.append(text) or encode(text, *a, **k)
    )
    image, pose, _masks, index = release_scene()
    release_pipe.release_call(image, pose, None, index, prompt="a  cat &amp;amp; dog\n", num_inference_steps=1)
    assert prompts == ["a cat & dog"]


# -- the renderer's release path (rendering.neural.render_release) -------------------------------------------------
def small_release_inputs():
    """ReleaseInputs as core.release makes them, by hand at 64x96 so the tiny model runs it in seconds."""
    from poseanything_studio.core.release import ReleaseFramePlan, ReleaseInputs
    from poseanything_studio.core.release_parts import ReleaseParts as ClipParts

    image, pose, masks, index = release_scene()
    plan = ReleaseFramePlan(tuple(float(i) if i < 60 else None for i in range(81)), 60, 24.0, "60 poses, 81 frames")
    return ReleaseInputs(
        name="bar",
        size=(96, 64),
        picture=image,
        pose_frames=pose,
        condition_index=tuple(index),
        parts=ClipParts(alpha=1, grid=(3, 2), binary_masks=tuple(tuple(m) for m in masks)),
        subject_mask=np.ones((64, 96), bool),
        mask_source="painted",
        plan=plan,
        prompt="a bar",
    )


def release_options(tiny_dir, checkpoint):
    from poseanything_studio.rendering.job import NeuralOptions

    return NeuralOptions(model_dir=str(tiny_dir), checkpoint=str(checkpoint), device="cpu")


def test_render_release_says_what_it_used_shows_parts_and_matching_and_keeps_the_plans_frames(
    tiny_dir, release_checkpoint
):
    from poseanything_studio.rendering.events import Frame, Notice, Preview, Progress
    from poseanything_studio.rendering.neural import render_release

    events = list(render_release(small_release_inputs(), release_options(tiny_dir, release_checkpoint), steps=6))
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert any("6 steps (yours)" in n and "guidance 1 (one pass)" in n and "seed 123" in n for n in notices)
    kinds = [e.kind for e in events if isinstance(e, Preview)]
    assert kinds.index("release_parts") < kinds.index("release_matching") and kinds.count("release_matching") == 1
    stepping = [(e.done, e.total, e.stage) for e in events if isinstance(e, Progress) and e.stage in ("probe", "steps")]
    assert stepping[-1] == (11, 11, "steps") and ("probe", 5) in {(s, d) for d, _, s in stepping}
    frames = [e for e in events if isinstance(e, Frame)]
    assert len(frames) == 60 and frames[0].image.shape == (64, 96, 3)  # the plan's 60 of the 81 rendered


def test_render_release_keys_a_camera_only_with_guidance_above_one(tiny_dir, release_checkpoint):
    from poseanything_studio.rendering.events import Notice
    from poseanything_studio.rendering.neural import CAMERA_NEEDS_GUIDANCE, render_release

    camera = np.zeros((81, 64, 96, 3), np.uint8)
    camera[:, 8:56, 40] = 255
    camera[40:, 8:56, 50] = 255
    options = release_options(tiny_dir, release_checkpoint)
    events = list(render_release(small_release_inputs(), options, steps=6, camera=camera))
    assert CAMERA_NEEDS_GUIDANCE in [e.text for e in events if isinstance(e, Notice)]
    events = list(render_release(small_release_inputs(), options, steps=6, guidance=3.0, camera=camera))
    assert CAMERA_NEEDS_GUIDANCE not in [e.text for e in events if isinstance(e, Notice)]


def test_cancel_during_the_probe_ends_the_release_render(tiny_dir, release_checkpoint):
    import threading

    from poseanything_studio.rendering.events import Frame, Progress, RenderCancelled
    from poseanything_studio.rendering.neural import render_release

    cancel = threading.Event()
    seen = []
    with pytest.raises(RenderCancelled):
        for event in render_release(
            small_release_inputs(), release_options(tiny_dir, release_checkpoint), steps=6, cancel=cancel
        ):
            seen.append(event)
            if isinstance(event, Progress) and event.stage == "probe" and event.done == 2:
                cancel.set()
    assert not any(isinstance(e, Frame) for e in seen)
    assert max(e.done for e in seen if isinstance(e, Progress) and e.stage in ("probe", "steps")) <= 4


def test_fewer_steps_than_the_probe_needs_is_one_clear_line(tiny_dir, release_checkpoint):
    from poseanything_studio.rendering.events import RenderError
    from poseanything_studio.rendering.neural import render_release

    with pytest.raises(RenderError, match="at least 6"):
        list(render_release(small_release_inputs(), release_options(tiny_dir, release_checkpoint), steps=5))


def test_identity_union_masks_put_each_pixel_frames_part_in_its_own_latent_frame():
    from poseanything_studio.model.release_sampling import identity_union_masks

    grid = (2, 3)
    masks = [[np.eye(2, 3, k=f % 3, dtype=bool), np.zeros(grid, bool)] for f in range(9)]
    parts = identity_union_masks(masks, list(range(9)), 3)
    np.testing.assert_array_equal(parts.first_masks[0].numpy(), masks[0][0])
    for k in range(2):  # latent frame k + 1 holds pixel frames 4k+1 .. 4k+4
        expected = np.any([masks[f][0] for f in range(4 * k + 1, 4 * k + 5)], 0)
        np.testing.assert_array_equal(parts.union_masks[k, 0].numpy(), expected)
    assert not parts.union_masks[:, 1].any()


def test_rig_parts_with_the_official_weights_follow_each_bone_by_identity(tmp_path):
    """--release-parts rig: one part per bone on the release's token grid, each latent frame its own bones' union."""
    from helpers import write_arm_project

    from poseanything_studio.core.project import load_project
    from poseanything_studio.core.release import ReleaseFramePlan, ReleaseInputs
    from poseanything_studio.core.release_parts import ReleaseParts as ClipParts
    from poseanything_studio.rendering.job import make_job
    from poseanything_studio.rendering.neural import rig_release_parts

    tip = [{"frame": 0, "xy": [180, 80], "interp": "linear"}, {"frame": 4, "xy": [120, 20], "interp": "linear"}]
    project = load_project(write_arm_project(tmp_path, tip_track=tip, frames=5, size=(256, 160)))
    job = make_job(project, renderer="poseanything")
    plan = ReleaseFramePlan(tuple(float(min(f, 4)) if f < 5 else None for f in range(81)), 5, 24.0, "5 of 81")
    inputs = ReleaseInputs(
        name="arm",
        size=(256, 160),
        picture=job.image[..., :3],
        pose_frames=np.zeros((81, 160, 256, 3), np.uint8),
        condition_index=tuple(range(5)),
        parts=ClipParts(1, (8, 5), ()),
        subject_mask=job.mask,
        mask_source="subject_mask",
        plan=plan,
    )
    binary, union = rig_release_parts(job, inputs)
    bones = len(project.rig.bones)
    assert len(binary) == 5 and all(len(frame) == bones for frame in binary)
    assert binary[0][0].shape == (5, 8) and any(m.any() for m in binary[0])
    assert union.shape == (20, bones, 5, 8)
    np.testing.assert_array_equal(union[0].numpy(), np.any([binary[f] for f in range(1, 5)], 0))  # frames 1..4
    assert not union[1:].any()  # no pose after frame 4: nothing to match
    assert not np.array_equal(binary[0][-1], binary[4][-1])  # the tip's bone moved with the tip


def test_a_release_clip_renders_through_the_command_line_with_the_official_weights(
    tiny_dir, release_checkpoint, tmp_path, monkeypatch, capsys
):
    """`render --release-clip` (h20-data's command) reaches our render_release; the clip is small here."""
    from poseanything_studio import commands
    from poseanything_studio.core import release

    monkeypatch.setattr(release, "load_release_clip", lambda path: small_release_inputs())
    out = tmp_path / "frames" / "f_%05d.png"
    code = commands.main(
        [
            "render",
            "--release-clip",
            str(tmp_path / "talk"),
            "--model-dir",
            str(tiny_dir),
            "--checkpoint",
            str(release_checkpoint),
            "--device",
            "cpu",
            "--steps",
            "6",
            "-o",
            str(out),
        ]
    )
    assert code == 0
    assert len(list((tmp_path / "frames").glob("f_*.png"))) == 60  # the plan's frames of the 81 rendered
    err = capsys.readouterr().err
    assert "6 steps (yours)" in err and "seed 123" in err


def test_refining_a_video_with_the_official_weights_starts_the_probe_and_ptc_at_its_step(release_pipe):
    """Ours (--init puppet): strength 0.5 of 12 steps starts at step 6; the probe and PTC's six steps move along."""
    image, pose, masks, index = release_scene()
    video = np.repeat(image[None], 81, 0)
    out = release_pipe.release_call(
        image,
        pose,
        masks,
        index,
        num_inference_steps=12,
        video=video,
        strength=0.5,
        generator=torch.Generator("cpu").manual_seed(123),
    )
    calls = release_pipe.recorder.calls
    assert [c["kind"] for c in calls] == ["plain"] * 5 + ["probe"] + ["ptc"] * 6
    assert release_pipe.num_timesteps == 11
    torch.testing.assert_close(calls[0]["timestep"][0, -1], ReleaseScheduler(12).timesteps[6])
    calls.clear()
    plain = release_pipe.release_call(
        image, pose, masks, index, num_inference_steps=12, generator=torch.Generator("cpu").manual_seed(123)
    )
    assert not np.array_equal(out.frames, plain.frames)  # the video was refined, not ignored


def test_a_project_with_init_puppet_refines_the_puppet_render_with_the_official_weights(
    tiny_dir, release_checkpoint, tmp_path, monkeypatch
):
    import threading

    from helpers import write_arm_project

    from poseanything_studio.core import release
    from poseanything_studio.core.project import load_project
    from poseanything_studio.rendering.events import Frame, Notice, Progress
    from poseanything_studio.rendering.job import NeuralOptions, make_job
    from poseanything_studio.rendering.neural import PoseAnythingRenderer

    monkeypatch.setattr(release, "release_inputs", lambda project, painted=None, **_size: small_release_inputs())
    project = load_project(write_arm_project(tmp_path, frames=5, size=(256, 160)))
    options = NeuralOptions(
        model_dir=str(tiny_dir), checkpoint=str(release_checkpoint), device="cpu", init="puppet", strength=0.5
    )
    job = make_job(project, renderer="poseanything", steps=12, neural=options)
    events = list(PoseAnythingRenderer().render(job, threading.Event()))
    stages = {e.stage for e in events if isinstance(e, Progress)}
    assert "puppet" in stages and "probe" in stages
    assert any("refining the puppet render" in e.text for e in events if isinstance(e, Notice))
    assert len([e for e in events if isinstance(e, Frame)]) == job.frames  # what the project asks for, not 81
