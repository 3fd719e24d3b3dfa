"""`poseanything-studio model ...`: neural model utilities (no Qt; torch is imported only by the command run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

TINY_HELP = ("write a tiny random-weight model folder (Wan2.2-TI2V-5B diffusers layout plus a PoseAnything "
             "checkpoint) for tests; its renders are NOISE, not pictures")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="poseanything-studio model", description="Neural model utilities.")
    sub = p.add_subparsers(dest="command", required=True)
    tiny = sub.add_parser("tiny", help=TINY_HELP, description=TINY_HELP[0].upper() + TINY_HELP[1:] + ".")
    tiny.add_argument("folder", type=Path, help="where to write it (must be empty or not exist)")
    tiny.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    sub.add_parser("memory", help="print the measured GPU memory peaks of rendering (docs/neural.md) and the "
                                  "training memory per GPU (docs/training.md)")
    return p


def main(argv: list[str]) -> int:
    """Run a model command; 0 done, 2 bad input."""
    args = parser().parse_args(argv)
    if args.command == "tiny":
        folder = args.folder.expanduser()
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            print(f"model tiny: {folder} exists and is not an empty folder", file=sys.stderr)
            return 2
        from .tiny import CHECKPOINT_NAME, write_tiny_model

        write_tiny_model(folder, seed=args.seed)
        print(f"wrote a tiny random model to {folder} (checkpoint {folder / CHECKPOINT_NAME}); it renders noise")
        return 0
    if args.command == "memory":
        from .memory import memory_table, training_table

        print(memory_table())
        print()
        print(training_table())
        return 0
    return 2
