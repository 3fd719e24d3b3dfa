"""Builders and probes the tests share (imported as `helpers`; tests/ is on pytest's pythonpath)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np


def write_arm_project(
    folder: Path,
    *,
    tip_track: list[dict] | None = None,
    camera: list[dict] | None = None,
    frames: int = 5,
    size: tuple[int, int] = (256, 160),
    extra: dict | None = None,
) -> Path:
    """A grey horizontal arm (root at left) with a red marker at its tip, on a striped background.

    Joints: root (60, 80), mid (120, 80), tip (180, 80); the mask is the arm; returns the project path.
    """
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = (40, 90, 40)
    img[::8] = (60, 120, 60)  # stripes so background motion shows
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (50, 70), (190, 90), 255, -1)
    img[mask > 0] = (190, 190, 190)
    cv2.rectangle(img, (172, 74), (186, 86), (255, 0, 0), -1)  # red marker at the tip (RGB)
    cv2.imwrite(str(folder / "arm.png"), img[..., ::-1])
    cv2.imwrite(str(folder / "arm_mask.png"), mask)
    data = {
        "format": "poseanything-project",
        "version": 1,
        "image": "arm.png",
        "subject_mask": "arm_mask.png",
        "fps": 12,
        "frames": frames,
        "size": [w, h],
        "rig": {
            "joints": [{"id": "root", "xy": [60, 80]}, {"id": "mid", "xy": [120, 80]}, {"id": "tip", "xy": [180, 80]}],
            "bones": [{"id": "upper", "a": "root", "b": "mid"}, {"id": "lower", "a": "mid", "b": "tip"}],
        },
        "tracks": {"tip": tip_track} if tip_track else {},
        "camera": camera or [],
        "render": {"renderer": "puppet"},
        **(extra or {}),
    }
    path = folder / "arm.pasproj"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def red_centroid(frame: np.ndarray) -> np.ndarray:
    """Centre (x, y) of the strongly red pixels of an RGB frame."""
    red = (frame[..., 0] > 180) & (frame[..., 1] < 90) & (frame[..., 2] < 90)
    ys, xs = np.nonzero(red)
    assert xs.size > 10, "the red marker is not in the frame"
    return np.array([xs.mean(), ys.mean()])


def pipeline_scene(frames: int = 9, height: int = 64, width: int = 96, second_part_x: int = 30):
    """Inputs for the tiny pipeline: a random picture, a bar moving right as the pose, two moving part masks
    and a camera rectangle's left edge moving left; (image, pose, masks, camera)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    pose = np.zeros((frames, height, width, 3), np.uint8)
    masks = np.zeros((frames, 2, height, width), bool)
    camera = np.zeros_like(pose)
    for f in range(frames):
        pose[f, 20:30, 10 + 4 * f : 40 + 4 * f] = 255
        masks[f, 0, 10:40, 5 + 4 * f : 30 + 4 * f] = True
        masks[f, 1, 30:60, second_part_x + 4 * f : second_part_x + 30 + 4 * f] = True
        camera[f, 8 + f : 56 + f, 10 - f] = 255
    return image, pose, masks, camera


MAIN_PY = str(Path(__file__).resolve().parents[1] / "main.py")
MEMORY_CAP_MB = 1536  # address space a capped CLI run gets: imports (numpy, OpenCV, SciPy's BLAS) map ~600 MB


_PEAK_REPORTER = """\
import atexit, runpy, sys

main_py, peak_file = sys.argv[1], sys.argv[2]


def report_peak():  # VmHWM, this process's own peak (ru_maxrss would count the parent's memory at fork time)
    with open("/proc/self/status") as status, open(peak_file, "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))


atexit.register(report_peak)
sys.argv = [main_py, *sys.argv[3:]]
runpy.run_path(main_py, run_name="__main__")
"""


def run_cli_capped(args: list, cap_mb: int = MEMORY_CAP_MB, timeout: float = 180) -> tuple[int, str, float]:
    """The CLI in a child process under an address-space cap (RLIMIT_AS: a runaway allocation fails instead of
    swapping the machine); (exit status, stderr text, the child's own peak resident memory in MB, Linux's VmHWM)."""
    import resource
    import subprocess
    import sys
    import tempfile

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_mb * 2**20, cap_mb * 2**20))

    with tempfile.TemporaryDirectory() as scratch:
        peak_file = Path(scratch) / "peak"
        proc = subprocess.run(
            [sys.executable, "-c", _PEAK_REPORTER, MAIN_PY, str(peak_file), *map(str, args)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            preexec_fn=cap,
            cwd=Path(MAIN_PY).parent,
            timeout=timeout,
        )
        peak_kb = float(peak_file.read_text()) if peak_file.is_file() else float("nan")
    return proc.returncode, proc.stderr.decode("utf-8", "replace"), peak_kb / 1024
