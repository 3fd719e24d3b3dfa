"""The astronaut waving and a drawn animal lifting a leg, every frame: the picture stays whole.

The issue: renders with a moved limb tore on every real picture, the arm carried the side of the torso away,
a drawn belly's outline broke where a leg lifted, and the uncovered background was smeared. Here the user's
path on scikit-image's astronaut (her hand mask, the human template fitted to it, the Wave preset) and a
figure the test draws itself, checking each frame as a user would look at it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from puppet_scenes import astronaut_preset, astronaut_wave

from poseanything_studio.core.rig import Bone, Joint, Rig
from poseanything_studio.rendering.puppet import PuppetMesh, opening_creases
from poseanything_studio.rendering.puppet.raster import triangle_index

ARM = ("elbow_r", "hand_r")  # the joints the wave moves: her left arm, the picture's right


@pytest.fixture(scope="module")
def wave():
    """The astronaut, her fitted rig, the mesh (built as the renderer builds it for this motion), the wave's poses
    and every frame rendered."""
    scene = astronaut_wave(25)
    creases = opening_creases(scene.rig, scene.rest_xy, np.array(scene.poses))
    mesh = PuppetMesh.build(scene.rgba, scene.mask, scene.rig, scene.rest_xy, creases=creases)
    frames = [mesh.render(xy) for xy in scene.poses]
    return scene.rgba[..., :3], scene.mask, scene.rig, mesh, scene.poses, frames


def _moving_bones(rig: Rig, joints) -> np.ndarray:
    moving = {rig.joint_index(j) for j in joints}
    return np.array([b in moving for _a, b in rig.bone_joint_indices()])


def _far_from(shape, rig: Rig, bones: np.ndarray, xys, reach: float) -> np.ndarray:
    """Pixels farther than `reach` from the `bones` at every pose of `xys`."""
    lines = np.full(shape, 255, np.uint8)
    for xy in xys:
        for a, b in rig.bone_joint_indices()[bones]:
            cv2.line(lines, tuple(np.round(xy[a]).astype(int)), tuple(np.round(xy[b]).astype(int)), 0, 1)
    return cv2.distanceTransform(lines, cv2.DIST_L2, 3) > reach


def _pieces(region: np.ndarray, share: float = 0.01) -> int:
    _, _, stats, _ = cv2.connectedComponentsWithStats(region.astype(np.uint8), connectivity=8)
    return int((stats[1:, cv2.CC_STAT_AREA] >= share * max(1, region.sum())).sum())


def _part_pixels(mesh: PuppetMesh, xy: np.ndarray, bones: np.ndarray) -> np.ndarray:
    """Where the triangles of `bones` land with the joints at `xy`."""
    chosen = mesh.triangles[np.isin(mesh.triangle_part, np.flatnonzero(bones))]
    return triangle_index(mesh.deform(xy), chosen, mesh.size) >= 0


def test_what_the_wave_does_not_move_keeps_its_pixels(wave):
    rgb, mask, rig, _mesh, poses, frames = wave
    moving = _moving_bones(rig, ARM)
    still = _far_from(mask.shape, rig, moving, [poses[0], *poses], 60)
    for f, frame in enumerate(frames):
        changed = np.abs(frame.astype(int) - frames[0].astype(int)).max(-1) > 30
        body, ground = still & mask, still & ~mask
        assert changed[body].mean() < 0.01, f"frame {f}: {changed[body].mean():.1%} of her still body changed"
        assert changed[ground].mean() < 0.002, f"frame {f}: {changed[ground].mean():.1%} of the far background"
    # and the rest pose is the photo
    assert np.abs(frames[0].astype(int) - rgb).max(-1).mean() < 2


def test_the_waving_arm_stays_one_piece(wave):
    _rgb, _mask, rig, mesh, poses, _frames = wave
    moving = _moving_bones(rig, ARM)
    for f, xy in enumerate(poses):
        pixels = _part_pixels(mesh, xy, moving)
        assert pixels.sum() > 2000, f"frame {f}: the arm is gone"
        assert _pieces(pixels) == 1, f"frame {f}: the arm is in {_pieces(pixels)} pieces"


def test_the_arms_outer_edge_is_the_arms_not_a_strip_of_her_collar(wave):
    """The part map's flood ran from her collar round the outer side of her arm (along its outline) and the
    lifted arm dragged that strip 2.9x long; a strip that thin is the arm's, beside it."""
    _rgb, mask, rig, mesh, _poses, _frames = wave
    arm = _moving_bones(rig, ARM)
    centres = mesh.vertices[mesh.triangles].mean(1)
    x, y = np.round(centres).astype(int).T
    near_outline = ~(cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0)[
        np.clip(y, 0, 511), np.clip(x, 0, 511)
    ]
    outer_side = (x > 340) & (y > 278) & (y < 335) & near_outline  # her arm's outer side, the picture's right
    assert outer_side.sum() >= 5
    assert arm[mesh.triangle_part[outer_side]].mean() > 0.95


