"""The flow-matching fine-tune of PoseAnything (arXiv:2512.13465; docs/training.md).

Objective (Wan2.2): x0 the clip's normalised VAE latent, sigma drawn uniform and shifted as Wan does,
sigma = shift * u / (1 + (shift - 1) * u) (shift 5 for TI2V), x_t = (1 - sigma) x0 + sigma * noise,
target velocity noise - x0, MSE. The first latent frame stays clean (the reference image; its tokens get
timestep 0) and is masked out of the loss; every other token gets timestep sigma * 1000. Pose latents come
from the same VAE; with probability `condition_dropout` the pose becomes the null pose (the VAE latent of
black frames, what the pipeline feeds for "no subject") and the prompt the empty prompt, so CFG works.

Stages (`[[stages]]`) run one after another, each with its own data, trainable set, learning rate and
AdamW. Checkpoints (every `checkpoint_every` steps) hold everything an exact resume needs, in safetensors
and JSON only; the output is a PoseAnything `.safetensors` checkpoint the renderer loads. The command
`poseanything-studio train CONFIG` is poseanything_studio/commands/train.py; this module names the pieces
of model/training/ for it.
"""

from __future__ import annotations

from .training.cache import LatentCache, clip_at
from .training.config import MAX_CONFIG_BYTES, TRAINABLE, Config, ConfigError, Stage, load_config
from .training.objective import LORA_TARGETS, flow_matching_loss, lora_target_modules, sample_sigma, trainable_names
from .training.state import latest_checkpoint
from .training.trainer import OUTPUT_NAME, Progress, Trainer, stop_between_steps

__all__ = [
    "LORA_TARGETS",
    "MAX_CONFIG_BYTES",
    "OUTPUT_NAME",
    "TRAINABLE",
    "Config",
    "ConfigError",
    "LatentCache",
    "Progress",
    "Stage",
    "Trainer",
    "clip_at",
    "flow_matching_loss",
    "latest_checkpoint",
    "load_config",
    "lora_target_modules",
    "sample_sigma",
    "stop_between_steps",
    "trainable_names",
]
