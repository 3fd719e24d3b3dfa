"""Write the DiT parity goldens from a checkout of the official PoseAnything code (a DiffSynth-Studio fork).

The official repository (github Ryan-w2024/PoseAnything) is not part of this project and none of its code is
copied here: this script imports it from the path given on the command line, builds its `WanModel` at a tiny
config, fills it with seeded random weights, and runs its own `model_fn_wan_video` three ways. What it writes to
`tests/release/goldens/` (each file well under 1 MB) is what `tests/model/test_release_dit.py` checks our
transformer against, loaded through our release loader (`model.release`):

- `dit/diffusion_pytorch_model-0000{1,2}-of-00002.safetensors`: the weights in the release's own layout
  (original-Wan key names, `blocks.N.cross_attn_instance.*` and `blocks.N.norm4`), bf16 like the release, split
  over two shards as the release is;
- `dit_io.safetensors`: the inputs (latents, pose latents, text context, timestep, part masks) and the official
  outputs: `out_plain` (no PTC), `out_ptc` (PTC with the given masks) and `probe` (block 27 re-applied with
  `check=True`: frame-0 queries' softmax attention over every key, [B, heads, L0, L]).

The tiny config keeps what the official code hard-codes: 21 latent frames (`CrossAttention_instance.forward` and
`SelfAttention.forward(check=True)` view the sequence as 21 frames) and at least 28 blocks (the probe returns at
`block_id == 27`); everything else is small (dim 24, 2 heads of 12, a 4x4 token grid per frame).

How to run it (CPU, a few seconds):

    git clone https://github.com/Ryan-w2024/PoseAnything /tmp/PoseAnything     # any checkout of the release
    python -m pip install --target /tmp/official-libs einops                 # the official code needs einops
    PYTHONPATH=/tmp/official-libs .venv/bin/python tools/release_goldens/dit.py /tmp/PoseAnything

Only `diffsynth/models/wan_video_dit.py` and `diffsynth/pipelines/wan_video_new.py` run; the packages'
`__init__` files and the pipeline module's heavy imports (modelscope, matplotlib, the other models) are replaced
by empty stand-ins, since `model_fn_wan_video` needs none of them. The official probe moves q/k/v to `cuda:0`
(`custom_scaled_dot_product_attention`); on a machine without CUDA that one device move is skipped and the same
function runs on the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import types
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

GOLDENS = Path(__file__).resolve().parents[2] / "tests" / "release" / "goldens"
# The official WanModel's arguments at the tiny size (Wan2.2-TI2V-5B's flags: per-token timesteps, frame 0 clean).
TINY_OFFICIAL_CONFIG = {
    "has_image_input": False,
    "patch_size": [1, 2, 2],
    "in_dim": 8,
    "dim": 24,
    "ffn_dim": 48,
    "freq_dim": 16,
    "text_dim": 16,
    "out_dim": 4,
    "num_heads": 2,
    "num_layers": 30,
    "eps": 1e-6,
    "seperated_timestep": True,
    "require_clip_embedding": False,
    "require_vae_embedding": False,
    "fuse_vae_embedding_in_latents": True,
}
FRAMES, LATENT_H, LATENT_W, PARTS, TEXT_TOKENS = 21, 8, 8, 3, 8
TIMESTEP = 734.5
SEED = 20


class _Stub(types.ModuleType):
    """A stand-in module: any attribute is a placeholder class (for imports model_fn_wan_video never uses)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return type(name, (), {"__init__": lambda self, *args, **kwargs: None})


def import_official(root: Path) -> tuple[types.ModuleType, types.ModuleType]:
    """The official `wan_video_dit` and `wan_video_new` modules, imported from `root` without their packages."""
    for name in ("diffsynth", "diffsynth.models", "diffsynth.pipelines"):
        package = types.ModuleType(name)
        package.__path__ = [str(root / name.replace(".", "/"))]
        sys.modules[name] = package
    dit = importlib.import_module("diffsynth.models.wan_video_dit")
    for name in (
        "modelscope",
        "matplotlib",
        "matplotlib.pyplot",
        "diffsynth.utils",
        "diffsynth.prompters",
        "diffsynth.lora",
        "diffsynth.vram_management",
        "diffsynth.schedulers",
        "diffsynth.schedulers.flow_match",
        "diffsynth.models.wan_video_dit_s2v",
        "diffsynth.models.wan_video_text_encoder",
        "diffsynth.models.wan_video_vae",
        "diffsynth.models.wan_video_image_encoder",
        "diffsynth.models.wan_video_vace",
        "diffsynth.models.wan_video_motion_controller",
    ):
        sys.modules.setdefault(name, _Stub(name))
    sys.modules["diffsynth.models"].__dict__.update(ModelManager=object, load_state_dict=None)
    new = importlib.import_module("diffsynth.pipelines.wan_video_new")
    return dit, new


