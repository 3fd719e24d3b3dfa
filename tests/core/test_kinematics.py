"""Hierarchy, forward and inverse kinematics over rigs of any shape: bones keep their lengths."""

from __future__ import annotations

import numpy as np
import pytest

from poseanything_studio.core import kinematics as kin
from poseanything_studio.core.rig import Bone, Joint, Rig


def chain_rig(points, name="c") -> Rig:
    joints = tuple(Joint(f"{name}{i}", tuple(map(float, p))) for i, p in enumerate(points))
    bones = tuple(Bone(f"{name}b{i}", f"{name}{i}", f"{name}{i + 1}") for i in range(len(points) - 1))
    return Rig(joints, bones)


def lengths(h, pose):
    return np.array(list(kin.bone_lengths(h, pose).values()))


def leg_rig() -> Rig:
    """A hip with a bent leg (knee forward, +x) and a spine: hip is the centre."""
    return Rig(
        (
            Joint("chest", (0.0, -60.0)),
            Joint("hip", (0.0, 0.0)),
            Joint("knee", (20.0, 50.0)),
            Joint("paw", (0.0, 100.0)),
        ),
        (Bone("spine", "chest", "hip"), Bone("thigh", "hip", "knee"), Bone("shin", "knee", "paw")),
    )


def test_root_is_the_graph_centre_and_a_chosen_root_wins():
    rig = chain_rig([(0, 0), (10, 0), (20, 0), (30, 0), (40, 0)])
    h = kin.hierarchy(rig)
    assert h.joint_ids[h.roots[0]] == "c2"
    assert h.parent[h.index("c0")] == h.index("c1") and h.parent[h.index("c4")] == h.index("c3")
    h2 = kin.hierarchy(rig, ["c0"])
    assert h2.roots == (h2.index("c0"),)
    assert h2.parent[h2.index("c4")] == h2.index("c3") and h2.parent[h2.index("c1")] == h2.index("c0")
    assert kin.hierarchy(rig, ["nobody"]).roots == h.roots  # an unknown root is ignored


def test_ties_go_to_the_joint_nearest_the_centroid():
    # a chain of four: c1 and c2 both have eccentricity 2; c2 sits nearer the centroid (the far end is long)
    rig = chain_rig([(0, 0), (10, 0), (20, 0), (200, 0)])
    h = kin.hierarchy(rig)
    assert h.joint_ids[h.roots[0]] == "c2"


def test_cycle_keeps_its_extra_bone_as_a_constraint_and_several_subjects_get_roots():
    square = Rig(
        (Joint("a", (0.0, 0.0)), Joint("b", (50.0, 0.0)), Joint("c", (50.0, 50.0)), Joint("d", (0.0, 50.0))),
        (Bone("ab", "a", "b"), Bone("bc", "b", "c"), Bone("cd", "c", "d"), Bone("da", "d", "a")),
    )
    other = chain_rig([(200, 0), (260, 0), (320, 0)], "o")
    rig = Rig(square.joints + other.joints, square.bones + other.bones)
    h = kin.hierarchy(rig)
    assert len(h.roots) == 2
    assert len(h.constraints) == 1
    assert sum(p >= 0 for p in h.parent) == len(rig.joints) - 2


def test_rotating_a_joint_carries_its_subtree_with_lengths_and_angles_kept():
    rig = leg_rig()
    h, rest = kin.hierarchy(rig, ["hip"]), rig.rest_xy()
    knee, paw, chest = h.index("knee"), h.index("paw"), h.index("chest")
    out = kin.pose_drag(h, rest, rest, knee, (60.0, 20.0), "rotate")
    assert np.allclose(lengths(h, out), lengths(h, rest))
    assert not np.allclose(out[paw], rest[paw])  # the paw came along
    assert np.allclose(out[chest], rest[chest])  # the rest of the body stayed
    before = kin.to_local(h, rest)[0][paw]
    assert np.isclose(kin.to_local(h, out)[0][paw], before)  # the knee angle is unchanged


def test_dragging_the_root_translates_its_subject():
    rig = leg_rig()
    h, rest = kin.hierarchy(rig, ["hip"]), rig.rest_xy()
    out = kin.pose_drag(h, rest, rest, h.index("hip"), (30.0, 10.0))
    assert np.allclose(out - rest, (30.0, 10.0))


@pytest.mark.parametrize("target", [(30.0, 80.0), (-20.0, 70.0), (60.0, 60.0), (300.0, 0.0)])
def test_two_bone_ik_reaches_keeps_lengths_and_never_flips_the_knee(target):
    rig = leg_rig()
    h, rest = kin.hierarchy(rig, ["hip"]), rig.rest_xy()
    hip, knee, paw = h.index("hip"), h.index("knee"), h.index("paw")
    out = kin.pose_drag(h, rest, rest, paw, target)
    assert np.allclose(lengths(h, out), lengths(h, rest))
    reach = np.hypot(*(np.asarray(target) - rest[hip]))
    if reach < 100:
        assert np.allclose(out[paw], target, atol=0.01)
    assert np.allclose(out[hip], rest[hip])
    side = kin.cross2(out[paw] - out[hip], out[knee] - out[hip])
    assert np.sign(side) == np.sign(kin.cross2(rest[paw] - rest[hip], rest[knee] - rest[hip]))


