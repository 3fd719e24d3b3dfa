"""`poseanything-studio examples [--copy DIR]`: where the bundled example projects are, or a copy to edit."""

from __future__ import annotations

import sys
from pathlib import Path

from .shared import EXIT_BAD_INPUT, EXIT_OK, PROG, OneLineParser, os_error_line


def main(argv: list[str]) -> int:
    """List the examples, or copy them (with their pictures) into a folder; an existing file is never replaced."""
    parser = OneLineParser(
        prog=f"{PROG} examples",
        description="List the bundled example projects, or copy "
        "them (with their pictures) into a folder of yours to open, edit and save.",
    )
    parser.add_argument("--copy", metavar="DIR", help="copy every example into DIR (existing files are kept)")
    args = parser.parse_args(argv)
    from poseanything_studio.bundled import copy_examples, example_projects

    if args.copy is None:
        for name, path in example_projects().items():
            print(f"{name:10} {path}")
        return EXIT_OK
    try:
        copied = copy_examples(Path(args.copy))
    except OSError as err:  # FileExistsError (a clash) is one; a full disk leaves nothing copied
        print(f"error: {os_error_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in copied:
        print(path)
    return EXIT_OK
