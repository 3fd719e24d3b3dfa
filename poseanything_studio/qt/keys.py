"""Keys that belong to text and number fields even where the window binds them to an action.

Tab toggles Animate / Setup mode, but in a text or number field Tab must move the focus (typing
"1280 Tab 704" fills two fields). Qt offers the key to window shortcuts first; this filter claims
Tab and Shift+Tab for fields (ShortcutOverride accepted), so the field gets them as ordinary keys.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractSpinBox, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit

FIELD_KEYS = (Qt.Key.Key_Tab, Qt.Key.Key_Backtab)
FIELDS = (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit, QComboBox)


class FieldKeys(QObject):
    """Application event filter: Tab in a field moves focus instead of triggering a window shortcut."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in FIELD_KEYS and isinstance(watched, FIELDS):
            event.accept()  # the field takes the key; Qt then moves focus as it does for Tab
        return False
