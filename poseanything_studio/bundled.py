"""The example projects and rig templates shipped inside the package, found through importlib.resources.

They live in the repository's `resources/` (linked as `poseanything_studio/resources`), so a wheel carries
them and an installed copy finds them wherever pip put it (no path relative to a checkout).
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

from .core.fileio import atomic_dir


def resource_dir(name: str) -> Path:
    """The package's folder `resources/NAME` as a real path (a project needs its pictures beside it)."""
    folder = files("poseanything_studio").joinpath("resources", name)
    if not isinstance(folder, Path):  # a zipped install: the examples cannot be opened in place
        raise RuntimeError(f"poseanything_studio/resources/{name} is not on a file system; install unzipped")
    return folder


def examples_dir() -> Path:
    """The folder of the bundled example projects."""
    return resource_dir("examples")


def templates_dir() -> Path:
    """The folder of the bundled rig templates (`*.json`)."""
    return resource_dir("templates")


def example_projects() -> dict[str, Path]:
    """Bundled example projects by name: {'cat': .../cat.pasproj, ...}."""
    return {path.stem: path for path in sorted(examples_dir().glob("*.pasproj"))}


def default_example() -> Path:
    """The project the window opens when it is started with none."""
    return example_projects()["cat"]


def copy_examples(target: Path) -> list[Path]:
    """Copy every example project and its pictures into `target`; refuses to replace any file already there."""
    sources = [p for p in sorted(examples_dir().iterdir()) if p.suffix in (".pasproj", ".png")]
    clashes = [target / p.name for p in sources if (target / p.name).exists()]
    if clashes:
        raise FileExistsError(f"{clashes[0]}: already exists (nothing was copied)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(target, replace=False) as tmp:  # all or nothing; a file that appears meanwhile is kept
        for source in sources:
            shutil.copy2(source, tmp / source.name)
    return [target / source.name for source in sources]
