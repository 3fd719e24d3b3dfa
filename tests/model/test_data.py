"""Training data: part masks are built as the renderer builds them, one part per bone, from the manifest's rig."""

import json

import cv2
import numpy as np
import pytest
import torch
from helpers import write_arm_project

from poseanything_studio.core.project import load_project
from poseanything_studio.core.raster import pose_frames
from poseanything_studio.model.data import ClipDataset, DatasetError
from poseanything_studio.model.part_attention import PartContext, pool_part_masks
from poseanything_studio.rendering.export import FrameWriter, OutputTarget
from poseanything_studio.rendering.job import make_job
from poseanything_studio.rendering.puppet import PuppetMesh

FRAMES = 9


def write_clip(root, name, video, pose, masks, rig_json):
    """One dataset clip as `dataset build` lays it out (MP4s, mask PNGs, rig.json) and its manifest line."""
    clip = root / "clips" / name
    (clip / "masks").mkdir(parents=True)
    h, w = video.shape[1:3]
    for file, frames in (("video.mp4", video), ("pose.mp4", pose)):
        with FrameWriter(OutputTarget("mp4", clip / file), 12, (w, h), len(frames)) as writer:
            for frame in frames:
                writer.write(frame)
    for f, mask in enumerate(masks):
        cv2.imwrite(str(clip / "masks" / f"{f:05d}.png"), mask.astype(np.uint8) * 255)
    (clip / "rig.json").write_text(json.dumps(rig_json))
    rel = f"clips/{name}"
    entry = {
        "clip": name,
        "status": "accepted",
        "video": f"{rel}/video.mp4",
        "pose": f"{rel}/pose.mp4",
        "masks": f"{rel}/masks",
        "rig": f"{rel}/rig.json",
        "frames": len(video),
    }
    with (root / "manifest.jsonl").open("a") as manifest:
        manifest.write(json.dumps(entry) + "\n")


def rig_json(rig, rest, positions):
    return {
        "joints": [{"id": j.id, "xy": [float(x) for x in xy]} for j, xy in zip(rig.joints, rest, strict=True)],
        "bones": [{"id": b.id, "a": b.a, "b": b.b} for b in rig.bones],
        "positions": positions.tolist(),
    }


@pytest.mark.parametrize("rule", ["dilated", "nearest"])
def test_puppet_clip_read_back_gives_the_renderers_part_tokens(tmp_path, rule):
    from poseanything_studio.rendering.neural import job_inputs

    track = [{"frame": 0, "xy": [180, 80], "interp": "smooth"}, {"frame": FRAMES - 1, "xy": [150, 30]}]
    job = make_job(
        load_project(write_arm_project(tmp_path, tip_track=track, frames=FRAMES, size=(256, 160))), part_rule=rule
    )
    mesh = PuppetMesh.build(
        np.dstack([job.image[..., :3], job.mask * 255]).astype(np.uint8), job.mask, job.rig, job.rest_xy
    )
    video = np.stack([mesh.render(xy) for xy in job.positions])
    pose = pose_frames(job.rig, job.positions, job.size)
    root = tmp_path / "data"
    write_clip(root, "arm", video, pose, [job.mask] * FRAMES, rig_json(job.rig, job.rest_xy, job.positions))

    item = ClipDataset(root, FRAMES, part_rule=rule)[0]
    assert item["parts"].shape == (FRAMES, 2, 160, 256)
    want = torch.as_tensor(job_inputs(job)["part_coverage"])
    got = pool_part_masks(item["parts"])
    torch.testing.assert_close(got, want)
    tokens = PartContext.from_coverage(got).tokens
    assert torch.equal(tokens, PartContext.from_coverage(want).tokens)
    assert tokens[:, 0].any(-1).all() and tokens[:, 1].any(-1).all()  # both bones have tokens in every frame


def star(bones: int, centre=(128.0, 96.0), length=60.0):
    """A star rig of `bones` spokes from one hub, its subject mask (thick spokes) and a slow turn per frame."""
    from poseanything_studio.core.rig import Bone, Joint, Rig

    angles = np.linspace(0, 2 * np.pi, bones, endpoint=False)
    tips = np.array(centre) + length * np.stack([np.cos(angles), np.sin(angles)], 1)
    rig = Rig(
        (Joint("hub", centre), *(Joint(f"t{k}", tuple(t)) for k, t in enumerate(tips))),
        tuple(Bone(f"b{k}", "hub", f"t{k}") for k in range(bones)),
    )
    rest = rig.rest_xy()
    mask = np.zeros((192, 256), np.uint8)
    for a, b in rig.bone_joint_indices():
        cv2.line(mask, tuple(rest[a].astype(int)), tuple(rest[b].astype(int)), 1, 9)
    positions = []
    for f in range(FRAMES):
        turn = 0.04 * f
        c, s = np.cos(turn), np.sin(turn)
        positions.append(centre + (rest - centre) @ np.array([[c, s], [-s, c]]))
    return rig, rest, mask > 0, np.array(positions)


@pytest.mark.parametrize("bones", [7, 12])
def test_every_bone_keeps_its_part_and_no_joint_dot_becomes_one(tmp_path, bones):
    rig, rest, mask, positions = star(bones)
    pose = pose_frames(rig, positions, (256, 192))  # bones in colours, joints as white dots
    video = np.repeat(np.where(mask[..., None], 200, 30).astype(np.uint8).repeat(3, -1)[None], FRAMES, 0)
    write_clip(tmp_path, "star", video, pose, [mask] * FRAMES, rig_json(rig, rest, positions))
    parts = ClipDataset(tmp_path, FRAMES)[0]["parts"]
    assert parts.shape[1] == bones
    for f in (0, FRAMES - 1):
        for k, (a, b) in enumerate(rig.bone_joint_indices()):
            x, y = np.round(0.3 * positions[f, a] + 0.7 * positions[f, b]).astype(int)  # out along bone k
            assert parts[f, k, y, x], (f, k)
            others = [j for j in range(bones) if j != k]
            assert not parts[f, others, y, x].any(), (f, k)  # ...and on no other bone's part
    hub = tuple(np.round(positions[0, 0]).astype(int))
    assert pose[0][hub[1], hub[0]].min() > 200  # the white joint dot is there in the pose frame, not a part


def test_a_ptcm_stage_on_clips_without_a_rig_is_one_line_naming_the_clip(tmp_path):
    rig, rest, mask, positions = star(3)
    video = np.repeat(np.where(mask[..., None], 200, 30).astype(np.uint8).repeat(3, -1)[None], FRAMES, 0)
    write_clip(tmp_path, "star", video, video, [mask] * FRAMES, rig_json(rig, rest, positions))
    entry = json.loads((tmp_path / "manifest.jsonl").read_text())
    (tmp_path / "manifest.jsonl").write_text(json.dumps({**entry, "rig": None}) + "\n")
    dataset = ClipDataset(tmp_path, FRAMES)
    assert not dataset.has_parts(0) and dataset[0]["parts"].shape[1] == 0
    (tmp_path / "manifest.jsonl").write_text(json.dumps({**entry, "rig": 3}) + "\n")
    with pytest.raises(DatasetError, match=r"manifest\.jsonl:1: key 'rig'"):
        ClipDataset(tmp_path, FRAMES)
