"""Where the window keeps its settings: one QSettings under the application's names, and the move from the old ones.

Its own module so that the window (main_window) and the start-up code (app) both read it without importing
each other.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

ORGANIZATION = "PoseAnything"
APPLICATION = "PoseAnything Studio"
OLD_SETTINGS = ("PoseAnything", "Studio")  # where the window kept its settings before they took the app's name


def studio_settings() -> QSettings:
    """The application's settings, under its organization and application names (the old keys copied over once)."""
    settings = QSettings(ORGANIZATION, APPLICATION)
    migrate_settings(QSettings(*OLD_SETTINGS), settings)
    return settings


def migrate_settings(old: QSettings, new: QSettings) -> bool:
    """Copy every key of `old` into `new` when `new` has none yet; True when something was copied."""
    keys = old.allKeys()
    if new.allKeys() or not keys:
        return False
    for key in keys:
        new.setValue(key, old.value(key))
    new.sync()
    return True
