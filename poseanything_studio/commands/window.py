"""`poseanything-studio [PROJECT_OR_PICTURE]`: the window (no command name), and the list of commands in `--help`."""

from __future__ import annotations

import argparse
import os
import sys

from poseanything_studio import __version__

from .shared import EXIT_BAD_INPUT, PROG


def parser() -> argparse.ArgumentParser:
    """The window's options; its epilog lists every command."""
    from . import COMMANDS

    commands = "\n".join(f"  {name:9} {help_text}" for name, (_, help_text) in COMMANDS.items())
    p = argparse.ArgumentParser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Animate any subject from one picture: rig a skeleton, keyframe it, render a video.",
        epilog=f"commands (`{PROG} COMMAND --help` for each):\n{commands}",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument(
        "project",
        nargs="?",
        metavar="PROJECT_OR_PICTURE",
        help="a .pasproj project to open, or a picture (PNG, JPEG, WebP...) to start a new project "
        "on (default: the cat example, untitled)",
    )
    p.add_argument("--screenshot", metavar="OUT.png", help="open the window on PROJECT, save a picture of it and exit")
    return p


def main(argv: list[str]) -> int:
    """Open the window; 2 (one line) where this system cannot show it."""
    args = parser().parse_args(argv)
    from poseanything_studio.qt.syslibs import (  # imports no Qt
        display_problem,
        missing_libraries,
        missing_libraries_line,
    )

    if args.screenshot and display_problem():  # a picture of the window needs no screen
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    missing = missing_libraries()
    if missing:  # Qt itself would abort with a page about platform plugins
        print(f"{PROG}: {missing_libraries_line(missing)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    problem = display_problem()
    if problem:  # Qt would abort (exit 134) with its own page about platform plugins
        print(f"{PROG}: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from poseanything_studio.qt.app import run_window  # PySide6 only from here on

    return run_window(args.project, screenshot=args.screenshot)