def test_the_waving_arm_pulls_no_web_from_her_side(wave):
    """A web is triangles pulled long between the arm and the body: none is stretched to twice its length. Her
    armpit (the collar's part between the arm's inner side and her chest, joined to the arm by her shoulder)
    stretched 2.6x at the top of the wave until the crease the Wave opens 120 degrees was cut open."""
    _rgb, _mask, _rig, mesh, poses, _frames = wave
    rest_edge = _longest_edges(mesh.vertices[mesh.triangles])
    for f, xy in enumerate(poses):
        stretch = _longest_edges(mesh.deform(xy)[mesh.triangles]) / np.maximum(rest_edge, 1e-6)
        assert stretch.max() < 2.0, f"frame {f}: a triangle stretched {stretch.max():.1f}x (a web)"


def test_the_waving_arm_itself_stretches_little(wave):
    """The arm's own triangles (99th percentile) stay under 1.5x: they stretched 1.8x by her elbow, where the
    fitted forearm is 13 px long (the helmet hides the rest) and the bend lay in its few triangles, and at her
    shoulder, where the collar's cap held the arm's outer side still; now the upper arm's end and the cap bend
    too (binding._bending_sides)."""
    _rgb, _mask, rig, mesh, poses, _frames = wave
    arm = np.isin(mesh.triangle_part, np.flatnonzero(_moving_bones(rig, ARM)))
    rest_edge = _longest_edges(mesh.vertices[mesh.triangles])
    for f, xy in enumerate(poses):
        stretch = _longest_edges(mesh.deform(xy)[mesh.triangles]) / np.maximum(rest_edge, 1e-6)
        assert np.percentile(stretch[arm], 99) < 1.5, f"frame {f}: the arm itself stretches"


def _longest_edges(corners: np.ndarray) -> np.ndarray:
    """(T,) each triangle's longest edge, of corners (T, 3, 2)."""
    return np.hypot(*(corners - np.roll(corners, 1, axis=1)).transpose(2, 0, 1)).max(1)


