"""The studio window: PySide6 + pyqtgraph views over the core document. Never imports model or torch."""

from __future__ import annotations

import ctypes
import sys


def _guard_pyside_refcount_bug() -> None:
    """Work around PySide6 6.12.0 on Python < 3.12: every call returning None/bool drops a reference it never took.

    Measured here: 1000 `processEvents()` calls lower None's refcount by 1000, 1000 signal emits lower
    True's; after some minutes of use Python aborts ("deallocating None"). Python 3.12 made these
    singletons immortal; we give them the same effectively-infinite refcount on 3.11. The real fix is
    PySide6-Essentials 6.11.3 (no leak measured) or Python >= 3.12.
    """
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return
    from PySide6 import __version__ as pyside_version

    if not pyside_version.startswith("6.12."):
        return
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += 1 << 40


_guard_pyside_refcount_bug()
