"""Tiny random-weight configurations of the real classes: the same code paths as Wan2.2-TI2V-5B, in milliseconds."""

from __future__ import annotations

from typing import Any

# WanTransformer3DModel at a size a CPU runs instantly; same patch (1, 2, 2), qk norm and cross-attention norm.
TINY_TRANSFORMER_CONFIG: dict[str, Any] = {
    "patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12, "in_channels": 8,
    "out_channels": 8, "text_dim": 16, "freq_dim": 32, "ffn_dim": 32, "num_layers": 2, "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "rope_max_seq_len": 64,
}
