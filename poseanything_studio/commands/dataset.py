"""`poseanything-studio dataset build VIDEOS_DIR -o DATASET`: an XPose-style pose/video dataset (arXiv:2512.13465).

The builder is the `dataset` package (poseanything_studio/dataset/); this is its command line: the options, the
checks of the folders given, and the exit status (0 done, 2 bad input, 130 interrupted: run it again to resume).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from .shared import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_OK, PROG, OneLineParser


def parser() -> OneLineParser:
    """The dataset command's options (`build` and its filter thresholds)."""
    from poseanything_studio.dataset.filters import Filters

    p_top = OneLineParser(prog=f"{PROG} dataset", description=__doc__.splitlines()[0])
    sub = p_top.add_subparsers(dest="command", required=True)
    p = sub.add_parser("build", help="build or resume a dataset from a folder of clips")
    p.add_argument("videos", type=Path, help="folder of clips (.mp4 .mov .avi .mkv .webm)")
    p.add_argument("-o", "--output", type=Path, required=True, help="dataset folder (created; resumed if present)")
    p.add_argument("--masks", type=Path, help="folder with one sub-folder of per-frame mask PNGs per clip name")
    p.add_argument("--size", default="832x480", help="WxH the clips are fitted to (multiples of 32)")
    p.add_argument("--max-frames", type=int, default=49, help="frames kept per clip (4k+1)")
    p.add_argument(
        "--background",
        choices=("median", "mog2"),
        default="median",
        help="masks for clips without given masks: distance from the median frame, or OpenCV MOG2",
    )
    p.add_argument("--grabcut", action="store_true", help="refine background-subtraction masks with GrabCut")
    p.add_argument(
        "-y",
        "--overwrite",
        action="store_true",
        help="build into a folder that holds other files but no manifest.jsonl (its clips/NAME folders "
        "may be replaced)",
    )
    defaults = Filters()
    for name, help_text in (
        ("min_area", "smallest subject area ratio"),
        ("max_area", "largest subject area ratio"),
        ("min_iou", "smallest mask IoU between neighbouring frames"),
        ("min_skeleton", "smallest share of frames with a skeleton (T_skel/T)"),
        ("max_cut", "largest histogram distance between neighbouring frames (scene cuts)"),
        ("max_camera", "largest background motion, fraction of the width per frame"),
    ):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name), help=help_text)
    return p_top


def main(argv: list[str]) -> int:
    """`poseanything-studio dataset build VIDEOS_DIR -o DATASET [--masks MASKS_DIR] [thresholds]`."""
    from poseanything_studio.core.errors import ProjectError
    from poseanything_studio.core.project import parse_size
    from poseanything_studio.dataset.build import BadManifest, build
    from poseanything_studio.dataset.filters import Filters
    from poseanything_studio.dataset.masks import Masking

    args = parser().parse_args(argv)
    try:
        size = parse_size([int(v) for v in args.size.lower().split("x")], key="--size")
    except (ValueError, ProjectError) as err:
        print(f"error: --size: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    problem = _folders_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    filters = Filters(args.min_area, args.max_area, args.min_iou, args.min_skeleton, args.max_cut, args.max_camera)
    try:
        entries = build(
            args.videos,
            args.output,
            size,
            filters,
            args.masks,
            args.max_frames,
            progress=sys.stderr.isatty(),
            masking=Masking(args.background, args.grabcut),
        )
    except KeyboardInterrupt:
        print("dataset: interrupted; run the same command again to resume", file=sys.stderr)
        return EXIT_CANCELLED
    except BadManifest as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as err:  # a full disk, a folder removed meanwhile: finished clips stay, the one in progress is gone
        print(
            f"error: {err.filename or args.output}: {err.strerror or err}; run the command again to resume",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    accepted = sum(e["status"] == "accepted" for e in entries)
    print(
        f"{accepted} accepted, {len(entries) - accepted} rejected; manifest: {args.output / 'manifest.jsonl'}"
        f" ({json.dumps(asdict(filters))})"
    )
    return EXIT_OK


def _folders_problem(args) -> str | None:
    """Why the clips, masks, frame count or output given cannot be built from (None when they can)."""
    if not args.videos.is_dir():
        return f"{args.videos}: not a folder of clips"
    if args.masks is not None and not args.masks.is_dir():
        return f"--masks: {args.masks}: not a folder"
    if args.max_frames < 5 or (args.max_frames - 1) % 4:
        return f"--max-frames: must be 4k+1 and at least 5, got {args.max_frames}"
    return check_output_folder(args.output, (args.videos, args.masks), args.overwrite)


def check_output_folder(output: Path, inputs: tuple[Path | None, ...], overwrite: bool = False) -> str | None:
    """Why `output` cannot be the dataset folder (None when it can): a file, unwritable, one of the inputs, or
    (without `overwrite`) a folder of other files that is not a dataset (no manifest.jsonl)."""
    if "\0" in str(output):
        return f"-o: {str(output)!r} holds a NUL byte"
    if output.exists() and not output.is_dir():
        return f"-o: {output} exists and is not a folder"
    for item in inputs:
        if item is not None and output.resolve() == item.resolve():
            return f"-o: {output} is also an input folder; write the dataset elsewhere"
    probe = output if output.is_dir() else next((p for p in output.resolve().parents if p.exists()), None)
    if probe is None or not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        return f"-o: {output}: folder {probe} is not writable"
    if not overwrite and output.is_dir() and not (output / "manifest.jsonl").exists() and any(output.iterdir()):
        return f"-o: {output} holds other files and no manifest.jsonl; pass --overwrite to build the dataset into it"
    return None
