"""The studio window: PySide6 + pyqtgraph views over the core document. Never imports model or torch."""
