"""Contact sheets of the puppet on real pictures: every frame of each test scene in one grid PNG.

The scenes are the tests' own (tests/rendering/puppet_scenes.py: a drawn child, a four-legged drawing,
scikit-image's astronaut and cat), each with one limb swinging away and back. With `--main`, the
renderer of git's `main` branch renders them too, in a second row of sheets, to look at side by side.

    python benchmarks/puppet_sheets.py OUT_DIR [--scene astronaut] [--frames 9] [--main]
    python benchmarks/puppet_sheets.py docs/images --readme    # docs/images/puppet_real_pictures.jpg

`--readme` writes the README's picture instead: the astronaut's Wave (her hand mask, the human template
fitted to it) and the drawn child's arm swing, four frames each, in two rows.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "rendering"))

import puppet_scenes  # noqa: E402

from poseanything_studio.rendering import puppet  # noqa: E402


def renderer_of(ref: str):
    """The puppet renderer as it is at git `ref`, imported under a private name (for before/after runs).

    Before the renderer became a package it was one file, rendering/puppet.py; either is read from git."""
    package = "poseanything_studio/rendering/puppet"
    listed = subprocess.run(
        ["git", "ls-tree", "--name-only", ref, f"{package}/"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    folder = Path(tempfile.mkdtemp()) / "puppet_ref"
    folder.mkdir()
    for file in [f for f in listed if f.endswith(".py")] or [f"{package}.py"]:
        source = subprocess.run(
            ["git", "show", f"{ref}:{file}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        (folder / Path(file).name).write_text(source)
    name = "poseanything_studio.rendering._puppet_" + ref.replace("/", "_").replace("-", "_")
    if listed:  # a package: its modules import each other relatively
        spec = importlib.util.spec_from_file_location(
            name, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
    else:
        spec = importlib.util.spec_from_file_location(name, folder / "puppet.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def sheet(frames: list[np.ndarray], columns: int = 3, width: int = 360, numbers: list[int] | None = None) -> np.ndarray:
    """RGB frames in a grid, each scaled to `width` pixels wide, with its frame number in a corner."""
    numbers = list(range(len(frames))) if numbers is None else numbers
    h, w = frames[0].shape[:2]
    th = round(h * width / w)
    rows = -(-len(frames) // columns)
    out = np.full((rows * (th + 4) + 4, columns * (width + 4) + 4, 3), 40, np.uint8)
    for k, frame in enumerate(frames):
        r, c = divmod(k, columns)
        small = cv2.resize(frame, (width, th), interpolation=cv2.INTER_AREA)
        cv2.putText(small, str(numbers[k]), (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
        out[4 + r * (th + 4) : 4 + r * (th + 4) + th, 4 + c * (width + 4) : 4 + c * (width + 4) + width] = small
    return out


def render_scene(module, scene) -> list[np.ndarray]:
    """Every frame of `scene` through `module`'s PuppetMesh, built as its renderer builds it for this motion (the
    creases it opens wide cut open, where `module` does that)."""
    opening = getattr(module, "opening_creases", None)
    extra = {"creases": opening(scene.rig, scene.rest_xy, np.array(scene.poses))} if opening else {}
    mesh = module.PuppetMesh.build(scene.rgba, scene.mask, scene.rig, scene.rest_xy, **extra)
    return [mesh.render(xy) for xy in scene.poses]


README_ROWS = (("astronaut_wave", 25, (0, 4, 8, 14)), ("drawn_child", 9, (0, 2, 4, 6)))  # scene, frames, shown


def readme_picture(path: Path) -> None:
    """The astronaut waving as a user rigs her (template fitted, Wave preset) and the drawn child, four frames
    each in a row, as a JPEG at `path`."""
    rows = []
    for name, frames, picked in README_ROWS:
        rendered = render_scene(puppet, puppet_scenes.SCENES[name](frames))
        rows.append(sheet([rendered[f] for f in picked], columns=4, width=300, numbers=list(picked)))
    cv2.imwrite(str(path), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--scene", choices=sorted(puppet_scenes.SCENES), action="append")
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--main", action="store_true", help="also render with main's puppet renderer")
    parser.add_argument("--readme", action="store_true", help="write OUT_DIR/puppet_real_pictures.jpg only")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.readme:
        readme_picture(args.out / "puppet_real_pictures.jpg")
        print(args.out / "puppet_real_pictures.jpg")
        return
    modules = {"": puppet}
    if args.main:
        modules["_main"] = renderer_of("main")
    for name in args.scene or sorted(puppet_scenes.SCENES):
        scene = puppet_scenes.SCENES[name](args.frames)
        for suffix, module in modules.items():
            path = args.out / f"{name}{suffix}.png"
            cv2.imwrite(str(path), cv2.cvtColor(sheet(render_scene(module, scene)), cv2.COLOR_RGB2BGR))
            print(path)


if __name__ == "__main__":
    main()
