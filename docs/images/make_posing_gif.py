"""Remake docs/images/posing.gif: the cat posed in the window, a hips drag (the legs come along) then a paw
drag (IK: the knee bends, the shin keeps its length), grabbed offscreen from the canvas as the drags run.

The drags go through the canvas's own mouse handlers (press, moves, release), as a user's do.

    QT_QPA_PLATFORM=offscreen python docs/images/make_posing_gif.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QImage, QMouseEvent  # noqa: E402

from poseanything_studio.bundled import default_example  # noqa: E402
from poseanything_studio.core import edits  # noqa: E402
from poseanything_studio.core.project import load_project  # noqa: E402

OUT = ROOT / "docs" / "images" / "posing.gif"
WIDTH = 520  # pixels of the GIF


def grab(canvas) -> np.ndarray:
    """The canvas as it is drawn now, RGB, scaled to WIDTH."""
    image = canvas.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    image = image.scaledToWidth(WIDTH, Qt.TransformationMode.SmoothTransformation)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    return np.frombuffer(image.constBits(), np.uint8).reshape(h, stride)[:, : w * 3].reshape(h, w, 3).copy()


def mouse(canvas, kind, xy) -> None:
    """A mouse event at reference pixel `xy`, sent to the canvas's own handler."""
    pos = QPointF(canvas.mapFromScene(float(xy[0]), float(xy[1])))
    types = {
        "press": QMouseEvent.Type.MouseButtonPress,
        "move": QMouseEvent.Type.MouseMove,
        "release": QMouseEvent.Type.MouseButtonRelease,
    }
    buttons = Qt.MouseButton.NoButton if kind == "release" else Qt.MouseButton.LeftButton
    event = QMouseEvent(
        types[kind],
        pos,
        canvas.viewport().mapToGlobal(pos),
        Qt.MouseButton.LeftButton,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    {"press": canvas.mousePressEvent, "move": canvas.mouseMoveEvent, "release": canvas.mouseReleaseEvent}[kind](event)


def scripted_drag(app, window, joint_id: str, path: np.ndarray, frames: list) -> None:
    """Drag `joint_id` along `path` (offsets from where it is), grabbing the canvas at each step."""
    canvas, doc = window.canvas, window.doc
    start = edits.pose_at(doc.project, doc.frame)[doc.project.rig.joint_index(joint_id)]
    mouse(canvas, "press", start)
    for offset in path:
        mouse(canvas, "move", start + offset)
        canvas._refine()
        app.processEvents()
        frames.append(grab(canvas))
    mouse(canvas, "release", start + path[-1])
    frames.extend([frames[-1]] * 6)  # a pause to see the result


def main() -> int:
    from PySide6.QtCore import QSettings

    from poseanything_studio.qt.app import application
    from poseanything_studio.qt.main_window import MainWindow

    app = application()
    settings = QSettings(str(OUT.with_suffix(".ini")), QSettings.Format.IniFormat)
    window = MainWindow(load_project(default_example()), settings=settings)
    window.keep_layout = False
    window.resize(1100, 700)
    window.show()
    app.processEvents()
    window.preview.request(window.doc.project, window.doc.mask, now=True)
    window.canvas.fit()
    window.doc.set_frame(0)
    app.processEvents()
    frames = [grab(window.canvas)] * 4
    t = np.linspace(0, 1, 14)[:, None]
    hips = np.hstack([40 * np.sin(np.pi * t), -25 * np.sin(np.pi * t) + 0 * t]) * [[1, 1]]
    scripted_drag(app, window, "hips", np.vstack([hips[:8], hips[7:8] * np.ones((4, 1))]), frames)
    paw = np.hstack([60 * t, -50 * np.sin(np.pi * t / 1.2)])
    scripted_drag(app, window, "front_l_paw", paw, frames)
    window.doc.undo_stack.setClean()
    window.close()
    OUT.with_suffix(".ini").unlink(missing_ok=True)
    iio.imwrite(OUT, np.stack(frames), duration=80, loop=0)
    print(f"wrote {OUT} ({len(frames)} frames, {OUT.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
