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
    return Rig((Joint("chest", (0.0, -60.0)), Joint("hip", (0.0, 0.0)), Joint("knee", (20.0, 50.0)),
                Joint("paw", (0.0, 100.0))),
               (Bone("spine", "chest", "hip"), Bone("thigh", "hip", "knee"), Bone("shin", "knee", "paw")))


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
    square = Rig((Joint("a", (0.0, 0.0)), Joint("b", (50.0, 0.0)), Joint("c", (50.0, 50.0)), Joint("d", (0.0, 50.0))),
                 (Bone("ab", "a", "b"), Bone("bc", "b", "c"), Bone("cd", "c", "d"), Bone("da", "d", "a")))
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
    square = Rig((Joint("a", (0.0, 0.0)), Joint("b", (50.0, 0.0)), Joint("c", (50.0, 50.0)), Joint("d", (0.0, 50.0)),
                  Joint("e", (0.0, 100.0))),
                 (Bone("ab", "a", "b"), Bone("bc", "b", "c"), Bone("cd", "c", "d"), Bone("da", "d", "a"),
                  Bone("de", "d", "e")))
    h, rest = kin.hierarchy(square, ["a"]), square.rest_xy()
    out = kin.pose_drag(h, rest, rest, h.index("b"), (45.0, -20.0), "rotate")
    assert np.allclose(lengths(h, out), lengths(h, rest), rtol=0.01)
    assert not np.allclose(out[h.index("b")], rest[h.index("b")])
