"""`poseanything-studio train CONFIG [--max-steps N]`: the flow-matching fine-tune (model/train.py; docs/training.md).

Only the command's options and exit statuses live here; the trainer is `model.train`, imported (with torch)
once the options are read, so `train --help` works on an install without the `[train]` extra.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from .shared import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_OK, PROG, OneLineParser


def parser() -> argparse.ArgumentParser:
    """The train command's options."""
    p = OneLineParser(
        prog=f"{PROG} train",
        description=(
            "Fine-tune PoseAnything with Wan's flow-matching objective, stage by stage, from a TOML config "
            "(see docs/training.md and configs/train_example.toml). Resumes from the newest checkpoint in "
            "train.output_dir. Multi-GPU: accelerate launch main.py train CONFIG."
        ),
    )
    p.add_argument("config", type=Path, help="the TOML config")
    p.add_argument("--max-steps", type=int, default=None, help="stop (with a checkpoint) after this many steps")
    return p


def main(argv: list[str]) -> int:
    """Train; 0 done, 2 bad config or data (one line naming the file and key), 130 interrupted."""
    args = parser().parse_args(argv)
    from poseanything_studio.model.data import DatasetError
    from poseanything_studio.model.errors import ModelError
    from poseanything_studio.model.train import ConfigError, Trainer, load_config

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
        print(
            "train: interrupted; a checkpoint was saved at the last finished step (unless Ctrl+C was pressed "
            "twice); run the same command again to resume",
            file=sys.stderr,
        )
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
