"""Write the sampling goldens from a checkout of the official PoseAnything code (github Ryan-w2024/PoseAnything).

    python tools/release_goldens/sampling.py --official /path/to/PoseAnything [--out tests/release/goldens/sampling]

Needs, besides this project's [neural] extra: `einops` and `ftfy` (the official code imports them) and the
official checkout; nothing is downloaded and no weights are needed. The official code is imported from the
given path, never copied: only the modules the release's video pipeline needs are loaded (`diffsynth`'s
package `__init__` files, which import every model it knows, are skipped; `modelscope` and `torchvision`,
used there only to download files and by the CLIP image encoder, are stubbed).

What it writes (all float32 on the CPU, at a tiny size):

- `scheduler.npz`: FlowMatchScheduler(shift=5, sigma_min=0, extra_one_step=True), 50 steps: sigmas, timesteps.
- `sample_*.npz`: the release's `WanVideoPipeline.__call__` run end to end (its probe, union-mask loop, restart,
  PTC steps, first-frame re-imposition, Euler steps, seed-123 CPU noise, output conversion) with the
  deterministic stand-in DiT and VAE of `standin.py` instead of the 5B networks: every model call's
  latents and timestep, the probe's attention, the union masks, the final latents and the uint8 frames.
  `sample_derived`: attention computed from the probe's latents; `sample_given`: a given attention.
- `tiling.npz`: the release VAE's tiled encode and decode (34x34, stride 18x16, linear blend) with a
  stand-in per-tile network, on 40x40 latents (2x2 tiles). The release's tiling code takes its scale from
  `upsampling_factor`; it is set to 2 here instead of 16 so the golden stays small (80x80 pixels, not 640x640).
- `prompts.json`: the release prompter's cleaning on awkward prompts.

The official pipeline with its own (tiny, random) DiT and VAE classes, on a clip of the release's data/test,
is clips.py's (see there and docs/neural.md).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tools.release_goldens.standin import OfficialVAEStub, StandInModel, StandInVAE

CHANNELS = 4
HEIGHT, WIDTH = 128, 96  # latents 8x6, tokens 4x3
FRAMES = 81
TILING_FACTOR = 2
PROMPTS = [
    "  a cat\n\twalks  ",
    "Caf\u00c3\u00a9 &amp;amp; cr\u00c3\u00a8me",
    "&lt;b&gt;bold&lt;/b&gt; fish",
    "mixed\u00a0spaces\u2003and\u3000wide",
    "fullwidth \uff21\uff22\uff23",
    "don\u2019t \u201cquote\u201d",
    "",
    "\u3000",
    "tab\x0bvertical\x0cfeed",
    "ligature \ufb01sh",
]


class _Stub(types.ModuleType):
    """A module whose every attribute is another stub: enough for imports that are never used."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub(f"{self.__name__}.{name}")


def _bare_package(name: str, folder: Path) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = [str(folder)]
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__spec__.submodule_search_locations = [str(folder)]
    sys.modules[name] = module
    return module


def import_official(root: Path) -> types.SimpleNamespace:
    """The official modules the sampling goldens need, imported from the checkout at `root`."""
    package = root / "diffsynth"
    if not (package / "pipelines" / "wan_video_new.py").is_file():
        sys.exit(f"{root}: not a checkout of the official PoseAnything code (no diffsynth/pipelines/wan_video_new.py)")
    sys.path.insert(0, str(root))
    for name in ("modelscope", "torchvision", "torchvision.transforms", "torchvision.transforms.functional"):
        stub = _Stub(name)
        stub.__spec__ = importlib.machinery.ModuleSpec(name, None)
        stub.__path__ = []
        sys.modules.setdefault(name, stub)
    _bare_package("diffsynth", package)
    models = _bare_package("diffsynth.models", package / "models")
    models.ModelManager = models.load_state_dict = None
    manager = types.ModuleType("diffsynth.models.model_manager")
    manager.ModelManager = object
    sys.modules[manager.__name__] = manager
    prompters = _bare_package("diffsynth.prompters", package / "prompters")
    prompter = importlib.import_module("diffsynth.prompters.wan_prompter")
    prompters.WanPrompter = prompter.WanPrompter
    _bare_package("diffsynth.pipelines", package / "pipelines")
    return types.SimpleNamespace(
        pipeline=importlib.import_module("diffsynth.pipelines.wan_video_new"),
        scheduler=importlib.import_module("diffsynth.schedulers.flow_match"),
        vae=importlib.import_module("diffsynth.models.wan_video_vae"),
        prompter=prompter,
    )


def scheduler_goldens(official) -> dict[str, np.ndarray]:
    scheduler = official.scheduler.FlowMatchScheduler(shift=5, sigma_min=0.0, extra_one_step=True)
    scheduler.set_timesteps(50, denoising_strength=1.0, shift=5.0)
    return {"sigmas": scheduler.sigmas.numpy(), "timesteps": scheduler.timesteps.numpy()}


