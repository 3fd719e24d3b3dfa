"""How well each inpainter fills the background a subject uncovers: PSNR inside the hole against ground truth.

Ground truth: pictures with nothing in front (the three example backdrops, drawn by
make_examples.py without their subject, and scikit-image's bundled photos), with a hole cut in
the shape of each example's subject mask (grown as the puppet grows it). Each method fills the
hole the way the puppet does (at `--max-side` pixels, scaled back up and pasted under the hole);
the score is the PSNR over the hole's pixels only, higher is better, and the time is per fill.

    python benchmarks/inpaint_quality.py [--max-side 384]

Methods: OpenCV Telea and Navier-Stokes (what the puppet used before), scikit-image's biharmonic
inpaint (what it uses now), each through the same downscale / upscale pipeline.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "poseanything_studio" / "resources" / "examples"))

import make_examples  # noqa: E402

from poseanything_studio.core.images import fit_to_size  # noqa: E402
from poseanything_studio.evaluation import psnr  # noqa: E402
from poseanything_studio.rendering import puppet  # noqa: E402

EXAMPLES = ROOT / "poseanything_studio" / "resources" / "examples"
SIZE = (832, 480)


def ground_truths() -> dict[str, np.ndarray]:
    """Name -> (480, 832, 3) uint8 RGB picture with no subject in it."""
    pictures = {f"{kind} backdrop": make_examples._background(kind, seed).astype(np.uint8)
                for kind, seed in (("meadow", 1), ("water", 3), ("workshop", 5))}
    for name in ("rocket", "coffee", "chelsea", "astronaut"):
        picture = getattr(skdata, name)()
        pictures[name] = fit_to_size(np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)]), SIZE)[..., :3]
    return pictures


def holes() -> dict[str, np.ndarray]:
    """Example name -> (480, 832) bool subject mask of that example."""
    masks = {}
    for name in ("cat", "robot_arm"):
        masks[name] = cv2.imread(str(EXAMPLES / f"{name}_mask.png"), cv2.IMREAD_GRAYSCALE) > 127
    fish = cv2.imread(str(EXAMPLES / "fish.png"), cv2.IMREAD_UNCHANGED)
    masks["fish"] = fish[..., 3] > 127 if fish.shape[-1] == 4 else _fish_mask()
    return masks


def _fish_mask() -> np.ndarray:
    from poseanything_studio.core.project import load_project
    from poseanything_studio.rendering.job import make_job

    return make_job(load_project(EXAMPLES / "fish.pasproj")).mask.copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-side", type=int, default=384)
    args = parser.parse_args()
    methods = {"telea": "telea", "navier-stokes": "ns", "biharmonic": "biharmonic"}
    pictures, masks = ground_truths(), holes()
    scores: dict[str, list[float]] = {m: [] for m in methods}
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    print(f"{'picture':>20} {'hole':>10} " + " ".join(f"{m:>13}" for m in methods) + "   (PSNR dB in the hole)")
    for picture_name, truth in pictures.items():
        for hole_name, mask in masks.items():
            hole = puppet.background_hole(mask)
            row = []
            for label, method in methods.items():
                start = time.perf_counter()
                filled = puppet.fill_background(truth, mask, args.max_side, method=method)
                seconds[label].append(time.perf_counter() - start)
                scores[label].append(psnr(filled[hole], truth[hole]))
                row.append(scores[label][-1])
            print(f"{picture_name:>20} {hole_name:>10} " + " ".join(f"{v:>13.2f}" for v in row))
    print(f"{'mean':>31} " + " ".join(f"{np.mean(scores[m]):>13.2f}" for m in methods))
    print(f"{'ms per fill':>31} " + " ".join(f"{1000 * np.median(seconds[m]):>13.0f}" for m in methods))
    gain = np.mean(scores["biharmonic"]) - np.mean(scores["telea"])
    wins = sum(b > t for b, t in zip(scores["biharmonic"], scores["telea"], strict=True))
    print(f"biharmonic - telea: {gain:+.2f} dB mean, better in {wins} of {len(scores['telea'])} cases")


if __name__ == "__main__":
    main()
