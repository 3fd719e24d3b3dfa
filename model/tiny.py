"""Tiny random-weight configurations of the real classes: the same code paths as Wan2.2-TI2V-5B, in milliseconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from poseanything_studio.core.model_files import CHECKPOINT_NAME, MODEL_INDEX_NAME

# WanTransformer3DModel at a size a CPU runs instantly; same patch (1, 2, 2), qk norm and cross-attention norm.
TINY_TRANSFORMER_CONFIG: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 8,
    "out_channels": 8,
    "text_dim": 16,
    "freq_dim": 32,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 64,
}

# AutoencoderKLWan with the Wan2.2 layout (12-channel patchified RGB, 4x16x16, residual) at a toy width.
TINY_VAE_CONFIG: dict[str, Any] = {
    "base_dim": 8,
    "decoder_base_dim": 8,
    "z_dim": 8,
    "dim_mult": [1, 2, 2, 2],
    "num_res_blocks": 1,
    "temperal_downsample": [False, True, True],
    "is_residual": True,
    "in_channels": 12,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_spatial": 16,
    "scale_factor_temporal": 4,
    "latents_mean": [0.0] * 8,
    "latents_std": [1.0] * 8,
}
TINY_TEXT_ENCODER_CONFIG: dict[str, Any] = {
    "d_model": 16,
    "d_kv": 8,
    "d_ff": 32,
    "num_layers": 1,
    "num_heads": 2,
    "relative_attention_num_buckets": 8,
    "relative_attention_max_distance": 16,
    "feed_forward_proj": "gated-gelu",
    "pad_token_id": 0,
    "eos_token_id": 1,
}
# The scheduler of Wan2.2-TI2V-5B-Diffusers: UniPC on flow sigmas, shift 5.
SCHEDULER_CONFIG: dict[str, Any] = {
    "prediction_type": "flow_prediction",
    "use_flow_sigmas": True,
    "flow_shift": 5.0,
    "num_train_timesteps": 1000,
    "solver_order": 2,
    "solver_type": "bh2",
    "final_sigmas_type": "zero",
}
WORDS = [
    "a",
    "an",
    "the",
    "of",
    "on",
    "in",
    "with",
    "and",
    "is",
    "its",
    "cat",
    "dog",
    "fish",
    "bird",
    "horse",
    "robot",
    "arm",
    "person",
    "drawing",
    "walks",
    "runs",
    "swims",
    "jumps",
    "flies",
    "moves",
    "waves",
    "turns",
    "sits",
    "stands",
    "tail",
    "head",
    "leg",
    "wing",
    "body",
    "background",
    "camera",
    "pans",
    "zooms",
    "blurry",
    "static",
    "low",
    "quality",
    "worst",
    "bad",
    "ugly",
    "deformed",
]


def write_tiny_model(folder: str | Path, seed: int = 0, checkpoint: bool = True) -> Path:
    """Write a random-weight model folder in the real Wan2.2-TI2V-5B diffusers layout, plus a PoseAnything checkpoint
    unless `checkpoint` is False (the base model alone, as the public weights come).

    Its renders are noise: it exists so the real loading and rendering code runs end to end in seconds.
    """
    import torch
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from .checkpoint import save_checkpoint
    from .transformer import PoseAnythingTransformer3DModel

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    transformer = WanTransformer3DModel(**TINY_TRANSFORMER_CONFIG)
    transformer.save_pretrained(root / "transformer", safe_serialization=True)
    AutoencoderKLWan(**TINY_VAE_CONFIG).save_pretrained(root / "vae", safe_serialization=True)
    encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(WORDS) + 3, **TINY_TEXT_ENCODER_CONFIG))
    encoder.save_pretrained(root / "text_encoder", safe_serialization=True)
    tiny_tokenizer().save_pretrained(root / "tokenizer")
    UniPCMultistepScheduler(**SCHEDULER_CONFIG).save_pretrained(root / "scheduler")
    (root / MODEL_INDEX_NAME).write_text(json.dumps(MODEL_INDEX, indent=2) + "\n")

    if not checkpoint:
        return root
    model = PoseAnythingTransformer3DModel.from_base(transformer)
    with torch.no_grad():  # a checkpoint that does something: pose half and PTCM outputs non-zero
        model.patch_embedding.weight[:, model.config.in_channels :].normal_(std=0.05)
        for module in model.ptcm_modules:
            module.to_out.weight.normal_(std=0.05)
    save_checkpoint(model, root / CHECKPOINT_NAME)
    return root


def tiny_tokenizer():
    """A word-level tokenizer with T5's special tokens (<pad> 0, </s> 1, <unk> 2), built offline."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )


MODEL_INDEX: dict[str, Any] = {
    "_class_name": "WanPipeline",
    "_diffusers_version": "0.42.1",
    "boundary_ratio": None,
    "expand_timesteps": True,
    "scheduler": ["diffusers", "UniPCMultistepScheduler"],
    "text_encoder": ["transformers", "UMT5EncoderModel"],
    "tokenizer": ["transformers", "PreTrainedTokenizerFast"],
    "transformer": ["diffusers", "WanTransformer3DModel"],
    "transformer_2": [None, None],
    "vae": ["diffusers", "AutoencoderKLWan"],
}