def _colour_bins(pixels: np.ndarray) -> np.ndarray:
    """(16**3,) bool: the coarse colours (16 levels a channel) that at least 0.1% of `pixels` have."""
    q = (pixels.astype(np.int32) // 16) @ np.array([256, 16, 1])
    counts = np.bincount(q, minlength=4096)
    return counts >= max(1, 0.001 * len(q))


def _near_colour(pixels: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Per pixel: its coarse colour or a neighbouring one is among `bins` (a 3x3x3 neighbourhood of bins)."""
    grown = bins.reshape(16, 16, 16)
    grown = np.pad(grown, 1)
    around = np.zeros((16, 16, 16), bool)
    for dz in range(3):
        for dy in range(3):
            for dx in range(3):
                around |= grown[dz : dz + 16, dy : dy + 16, dx : dx + 16]
    q = pixels.astype(np.int32) // 16
    return around[q[:, 0], q[:, 1], q[:, 2]]


def test_what_the_arm_uncovers_looks_like_the_wall_or_her_suit_with_no_smear(wave):
    rgb, mask, _rig, mesh, poses, frames = wave
    m = mask.astype(np.uint8)
    ring = (cv2.dilate(m, np.ones((41, 41), np.uint8)) > 0) & ~(cv2.dilate(m, np.ones((9, 9), np.uint8)) > 0)
    wall = _colour_bins(rgb[ring])
    suit = _colour_bins(rgb[mask])
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ring_edges = np.mean(np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))[ring] > 60)
    seen = 0
    for f, (frame, xy) in enumerate(zip(frames, poses, strict=True)):
        shown = mesh.subject_alpha(xy)
        uncovered = cv2.erode((mask & (mesh.coverage(xy) == 0)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        if uncovered.sum() < 300:
            continue
        seen += 1
        ground = uncovered & (shown == 0)  # the wall she uncovers
        body = uncovered & (shown > 0)  # her suit under where the arm lay
        if ground.sum() > 300:
            looks = _near_colour(frame[ground], wall).mean()
            assert looks > 0.95, f"frame {f}: {1 - looks:.0%} of the uncovered wall has colours the wall has not"
            g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float32)
            edges = np.mean(np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))[ground] > 60)
            assert edges < 2 * ring_edges + 0.01, f"frame {f}: hard edges in the fill ({edges:.1%})"
        if body.sum() > 300:
            looks = _near_colour(frame[body], suit).mean()
            assert looks > 0.95, f"frame {f}: {1 - looks:.0%} of what the arm uncovers on her is not her colours"
    assert seen >= 10  # the arm leaves its place for most of the wave


def test_her_arm_swung_out_in_the_walk_uncovers_her_suit_not_the_wall():
    """The fit lays her right arm (the picture's left) against her side, where the silhouette makes it as thick as
    her chest, so no plate of her chest lay under it: the Walk swinging it out uncovered a grey-blue wedge of the
    wall's fill between it and her chest. What it uncovers there is her suit's orange now."""
    scene = astronaut_preset("walk", 24)
    rig, rest = scene.rig, scene.rest_xy
    mesh = PuppetMesh.build(
        scene.rgba, scene.mask, rig, rest, creases=opening_creases(rig, rest, np.array(scene.poses))
    )
    lab = cv2.cvtColor(scene.rgba[..., :3], cv2.COLOR_RGB2LAB).astype(np.float32)
    suit = np.median(lab[scene.mask][:, 1:], axis=0)  # her suit's hue and saturation (a*, b*)
    ys, xs = np.mgrid[: scene.mask.shape[0], : scene.mask.shape[1]]
    shoulder, elbow, chest = (rest[rig.joint_index(j)] for j in ("shoulder_l", "elbow_l", "chest"))
    x_of_arm = shoulder[0] + (ys - shoulder[1]) * (elbow[0] - shoulder[0]) / (elbow[1] - shoulder[1])
    between = (xs > x_of_arm) & (xs < chest[0]) & (ys > shoulder[1]) & (ys < elbow[1])
    seen = 0
    for f, xy in enumerate(scene.poses):
        uncovered = cv2.erode((scene.mask & (mesh.coverage(xy) == 0)).astype(np.uint8), np.ones((5, 5), np.uint8))
        uncovered = (uncovered > 0) & between
        if uncovered.sum() < 1000:
            continue
        seen += 1
        shown = cv2.cvtColor(mesh.render(xy), cv2.COLOR_RGB2LAB).astype(np.float32)[uncovered][:, 1:]
        orange = np.mean(np.linalg.norm(shown - suit, axis=1) < 25)
        assert orange > 0.6, f"frame {f}: {orange:.0%} of what her arm uncovers by her chest is her suit's colour"
    assert seen >= 3  # the walk swings it out for a good part of its cycle


def _drawn_animal() -> tuple[np.ndarray, np.ndarray, Rig, np.ndarray]:
    """A drawn body (an ellipse with a black outline) and a front leg drawn over its belly's outline."""
    paper = np.full((320, 480, 3), (246, 243, 235), np.uint8)
    mask = np.zeros(paper.shape[:2], np.uint8)
    body = np.zeros_like(mask)
    cv2.ellipse(body, (240, 130), (150, 60), 0, 0, 360, 1, -1)
    paper[body > 0] = (200, 140, 70)
    cv2.ellipse(paper, (240, 130), (150, 60), 0, 0, 360, (20, 20, 20), 3)
    cv2.ellipse(mask, (240, 130), (152, 62), 0, 0, 360, 1, -1)
    leg = np.zeros_like(mask)
    cv2.line(leg, (330, 150), (334, 280), 1, 26)
    cv2.circle(leg, (334, 280), 13, 1, -1)
    paper[leg > 0] = (200, 140, 70)
    contours, _ = cv2.findContours(leg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(paper, contours, -1, (20, 20, 20), 3)  # the leg in front, over the belly's outline
    mask |= leg
    cv2.drawContours(mask, contours, -1, 1, 3)
    rig = Rig(
        (Joint("tail", (110, 130)), Joint("mid", (240, 125)), Joint("chest", (330, 130)),
         Joint("knee", (332, 215)), Joint("foot", (334, 282))),
        (Bone("back", "tail", "mid"), Bone("front", "mid", "chest"), Bone("thigh", "chest", "knee"),
         Bone("shin", "knee", "foot")),
    )  # fmt: skip
    rest = rig.rest_xy()
    poses = [rest] + [_swung(rest, slice(3, None), 2, degrees) for degrees in (20, 40, 60, 40, 20)]
    return np.dstack([paper, np.full(mask.shape, 255, np.uint8)]), mask > 0, rig, np.array(poses)


def test_a_drawn_belly_keeps_its_outline_and_colour_where_a_leg_lifts_off_it():
    rgba, mask, rig, poses = _drawn_animal()
    mesh = PuppetMesh.build(rgba, mask, rig, rig.rest_xy())
    # The belly's outline under the leg: the ellipse's lower arc, where the leg was drawn over it.
    angles = np.radians(np.arange(20, 90, 2.0))
    arc = np.stack([240 + 150 * np.cos(angles), 130 + 60 * np.sin(angles)], 1)
    inner = np.zeros(mask.shape, np.uint8)
    cv2.ellipse(inner, (240, 130), (138, 50), 0, 0, 360, 1, -1)
    for f, xy in enumerate(poses[1:], 1):
        frame = mesh.render(xy)
        leg = _part_pixels(mesh, xy, np.array([False, False, True, True]))
        leg = cv2.dilate(leg.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        points = np.round(arc).astype(int)
        free = ~leg[points[:, 1], points[:, 0]]
        assert free.sum() >= 10, f"frame {f}: the leg still covers the belly"
        # darkest pixel within 2 px of each outline point: the outline runs on, unbroken
        dark = np.array([gray[y - 2 : y + 3, x - 2 : x + 3].min() for x, y in points[free]])
        # With the leg along the belly (60 degrees) the puppet without body plates broke 21% of it, now 7%.
        assert (dark < 90).mean() > 0.9, f"frame {f}: the belly's outline is broken ({(dark >= 90).mean():.0%})"
        fur = (inner > 0) & ~leg
        off = np.abs(frame[fur].astype(int) - (200, 140, 70)).max(-1)
        # the leg's own drawn top, where the part map leaves it on the body (0.6%; 1.6% before the drawing's shapes
        # kept to their parts), and no paper
        assert np.mean(off > 40) < 0.03, f"frame {f}: {np.mean(off > 40):.1%} of the body is not its fur"
        assert np.mean(np.abs(frame[fur].astype(int) - (246, 243, 235)).max(-1) < 20) < 0.002, f"frame {f}: paper"


def _collar_and_arm(raise_degrees: float) -> tuple[Rig, np.ndarray, np.ndarray]:
    """A neck with a head, a chest and a collar bone out to a shoulder, an arm hanging from it, and poses raising
    the arm about the shoulder by up to `raise_degrees`."""
    rig = Rig(
        (Joint("head", (100, 20)), Joint("neck", (100, 60)), Joint("chest", (100, 160)),
         Joint("shoulder", (150, 70)), Joint("elbow", (160, 150))),
        (Bone("head", "neck", "head"), Bone("spine", "neck", "chest"), Bone("collar", "neck", "shoulder"),
         Bone("arm", "shoulder", "elbow")),
    )  # fmt: skip
    rest = rig.rest_xy()  # the arm swings out and up, away from her side: turned the other way round
    return rig, rest, np.array([_swung(rest, slice(4, 5), 3, -d) for d in np.linspace(0, raise_degrees, 5)])


def _swung(rest: np.ndarray, moving: slice, pivot: int, degrees: float) -> np.ndarray:
    """`rest` (J, 2) with the joints `moving` turned `degrees` about joint `pivot`."""
    t = np.radians(degrees)
    turn = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    xy = rest.copy()
    xy[moving] = (rest[moving] - rest[pivot]) @ turn.T + rest[pivot]
    return xy


@pytest.mark.parametrize(("raised", "cut"), [(120, True), (50, False), (-60, False)])
def test_only_a_crease_the_motion_opens_wide_is_cut_open(raised, cut):
    """An arm hanging against the body, raised over the head, is cut open at the armpit; swung out a little, or
    in across the body, its armpit stays skin."""
    rig, rest, poses = _collar_and_arm(raised)
    creases = opening_creases(rig, rest, poses)
    collar, arm = rig.bone_ids.index("collar"), rig.bone_ids.index("arm")
    assert creases == ({(collar, arm)} if cut else set())
