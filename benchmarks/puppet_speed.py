"""Puppet renderer speed against scikit-image's PiecewiseAffineTransform + warp, measured in one run.

Both warp the same example picture with the same mesh and the same deformed vertices (our ARAP
solve), so the comparison is of the warp alone; the last table times the whole `render` command
(start-up, mesh, ARAP, warp, H.264 encode) against the baseline's warp time for as many frames.
The baseline is slow, so it runs `--baseline-frames` frames and its rate is taken per frame.

    python benchmarks/puppet_speed.py [--example cat] [--baseline-frames 4]
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
from poseanything_studio.rendering.job import make_job  # noqa: E402
from poseanything_studio.rendering.puppet import PuppetMesh, composite  # noqa: E402

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
    start = time.perf_counter()
    for f in range(frames):
        moved = mesh.deform(job.positions[f])
        transform = PiecewiseAffineTransform.from_estimate(moved, mesh.vertices)  # output -> source, for warp
        warped = warp(subject, transform, output_shape=subject.shape[:2], order=1)
        composite(mesh.background, (warped * 255).astype(np.uint8))
    return (time.perf_counter() - start) / frames


def cli_seconds(project: Path, size: tuple[int, int]) -> float:
    """Wall time of `poseanything-studio render` for FRAMES frames, start-up and encoding included."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "poseanything_studio.cli", "render", str(project), "-o",
                        f"{tmp}/out.mp4", "--frames", str(FRAMES), "--size", f"{size[0]}x{size[1]}"],
                       check=True, cwd=ROOT)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", default="cat")
    parser.add_argument("--baseline-frames", type=int, default=4)
    args = parser.parse_args()
    project_path = ROOT / "poseanything_studio" / "resources" / "examples" / f"{args.example}.pasproj"
    project = load_project(project_path)
    print(f"example {args.example}, {FRAMES} frames, baseline over {args.baseline_frames} frames")
    print(f"{'size':>10} {'triangles':>9} {'ours fps':>9} {'skimage fps':>11} {'ratio':>7}")
    rows = []
    for size in ((832, 480), (1280, 704)):
        job = make_job(project, frames=FRAMES, size=size)
        mesh = PuppetMesh.build(job.image, job.mask, job.rig, job.rest_xy)
        ours(job, mesh)  # warm caches
        mine, theirs = ours(job, mesh), baseline(job, mesh, args.baseline_frames)
        rows.append((size, mine, theirs))
        print(f"{size[0]:>5}x{size[1]:<4} {len(mesh.triangles):>9} {1 / mine:>9.1f} {1 / theirs:>11.2f} "
              f"{theirs / mine:>6.0f}x")
    print()
    print(f"{'size':>10} {'CLI render s':>12} {'skimage warp s':>14} {'ratio':>7}")
    for size, _, theirs in rows:
        total = cli_seconds(project_path, size)
        print(f"{size[0]:>5}x{size[1]:<4} {total:>12.2f} {theirs * FRAMES:>14.1f} {theirs * FRAMES / total:>6.0f}x")


if __name__ == "__main__":
    main()
