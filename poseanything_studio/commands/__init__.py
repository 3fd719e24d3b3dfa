"""`poseanything-studio`: the window, and one module here per command (render, examples, templates, motion, model,
dataset, train, eval).

Exit status: 0 done, 1 a crash (a bug: please report it), 2 bad input, 130 cancelled with Ctrl+C.
Each command's module has `main(argv) -> int` and imports what it needs only when it runs, so starting the
window or a puppet render never loads torch.
"""

from __future__ import annotations

import importlib
import sys

from .shared import EXIT_BAD_INPUT, EXIT_CANCELLED, PROG, os_error_line, unencodable_line

# Packages of the `neural` and `train` extras (pyproject.toml): a command that needs one says which extra to install.
OPTIONAL_STACKS = ("torch", "diffusers", "transformers", "safetensors", "accelerate", "peft", "tensorboard")

# name -> (module in this package, help). The window's `--help` lists them in this order.
COMMANDS = {
    "render": ("render", "render a project to MP4, GIF, WebM, ProRes or PNGs"),
    "examples": ("examples", "list the bundled example projects, or copy them"),
    "templates": ("templates", "list the bundled rig templates"),
    "model": ("model", "neural model utilities (e.g. `model tiny DIR`: a tiny random model for tests)"),
    "dataset": ("dataset", "build an XPose-style pose/video dataset from clips"),
    "train": ("train", "fine-tune the PoseAnything model from a config"),
    "eval": ("evaluate", "PSNR/SSIM/L1 (LPIPS/FVD with local weights) of videos"),
    "motion": ("motion", "motion in (BVH, OpenPose/COCO JSON) and out (OpenPose JSON, pose videos)"),
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script, of `python -m poseanything_studio` and of `main.py`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return run_command(argv[0], argv[1:])
    from .window import main as window_main

    return window_main(argv)


def run_command(name: str, argv: list[str]) -> int:
    """Run one command; what the system refuses (a full disk, no memory, a missing extra) is one line and exit 2."""
    try:
        module = importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
        return int(module.main(argv) or 0)
    except ModuleNotFoundError as err:
        if (err.name or "").startswith("poseanything_studio.model"):  # a wheel built without the neural model
            print(f"{PROG} {name}: not available in this installation (model is missing)", file=sys.stderr)
            return EXIT_BAD_INPUT
        stack = (err.name or "").split(".")[0]
        if stack not in OPTIONAL_STACKS:
            raise
        extra = "train" if name in ("train", "dataset") else "neural"
        print(
            f"{PROG} {name}: needs {stack}, which this installation lacks: pip install 'poseanything-studio[{extra}]'",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{PROG} {name}: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except OSError as err:  # the system refused (a full disk, a file gone, a name too long): not a bug of ours
        print(f"{PROG} {name}: error: {os_error_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print(f"{PROG} {name}: error: out of memory", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnicodeError as err:  # a name from a broken file system (bytes that are not UTF-8) a library refuses
        print(f"{PROG} {name}: error: {unencodable_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
