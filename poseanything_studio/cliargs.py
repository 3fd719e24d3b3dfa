"""The argument parser every command shares: a bad option is one line and exit 2, like every other bad input.

Its own module, importing nothing of the application, so `model` and the other commands can use it without
reaching the window's imports.
"""

from __future__ import annotations

import argparse

EXIT_BAD_INPUT = 2


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (`error: ...`) and exit 2, like every other bad input."""

    def error(self, message: str):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see `{self.prog} --help`)\n")
