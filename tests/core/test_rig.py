"""Rigs of any graph are accepted; broken ones are refused with the key named."""

import pytest

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.rig import Bone, Joint, Rig


def _rig(joints, bones):
    return Rig(tuple(Joint(j, (float(i), 0.0)) for i, j in enumerate(joints)), tuple(Bone(*b) for b in bones))


@pytest.mark.parametrize(
    ("joints", "bones", "components"),
    [
        (["a", "b"], [("ab", "a", "b")], 1),  # a single bone
        (["a", "b", "c", "d"], [("1", "a", "b"), ("2", "b", "c"), ("3", "c", "d")], 1),  # chain
        (["c", "n", "s", "e", "w"], [("1", "c", "n"), ("2", "c", "s"), ("3", "c", "e"), ("4", "c", "w")], 1),  # star
        (["a", "b", "c"], [("1", "a", "b"), ("2", "b", "c"), ("3", "c", "a")], 1),  # cycle
        (["a", "b", "x", "y"], [("1", "a", "b"), ("2", "x", "y")], 2),  # two separate subjects
        (["lonely"], [], 1),  # a joint alone
    ],
)
def test_any_graph_is_a_rig(joints, bones, components):
    rig = _rig(joints, bones)
    assert len(rig.components()) == components
    assert rig.bone_joint_indices().shape == (len(bones), 2)


@pytest.mark.parametrize(
    ("joints", "bones", "key", "words"),
    [
        (["a", "a"], [], "rig.joints[1].id", "duplicate joint id"),
        (["a", "b"], [("x", "a", "b"), ("x", "b", "a")], "rig.bones[1].id", "duplicate bone id"),
        (["a"], [("x", "a", "ghost")], "rig.bones[0].b", "unknown joint 'ghost'"),
        (["a"], [("x", "a", "a")], "rig.bones[0]", "to itself"),
        (["has space"], [], "rig.joints[0].id", "without spaces"),
    ],
)
def test_broken_rigs_name_the_key(joints, bones, key, words):
    with pytest.raises(ProjectError) as err:
        _rig(joints, bones)
    assert err.value.key == key
    assert words in str(err.value)


def test_edits_return_new_rigs_and_keep_the_old():
    rig = _rig(["a", "b"], [("ab", "a", "b")])
    grown = rig.with_joint("c", (5, 5)).with_bone("bc", "b", "c")
    assert rig.joint_ids == ("a", "b") and grown.joint_ids == ("a", "b", "c")
    assert grown.without(joint_ids=["b"]).bones == ()  # bones touching a removed joint go too
    renamed = grown.renamed_joint("b", "knee")
    assert [(b.a, b.b) for b in renamed.bones] == [("a", "knee"), ("knee", "c")]
    assert grown.free_joint_id("joint") == "joint1"


def test_whole_number_coordinates_are_fine():
    rig = Rig((Joint("a", (1, 2)), Joint("b", [3, 4])), (Bone("ab", "a", "b"),))
    assert rig.rest_xy().tolist() == [[1.0, 2.0], [3.0, 4.0]]
