"""Training data read through the project's one picture reader: upright frames, clear errors."""

import numpy as np
import pytest
from PIL import Image
from poseanything_studio.model.data import DatasetError, read_frames, read_masks


def test_png_frames_and_masks_are_read_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown turned clockwise
    stored = np.zeros((40, 20, 3), np.uint8)  # 20 wide, 40 tall as stored
    stored[:5, :5] = 255
    for i in range(3):
        Image.fromarray(stored).save(tmp_path / f"{i:05d}.png", exif=exif)
    frames = read_frames(tmp_path)
    masks = read_masks(tmp_path, 3)
    assert frames.shape == (3, 20, 40, 3) and masks.shape == (3, 20, 40)
    assert masks[0, 2, 37] and not masks[0, 2, 2]  # the bright corner, top-left as stored, is top-right shown


def test_a_broken_frame_is_a_dataset_error_naming_it(tmp_path):
    (tmp_path / "00000.png").write_bytes(b"broken")
    with pytest.raises(DatasetError, match=r"00000\.png"):
        read_frames(tmp_path)
