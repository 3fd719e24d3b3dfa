"""What every command shares: the argument parser whose errors are one line, the exit statuses, error lines.

Imports nothing of the application, so a command's `--help` and its bad options cost no more than argparse.
"""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_CRASH, EXIT_BAD_INPUT, EXIT_CANCELLED = 0, 1, 2, 130
PROG = "poseanything-studio"


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (`error: ...`) and exit 2, like every other bad input."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")


def one_line(err: BaseException | str, limit: int = 400) -> str:
    """The error's text on one line, cut to `limit` characters (a message must fit a terminal line or two)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def unencodable_line(err: UnicodeError) -> str:
    """One line for a name holding bytes that are not UTF-8 text (or a lone surrogate), which a library refused."""
    text = getattr(err, "object", "")
    shown = ascii(text[:120]) if isinstance(text, str) else ""
    return one_line(
        f"the name {shown} holds bytes that are not UTF-8 text; rename it"
        if shown
        else f"a name holds bytes that are not UTF-8 text ({err}); rename it"
    )


def os_error_line(err: OSError) -> str:
    """`FILE: reason` for an OSError, on one line."""
    name = err.filename if isinstance(err.filename, str) else None
    reason = err.strerror or str(err)
    if name and len(name) > 120:
        name = name[:117] + "..."
    return one_line(f"{name}: {reason}" if name else reason)
