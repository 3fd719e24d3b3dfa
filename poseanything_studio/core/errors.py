"""The one error type the core raises for bad input, carrying the file and key it is about."""

from __future__ import annotations


class ProjectError(ValueError):
    """Bad input in a project, phrased as one line: `FILE: KEY: what is wrong`."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        self.detail = message
        parts = [p for p in (source, key) if p]
        super().__init__(": ".join([*parts, message]))

    def located(self, source: str) -> ProjectError:
        """The same error, naming `source` as the file it came from."""
        return ProjectError(self.detail, source=source, key=self.key)
