"""Every limit bounds what an input costs, and is checked before the cost is paid (docs/limits.md).

The CLI runs in a child process under an address-space cap; its own peak resident memory (VmHWM) is asserted.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import run_cli_capped, write_arm_project

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RLIMIT_AS and VmHWM: Linux")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(path: Path, width: int, height: int, rows: int = 40, exif: bytes | None = None) -> Path:
    """An RGB PNG whose header says width x height, with `rows` real (black) rows of pixel data, then an eXIf
    chunk after the pixels if given (where Pillow finds it only by decoding everything)."""
    packer = zlib.compressobj(1)
    row = b"\0" * (1 + 3 * width)
    idat = b"".join(packer.compress(row) for _ in range(rows)) + packer.flush()
    late = _chunk(b"eXIf", exif) if exif is not None else b""
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _chunk(b"IDAT", idat)
        + late
        + _chunk(b"IEND", b"")
    )
    return path


def _exif_orientation(value: int) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = value
    return exif.tobytes()


def test_a_picture_claiming_100000x100000_is_refused_without_decoding(tmp_path, monkeypatch):
    from PIL import ImageFile

    from poseanything_studio.core.images import ImageTooLarge, read_rgba, upright_size

    path = png_claiming(tmp_path / "bomb.png", 100_000, 100_000, exif=_exif_orientation(6))
    decoded = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(self) or None)
    with pytest.raises(ImageTooLarge, match=r"100000x100000"):
        read_rgba(path)
    assert upright_size(path) == (100_000, 100_000)
    assert decoded == []  # neither the size check nor the EXIF look decoded a single row


def test_an_exif_chunk_after_the_pixels_still_turns_the_picture(tmp_path):
    from poseanything_studio.core.images import read_rgba, upright_size

    path = png_claiming(tmp_path / "late.png", 30, 10, rows=10, exif=_exif_orientation(6))
    assert upright_size(path) == (10, 30)
    assert read_rgba(path).shape == (30, 10, 4)


def test_the_cli_refuses_a_huge_picture_in_one_line_and_little_memory(tmp_path):
    project = write_arm_project(tmp_path)
    png_claiming(tmp_path / "bomb.png", 100_000, 100_000, rows=400)
    data = json.loads(project.read_text())
    project.write_text(json.dumps({**data, "image": "bomb.png"}))
    code, err, peak_mb = run_cli_capped(["render", project, "-o", tmp_path / "out.mp4"])
    assert code == 2 and len(err.strip().splitlines()) == 1 and "100000x100000" in err, err
    assert peak_mb < 400, f"refusing the picture took {peak_mb:.0f} MB"
    assert not (tmp_path / "out.mp4").exists()


def _chain_rig(joints: int, size: tuple[int, int]) -> dict:
    w, h = size
    xy = np.stack([np.linspace(20, w - 20, joints), h / 2 + 30 * np.sin(np.arange(joints) / 5)], 1)
    return {
        "joints": [{"id": f"j{i}", "xy": [float(x), float(y)]} for i, (x, y) in enumerate(xy)],
        "bones": [{"id": f"b{i}", "a": f"j{i}", "b": f"j{i + 1}"} for i in range(joints - 1)],
    }


def test_a_500_joint_rig_renders_in_bounded_memory(tmp_path):
    """A bone's part mask is one frame of memory: 499 of them at 832x480 once took over 1 GB (2.7 GB larger)."""
    size = (832, 480)
    project = write_arm_project(tmp_path, size=size, frames=1)  # the part previews are what cost: one frame will do
    data = json.loads(project.read_text())
    data["rig"] = _chain_rig(500, size)
    project.write_text(json.dumps(data))
    code, err, peak_mb = run_cli_capped(["render", project, "-o", tmp_path / "out.mp4"])
    assert code == 0, err
    assert peak_mb < 400, f"the render took {peak_mb:.0f} MB"
    assert (tmp_path / "out.mp4").stat().st_size > 1000


def test_a_truncated_png_is_our_one_line_only(tmp_path, capfd):
    """libpng would print its own `libpng error: ...` on stderr (below Python) before our error."""
    import cv2

    from poseanything_studio.commands import main

    project = write_arm_project(tmp_path)
    _, encoded = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (160, 256, 3), np.uint8))
    (tmp_path / "arm.png").write_bytes(encoded.tobytes()[: len(encoded) // 2])
    assert main(["render", str(project), "-o", str(tmp_path / "out.mp4")]) == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("error: ")
        and lines[0].endswith(f"cannot decode {str(tmp_path / 'arm.png')!r} as an image: the file is cut short")
    ), lines
