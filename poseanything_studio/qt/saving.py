"""The window's Save: a project and its painted subject mask written as one unit.

A painted mask goes to a PNG beside the project under a name no file has yet, then the project is written
pointing at it; the mask the project used before is removed only later, when the project on disk no longer
points at it and the undo history that might is gone (MaskFiles). A kill at any moment leaves a project on
disk that opens with the mask that goes with it (the old pair or the new one); at worst an unused mask PNG
is left over. Each file is written atomically (temporary + rename, core.fileio).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import ProjectError
from ..core.fileio import atomic_path
from ..core.project import Project, load_project, project_bytes, save_project


def mask_target(project_path: Path, project: Project) -> Path:
    """Where a painted mask saved with `project_path` goes: `<name>_mask.png` beside it (or `<name>_maskN.png`).

    The name is one no file has: any file there keeps its bytes, the project's current mask included, so the
    project on disk points at a whole mask until the new project replaces it. The path is absolute so that
    save_project makes it relative to the folder the project is saved in.
    """
    stem, folder = project_path.stem, project_path.resolve().parent
    name, n = f"{stem}_mask.png", 2
    while (folder / name).exists() or (folder / name).is_symlink():
        name, n = f"{stem}_mask{n}.png", n + 1
    return folder / name


def is_saves_mask(mask: Path, project_path: Path) -> bool:
    """Whether `mask` is a name this window's saves give masks of `project_path` (`<name>_mask*.png` beside it)."""
    return (mask.parent.resolve() == project_path.resolve().parent
            and re.fullmatch(rf"{re.escape(project_path.stem)}_mask\d*\.png", mask.name) is not None)


def save_work(project: Project, mask: np.ndarray | None, path: Path) -> Project:
    """The window's Save: `project` to `path` and a painted `mask` to a new PNG beside it, as one unit.

    The project is checked first (save_project refuses what load_project would), so a refused save writes
    nothing; the new mask file is removed again when the project cannot be written. The mask the project
    used before stays (the undo history may point at it): MaskFiles removes it later. Returns the project
    as saved.
    """
    if mask is None:
        return save_project(project, path)
    target = mask_target(path, project)
    with_mask = replace(project, subject_mask=str(target))
    project_bytes(with_mask)  # ProjectError before anything is written
    write_png(mask, target)
    try:
        return save_project(with_mask, path)
    except BaseException:
        remove_quietly(target)
        raise


class MaskFiles:
    """Mask PNGs that this window's saves wrote or left unused, per project file: while the document's undo
    history may point at them they stay; `release` removes those the project on disk no longer uses."""

    def __init__(self) -> None:
        self._masks: dict[Path, set[Path]] = {}

    def saved(self, before: Project, saved: Project) -> None:
        """Note the masks of a save of `before` that gave `saved`: its new mask, and the one it used before."""
        path = Path(saved.path).resolve()
        candidates = [p.resolve(p.subject_mask) for p in (before, saved) if p.subject_mask and p.path is not None
                      and Path(p.path).resolve() == path]
        self._masks.setdefault(path, set()).update(m for m in candidates if is_saves_mask(m, path))

    def release(self) -> None:
        """The undo history is going: remove every noted mask its project file does not point at now."""
        for path, masks in self._masks.items():
            try:
                on_disk = load_project(path)
            except (ProjectError, OSError):
                continue  # the project cannot tell which mask it uses: keep them all
            used = on_disk.resolve(on_disk.subject_mask).resolve() if on_disk.subject_mask else None
            for mask in masks - {used}:
                remove_quietly(mask)
        self._masks.clear()


def write_png(mask: np.ndarray, path: Path) -> None:
    """A boolean mask as a black-and-white PNG, written atomically."""
    ok, png = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:
        raise OSError(f"could not encode {path.name}")
    with atomic_path(path, suffix=".png") as tmp:
        tmp.write_bytes(png.tobytes())  # raises on a full disk; the temporary is removed


def remove_quietly(path: Path) -> None:
    """Remove `path` if it is there; a file that cannot be removed is left (nothing depends on it going)."""
    with contextlib.suppress(OSError):
        path.unlink()


def short_reason(err: Exception) -> str:
    """An error as a short reason: an OSError's own words (with the file), else its text."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return str(err)