@contextlib.contextmanager
def cpu_probe(dit: types.ModuleType):
    """Run the official probe's attention on the CPU when there is no CUDA: its `.to("cuda:0")` becomes a no-op."""
    if torch.cuda.is_available():
        yield
        return
    original = dit.custom_scaled_dot_product_attention
    to = torch.Tensor.to

    def on_cpu(q, k, v):
        torch.Tensor.to = lambda self, *args, **kwargs: (
            self if args and isinstance(args[0], torch.device) else to(self, *args, **kwargs)
        )
        try:
            return original(q, k, v)
        finally:
            torch.Tensor.to = to

    dit.custom_scaled_dot_product_attention = on_cpu
    try:
        yield
    finally:
        dit.custom_scaled_dot_product_attention = original


def random_weights(model: torch.nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Every tensor random (norm weights near 1, norm biases near 0), rounded to bf16 as the release stores them."""
    state = {}
    for name, tensor in model.state_dict().items():
        noise = torch.randn(tensor.shape, generator=generator)
        if "norm" in name and name.endswith(".weight"):
            value = 1 + 0.2 * noise
        elif tensor.ndim <= 1:
            value = 0.1 * noise
        else:
            fan_in = int(np.prod(tensor.shape[1:])) if tensor.ndim > 1 else 1
            value = noise / max(fan_in, 1) ** 0.5 if "modulation" not in name else noise / tensor.shape[-1] ** 0.5
        state[name] = value.to(torch.bfloat16)
    return state


def random_masks(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Part masks on the token grid: first [P, h, w] (each part non-empty) and union [F-1, P, h, w]."""
    h, w = LATENT_H // 2, LATENT_W // 2
    first = torch.rand(PARTS, h, w, generator=generator) < 0.4
    first[torch.arange(PARTS), torch.arange(PARTS), torch.arange(PARTS)] = True
    union = torch.rand(FRAMES - 1, PARTS, h, w, generator=generator) < 0.35
    union[3] = False  # a later frame with no matched part at all
    return first, union


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("official", type=Path, help="a checkout of the official PoseAnything repository")
    parser.add_argument("--out", type=Path, default=GOLDENS, help="where the goldens go (default: %(default)s)")
    args = parser.parse_args(argv)
    dit, new = import_official(args.official.resolve())
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED)
    model = dit.WanModel(**TINY_OFFICIAL_CONFIG).eval()
    weights = random_weights(model, generator)
    model.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)

    channels = TINY_OFFICIAL_CONFIG["out_dim"]
    latents = torch.randn(1, channels, FRAMES, LATENT_H, LATENT_W, generator=generator)
    pose = torch.randn(1, channels, FRAMES, LATENT_H, LATENT_W, generator=generator)
    context = torch.randn(1, TEXT_TOKENS, TINY_OFFICIAL_CONFIG["text_dim"], generator=generator)
    timestep = torch.tensor([TIMESTEP])
    first, union = random_masks(generator)
    common = {
        "dit": model,
        "latents": latents,
        "timestep": timestep,
        "context": context,
        "condition_emb": pose,
        "fuse_vae_embedding_in_latents": True,
    }
    with torch.no_grad():
        out_plain = new.model_fn_wan_video(**common)
        out_ptc = new.model_fn_wan_video(**common, union_mask=union, first_masks=[m.numpy() for m in first])
        with cpu_probe(dit):
            probe = new.model_fn_wan_video(**common, check=True)

    folder = args.out / "dit"
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(weights)
    half = len(names) // 2
    for index, part in enumerate((names[:half], names[half:]), start=1):
        save_file(
            {k: weights[k].contiguous() for k in part},
            str(folder / f"diffusion_pytorch_model-{index:05d}-of-00002.safetensors"),
            metadata={"format": "pt"},
        )
    io = {
        "latents": latents,
        "pose_latents": pose,
        "context": context,
        "timestep": timestep,
        "first_masks": first,
        "union_masks": union,
        "out_plain": out_plain,
        "out_ptc": out_ptc,
        "probe": probe.float(),
    }
    save_file(
        {k: v.contiguous() for k, v in io.items()},
        str(args.out / "dit_io.safetensors"),
        metadata={"config": repr(TINY_OFFICIAL_CONFIG)},
    )
    print(
        f"wrote {folder} ({len(weights)} tensors) and {args.out / 'dit_io.safetensors'}: "
        f"out {tuple(out_plain.shape)}, probe {tuple(probe.shape)}, "
        f"PTC changed the output by {float((out_ptc - out_plain).abs().max()):.3g}"
    )


if __name__ == "__main__":
    main()
