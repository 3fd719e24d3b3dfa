"""The background fill on photos and drawings: time per picture and grain in the hole, against main's fill, in one run;
and what a lifted limb uncovers, against ground truth.

For each picture (the tests' scenes, tests/rendering/puppet_scenes.py, and scikit-image's coffee with its
cup as the subject) the fill of this tree (`texture`: biharmonic colours plus the picture's own grain) and
the fill of git `--ref` (imported from `git show`) paint the subject out, uncached. Printed: seconds per
fill, their ratio, and the median fine detail (grey less its 1.5 px blur) inside the hole against the
background round it (1.0: the hole is as grainy as its surroundings; a flat blob is near 0). `--sheet`
also writes every frame of the astronaut's wave, `--ref` above and this tree below, as one JPEG.

Uncovered by a limb (`psnr`): on scikit-image's astronaut, chelsea and coffee with their hand masks
(tests/core/hand_masks.py), a limb-shaped band lying half on the subject and half on the background is
painted out and filled; PSNR (dB) against the photo's own pixels under the band. Methods, all in this
run: OpenCV's Telea and Navier-Stokes and scikit-image's biharmonic over the band; the puppet before
plates (`--ref`'s way: the subject and the limb painted out together, the background fill under all of
it); and now (the background fill outside the subject, and inside it the body's plate, behind.py: the
band filled from the subject's own pixels). OpenCV contrib's xphoto shift-map and FSR when installed.

Speed (`--speed`): the mesh rebuilt with the background fill cached (as the window rebuilds it on a rig edit,
plates included) and every frame rendered, on the tests' scenes, this tree against `--ref` in one run.

    python benchmarks/puppet_fill.py [--ref main] [--sheet docs/images/puppet_fill_astronaut.jpg] [--psnr]
    python benchmarks/puppet_fill.py --speed
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "rendering"))

import puppet_scenes  # noqa: E402
from puppet_sheets import render_scene, renderer_of, sheet  # noqa: E402

from poseanything_studio.rendering import puppet  # noqa: E402


def pictures() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB, subject mask) for each picture the fill is measured on."""
    from skimage import data

    out = []
    for name, make in sorted(puppet_scenes.SCENES.items()):
        scene = make(9)
        out.append((name, scene.rgba[..., :3], scene.mask))
    coffee = data.coffee()
    cup = np.zeros(coffee.shape[:2], np.uint8)
    cv2.ellipse(cup, (300, 210), (190, 130), 0, 0, 360, 1, -1)  # the cup and saucer, roughly
    out.append(("coffee", coffee, cup > 0))
    return out


def grain(filled: np.ndarray, mask: np.ndarray) -> float:
    """Median fine detail (grey less its 1.5 px blur) in the hole's inside over the median in a ring round it."""
    gray = cv2.cvtColor(filled, cv2.COLOR_RGB2GRAY).astype(np.float32)
    detail = np.abs(gray - cv2.GaussianBlur(gray, (0, 0), 1.5))
    m = mask.astype(np.uint8)
    inside = cv2.erode(m, np.ones((15, 15), np.uint8)) > 0
    ring = (cv2.dilate(m, np.ones((61, 61), np.uint8)) > 0) & ~(cv2.dilate(m, np.ones((21, 21), np.uint8)) > 0)
    return float(np.median(detail[inside]) / max(np.median(detail[ring]), 1e-6))


# (photo, band from, band to, width): a limb lying over the subject's edge, about half on it
BANDS = [
    ("astronaut", (230, 330), (430, 300), 44),
    ("astronaut", (200, 180), (330, 90), 36),
    ("chelsea", (280, 230), (450, 170), 40),
    ("coffee", (300, 120), (480, 40), 40),
]


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    error = np.mean((a[where].astype(np.float64) - b[where].astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(error, 1e-9)))


def uncovered_methods(old) -> dict:
    """name -> fill(rgb, subject mask, band) -> the picture as a render shows it where the band lifted away."""
    from skimage.restoration import inpaint_biharmonic

    from poseanything_studio.rendering.puppet.behind import body_behind, fill_from

    def now(rgb, mask, band):
        out = puppet.fill_background(rgb, mask | band)
        under, _hull = body_behind(mask & ~band, band & mask)
        filled = fill_from(rgb, under, mask & ~band, 48)
        out[under] = filled[under]
        return out

    def biharmonic(rgb, mask, band):
        out = inpaint_biharmonic(rgb / 255.0, band, channel_axis=-1)
        return np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8)

    methods = {
        "telea": lambda rgb, mask, band: cv2.inpaint(rgb, band.astype(np.uint8), 5, cv2.INPAINT_TELEA),
        "ns": lambda rgb, mask, band: cv2.inpaint(rgb, band.astype(np.uint8), 5, cv2.INPAINT_NS),
        "biharmonic": biharmonic,
        "before": lambda rgb, mask, band: old_fill(old)(rgb, mask | band),
        "now": now,
    }
    if hasattr(cv2, "xphoto"):
        for name, flag in (("shiftmap", cv2.xphoto.INPAINT_SHIFTMAP), ("fsr", cv2.xphoto.INPAINT_FSR_FAST)):

            def patch(rgb, mask, band, flag=flag):
                out = np.zeros_like(rgb)
                cv2.xphoto.inpaint(np.ascontiguousarray(rgb[..., ::-1]), (~band).astype(np.uint8) * 255, out, flag)
                return np.ascontiguousarray(out[..., ::-1])

            methods[name] = patch
    return methods