def test_long_chain_ik_by_fabrik_keeps_lengths_up_to_the_pinned_joint():
    rig = chain_rig([(i * 20.0, 0.0) for i in range(8)])
    h, rest = kin.hierarchy(rig, ["c0"]), rig.rest_xy()
    tip, pin = h.index("c7"), h.index("c2")
    out = kin.pose_drag(h, rest, rest, tip, (90.0, 60.0), pinned={pin}, bones=0)
    assert np.allclose(lengths(h, out), lengths(h, rest), rtol=1e-6)
    assert np.allclose(out[tip], (90.0, 60.0), atol=0.05)
    assert np.allclose(out[:3], rest[:3])  # at and above the pin nothing moved


def test_ik_chain_length_is_the_users_setting():
    rig = chain_rig([(i * 20.0, 0.0) for i in range(8)])
    h = kin.hierarchy(rig, ["c0"])
    assert len(kin.ik_chain(h, h.index("c7"), bones=3)) == 4
    assert len(kin.ik_chain(h, h.index("c7"), bones=0)) == 8


def test_pinned_foot_stays_planted_while_the_hips_move():
    rig = leg_rig()
    h, rest = kin.hierarchy(rig, ["hip"]), rig.rest_xy()
    paw = h.index("paw")
    out = kin.pose_drag(h, rest, rest, h.index("hip"), (10.0, 15.0), pinned={paw})
    assert np.allclose(out[paw], rest[paw], atol=0.01)
    assert np.allclose(lengths(h, out), lengths(h, rest))
    assert np.allclose(out[h.index("hip")], (10.0, 15.0))


def test_a_cycle_keeps_its_bone_lengths_when_a_corner_turns():
    square = Rig(
        (
            Joint("a", (0.0, 0.0)),
            Joint("b", (50.0, 0.0)),
            Joint("c", (50.0, 50.0)),
            Joint("d", (0.0, 50.0)),
            Joint("e", (0.0, 100.0)),
        ),
        (Bone("ab", "a", "b"), Bone("bc", "b", "c"), Bone("cd", "c", "d"), Bone("da", "d", "a"), Bone("de", "d", "e")),
    )
    h, rest = kin.hierarchy(square, ["a"]), square.rest_xy()
    out = kin.pose_drag(h, rest, rest, h.index("b"), (45.0, -20.0), "rotate")
    assert np.allclose(lengths(h, out), lengths(h, rest), rtol=0.01)
    assert not np.allclose(out[h.index("b")], rest[h.index("b")])


# -- interpolation that turns limbs ------------------------------------------------------------------
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

from poseanything_studio.core.errors import ProjectError  # noqa: E402
from poseanything_studio.core.project import Project, load_project, project_to_dict, save_project  # noqa: E402
from poseanything_studio.core.tracks import Key, Track  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def length_ratios(project: Project) -> np.ndarray:
    """Each bone's length at every frame over its rest length, (F, B)."""
    pos, rest, pairs = project.joint_positions(), project.rig.rest_xy(), project.rig.bone_joint_indices()
    rest_len = np.hypot(*(rest[pairs[:, 1]] - rest[pairs[:, 0]]).T)
    d = pos[:, pairs[:, 1]] - pos[:, pairs[:, 0]]
    return np.hypot(d[..., 0], d[..., 1]) / rest_len


def turned(xy, centre, degrees):
    a = np.radians(degrees)
    d = np.asarray(xy, float) - centre
    return tuple(centre + [d[0] * np.cos(a) - d[1] * np.sin(a), d[0] * np.sin(a) + d[1] * np.cos(a)])


def swing_project(degrees=120.0, interp="smooth") -> Project:
    """An arm: shoulder (never keyed), elbow and hand keyed at 0 and 48, the arm turned `degrees` about the shoulder."""
    rig = chain_rig([(100, 100), (150, 100), (200, 100)])
    centre = np.array([100.0, 100.0])
    tracks = {
        j: Track((Key(0, xy, interp), Key(48, turned(xy, centre, degrees), interp)))
        for j, xy in (("c1", (150.0, 100.0)), ("c2", (200.0, 100.0)))
    }
    return Project(image="x.png", rig=rig, tracks=tracks)


@pytest.mark.parametrize("interp", ["smooth", "linear", "step"])
def test_a_120_degree_swing_keeps_every_bone_its_length_at_every_frame(interp):
    project = swing_project(120.0, interp)
    ratios = length_ratios(project)
    assert np.abs(ratios - 1).max() < 0.01
    pos = project.joint_positions()
    assert np.allclose(pos[48, 2], turned((200, 100), np.array([100.0, 100.0]), 120), atol=1e-6)
    if interp != "step":  # the hand went round the shoulder, not along the chord
        mid = pos[24, 2] - (100, 100)
        assert np.isclose(np.hypot(*mid), 100, rtol=0.01)
    if interp != "step":
        chord = length_ratios(replace(project, interpolation="position"))
        assert chord.min() < 0.6  # plain position interpolation is what shrank it (cos 60 degrees)


