"""Does the recipe learn pose control? A CPU-scale proof on synthetic sprites, with and without pose input.

Data: sprites of random topology (chains, stars, trees), each bone's part painted in its own colour on a
still background of smooth colour blobs, moved by the puppet renderer along random joint turns and a
drift; 48x48 pixels, 5 frames; pose frames drawn by the core's raster. Model: `PoseAnythingTransformer3DModel`,
the real class at a tiny size (3 blocks, width 128), trained with Wan's flow-matching objective (first frame
clean with timestep 0 on its tokens, as Wan2.2 TI2V), the pose dropped for 10% of samples as the training
recipe does, and sampled with guidance on the pose (scale 3). In place of the Wan VAE the latent space is a fixed
pixel-unshuffle (4x4 pixels -> 48 channels, no temporal compression); we say so plainly: a trained VAE is
out of reach on this CPU, and the question here is the transformer's.

Pose-following error: for each part (colour) in each generated frame after the first, the distance in
pixels between the centroid of that colour and its centroid in the ground-truth frame (a part that
vanished counts as 24 px, half the frame), averaged over parts, frames and held-out clips. The same model
trained the same way with its pose input zeroed is the baseline; the last line is `ratio R` (with pose /
without). Then the paper's ablation on this data: concat only, whole-subject cross-attention (EC), PTCM.

    python benchmarks/pose_control.py            # 4 trainings of 1800 steps, each about 26 minutes on 2 cores
    python benchmarks/pose_control.py --no-ablation   # the ratio alone: 2 trainings, about 53 minutes
    python benchmarks/pose_control.py --quick    # a smoke test in about two minutes
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model.part_attention import PartContext, pool_part_masks  # noqa: E402
from model.transformer import PoseAnythingTransformer3DModel  # noqa: E402
from poseanything_studio.core.parts import part_masks, posed_part_masks  # noqa: E402
from poseanything_studio.core.raster import draw_pose  # noqa: E402
from poseanything_studio.core.rig import Bone, Joint, Rig  # noqa: E402
from poseanything_studio.evaluation import l1, psnr, ssim  # noqa: E402
from poseanything_studio.rendering.puppet import PuppetMesh  # noqa: E402

SIZE, FRAMES, UNSHUFFLE, PATCH, WIDTH = 48, 5, 4, 1, 128
POSE_SCALE = 2  # pose frames drawn at 2x and area-reduced: at 48 px the joint dots would hide the bones
TURN, DRIFT = 1.5, 12.0  # motion: each bone turns up to 1.5 rad about its parent end, the sprite drifts 12 px
CONDITION_DROPOUT, GUIDANCE = 0.1, 3.0  # as the training recipe: pose dropped 10% of the time, guided sampling
PALETTE = np.array([(255, 60, 60), (60, 230, 60), (70, 110, 255), (250, 230, 50), (240, 80, 240)], np.uint8)
MISSING_PX = SIZE / 2


@dataclass(frozen=True)
class Clip:
    video: np.ndarray  # (F, H, W, 3) uint8
    pose: np.ndarray  # (F, H, W, 3) uint8
    parts: np.ndarray  # (F, B, H, W) bool
    bones: int


# -- data ---------------------------------------------------------------------------------------------------
def random_rig(rng: np.random.Generator) -> Rig:
    """A chain, a star or a small tree of 2-4 bones around the centre."""
    kind = rng.choice(["chain", "star", "tree"])
    centre = np.array([SIZE / 2, SIZE / 2]) + rng.uniform(-4, 4, 2)
    points, bones = [centre], []
    for i in range(int(rng.integers(2, 5))):
        parent = {"chain": i, "star": 0, "tree": int(rng.integers(0, i + 1))}[kind]
        angle, length = rng.uniform(0, 2 * np.pi), rng.uniform(7, 11)
        points.append(points[parent] + length * np.array([np.cos(angle), np.sin(angle)]))
        bones.append((parent, i + 1))
    joints = tuple(Joint(f"j{i}", (float(p[0]), float(p[1]))) for i, p in enumerate(points))
    return Rig(joints, tuple(Bone(f"b{k}", f"j{a}", f"j{b}") for k, (a, b) in enumerate(bones)))


def background(rng: np.random.Generator) -> np.ndarray:
    """A dark, still background of smooth colour blobs (iid pixel noise cannot be copied through at this size)."""
    coarse = rng.random((4, 4, 3)).astype(np.float32)
    return (cv2.resize(coarse, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC).clip(0, 1) * 60 + 15).astype(np.uint8)


def make_clip(rng: np.random.Generator) -> Clip:
    """A sprite painted per part, moved by the puppet renderer; its pose frames and part masks."""
    rig = random_rig(rng)
    rest = rig.rest_xy()
    image = np.dstack([background(rng), np.full((SIZE, SIZE), 255, np.uint8)])
    labels = np.full((SIZE, SIZE), -1, np.int16)
    for k, (a, b) in enumerate(rig.bone_joint_indices()):
        stroke = np.zeros((SIZE, SIZE), np.uint8)
        cv2.line(stroke, tuple(rest[a].round().astype(int)), tuple(rest[b].round().astype(int)), 1, 4)
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
    pose = np.stack([cv2.resize(draw_pose(rig, p * POSE_SCALE, (big, big)), (SIZE, SIZE), interpolation=cv2.INTER_AREA)
                     for p in positions])
    parts = posed_part_masks(part_masks(labels, len(rig.bones)), rig, rest, positions)
    return Clip(video, pose, parts, len(rig.bones))


def to_latent(frames: np.ndarray) -> torch.Tensor:
    """(F, H, W, 3) uint8 -> (48, F, H/4, W/4) in [-1, 1]: the fixed pixel-unshuffle 'VAE'."""
    x = torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 127.5 - 1  # (F, 3, H, W)
    return F.pixel_unshuffle(x, UNSHUFFLE).permute(1, 0, 2, 3)  # (48, F, h, w)


def from_latent(latent: torch.Tensor) -> np.ndarray:
    x = F.pixel_shuffle(latent.permute(1, 0, 2, 3), UNSHUFFLE)  # (F, 3, H, W)
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


def part_context(clips: list[Clip], mode: str) -> PartContext | None:
    """PTCM's parts for a batch: per bone ("ptcm"), the whole subject as one part ("ec"), or none."""
    if mode == "concat":
        return None
    bones = max(c.bones for c in clips)
    coverage = []
    for c in clips:
        masks = c.parts if mode == "ptcm" else c.parts.any(1, keepdims=True)
        if mode == "ptcm" and c.bones < bones:
            masks = np.concatenate([masks, np.zeros((FRAMES, bones - c.bones, SIZE, SIZE), bool)], 1)
        coverage.append(pool_part_masks(masks, temporal=1, spatial=UNSHUFFLE * PATCH))
    return PartContext.from_coverage(torch.stack(coverage).max(0).values, mode="identity")


