"""Remake docs/images/cutout.jpg: the Cut out tool on scikit-image's astronaut, left the cut from the box alone,
right after the few strokes of tests/core/hand_masks.USER_STROKES (red: background, green: her), each grabbed
from the canvas with the mask overlay on. The box and strokes go through the canvas's own mouse handlers.

    QT_QPA_PLATFORM=offscreen python docs/images/make_cutout_figure.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "core"))

from hand_masks import USER_STROKES, photo  # noqa: E402
from PySide6.QtCore import QSettings, Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from poseanything_studio.core.grabcut import iou  # noqa: E402

OUT = ROOT / "docs" / "images" / "cutout.jpg"
HEIGHT = 420  # pixels of each half


def grab(window) -> np.ndarray:
    """The canvas as drawn now, cropped to the picture, RGB, HEIGHT tall."""
    canvas = window.canvas
    image = canvas.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    rgb = np.frombuffer(image.constBits(), np.uint8).reshape(h, stride)[:, : w * 3].reshape(h, w, 3)
    rect = canvas.mapFromScene(canvas.image_item.boundingRect()).boundingRect().adjusted(-4, -4, 4, 4)
    crop = rgb[max(0, rect.top()) : rect.bottom(), max(0, rect.left()) : rect.right()]
    return cv2.resize(crop, (round(crop.shape[1] * HEIGHT / crop.shape[0]), HEIGHT), interpolation=cv2.INTER_AREA)


def stroke(window, points, button=Qt.MouseButton.LeftButton) -> None:
    vp, at = window.canvas.viewport(), lambda p: window.canvas.mapFromScene(float(p[0]), float(p[1]))
    QTest.mousePress(vp, button, Qt.KeyboardModifier.NoModifier, at(points[0]))
    for p in points[1:]:
        QTest.mouseMove(vp, at(p))
    QTest.mouseRelease(vp, button, Qt.KeyboardModifier.NoModifier, at(points[-1]))


def settle(app, window) -> None:
    while window.busy.running:
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()


def main() -> None:
    app = QApplication.instance() or QApplication([])
    from poseanything_studio.qt.main_window import MainWindow, blank_project

    folder = Path(tempfile.mkdtemp())
    rgb, hand = photo("astronaut")
    cv2.imwrite(str(folder / "astronaut.png"), rgb[..., ::-1])
    settings = QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(blank_project(folder / "astronaut.png"), settings=settings)
    window.keep_layout = False
    window.resize(1200, 900)
    window.show()
    app.processEvents()
    window.overlay_actions["puppet"].setChecked(False)
    window.tool_actions["cutout"].trigger()
    marks = USER_STROKES["astronaut"]
    x0, y0, x1, y1 = marks["box"]
    stroke(window, [(x0, y0), (x1, y1)])
    settle(app, window)
    boxed = grab(window), iou(window.doc.mask, hand)
    for points in marks["background"]:
        stroke(window, points, Qt.MouseButton.RightButton)
    for points in marks["foreground"]:
        stroke(window, points)
    settle(app, window)
    refined = grab(window), iou(window.doc.mask, hand)
    print(f"IoU against the hand mask: box {boxed[1]:.3f}, box and strokes {refined[1]:.3f}")
    gap = np.full((HEIGHT, 8, 3), 255, np.uint8)
    cv2.imwrite(str(OUT), np.hstack([boxed[0], gap, refined[0]])[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    window.doc.undo_stack.setClean()
    window.close()
    print(OUT)


if __name__ == "__main__":
    main()
