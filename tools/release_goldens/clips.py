"""Write the clip goldens: the official pipeline end to end on the release's own data/test clips, tiny and random.

    PYTHONPATH=/tmp/official-libs .venv/bin/python tools/release_goldens/clips.py --official /path/to/PoseAnything

(`/tmp/official-libs`: `pip install --no-deps --target /tmp/official-libs torchvision`, which the release's
`data_utils` imports; `einops` and `ftfy` as for sampling.py. CPU only, nothing downloaded, no weights. Each
clip: 12 DiT passes, about 2 minutes of CPU; 648 s of wall time on a shared 2-core VM at load 10.)

The official code is imported from the checkout, never copied. For each clip (default: both rows of
data/test/metadata.csv, EZwrDYL6YIw_69 and Og1-HBAendg_30) the release's own
`test_ddp.process_single_sample` runs on the clip's files in the release layout: its `VideoGenDataset` row,
`crop_and_resize`, `load_condition_image`, `calculate_needed_dilation`, `segment_skeleton` and mask resizing,
then `WanVideoPipeline.__call__` with test_ddp's arguments (seed 123, CFG 1, tiles 34x34 stride 18x16, the
probe and restart, PTC). What is tiny or replaced, and why:

- the DiT is the release's own `WanModel` class with PTC at a tiny config (`OFFICIAL_DIT`: 28 blocks, the
  fewest the probe at block 27 allows; dim 6, one head), every tensor from `standin.seeded_weight(name)`, so
  the test builds the same weights from the names and loads them through our release loader;
- the VAE is the release's own `WanVideoVAE38` wrapper and `VideoVAE38_` at a tiny width (`TINY_VAE`: the
  wrapper hard-codes a decoder width of 256, so the model is built with the same class and a small one), its
  weights from the diffusers names (`diffusers_vae_name`, the renames of diffusers'
  `scripts/convert_wan_to_diffusers.py` `convert_vae_22`) so diffusers' AutoencoderKLWan gets the same
  ones; the two conv stacks inside it (encoder, decoder) are `standin.StandInVAEEncoder/Decoder` in the
  clip run, because even at width 4 the real stacks take 89 s per 34x34 tile of 81 frames on this CPU
  (the clips are 832x448: 3 tiles per encode, and the decode): patchify, chunking, the quant convs, the
  latent normalisation, the tiling and blend all run for real. `vae.npz` checks the real stacks instead, on a
  small video (5 frames, 64x64), through both sides' tiled encode and decode;
- the prompt embedder unit gives `standin.seeded_prompt()` (umT5-XXL cannot be made tiny: its text encoder
  and tokenizer load only from the release's files);
- `num_inference_steps` is `STEPS` (6, the fewest the probe allows: 5 steps, the probe, 6 steps with PTC)
  instead of test_ddp's 50: each DiT pass over the clip's 21 x 14 x 26 = 7644 tokens takes about 10 s of CPU here.
  The 50-step loop itself is checked with stand-ins by sampling.py.

What it writes to `tests/release/goldens/clips/` (about 3.5 MB):

- `data/`: the clips' files copied byte for byte in the release's layout (the metadata row, the first frame,
  the id image, the pose images of frames below 81: the only ones test_ddp reads);
- `NAME.npz`: the final latents (1, 8, 21, 28, 52) float32 (before the decode), the union masks, each model
  call's timestep, PTC or probe flag and latent sums, every 20th output frame at every 4th pixel (uint8), the
  glue's condition index and part counts per frame;
- `vae_names.json`: the tiny VideoVAE38_'s tensors under their diffusers names, with shapes;
- `vae.npz`: with the real tiny `VideoVAE38_`, the official pipeline's preprocess_video and tiled encode of a
  seeded 5-frame 64x64 uint8 video, and its tiled decode of seeded latents, as floats and as uint8 frames.

`tests/model/test_release_clips.py` runs our side on the same files: `core.release.load_release_clip`, our
pipeline from a model folder (the DiT through `model.release`'s loader, diffusers' VAE), `render_release`.
To add a clip: `--clips NAME...` rewrites data/metadata.csv with those rows only, so name them all.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import re
import shutil
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from poseanything_studio.model.tiny import TINY_VAE_CONFIG
from tools.release_goldens.standin import StandInVAEDecoder, StandInVAEEncoder, seeded, seeded_prompt, seeded_weight

OUT = Path(__file__).resolve().parents[2] / "tests" / "release" / "goldens" / "clips"
CLIPS = ("EZwrDYL6YIw_69", "Og1-HBAendg_30")  # the clips of data/test/metadata.csv
STEPS = 6
Z = 8
# The release's WanModel at the tiny size (Wan2.2-TI2V-5B's flags); in_dim = video latent + pose latent.
OFFICIAL_DIT = {
    "has_image_input": False,
    "patch_size": [1, 2, 2],
    "in_dim": 2 * Z,
    "dim": 6,
    "ffn_dim": 12,
    "freq_dim": 16,
    "text_dim": 16,
    "out_dim": Z,
    "num_heads": 1,
    "num_layers": 28,
    "eps": 1e-6,
    "seperated_timestep": True,
    "require_clip_embedding": False,
    "require_vae_embedding": False,
    "fuse_vae_embedding_in_latents": True,
}
# The same model in our (diffusers) transformer config, as a Wan2.2 folder's transformer/config.json holds it.
OUR_TRANSFORMER = {
    "patch_size": [1, 2, 2],
    "num_attention_heads": 1,
    "attention_head_dim": 6,
    "in_channels": Z,
    "out_channels": Z,
    "text_dim": 16,
    "freq_dim": 16,
    "ffn_dim": 12,
    "num_layers": 28,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
# The first 8 of Wan2.2's 48 latent means and stds (WanVideoVAE38, and diffusers' Wan2.2 VAE config).
LATENT_MEAN = [-0.2289, -0.0052, -0.1323, -0.2339, -0.2799, 0.0174, 0.1838, 0.1557]
LATENT_STD = [0.4765, 1.0364, 0.4514, 1.1677, 0.5313, 0.4990, 0.4818, 0.5013]
TINY_VAE = {"dim": 4, "dec_dim": 4, "z_dim": Z, "dim_mult": [1, 2, 2, 2], "num_res_blocks": 1}  # VideoVAE38_
OUR_VAE = {  # the same in diffusers' AutoencoderKLWan: the tiny model's Wan2.2 layout at this width
    **TINY_VAE_CONFIG,
    "base_dim": 4,
    "decoder_base_dim": 4,
    "z_dim": Z,
    "latents_mean": LATENT_MEAN,
    "latents_std": LATENT_STD,
}
FRAME_STRIDE, PIXEL_STRIDE = 20, 4
VAE_VIDEO = (5, 64, 64)  # frames, height, width of vae.npz


# -- the VAE's names: the release's -> diffusers' (diffusers' convert_vae_22, as renames) -------------------------
_VAE_FIXED = {
    "conv1.weight": "quant_conv.weight",
    "conv1.bias": "quant_conv.bias",
    "conv2.weight": "post_quant_conv.weight",
    "conv2.bias": "post_quant_conv.bias",
    "encoder.conv1.weight": "encoder.conv_in.weight",
    "encoder.conv1.bias": "encoder.conv_in.bias",
    "decoder.conv1.weight": "decoder.conv_in.weight",
    "decoder.conv1.bias": "decoder.conv_in.bias",
    "encoder.head.0.gamma": "encoder.norm_out.gamma",
    "encoder.head.2.weight": "encoder.conv_out.weight",
    "encoder.head.2.bias": "encoder.conv_out.bias",
    "decoder.head.0.gamma": "decoder.norm_out.gamma",
    "decoder.head.2.weight": "decoder.conv_out.weight",
    "decoder.head.2.bias": "decoder.conv_out.bias",
}
_RESIDUAL = {
    "residual.0.gamma": "norm1.gamma",
    "residual.2.weight": "conv1.weight",
    "residual.2.bias": "conv1.bias",
    "residual.3.gamma": "norm2.gamma",
    "residual.6.weight": "conv2.weight",
    "residual.6.bias": "conv2.bias",
    "shortcut.weight": "conv_shortcut.weight",
    "shortcut.bias": "conv_shortcut.bias",
}


def diffusers_vae_name(name: str) -> str:
    """A tensor name of the release's VideoVAE38_ -> the same tensor's name in diffusers' AutoencoderKLWan."""
    if name in _VAE_FIXED:
        return _VAE_FIXED[name]
    middle = re.match(r"^(encoder|decoder)\.middle\.(\d)\.(.+)$", name)
    if middle:
        side, index, rest = middle.groups()
        if index == "1":
            return f"{side}.mid_block.attentions.0.{rest}"
        return f"{side}.mid_block.resnets.{int(index) // 2}.{_RESIDUAL[rest]}"
    block = re.match(r"^(encoder\.downsamples|decoder\.upsamples)\.(\d+)\.(downsamples|upsamples)\.(\d+)\.(.+)$", name)
    if block:
        stack, index, inner, _layer, rest = block.groups()
        blocks = "encoder.down_blocks" if stack.startswith("encoder") else "decoder.up_blocks"
        if rest in _RESIDUAL:
            return f"{blocks}.{index}.resnets.{_layer}.{_RESIDUAL[rest]}"
        sampler = "downsampler" if inner == "downsamples" else "upsampler"
        return f"{blocks}.{index}.{sampler}.{rest}"
    return name


