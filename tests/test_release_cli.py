"""`render --release-clip DATA/NAME`: the release's test clips through our command line."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from release.clips import DEER, make_clip

from poseanything_studio.commands import main
from poseanything_studio.core.release import load_release_clip
from poseanything_studio.rendering import neural
from poseanything_studio.rendering.events import Frame
from poseanything_studio.rendering.export import read_video


@pytest.fixture
def release_pipeline(monkeypatch):
    """A stand-in for rendering.neural.render_release: the clip's pose frames as the video; records its call."""
    seen = {}

    def fake_render_release(inputs, options, *, steps, guidance, seed, cancel):
        seen.update(name=inputs.name, prompt=inputs.prompt, steps=steps, seed=seed, checkpoint=options.checkpoint)
        for i in range(inputs.plan.output_frames):
            yield Frame(i, inputs.pose_frames[i])

    monkeypatch.setattr(neural, "render_release", fake_render_release, raising=False)
    return seen


def test_pose_preview_writes_the_81_pose_frames_the_pipeline_gets(tmp_path):
    clip = make_clip(tmp_path)
    out = tmp_path / "pose"
    assert main(["render", "--release-clip", str(clip), "--preview", "pose", "-o", str(out)]) == 0
    written = sorted(out.glob("*.png"))
    expected = load_release_clip(clip).pose_frames
    assert len(written) == 81
    for i in (0, 1, 20, 80):
        assert np.array_equal(cv2.imread(str(written[i]))[..., ::-1], expected[i])


def test_parts_preview_is_an_81_frame_video_with_parts_on_the_posed_frames_only(tmp_path):
    clip = make_clip(tmp_path)
    out = tmp_path / "parts.mp4"
    assert main(["render", "--release-clip", str(clip), "--preview", "parts", "-o", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (81, 448, 832, 3) and fps == 24
    assert frames[0].max() > 100 and frames[1].max() < 30  # frame 1 has no pose image: no parts


def test_the_neural_render_gets_the_clip_and_writes_its_81_frames(tmp_path, release_pipeline):
    out = tmp_path / "deer.mp4"
    assert (
        main(
            [
                "render",
                "--release-clip",
                str(make_clip(tmp_path)),
                "-o",
                str(out),
                "--steps",
                "3",
                "--seed",
                "123",
                "--checkpoint",
                "weights",
            ]
        )
        == 0
    )
    assert release_pipeline == {
        "name": DEER,
        "prompt": "A deer walks.",
        "steps": 3,
        "seed": 123,
        "checkpoint": "weights",
    }
    assert read_video(out)[0].shape[0] == 81


def test_without_the_release_pipeline_a_render_is_one_line_before_any_reading(tmp_path, capsys, monkeypatch):
    monkeypatch.delattr(neural, "render_release", raising=False)
    out = tmp_path / "deer.mp4"
    assert main(["render", "--release-clip", str(tmp_path / "nothing"), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--preview pose" in err and len(err.splitlines()) == 1 and not out.exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--renderer", "puppet"], "--renderer poseanything"),
        (["--frames", "49"], "--frames"),
        (["--preview", "camera"], "camera"),
        (["--init", "puppet"], "--init"),
    ],
)
def test_options_a_release_clip_cannot_take_are_one_line_and_exit_2(tmp_path, capsys, extra, named, release_pipeline):
    out = tmp_path / "out.mp4"
    assert main(["render", "--release-clip", str(make_clip(tmp_path)), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert named in err and len(err.splitlines()) == 1 and not out.exists()


def test_a_bad_clip_folder_names_the_file_and_writes_nothing(tmp_path, capsys, release_pipeline):
    clip = make_clip(tmp_path)
    (clip.parent / "first_frame" / f"{DEER}.png").unlink()
    out = tmp_path / "out.mp4"
    assert main(["render", "--release-clip", str(clip), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"first_frame/{DEER}.png" in err and len(err.splitlines()) == 1 and not out.exists()


def test_a_folder_that_is_not_release_data_is_refused(tmp_path, capsys, release_pipeline):
    assert main(["render", "--release-clip", str(tmp_path / "nothing"), "-o", str(tmp_path / "o.mp4")]) == 2
    assert "metadata.csv" in capsys.readouterr().err


def test_render_needs_a_project_or_a_clip(tmp_path, capsys):
    assert main(["render", "-o", str(tmp_path / "o.mp4")]) == 2
    assert "--release-clip" in capsys.readouterr().err


def test_an_output_that_is_one_of_the_clips_files_is_refused(tmp_path, capsys):
    clip = make_clip(tmp_path)
    target = Path(clip.parent / "skeleton_image" / DEER)
    before = sorted(p.read_bytes() for p in target.glob("*.png"))
    assert (
        main(
            ["render", "--release-clip", str(clip), "--preview", "pose", "-o", str(target / "%03d.png"), "--overwrite"]
        )
        == 2
    )
    assert "input" in capsys.readouterr().err
    assert sorted(p.read_bytes() for p in target.glob("*.png")) == before


def test_without_torch_a_render_says_which_extra_to_install(tmp_path, capsys, monkeypatch):
    import sys

    from poseanything_studio import rendering

    monkeypatch.delitem(sys.modules, "poseanything_studio.rendering.neural", raising=False)
    monkeypatch.delattr(rendering, "neural", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as in an install without it
    out = tmp_path / "deer.mp4"
    assert main(["render", "--release-clip", str(make_clip(tmp_path)), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "poseanything-studio[neural]" in err and len(err.splitlines()) == 1 and not out.exists()
