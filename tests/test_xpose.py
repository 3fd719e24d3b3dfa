"""The dataset builder: synthetic clips made to pass and to fail each filter; resumable; broken clips skipped."""

import json

import cv2
import numpy as np
import pytest

from poseanything_studio.commands.dataset import main
from poseanything_studio.dataset.build import build
from poseanything_studio.dataset.filters import Filters
from poseanything_studio.rendering.export import read_video

SIZE = (128, 96)


def _write_clip(path, boxes, frames=9):
    """A still noisy background with a bright bar at each frame's box (x0, y0, x1, y1)."""
    rng = np.random.default_rng(0)
    background = (rng.random((SIZE[1], SIZE[0], 3)) * 60).astype(np.uint8)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12, SIZE)
    for f in range(frames):
        frame = background.copy()
        x0, y0, x1, y1 = boxes(f)
        frame[y0:y1, x0:x1] = (40, 200, 240)
        writer.write(frame)
    writer.release()


def _entries(out):
    return {e["clip"]: e for e in map(json.loads, (out / "manifest.jsonl").read_text().splitlines())}


def test_filters_accept_and_reject_for_their_reasons(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    _write_clip(clips / "good.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56))
    _write_clip(clips / "tiny.avi", lambda f: (60, 40, 63, 43))
    jumps = [0, 80, 10, 70, 20, 85, 5, 75, 15]  # far apart frame to frame
    _write_clip(clips / "jumpy.avi", lambda f: (jumps[f], 40, jumps[f] + 30, 56))
    (clips / "broken.mp4").write_bytes(b"\x00not a video at all")
    out = tmp_path / "data"
    build(clips, out, SIZE, Filters(), max_frames=9)
    e = _entries(out)
    assert e["good"]["status"] == "accepted" and e["good"]["frames"] == 9
    assert e["tiny"]["reason"].startswith("area:")
    assert e["jumpy"]["reason"].startswith("tracking:")
    assert e["broken"]["reason"].startswith("unreadable:")
    pose, _ = read_video(out / e["good"]["pose"])
    assert pose.shape == (9, SIZE[1], SIZE[0], 3) and pose[0].max() > 100  # bones drawn on black
    assert len(list((out / e["good"]["masks"]).glob("*.png"))) == 9


def test_skeleton_filter_with_given_masks(tmp_path):
    clips, masks = tmp_path / "clips", tmp_path / "masks"
    clips.mkdir()
    _write_clip(clips / "ghost.avi", lambda f: (20, 40, 90, 56))
    (masks / "ghost").mkdir(parents=True)
    for f in range(9):  # a bar in 2 frames only, nothing in the rest: T_skel/T = 2/9
        mask = np.zeros((SIZE[1], SIZE[0]), np.uint8)
        if f < 2:
            mask[40:56, 20:90] = 255
        cv2.imwrite(str(masks / "ghost" / f"{f:05d}.png"), mask)
    build(clips, tmp_path / "data", SIZE, Filters(min_area=0.0, min_iou=0.0), masks_dir=masks, max_frames=9)
    assert _entries(tmp_path / "data")["ghost"]["reason"].startswith("skeleton: extracted in 2 of 9")


def test_a_second_run_resumes_without_redoing_clips(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    _write_clip(clips / "good.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56))
    out = tmp_path / "data"
    args = ["build", str(clips), "-o", str(out), "--size", "128x96", "--max-frames", "9"]
    assert main(args) == 0
    _write_clip(clips / "more.avi", lambda f: (5 + 10 * f, 30, 45 + 10 * f, 46))
    assert main(args) == 0
    lines = (out / "manifest.jsonl").read_text().splitlines()
    assert [json.loads(x)["clip"] for x in lines] == ["good", "more"]
    assert main(["build", str(tmp_path / "nope"), "-o", str(out)]) == 2


def test_a_subject_filling_the_frame_is_rejected_for_area(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    _write_clip(clips / "huge.avi", lambda f: (0, 0, 128, 96 - f))  # covers ~all of the frame
    masks = tmp_path / "masks"
    (masks / "huge").mkdir(parents=True)
    for f in range(9):
        cv2.imwrite(str(masks / "huge" / f"{f:05d}.png"), np.full((SIZE[1], SIZE[0]), 255, np.uint8))
    build(clips, tmp_path / "data", SIZE, Filters(max_area=0.8), masks_dir=masks, max_frames=9)
    assert _entries(tmp_path / "data")["huge"]["reason"].startswith("area: subject covers 100.0%")


def test_tracked_joints_follow_the_moving_subject(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    _write_clip(clips / "good.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56))  # moves 10 px right a frame
    build(clips, tmp_path / "data", SIZE, Filters(), max_frames=9)
    entry = _entries(tmp_path / "data")["good"]
    rig = json.loads((tmp_path / "data" / entry["rig"]).read_text())
    positions = np.array(rig["positions"])  # (F, J, 2)
    assert len(rig["bones"]) == 1 and positions.shape == (9, 2, 2)
    steps = np.diff(positions[:, :, 0], axis=0)  # x motion of each joint, frame to frame
    assert np.allclose(np.median(steps), 10, atol=1.5) and (np.abs(steps - 10) < 4).mean() > 0.8


def test_opencv_subtractor_with_grabcut_accepts_a_good_clip(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    _write_clip(clips / "good.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56))
    out = tmp_path / "data"
    assert (
        main(
            [
                "build",
                str(clips),
                "-o",
                str(out),
                "--size",
                "128x96",
                "--max-frames",
                "9",
                "--background",
                "mog2",
                "--grabcut",
            ]
        )
        == 0
    )
    entry = _entries(out)["good"]
    assert entry["status"] == "accepted", entry
    assert entry["mask_source"] == "mog2+grabcut"
    mask = cv2.imread(str(out / entry["masks"] / "00004.png"), cv2.IMREAD_GRAYSCALE) > 0
    truth = np.zeros_like(mask)
    truth[40:56, 45:85] = True  # the bar in frame 4
    assert (mask & truth).sum() / (mask | truth).sum() > 0.8


def test_bad_arguments_are_one_line_and_write_nothing(tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    out = tmp_path / "data"
    assert main(["build", str(clips), "-o", str(out), "--max-frames", "10"]) == 2
    assert main(["build", str(clips), "-o", str(out), "--masks", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--max-frames" in err[0] and "--masks" in err[1]
    assert not out.exists()


def test_two_joints_that_cross_keep_their_identities():
    from poseanything_studio.core.skeleton import track_joints

    frames = 9
    a = np.stack([np.linspace(20, 100, frames), np.full(frames, 50.0)], 1)  # moves right
    b = np.stack([np.linspace(100, 20, frames), np.full(frames, 53.0)], 1)  # moves left, 3 px below: they cross
    found = [np.stack([b[f], a[f]]) if f % 2 else np.stack([a[f], b[f]]) for f in range(frames)]  # any order
    centroids = np.full((frames, 2), 60.0)  # the body as a whole stays put
    positions = track_joints(np.stack([a[0], b[0]]), found, centroids, first=0, reach=25.0)
    np.testing.assert_allclose(positions[:, 0], a)
    np.testing.assert_allclose(positions[:, 1], b)


def test_assignment_minimises_the_total_distance_and_gates_far_joints():
    from poseanything_studio.core.skeleton import assign

    predicted = np.array([[0.0, 0.0], [10.0, 0.0], [50.0, 50.0]])
    found = np.array([[6.0, 0.0], [17.0, 0.0], [200.0, 200.0]])
    # Greedy nearest-first gives joint 1 the point at 6 (4 px) and leaves joint 0 the one at 17;
    # the least total distance keeps each joint on its own side; joint 2 has nothing within reach.
    moved, matched = assign(predicted, found, reach=12.0)
    np.testing.assert_allclose(moved, [[6.0, 0.0], [17.0, 0.0], [50.0, 50.0]])
    assert matched.tolist() == [True, True, False]


def _write_frames(path, frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 12, SIZE)
    for frame in frames:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()


def test_scene_cuts_and_a_moving_camera_are_rejected_steady_clips_kept(tmp_path):
    rng = np.random.default_rng(1)
    w, h = SIZE
    texture = cv2.resize((rng.random((12, 16, 3)) * 255).astype(np.uint8), (2 * w, h), interpolation=cv2.INTER_CUBIC)
    other = cv2.resize(
        (rng.random((6, 8, 3)) * [60, 120, 255]).astype(np.uint8),
        (w, h),  # a bluer place
        interpolation=cv2.INTER_CUBIC,
    )

    def frame(background, f):
        out = background.copy()
        out[40:56, 5 + 10 * f : 45 + 10 * f] = (240, 200, 40)  # the subject: a bar moving right
        return out

    clips, masks = tmp_path / "clips", tmp_path / "masks"
    clips.mkdir()
    _write_frames(clips / "steady.avi", [frame(texture[:, :w], f) for f in range(9)])
    _write_frames(clips / "cut.avi", [frame(texture[:, :w] if f < 5 else other, f) for f in range(9)])
    _write_frames(clips / "pan.avi", [frame(texture[:, 6 * f : 6 * f + w], f) for f in range(9)])  # 6 px a frame
    for name in ("steady", "cut", "pan"):
        (masks / name).mkdir(parents=True)
        for f in range(9):
            mask = np.zeros((h, w), np.uint8)
            mask[40:56, 5 + 10 * f : 45 + 10 * f] = 255
            cv2.imwrite(str(masks / name / f"{f:05d}.png"), mask)
    build(clips, tmp_path / "data", SIZE, Filters(), masks_dir=masks, max_frames=9)
    e = _entries(tmp_path / "data")
    assert e["steady"]["status"] == "accepted", e["steady"]
    assert e["cut"]["reason"].startswith("scene cut:") and "frames 4 and 5" in e["cut"]["reason"], e["cut"]
    assert e["pan"]["reason"].startswith("camera:"), e["pan"]


def test_a_clip_past_the_read_limit_is_rejected_from_its_header_and_the_rest_are_built(tmp_path, monkeypatch):
    from poseanything_studio import videoio

    clips = tmp_path / "clips"
    clips.mkdir()
    _write_clip(clips / "good.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56))
    _write_clip(clips / "long.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56), frames=13)
    monkeypatch.setattr(videoio, "MAX_VIDEO_PIXELS", 12 * SIZE[0] * SIZE[1])
    build(clips, tmp_path / "data", SIZE, Filters(), max_frames=13)
    e = _entries(tmp_path / "data")
    assert e["good"]["status"] == "accepted"
    assert e["long"]["reason"].startswith(f"too large: {clips / 'long.avi'}: frames x size: 13 frames of 128x96")
    assert not (tmp_path / "data" / "clips" / "long").exists()


def _half_written(folder):
    return [p for p in folder.rglob("*") if ".pastmp-" in p.name]


def test_a_failure_part_way_leaves_no_half_written_clip_or_manifest(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from poseanything_studio.core import fileio

    clips, out = tmp_path / "clips", tmp_path / "data"
    clips.mkdir()
    _write_clip(clips / "good.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56))
    args = ["build", str(clips), "-o", str(out), "--size", "128x96", "--max-frames", "9"]
    assert main(args) == 0
    manifest = (out / "manifest.jsonl").read_text()
    _write_clip(clips / "more.avi", lambda f: (5 + 10 * f, 30, 45 + 10 * f, 46))
    real_write = Path.write_bytes

    def full_at_the_fourth_mask(self, data):
        if self.name == "00003.png":
            raise OSError(28, "No space left on device", str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_at_the_fourth_mask)  # the clip's files fail part-way
    assert main(args) == 0
    more = _entries(out)["more"]
    assert more["status"] == "rejected" and "No space left on device" in more["reason"]
    assert not (out / "clips" / "more").exists() and _half_written(out) == []
    monkeypatch.setattr(Path, "write_bytes", real_write)
    (out / "manifest.jsonl").write_text(manifest)  # as before the clip: build it again

    def full_disk(path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio, "fsync_file", full_disk)  # the manifest's rewrite fails
    assert main(args) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert (out / "manifest.jsonl").read_text() == manifest and _half_written(out) == []


def test_a_built_clips_rig_reads_back_through_the_project_files_rig_reader(tmp_path):
    pytest.importorskip("torch")
    from poseanything_studio.core.project import rig_from
    from poseanything_studio.model.data import DatasetError, read_rig

    clips = tmp_path / "clips"
    clips.mkdir()
    _write_clip(clips / "good.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56))
    build(clips, tmp_path / "data", SIZE, Filters(), max_frames=9)
    path = tmp_path / "data" / _entries(tmp_path / "data")["good"]["rig"]
    rig, positions = read_rig(path, 9)
    assert rig == rig_from(json.loads(path.read_text())) and positions.shape == (9, 2, 2)
    broken = json.loads(path.read_text())
    broken["bones"][0]["b"] = 7
    path.write_text(json.dumps(broken))
    with pytest.raises(DatasetError, match=r"rig\.json: rig\.bones\[0\]\.b: 7 must be a text id"):
        read_rig(path, 9)


def test_a_folder_of_other_files_is_not_built_into_without_overwrite(tmp_path, capsys):
    clips, out = tmp_path / "clips", tmp_path / "mine"
    clips.mkdir()
    (out / "clips" / "good").mkdir(parents=True)
    (out / "clips" / "good" / "video.mp4").write_bytes(b"someone's video")
    _write_clip(clips / "good.avi", lambda f: (5 + 10 * f, 40, 45 + 10 * f, 56))
    args = ["build", str(clips), "-o", str(out), "--size", "128x96", "--max-frames", "9"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no manifest.jsonl; pass --overwrite" in err[0]
    assert (out / "clips" / "good" / "video.mp4").read_bytes() == b"someone's video"
    assert main([*args, "--overwrite"]) == 0 and _entries(out)["good"]["status"] == "accepted"
