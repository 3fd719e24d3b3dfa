"""How well each inpainter fills the background a subject uncovers: PSNR inside the hole against ground truth.

Ground truth: pictures with nothing in front (the three example backdrops, drawn by
make_examples.py without their subject, and scikit-image's bundled photos), with a hole cut in
the shape of each example's subject mask (grown as the puppet grows it). Each method fills the
hole the way the puppet does (at `--max-side` pixels, scaled back up and pasted under the hole);
the scores are the PSNR over the hole's pixels only (higher is better) and the gradient error (mean
absolute difference of the gradient magnitude in the hole, lower is better: a smooth smear scores
badly where the truth has texture, a hard seam badly everywhere), and the time is per fill.

    python benchmarks/inpaint_quality.py [--max-side 384]
    PYTHONPATH=/path/to/opencv-contrib python benchmarks/inpaint_quality.py   # adds shift-map and FSR

Methods: OpenCV Telea and Navier-Stokes, scikit-image's biharmonic inpaint (what the puppet uses),
and, when OpenCV contrib's xphoto is importable, its patch-based shift-map and FSR (fast), each
through the same grown-hole, downscale / upscale pipeline. Holes are the examples' subject masks and
the test scenes' (a drawn child, a four-legged drawing, the astronaut's GrabCut mask) over real photos.
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
sys.path.insert(0, str(ROOT / "resources" / "examples"))
sys.path.insert(0, str(ROOT / "tests" / "rendering"))

import make_examples  # noqa: E402

from poseanything_studio.commands.evaluate import psnr  # noqa: E402
from poseanything_studio.core.images import fit_to_size  # noqa: E402
from poseanything_studio.rendering import puppet  # noqa: E402

EXAMPLES = ROOT / "resources" / "examples"
SIZE = (832, 480)


def ground_truths() -> dict[str, np.ndarray]:
    """Name -> (480, 832, 3) uint8 RGB picture with no subject in it."""
    pictures = {
        f"{kind} backdrop": make_examples._background(kind, seed).astype(np.uint8)
        for kind, seed in (("meadow", 1), ("water", 3), ("workshop", 5))
    }
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
    import puppet_scenes

    for name in ("drawn_child", "four_legs", "astronaut"):
        scene_mask = puppet_scenes.SCENES[name](1).mask
        masks[name] = (
            fit_to_size(
                np.dstack(
                    [np.repeat(scene_mask[..., None] * 255, 3, -1)] * 1 + [np.full(scene_mask.shape, 255, np.uint8)]
                ).astype(np.uint8),
                SIZE,
            )[..., 0]
            > 127
        )
    return masks


def gradient_error(filled: np.ndarray, truth: np.ndarray, hole: np.ndarray) -> float:
    """Mean absolute difference of the gradient magnitude (grey levels per pixel) over the hole."""

    def magnitude(rgb: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)) / 8

    return float(np.abs(magnitude(filled) - magnitude(truth))[hole].mean())


def _fish_mask() -> np.ndarray:
    from poseanything_studio.core.project import load_project
    from poseanything_studio.rendering.job import make_job

    return make_job(load_project(EXAMPLES / "fish.pasproj")).mask.copy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-side", type=int, default=384)
    parser.add_argument(
        "--patch",
        action="store_true",
        help="add OpenCV contrib's shift-map and FSR (slow: tens of seconds a fill) on a few cases",
    )
    args = parser.parse_args()
    methods = {"telea": "telea", "navier-stokes": "ns", "biharmonic": "biharmonic"}
    pictures, masks = ground_truths(), holes()
    if args.patch:
        if not hasattr(cv2, "xphoto"):
            parser.error(
                "OpenCV contrib (cv2.xphoto) is not importable: put opencv-contrib-python-headless on PYTHONPATH"
            )
        methods.update({"shift-map": "shiftmap", "fsr-fast": "fsr"})
        pictures = {k: pictures[k] for k in ("meadow backdrop", "workshop backdrop", "coffee", "astronaut")}
        masks = {k: masks[k] for k in ("cat", "drawn_child", "astronaut")}
    scores: dict[str, list[float]] = {m: [] for m in methods}
    gradients: dict[str, list[float]] = {m: [] for m in methods}
    seconds: dict[str, list[float]] = {m: [] for m in methods}
    print(f"{'picture':>20} {'hole':>12} " + " ".join(f"{m:>13}" for m in methods) + "   (PSNR dB / gradient error)")
    for picture_name, truth in pictures.items():
        for hole_name, mask in masks.items():
            hole = puppet.background_hole(mask)
            row = []
            for label, method in methods.items():
                start = time.perf_counter()
                filled = puppet.fill_background(truth, mask, args.max_side, method=method)
                seconds[label].append(time.perf_counter() - start)
                scores[label].append(psnr(filled[hole], truth[hole]))
                gradients[label].append(gradient_error(filled, truth, hole))
                row.append(f"{scores[label][-1]:5.2f}/{gradients[label][-1]:<5.2f}")
            print(f"{picture_name:>20} {hole_name:>12} " + " ".join(f"{v:>13}" for v in row))
    print(f"{'mean PSNR dB':>33} " + " ".join(f"{np.mean(scores[m]):>13.2f}" for m in methods))
    print(f"{'mean gradient error':>33} " + " ".join(f"{np.mean(gradients[m]):>13.2f}" for m in methods))
    print(f"{'ms per fill':>33} " + " ".join(f"{1000 * np.median(seconds[m]):>13.0f}" for m in methods))
    for label in methods:
        if label == "biharmonic":
            continue
        gain = np.mean(scores[label]) - np.mean(scores["biharmonic"])
        wins = sum(o > b for o, b in zip(scores[label], scores["biharmonic"], strict=True))
        print(f"{label} - biharmonic: {gain:+.2f} dB mean, better in {wins} of {len(scores[label])} cases")


if __name__ == "__main__":
    main()
