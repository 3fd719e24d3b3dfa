"""Write the part-mask, alpha and resize goldens from a checkout of the official PoseAnything code.

The official repository (github Ryan-w2024/PoseAnything) is not part of this project and none of its code is
copied here: this script imports `examples/wanvideo/model_inference/data_utils.py` from the checkout named on
the command line and runs the release's own `calculate_needed_dilation`, `segment_skeleton`, `resize_image`,
`crop_and_resize` and `load_condition_image` on a few frames of the release's `data/test` clips, with the same
glue as `test_ddp.py` (alpha from the first pose image; the id image cuts the first frame's parts only; every
part nearest-resized to the first frame's token grid and thresholded at 127).

What it writes under `tests/release/goldens/parts/` (about 150 KB), read by `tests/core/test_release_parts.py`:

- `inputs/NAME/NNN.png`, `inputs/NAME_id.png`: the release's own pose images and id images, copied byte for
  byte (a few frames per clip), plus `inputs/ezmismatch_id.png`: the deer's id image resized to 500x300
  (OpenCV INTER_AREA), a case whose id image and pose image differ in shape (the release's resize quirks), and
  `inputs/synthetic/`: pose images drawn here for the corners the clips miss (strokes running off the border,
  pieces of 15-24 pixels, a star of 7 arms, a lone dot, an empty frame) with an id image no 99 dilations cover;
- `NAME.npz`: per frame `seg_K` (segment_skeleton's full-size uint8 masks, stacked) and `tok_K` (the token
  masks, bool), and `alpha`, `grid`;
- `manifest.json`: the cases, alpha, grid, segment counts, the SHA-256 of every frame `load_condition_image`
  made (and of `resize_image` / `crop_and_resize` on scikit-image's astronaut), and the library versions.

How to run it (CPU, under a minute):

    git clone https://github.com/Ryan-w2024/PoseAnything /tmp/PoseAnything     # any checkout of the release
    python3 -m venv --system-site-packages /tmp/venv-official                  # or any Python with:
    /tmp/venv-official/bin/pip install numpy opencv-python-headless scikit-image pillow torch torchvision einops
    /tmp/venv-official/bin/python tools/release_goldens/parts.py /tmp/PoseAnything

`--whole-clips` writes nothing and instead compares our `load_release_clip` with the release's code on every
clip of `data/test` that has a first frame, all 81 frames: alpha, every token mask, every pose frame, the picture.

The goldens are exact only for the OpenCV and scikit-image versions in the manifest (ours match them); rerun
the script after upgrading either. `data_utils` imports torchvision, whose `__init__` loads compiled operators
that a torchvision wheel built for another torch refuses; then the script imports torchvision's pure-Python
`transforms` without that `__init__` (the resize the release calls is PIL's, reached through that code).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[2] / "tests" / "release" / "goldens" / "parts"
CASES = {  # name: (clip, pose frames, id image or None)
    "EZwrDYL6YIw_69": ("EZwrDYL6YIw_69", ("000", "020", "040", "080"), "EZwrDYL6YIw_69_id.png"),
    "Og1-HBAendg_30": ("Og1-HBAendg_30", ("000", "040", "080"), "Og1-HBAendg_30_id.png"),
    "chat": ("chat", ("000", "040", "080"), None),  # the release's chat/talk have no NAME_id.png: alpha 1, no cut
    "talk": ("talk", ("000", "080"), None),
    "ezmismatch": ("EZwrDYL6YIw_69", ("000", "040"), "ezmismatch_id.png"),
    "synthetic": ("synthetic", tuple(f"{i:03d}" for i in range(10)), "synthetic_id.png"),
}
WRITTEN_HERE = ("ezmismatch_id.png", "synthetic_id.png")


def import_data_utils(checkout: Path) -> types.ModuleType:
    """The release's data_utils module, imported from the checkout (torchvision loaded as it allows)."""
    try:
        import torchvision
    except (ImportError, RuntimeError):
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        spec = importlib.util.find_spec("torchvision")
        package = types.ModuleType("torchvision")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["torchvision"] = package
        import torchvision.transforms
        import torchvision.transforms.functional  # noqa: F401
    path = checkout / "examples" / "wanvideo" / "model_inference" / "data_utils.py"
    spec = importlib.util.spec_from_file_location("release_data_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sha(array: np.ndarray) -> str:
    """SHA-256 of an array's shape and bytes."""
    array = np.ascontiguousarray(array)
    return hashlib.sha256(repr(array.shape).encode() + array.tobytes()).hexdigest()


def copy_inputs(data: Path) -> None:
    """The few release files the goldens use, copied unchanged, and the resized id image of the mismatch case."""
    draw_synthetic(OUT / "inputs")
    for clip, frames, id_name in CASES.values():
        if clip == "synthetic":
            continue
        for frame in frames:
            target = OUT / "inputs" / clip / f"{frame}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data / "skeleton_image" / clip / f"{frame}.png", target)
        if id_name and id_name not in WRITTEN_HERE and clip != "synthetic":
            shutil.copyfile(data / "video" / id_name, OUT / "inputs" / id_name)
    deer = cv2.imread(str(data / "video" / "EZwrDYL6YIw_69_id.png"))
    cv2.imwrite(str(OUT / "inputs" / "ezmismatch_id.png"), cv2.resize(deer, (500, 300), interpolation=cv2.INTER_AREA))


def draw_synthetic(folder: Path) -> None:
    """Pose images (white on black, 832x448: the release size, so resize leaves them) for the corner cases."""
    (folder / "synthetic").mkdir(parents=True, exist_ok=True)
    images = []
    for short in range(18, 28):  # frames 0-9: two long strokes and one short one of `short` px, one off the edge
        image = np.zeros((448, 832), np.uint8)
        cv2.line(image, (0, 60 + short), (300, 60), 255, 1)  # 1 px to the left border: its end is no key point
        cv2.line(image, (400, 447), (420, 200), 255, 1)  # to the bottom border
        cv2.line(image, (600, 300), (600 + short, 300), 255, 3)
        images.append(image)
    star = images[3]
    for k in range(7):  # a star of 7 arms: a junction and more than 5 pieces
        angle = 2 * np.pi * k / 7
        cv2.line(
            star, (650, 120), (650 + int(30 * (k + 1) * np.cos(angle)), 120 + int(30 * (k + 1) * np.sin(angle))), 255, 3
        )
    images[5][100:102, 100:102] = 255  # a lone dot: a one-pixel piece, dropped
    images[9][:] = 0  # an empty frame: no piece at all
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / "synthetic" / f"{i:03d}.png"), cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    subject = np.full((448, 832, 3), 255, np.uint8)
    subject[:, :] = (40, 60, 80)  # dark everywhere but a white frame: more than 99 dilations from the strokes
    subject[:4], subject[-4:], subject[:, :4], subject[:, -4:] = 255, 255, 255, 255
    cv2.imwrite(str(folder / "synthetic_id.png"), subject)


