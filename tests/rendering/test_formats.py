"""Exports a user can take elsewhere: GIF (looping), WebM VP9 and ProRes 4444 with the subject's alpha, RGBA PNGs.

Each is decoded back with the bundled ffmpeg: every frame is there at the size asked, and the alpha is the
subject where the puppet put it (it follows the moved tip and the camera).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from helpers import red_centroid, write_arm_project

from poseanything_studio.core.project import load_project
from poseanything_studio.rendering.events import Frame
from poseanything_studio.rendering.export import FrameWriter, OutputError, output_target
from poseanything_studio.rendering.job import make_job
from poseanything_studio.rendering.runner import run

ROOT = Path(__file__).resolve().parents[2]
FRAMES, SIZE = 9, (256, 160)
TIP_TRACK = [{"frame": 0, "xy": [180, 80], "interp": "linear"}, {"frame": 8, "xy": [150, 30], "interp": "linear"}]
CAMERA = [
    {"frame": 0, "pan": [0, 0], "zoom": 1.0, "roll": 0.0, "interp": "linear"},
    {"frame": 8, "pan": [20, 0], "zoom": 1.0, "roll": 0.0, "interp": "linear"},
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The arm's tip lifting while the camera pans: frames and the subject's alpha from the puppet."""
    folder = tmp_path_factory.mktemp("arm")
    project = load_project(write_arm_project(folder, tip_track=TIP_TRACK, camera=CAMERA, frames=FRAMES))
    job = make_job(project)
    from dataclasses import replace

    events = [e for e in run(replace(job, alpha=True)) if isinstance(e, Frame)]
    assert all(e.alpha is not None for e in events)
    return [e.image for e in events], [e.alpha for e in events], job


def write(path: Path, frames, alphas, alpha: bool | None = None) -> Path:
    target = output_target(str(path), alpha=alpha)
    with FrameWriter(target, 12, SIZE, len(frames)) as writer:
        for image, a in zip(frames, alphas, strict=True):
            writer.write(image, a)
    return path


def decode(path: Path, pix_fmt: str = "rgba") -> np.ndarray:
    """Every frame of a video as (F, H, W, C) uint8; VP9's alpha needs libvpx's decoder (ffmpeg's own drops it)."""
    params = ["-c:v", "libvpx-vp9"] if path.suffix == ".webm" else None
    channels = 4 if pix_fmt == "rgba" else 3
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt=pix_fmt, bpp=channels, input_params=params)
    meta = next(reader)
    w, h = meta["size"]
    return np.stack([np.frombuffer(b, np.uint8).reshape(h, w, channels) for b in reader])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def assert_alpha_is_the_subject(decoded: np.ndarray, alphas) -> None:
    assert decoded.shape == (FRAMES, SIZE[1], SIZE[0], 4)
    for f, (frame, alpha) in enumerate(zip(decoded, alphas, strict=True)):
        subject = frame[..., 3] > 127
        assert 0.02 < subject.mean() < 0.5, f"frame {f}: no subject in the alpha"
        assert iou(subject, alpha > 127) > 0.93, f"frame {f}: the alpha is not the subject"
        x, y = red_centroid(frame[..., :3]).round().astype(int)  # the tip's marker, moved by the rig and the camera
        assert subject[y, x], f"frame {f}: the moved tip is outside the alpha"
    assert not (decoded[0, ..., 3] > 127)[20:40, 140:160].any()  # where the tip goes later: clear at frame 0
    assert (decoded[-1, ..., 3] > 127)[25:45].any()


@pytest.mark.parametrize("name", ["out.webm", "out.mov"])
def test_webm_and_prores_carry_the_subjects_alpha(rendered, tmp_path, name):
    frames, alphas, _ = rendered
    path = write(tmp_path / name, frames, alphas)
    codec = next(imageio_ffmpeg.read_frames(str(path)))["codec"]
    assert codec.startswith("vp9" if name.endswith(".webm") else "prores")
    assert_alpha_is_the_subject(decode(path), alphas)
    rgb = decode(path, "rgb24")
    assert np.abs(rgb[4].astype(int) - frames[4]).mean() < 6  # the full render under the alpha


