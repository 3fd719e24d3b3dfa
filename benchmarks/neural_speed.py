"""The poseanything renderer at real size on a CUDA GPU: step times, PTCM overhead, peak memory, offload.

    python benchmarks/neural_speed.py [--sizes 832x480x49 1280x704x121] [--budget 380] [--log FILE]
    python benchmarks/neural_speed.py --tiny        # the same stages on the CPU at a toy size (a smoke test)
    python benchmarks/neural_speed.py --release [--tiny]   # the official weights' configuration (see below)

Builds Wan2.2-TI2V-5B-sized components with random weights in GPU memory (no weights needed; speed and
memory do not depend on weight values): the transformer from the published config with our pose half and
PTCM (6,133,392,576 parameters, bf16, fp32 where diffusers keeps it), a umT5-XXL-sized text encoder
(5,680,910,336, bf16) and the Wan2.2 VAE (704,688,668, fp32). Then, one line per figure:

1. forward bench: one transformer forward with both CFG branches (batch 2), PTCM off / identity /
   measuring the attention matching, at each size; PTCM's overhead ratios; achieved TFLOP/s;
2. the pipeline call the renderer makes (3 VAE encodes, text, 2 denoising steps, decode), with no
   offload, model CPU offload (+ VAE tiling) and group offload: seconds per step, encode / decode,
   peak allocated GPU memory; a 30-step render is extrapolated from the measured steps, said so;
3. attention backends (diffusers' `set_attention_backend`) on one forward at the largest size;
4. regional torch.compile of the repeated blocks on one forward at the smallest size.

--release: the transformer in the release's layout (random weights; `model.release.release_config`), and the
pipeline the official weights run (`release_call`): 832x480x81 with the probe (5 Euler steps, block 27's
attention, union masks, restart) and PTC on steps 0..5, guidance 1; per probe step, per step, the probe's
attention, text + tiled VAE encodes, tiled decode, peak memory, for each offload mode (none, model, group),
and a whole 50-step render extrapolated from the measured steps (said so). With `--official PATH` (a checkout
of github Ryan-w2024/PoseAnything; needs einops and ftfy) the official DiT (`WanModel` via `model_fn_wan_video`,
imported from the checkout, random weights) runs one step without PTC and one with PTC on the same inputs
beside ours, as a ratio (ours / official; issue 20's target for the whole render is <= 0.8). The whole official
pipeline (its VAE, text encoder, probe) is not timed side by side yet.

Stages that would not finish inside --budget seconds are skipped with a line saying so. Without CUDA (and
without --tiny) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

GIB = 2**30
PARTS = 6  # parts in vertical strips over the subject's middle half, as benchmarks/ptcm_overhead.py

# The Wan2.2-TI2V-5B-Diffusers text encoder (umT5-XXL encoder) and VAE configs (their config.json files).
UMT5_XXL_CONFIG = {
    "vocab_size": 256384,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "tie_word_embeddings": False,
}
WAN22_VAE_CONFIG = {
    "base_dim": 160,
    "decoder_base_dim": 256,
    "z_dim": 48,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "temperal_downsample": [False, True, True],
    "is_residual": True,
    "in_channels": 12,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_spatial": 16,
    "scale_factor_temporal": 4,
    "attn_scales": [],
    "dropout": 0.0,
    "latents_mean": [0.0] * 48,
    "latents_std": [1.0] * 48,
}


class Report:
    """Prints one line per figure, to stdout and a log file, and keeps time against a budget."""

    def __init__(self, log: Path | None, budget: float):
        self.start, self.budget = time.perf_counter(), budget
        self.log = log.open("a") if log else None

    def line(self, text: str) -> None:
        print(text, flush=True)
        if self.log:
            self.log.write(text + "\n")
            self.log.flush()

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.start)

    def fits(self, stage: str, seconds: float) -> bool:
        """True if about `seconds` remain; else one line saying the stage was skipped."""
        if self.left() >= seconds:
            return True
        self.line(f"skipped: {stage} (needs about {seconds:.0f} s, {self.left():.0f} s of the budget left)")
        return False


# -- building ----------------------------------------------------------------------------------------------
def build_pipeline(tiny: bool, device: torch.device, release: bool = False):
    """The PoseAnything pipeline from random-weight components built in memory on `device` (release: its layout)."""
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import UMT5Config, UMT5EncoderModel

    from poseanything_studio.model.pipeline import PoseAnythingPipeline
    from poseanything_studio.model.tiny import (
        SCHEDULER_CONFIG,
        TINY_TEXT_ENCODER_CONFIG,
        TINY_TRANSFORMER_CONFIG,
        TINY_VAE_CONFIG,
        WORDS,
        tiny_tokenizer,
    )
    from poseanything_studio.model.transformer import WAN22_TI2V_5B_CONFIG, PoseAnythingTransformer3DModel

    dtype = torch.float32 if tiny else torch.bfloat16
    torch.manual_seed(0)
    from poseanything_studio.model.release import release_config

    base = TINY_TRANSFORMER_CONFIG if tiny else WAN22_TI2V_5B_CONFIG
    with torch.device(device):
        transformer = PoseAnythingTransformer3DModel(**(release_config(base) if release else base))
        text_config = {**TINY_TEXT_ENCODER_CONFIG, "vocab_size": len(WORDS) + 3} if tiny else UMT5_XXL_CONFIG
        text_encoder = UMT5EncoderModel(UMT5Config(**text_config))
        vae = AutoencoderKLWan(**(TINY_VAE_CONFIG if tiny else WAN22_VAE_CONFIG))
    with torch.no_grad():
        for module in transformer.ptcm_modules + transformer.release_ptc_modules:  # trained: output not zero
            module.to_out.weight.normal_(std=0.02)
    cast_like_from_pretrained(transformer, dtype)
    text_encoder.to(dtype)
    pipe = PoseAnythingPipeline(
        tiny_tokenizer(),
        text_encoder.eval(),
        vae.eval(),
        UniPCMultistepScheduler(**SCHEDULER_CONFIG),
        transformer.eval(),
    )
    pipe.set_progress_bar_config(disable=True)
    pipe.release_weights = release
    if release and dtype != torch.float32:
        vae.to(dtype)  # the release runs its VAE in the DiT's dtype
    return pipe


def cast_like_from_pretrained(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """`dtype` everywhere except the modules diffusers keeps in fp32 when loading (`_keep_in_fp32_modules`)."""
    keep = getattr(model, "_keep_in_fp32_modules", None) or []
    for name, module in model.named_modules():
        if any(k in name.split(".") for k in keep):
            continue
        for param_name, param in module.named_parameters(recurse=False):
            setattr(module, param_name, torch.nn.Parameter(param.detach().to(dtype), requires_grad=False))


def parameter_counts(pipe) -> str:
    counts = [sum(p.numel() for p in m.parameters()) for m in (pipe.transformer, pipe.text_encoder, pipe.vae)]
    return f"transformer {counts[0]:,}, text encoder {counts[1]:,}, VAE {counts[2]:,}"


# -- inputs ------------------------------------------------------------------------------------------------
def part_coverage(grid: tuple[int, int, int], parts: int = PARTS, whole_frame: bool = False) -> torch.Tensor:
    """(F', B, h, w) coverage: B vertical strips over the middle half (or the whole frame)."""
    frames, h, w = grid
    coverage = torch.zeros(frames, parts, h, w)
    top, bottom = (0, h) if whole_frame else (h // 4, 3 * h // 4)
    left, right = (0, w) if whole_frame else (w // 4, 3 * w // 4)
    edges = np.linspace(left, right, parts + 1).round().astype(int)
    for j in range(parts):
        coverage[:, j, top:bottom, edges[j] : max(edges[j + 1], edges[j] + 1)] = 1.0
    return coverage


def forward_inputs(pipe, size: tuple[int, int, int], device: torch.device, text_tokens: int) -> dict:
    """Transformer inputs for one CFG step (batch 2) at width x height x frames."""
    width, height, frames = size
    cfg = pipe.transformer.config
    latent = ((frames - 1) // 4 + 1, height // 16, width // 16)
    dtype = pipe.transformer.dtype
    g = torch.Generator(device).manual_seed(0)
    latents = torch.randn(2, cfg.in_channels, *latent, generator=g, device=device, dtype=dtype)
    pose = torch.randn(2, cfg.pose_channels, *latent, generator=g, device=device, dtype=dtype)
    grid = pipe.transformer.token_grid(latents.shape)
    timestep = torch.full((2, grid[0] * grid[1] * grid[2]), 700.0, device=device)
    timestep[:, : grid[1] * grid[2]] = 0  # the reference image's frame
    text = torch.randn(2, text_tokens, cfg.text_dim, generator=g, device=device, dtype=dtype)
    return {
        "hidden_states": latents,
        "timestep": timestep,
        "encoder_hidden_states": text,
        "pose_latents": pose,
        "grid": grid,
    }


def scene(size: tuple[int, int, int]) -> dict:
    """Pipeline inputs as the renderer makes them: picture, pose frames, camera frames, pooled part coverage."""
    width, height, frames = size
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pose = np.zeros((frames, height, width, 3), np.uint8)
    for f in range(frames):
        x = width // 4 + f * width // (4 * frames)
        pose[f, height // 3 : height // 3 + 8, x : x + width // 3] = (255, 80, 0)
    grid = ((frames - 1) // 4 + 1, height // 32, width // 32)
    return {"image": image, "pose_frames": pose, "camera_frames": None, "part_coverage": part_coverage(grid).numpy()}


# -- timing ------------------------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1) -> float:
    """Median seconds of fn() after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / GIB if device.type == "cuda" else float("nan")


def real_flops(size: tuple[int, int, int]) -> float:
    """FLOPs of one batch-1 forward of the real config without PTCM (benchmarks/ptcm_overhead.py's count)."""
    spec = importlib.util.spec_from_file_location("ptcm_overhead", ROOT / "benchmarks" / "ptcm_overhead.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.real_flops(*size)["base"] * 1e12


# -- stages ------------------------------------------------------------------------------------------------
@torch.no_grad()
def forward_bench(
    pipe, report: Report, size: tuple[int, int, int], device: torch.device, tiny: bool, repeats: int
) -> dict[str, float]:
    """One forward (batch 2) with PTCM off / identity / measuring; prints times, ratios and TFLOP/s."""
    from poseanything_studio.model.part_attention import PartContext

    label = "x".join(map(str, size))
    inputs = forward_inputs(pipe, size, device, 16 if tiny else 512)
    grid = inputs.pop("grid")
    coverage = part_coverage(grid)

    def run(context: PartContext | None) -> Callable[[], object]:
        def go():
            with torch.no_grad():
                return pipe.transformer(**inputs, part_context=context, return_dict=False)

        return go

    def context(measure: bool, whole: bool = False) -> PartContext:
        c = PartContext.from_coverage(part_coverage(grid, whole_frame=True) if whole else coverage, device=device)
        c.measure = measure
        return c

    reset_peak(device)
    times = {
        "off": timed(run(None), device, repeats),
        "identity": timed(run(context(False)), device, repeats),
        "measuring": timed(run(context(True)), device, repeats),
    }
    covered = PartContext.from_coverage(coverage).tokens[0, 1:].any(1).float().mean().item()
    tokens = grid[0] * grid[1] * grid[2]
    report.line(
        f"forward {label} ({tokens:,} tokens, batch 2): PTCM off {times['off']:.3f} s, identity "
        f"{times['identity']:.3f} s, measuring {times['measuring']:.3f} s; parts cover {covered:.0%} "
        f"of later-frame tokens; peak {peak_gib(device):.1f} GiB"
    )
    report.line(
        f"PTCM overhead {label}: identity {100 * (times['identity'] / times['off'] - 1):+.1f}% "
        f"(target <= +10%), measuring {100 * (times['measuring'] / times['off'] - 1):+.1f}% "
        f"(target <= +20%)"
    )
    if not tiny:
        flops = 2 * real_flops(size)
        report.line(
            f"achieved {label}: {flops / times['off'] / 1e12:.0f} TFLOP/s with PTCM off "
            f"({flops / 1e12:.0f} TFLOP a forward of both branches)"
        )
    if report.fits(f"PTCM with parts over the whole frame at {label}", 2 * (repeats + 1) * times["measuring"]):
        whole = {
            "identity": timed(run(context(False, whole=True)), device, repeats),
            "measuring": timed(run(context(True, whole=True)), device, repeats),
        }
        report.line(
            f"PTCM overhead {label}, parts covering the whole frame (worst case): identity "
            f"{100 * (whole['identity'] / times['off'] - 1):+.1f}%, measuring "
            f"{100 * (whole['measuring'] / times['off'] - 1):+.1f}%"
        )
    return times


@torch.no_grad()
def render_bench(
    pipe, report: Report, size: tuple[int, int, int], device: torch.device, mode: str, tiling: bool, steps: int
) -> float:
    """The pipeline call the renderer makes, `steps` steps, with an offload mode; returns the peak GiB."""
    label = "x".join(map(str, size))
    inputs = scene(size)
    stamps: list[float] = []

    def callback(p, i, t, kwargs):
        stamps.append(time.perf_counter())  # the preview in kwargs was read to the CPU: the step is done
        return {}

    if tiling:
        pipe.vae.enable_tiling()
    else:
        pipe.vae.disable_tiling()
    reset_peak(device)
    start = time.perf_counter()
    latents = pipe(
        inputs["image"],
        inputs["pose_frames"],
        None,
        inputs["camera_frames"],
        prompt="a cat walks",
        num_inference_steps=steps,
        seed=0,
        part_coverage=inputs["part_coverage"],
        callback_on_step_end=callback,
        output_type="latent",
    )
    sync(device)
    decode_start = time.perf_counter()
    frames = pipe.decode_latents(latents)
    sync(device)
    end = time.perf_counter()
    peak = peak_gib(device)
    step_times = np.diff(stamps) if len(stamps) > 1 else np.array([stamps[0] - start])
    step = float(np.median(step_times))
    before_steps = stamps[0] - step - start  # text encoding, 3 VAE encodes, set-up
    decode = end - decode_start
    thirty = before_steps + 30 * step + decode
    report.line(
        f"render {label}, offload {mode}{' + VAE tiling' if tiling else ''}: step {step:.3f} s "
        f"(both CFG branches), text + 3 VAE encodes {before_steps:.2f} s, decode {decode:.2f} s, "
        f"peak {peak:.1f} GiB; a 30-step render extrapolated {thirty:.1f} s (measured {steps} steps)"
    )
    assert frames.shape == (size[2], size[1], size[0], 3)
    return peak


def release_scene(size: tuple[int, int, int], parts: int = 5) -> dict:
    """The release's inputs at `size`: picture, pose frames, and `parts` vertical strips as every frame's part masks."""
    inputs = scene(size)
    width, height, frames = size
    h, w = height // 32, width // 32
    strips = [np.zeros((h, w), bool) for _ in range(parts)]
    strip_width = max(1, w // (2 * parts))
    for j, strip in enumerate(strips):
        strip[h // 4 : 3 * h // 4, w // 4 + j * strip_width : w // 4 + (j + 1) * strip_width] = True
    return {
        "image": inputs["image"],
        "pose_frames": inputs["pose_frames"],
        "binary_masks": [strips] * frames,
        "condition_index": list(range(frames)),
    }


def release_bench(
    pipe, report: Report, size: tuple[int, int, int], device: torch.device, mode: str, steps: int
) -> float:
    """The official weights' render (`release_call`, probe + restart), `steps` steps; returns the peak GiB."""
    label = "x".join(map(str, size))
    inputs = release_scene(size)
    stamps: list[tuple[str, float]] = []

    def callback(p, i, t, kwargs):
        stamps.append((kwargs["stage"], time.perf_counter()))  # the preview was read to the CPU: the step is done

    reset_peak(device)
    start = time.perf_counter()
    latents = pipe.release_call(
        inputs["image"],
        inputs["pose_frames"],
        inputs["binary_masks"],
        inputs["condition_index"],
        prompt="a cat walks",
        num_inference_steps=steps,
        generator=torch.Generator("cpu").manual_seed(123),
        callback_on_step_end=callback,
        callback_on_step_end_tensor_inputs=("stage", "preview"),
        output_type="latent",
    ).frames
    sync(device)
    decode_start = time.perf_counter()
    frames = pipe.release_decode(latents)
    sync(device)
    end = time.perf_counter()
    peak = peak_gib(device)
    times = [t for _, t in stamps]
    probe_step = float(np.median(np.diff(times[:5])))
    step = float(np.median(np.diff(times[6:]))) if len(times) > 7 else probe_step
    probe = times[5] - times[4] - step  # the probe's attention pass (the gap holds one PTC step too)
    before = times[0] - probe_step - start  # text, tiled VAE encodes of the picture and the pose frames
    decode = end - decode_start
    whole = before + 5 * probe_step + probe + 50 * step + decode
    report.line(
        f"release {label}, offload {mode}: probe step {probe_step:.3f} s, probe attention {probe:.2f} s, "
        f"step {step:.3f} s (guidance 1: one pass), text + tiled VAE encodes {before:.2f} s, tiled decode "
        f"{decode:.2f} s, peak {peak:.1f} GiB; a 50-step render (5 probe steps + probe + 50) extrapolated "
        f"{whole:.1f} s (measured {steps} steps)"
    )
    assert frames.shape == (size[2], size[1], size[0], 3)
    return peak


def official_step_bench(
    pipe, report: Report, size: tuple[int, int, int], device: torch.device, root: Path, repeats: int
) -> None:
    """One denoising step of the official DiT and of ours on the same inputs, without and with PTC: the ratio."""
    from poseanything_studio.model.part_attention import ReleaseParts
    from tools.release_goldens.sampling import import_official

    official = import_official(root)
    wan_dit = sys.modules["diffsynth.models.wan_video_dit"]
    cfg, dtype = pipe.transformer.config, pipe.transformer.dtype
    channels, dim = cfg.in_channels, cfg.num_attention_heads * cfg.attention_head_dim
    torch.manual_seed(0)
    with torch.device(device):
        dit = wan_dit.WanModel(
            has_image_input=False,
            patch_size=list(cfg.patch_size),
            in_dim=channels + cfg.pose_channels,
            dim=dim,
            ffn_dim=cfg.ffn_dim,
            freq_dim=cfg.freq_dim,
            text_dim=cfg.text_dim,
            out_dim=cfg.out_channels,
            num_heads=cfg.num_attention_heads,
            num_layers=cfg.num_layers,
            eps=cfg.eps,
            seperated_timestep=True,
            require_clip_embedding=False,
            require_vae_embedding=False,
            fuse_vae_embedding_in_latents=True,
        )
    dit = dit.to(dtype).eval()
    width, height, frames = size
    latent = (1, channels, (frames - 1) // 4 + 1, height // 16, width // 16)
    g = torch.Generator().manual_seed(1)
    latents = torch.randn(latent, generator=g).to(device, dtype)
    pose = torch.randn(latent, generator=g).to(device, dtype)
    text = torch.randn(1, 512, cfg.text_dim, generator=g).to(device, dtype)
    h, w = latent[3] // 2, latent[4] // 2
    first = torch.zeros(5, h, w, dtype=torch.bool)
    for j in range(5):
        first[j, h // 4 : 3 * h // 4, j * w // 5 : (j + 1) * w // 5] = True
    union = first[None].expand(latent[2] - 1, -1, -1, -1).clone()
    t = torch.tensor([500.0]).to(device, dtype)
    tokens = h * w
    per_token = torch.cat([torch.zeros(1, tokens), torch.full((latent[2] - 1, tokens), 500.0)]).flatten()[None]
    per_token = per_token.to(device, dtype)

    def theirs(ptc: bool):
        with torch.no_grad():
            return official.pipeline.model_fn_wan_video(
                dit=dit,
                latents=latents,
                timestep=t,
                context=text,
                condition_emb=pose,
                union_mask=union.to(device) if ptc else None,
                first_masks=list(first.numpy()) if ptc else None,
                fuse_vae_embedding_in_latents=True,
            )

    def ours(ptc: bool):
        parts = ReleaseParts(first.to(device), union.to(device)) if ptc else None
        with torch.no_grad():
            return pipe.transformer(
                hidden_states=latents,
                timestep=per_token,
                encoder_hidden_states=text,
                pose_latents=pose,
                release_parts=parts,
                return_dict=False,
            )[0]

    label = "x".join(map(str, size))
    for ptc in (False, True):
        official_s = timed(lambda ptc=ptc: theirs(ptc), device, repeats)
        ours_s = timed(lambda ptc=ptc: ours(ptc), device, repeats)
        report.line(
            f"release step {label}, {'with' if ptc else 'without'} PTC: ours {ours_s:.3f} s, official "
            f"{official_s:.3f} s, ratio {ours_s / official_s:.2f} (target for the whole render <= 0.8)"
        )


def release_main(args, report: Report, device: torch.device) -> int:
    """--release: the official weights' configuration, each offload mode in turn (group last: it is not undone)."""
    size = (64, 64, 81) if args.tiny else (832, 480, 81)
    start = time.perf_counter()
    pipe = build_pipeline(args.tiny, device, release=True)
    report.line(f"built (release layout) in {time.perf_counter() - start:.1f} s: {parameter_counts(pipe)}")
    steps = max(6, args.steps)  # the probe reads the 6th timestep
    if args.official is not None and report.fits("official DiT step side by side", 60):
        stage(
            report,
            "official DiT step side by side",
            lambda: official_step_bench(
                pipe, report, size, device, args.official.expanduser().resolve(), 1 if args.tiny else args.repeats
            ),
        )
    for mode in ("none", "model", "group"):
        if not report.fits(f"release render, offload {mode}", 60):
            continue
        if mode != "none":
            pipe.remove_all_hooks()
            pipe.place(device, mode)
        stage(
            report,
            f"release render, offload {mode}",
            lambda mode=mode: release_bench(pipe, report, size, device, mode, steps),
        )
    report.line(f"done in {time.perf_counter() - report.start:.0f} s")
    return 0


@torch.no_grad()
def attention_backends(pipe, report: Report, size: tuple[int, int, int], device: torch.device) -> None:
    """One forward (PTCM identity) per diffusers attention backend that runs here."""
    from poseanything_studio.model.part_attention import PartContext

    label = "x".join(map(str, size))
    inputs = forward_inputs(pipe, size, device, 512)
    grid = inputs.pop("grid")
    context = PartContext.from_coverage(part_coverage(grid), device=device)
    context.measure = False
    results = []
    for backend in ("native", "_native_cudnn", "_native_flash", "_native_efficient"):
        if not report.fits(f"attention backend {backend}", 25):
            break
        try:
            pipe.transformer.set_attention_backend(backend)
            seconds = timed(lambda: pipe.transformer(**inputs, part_context=context, return_dict=False), device, 1)
            results.append(f"{backend} {seconds:.3f} s")
        except Exception as err:  # a backend this card or build does not have
            results.append(f"{backend} unavailable ({type(err).__name__}: {str(err).splitlines()[0][:80]})")
    pipe.transformer.set_attention_backend("native")
    report.line(f"attention backends {label}, one forward, PTCM identity: " + "; ".join(results))


@torch.no_grad()
def compile_bench(
    pipe, report: Report, size: tuple[int, int, int], device: torch.device, tiny: bool, eager: float | None
) -> None:
    """Regional torch.compile of the repeated blocks: compile time and one forward (PTCM identity)."""
    from poseanything_studio.model.part_attention import PartContext

    label = "x".join(map(str, size))
    inputs = forward_inputs(pipe, size, device, 16 if tiny else 512)
    grid = inputs.pop("grid")
    context = PartContext.from_coverage(part_coverage(grid), device=device)
    context.measure = False
    if eager is None:
        eager = timed(lambda: pipe.transformer(**inputs, part_context=context, return_dict=False), device, 2)
    pipe.compile_transformer(**({"backend": "eager"} if tiny else {}))
    start = time.perf_counter()
    with torch.no_grad():
        pipe.transformer(**inputs, part_context=context, return_dict=False)
    sync(device)
    first = time.perf_counter() - start
    seconds = timed(lambda: pipe.transformer(**inputs, part_context=context, return_dict=False), device, 2, 0)
    report.line(
        f"compile {label}: first forward (compiling) {first:.1f} s, then {seconds:.3f} s vs eager "
        f"{eager:.3f} s ({100 * (seconds / eager - 1):+.1f}%), PTCM identity"
    )
    for block in pipe.transformer.blocks:
        block._compiled_call_impl = None  # back to eager


def stage(report: Report, name: str, fn: Callable[[], object]) -> object:
    """Run one stage; a failure is one line and the next stage still runs."""
    try:
        return fn()
    except Exception as err:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        report.line(f"failed: {name}: {type(err).__name__}: {first}")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return None


def parse_size(text: str) -> tuple[int, int, int]:
    w, h, f = (int(v) for v in text.lower().split("x"))
    if w % 32 or h % 32 or (f - 1) % 4:
        raise argparse.ArgumentTypeError(f"{text}: width and height multiples of 32, frames 4k+1")
    return w, h, f


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true", help="tiny configs on the CPU: checks the script, measures nothing")
    p.add_argument("--sizes", type=parse_size, nargs="+", help="WxHxF (default 832x480x49 1280x704x121)")
    p.add_argument("--budget", type=float, default=380, help="seconds; later stages are skipped to stay inside")
    p.add_argument("--steps", type=int, default=2, help="denoising steps measured per render")
    p.add_argument("--log", type=Path, help="also append every line to this file")
    p.add_argument("--repeats", type=int, default=2, help="timed forwards per figure (the median is printed)")
    p.add_argument("--only-compile", action="store_true", help="just the compile stage (eager baseline included)")
    p.add_argument(
        "--release",
        action="store_true",
        help="the official weights' configuration: 832x480x81, probe + restart, each offload mode",
    )
    p.add_argument(
        "--official",
        type=Path,
        help="with --release: a checkout of the official code, to time its DiT step beside ours",
    )
    p.add_argument("--only-forward", action="store_true", help="just the forward bench (PTCM off, identity, measuring)")
    args = p.parse_args(argv)
    report = Report(args.log, args.budget)
    if not args.tiny and not torch.cuda.is_available():
        report.line("no CUDA device: nothing measured (run on an NVIDIA GPU, or --tiny for a CPU smoke test)")
        return 0
    device = torch.device("cpu" if args.tiny else "cuda")
    sizes = args.sizes or ([(64, 64, 9), (96, 64, 9)] if args.tiny else [(832, 480, 49), (1280, 704, 121)])
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (tiny configs, not a measurement)"
    report.line(f"device: {name}; torch {torch.__version__}")
    if args.release:
        return release_main(args, report, device)
    start = time.perf_counter()
    pipe = build_pipeline(args.tiny, device)
    report.line(f"built in {time.perf_counter() - start:.1f} s: {parameter_counts(pipe)}")
    repeats = 1 if args.tiny else args.repeats

    eager: dict[tuple[int, int, int], float] = {}
    if args.only_compile:
        for size in sizes:
            if report.fits(f"compile {size}", 100):
                stage(report, "compile", lambda size=size: compile_bench(pipe, report, size, device, args.tiny, None))
        report.line(f"done in {time.perf_counter() - report.start:.0f} s")
        return 0
    if args.only_forward:
        for size in sizes:
            stage(
                report, "forward bench", lambda size=size: forward_bench(pipe, report, size, device, args.tiny, repeats)
            )
        report.line(f"done in {time.perf_counter() - report.start:.0f} s")
        return 0
    small, large = sizes[0], sizes[-1]
    reserve = 75  # seconds kept for the last stage, the group-offload render (the 24 GB card's figure)
    for size in sizes:  # 1. forward bench
        if report.fits(f"forward bench {size}", reserve + (20 if size != large else 45)):
            stage(
                report,
                "forward bench",
                lambda size=size: eager.__setitem__(
                    size, forward_bench(pipe, report, size, device, args.tiny, repeats)["identity"]
                ),
            )
    for size in sizes:  # 2. renders: everything resident, then model CPU offload + VAE tiling
        if report.fits(f"render {size}, no offload", reserve + (40 if size == large else 20)):
            stage(
                report, "render", lambda size=size: render_bench(pipe, report, size, device, "none", False, args.steps)
            )
    if report.fits(f"render {large}, model offload", reserve + 60):
        pipe.place(device, "model")
        stage(
            report,
            "render, model offload",
            lambda: render_bench(pipe, report, large, device, "model", True, args.steps),
        )
        pipe.remove_all_hooks()
        pipe.place(device, "none")
    if not args.tiny and report.fits(f"attention backends {large}", reserve + 60):  # 3.
        stage(report, "attention backends", lambda: attention_backends(pipe, report, large, device))
    if small in eager and report.fits(f"compile {small}", reserve + 120):  # 4.
        stage(report, "compile", lambda: compile_bench(pipe, report, small, device, args.tiny, eager[small]))
    if report.fits(f"render {large}, group offload", 50):  # 5. last: group offload is not undone
        pipe.place(device, "group")
        peak = stage(
            report,
            "render, group offload",
            lambda: render_bench(pipe, report, large, device, "group", False, args.steps),
        )
        if peak is not None and peak > 22 and report.fits("group offload + VAE tiling", 40):
            stage(
                report,
                "render, group offload + tiling",
                lambda: render_bench(pipe, report, large, device, "group", True, args.steps),
            )
    report.line(f"done in {time.perf_counter() - report.start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
