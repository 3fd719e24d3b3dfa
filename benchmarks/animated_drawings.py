"""Our puppet beside AnimatedDrawings on one of its own characters and motions: the subject's wholeness, every frame.

    python benchmarks/animated_drawings.py AD/examples/characters/char1 AD/examples/bvh/fair1/dab.bvh \
        --theirs char1_dab.gif -o side_by_side.png          # AD: a checkout of facebookresearch/AnimatedDrawings

CHARACTER is an AnimatedDrawings character folder (char_cfg.yaml, texture.png, mask.png). Its rig becomes ours
joint for joint (their names mapped onto our human template's), the BVH is keyed with our importer (retargeted
by bone direction, `motion import`), and the puppet renders the subject alone (RGBA). `--theirs` is their render of
the same character and motion (their own `animated_drawings.render.start` on a config naming the character,
`examples/config/motion/dab.yaml` and `examples/config/retarget/fair1_ppf.yaml`; it is not run here: it needs
OpenGL and its own pinned packages).

Measured on every frame of both, from the silhouette alone (their white backdrop, our alpha), so no alignment
is needed: `pieces`, the parts of the subject of at least 0.5% of its area (1 when nothing tore loose); `area`,
the subject's area against the drawing's (a torso erased or a limb stretched changes it); `holes`, background
pixels enclosed by the subject, against its area (a tear inside the outline). A contact sheet of every
frame, ours above theirs, goes to `-o`.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import yaml

# AnimatedDrawings' joint names -> our human template's (their `root` sits on `hip`, so the hips hang from our
# pelvis; their `neck` is the middle of the face)
OURS = {
    "hip": "pelvis",
    "torso": "chest",
    "neck": "head",
    "right_shoulder": "shoulder_r",
    "right_elbow": "elbow_r",
    "right_hand": "hand_r",
    "left_shoulder": "shoulder_l",
    "left_elbow": "elbow_l",
    "left_hand": "hand_l",
    "right_hip": "hip_r",
    "right_knee": "knee_r",
    "right_foot": "foot_r",
    "left_hip": "hip_l",
    "left_knee": "knee_l",
    "left_foot": "foot_l",
}


def project_for(character: Path, folder: Path, fps: int, frames: int, margin: float = 0.3) -> Path:
    """A project on the character's texture and mask, with its rig under our names; returns its path.

    The drawing is set on paper `margin` of its size wider on every side (its border colour, the paper's), so
    a limb the motion swings out is not cut by the frame: their camera shows the character with room around.
    """
    config = yaml.safe_load((character / "char_cfg.yaml").read_text())
    texture = cv2.imread(str(character / "texture.png"), cv2.IMREAD_UNCHANGED)[..., :3]
    mask = cv2.imread(str(character / "mask.png"), cv2.IMREAD_GRAYSCALE)
    pad_y, pad_x = round(margin * texture.shape[0]), round(margin * texture.shape[1])
    paper = [int(c) for c in np.median(np.concatenate([texture[0], texture[-1]]), axis=0)]
    texture = cv2.copyMakeBorder(texture, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=paper)
    mask = cv2.copyMakeBorder(mask, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=0)
    cv2.imwrite(str(folder / "texture.png"), texture)  # the drawing on its paper, as a user brings it
    cv2.imwrite(str(folder / "mask.png"), mask)
    joints = {j["name"]: {**j, "loc": [j["loc"][0] + pad_x, j["loc"][1] + pad_y]} for j in config["skeleton"]}
    joints = {n: j for n, j in joints.items() if n in OURS}
    h, w = texture.shape[:2]
    data = {
        "format": "poseanything-project",
        "version": 1,
        "image": "texture.png",
        "subject_mask": "mask.png",
        "fps": fps,
        "frames": frames,
        "size": [math.ceil(w / 32) * 32, math.ceil(h / 32) * 32],
        "rig": {
            "joints": [{"id": OURS[n], "xy": j["loc"]} for n, j in joints.items()],
            "bones": [
                {"id": f"{OURS[parent]}-{OURS[n]}", "a": OURS[parent], "b": OURS[n]}
                for n, j in joints.items()
                if (parent := {"root": "hip"}.get(j["parent"], j["parent"])) in joints and parent != n
            ],
        },
        "render": {"renderer": "puppet"},
    }
    path = folder / "character.pasproj"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def render_ours(character: Path, bvh: Path, folder: Path, fps: int, frames: int) -> list[np.ndarray]:
    """Our frames (RGBA, the subject alone) of the character moved by the BVH, through the commands a user runs."""
    project = project_for(character, folder, fps, frames)
    moved = folder / "moved.pasproj"
    cli = [sys.executable, "-m", "poseanything_studio"]
    subprocess.run([*cli, "motion", "import", str(project), str(bvh), "-o", str(moved)], check=True)
    out = folder / "frames"
    subprocess.run([*cli, "render", str(moved), "-o", f"{out}/f_%05d.png", "--alpha", "subject"], check=True)
    return [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(out.glob("f_*.png"))]


def read_theirs(path: Path) -> list[np.ndarray]:
    """Their frames as BGR, from the GIF or MP4 their renderer wrote."""
    import imageio.v3 as iio

    return [np.ascontiguousarray(f[..., :3][..., ::-1]) for f in iio.imiter(path)]


def silhouette(frame: np.ndarray) -> np.ndarray:
    """The subject's pixels: our alpha, or what is not their near-white backdrop."""
    if frame.shape[2] == 4:
        return frame[..., 3] > 127
    return frame.min(axis=2) < 235


def wholeness(subject: np.ndarray) -> tuple[int, float, float]:
    """(pieces of at least 0.5% of the subject, area in pixels, enclosed background as a fraction of the area)."""
    _, _, stats, _ = cv2.connectedComponentsWithStats(subject.astype(np.uint8), connectivity=8)
    area = float(subject.sum())
    pieces = int((stats[1:, cv2.CC_STAT_AREA] >= 0.005 * area).sum())
    outside = np.zeros((subject.shape[0] + 2, subject.shape[1] + 2), np.uint8)
    background = (~subject).astype(np.uint8)
    cv2.floodFill(background, outside, (0, 0), 2)
    holes = float((background == 1).sum()) / max(area, 1.0)
    return pieces, area, holes


def summary(name: str, frames: list[np.ndarray], rest_area: float) -> dict:
    """Every frame's wholeness, summarised as a user would read it."""
    stats = [wholeness(silhouette(f)) for f in frames]
    pieces = np.array([s[0] for s in stats])
    area = np.array([s[1] for s in stats]) / rest_area
    holes = np.array([s[2] for s in stats])
    row = {
        "renderer": name,
        "frames": len(frames),
        "frames in one piece": f"{int((pieces == 1).sum())}/{len(frames)}",
        "most pieces": int(pieces.max()),
        "area vs drawing (min-max)": f"{area.min():.2f}-{area.max():.2f}",
        "enclosed holes, worst frame": f"{holes.max():.3%}",
    }
    print("  ".join(f"{k}: {v}" for k, v in row.items()))
    return row


def contact_sheet(rows: list[list[np.ndarray]], cell: int = 180, columns: int = 12) -> np.ndarray:
    """Every frame of each renderer, `columns` to a line, one block of lines per renderer."""
    blocks = []
    for frames in rows:
        cells = []
        for f in frames:
            rgb = f[..., :3].copy()
            if f.shape[2] == 4:  # ours, the subject alone: over white, as theirs is shown
                a = f[..., 3:4] / 255.0
                rgb = (rgb * a + 255 * (1 - a)).astype(np.uint8)
            scale = cell / max(rgb.shape[:2])
            small = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), cv2.INTER_AREA)
            tile = np.full((cell, cell, 3), 255, np.uint8)
            tile[: small.shape[0], : small.shape[1]] = small
            cells.append(tile)
        cells += [np.full((cell, cell, 3), 200, np.uint8)] * (-len(cells) % columns)
        lines = [np.hstack(cells[i : i + columns]) for i in range(0, len(cells), columns)]
        blocks.append(np.vstack([*lines, np.zeros((6, cell * columns, 3), np.uint8)]))
    return np.vstack(blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("character", type=Path, help="an AnimatedDrawings character folder")
    parser.add_argument("bvh", type=Path, help="the BVH both renderers play")
    parser.add_argument("--theirs", type=Path, help="AnimatedDrawings' render of the same character and motion")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--frames", type=int, default=121, help="our frames (4k+1, from the clip's start)")
    parser.add_argument("--every", type=int, default=3, help="on the sheet, one frame in this many")
    parser.add_argument("-o", "--output", type=Path, default=Path("animated_drawings_side_by_side.png"))
    args = parser.parse_args()
    rest_area = float((cv2.imread(str(args.character / "mask.png"), cv2.IMREAD_GRAYSCALE) > 127).sum())
    with tempfile.TemporaryDirectory() as tmp:
        ours = render_ours(args.character, args.bvh, Path(tmp), args.fps, args.frames)
    rows = [ours]
    summary("ours (puppet)", ours, rest_area)
    if args.theirs:
        theirs = read_theirs(args.theirs)[: len(ours)]  # the same stretch of the clip (both at its 30 fps)
        scale = rest_area / max(float(silhouette(theirs[0]).sum()), 1.0)  # their camera shows the drawing smaller
        summary("AnimatedDrawings", theirs, rest_area / scale)
        rows.append(theirs)
    sheet = contact_sheet([r[:: args.every] for r in rows])
    cv2.imwrite(str(args.output), sheet, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.output}: every {args.every}th frame, ours on top")


if __name__ == "__main__":
    main()