def make_masks(seed: int) -> tuple[list[list[np.ndarray]], list[int]]:
    """Part masks per conditioned frame as the release passes them (float32 0/1 on the token grid): awkward ones.

    Frames 30..37 have no pose; frames 12 and 50 have a pose but no parts; part counts vary from 1 to 4; some
    parts are empty (the release skips those comparisons).
    """
    rng = np.random.default_rng(seed)
    grid = (HEIGHT // 32, WIDTH // 32)
    index = [f for f in range(FRAMES) if not 30 <= f <= 37]
    masks = []
    for f in index:
        count = 0 if f in (12, 50) else 3 if f == 0 else int(rng.integers(1, 5))
        frame = [(rng.random(grid) < 0.4).astype(np.float32) for _ in range(count)]
        if count > 1 and f % 7 == 3:
            frame[-1][:] = 0
        masks.append(frame)
    return masks, index


def pack_masks(masks: list[list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Ragged masks -> (frames, most parts, h, w) float32 and the part count per frame."""
    most = max(len(m) for m in masks)
    h, w = masks[0][0].shape
    packed = np.zeros((len(masks), most, h, w), np.float32)
    for i, frame in enumerate(masks):
        for j, mask in enumerate(frame):
            packed[i, j] = mask
    return packed, np.array([len(m) for m in masks])


def first_image() -> Image.Image:
    y, x = np.mgrid[:HEIGHT, :WIDTH]
    picture = np.stack([x * 255 // WIDTH, y * 255 // HEIGHT, (x + y) % 256], -1).astype(np.uint8)
    return Image.fromarray(picture)


def sample_goldens(official, attention: torch.Tensor | None, seed: int) -> dict[str, np.ndarray]:
    """The release's __call__ with the stand-ins: every model call, the union masks, latents, frames."""
    wan = official.pipeline
    pipe = wan.WanVideoPipeline(device="cpu", torch_dtype=torch.float32)
    model, vae = StandInModel(CHANNELS), OfficialVAEStub(StandInVAE(CHANNELS))
    calls: list[dict] = []
    pipe.vae, pipe.audio_encoder = vae, None
    pipe.dit = types.SimpleNamespace(fuse_vae_embedding_in_latents=True)
    pipe.model_fn = model.official_model_fn(attention, calls)
    pipe.units = [
        wan.WanVideoUnit_ShapeChecker(),
        wan.WanVideoUnit_NoiseInitializer(),
        wan.WanVideoUnit_InputVideoEmbedder(),
        wan.WanVideoUnit_ImageEmbedderFused(),
    ]
    masks, index = make_masks(seed)
    black = Image.new("RGB", (WIDTH, HEIGHT))
    video = pipe(
        prompt="",
        input_image=first_image(),
        condition_images=[black] * FRAMES,
        condition_index=index,
        binary_masks=masks,
        num_inference_steps=50,
        cfg_scale=1.0,
        seed=123,
        height=HEIGHT,
        width=WIDTH,
        tiled=True,
        tile_size=(34, 34),
        tile_stride=(18, 16),
        progress_bar_cmd=lambda steps: steps,
    )
    probe = next(c for c in calls if c["check"])
    union = next(c["union_mask"] for c in calls if c["union_mask"] is not None)
    packed, counts = pack_masks(masks)
    return {
        "image": np.asarray(first_image()),
        "masks": packed,
        "mask_counts": counts,
        "condition_index": np.array(index),
        "call_latents": torch.stack([c["latents"][0] for c in calls]).numpy(),
        "call_timesteps": torch.stack([c["timestep"].reshape(()) for c in calls]).numpy(),
        "call_ptc": np.array([c["union_mask"] is not None for c in calls]),
        "attention": (model.attention(probe["latents"]) if attention is None else attention).numpy(),
        "union_masks": union.numpy(),
        "latents": vae.decoded[0].numpy(),
        "frames": np.stack([np.asarray(frame) for frame in video]),
    }


def tiling_goldens(official) -> dict[str, np.ndarray]:
    """The release VAE's tiled encode and decode on 40x40 latents (9 frames), scale 2, a stand-in per-tile network."""
    stand_in = StandInVAE(CHANNELS, seed=5, factor=TILING_FACTOR)
    vae = official.vae.WanVideoVAE38.__new__(official.vae.WanVideoVAE38)
    torch.nn.Module.__init__(vae)
    vae.upsampling_factor, vae.z_dim, vae.scale = TILING_FACTOR, CHANNELS, None
    vae.model = types.SimpleNamespace(
        encode=lambda x, scale: stand_in.encode_video(x), decode=lambda z, scale: stand_in.decode_latents(z)
    )
    g = torch.Generator().manual_seed(3)
    side = 40 * TILING_FACTOR
    video = torch.rand(3, 9, side, side, generator=g) * 2 - 1
    latents = torch.randn(1, CHANNELS, 3, 40, 40, generator=g)
    encoded = vae.encode([video], device="cpu", tiled=True, tile_size=(34, 34), tile_stride=(18, 16))
    decoded = vae.decode(latents, device="cpu", tiled=True, tile_size=(34, 34), tile_stride=(18, 16))
    return {"video": video.numpy(), "encoded": encoded.numpy(), "latents": latents.numpy(), "decoded": decoded.numpy()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", required=True, type=Path, help="a checkout of github Ryan-w2024/PoseAnything")
    default_out = Path(__file__).resolve().parents[2] / "tests/release/goldens/sampling"
    parser.add_argument("--out", type=Path, default=default_out, help="where the goldens go")
    args = parser.parse_args(argv)
    official = import_official(args.official.expanduser().resolve())
    torch.set_grad_enabled(False)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "scheduler.npz", **scheduler_goldens(official))
    np.savez_compressed(args.out / "sample_derived.npz", **sample_goldens(official, None, seed=1))
    g = torch.Generator().manual_seed(9)
    tokens = (HEIGHT // 32) * (WIDTH // 32)
    given = torch.softmax(torch.randn(1, 2, tokens, tokens * 21, generator=g) * 3, -1)
    np.savez_compressed(args.out / "sample_given.npz", **sample_goldens(official, given, seed=2))
    np.savez_compressed(args.out / "tiling.npz", **tiling_goldens(official))
    clean = official.prompter
    cleaned = {text: clean.whitespace_clean(clean.basic_clean(text)) for text in PROMPTS}
    (args.out / "prompts.json").write_text(json.dumps(cleaned, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote the sampling goldens to {args.out}")


if __name__ == "__main__":
    main()
