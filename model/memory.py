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
    return {
        "transformer": TRANSFORMER_PARAMS * 2 / GB,
        "text encoder": TEXT_ENCODER_PARAMS * 2 / GB,
        "vae": VAE_PARAMS * 4 / GB,
    }


def memory_table() -> str:
    """Markdown table of the measured peaks, one row per size, one column per offload mode."""
    rows = [
        "| size | tokens | " + " | ".join(f"peak, offload {c}" for c in OFFLOAD_COLUMNS) + " |",
        "| --- | --- |" + " --- |" * len(OFFLOAD_COLUMNS),
    ]
    for (w, h, f), peaks in MEASURED_PEAK_GIB.items():
        cells = " | ".join("not measured" if p is None else f"{p:.1f} GiB" for p in peaks)
        rows.append(f"| {w}x{h}x{f} | {tokens(w, h, f):,} | {cells} |")
    weights = weights_gb()
    rows.append(
        f"\nMeasured on one {MEASURED_ON} (python benchmarks/neural_speed.py). Weights: transformer "
        f"{weights['transformer']:.2f} GB (bf16), text encoder {weights['text encoder']:.2f} GB (bf16), "
        f"VAE {weights['vae']:.2f} GB (fp32)."
    )
    return "\n".join(rows)


# -- training ---------------------------------------------------------------------------------------------------
# Training holds the transformer only: latents and text embeddings are cached before the first step and the VAE
# and text encoder are let go (model/train.py). Parameter counts are exact (the real config, built on the meta
# device); activation bytes are estimates from the code paths, for one clip per GPU under bf16 autocast:
DIM = 3072  # the 5B transformer's width (24 heads of 128)
SAVED_PER_TOKEN_BLOCK = 52 * DIM + 4 * 14_336  # bytes a block keeps for backward per token: fp32 norm inputs
# (3 x 4 dim), bf16 modulated inputs (3 x 2 dim), q k v and attention output (4 x 2 dim), fp32 q/k norm inputs
# (2 x 4 dim), cross-attention q and output (2 x 2 dim), projection inputs (2 x 2 dim), FFN input (2 dim),
# fp32 gated residuals (2 x 4 dim), and the FFN's 14,336-wide hidden before and after GELU (2 x 2 x 14,336)
PTCM_SAVED_PER_TOKEN_BLOCK = 30 * DIM  # PTCM's norm, q k v, q/k norms and output, when it runs (stage 3)
CHECKPOINT_PER_TOKEN_BLOCK = 4 * DIM  # with activation checkpointing a block keeps only its fp32 input
BLOCKS, BLOCK_PARAMS = 30, 163_656_704  # one WanTransformerBlock of the 5B config (without PTCM)
PTCM_PARAMS = 1_133_015_040
BASE_PARAMS = TRANSFORMER_PARAMS - PTCM_PARAMS  # base transformer with the pose-widened patch embedding
LORA_PARAMS_PER_RANK = BLOCKS * 8 * 2 * DIM  # r x (in + out) for q, k, v, out of attn1 and attn2, 30 blocks
PATCH_EMBED_PARAMS = 3072 * 96 * 4 + 3072  # the widened patch embedding LoRA stages also train


def activations(width: int, height: int, frames: int, checkpointing: bool, ptcm: bool) -> float:
    """GB of activations kept for backward for one clip (estimate)."""
    tokens = ((frames - 1) // 4 + 1) * (height // 32) * (width // 32)
    per_block = SAVED_PER_TOKEN_BLOCK + (PTCM_SAVED_PER_TOKEN_BLOCK if ptcm else 0)
    if checkpointing:  # every block's input, plus one block recomputed at a time
        return (BLOCKS * CHECKPOINT_PER_TOKEN_BLOCK + per_block) * tokens / GB
    return BLOCKS * per_block * tokens / GB


def training_rows(
    width: int = 832, height: int = 480, frames: int = 49, gpus: int = 8, lora_rank: int = 64
) -> list[tuple[str, float, float]]:
    """(set-up, GB of weights + gradients + AdamW state per GPU, GB of activations per GPU) for the stages."""
    full, lora = BASE_PARAMS, lora_rank * LORA_PARAMS_PER_RANK + PATCH_EMBED_PARAMS
    weights = 4 * TRANSFORMER_PARAMS / GB  # every weight in fp32, trained or frozen
    act = activations(width, height, frames, checkpointing=False, ptcm=False)
    act_ckpt = activations(width, height, frames, checkpointing=True, ptcm=False)
    act_ptcm = activations(width, height, frames, checkpointing=True, ptcm=True)
    ddp = weights + (12 + 4) * full / GB  # + gradients, two moments, and DDP's gradient buckets (a copy)
    gathered = 2 * 2 * (BLOCK_PARAMS + PTCM_PARAMS / BLOCKS) / GB  # FSDP: one block gathered in bf16, one prefetched
    return [
        ("full fine-tune, DDP, fp32 weights + bf16 autocast", ddp, act),
        ("full fine-tune, DDP, + activation checkpointing", ddp, act_ckpt),
        (
            f"full fine-tune, FSDP full shard on {gpus} GPUs, bf16 mixed precision, activation checkpointing",
            (weights + 12 * full / GB) / gpus + gathered,
            act_ckpt,
        ),
        (
            f"LoRA rank {lora_rank} (+ patch embedding), fp32 frozen base, activation checkpointing",
            weights + 12 * lora / GB,
            act_ckpt,
        ),
        ("stage 3: PTCM only, fp32, activation checkpointing", weights + 12 * PTCM_PARAMS / GB, act_ptcm),
    ]


def training_table(width: int = 832, height: int = 480, frames: int = 49, gpus: int = 8, card_gb: float = 80.0) -> str:
    """Markdown table of training memory per GPU at width x height x frames, one clip per GPU."""
    rows = [
        f"Training at {width}x{height}x{frames}, one clip per GPU ({gpus} GPUs where sharded):",
        "",
        "| set-up | weights + grads + AdamW | activations | total per GPU | fits 80 GB |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, states, act in training_rows(width, height, frames, gpus):
        total = states + act
        rows.append(
            f"| {name} | {states:.1f} GB | {act:.1f} GB | {total:.1f} GB | {'yes' if total < 0.9 * card_gb else 'no'} |"
        )
    rows.append(
        "\nEvery weight is fp32 (4 B); a trained one adds its gradient (4 B) and AdamW's two moments (8 B), "
        "and DDP a gradient bucket copy (4 B). Activations are estimates (model/memory.py), not measurements."
    )
    return "\n".join(rows)