# -- model ----------------------------------------------------------------------------------------------------
def tiny_model(ptcm: bool, seed: int) -> PoseAnythingTransformer3DModel:
    """The real class, 3 blocks of width 128, patch 1: a token is one latent cell (48 video + 48 pose values),
    and to predict the velocity noise - x0 the noise must pass through, so the width leaves room for both
    (2x2 patches of 192 values at width 192 squeezed the pose out and the samples stayed noise)."""
    torch.manual_seed(seed)
    return PoseAnythingTransformer3DModel(
        patch_size=(1, PATCH, PATCH), num_attention_heads=WIDTH // 32, attention_head_dim=32, in_channels=48,
        out_channels=48, text_dim=16, freq_dim=64, ffn_dim=4 * WIDTH, num_layers=3, rope_max_seq_len=64, ptcm=ptcm)


def timesteps_per_token(sigma: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """Wan2.2 TI2V per-token timesteps: 0 on the clean first frame, sigma*1000 elsewhere; (N, tokens)."""
    frames, h, w = grid
    t = (sigma[:, None] * 1000).repeat(1, frames * h * w)
    t[:, : h * w] = 0
    return t


def shifted_sigma(n: int, shift: float, generator: torch.Generator) -> torch.Tensor:
    """Wan's timestep shift on uniform samples: sigma' = s*sigma / (1 + (s-1)*sigma)."""
    u = torch.rand(n, generator=generator)
    return shift * u / (1 + (shift - 1) * u)


def train(clips: list[Clip], use_pose: bool, parts: str, steps: int, batch: int,
          seed: int) -> PoseAnythingTransformer3DModel:
    """Flow matching: predict noise - x0 on every frame but the first, which stays clean."""
    model = tiny_model(ptcm=parts != "concat", seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    latents = torch.stack([to_latent(c.video) for c in clips])  # (N, 48, F, h, w)
    poses = torch.stack([to_latent(c.pose) for c in clips])
    text = torch.zeros(batch, 4, 16)
    grid = (FRAMES, latents.shape[3] // PATCH, latents.shape[4] // PATCH)
    model.train()
    for _ in tqdm(range(steps), desc=f"{'pose' if use_pose else 'no pose'}, {parts}", unit="step", leave=False,
                  disable=not sys.stderr.isatty()):
        idx = torch.randint(0, len(clips), (batch,), generator=g)
        x0, pose = latents[idx], poses[idx] if use_pose else torch.zeros_like(poses[idx])
        dropped = torch.rand(batch, generator=g) < CONDITION_DROPOUT  # drawn alike with and without pose
        pose = torch.where(dropped.view(-1, 1, 1, 1, 1), torch.zeros_like(pose), pose)
        noise = torch.randn(x0.shape, generator=g)
        sigma = shifted_sigma(batch, 3.0, g)
        xt = (1 - sigma.view(-1, 1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1, 1) * noise
        xt[:, :, 0] = x0[:, :, 0]
        context = part_context([clips[i] for i in idx.tolist()], parts)
        v = model(xt, timesteps_per_token(sigma, grid), text, pose_latents=pose, part_context=context).sample
        loss = F.mse_loss(v[:, :, 1:], (noise - x0)[:, :, 1:])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def generate(model, clip: Clip, use_pose: bool, parts: str, steps: int = 20, seed: int = 0) -> np.ndarray:
    """Euler sampling from noise, the first frame held clean, conditioned on the clip's pose frames; with pose,
    classifier-free guidance on it: v = v(no pose) + s (v(pose) - v(no pose)), one batch of two."""
    x0 = to_latent(clip.video)[None]
    pose = to_latent(clip.pose)[None] if use_pose else torch.zeros_like(x0)
    guided = use_pose and GUIDANCE != 1.0
    poses = torch.cat([pose, torch.zeros_like(pose)]) if guided else pose
    x = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    grid = (FRAMES, x0.shape[3] // PATCH, x0.shape[4] // PATCH)
    sigmas = torch.linspace(1, 0, steps + 1)
    sigmas = 3.0 * sigmas / (1 + 2.0 * sigmas)
    context = part_context([clip] * len(poses), parts)
    for s, s_next in pairwise(sigmas):
        x[:, :, 0] = x0[:, :, 0]
        v = model(x.expand(len(poses), -1, -1, -1, -1), timesteps_per_token(s.repeat(len(poses)), grid),
                  torch.zeros(len(poses), 4, 16), pose_latents=poses, part_context=context).sample
        if guided:
            v = v[1:] + GUIDANCE * (v[:1] - v[1:])
        x = x + (s_next - s) * v
    x[:, :, 0] = x0[:, :, 0]
    return from_latent(x[0])


# -- metrics --------------------------------------------------------------------------------------------------
def part_centroids(frame: np.ndarray, bones: int) -> list[np.ndarray | None]:
    """Centroid (x, y) of each part's colour in a frame, None where the colour is absent."""
    out = []
    for colour in PALETTE[:bones].astype(int):
        near = np.abs(frame.astype(int) - colour).sum(-1) < 120
        ys, xs = np.nonzero(near)
        out.append(np.array([xs.mean(), ys.mean()]) if xs.size >= 3 else None)
    return out


def pose_error(generated: np.ndarray, clip: Clip) -> float:
    """Mean distance (px) between where each part is and where it should be, frames 1.. (a lost part = 24 px)."""
    errors = []
    for f in range(1, FRAMES):
        for got, want in zip(part_centroids(generated[f], clip.bones), part_centroids(clip.video[f], clip.bones),
                             strict=True):
            if want is not None:
                errors.append(MISSING_PX if got is None else float(np.linalg.norm(got - want)))
    return float(np.mean(errors))


def quality(generated: np.ndarray, clip: Clip) -> tuple[float, float, float]:
    frames = range(1, FRAMES)
    return (float(np.mean([min(psnr(generated[f], clip.video[f]), 60.0) for f in frames])),
            float(np.mean([ssim(generated[f], clip.video[f]) for f in frames])),
            float(np.mean([l1(generated[f], clip.video[f]) for f in frames])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: few clips and steps")
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--clips", type=int, default=400)
    parser.add_argument("--held-out", type=int, default=16)
    parser.add_argument("--no-ablation", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.clips, args.held_out = 60, 40, 4
    torch.set_num_threads(2)
    sys.stdout.reconfigure(line_buffering=True)  # each result as it comes, also when redirected to a log
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    train_clips = [make_clip(rng) for _ in range(args.clips)]
    test_clips = [make_clip(rng) for _ in range(args.held_out)]
    print(f"data: {args.clips} training clips, {args.held_out} held out, {SIZE}x{SIZE}x{FRAMES} "
          f"({time.perf_counter() - start:.0f} s)")

    def run(use_pose: bool, parts: str) -> tuple[float, float, float, float]:
        t0 = time.perf_counter()
        model = train(train_clips, use_pose, parts, args.steps, batch=8, seed=1)
        outs = [generate(model, c, use_pose, parts) for c in test_clips]
        err = float(np.mean([pose_error(o, c) for o, c in zip(outs, test_clips, strict=True)]))
        q = np.mean([quality(o, c) for o, c in zip(outs, test_clips, strict=True)], axis=0)
        print(f"  trained {'with' if use_pose else 'without'} pose, {parts}: {args.steps} steps in "
              f"{time.perf_counter() - t0:.0f} s; pose error {err:.2f} px")
        return err, *q

    still = [np.repeat(c.video[:1], FRAMES, 0) for c in test_clips]  # reference: the first frame, never moving
    still_row = (float(np.mean([pose_error(o, c) for o, c in zip(still, test_clips, strict=True)])),
                 *np.mean([quality(o, c) for o, c in zip(still, test_clips, strict=True)], axis=0))
    with_pose = run(True, "concat")
    without_pose = run(False, "concat")
    rows = {"concat only": with_pose}
    if not args.no_ablation:
        rows["whole-subject cross-attention (EC)"] = run(True, "ec")
        rows["PTCM"] = run(True, "ptcm")
    print()
    print(f"{'model':<36} {'pose err px':>11} {'PSNR':>7} {'SSIM':>7} {'L1':>9}")
    print(f"{'no pose input (baseline)':<36} {without_pose[0]:>11.2f} {without_pose[1]:>7.2f} "
          f"{without_pose[2]:>7.4f} {without_pose[3]:>9.4f}")
    print(f"{'(reference: first frame held still)':<36} {still_row[0]:>11.2f} {still_row[1]:>7.2f} "
          f"{still_row[2]:>7.4f} {still_row[3]:>9.4f}")
    for name, (err, p, s, l) in rows.items():
        print(f"{name:<36} {err:>11.2f} {p:>7.2f} {s:>7.4f} {l:>9.4f}")
    print(f"total {time.perf_counter() - start:.0f} s")
    print(f"ratio {with_pose[0] / without_pose[0]:.3f}")


if __name__ == "__main__":
    main()
