"""`poseanything-studio train CONFIG`: the flow-matching fine-tune of PoseAnything (arXiv:2512.13465; docs/training.md).

Objective (Wan2.2): x0 the clip's normalised VAE latent, sigma drawn uniform and shifted as Wan does,
sigma = shift * u / (1 + (shift - 1) * u) (shift 5 for TI2V), x_t = (1 - sigma) x0 + sigma * noise,
target velocity noise - x0, MSE. The first latent frame stays clean (the reference image; its tokens get
timestep 0) and is masked out of the loss; every other token gets timestep sigma * 1000. Pose latents come
from the same VAE; with probability `condition_dropout` the pose becomes the null pose (the VAE latent of
black frames, what the pipeline feeds for "no subject") and the prompt the empty prompt, so CFG works.

Stages (`[[stages]]`) run one after another, each with its own data, trainable set, learning rate and
AdamW. Checkpoints (every `checkpoint_every` steps) hold everything an exact resume needs, in safetensors
and JSON only; the output is a PoseAnything `.safetensors` checkpoint the renderer loads.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from .training.cache import LatentCache, clip_at
from .training.config import MAX_CONFIG_BYTES, TRAINABLE, Config, ConfigError, Stage, load_config
from .training.objective import LORA_TARGETS, flow_matching_loss, lora_target_modules, sample_sigma, trainable_names
from .training.state import latest_checkpoint
from .training.trainer import OUTPUT_NAME, Progress, Trainer, stop_between_steps

EXIT_OK, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 2, 130
__all__ = ["LORA_TARGETS", "MAX_CONFIG_BYTES", "OUTPUT_NAME", "TRAINABLE", "Config", "ConfigError", "LatentCache",
           "Progress", "Stage", "Trainer", "clip_at", "flow_matching_loss", "latest_checkpoint", "load_config",
           "lora_target_modules", "main", "parser", "sample_sigma", "stop_between_steps", "trainable_names"]


def parser() -> argparse.ArgumentParser:
    from poseanything_studio.cliargs import OneLineParser

    p = OneLineParser(prog="poseanything-studio train", description=(
        "Fine-tune PoseAnything with Wan's flow-matching objective, stage by stage, from a TOML config "
        "(see docs/training.md and configs/train_example.toml). Resumes from the newest checkpoint in "
        "train.output_dir. Multi-GPU: accelerate launch main.py train CONFIG."))
    p.add_argument("config", type=Path, help="the TOML config")
    p.add_argument("--max-steps", type=int, default=None, help="stop (with a checkpoint) after this many steps")
    return p


def main(argv: list[str]) -> int:
    """Train; 0 done, 2 bad config or data (one line naming the file and key), 130 interrupted."""
    args = parser().parse_args(argv)
    from .data import DatasetError
    from .errors import ModelError

    trainer = None
    try:
        cfg = load_config(args.config)
        if not math.isfinite(cfg.shift):
            raise ConfigError(f"{args.config}: train.shift: must be finite")
        trainer = Trainer(cfg)
        try:
            trainer.run(args.max_steps)
        finally:
            trainer.close()
        code = EXIT_OK
    except (ConfigError, DatasetError, ModelError) as err:
        print(f"train: {err}", file=sys.stderr)
        code = EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("train: interrupted; a checkpoint was saved at the last finished step (unless Ctrl+C was pressed "
              "twice); run the same command again to resume", file=sys.stderr)
        code = EXIT_CANCELLED
    if trainer is not None and trainer.acc.num_processes > 1:
        _leave_worker(code)
    return code


def _leave_worker(code: int) -> None:
    """End one process of a multi-process run once its work is saved and the group is left, skipping C++ teardown.

    After `destroy_process_group`, the distributed backend's threads are still destroyed at interpreter exit, and on
    a loaded machine that occasionally aborts the process (`terminate called without an active exception`, SIGABRT),
    which fails the whole launch although every file was written. Flushing and leaving with os._exit avoids it.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