def run_case(du: types.ModuleType, clip: str, frames: tuple[str, ...], id_name: str | None) -> tuple[dict, dict]:
    """test_ddp.py's part masks for one case, from the release's functions: (arrays, manifest entry)."""
    paths = [str(OUT / "inputs" / clip / f"{f}.png") for f in frames]
    id_path = str(OUT / "inputs" / (id_name or f"{clip}_id.png"))  # absent for chat/talk, as in the release
    alpha = du.calculate_needed_dilation(id_path, paths[0])
    arrays, counts, grid = {}, [], None
    for k, path in enumerate(paths):
        segments, w, h = du.segment_skeleton(path, id_path if k == 0 else None, alpha)
        grid = (w, h) if k == 0 else grid
        tokens = [cv2.resize(m, grid, interpolation=cv2.INTER_NEAREST) > 127 for m in segments]
        arrays[f"seg_{k}"] = np.stack(segments) if segments else np.zeros((0, 1, 1), np.uint8)
        arrays[f"tok_{k}"] = np.stack(tokens) if tokens else np.zeros((0, grid[1], grid[0]), bool)
        counts.append(len(segments))
    arrays["alpha"], arrays["grid"] = np.array(alpha), np.array(grid)
    index = [int(f) for f in frames]
    condition, height, width = du.load_condition_image(paths, index, 832)
    entry = {
        "clip": clip,
        "frames": list(frames),
        "id": id_name,
        "alpha": int(alpha),
        "grid": list(grid),
        "segments": counts,
        "condition_size": [width, height],
        "condition_sha": [sha(np.asarray(im)) for im in condition],
    }
    return arrays, entry


