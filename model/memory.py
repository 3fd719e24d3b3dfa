"""GPU memory estimates for a render, from the real configs (docs/neural.md prints this table).

Weights are exact parameter counts (bf16 transformer and text encoder, fp32 VAE). Activations are
estimates from the code paths, not measurements (no GPU here):

- transformer, batch 2 (both CFG branches): about 64 x dim bytes per token and sample at the peak of a
  block (per-token modulation in fp32, 6 x dim; its bf16 source; the FFN's 14,336-wide hidden and GELU;
  fp32 norm temporaries), plus PTCM's masks and one frame chunk of matching logits (at most 0.5 GB);
- VAE decode without tiling, fp32: the causal cache and working tensors of the last up-stages, about
  30 x 256 channels x 4 bytes per pixel of H/2 x W/2 (the decoder runs one latent frame at a time, so
  this does not grow with the frame count); tiling caps it near 1 GB.
"""

from __future__ import annotations

GB = 1e9
TRANSFORMER_PARAMS = 4_999_787_712 + 589_824 + 1_133_015_040  # base + pose half + PTCM
TEXT_ENCODER_PARAMS = 5_680_910_336  # umT5-XXL encoder (d_model 4096, 24 layers, vocab 256,384)
VAE_PARAMS = 704_688_668  # AutoencoderKLWan, Wan2.2 config (base 160, decoder 256, z 48)
DIM, BYTES_PER_TOKEN_DIM = 3072, 64


def estimate(width: int, height: int, frames: int) -> dict[str, float]:
    """GB for each part of a render at width x height x frames."""
    tokens = ((frames - 1) // 4 + 1) * (height // 32) * (width // 32)
    first = (height // 32) * (width // 32)
    ptcm = (tokens - first) * first * 5 / GB + min(0.5, 2 * 24 * first * first * 8 / GB)
    return {
        "transformer weights": TRANSFORMER_PARAMS * 2 / GB,
        "text encoder weights": TEXT_ENCODER_PARAMS * 2 / GB,
        "vae weights": VAE_PARAMS * 4 / GB,
        "transformer activations": 2 * tokens * DIM * BYTES_PER_TOKEN_DIM / GB + ptcm,
        "vae decode": 30 * 256 * 4 * (width // 2) * (height // 2) / GB,
        "tokens": tokens,
    }


def peaks(width: int, height: int, frames: int) -> dict[str, float]:
    """Peak GB with everything on the GPU, and with model CPU offload (one component on the GPU at a time)."""
    e = estimate(width, height, frames)
    weights = e["transformer weights"] + e["text encoder weights"] + e["vae weights"]
    resident = weights + max(e["transformer activations"], e["vae decode"])
    offload = max(e["text encoder weights"] + 0.5, e["transformer weights"] + e["transformer activations"],
                  e["vae weights"] + e["vae decode"])
    return {"no offload": resident, "model cpu offload": offload}


def memory_table() -> str:
    """Markdown table for 832x480x49 and 1280x704x121."""
    rows = ["| size | tokens | transformer activations | VAE decode | peak, no offload | peak, CPU offload |",
            "| --- | --- | --- | --- | --- | --- |"]
    for w, h, f in ((832, 480, 49), (1280, 704, 121)):
        e, p = estimate(w, h, f), peaks(w, h, f)
        rows.append(f"| {w}x{h}x{f} | {e['tokens']:,} | {e['transformer activations']:.1f} GB | "
                    f"{e['vae decode']:.1f} GB | {p['no offload']:.1f} GB | {p['model cpu offload']:.1f} GB |")
    e = estimate(832, 480, 49)
    rows.append(f"\nWeights: transformer {e['transformer weights']:.2f} GB (bf16), text encoder "
                f"{e['text encoder weights']:.2f} GB (bf16), VAE {e['vae weights']:.2f} GB (fp32).")
    return "\n".join(rows)
