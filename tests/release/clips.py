"""A release-style clip folder (data/test layout) built from the golden inputs, for the clip and CLI tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
from skimage import data

GOLDENS = Path(__file__).resolve().parent / "goldens" / "parts"
DEER = "EZwrDYL6YIw_69"
DEER_FRAMES = (0, 20, 40, 80)


def make_clip(root: Path, name: str = DEER, index=(*DEER_FRAMES, 100), text: str = "A deer walks.") -> Path:
    """A data/test-style folder: the golden inputs' deer frames and id image, astronaut as the first frame."""
    base = root / "data"
    (base / "skeleton_image" / name).mkdir(parents=True)
    (base / "first_frame").mkdir()
    (base / "video").mkdir()
    for i in DEER_FRAMES:
        shutil.copyfile(GOLDENS / "inputs" / DEER / f"{i:03d}.png", base / "skeleton_image" / name / f"{i:03d}.png")
    shutil.copyfile(GOLDENS / "inputs" / f"{DEER}_id.png", base / "video" / f"{name}_id.png")
    cv2.imwrite(str(base / "first_frame" / f"{name}.png"), cv2.resize(data.astronaut(), (832, 468))[..., ::-1])
    names = [f"{i:03d}.png" for i in index]
    with open(base / "metadata.csv", "w", encoding="utf-8") as f:
        f.write("file_name,condition_images,text,condition_index\n")
        f.write(f'{name},"{names}","{text}","{list(index)}"\n')
    return base / name
