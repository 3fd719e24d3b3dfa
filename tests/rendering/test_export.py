"""MP4 and PNG output: exact frame count and rate, H.264 yuv420p, nothing left on failure."""

import os

import imageio_ffmpeg
import numpy as np
import pytest

from poseanything_studio.rendering.export import FrameWriter, OutputError, output_target, read_video


def _frames(n, size=(64, 32)):
    return [np.full((size[1], size[0], 3), 20 * i, np.uint8) for i in range(n)]


def test_mp4_has_every_frame_at_the_project_rate(tmp_path):
    target = output_target(str(tmp_path / "out.mp4"))
    with FrameWriter(target, 12, (64, 32), 9) as writer:
        for f in _frames(9):
            writer.write(f)
    frames, fps = read_video(tmp_path / "out.mp4")
    assert frames.shape == (9, 32, 64, 3) and fps == 12
    assert abs(int(frames[4].mean()) - 80) <= 2
    meta = next(imageio_ffmpeg.read_frames(str(tmp_path / "out.mp4")))
    assert meta["codec"].startswith("h264") and meta["pix_fmt"].startswith("yuv420p")


def test_a_failed_render_leaves_no_file(tmp_path):
    target = output_target(str(tmp_path / "out.mp4"))
    with pytest.raises(RuntimeError), FrameWriter(target, 12, (64, 32), 9) as writer:
        writer.write(_frames(1)[0])
        raise RuntimeError("renderer broke")
    assert list(tmp_path.iterdir()) == []


def test_too_few_frames_is_an_error_and_leaves_no_file(tmp_path):
    target = output_target(str(tmp_path / "seq"))
    with pytest.raises(OutputError, match="got 2 frames of 3"), FrameWriter(target, 12, (64, 32), 3) as writer:
        for f in _frames(2):
            writer.write(f)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "files"),
    [
        ("seq", "frame_00000.png"),
        ("seq/", "frame_00000.png"),
        ("seq_%03d.png", "seq_000.png"),
        ("shot.png", "shot_00000.png"),
    ],
)
def test_png_sequences(tmp_path, name, files):
    target = output_target(str(tmp_path / name))
    with FrameWriter(target, 12, (64, 32), 3) as writer:
        for f in _frames(3):
            writer.write(f)
    assert (target.path / files).exists()
    assert len(list(target.path.glob("*.png"))) == 3


def test_unwritable_outputs_are_refused_up_front(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        output_target(str(tmp_path / "missing" / "deeper" / "out.mp4"))
    with pytest.raises(OutputError, match=r"write \.mp4, \.gif, \.webm, \.mov, a folder, or a \.png pattern"):
        output_target(str(tmp_path / "out.avi"))


def test_outputs_get_ordinary_permissions_not_private_temp_ones(tmp_path):
    target = output_target(str(tmp_path / "out.mp4"))
    with FrameWriter(target, 12, (64, 32), 1) as writer:
        writer.write(_frames(1)[0])
    mode = (tmp_path / "out.mp4").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