# -- the official side --------------------------------------------------------------------------------------------
def load_official(root: Path) -> types.SimpleNamespace:
    """The official modules (sampling.py's import), its data_utils (parts.py's) and test_ddp, from the checkout."""
    from tools.release_goldens import dit, parts, sampling

    official = sampling.import_official(root)  # stubs torchvision, which data_utils needs for real:
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    data_utils = parts.import_data_utils(root)
    if sys.modules["torchvision"].__spec__ is None:  # parts.py's bare package: transformers asks for its spec
        sys.modules["torchvision"].__spec__ = importlib.machinery.ModuleSpec("torchvision", None, is_package=True)
    official.dit = sys.modules["diffsynth.models.wan_video_dit"]
    official.cpu_probe = lambda: dit.cpu_probe(official.dit)
    official.data_utils = data_utils
    sys.modules["data_utils"] = official.data_utils
    sys.modules["diffsynth"].save_video = None  # test_ddp's import; replaced per clip below
    path = root / "examples" / "wanvideo" / "model_inference" / "test_ddp.py"
    spec = importlib.util.spec_from_file_location("release_test_ddp", path)
    official.test_ddp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official.test_ddp)
    return official


def official_dit(official) -> torch.nn.Module:
    model = official.dit.WanModel(**OFFICIAL_DIT).eval()
    model.load_state_dict({n: seeded_weight(n, t.shape) for n, t in model.state_dict().items()}, strict=True)
    return model


