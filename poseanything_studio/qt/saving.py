"""The window's Save: a project and its painted subject mask written as one unit.

A painted mask goes to a PNG beside the project that the project file does not point at (a name no file
has, or the mask an earlier save of this window left unused), then the project is written pointing at it;
unused masks are removed when the undo history that might point at them goes (MaskFiles). A kill at any
moment leaves a project on disk that opens with the mask that goes with it (the old pair or the new one);
at worst an unused mask PNG is left over. Each file is written atomically (temporary + rename, core.fileio).
The project file lists the masks beside it that its saves wrote (SAVED_MASKS_KEY), so that when it opens
again the unused ones a save killed before close left are removed, and no file it did not write ever is.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.fileio import remove_stale_temps, temp_targets
from poseanything_studio.core.images import write_mask
from poseanything_studio.core.project import Project, load_project, project_bytes, save_project


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


SAVED_MASKS_KEY = "saved_masks"  # the project file's list of the mask PNGs beside it that its saves wrote


def is_saves_mask(mask: Path, project_path: Path) -> bool:
    """Whether `mask` is a name this window's saves give masks of `project_path` (`<name>_mask*.png` beside it)."""
    return (
        mask.parent.resolve() == project_path.resolve().parent
        and re.fullmatch(rf"{re.escape(project_path.stem)}_mask\d*\.png", mask.name) is not None
    )


def listed_masks(project: Project) -> set[Path]:
    """The mask PNGs that the project file's own saves wrote (its SAVED_MASKS_KEY list), as absolute paths;
    only names the saves give (`<name>_mask*.png` beside it) count, so no other file is ever taken for one."""
    names = project.extra.get(SAVED_MASKS_KEY)
    if project.path is None or not isinstance(names, list):
        return set()
    folder = Path(project.path).resolve().parent
    masks = {folder / name for name in names if isinstance(name, str) and Path(name).name == name}
    return {m for m in masks if is_saves_mask(m, Path(project.path))}


def on_disk_project(path: Path) -> Project | None:
    """The project file at `path` as it is on disk, or None when there is none or it cannot be read."""
    try:
        return load_project(path) if path.is_file() else None
    except (ProjectError, OSError):
        return None


def with_masks_listed(project: Project, masks: Iterable[Path], written: Path | None = None) -> Project:
    """`project` with SAVED_MASKS_KEY listing by name the mask `written` now and those of `masks` that are
    there (no key when none), so a later session knows which unused masks beside it its saves made."""
    names = sorted({m.name for m in masks if m.exists()} | ({written.name} if written else set()))
    extra = {k: v for k, v in project.extra.items() if k != SAVED_MASKS_KEY}
    return replace(project, extra={**extra, SAVED_MASKS_KEY: names} if names else extra)


def save_work(project: Project, mask: np.ndarray | None, path: Path, reusable: Iterable[Path] = ()) -> Project:
    """The window's Save: `project` to `path` and a painted `mask` to a PNG beside it, as one unit.

    The mask goes to the first of `reusable` (masks of earlier saves that the project file no longer points
    at: MaskFiles), else to a name no file has; never to the file the project on disk points at. The project
    is checked first (save_project refuses what load_project would), so a refused save writes nothing; the
    mask file written is removed again when the project cannot be written. Returns the project as saved.
    """
    reusable = set(reusable)
    before = on_disk_project(Path(path))
    made = (listed_masks(before) if before is not None else set()) | reusable
    if mask is None:
        return save_project(with_masks_listed(project, made), path)
    target = next(iter(sorted(reusable)), None) or mask_target(path, project)
    with_mask = with_masks_listed(replace(project, subject_mask=mask_reference(project, path, target)), made, target)
    project_bytes(with_mask)  # ProjectError before anything is written
    write_mask(mask, target)
    try:
        saved = save_project(with_mask, path)
    except BaseException:
        remove_quietly(target)
        raise
    remove_stale_mask_temps(Path(path))  # a killed save's temporary of another mask name (not this target's)
    return saved


def remove_stale_mask_temps(project_path: Path) -> None:
    """Remove the temporaries beside `project_path` of its saves' masks (`<name>_mask*.png`, whatever the number)
    whose process is gone: a save killed while writing one mask name leaves a temporary that a later save,
    writing another name, would not otherwise clear."""
    for target in temp_targets(project_path.parent):
        if is_saves_mask(target, project_path):
            remove_stale_temps(target)


def mask_reference(project: Project, path: Path, mask: Path) -> str:
    """How the project saved to `path` names its mask file `mask` (which lies beside it): by its bare name when
    the project stays in its folder (save_project keeps the paths as given then), else by its absolute path,
    which save_project makes relative to the new folder. Either way the file holds a relative path."""
    folder = Path(path).expanduser().parent.resolve()
    return mask.name if project.path is not None and Path(project.path).parent == folder else str(mask)


class MaskFiles:
    """Mask PNGs that this window's saves wrote or left unused, per project file. The next save of that project
    writes its mask over one the file no longer points at (so a project keeps at most two, `<name>_mask.png`
    and `<name>_mask2.png`, and the undo step just before a save still finds its mask); `release` removes the
    unused ones when the undo history goes."""

    def __init__(self) -> None:
        self._masks: dict[Path, set[Path]] = {}

    def saved(self, before: Project, saved: Project) -> None:
        """Note the masks of a save of `before` that gave `saved`: its new mask, and the one it used before."""
        path = Path(saved.path).resolve()
        candidates = [
            p.resolve(p.subject_mask)
            for p in (before, saved)
            if p.subject_mask and p.path is not None and Path(p.path).resolve() == path
        ]
        noted = {m.resolve() for m in candidates if is_saves_mask(m, path)} | listed_masks(saved)
        self._masks.setdefault(path, set()).update(noted)

    def unused(self, path: Path) -> set[Path]:
        """The noted masks of the project file `path` that it does not point at now (none when it cannot be read)."""
        path = Path(path).resolve()
        masks = self._masks.get(path, set())
        if not masks or not path.exists():
            return set(masks)
        try:
            on_disk = load_project(path)
        except (ProjectError, OSError):
            return set()  # the project cannot tell which mask it uses: none is free
        used = on_disk.resolve(on_disk.subject_mask).resolve() if on_disk.subject_mask else None
        return masks - {used}

    def release(self) -> None:
        """The undo history is going: remove every noted mask its project file does not point at now."""
        for path in list(self._masks):
            for mask in self.unused(path):
                remove_quietly(mask)
        self._masks.clear()


def remove_unused_saved_masks(path: Path, keep: Iterable[Path] = ()) -> list[Path]:
    """When a project opens: remove the masks its file lists as its saves' that it does not point at now, nor
    `keep` (what its autosave points at) — a save killed before the window closed left them. The paths removed."""
    project = on_disk_project(Path(path))
    if project is None:
        return []
    used = {project.resolve(project.subject_mask)} if project.subject_mask else set()
    unused = sorted(listed_masks(project) - used - {Path(k).resolve() for k in keep})
    for mask in unused:
        remove_quietly(mask)
    return [m for m in unused if not m.exists()]


def remove_quietly(path: Path) -> None:
    """Remove `path` if it is there; a file that cannot be removed is left (nothing depends on it going)."""
    with contextlib.suppress(OSError):
        path.unlink()


def short_reason(err: Exception) -> str:
    """An error as a short reason: an OSError's own words (with the file), else its text."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {err.filename}" if err.filename else err.strerror
    return str(err)
