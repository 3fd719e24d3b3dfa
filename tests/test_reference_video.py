"""Reading a reference video step by step (the Motion dock's background read): progress counts the frames the
project keeps, Cancel stops the decoder, and the frames are those the one-call reader gives."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest

from poseanything_studio.videoio import ReadProgress, VideoReadError, reference_video, reference_video_steps


def _video(path, frames, size=(704, 400), fps=48):
    writer = imageio_ffmpeg.write_frames(str(path), size, fps=fps, macro_block_size=16, quality=5)
    writer.send(None)
    for f in range(frames):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[:, (f * 5) % size[0] :] = 200
        writer.send(frame)
    writer.close()
    return path


def _run(steps):
    seen = []
    while True:
        try:
            seen.append(next(steps))
        except StopIteration as end:
            return seen, end.value


def test_progress_counts_the_kept_frames_and_the_frames_match_the_one_call_reader(tmp_path):
    video = _video(tmp_path / "v.mp4", 96)  # 2 s at 48 fps: 48 frames at the project's 24
    seen, frames = _run(reference_video_steps(video, 24, 121))
    assert seen[0] == ReadProgress(0, 48) and seen[-1] == ReadProgress(48, 48)
    assert [s.done for s in seen] == list(range(49))
    assert frames.shape == (48, 364, 640, 3)  # the long side scaled to 640
    assert np.array_equal(frames, reference_video(video, 24, 121))


def test_cancel_stops_the_read_without_frames(tmp_path):
    video = _video(tmp_path / "v.mp4", 96)
    asked: list[int] = []
    steps = reference_video_steps(video, 24, 121, cancelled=lambda: asked.append(1) or len(asked) > 10)
    seen, frames = _run(steps)
    assert frames is None and len(asked) == 11  # asked before each frame decoded; none decoded after it said so
    assert 0 < seen[-1].done < 48


def test_an_unreadable_file_is_one_line(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"nope")
    with pytest.raises(VideoReadError) as err:
        _run(reference_video_steps(tmp_path / "bad.mp4", 24, 25))
    assert "bad.mp4" in str(err.value) and "\n" not in str(err.value)