def official_vae(official, stand_ins: bool) -> torch.nn.Module:
    """WanVideoVAE38 as its __init__ builds it, with VideoVAE38_ at TINY_VAE and the first Z means and stds."""
    wrapper = official.vae.WanVideoVAE38.__new__(official.vae.WanVideoVAE38)
    torch.nn.Module.__init__(wrapper)
    wrapper.mean, wrapper.std = torch.tensor(LATENT_MEAN), torch.tensor(LATENT_STD)
    wrapper.scale = [wrapper.mean, 1.0 / wrapper.std]
    wrapper.model = official.vae.VideoVAE38_(**TINY_VAE).eval().requires_grad_(False)
    wrapper.upsampling_factor, wrapper.z_dim = 16, Z
    state = wrapper.model.state_dict()
    wrapper.model.load_state_dict({n: seeded_weight(diffusers_vae_name(n), t.shape) for n, t in state.items()})
    if stand_ins:
        wrapper.model.encoder, wrapper.model.decoder = StandInVAEEncoder(2 * Z), StandInVAEDecoder(Z)
    return wrapper


def vae_names(official) -> dict[str, list[int]]:
    """The tiny VideoVAE38_'s tensors by their diffusers names, with shapes: the test checks them against ours."""
    state = official.vae.VideoVAE38_(**TINY_VAE).state_dict()
    names = {diffusers_vae_name(n): list(t.shape) for n, t in state.items()}
    if len(names) != len(state):
        raise SystemExit("VAE key map: two release names land on one diffusers name")
    return names


