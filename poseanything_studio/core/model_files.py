"""The names of a model folder and of our checkpoint: one home for the model side, the renderer and the window.

Pure names (no torch): `model.pipeline` checks a folder against `MODEL_LAYOUT`, the window says which of
`MODEL_PARTS` a folder lacks without loading anything, and every place that writes or looks for the
PoseAnything checkpoint uses `CHECKPOINT_NAME`.
"""

from __future__ import annotations

CHECKPOINT_NAME = "poseanything.safetensors"  # ours, in the model folder (tiny models) or a training's output
MODEL_INDEX_NAME = "model_index.json"  # what makes a folder a diffusers model folder
# What a Wan2.2-TI2V-5B diffusers folder must hold: sub-folder -> files (a tuple means one of them).
MODEL_LAYOUT: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "transformer": (
        "config.json",
        ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"),
    ),
    "vae": ("config.json", ("diffusion_pytorch_model.safetensors",)),
    "text_encoder": ("config.json", ("model.safetensors", "model.safetensors.index.json")),
    "tokenizer": (("tokenizer.json", "spiece.model"),),
    "scheduler": ("scheduler_config.json",),
}
MODEL_PARTS = (MODEL_INDEX_NAME, *MODEL_LAYOUT)  # the entries a model folder needs at its top