def uncovered_table(old) -> None:
    """PSNR per band and method, and the mean per method."""
    sys.path.insert(0, str(ROOT / "tests" / "core"))
    from hand_masks import photo

    methods = uncovered_methods(old)
    if not hasattr(cv2, "xphoto"):
        print("(OpenCV contrib's xphoto is not installed: no shift-map or FSR)")
    print(f"{'band':>14} {'on subject':>10} " + " ".join(f"{m:>10}" for m in methods))
    scores: dict[str, list[float]] = {m: [] for m in methods}
    for name, p, q, width in BANDS:
        rgb, mask = photo(name)
        band = np.zeros(mask.shape, np.uint8)
        cv2.line(band, p, q, 1, width)
        band = band > 0
        row = []
        for method, fill in methods.items():
            score = psnr(fill(rgb, mask, band), rgb, band)
            scores[method].append(score)
            row.append(f"{score:>10.1f}")
        print(f"{name + str(p):>14} {np.mean(mask[band]):>9.0%} " + " ".join(row))
    print(f"{'mean dB':>14} {'':>10} " + " ".join(f"{np.mean(v):>10.1f}" for v in scores.values()))


def speed(old) -> None:
    """Rebuild (fill cached) and per-frame seconds of this tree's renderer and `old`'s, and their ratio."""
    print(f"{'scene':>12} {'rebuild s':>9} {'ref':>6} {'ratio':>6} {'ms/frame':>8} {'ref':>6} {'ratio':>6}")
    for name in ("astronaut", "drawn_child", "four_legs", "chelsea"):
        scene = puppet_scenes.SCENES[name](25)
        row = []
        for module in (puppet, old):
            fills = module.FillCache()
            module.PuppetMesh.build(scene.rgba, scene.mask, scene.rig, scene.rest_xy, fills=fills)  # fill once
            start = time.perf_counter()
            mesh = module.PuppetMesh.build(scene.rgba, scene.mask, scene.rig, scene.rest_xy, fills=fills)
            built = time.perf_counter()
            for xy in scene.poses:
                mesh.render(xy)
            row.append((built - start, 1000 * (time.perf_counter() - built) / len(scene.poses)))
        (b, f), (ob, of) = row
        print(f"{name:>12} {b:>9.2f} {ob:>6.2f} {b / ob:>5.2f}x {f:>8.1f} {of:>6.1f} {f / of:>5.2f}x")


def timed(fill, rgb: np.ndarray, mask: np.ndarray) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fill(rgb, mask)
    return time.perf_counter() - start, out


def old_fill(module):
    """`module`'s fill, uncached (the renderer before FillCache cached in a module dict; its `_filled` does not)."""
    if hasattr(module, "_filled"):
        return lambda rgb, mask: module._filled(rgb, mask, 384, "biharmonic")
    return lambda rgb, mask: module.fill_background(rgb, mask)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main", help="git ref of the fill to compare with")
    parser.add_argument("--sheet", type=Path, help="write the astronaut's wave, before and after, here")
    parser.add_argument("--psnr", action="store_true", help="only the uncovered-limb PSNR table")
    parser.add_argument("--speed", action="store_true", help="only the rebuild and per-frame times")
    args = parser.parse_args()
    old = renderer_of(args.ref)
    if args.speed:
        speed(old)
        return
    uncovered_table(old)
    if args.psnr:
        return
    print(
        f"{'picture':>12} {'ours s':>7} {args.ref + ' s':>8} {'ratio':>6} {'grain ours':>10} {'grain ' + args.ref:>11}"
    )
    for name, rgb, mask in pictures():
        ours_s, ours = timed(puppet.fill_background, rgb, mask)
        old_s, theirs = timed(old_fill(old), rgb, mask)
        print(
            f"{name:>12} {ours_s:>7.2f} {old_s:>8.2f} {ours_s / old_s:>5.2f}x {grain(ours, mask):>10.2f} "
            f"{grain(theirs, mask):>11.2f}"
        )
    if args.sheet:
        scene = puppet_scenes.astronaut(9)
        rows = [sheet(render_scene(module, scene), columns=9, width=200) for module in (old, puppet)]
        cv2.imwrite(str(args.sheet), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(args.sheet)


if __name__ == "__main__":
    main()
