"""The one picture reader: EXIF orientation, sizes checked from the header, clear errors."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from poseanything_studio.core.images import (
    ImageReadError,
    ImageTooLarge,
    downscaled_copy,
    read_mask,
    read_rgba,
    upright_size,
    write_mask,
)


def _asymmetric(w: int = 40, h: int = 20) -> np.ndarray:
    """An RGB picture whose every flip and turn looks different (a bright block in one corner)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[:, :, 2] = 60
    img[: h // 3, : w // 4] = (250, 20, 20)
    img[h - 3 :, w - 5 :] = (20, 250, 20)
    return img


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_reads_as_pillow_shows_it(tmp_path, orientation):
    path = tmp_path / "photo.png"  # PNG keeps the pixels exact, and Pillow writes EXIF into it
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_asymmetric()).save(path, exif=exif)
    with Image.open(path) as img:
        expected = np.asarray(ImageOps.exif_transpose(img).convert("RGBA"))
    got = read_rgba(path)
    assert got.shape == expected.shape and np.array_equal(got, expected)


def test_a_phone_jpeg_turned_sideways_loads_upright(tmp_path):
    path = tmp_path / "phone.jpg"
    stored = _asymmetric(100, 200)  # stored 100 wide, 200 tall; orientation 6: shown turned 90 degrees clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    got = read_rgba(path)
    assert got.shape == (100, 200, 4)
    assert upright_size(path) == (200, 100)
    # the red block, top-left as stored, is top-right once turned clockwise
    assert got[5, 195, 0] > 200 and got[5, 195, 1] < 80
    assert read_mask(path).shape == (100, 200)


def _png_claiming(path, width: int, height: int) -> None:
    """A PNG file whose header claims width x height, with hardly any data (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def test_a_huge_picture_is_refused_from_its_header_before_decoding(tmp_path):
    path = tmp_path / "bomb.png"
    _png_claiming(path, 30000, 30000)
    with pytest.raises(ImageTooLarge, match=r"30000x30000 \(900 MP\).*downscale") as info:
        read_rgba(path)
    assert info.value.size == (30000, 30000)


def test_downscaled_copy_fits_the_limit_and_stays_upright(tmp_path):
    path = tmp_path / "big.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_asymmetric(300, 200)).save(path, exif=exif)
    with pytest.raises(ImageTooLarge):
        read_rgba(path, max_pixels=10_000)
    small = downscaled_copy(path, max_pixels=20_000)
    img = read_rgba(small, max_pixels=20_000)
    assert img.shape[0] > img.shape[1]  # upright: the stored 300x200 shows as 200 wide, 300 tall
    assert img.shape[0] * img.shape[1] <= 20_000


@pytest.mark.parametrize("content", [b"", b"not a picture", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_broken_files_are_one_clear_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=r"bad\.png"):
        read_rgba(path)


def test_odd_paths_are_errors_not_crashes(tmp_path):
    import os

    with pytest.raises(ImageReadError, match="NUL"):
        read_rgba(str(tmp_path / "a\0b.png"))
    with pytest.raises(ImageReadError):
        read_rgba(tmp_path / ("x" * 300 + ".png"))
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError, match="not a regular file"):  # no hang waiting for a writer
        read_rgba(fifo)


def test_a_downscaled_copy_never_replaces_a_file_of_that_name(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(_asymmetric(300, 200)).save(path)
    first = downscaled_copy(path, max_pixels=20_000)
    first.write_bytes(b"someone else's picture, by chance of that name")
    small = downscaled_copy(path, max_pixels=20_000)
    assert small.name == f"{first.stem}-2.png"
    assert first.read_bytes() == b"someone else's picture, by chance of that name"
    assert downscaled_copy(path, max_pixels=20_000) == small  # the same copy again: reused, not a third file
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["big.png", first.name, small.name])


def test_a_downscaled_copy_in_a_read_only_folder_is_one_clear_error(tmp_path, monkeypatch):
    import tempfile

    path = tmp_path / "big.png"
    Image.fromarray(_asymmetric(300, 200)).save(path)

    def read_only(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)  # what a read-only folder does (also for root)
    with pytest.raises(ImageReadError, match=r"cannot write a smaller copy beside .*big\.png.*Permission denied"):
        downscaled_copy(path, max_pixels=20_000)
    assert [p.name for p in tmp_path.iterdir()] == ["big.png"]


def test_a_written_mask_reads_back_as_painted_and_replaces_the_old_file_whole(tmp_path):
    mask = np.zeros((30, 50), bool)
    mask[5:20, 10:40] = True
    path = tmp_path / "cat_mask.png"
    path.write_bytes(b"an older mask")
    write_mask(mask, path)
    assert np.array_equal(read_mask(path), mask)
    assert [p.name for p in tmp_path.iterdir()] == ["cat_mask.png"]  # no temporary left beside it
