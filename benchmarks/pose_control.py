"""Does the recipe learn pose control? A CPU-scale proof on synthetic sprites, over several seeds.

Data: sprites of random topology (chains, stars, trees), each bone's part painted in its own colour on a
still background of smooth colour blobs, moved by the puppet renderer along random joint turns and a
drift; 32x32 pixels, 5 frames; pose frames drawn by the core's raster. Model: `PoseAnythingTransformer3DModel`,
the real class at a tiny size, trained with Wan's flow-matching objective (first latent frame clean with
timestep 0 on its tokens, as Wan2.2 TI2V), the pose dropped for 10% of samples as the training recipe does,
and sampled with guidance on the pose as the pipeline applies it (scale 2). No sigma shift: Wan's shift (3 to 5)
is for its large latents, and a 16x16 grid is the other end of the resolution scale (SD3's shift rule);
shift 3 here left the samples speckled (the guidance scale and the shift were chosen on 12 validation
clips made apart from the held-out ones; docs/training.md has the runs).

Stand-in for the Wan VAE (a trained VAE is out of reach on this CPU; the question here is the
transformer's): a fixed, invertible rearrangement that compresses time by 4 as the Wan VAE does. Latent
frame 0 is pixel frame 0 alone (its 4 slots hold it 4 times), latent frame k pixel frames 4k-3..4k (causal,
as Wan's); each pixel frame is cut into 2x2 cells (pixel-unshuffle), the 4 frames of a latent frame stacked
on channels: 48 channels (as Wan2.2's) on a 16x16 grid. Space is compressed by 2 rather than Wan's 16, and
nothing is learned: we say so plainly. (A token must carry its 48 noisy values through the width-128
model to predict the velocity; 192 values a token at width 192 left the samples noise, see docs.)

Part masks for EC and PTCM are derived from the conditioning pose exactly as the renderer derives them
(`core.parts.clip_part_masks`: the paper's capped dilation of each bone on the first frame's subject, carried
by the bone's motion), never from the ground-truth future frames, and pooled over each latent frame's 4
pixel frames; each sample of a training batch has its own masks.

Pose-following error: for each part (colour) in each generated frame after the first, the distance in
pixels between the centroid of that colour and its centroid in the ground-truth frame (a part that
vanished counts as 16 px, half the frame), averaged over parts, frames and held-out clips; the table also
splits it into the share of parts lost and the mean distance of the parts found. Two baselines:
the same model trained with its pose input zeroed ("no pose"), and the first frame held still (what a
model that ignores the pose and copies the picture would score). Rows: concat only, whole-subject
cross-attention (EC) and PTCM (the paper's ablation), each trained once per seed; mean and spread (sample
standard deviation) over seeds. The last line is `ratio R`, R = PTCM's error / the still-frame error (mean
over seeds); the target is R <= 0.5.

    python benchmarks/pose_control.py            # 3 seeds x 4 trainings of 600 steps, 200 clips, 96 held out
    python benchmarks/pose_control.py --short    # 3 seeds x 4 trainings of 100 steps, 100 clips, 16 held out
    python benchmarks/pose_control.py --quick    # 1 seed, 40 steps: a smoke test of about a minute
    python benchmarks/pose_control.py --steps 1800 --device cuda   # longer, on a GPU
    python benchmarks/pose_control.py --sheet sheet.png            # also: PTCM's samples, to look at

Trainings run two at a time (`--jobs`), each in its own process on one torch thread (`--threads`): on this
shared 2-core machine two threads in one process were 6x slower than one (5.6 vs 0.9 s a step, measured under
a load of about 7), from threads waiting on each other, while two one-thread processes halve the wall time.
docs/training.md has the measured default run.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from poseanything_studio.commands.evaluate import l1, psnr, ssim  # noqa: E402
from poseanything_studio.core.fileio import atomic_write_bytes  # noqa: E402
from poseanything_studio.core.parts import clip_part_masks  # noqa: E402
from poseanything_studio.core.raster import draw_pose  # noqa: E402
from poseanything_studio.core.rig import Bone, Joint, Rig  # noqa: E402
from poseanything_studio.model.part_attention import PartContext, pool_part_masks  # noqa: E402
from poseanything_studio.model.train import sample_sigma  # noqa: E402
from poseanything_studio.model.transformer import PoseAnythingTransformer3DModel  # noqa: E402
from poseanything_studio.rendering.puppet import PuppetMesh  # noqa: E402

SIZE, FRAMES = 32, 5
SPATIAL, TEMPORAL = 2, 4  # the stand-in latent: 2x2 pixel cells, 4 frames per latent frame (Wan: 16x16, 4)
CHANNELS = TEMPORAL * 3 * SPATIAL * SPATIAL  # 48
LATENT_FRAMES = (FRAMES - 1) // TEMPORAL + 1
POSE_SCALE = 2  # pose frames drawn at 2x and area-reduced: at 32 px the joint dots would hide the bones
TURN, DRIFT = 1.5, 10.0  # motion: each bone turns up to 1.5 rad about its parent end, the sprite drifts 10 px
BONE_LENGTH, STROKE = (5.0, 7.5), 3  # px
CONDITION_DROPOUT, GUIDANCE, SHIFT = 0.1, 2.0, 1.0  # pose dropped 10% as the recipe; guided sampling; no shift
PALETTE = np.array([(255, 60, 60), (60, 230, 60), (70, 110, 255), (250, 230, 50), (240, 80, 240)], np.uint8)
MISSING_PX = SIZE / 2
MODES = ("no pose", "concat", "ec", "ptcm")
NAMES = {
    "no pose": "no pose input (baseline)",
    "concat": "concat only",
    "ec": "whole-subject cross-attention (EC)",
    "ptcm": "PTCM",
}


@dataclass(frozen=True)
class Clip:
    video: np.ndarray  # (F, H, W, 3) uint8
    pose: np.ndarray  # (F, H, W, 3) uint8
    parts: np.ndarray  # (F, B, H, W) bool, from the pose as the renderer makes them
    bones: int


@dataclass(frozen=True)
class Settings:
    steps: int = 600
    clips: int = 200
    held_out: int = 96  # per clip the still frame scores 5.2 +- 2.1 px: 8 clips left R off by +-0.15
    batch: int = 8
    width: int = 128
    layers: int = 3
    lr: float = 5e-3
    sample_steps: int = 20
    shift: float = SHIFT
    guidance: float = GUIDANCE
    background: str = "blobs"


# -- data ---------------------------------------------------------------------------------------------------
def random_rig(rng: np.random.Generator) -> Rig:
    """A chain, a star or a small tree of 2-4 bones around the centre."""
    kind = rng.choice(["chain", "star", "tree"])
    centre = np.array([SIZE / 2, SIZE / 2]) + rng.uniform(-3, 3, 2)
    points, bones = [centre], []
    for i in range(int(rng.integers(2, 5))):
        parent = {"chain": i, "star": 0, "tree": int(rng.integers(0, i + 1))}[kind]
        angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(*BONE_LENGTH)
        points.append(points[parent] + length * np.array([np.cos(angle), np.sin(angle)]))
        bones.append((parent, i + 1))
    joints = tuple(Joint(f"j{i}", (float(p[0]), float(p[1]))) for i, p in enumerate(points))
    return Rig(joints, tuple(Bone(f"b{k}", f"j{a}", f"j{b}") for k, (a, b) in enumerate(bones)))


def background(rng: np.random.Generator, kind: str = "blobs") -> np.ndarray:
    """A dark, still background of smooth colour blobs (iid pixel noise cannot be copied through at this size)."""
    if kind == "flat":
        return np.broadcast_to((rng.random(3) * 60 + 15).astype(np.uint8), (SIZE, SIZE, 3)).copy()
    coarse = rng.random((4, 4, 3)).astype(np.float32)
    return (cv2.resize(coarse, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 60 + 15).astype(np.uint8)


def make_clip(rng: np.random.Generator, background_kind: str = "blobs") -> Clip:
    """A sprite painted per part, moved by the puppet renderer; its pose frames and the pose's part masks."""
    rig = random_rig(rng)
    rest = rig.rest_xy()
    image = np.dstack([background(rng, background_kind), np.full((SIZE, SIZE), 255, np.uint8)])
    labels = np.full((SIZE, SIZE), -1, np.int16)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        stroke = np.zeros((SIZE, SIZE), np.uint8)
        cv2.line(stroke, tuple(rest[a].round().astype(int)), tuple(rest[b].round().astype(int)), 1, STROKE)
        labels[(stroke > 0) & (labels < 0)] = k
    mask = labels >= 0
    image[mask, :3] = PALETTE[labels[mask]]
    mesh = PuppetMesh.build(image, mask, rig, rest)
    # Random motion: each bone turns about its parent end, the whole sprite drifts.
    turn = rng.uniform(-TURN, TURN, len(rig.bones))
    drift = rng.uniform(-DRIFT, DRIFT, 2)
    positions = np.empty((FRAMES, len(rest), 2))
    for f in range(FRAMES):
        t = f / (FRAMES - 1)
        xy = rest.copy()
        for k, (a, b) in enumerate(rig.bone_joint_indices()):
            c, s = np.cos(turn[k] * t), np.sin(turn[k] * t)
            xy[b] = xy[a] + np.array([[c, -s], [s, c]]) @ (rest[b] - rest[a])
        positions[f] = xy + drift * t
    video = np.stack([mesh.render(p) for p in positions])
    big = SIZE * POSE_SCALE
    pose = np.stack(
        [
            cv2.resize(draw_pose(rig, p * POSE_SCALE, (big, big)), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
            for p in positions
        ]
    )
    # The renderer's part masks: the first frame's subject and the rig; later frames follow the pose alone.
    parts = clip_part_masks(mask, rig, positions[0], positions)
    return Clip(video, pose, parts, len(rig.bones))


# -- the stand-in latent: time / 4 (causal, as the Wan VAE), space / 4 ------------------------------------------
def to_latent(frames: np.ndarray) -> torch.Tensor:
    """(F, H, W, 3) uint8 -> (48, F', H/2, W/2) in [-1, 1]; latent frame 0 holds pixel frame 0 (4 copies)."""
    x = torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 127.5 - 1  # (F, 3, H, W)
    cells = F.pixel_unshuffle(x, SPATIAL)  # (F, 12, h, w)
    cells = torch.cat([cells[:1].expand(TEMPORAL, -1, -1, -1), cells[1:]])  # (4 F', 12, h, w)
    return cells.unflatten(0, (-1, TEMPORAL)).flatten(1, 2).permute(1, 0, 2, 3).contiguous()  # (48, F', h, w)


def from_latent(latent: torch.Tensor) -> np.ndarray:
    """(48, F', h, w) -> (F, H, W, 3) uint8; frame 0 is the mean of its 4 copies."""
    groups = latent.permute(1, 0, 2, 3).unflatten(1, (TEMPORAL, -1))  # (F', 4, 12, h, w)
    cells = torch.cat([groups[0].mean(0, keepdim=True), groups[1:].flatten(0, 1)])  # (F, 12, h, w)
    x = F.pixel_shuffle(cells, SPATIAL)
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def coverage(clip: Clip, mode: str) -> torch.Tensor:
    """Part coverage per latent token, (F', B, h, w): per bone (PTCM) or the whole subject as one part (EC)."""
    masks = clip.parts if mode == "ptcm" else clip.parts.any(1, keepdims=True)
    return pool_part_masks(masks, temporal=TEMPORAL, spatial=SPATIAL)


def part_context(clips: list[Clip], mode: str, coverages: dict) -> PartContext | None:
    """PTCM's parts for a batch, each sample its own (bone counts padded with empty parts); None for concat."""
    if mode not in ("ec", "ptcm"):
        return None
    parts = [coverages[id(c)] for c in clips]
    bones = max(p.shape[1] for p in parts)
    stacked = torch.stack([F.pad(p, (0, 0, 0, 0, 0, bones - p.shape[1])) for p in parts])  # (N, F', B, h, w)
    return PartContext.from_coverage(stacked, mode="identity")


def predict(model, xt, timesteps, text, pose, clips: list[Clip], mode: str, coverages: dict) -> torch.Tensor:
    """The model's velocity for a batch, each sample with its own clip's part masks."""
    context = part_context(clips, mode, coverages)
    if context is not None:
        context.tokens = context.tokens.to(xt.device)
    return model(xt, timesteps, text, pose_latents=pose, part_context=context).sample


# -- model ----------------------------------------------------------------------------------------------------
def tiny_model(ptcm: bool, seed: int, settings: Settings) -> PoseAnythingTransformer3DModel:
    """The real class at a tiny size, patch 1: a token is one latent cell (48 video + 48 pose values); to
    predict the velocity noise - x0 the noise must pass through, so the width leaves room for it."""
    torch.manual_seed(seed)
    return PoseAnythingTransformer3DModel(
        patch_size=(1, 1, 1),
        num_attention_heads=settings.width // 32,
        attention_head_dim=32,
        in_channels=CHANNELS,
        out_channels=CHANNELS,
        text_dim=16,
        freq_dim=64,
        ffn_dim=4 * settings.width,
        num_layers=settings.layers,
        rope_max_seq_len=64,
        ptcm=ptcm,
    )


def timesteps_per_token(sigma: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Wan2.2 TI2V per-token timesteps: 0 on the clean first latent frame, sigma*1000 elsewhere; (N, tokens)."""
    frames, h, w = grid
    t = (sigma[:, None] * 1000).repeat(1, frames * h * w)
    t[:, : h * w] = 0
    return t


def train(clips: list[Clip], mode: str, seed: int, settings: Settings, device: str) -> PoseAnythingTransformer3DModel:
    """Flow matching: predict noise - x0 on every latent frame but the first, which stays clean."""
    model = tiny_model(ptcm=mode in ("ec", "ptcm"), seed=seed, settings=settings).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, settings.steps)
    g = torch.Generator().manual_seed(seed)
    latents = torch.stack([to_latent(c.video) for c in clips])  # (N, 192, F', h, w)
    poses = torch.stack([to_latent(c.pose) for c in clips])
    coverages = {id(c): coverage(c, mode) for c in clips} if mode in ("ec", "ptcm") else {}
    text = torch.zeros(settings.batch, 4, 16, device=device)
    grid = (LATENT_FRAMES, latents.shape[3], latents.shape[4])
    model.train()
    for _ in tqdm(
        range(settings.steps), desc=f"{mode}, seed {seed}", unit="step", leave=False, disable=not sys.stderr.isatty()
    ):
        idx = torch.randint(0, len(clips), (settings.batch,), generator=g)
        x0 = latents[idx]
        pose = poses[idx] if mode != "no pose" else torch.zeros_like(x0)
        dropped = torch.rand(settings.batch, generator=g) < CONDITION_DROPOUT  # drawn alike with and without pose
        pose = torch.where(dropped.view(-1, 1, 1, 1, 1), torch.zeros_like(pose), pose)
        noise = torch.randn(x0.shape, generator=g)
        sigma = sample_sigma(torch.rand(settings.batch, generator=g), settings.shift)
        xt = (1 - sigma.view(-1, 1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1, 1) * noise
        xt[:, :, 0] = x0[:, :, 0]
        v = predict(
            model,
            xt.to(device),
            timesteps_per_token(sigma, grid).to(device),
            text,
            pose.to(device),
            [clips[i] for i in idx.tolist()],
            mode,
            coverages,
        )
        loss = F.mse_loss(v[:, :, 1:], (noise - x0)[:, :, 1:].to(device))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def generate(model, clip: Clip, mode: str, settings: Settings, device: str, seed: int = 0) -> np.ndarray:
    """Euler sampling from noise, the first latent frame held clean, conditioned on the clip's pose frames; with
    pose, classifier-free guidance on it: v = v(no pose) + s (v(pose) - v(no pose)), one batch of two."""
    x0 = to_latent(clip.video)[None].to(device)
    use_pose = mode != "no pose"
    pose = to_latent(clip.pose)[None].to(device) if use_pose else torch.zeros_like(x0)
    guided = use_pose and settings.guidance != 1.0
    poses = torch.cat([pose, torch.zeros_like(pose)]) if guided else pose
    x = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed)).to(device)
    grid = (LATENT_FRAMES, x0.shape[3], x0.shape[4])
    sigmas = torch.linspace(1, 0, settings.sample_steps + 1)
    sigmas = settings.shift * sigmas / (1 + (settings.shift - 1) * sigmas)
    coverages = {id(clip): coverage(clip, mode)} if mode in ("ec", "ptcm") else {}
    context = part_context([clip] * len(poses), mode, coverages)
    if context is not None:
        context.tokens = context.tokens.to(device)
    text = torch.zeros(len(poses), 4, 16, device=device)
    for s, s_next in pairwise(sigmas):
        x[:, :, 0] = x0[:, :, 0]
        v = model(
            x.expand(len(poses), -1, -1, -1, -1),
            timesteps_per_token(s.repeat(len(poses)), grid).to(device),
            text,
            pose_latents=poses,
            part_context=context,
        ).sample
        if guided:
            v = v[1:] + settings.guidance * (v[:1] - v[1:])
        x = x + (s_next - s) * v
    x[:, :, 0] = x0[:, :, 0]
    return from_latent(x[0].float().cpu())


# -- metrics --------------------------------------------------------------------------------------------------
def part_centroids(frame: np.ndarray, bones: int) -> list[np.ndarray | None]:
    """Centroid (x, y) of each part's colour in a frame, None where the colour is absent."""
    out = []
    for colour in PALETTE[:bones].astype(int):
        near = np.abs(frame.astype(int) - colour).sum(-1) < 120
        ys, xs = np.nonzero(near)
        out.append(np.array([xs.mean(), ys.mean()]) if xs.size >= 3 else None)
    return out


def part_errors(generated: np.ndarray, clip: Clip) -> list[float | None]:
    """Per part and frame 1..: distance (px) from where the part is to where it should be; None: part lost."""
    errors = []
    for f in range(1, FRAMES):
        for got, want in zip(
            part_centroids(generated[f], clip.bones), part_centroids(clip.video[f], clip.bones), strict=True
        ):
            if want is not None:
                errors.append(None if got is None else float(np.linalg.norm(got - want)))
    return errors


def pose_error(generated: np.ndarray, clip: Clip) -> tuple[float, float, float]:
    """(pose error px with a lost part counted SIZE / 2, share of parts lost, mean distance of the parts found)."""
    errors = part_errors(generated, clip)
    found = [e for e in errors if e is not None]
    return (
        float(np.mean([MISSING_PX if e is None else e for e in errors])),
        1 - len(found) / len(errors),
        float(np.mean(found)) if found else np.nan,
    )


def quality(generated: np.ndarray, clip: Clip) -> tuple[float, float, float]:
    frames = range(1, FRAMES)
    return (
        float(np.mean([min(psnr(generated[f], clip.video[f]), 60.0) for f in frames])),
        float(np.mean([ssim(generated[f], clip.video[f]) for f in frames])),
        float(np.mean([l1(generated[f], clip.video[f]) for f in frames])),
    )


def scores(outputs: list[np.ndarray], clips: list[Clip]) -> tuple[np.ndarray, np.ndarray]:
    """(pose error px, PSNR, SSIM, L1, parts lost, distance of parts found px), means over the held-out clips;
    and the pose error of each clip, (clips,), for R's interval."""
    pose = np.array([pose_error(o, c) for o, c in zip(outputs, clips, strict=True)])  # (clips, 3)
    looks = np.mean([quality(o, c) for o, c in zip(outputs, clips, strict=True)], axis=0)
    return np.array([pose[:, 0].mean(), *looks, pose[:, 1].mean(), np.nanmean(pose[:, 2])]), pose[:, 0]


# -- the run --------------------------------------------------------------------------------------------------
def settings_from(args: argparse.Namespace) -> tuple[Settings, list[int]]:
    common = {
        "batch": args.batch,
        "width": args.width,
        "layers": args.layers,
        "lr": args.lr,
        "shift": args.shift,
        "guidance": args.guidance,
        "background": args.background,
        "sample_steps": args.sample_steps,
    }
    if args.quick:
        return Settings(steps=40, clips=40, held_out=4, **common), [0]
    if args.short:
        return Settings(steps=args.steps or 100, clips=100, held_out=16, **common), list(range(args.seeds))
    return (
        Settings(steps=args.steps or Settings.steps, clips=args.clips, held_out=args.held_out, **common),
        list(range(args.seeds)),
    )


def ratio_interval(errors: np.ndarray, still: np.ndarray, resamples: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of mean(errors) / mean(still), clips resampled in pairs: how much R owes to the clips."""
    picks = np.random.default_rng(0).integers(0, len(errors), (resamples, len(errors)))
    ratios = errors[picks].mean(1) / still[picks].mean(1)
    return float(np.percentile(ratios, 2.5)), float(np.percentile(ratios, 97.5))


def table(results: dict[str, list[np.ndarray]], still: np.ndarray) -> list[str]:
    """Mean +- spread over seeds per row, each row's error against both baselines, and what the error is made of."""
    no_pose = np.mean([r[0] for r in results["no pose"]])
    lines = [
        f"{'model':<36} {'pose err px':>15} {'/ still':>7} {'/ no pose':>9} {'lost':>5} {'found px':>8} "
        f"{'PSNR':>7} {'SSIM':>7} {'L1':>8}",
        f"{'(first frame held still)':<36} {still[0]:>15.2f} {1:>7.2f} {still[0] / no_pose:>9.2f} "
        f"{still[4]:>5.0%} {still[5]:>8.2f} {still[1]:>7.2f} {still[2]:>7.4f} {still[3]:>8.4f}",
    ]
    for mode in MODES:
        rows = np.array(results[mode])  # (seeds, 6)
        mean = rows.mean(0)
        spread = rows[:, 0].std(ddof=1) if len(rows) > 1 else 0.0
        lines.append(
            f"{NAMES[mode]:<36} {mean[0]:>8.2f} +- {spread:<4.2f} {mean[0] / still[0]:>7.2f} "
            f"{mean[0] / no_pose:>9.2f} {mean[4]:>5.0%} {mean[5]:>8.2f} {mean[1]:>7.2f} {mean[2]:>7.4f} "
            f"{mean[3]:>8.4f}"
        )
    return lines


def train_and_score(
    train_clips: list[Clip], test_clips: list[Clip], mode: str, seed: int, settings: Settings, device: str, threads: int
) -> tuple[tuple[np.ndarray, np.ndarray], float, list[np.ndarray]]:
    """One training and its scores on the held-out clips, in a worker process: (scores, seconds, generated clips)."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    model = train(train_clips, mode, seed, settings, device)
    outputs = [generate(model, c, mode, settings, device, seed=seed) for c in test_clips]
    return scores(outputs, test_clips), time.perf_counter() - start, outputs


def write_sheet(path: Path, outputs: list[np.ndarray], clips: list[Clip]) -> None:
    """A contact sheet of the first 8 held-out clips: each clip's frames above the generated ones, 2x nearest."""
    rows = [
        np.concatenate([np.concatenate(list(c.video), 1), np.concatenate(list(o), 1)], 0)
        for o, c in zip(outputs[:8], clips[:8], strict=True)
    ]
    sheet = np.concatenate(rows, 0).repeat(2, 0).repeat(2, 1)
    atomic_write_bytes(path, cv2.imencode(".png", sheet[..., ::-1])[1].tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: 1 seed, few clips and steps")
    parser.add_argument("--short", action="store_true", help="3 seeds at 100 steps, 100 clips, 16 held out")
    parser.add_argument("--steps", type=int, help=f"training steps per model (default {Settings.steps})")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--clips", type=int, default=Settings.clips)
    parser.add_argument("--held-out", type=int, default=Settings.held_out)
    parser.add_argument("--batch", type=int, default=Settings.batch)
    parser.add_argument("--width", type=int, default=Settings.width)
    parser.add_argument("--layers", type=int, default=Settings.layers)
    parser.add_argument("--lr", type=float, default=Settings.lr)
    parser.add_argument("--shift", type=float, default=Settings.shift, help="sigma shift, training and sampling")
    parser.add_argument("--guidance", type=float, default=Settings.guidance, help="pose guidance scale")
    parser.add_argument("--sample-steps", type=int, default=Settings.sample_steps)
    parser.add_argument(
        "--background",
        choices=("blobs", "flat"),
        default=Settings.background,
        help="the still background: smooth colour blobs, or one flat colour (tried: worse)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (the measured default) or cuda")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per training (1: see the docstring)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="trainings run at once, each in its own process (default: 2, or 1 on one core)",
    )
    parser.add_argument("--sheet", type=Path, help="write a contact sheet of PTCM's first-seed samples (PNG)")
    parser.add_argument("--modes", default=",".join(MODES), help="rows to train (development; the table needs all)")
    args = parser.parse_args()
    settings, seeds = settings_from(args)
    torch.set_num_threads(args.threads)
    sys.stdout.reconfigure(line_buffering=True)  # each result as it comes, also when redirected to a log
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    train_clips = [make_clip(rng, settings.background) for _ in range(settings.clips)]
    test_clips = [make_clip(rng, settings.background) for _ in range(settings.held_out)]
    print(
        f"data: {settings.clips} training clips, {settings.held_out} held out, {SIZE}x{SIZE}x{FRAMES} -> latent "
        f"{CHANNELS}x{LATENT_FRAMES}x{SIZE // SPATIAL}x{SIZE // SPATIAL} ({time.perf_counter() - start:.0f} s); "
        f"{settings}; seeds {seeds}; device {args.device}"
    )
    still, still_per_clip = scores([np.repeat(c.video[:1], FRAMES, 0) for c in test_clips], test_clips)
    results: dict[str, list[np.ndarray]] = {mode: [] for mode in MODES}
    runs = [(mode, seed) for seed in seeds for mode in args.modes.split(",")]
    work = partial(
        train_and_score, train_clips, test_clips, settings=settings, device=args.device, threads=args.threads
    )
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending = {pool.submit(work, mode, seed): (mode, seed) for mode, seed in runs}
        done, per_clip = {}, {}
        for future in as_completed(pending):
            mode, seed = pending[future]
            (row, errors), seconds, outputs = future.result()
            if args.sheet and mode == "ptcm" and seed == seeds[0]:
                write_sheet(args.sheet, outputs, test_clips)
            done[mode, seed] = row
            per_clip[mode, seed] = errors
            print(
                f"  seed {seed}, {mode}: {settings.steps} steps in {seconds:.0f} s; "
                f"pose error {row[0]:.2f} px (parts lost {row[4]:.0%}, found ones {row[5]:.2f} px off; "
                f"still frame {still[0]:.2f})"
            )
    for mode, seed in runs:
        results[mode].append(done[mode, seed])
    print()
    if any(not rows for rows in results.values()):
        print({mode: [round(float(r[0]), 2) for r in rows] for mode, rows in results.items()}, f"still {still[0]:.2f}")
        return
    print("\n".join(table(results, still)))
    print(f"total {time.perf_counter() - start:.0f} s")
    ptcm_per_clip = np.mean([per_clip["ptcm", seed] for seed in seeds], axis=0)
    low, high = ratio_interval(ptcm_per_clip, still_per_clip)
    print(
        f"R's 95% interval over the {len(test_clips)} held-out clips (bootstrap; seeds averaged): {low:.3f}-{high:.3f}"
    )
    print(f"ratio {np.mean([r[0] for r in results['ptcm']]) / still[0]:.3f}")


if __name__ == "__main__":
    main()
