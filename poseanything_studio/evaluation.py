"""`poseanything-studio eval PRED GT`: the paper's per-frame metrics, per clip and overall.

PSNR (dB, 8-bit RGB, peak 255) and SSIM (scikit-image, Gaussian-weighted as Wang et al., RGB channels
averaged) per frame, averaged over a clip's frames; L1 is the mean absolute difference with pixel values
scaled to [0, 1]. (The paper's L1 figures, around 1e-5, imply a further normalisation it does not state;
ours is the plain mean.) LPIPS and FVD need network weights that cannot be downloaded here; this build
does not compute them and says so.

PRED and GT are each an MP4 file, a folder of PNG frames, or a folder of MP4s (paired by file name).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .core.fileio import atomic_write_text


class EvalInputError(ValueError):
    """Inputs that cannot be compared: one line naming the file."""


@dataclass(frozen=True)
class FrameScores:
    """Scores of one frame pair."""

    psnr: float
    ssim: float
    l1: float


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, dB (inf when identical)."""
    mse = np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity of two uint8 RGB images (Gaussian window, sigma 1.5)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(pred, truth, channel_axis=-1, data_range=255, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))


def l1(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute difference with values in [0, 1]."""
    return float(np.mean(np.abs(pred.astype(np.float64) - truth.astype(np.float64))) / 255.0)


def score_clip(pred: np.ndarray, truth: np.ndarray) -> list[FrameScores]:
    """Per-frame scores of two clips (F, H, W, 3) uint8 of equal shape."""
    return [FrameScores(psnr(p, t), ssim(p, t), l1(p, t)) for p, t in zip(pred, truth, strict=True)]


def read_clip(path: Path) -> np.ndarray:
    """An MP4 or a folder of PNG frames as (F, H, W, 3) uint8."""
    from .core.images import ImageReadError, read_rgba
    from .rendering.export import read_video

    try:
        if path.is_dir():
            files = sorted(path.glob("*.png"))
            if not files:
                raise EvalInputError(f"{path}: no PNG frames in this folder")
            return np.stack([read_rgba(f)[..., :3] for f in files])
        return read_video(path)[0]
    except (OSError, ImageReadError, StopIteration, ValueError, RuntimeError) as err:
        if isinstance(err, EvalInputError):
            raise
        raise EvalInputError(f"{path}: cannot read as a video ({str(err).splitlines()[0] if str(err) else err})") \
            from None


def pair_clips(pred: Path, truth: Path) -> list[tuple[str, Path, Path]]:
    """(name, prediction, ground truth) for each clip to compare."""
    for p in (pred, truth):
        if not p.exists():
            raise EvalInputError(f"{p}: no such file or folder")
    pred_videos = sorted(pred.glob("*.mp4")) if pred.is_dir() else []
    if not pred_videos:
        return [(pred.stem, pred, truth)]
    if not truth.is_dir():
        raise EvalInputError(f"{truth}: PRED is a folder of videos, so GT must be one too")
    pairs = []
    for video in pred_videos:
        match = truth / video.name
        if not match.exists():
            raise EvalInputError(f"{match}: no ground truth for {video.name}")
        pairs.append((video.stem, video, match))
    return pairs


def evaluate(pred: Path, truth: Path) -> list[dict]:
    """One row per clip plus an `ALL` row (mean over every frame of every clip)."""
    rows, every = [], []
    for name, p, t in pair_clips(pred, truth):
        a, b = read_clip(p), read_clip(t)
        if a.shape != b.shape:
            raise EvalInputError(f"{p}: {a.shape[0]} frames of {a.shape[2]}x{a.shape[1]}, but {t} has "
                                 f"{b.shape[0]} of {b.shape[2]}x{b.shape[1]}")
        scores = score_clip(a, b)
        every += scores
        rows.append(_row(name, scores))
    rows.append(_row("ALL", every))
    return rows


def _row(name: str, scores: list[FrameScores]) -> dict:
    finite = [s.psnr for s in scores if np.isfinite(s.psnr)]
    return {"clip": name, "frames": len(scores), "psnr": float(np.mean(finite)) if finite else float("inf"),
            "ssim": float(np.mean([s.ssim for s in scores])), "l1": float(np.mean([s.l1 for s in scores]))}


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table."""
    lines = [f"{'clip':<24} {'frames':>6} {'PSNR':>8} {'SSIM':>7} {'L1':>10}"]
    lines += [f"{r['clip'][:24]:<24} {r['frames']:>6} {r['psnr']:>8.2f} {r['ssim']:>7.4f} {r['l1']:>10.3e}"
              for r in rows]
    return "\n".join(lines)


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["clip", "frames", "psnr", "ssim", "l1"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def main(argv: list[str]) -> int:
    """`poseanything-studio eval PRED GT [--csv OUT.csv]`."""
    parser = argparse.ArgumentParser(prog="poseanything-studio eval", description=__doc__.splitlines()[0])
    parser.add_argument("pred", type=Path, help="generated video(s): an MP4, a folder of PNGs, or a folder of MP4s")
    parser.add_argument("gt", type=Path, help="ground truth, in the same form")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV here")
    parser.add_argument("--lpips-weights", type=Path, help="LPIPS network weights (not supported in this build)")
    parser.add_argument("--i3d-weights", type=Path, help="I3D weights for FVD (not supported in this build)")
    args = parser.parse_args(argv)
    try:
        rows = evaluate(args.pred, args.gt)
    except EvalInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(rows))
    for flag, metric in (("lpips_weights", "LPIPS"), ("i3d_weights", "FVD")):
        if getattr(args, flag):
            print(f"note: {metric} is not computed by this build (its network is not implemented here); "
                  "the weights were not read", file=sys.stderr)
    if args.csv:
        atomic_write_text(args.csv, to_csv(rows))
    return 0