def resize_goldens(du: types.ModuleType) -> dict:
    """resize_image (OpenCV) and crop_and_resize (torchvision/PIL) on scikit-image's astronaut, two crops."""
    from PIL import Image
    from skimage import data

    out = {}
    for name, crop in (("square", (slice(None), slice(None))), ("wide", (slice(0, 300), slice(0, 500)))):
        rgb = np.ascontiguousarray(data.astronaut()[crop])
        out[f"resize_image_{name}"] = sha(du.resize_image(rgb))
        out[f"crop_and_resize_{name}"] = sha(np.asarray(du.crop_and_resize(Image.fromarray(rgb), 832)))
    return out


def compare_whole_clips(du: types.ModuleType, data: Path) -> bool:
    """Ours against the release on whole data/test clips (81 frames each); prints one line per clip."""
    import time

    from PIL import Image

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from poseanything_studio.core.release import load_release_clip

    same_everywhere = True
    for first in sorted((data / "first_frame").glob("*.png")):
        name = first.stem
        start = time.perf_counter()
        ours = load_release_clip(data / name)
        ours_s, start = time.perf_counter() - start, time.perf_counter()
        paths = [str(data / "skeleton_image" / name / f"{i:03d}.png") for i in ours.condition_index]
        id_path = str(data / "video" / f"{name}_id.png")
        alpha = du.calculate_needed_dilation(id_path, paths[0])
        theirs, grid = [], None
        for k, path in enumerate(paths):
            segments, w, h = du.segment_skeleton(path, id_path if k == 0 else None, alpha)
            grid = (w, h) if k == 0 else grid
            theirs.append([cv2.resize(m, grid, interpolation=cv2.INTER_NEAREST) > 127 for m in segments])
        condition, height, width = du.load_condition_image(paths, list(ours.condition_index), 832)
        picture = du.crop_and_resize(Image.open(first), 832).resize((width, height))
        theirs_s = time.perf_counter() - start
        checks = {
            "alpha": alpha == ours.parts.alpha,
            "masks": len(theirs) == len(ours.binary_masks)
            and all(
                len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
                for a, b in zip(ours.binary_masks, theirs, strict=True)
            ),
            "pose frames": all(
                np.array_equal(np.asarray(c), o) for c, o in zip(condition, ours.pose_frames, strict=True)
            ),
            "picture": np.array_equal(np.asarray(picture), ours.picture),
        }
        same_everywhere &= all(checks.values())
        print(
            name,
            " ".join(f"{k} {'same' if v else 'DIFFERENT'}" for k, v in checks.items()),
            f"(ours {ours_s:.1f} s, the release's code {theirs_s:.1f} s)",
        )
    return same_everywhere


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of github Ryan-w2024/PoseAnything")
    parser.add_argument(
        "--whole-clips",
        action="store_true",
        help="compare ours with the release on whole data/test clips instead of writing goldens",
    )
    args = parser.parse_args()
    du = import_data_utils(args.checkout)
    if args.whole_clips:
        sys.exit(0 if compare_whole_clips(du, args.checkout / "data" / "test") else 1)
    copy_inputs(args.checkout / "data" / "test")
    import skimage

    manifest = {"cv2": cv2.__version__, "skimage": skimage.__version__, "cases": {}, "resize": resize_goldens(du)}
    for name, (clip, frames, id_name) in CASES.items():
        arrays, entry = run_case(du, clip, frames, id_name)
        np.savez_compressed(OUT / f"{name}.npz", **arrays)
        manifest["cases"][name] = entry
        print(name, "alpha", entry["alpha"], "grid", entry["grid"], "segments", entry["segments"])
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()
