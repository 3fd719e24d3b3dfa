"""GPU memory of a render: weights from the real configs, peaks measured (docs/neural.md prints this table).

The peaks are peak allocated GPU memory (torch.cuda.max_memory_allocated) of the pipeline call the
renderer makes, measured by `python benchmarks/neural_speed.py` with random-weight components of the real
sizes (memory does not depend on weight values), bf16 transformer and text encoder, fp32 VAE, on one
NVIDIA H100 80GB HBM3 (torch 2.11, diffusers 0.42.1); log in benchmarks/results/neural_speed_h100.log.
"""

from __future__ import annotations

GB = 1e9
TRANSFORMER_PARAMS = 4_999_787_712 + 589_824 + 1_133_015_040  # base + pose half + PTCM
TEXT_ENCODER_PARAMS = 5_680_910_336  # umT5-XXL encoder (d_model 4096, 24 layers, vocab 256,384)
VAE_PARAMS = 704_688_668  # AutoencoderKLWan, Wan2.2 config (base 160, decoder 256, z 48)
MEASURED_ON = "NVIDIA H100 80GB HBM3"
OFFLOAD_COLUMNS = ("none", "model + VAE tiling", "group", "group + VAE tiling")
# Peak allocated GiB per (width, height, frames) and offload mode; None: not measured.
MEASURED_PEAK_GIB: dict[tuple[int, int, int], tuple[float | None, ...]] = {
    (832, 480, 49): (33.7, None, None, None),
    (1280, 704, 121): (45.8, 24.7, 23.8, 14.2),
}


def tokens(width: int, height: int, frames: int) -> int:
    """Transformer tokens: latent frames x (height / 32) x (width / 32)."""
    return ((frames - 1) // 4 + 1) * (height // 32) * (width // 32)


def weights_gb() -> dict[str, float]:
    """GB of each component's weights as the pipeline holds them (bf16, bf16, fp32)."""
    return {"transformer": TRANSFORMER_PARAMS * 2 / GB, "text encoder": TEXT_ENCODER_PARAMS * 2 / GB,
            "vae": VAE_PARAMS * 4 / GB}


def memory_table() -> str:
    """Markdown table of the measured peaks, one row per size, one column per offload mode."""
    rows = ["| size | tokens | " + " | ".join(f"peak, offload {c}" for c in OFFLOAD_COLUMNS) + " |",
            "| --- | --- |" + " --- |" * len(OFFLOAD_COLUMNS)]
    for (w, h, f), peaks in MEASURED_PEAK_GIB.items():
        cells = " | ".join("not measured" if p is None else f"{p:.1f} GiB" for p in peaks)
        rows.append(f"| {w}x{h}x{f} | {tokens(w, h, f):,} | {cells} |")
    weights = weights_gb()
    rows.append(f"\nMeasured on one {MEASURED_ON} (python benchmarks/neural_speed.py). Weights: transformer "
                f"{weights['transformer']:.2f} GB (bf16), text encoder {weights['text encoder']:.2f} GB (bf16), "
                f"VAE {weights['vae']:.2f} GB (fp32).")
    return "\n".join(rows)
