"""Puppet renderer speed against scikit-image's PiecewiseAffineTransform + warp, measured in one run.

Both warp the same example picture with the same mesh and the same deformed vertices (our ARAP
solve), so the comparison is of the warp alone; the last table times the whole `render` command
(start-up, mesh, ARAP, warp, H.264 encode) against the baseline's warp time for as many frames.
The baseline is slow, so it runs `--baseline-frames` frames and its rate is taken per frame.
The first table is against the renderer of git `--ref` (main by default; imported from `git show` into
a private module in this run): mesh build, 49 frames and 49 frames with the subject's alpha (what a WebM,
ProRes or RGBA PNG export renders), on the example and on the tests' real pictures (a drawn child,
scikit-image's astronaut), so a change to the renderer shows its cost.

    python benchmarks/puppet_speed.py [--example cat] [--baseline-frames 4] [--ref main]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from skimage.transform import PiecewiseAffineTransform, warp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from poseanything_studio.core.project import load_project  # noqa: E402
from poseanything_studio.rendering import puppet  # noqa: E402
from poseanything_studio.rendering.job import make_job  # noqa: E402
from poseanything_studio.rendering.puppet import PuppetMesh, composite  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "rendering"))
import puppet_scenes  # noqa: E402
from puppet_sheets import renderer_of  # noqa: E402

FRAMES = 49


def ours(job, mesh: PuppetMesh) -> float:
    """Seconds per frame for deform + warp + composite, over all frames."""
    start = time.perf_counter()
    for f in range(job.frames):
        mesh.render(job.positions[f], job.camera[f])
    return (time.perf_counter() - start) / job.frames


def baseline(job, mesh: PuppetMesh, frames: int) -> float:
    """Seconds per frame for skimage PiecewiseAffineTransform + warp of the subject over the same mesh."""
    subject = mesh.subject.astype(np.float64) / 255.0
    # One vertex per rest position: the copies on either side of a cut share one, and skimage's own Delaunay of
    # the points fails on a triangle of no area between them.
    _, first = np.unique(mesh.vertices, axis=0, return_index=True)
    start = time.perf_counter()
    for f in range(frames):
        moved = mesh.deform(job.positions[f])[first]
        transform = PiecewiseAffineTransform.from_estimate(moved, mesh.vertices[first])  # output -> source
        warped = warp(subject, transform, output_shape=subject.shape[:2], order=1)
        composite(mesh.background, (warped * 255).astype(np.uint8))
    return (time.perf_counter() - start) / frames


def build_and_frames(module, image, mask, rig, rest_xy, positions) -> tuple[float, float, float]:
    """Seconds to build `module`'s mesh (fill included, not cached), to render every frame, and to render every
    frame with its alpha (one pass where the renderer has `render_with_alpha`, else `render` + `subject_alpha`)."""
    if hasattr(module, "_FILLS"):  # the renderer before FillCache kept its fills in a module-level dict
        module._FILLS.clear()
    start = time.perf_counter()
    mesh = module.PuppetMesh.build(image, mask, rig, rest_xy)
    built = time.perf_counter()
    for xy in positions:
        mesh.render(xy)
    rendered = time.perf_counter()
    for xy in positions:
        if hasattr(mesh, "render_with_alpha"):
            mesh.render_with_alpha(xy)
        else:
            mesh.render(xy), mesh.subject_alpha(xy)
    return built - start, rendered - built, time.perf_counter() - rendered


def against_ref(ref: str, project) -> None:
    """Build, 49-frame and 49-frames-with-alpha times of this renderer and `ref`'s on the example and the tests'
    real pictures."""
    old = renderer_of(ref)
    cases = []
    for size in ((832, 480), (1280, 704)):
        job = make_job(project, frames=FRAMES, size=size)
        cases.append((f"example {size[0]}x{size[1]}", job.image, job.mask, job.rig, job.rest_xy, job.positions))
    for name in ("drawn_child", "astronaut"):
        scene = puppet_scenes.SCENES[name](FRAMES)
        cases.append((name, scene.rgba, scene.mask, scene.rig, scene.rest_xy, scene.poses))
    print(
        f"{'case':>20} {'build s':>8} {ref + ' build s':>13} {'49 frames s':>12} {ref + ' frames s':>14} "
        f"{'total ratio':>11} {'alpha s':>8} {ref + ' alpha s':>13} {'alpha ratio':>11}"
    )
    for label, *case in cases:
        build, frames, alpha = build_and_frames(puppet, *case)
        old_build, old_frames, old_alpha = build_and_frames(old, *case)
        print(
            f"{label:>20} {build:>8.2f} {old_build:>13.2f} {frames:>12.2f} {old_frames:>14.2f} "
            f"{(build + frames) / (old_build + old_frames):>10.2f}x {alpha:>8.2f} {old_alpha:>13.2f} "
            f"{alpha / old_alpha:>10.2f}x"
        )
    print()


def cli_seconds(project: Path, size: tuple[int, int]) -> float:
    """Wall time of `poseanything-studio render` for FRAMES frames, start-up and encoding included."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "poseanything_studio",
                "render",
                str(project),
                "-o",
                f"{tmp}/out.mp4",
                "--frames",
                str(FRAMES),
                "--size",
                f"{size[0]}x{size[1]}",
            ],
            check=True,
            cwd=ROOT,
        )
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="cat")
    parser.add_argument("--baseline-frames", type=int, default=4)
    parser.add_argument("--ref", default="main", help="git ref of the renderer to compare with")
    args = parser.parse_args()
    project_path = ROOT / "resources" / "examples" / f"{args.example}.pasproj"
    project = load_project(project_path)
    against_ref(args.ref, project)
    print(f"example {args.example}, {FRAMES} frames, baseline over {args.baseline_frames} frames")
    print(f"{'size':>10} {'triangles':>9} {'ours fps':>9} {'skimage fps':>11} {'ratio':>7}")
    rows = []
    for size in ((832, 480), (1280, 704)):
        job = make_job(project, frames=FRAMES, size=size)
        mesh = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy)
        ours(job, mesh)  # warm caches
        mine, theirs = ours(job, mesh), baseline(job, mesh, args.baseline_frames)
        rows.append((size, mine, theirs))
        print(
            f"{size[0]:>5}x{size[1]:<4} {len(mesh.triangles):>9} {1 / mine:>9.1f} {1 / theirs:>11.2f} "
            f"{theirs / mine:>6.0f}x"
        )
    print()
    print(f"{'size':>10} {'CLI render s':>12} {'skimage warp s':>14} {'ratio':>7}")
    for size, _, theirs in rows:
        total = cli_seconds(project_path, size)
        print(f"{size[0]:>5}x{size[1]:<4} {total:>12.2f} {theirs * FRAMES:>14.1f} {theirs * FRAMES / total:>6.0f}x")


if __name__ == "__main__":
    main()