def run_clip(official, data: Path, name: str) -> dict[str, np.ndarray]:
    """test_ddp.process_single_sample on one clip with the tiny pipeline; what it computed."""
    wan = official.pipeline
    pipe = wan.WanVideoPipeline(device="cpu", torch_dtype=torch.float32)
    pipe.dit, pipe.vae, pipe.audio_encoder = official_dit(official), official_vae(official, True), None
    prompt = seeded_prompt()

    class GivenPrompt(wan.PipelineUnit):
        def __init__(self):
            super().__init__(
                seperate_cfg=True,
                input_params_posi={"prompt": "prompt"},
                input_params_nega={"prompt": "negative_prompt"},
            )

        def process(self, pipe, prompt_text=None, **_):
            return {"context": prompt.clone()}

    pipe.units = [GivenPrompt() if isinstance(u, wan.WanVideoUnit_PromptEmbedder) else u for u in pipe.units]
    calls, decoded, saved, failed, glue = [], [], [], [], {}
    model_fn = pipe.model_fn

    def recording_model_fn(**kwargs):
        out = model_fn(**kwargs)
        latents = kwargs["latents"]
        calls.append(
            {
                "timestep": float(kwargs["timestep"].reshape(-1)[0]),
                "check": bool(kwargs.get("check")),
                "ptc": kwargs.get("union_mask") is not None,
                "sum": float(latents.double().sum()),
                "abs": float(latents.double().abs().sum()),
                "union": kwargs.get("union_mask"),
            }
        )
        return out

    pipe.model_fn = recording_model_fn
    decode = pipe.vae.decode
    pipe.vae.decode = lambda latents, **kw: decoded.append(latents.clone()) or decode(latents, **kw)

    def call(**kwargs):
        glue.update(binary_masks=kwargs["binary_masks"], condition_index=kwargs["condition_index"])
        try:
            return pipe(**(kwargs | {"num_inference_steps": STEPS, "progress_bar_cmd": lambda steps: steps}))
        except Exception as err:  # process_single_sample swallows it: keep it to raise here
            failed.append(err)
            raise

    official.test_ddp.save_video = lambda video, path, fps, quality: saved.append(video)
    dataset = official.data_utils.VideoGenDataset(str(data), str(data / "metadata.csv"), "/nonexistent-output")
    row = next(i for i, r in enumerate(dataset.data) if r["file_name"] == name)
    batch = torch.utils.data.default_collate([dataset[row]])
    started = time.perf_counter()
    with official.cpu_probe():
        official.test_ddp.process_single_sample(str(data), batch, call, "cpu", 0, 832)
    if failed or not saved:
        raise SystemExit(f"{name}: the official pipeline failed: {failed[0] if failed else 'no video'!r}")
    seconds = time.perf_counter() - started
    union = next(c["union"] for c in calls if c["union"] is not None)
    frames = np.stack([np.asarray(f) for f in saved[0][::FRAME_STRIDE]])[:, ::PIXEL_STRIDE, ::PIXEL_STRIDE]
    print(f"{name}: {len(calls)} model calls in {seconds:.0f} s, latents {tuple(decoded[0].shape)}")
    return {
        "latents": decoded[0].numpy(),
        "union_masks": union.numpy(),
        "call_timesteps": np.array([c["timestep"] for c in calls], np.float32),
        "call_ptc": np.array([c["ptc"] for c in calls]),
        "call_probe": np.array([c["check"] for c in calls]),
        "call_sums": np.array([[c["sum"], c["abs"]] for c in calls]),
        "frames": frames,
        "condition_index": np.array(glue["condition_index"]),
        "part_counts": np.array([len(m) for m in glue["binary_masks"]]),
        "seconds": np.array(seconds),
    }


