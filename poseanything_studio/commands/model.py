"""`poseanything-studio model tiny|memory`: neural model utilities (torch is imported only by the command run)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .shared import OneLineParser

TINY_HELP = (
    "write a tiny random-weight model folder (Wan2.2-TI2V-5B diffusers layout plus a PoseAnything "
    "checkpoint) for tests; its renders are NOISE, not pictures"
)


def parser() -> argparse.ArgumentParser:
    """The model command's options: `tiny FOLDER` and `memory`."""
    p = OneLineParser(prog="poseanything-studio model", description="Neural model utilities.")
    sub = p.add_subparsers(dest="command", required=True)
    tiny = sub.add_parser("tiny", help=TINY_HELP, description=TINY_HELP[0].upper() + TINY_HELP[1:] + ".")
    tiny.add_argument("folder", type=Path, help="where to write it (must be empty or not exist)")
    tiny.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    tiny.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="leave out poseanything.safetensors: the base model only, as the public Wan2.2 weights come "
        "(the renderer then refines the puppet render)",
    )
    sub.add_parser(
        "memory",
        help="print the measured GPU memory peaks of rendering (docs/neural.md) and the "
        "training memory per GPU (docs/training.md)",
    )
    return p


def _tiny_folder_problem(folder: Path) -> str | None:
    """Why `model tiny` cannot write into `folder` (None when it can)."""
    if "\0" in str(folder):
        return f"{str(folder)!r} holds a NUL byte"
    try:
        str(folder.resolve()).encode("utf-8")  # the tokenizer library writes through Rust, which takes UTF-8 only
    except UnicodeError:
        return f"{str(folder)!a}: a name in this path is not UTF-8 text; write the model elsewhere"
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in folder.parts):
        return f"{str(folder)[:60]}...: a name in this path is longer than 255 bytes"
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        return f"{folder} exists and is not an empty folder"
    parent = next(p for p in folder.resolve().parents if p.exists())  # created below it as needed
    if not parent.is_dir():
        return f"{folder}: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{folder}: folder {parent} is not writable"
    return None


def main(argv: list[str]) -> int:
    """Run a model command; 0 done, 2 bad input."""
    args = parser().parse_args(argv)
    if args.command == "tiny":
        folder = args.folder.expanduser()
        problem = _tiny_folder_problem(folder)
        if problem:
            print(f"model tiny: {problem}", file=sys.stderr)
            return 2
        from transformers.utils import logging as transformers_logging

        from poseanything_studio.core.fileio import atomic_dir
        from poseanything_studio.model.tiny import CHECKPOINT_NAME, write_tiny_model

        transformers_logging.disable_progress_bar()  # its "Writing model shards" bar: stderr is for errors here

        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            with atomic_dir(folder) as tmp:  # the folder fills only once every file is written
                write_tiny_model(tmp, seed=args.seed, checkpoint=not args.no_checkpoint)
        except OSError as err:
            print(f"model tiny: {folder}: could not write ({err.strerror or err})", file=sys.stderr)
            return 2
        what = "no checkpoint: the base model" if args.no_checkpoint else f"checkpoint {folder / CHECKPOINT_NAME}"
        print(f"wrote a tiny random model to {folder} ({what}); it renders noise")
        return 0
    if args.command == "memory":
        from poseanything_studio.model.memory import memory_table, training_table

        print(memory_table())
        print()
        print(training_table())
        return 0
    return 2
