"""What PTCM adds to a transformer step: measured on the CPU, and counted in FLOPs at 1280x704x121.

    python benchmarks/ptcm_overhead.py [--layers 4 --dim 768 --repeats 3]

Timing: one forward (batch 2, as CFG runs) of PoseAnythingTransformer3DModel at a reduced width, with
PTCM off (no part context) and on (identity matching; and while measuring the attention matching, which
only the first K steps do). FLOPs: matrix multiplications of the real Wan2.2-TI2V-5B config (30 blocks,
dim 3072, ffn 14336, 512 text tokens) at 1280x704x121: 31x22x40 = 27,280 tokens, parts over every token.
CPU times at this toy size are dominated by fixed costs and machine load; the GPU figures at real size come
from benchmarks/neural_speed.py (docs/neural.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from poseanything_studio.model.part_attention import PartContext
from poseanything_studio.model.transformer import WAN22_TI2V_5B_CONFIG, PoseAnythingTransformer3DModel


def block_flops(tokens: int, first: int, dim: int, ffn: int, text: int, ptcm: bool, measure: bool) -> int:
    """Multiply-add FLOPs (2 per MAC) of one block over `tokens` tokens, `first` of them in latent frame 0."""
    later = tokens - first
    flops = 4 * 2 * tokens * dim * dim + 2 * 2 * tokens * tokens * dim  # self-attention: q k v o, scores and AV
    flops += 2 * 2 * tokens * dim * dim + 2 * 2 * text * dim * dim + 2 * 2 * tokens * text * dim  # cross-attention
    flops += 2 * 2 * tokens * dim * ffn  # feed-forward
    if ptcm:
        flops += 2 * 2 * later * dim * dim + 2 * 2 * first * dim * dim  # q and out on later tokens, k v on frame 0
        flops += 2 * 2 * later * first * dim  # part cross-attention: later tokens against frame 0's tokens
    if ptcm and measure:
        flops += 2 * first * dim * dim + 2 * later * dim * dim + 2 * later * first * dim  # matching q, k, map
    return flops


def real_flops(width: int = 1280, height: int = 704, frames: int = 121) -> dict[str, float]:
    """TFLOPs of one transformer forward (batch 1) of the real config, without and with PTCM."""
    c = WAN22_TI2V_5B_CONFIG
    dim = c["num_attention_heads"] * c["attention_head_dim"]
    grid = ((frames - 1) // 4 + 1, height // 32, width // 32)
    tokens, first = grid[0] * grid[1] * grid[2], grid[1] * grid[2]
    args = (tokens, first, dim, c["ffn_dim"], 512)
    return {
        name: c["num_layers"] * block_flops(*args, ptcm=p, measure=m) / 1e12
        for name, p, m in (("base", False, False), ("ptcm", True, False), ("ptcm+matching", True, True))
    }


def time_forward(layers: int, dim: int, grid: tuple[int, int, int], repeats: int) -> dict[str, float]:
    """Median seconds of a batch-2 forward at a reduced config, PTCM off / on / on while matching."""
    torch.manual_seed(0)
    heads = dim // 128
    config = {
        **WAN22_TI2V_5B_CONFIG,
        "num_attention_heads": heads,
        "num_layers": layers,
        "ffn_dim": dim * 14336 // 3072,
    }
    model = PoseAnythingTransformer3DModel(**config).eval()
    for module in model.ptcm_modules:
        torch.nn.init.normal_(module.to_out.weight, std=0.02)
    frames, h, w = grid
    latents, pose = torch.randn(2, 2, 48, frames, 2 * h, 2 * w).unbind(0)
    timestep = torch.full((2, frames * h * w), 700.0)
    timestep[:, : h * w] = 0
    text = torch.randn(2, 512, 4096)
    masks = torch.zeros(4 * (frames - 1) + 1, 6, 32 * h, 32 * w, dtype=torch.bool)
    for j in range(6):  # six parts in vertical strips, the subject's middle half
        masks[:, j, 8 * h : 24 * h, (4 + 4 * j) * w // 2 : (8 + 4 * j) * w // 2] = True
    runs = {"base": None, "ptcm": False, "ptcm+matching": True}
    times: dict[str, list[float]] = {k: [] for k in runs}
    with torch.no_grad():
        for _ in range(repeats + 1):  # the first round warms up
            for name, measure in runs.items():
                context = None if measure is None else PartContext.from_masks(masks)
                if context is not None:
                    context.measure = measure
                start = time.perf_counter()
                model(latents, timestep, text, pose_latents=pose, part_context=context)
                times[name].append(time.perf_counter() - start)
    return {k: statistics.median(v[1:]) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--dim", type=int, default=768, help="a multiple of 128 (heads of 128)")
    p.add_argument(
        "--grid",
        type=int,
        nargs=3,
        default=(7, 11, 20),
        metavar=("F", "H", "W"),
        help="token grid (latent frames, rows, columns)",
    )
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    torch.set_num_threads(torch.get_num_threads())
    flops = real_flops()
    print("FLOPs of one transformer forward, real Wan2.2-TI2V-5B config at 1280x704x121 (27,280 tokens):")
    for name, value in flops.items():
        print(f"  {name:14} {value:8.1f} TFLOP   x{value / flops['base']:.3f}")
    grid = tuple(args.grid)
    print(
        f"CPU time of one forward, batch 2: {args.layers} blocks, dim {args.dim}, token grid {grid} "
        f"({grid[0] * grid[1] * grid[2]} tokens), {torch.get_num_threads()} threads:"
    )
    times = time_forward(args.layers, args.dim, grid, args.repeats)
    for name, value in times.items():
        print(f"  {name:14} {value:8.3f} s   x{value / times['base']:.3f}")
    ratio = times["ptcm"] / times["base"]
    print(
        f"PTCM adds {100 * (ratio - 1):.1f}% measured, {100 * (flops['ptcm'] / flops['base'] - 1):.1f}% in FLOPs "
        f"; while matching (first K steps) {100 * (times['ptcm+matching'] / times['base'] - 1):.1f}%"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
