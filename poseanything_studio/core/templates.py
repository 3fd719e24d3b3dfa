"""Rig templates from the package's `resources/templates/*.json`: normalised rigs placed and scaled over the picture.

A template holds a rig in the project's JSON shape with coordinates in [0, 1] across the subject's
box, and an `aspect` (box width / height). Placing fits that box inside a target box (the subject
mask's bounding box when there is one, else the middle of the picture), keeping the aspect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ProjectError
from .project import rig_from
from .rig import Rig

ORDER = ("human", "quadruped", "bird", "fish", "snake", "robot_arm")


@dataclass(frozen=True)
class Template:
    """A named rig with normalised coordinates."""

    key: str
    name: str
    description: str
    rig: Rig
    aspect: float


def load_templates(folder: Path | None = None) -> list[Template]:
    """Every template in `folder` (default: the bundled ones), the standard ones first."""
    if folder is None:
        from poseanything_studio.bundled import templates_dir

        folder = templates_dir()
    found = []
    for path in sorted(folder.glob("*.json")):
        try:
            found.append(read_template(path))
        except (OSError, ValueError, KeyError, ProjectError):
            continue  # a broken template is skipped, not fatal
    rank = {k: i for i, k in enumerate(ORDER)}
    return sorted(found, key=lambda t: (rank.get(t.key, len(ORDER)), t.name))


def read_template(path: Path) -> Template:
    """One template file."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rig = rig_from(data.get("rig"))  # the project file's rig reader: same shape, same checks
    return Template(
        path.stem, data.get("name", path.stem), data.get("description", ""), rig, float(data.get("aspect", 1.0))
    )


def target_box(image_size: tuple[int, int], mask: np.ndarray | None) -> tuple[float, float, float, float]:
    """Where to place a template: the mask's bounding box, else the middle 60% of the picture (x, y, w, h)."""
    if mask is not None and mask.any() and not mask.all():
        ys, xs = np.nonzero(mask)
        return float(xs.min()), float(ys.min()), float(xs.max() - xs.min()), float(ys.max() - ys.min())
    w, h = image_size
    return 0.2 * w, 0.2 * h, 0.6 * w, 0.6 * h


def placed(template: Template, box: tuple[float, float, float, float]) -> Rig:
    """The template's rig scaled into `box` (x, y, w, h) keeping its aspect, centred."""
    x, y, w, h = box
    bw = min(w, h * template.aspect)
    bh = bw / template.aspect
    ox, oy = x + (w - bw) / 2, y + (h - bh) / 2
    matrix = np.array([[bw, 0.0, ox], [0.0, bh, oy]])
    return template.rig.transformed(matrix)


def fitted(template: Template, image_size: tuple[int, int], mask: np.ndarray | None, turn: bool = True) -> Rig:
    """The template over the subject: fitted to its mask (joints inside, limbs on the limbs, turned to the
    auto-rig's limb ends with `turn`) when the mask shows one, else placed in the middle of the picture."""
    if mask is None or not mask.any() or mask.all():
        return placed(template, target_box(image_size, mask))
    from .template_fit import fit_to_mask, largest_region

    return fit_to_mask(placed(template, target_box(image_size, largest_region(mask))), mask, turn=turn)
