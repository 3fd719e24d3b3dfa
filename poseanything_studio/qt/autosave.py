"""Autosave and recovery: unsaved work goes to a side file every minute, and is offered back after a crash.

The side file is `NAME.pasproj.autosave` beside the project (a painted mask beside it as `….mask-N.png`,
the one the side file names), or one per run in the application's data folder for untitled work; it is never
the project itself. At start-up (and when a project opens) a side file newer than its project, or an untitled
one of another run, is offered back; what killed saves left behind is removed first.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, QStandardPaths, QTimer
from PySide6.QtWidgets import QInputDialog, QLabel, QMessageBox

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.fileio import remove_stale_temps, remove_stale_temps_in, temp_targets
from poseanything_studio.core.images import ImageReadError, read_mask, write_mask
from poseanything_studio.core.project import Project, load_project, project_bytes, save_project

from .previews import checked_pictures
from .saving import remove_quietly, remove_stale_mask_temps, short_reason

if TYPE_CHECKING:
    from .main_window import MainWindow

AUTOSAVE_MS = 60_000
AUTOSAVE_SUFFIX = ".autosave"
UNTITLED_STEM = "untitled"
_SESSION = f"{os.getpid()}-{int(time.time())}"  # names this run's untitled autosave, so two runs never share one


def untitled_folder() -> Path:
    """Where autosaves of untitled work live (the application's data folder)."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or Path.home())


def autosave_path(project_path: Path | None, session: str = _SESSION) -> Path:
    """The side file autosave writes: `NAME.pasproj.autosave` beside the project, or one per run for untitled work."""
    if project_path is not None:
        return project_path.with_name(project_path.name + AUTOSAVE_SUFFIX)
    return untitled_folder() / f"{UNTITLED_STEM}-{session}.pasproj{AUTOSAVE_SUFFIX}"


def found_autosaves(project_paths: list[Path]) -> list[Path]:
    """Every autosave worth offering, newest first: untitled ones, and those newer than their project."""
    found = []
    with contextlib.suppress(OSError):
        found += [p for p in untitled_folder().glob(f"{UNTITLED_STEM}*.pasproj{AUTOSAVE_SUFFIX}") if p.is_file()]
    for project_path in dict.fromkeys(project_paths):
        side = autosave_path(project_path)
        with contextlib.suppress(OSError):
            if side.is_file() and (not project_path.is_file() or side.stat().st_mtime > project_path.stat().st_mtime):
                found.append(side)
    return sorted(dict.fromkeys(found), key=lambda p: p.stat().st_mtime, reverse=True)


def project_of_autosave(side: Path) -> Path | None:
    """The project a side file belongs to (None for untitled work)."""
    if side.parent == untitled_folder() and side.name.startswith(UNTITLED_STEM):  # also the one name of old versions
        return None
    return side.with_name(side.name.removesuffix(AUTOSAVE_SUFFIX))


AUTOSAVE_MASK_KEY = "autosave_mask"  # the side file's key naming its painted-mask PNG (null: none painted)


def mask_side(side: Path) -> Path:
    """The painted-mask PNG name of earlier versions' autosave `side` (read when its side file names none)."""
    return side.with_name(side.name + ".mask.png")


def side_masks(side: Path) -> list[Path]:
    """Every painted-mask PNG that autosaves of `side` wrote beside it (`<side>.mask*.png`), whichever is named."""
    with contextlib.suppress(OSError):
        pattern = re.compile(rf"{re.escape(side.name)}\.mask(-\d+)?\.png")
        return sorted(p for p in side.parent.iterdir() if pattern.fullmatch(p.name))
    return []


def new_side_mask(side: Path) -> Path:
    """A name for the next painted mask of autosave `side` that no file has, so the side file on disk keeps
    pointing at a whole mask until the new side file replaces it."""
    n = 1
    while (target := side.with_name(f"{side.name}.mask-{n}.png")).exists() or target.is_symlink():
        n += 1
    return target


def named_side_mask(side: Path, saved: Project) -> Path | None:
    """The painted-mask PNG that the side file `side` (read as `saved`) goes with, or None: the one it names
    (only a name autosaves give), else for side files of earlier versions the one old name."""
    if AUTOSAVE_MASK_KEY not in saved.extra:
        return mask_side(side) if mask_side(side).is_file() else None
    name = saved.extra[AUTOSAVE_MASK_KEY]
    named = side.with_name(name) if isinstance(name, str) else None
    return named if named is not None and named in side_masks(side) else None


def autosave_mask_of(side: Path) -> Path | None:
    """The painted-mask PNG that the autosave file `side` on disk goes with, or None (see named_side_mask)."""
    return named_side_mask(side, load_project(side))


def autosave_subject_masks(project_path: Path) -> list[Path]:
    """The subject mask the project's autosave file points at (recovery may bring it back), if there is one."""
    side = autosave_path(project_path)
    with contextlib.suppress(ProjectError, OSError):
        saved = load_project(side) if side.is_file() else None
        if saved is not None and saved.subject_mask:
            return [saved.resolve(saved.subject_mask)]
    return []


def clean_stale_temps(project_paths: list[Path]) -> None:
    """Remove what killed saves and autosaves left: beside each project, and in the untitled folder."""
    for project_path in dict.fromkeys(project_paths):
        side = autosave_path(project_path)
        for target in (project_path, side, mask_side(side), *side_masks(side)):
            remove_stale_temps(target)
        remove_stale_mask_temps(project_path)  # the side file lies beside the project: its masks' temporaries too
        for target in temp_targets(side.parent):
            if target.name.startswith(f"{side.name}.mask"):  # of autosave masks, whatever their name
                remove_stale_temps(target)
    remove_stale_temps_in(untitled_folder())


def autosave_work(project: Project, mask: np.ndarray | None, side: Path) -> None:
    """The window's autosave: `project` to the side file `side`, a painted mask to a PNG beside it, as one unit.

    The mask goes to a name no file has, then the side file is written naming it, then the masks it does not
    name go: a kill at any moment leaves a side file that recovers with the mask it was autosaved with.
    """
    side.parent.mkdir(parents=True, exist_ok=True)
    target = new_side_mask(side) if mask is not None else None
    marked = replace(project, extra={**project.extra, AUTOSAVE_MASK_KEY: target.name if target else None})
    project_bytes(marked)  # ProjectError before anything is written
    if mask is not None and target is not None:
        write_mask(mask, target)
    try:
        save_project(marked, side)
    except BaseException:
        if target is not None:
            remove_quietly(target)
        raise
    for unused in side_masks(side):
        if unused != target:
            remove_quietly(unused)


def remove_autosave(side: Path) -> None:
    """Remove an autosave file and its painted-mask PNGs."""
    remove_quietly(side)
    for mask in side_masks(side):
        remove_quietly(mask)


class Autosaves(QObject):
    """The window's autosave (a timer writing the side file of unsaved work) and its recovery offer."""

    def __init__(self, window: MainWindow, interval_ms: int = AUTOSAVE_MS):
        super().__init__(window)
        self.window = window
        self.untitled_side: Path | None = None  # an untitled autosave recovered from another run
        self.timer = QTimer(self, interval=interval_ms)
        self.timer.timeout.connect(self.write)
        self.timer.start()
        # When it last wrote, in a corner of the status bar of its own: the minute's save never replaces a
        # message the user is reading (an Add template fitted to no mask said how to cut the subject out, and the
        # autosave wiped that out with "Autosaved to ..." for 3 s, then nothing).
        self.label = QLabel()
        window.statusBar().addPermanentWidget(self.label)

    def side(self) -> Path:
        """This document's autosave file (untitled work recovered from another run keeps its file)."""
        doc = self.window.doc
        if doc.path is None and self.untitled_side is not None:
            return self.untitled_side
        return autosave_path(doc.path)

    def write(self) -> Path | None:
        """Write unsaved work to the side file (never to the project itself); the file, or None."""
        doc, status = self.window.doc, self.window.statusBar()
        if not doc.dirty:
            return None
        side = self.side()
        try:
            autosave_work(doc.project, doc.mask, side)
        except (OSError, ProjectError) as err:
            self.label.setText("Autosave failed")
            self.label.setToolTip(str(side))
            status.showMessage(f"Autosave failed: {short_reason(err)}", 8000)
            return None
        self.label.setText(f"Autosaved {time.strftime('%H:%M')}")
        self.label.setToolTip(f"Unsaved work is kept in {side}")
        return side

    def discard(self) -> None:
        """Drop this document's autosave (the work was saved, discarded, or replaced)."""
        remove_autosave(self.side())
        self.untitled_side = None

    def saved(self, old_side: Path, old_path: Path | None, new_path: Path) -> None:
        """After a save: the autosaves of the work before it (its side file, the old and new project's) go."""
        for side in (old_side, autosave_path(old_path), autosave_path(new_path)):
            remove_autosave(side)
        self.untitled_side = None

    def offer_recovery(self, only: Path | None = None) -> bool:
        """Offer every autosave found (untitled work, this project's, recent projects'), or `only` that
        project's; recover the one chosen.

        The recovered work arrives as an undoable change on the project it belongs to, or as untitled work.
        """
        window = self.window
        doc = window.doc
        projects = [only] if only else [p for p in [doc.path, *map(Path, window.recent_files())] if p]
        clean_stale_temps(projects)
        own_untitled = self.side() if doc.path is None else None  # this run's, being written now
        found = [
            side
            for side in found_autosaves(projects)
            if side != own_untitled and (only is None or project_of_autosave(side) == only)
        ]
        if not found:
            return False
        side = self.choose(found)
        if side is None:
            return False
        owner = project_of_autosave(side)
        try:
            saved = load_project(side)
            painted = named_side_mask(side, saved)
            extra = {k: v for k, v in saved.extra.items() if k != AUTOSAVE_MASK_KEY}
            recovered = checked_pictures(replace(saved, extra=extra), window.preview)
            if owner is not None and owner != doc.path and not window.open_path(owner, ask=True, recover=False):
                return False
        except ProjectError as err:
            QMessageBox.warning(window, "Cannot recover", str(err))
            return False
        if owner is None:
            if not window.maybe_save():
                return False
            mask = str(recovered.resolve(recovered.subject_mask)) if recovered.subject_mask else None
            doc.reset(replace(recovered, path=None, image=str(recovered.resolve(recovered.image)), subject_mask=mask))
            doc.undo_stack.resetClean()  # recovered work is unsaved work: Save and Close ask
            self.untitled_side = side  # keep autosaving there; Save or Close removes it
        else:
            doc.apply(replace(recovered, path=doc.path), "Recover autosave")
        if painted is not None:
            with contextlib.suppress(ImageReadError):
                doc.apply_mask(read_mask(painted), "Recover painted mask")
        return True

    def choose(self, found: list[Path]) -> Path | None:
        """Ask which autosave to recover: a yes/no for one, a list for several (newest first)."""

        def label(side: Path) -> str:
            owner = project_of_autosave(side)
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(side.stat().st_mtime))
            return f"{owner.name if owner else 'Untitled work'} — {when} — {side}"

        if len(found) == 1:
            return (
                found[0]
                if self.window.ask_yes(
                    "Recover unsaved work?",
                    f"{label(found[0])}\nholds changes that "
                    "were not saved (the program may have stopped). Recover them?",
                )
                else None
            )
        labels = [label(side) for side in found]
        choice, ok = QInputDialog.getItem(
            self.window,
            "Recover unsaved work?",
            f"{len(found)} autosaves hold changes that were not saved. Recover:",
            labels,
            0,
            False,
        )
        return found[labels.index(choice)] if ok and choice in labels else None