def copy_clips(source: Path, out: Path, names: list[str]) -> None:
    """The clips' files test_ddp reads, byte for byte, in the release layout (metadata: its header and their rows)."""
    lines = (source / "metadata.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    rows = [line for line in lines[1:] if line.split(",", 1)[0] in names]
    out.mkdir(parents=True, exist_ok=True)
    (out / "metadata.csv").write_text(lines[0] + "".join(rows), encoding="utf-8")
    for row in rows:
        name = row.split(",", 1)[0]
        index = [int(i) for i in re.findall(r"\d+", row.rsplit('"[', 1)[1])]
        for relative in (
            f"first_frame/{name}.png",
            f"video/{name}_id.png",
            *(f"skeleton_image/{name}/{i:03d}.png" for i in index if i < 81),
        ):
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / relative, out / relative)


def vae_frames() -> np.ndarray:
    """The seeded uint8 video (frames, height, width, 3) both sides encode in vae.npz."""
    frames, height, width = VAE_VIDEO
    values = (seeded("vae video", (frames, height, width, 3)).tanh() + 1) * 127.5
    return values.clamp(0, 255).to(torch.uint8).numpy()


def vae_latents() -> torch.Tensor:
    frames, height, width = VAE_VIDEO
    return seeded("vae latents", (1, Z, (frames + 3) // 4, height // 16, width // 16))


def vae_goldens(official) -> dict[str, np.ndarray]:
    """The real tiny VideoVAE38_ in the official pipeline's steps: preprocess_video, tiled encode; tiled decode,
    vae_output_to_video."""
    from PIL import Image

    pipe = official.pipeline.WanVideoPipeline(device="cpu", torch_dtype=torch.float32)
    pipe.vae = official_vae(official, stand_ins=False)
    tiles = {"tiled": True, "tile_size": (34, 34), "tile_stride": (18, 16)}
    video = pipe.preprocess_video([Image.fromarray(frame) for frame in vae_frames()])
    decoded = pipe.vae.decode(vae_latents(), device="cpu", **tiles)
    return {
        "encoded": pipe.vae.encode(video, device="cpu", **tiles).numpy(),
        "decoded": decoded.numpy(),
        "frames": np.stack([np.asarray(frame) for frame in pipe.vae_output_to_video(decoded)]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, type=Path, help="a checkout of github Ryan-w2024/PoseAnything")
    parser.add_argument("--out", type=Path, default=OUT, help="where the goldens go (default: %(default)s)")
    parser.add_argument(
        "--clips",
        nargs="*",
        default=list(CLIPS),
        help="clips of data/test (default: %(default)s; none: only the VAE goldens)",
    )
    args = parser.parse_args(argv)
    root = args.official.expanduser().resolve()
    official = load_official(root)
    torch.set_grad_enabled(False)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vae_names.json").write_text(json.dumps(vae_names(official), indent=0) + "\n", encoding="utf-8")
    np.savez_compressed(args.out / "vae.npz", **vae_goldens(official))
    if args.clips:
        copy_clips(root / "data" / "test", args.out / "data", args.clips)
    for name in args.clips:
        np.savez_compressed(args.out / f"{name}.npz", **run_clip(official, args.out / "data", name))
    print(f"wrote the clip goldens to {args.out}")


if __name__ == "__main__":
    main()
