"""Our release path against the official pipeline on the release's own data/test clips: the same latents.

tools/release_goldens/clips.py ran the release's `test_ddp.process_single_sample` (its data glue and
`WanVideoPipeline.__call__`) on both clips of data/test/metadata.csv, from their files copied here to
tests/release/goldens/clips/data/, with its own `WanModel` (PTC, the probe at block 27) and `WanVideoVAE38` /
`VideoVAE38_` classes at a tiny width, every weight drawn from the tensor's name
(tools/release_goldens/standin.py), the prompt embeddings given, 6 steps. Here our side runs on the same
files (about 2 minutes of CPU per clip): `load_release_clip`, a model folder whose DiT loads through our
release loader and whose VAE is diffusers' AutoencoderKLWan, and `rendering.neural.render_release` (what
`render --release-clip` calls). In the clip run both VAEs have their two conv stacks swapped for the same
cheap stand-in (the real ones take minutes per tile at 832x448x81 on a CPU); `test_tiny_vae_...` checks the
real stacks through both sides' tiled encode and decode.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tools.release_goldens.clips import (
    FRAME_STRIDE,
    OUR_TRANSFORMER,
    OUR_VAE,
    PIXEL_STRIDE,
    STEPS,
    Z,
    vae_frames,
    vae_latents,
)
from tools.release_goldens.standin import (
    StandInVAEDecoder,
    StandInVAEEncoder,
    seeded_prompt,
    seeded_weight,
)

GOLDENS = Path(__file__).resolve().parents[1] / "release" / "goldens" / "clips"
CLIPS = ("EZwrDYL6YIw_69", "Og1-HBAendg_30")  # the rows of the release's data/test/metadata.csv


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDENS / f"{name}.npz") as data:
        return dict(data)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """(Wan2.2 model folder, release DiT file): the tiny configs of clips.py, every tensor seeded by its name."""
    from diffusers import AutoencoderKLWan
    from safetensors.torch import save_file

    from poseanything_studio.model.checks import read_config
    from poseanything_studio.model.release import release_config, release_layout
    from poseanything_studio.model.tiny import write_tiny_model

    root = write_tiny_model(tmp_path_factory.mktemp("clip") / "wan", checkpoint=False)
    config = read_config(root / "transformer" / "config.json") | OUR_TRANSFORMER
    (root / "transformer" / "config.json").write_text(json.dumps(config), encoding="utf-8")
    vae = AutoencoderKLWan(**OUR_VAE)
    vae.load_state_dict({n: seeded_weight(n, tuple(t.shape)) for n, t in vae.state_dict().items()}, strict=True)
    vae.save_pretrained(root / "vae", safe_serialization=True)
    layout = release_layout(release_config(config, pose_channels=Z))
    release = root.parent / "PoseAnything" / "diffusion_pytorch_model.safetensors"
    release.parent.mkdir()
    save_file({name: seeded_weight(name, shape).contiguous() for name, shape in layout.items()}, str(release))
    return root, release.parent


def test_the_vae_key_map_covers_diffusers_wan_vae_tensor_for_tensor():
    from diffusers import AutoencoderKLWan

    official = json.loads((GOLDENS / "vae_names.json").read_text(encoding="utf-8"))
    ours = {n: list(t.shape) for n, t in AutoencoderKLWan(**OUR_VAE).state_dict().items()}
    assert official == ours


def test_tiny_vae_encodes_and_decodes_as_the_releases_in_its_tiles(folders):
    """The real conv stacks, same weights: our release_encode / release_decode against the release's tiled ones."""
    from poseanything_studio.model.pipeline import PoseAnythingPipeline, _raw_vae_decode
    from poseanything_studio.model.release_sampling import tiled_decode

    pipe = PoseAnythingPipeline.from_pretrained(folders[0], folders[1], device="cpu")
    data = golden("vae")
    with torch.no_grad():
        encoded = pipe.release_encode(vae_frames())
        frames = pipe.release_decode(vae_latents())
        mean, inv_std = pipe.latent_stats(torch.device("cpu"))  # the float video before release_decode truncates
        decoded = tiled_decode(lambda tile: _raw_vae_decode(pipe.vae, tile / inv_std + mean), vae_latents())
    np.testing.assert_allclose(encoded.numpy(), data["encoded"], atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(decoded.numpy(), data["decoded"], atol=1e-5, rtol=1e-5)
    assert (np.abs(frames.astype(int) - data["frames"]) <= 1).all() and (frames == data["frames"]).mean() > 0.999
    assert np.abs(data["decoded"]).max() > 0.05 and np.abs(data["encoded"]).max() > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("name", CLIPS)
def test_a_release_clip_renders_to_the_official_pipelines_latents(folders, monkeypatch, name):
    """render_release on a clip of data/test: every model call, the union masks, the final latents, the frames."""
    from poseanything_studio.core.release import load_release_clip
    from poseanything_studio.rendering import neural
    from poseanything_studio.rendering.events import Frame
    from poseanything_studio.rendering.job import NeuralOptions

    data = golden(name)
    seen: dict[str, list] = {"calls": [], "latents": [], "parts": []}
    load = neural.load_pipeline

    def tiny_pipeline(*args, **kwargs):
        pipe = load(*args, **kwargs)
        pipe.vae.encoder, pipe.vae.decoder = StandInVAEEncoder(2 * Z), StandInVAEDecoder(Z)
        pipe.encode_prompt = lambda *_a, **_k: seeded_prompt()
        forward, probe, decode = pipe.transformer.forward, pipe.transformer.probe_attention, pipe.release_decode

        def recorded_forward(*a, release_parts=None, **k):
            latents = k["hidden_states"]
            seen["calls"].append(
                (
                    float(k["timestep"].max()),
                    release_parts is not None,
                    False,
                    float(latents.double().sum()),
                    float(latents.double().abs().sum()),
                )
            )
            if release_parts is not None:
                seen["parts"].append(release_parts.union_masks)
            return forward(*a, release_parts=release_parts, **k)

        def recorded_probe(*a, **k):
            latents = k["hidden_states"]
            seen["calls"].append(
                (
                    float(k["timestep"].max()),
                    False,
                    True,
                    float(latents.double().sum()),
                    float(latents.double().abs().sum()),
                )
            )
            return probe(*a, **k)

        pipe.transformer.forward, pipe.transformer.probe_attention = recorded_forward, recorded_probe
        pipe.release_decode = lambda latents: seen["latents"].append(latents.clone()) or decode(latents)
        return pipe

    monkeypatch.setattr(neural, "load_pipeline", tiny_pipeline)
    clip = load_release_clip(GOLDENS / "data" / name)
    np.testing.assert_array_equal(clip.condition_index, data["condition_index"])
    np.testing.assert_array_equal([len(m) for m in clip.binary_masks], data["part_counts"])
    options = NeuralOptions(model_dir=str(folders[0]), checkpoint=str(folders[1]), device="cpu")
    events = list(neural.render_release(clip, options, steps=STEPS))
    try:
        calls = np.array([c[:3] for c in seen["calls"]])
        assert len(calls) == len(data["call_timesteps"]) == 5 + 1 + STEPS
        np.testing.assert_allclose(calls[:, 0], data["call_timesteps"], rtol=1e-6)
        np.testing.assert_array_equal(calls[:, 1].astype(bool), data["call_ptc"])
        np.testing.assert_array_equal(calls[:, 2].astype(bool), data["call_probe"])
        sums = np.array([c[3:] for c in seen["calls"]])  # each call's latents: sum and sum of |x|
        np.testing.assert_allclose(sums, data["call_sums"], rtol=0, atol=1e-6 * data["call_sums"][:, 1].max())
        np.testing.assert_array_equal(seen["parts"][0].numpy(), data["union_masks"])
        assert data["union_masks"].any() and data["call_ptc"].sum() == STEPS
        np.testing.assert_allclose(seen["latents"][0].numpy(), data["latents"], atol=1e-5, rtol=1e-5)
    finally:
        neural.forget_loaded_pipeline()
    frames = np.stack([e.image for e in events if isinstance(e, Frame)])
    assert frames.shape == (81, 448, 832, 3)
    sampled = frames[::FRAME_STRIDE, ::PIXEL_STRIDE, ::PIXEL_STRIDE].astype(int)
    assert (np.abs(sampled - data["frames"]) <= 1).all() and (sampled == data["frames"]).mean() > 0.999
