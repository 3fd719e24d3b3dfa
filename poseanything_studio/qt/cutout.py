"""The Cut out tool: a box around the subject and strokes on it and on the background, for GrabCut.

The first left-drag draws the box (Ctrl+drag draws a new one); later left-drags, or any Shift+drag, paint
strokes on the subject, right-drags or Alt+drags strokes on the background. Each release asks the window
to cut the subject out (canvas.cutout_requested with a core.grabcut.Strokes): it runs core.grabcut in a
worker and makes the result the painted mask in one undo step, so each stroke refines the last cut. The box
and strokes stay on the canvas until the picture changes or Rig > Clear cut-out strokes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsRectItem

from poseanything_studio.core.grabcut import Strokes

from .canvas_tools import CLICK_PIXELS, Gesture, Tool

if TYPE_CHECKING:
    from .canvas import Canvas

HINT = (
    "Cut out: drag a box around the subject; then left-drag on parts it missed, right-drag (or Alt) on "
    "background it took; Ctrl+drag a new box"
)
COLOURS = {"box": QColor(255, 140, 0), "foreground": QColor(60, 230, 90), "background": QColor(240, 60, 60)}


def _pen(colour: QColor, width: float, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    return pen


class CutoutTool(Tool):
    """Cut out: what the user marked (a box, subject and background strokes), drawn over the picture."""

    cursor = Qt.CursorShape.CrossCursor

    def __init__(self, canvas: Canvas):
        super().__init__(canvas)
        self.box: tuple[float, float, float, float] | None = None
        self.foreground: list[list[tuple[float, float]]] = []
        self.background: list[list[tuple[float, float]]] = []
        self._picture: str | None = None  # the picture the marks were made on
        self._items: list = []
        canvas.doc.changed.connect(self._forget_other_picture)

    def strokes(self) -> Strokes:
        """What is marked now, as core.grabcut takes it."""
        return Strokes(
            box=self.box,
            foreground=tuple(tuple(s) for s in self.foreground),
            background=tuple(tuple(s) for s in self.background),
        )

    def clear(self) -> None:
        """Forget the box and strokes (the mask they cut stays)."""
        self.box, self.foreground, self.background = None, [], []
        for item in self._items:
            self.canvas.scene().removeItem(item)
        self._items = []

    @property
    def marks(self) -> list:
        """The canvas items that draw the box and strokes."""
        return list(self._items)

    def show_marks(self, on: bool) -> None:
        """Show the box and strokes (while this is the tool) or hide them."""
        for item in self._items:
            item.setVisible(on)

    def _forget_other_picture(self, *_args) -> None:
        if self._items and self.canvas.doc.project.image != self._picture:  # marks on another picture mean nothing
            self.clear()

    def press(self, pos: QPointF, event) -> Gesture | None:
        self._forget_other_picture()
        self._picture = self.canvas.doc.project.image
        mods = event.modifiers()
        if event.button() == Qt.MouseButton.RightButton or mods & Qt.KeyboardModifier.AltModifier:
            return CutoutStroke(self, pos, "background")
        if mods & Qt.KeyboardModifier.ShiftModifier:
            return CutoutStroke(self, pos, "foreground")
        if self.box is None or mods & Qt.KeyboardModifier.ControlModifier:
            return BoxDrag(self, pos)
        return CutoutStroke(self, pos, "foreground")

    def add_item(self, item) -> None:
        item.setZValue(45)
        self.canvas.scene().addItem(item)
        self._items.append(item)

    def request(self) -> None:
        """Ask the window to cut out with what is marked now."""
        self.canvas.cutout_requested.emit(self.strokes())


class BoxDrag(Gesture):
    """Cut out: drag the box around the subject (a click without a drag is no box)."""

    def __init__(self, tool: CutoutTool, pos: QPointF):
        super().__init__(tool.canvas)
        self.tool, self.start = tool, pos
        self.item = QGraphicsRectItem(QRectF(pos, pos))
        self.item.setPen(_pen(COLOURS["box"], 2, Qt.PenStyle.DashLine))
        tool.add_item(self.item)

    def move(self, pos: QPointF, event) -> None:
        self.item.setRect(QRectF(self.start, pos).normalized())

    def release(self, pos: QPointF, event) -> None:
        tool, canvas = self.tool, self.canvas
        rect = _onto_picture(QRectF(self.start, pos).normalized(), canvas)
        if min(rect.width(), rect.height()) * canvas.transform().m11() < CLICK_PIXELS:
            tool._items.remove(self.item)
            canvas.scene().removeItem(self.item)
            canvas.status_message.emit("Cut out: drag a box around the subject (a click is no box)")
            return
        for item in [i for i in tool._items if isinstance(i, QGraphicsRectItem) and i is not self.item]:
            tool._items.remove(item)  # one box: a new one replaces the old
            canvas.scene().removeItem(item)
        self.item.setRect(rect)
        tool.box = (rect.left(), rect.top(), rect.right(), rect.bottom())
        tool.request()


def _onto_picture(rect: QRectF, canvas: Canvas) -> QRectF:
    """`rect` within the picture, its sides a few screen pixels from the picture's edge put on it (a box dragged
    to the edge or past it means "the subject goes on out of the picture")."""
    picture = canvas.image_item.boundingRect()
    near = 2 * CLICK_PIXELS / max(canvas.transform().m11(), 1e-6)
    left, top = max(rect.left(), picture.left()), max(rect.top(), picture.top())
    right, bottom = min(rect.right(), picture.right()), min(rect.bottom(), picture.bottom())
    return QRectF(
        QPointF(
            picture.left() if left - picture.left() < near else left,
            picture.top() if top - picture.top() < near else top,
        ),
        QPointF(
            picture.right() if picture.right() - right < near else right,
            picture.bottom() if picture.bottom() - bottom < near else bottom,
        ),
    )


class CutoutStroke(Gesture):
    """Cut out: a stroke on the subject ("foreground") or on the background, drawn as it goes."""

    def __init__(self, tool: CutoutTool, pos: QPointF, kind: str):
        super().__init__(tool.canvas)
        self.tool, self.kind, self.points = tool, kind, [(pos.x(), pos.y())]
        self.path = QPainterPath(pos)
        self.path.lineTo(pos + QPointF(0.01, 0))  # a click shows as a dot
        self.item = QGraphicsPathItem(self.path)
        picture = tool.canvas.image_item.boundingRect()
        pen = _pen(COLOURS[kind], max(3.0, 0.01 * max(picture.width(), picture.height())))  # Strokes' own width
        pen.setCosmetic(False)  # in picture pixels: it shows what the cut takes as marked
        self.item.setPen(pen)
        tool.add_item(self.item)

    def move(self, pos: QPointF, event) -> None:
        self.points.append((pos.x(), pos.y()))
        self.path.lineTo(pos)
        self.item.setPath(self.path)

    def release(self, pos: QPointF, event) -> None:
        getattr(self.tool, self.kind).append(self.points)
        self.tool.request()