def test_without_alpha_webm_and_prores_are_opaque(rendered, tmp_path):
    frames, alphas, _ = rendered
    for name in ("opaque.webm", "opaque.mov"):
        decoded = decode(write(tmp_path / name, frames, alphas, alpha=False))
        assert decoded.shape[0] == FRAMES and (decoded[..., 3] == 255).all()


def test_gif_loops_and_has_every_frame(rendered, tmp_path):
    frames, alphas, _ = rendered
    path = write(tmp_path / "share.gif", frames, alphas)
    decoded = decode(path, "rgb24")
    assert decoded.shape == (FRAMES, SIZE[1], SIZE[0], 3)
    assert b"NETSCAPE2.0\x03\x01\x00\x00" in path.read_bytes()  # loop count 0: forever
    for f in (0, FRAMES - 1):
        assert np.abs(red_centroid(decoded[f]) - red_centroid(frames[f])).max() < 2


def test_png_sequences_of_the_subject_alone_and_of_the_full_frame(rendered, tmp_path):
    frames, alphas, _ = rendered
    write(tmp_path / "subject", frames, alphas, alpha=True)
    write(tmp_path / "full", frames, alphas)
    subject = sorted((tmp_path / "subject").glob("*.png"))
    full = sorted((tmp_path / "full").glob("*.png"))
    assert len(subject) == len(full) == FRAMES
    rgba = np.stack([cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGRA2RGBA) for p in subject])
    assert_alpha_is_the_subject(rgba, alphas)
    assert cv2.imread(str(full[0]), cv2.IMREAD_UNCHANGED).shape == (SIZE[1], SIZE[0], 3)


def test_formats_without_alpha_refuse_it_and_a_failed_write_leaves_nothing(rendered, tmp_path):
    frames, alphas, _ = rendered
    for name in ("x.mp4", "x.gif"):
        with pytest.raises(OutputError, match="has no alpha"):
            output_target(str(tmp_path / name), alpha=True)
    for name in ("half.webm", "half.mov", "half.gif"):
        target = output_target(str(tmp_path / name))
        with pytest.raises(ValueError, match="frame of shape"), FrameWriter(target, 12, SIZE, FRAMES) as writer:
            writer.write(frames[0], alphas[0])
            writer.write(frames[1][:10])  # a frame of the wrong shape halfway
    assert list(tmp_path.iterdir()) == []


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "poseanything_studio", "render", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_render_writes_each_format_from_the_command_line(tmp_path):
    project = write_arm_project(tmp_path, tip_track=TIP_TRACK, frames=FRAMES)
    for name in ("out.webm", "out.gif"):
        proc = cli(str(project), "-o", str(tmp_path / name), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    assert decode(tmp_path / "out.webm").shape == (FRAMES, SIZE[1], SIZE[0], 4)
    assert (decode(tmp_path / "out.webm")[..., 3] < 128).mean() > 0.5  # transparent around the arm
    assert decode(tmp_path / "out.gif", "rgb24").shape[0] == FRAMES
    proc = cli(str(project), "-o", str(tmp_path / "cut"), "--alpha", "subject", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = cv2.imread(str(tmp_path / "cut" / "frame_00000.png"), cv2.IMREAD_UNCHANGED)
    assert first.shape == (SIZE[1], SIZE[0], 4) and first[80, 100, 3] == 255 and first[10, 10, 3] == 0


def test_alpha_where_there_is_none_is_one_line_and_writes_nothing(tmp_path):
    project = write_arm_project(tmp_path, frames=FRAMES)
    proc = cli(str(project), "-o", str(tmp_path / "out.mp4"), "--alpha", "subject", cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "alpha" in proc.stderr
    proc = cli(str(project), "-o", str(tmp_path / "p.webm"), "--alpha", "subject", "--preview", "pose", cwd=tmp_path)
    assert proc.returncode == 2 and "--alpha" in proc.stderr
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "p.webm").exists()