def test_the_turn_is_the_shortest_way_round():
    project = swing_project(-170.0)
    # keyed from 0 to -170 degrees: the hand passes above (y < 100), never the 190-degree way below
    assert (project.joint_positions()[1:48, 2, 1] < 100 + 1e-6).all()


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.pasproj")), ids=lambda p: p.stem)
def test_every_shipped_example_keeps_its_bones_within_one_percent(path):
    project = load_project(path)
    assert np.abs(length_ratios(project) - 1).max() < 0.01


def test_a_joint_keyed_where_its_parent_is_not_keeps_its_bone_length():
    rig = chain_rig([(100, 100), (150, 100), (200, 100)])
    c = np.array([100.0, 100.0])
    elbow = Track((Key(0, (150.0, 100.0)), Key(40, turned((150, 100), c, 90))))
    # the hand is keyed at 20 too, at the pose the old chord interpolation showed there
    hand = Track((Key(0, (200.0, 100.0)), Key(20, (185.0, 160.0)), Key(40, turned((200, 100), c, 90))))
    project = Project(image="x.png", rig=rig, tracks={"c1": elbow, "c2": hand}, frames=41)
    assert np.abs(length_ratios(project) - 1).max() < 0.01


def test_joints_without_a_track_stay_at_rest():
    project = swing_project()
    assert np.allclose(project.joint_positions()[:, 0], (100, 100))


def test_a_loop_repeats_the_keys_and_has_no_seam():
    project = replace(swing_project(90.0), loop=(0, 48), frames=97)
    pos = project.joint_positions()
    assert np.allclose(pos[48], pos[0])  # frame `end` is frame `start` again: a looping video shows it once
    assert np.allclose(pos[60], pos[12])
    assert np.abs(length_ratios(project) - 1).max() < 0.01


def test_posing_keys_round_trip_and_older_files_are_written_as_before(tmp_path):
    project = replace(swing_project(), roots=("c0",), pins=("c2",), interpolation="position", loop=(0, 40))
    saved = save_project(project, tmp_path / "p.pasproj")
    data = project_to_dict(saved)
    assert data["rig"]["roots"] == ["c0"] and data["rig"]["pins"] == ["c2"]
    assert data["interpolation"] == "position" and data["loop"] == {"start": 0, "end": 40}
    again = load_project(tmp_path / "p.pasproj")
    assert (again.roots, again.pins, again.interpolation, again.loop) == (("c0",), ("c2",), "position", (0, 40))
    plain = project_to_dict(swing_project())
    assert not {"interpolation", "loop"} & set(plain) and not {"roots", "pins"} & set(plain["rig"])


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d.update(interpolation="spline"), "interpolation"),
        (lambda d: d.update(loop={"start": 10, "end": 5}), "loop.end"),
        (lambda d: d.update(loop=[0, 4]), "loop"),
        (lambda d: d["rig"].update(roots=["nobody"]), "rig.roots[0]"),
        (lambda d: d["rig"].update(pins="c1"), "rig.pins"),
    ],
)
def test_a_bad_posing_key_is_one_line_naming_it(tmp_path, change, key):
    data = project_to_dict(swing_project())
    change(data)
    path = tmp_path / "bad.pasproj"
    import json

    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ProjectError) as err:
        load_project(path)
    assert err.value.key == key and "\n" not in str(err.value)


def _all_rigs():
    from poseanything_studio.core.templates import load_templates, placed

    out = [(p.stem, load_project(p)) for p in sorted(EXAMPLES.glob("*.pasproj"))]
    for t in load_templates():
        out.append((f"template-{t.key}", Project(image="t.png", rig=placed(t, (100, 100, 400, 300)), frames=49)))
    return out


@pytest.mark.parametrize(("name", "project"), _all_rigs(), ids=[n for n, _ in _all_rigs()])
def test_every_example_and_template_posed_by_fk_and_ik_keeps_its_bones_within_one_percent(name, project):
    from poseanything_studio.core.poses import key_pose

    rng = np.random.default_rng(0)
    h, rest = project.hierarchy(), project.rig.rest_xy()
    for frame in (0, 16, 40):
        pose = project.positions_at([frame])[0]
        new = pose
        for _ in range(4):  # a few drags at this frame: each joint FK, leaves IK, roots moved
            j = int(rng.integers(len(rest)))
            target = new[j] + rng.normal(0, 25, 2)
            new = kin.pose_drag(h, new, rest, j, target, "auto", bones=int(rng.integers(0, 4)))
        project = key_pose(project, frame, pose, new)
    ratios = length_ratios(project)
    assert np.abs(ratios - 1).max() < 0.01, name


def test_looping_the_whole_animation_renders_one_cycle_without_the_seam_twice():
    project = replace(swing_project(90.0), loop=(0, 49), frames=49)
    pos = project.positions_at(np.arange(50))
    assert np.allclose(pos[49], pos[0])  # the frame after the last rendered one is the first again
    assert not np.allclose(pos[48], pos[0])  # so the last rendered frame is not a copy of the first
