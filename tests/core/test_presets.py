"""The preset shelf: each preset offered for a template moves it by turning bones, so every bone keeps its
length on every frame of any rig's proportions; speed and amplitude do what they say."""

from __future__ import annotations

import numpy as np
import pytest

from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.presets import PRESETS, apply_preset, presets_for
from poseanything_studio.core.project import Project
from poseanything_studio.core.templates import load_templates, placed

OFFERED = {
    "human": {"walk", "run", "wave", "nod", "idle", "swim"},
    "quadruped": {"walk4", "trot", "gallop"},
    "bird": {"fly", "nod"},
    "fish": {"swim"},
    "snake": {"swim"},
    "robot_arm": {"swim", "idle"},
}


def _project(key: str, box=(100, 60, 300, 300), frames: int = 49) -> Project:
    template = next(t for t in load_templates() if t.key == key)
    return Project(image="x.png", rig=placed(template, box), frames=frames, fps=24)


def _lengths(project: Project) -> np.ndarray:
    xy = project.joint_positions()
    idx = project.rig.bone_joint_indices()
    return np.linalg.norm(xy[:, idx[:, 0]] - xy[:, idx[:, 1]], axis=-1)


@pytest.mark.parametrize("template", sorted(OFFERED))
def test_the_shelf_offers_what_fits_each_template(template):
    offered = {p.key for p in presets_for(_project(template).rig)}
    assert OFFERED[template] <= offered
    if template != "human":
        assert "wave" not in offered and "walk" not in offered


@pytest.mark.parametrize(("template", "preset"), [(t, p) for t, ps in sorted(OFFERED.items()) for p in sorted(ps)])
def test_every_preset_moves_the_rig_and_keeps_every_bone_within_one_percent(template, preset):
    start = _project(template)
    project = apply_preset(start, preset)
    assert project.tracks, "the preset keyed nothing"
    moved = np.abs(project.joint_positions() - start.joint_positions()).max()
    assert moved > 2.0
    lengths = _lengths(project)
    assert np.all(np.abs(lengths / lengths[0] - 1) < 0.01), np.abs(lengths / lengths[0] - 1).max()


def test_a_stretched_rig_walks_with_its_own_lengths():
    tall = _project("human", box=(100, 0, 120, 470))
    project = apply_preset(tall, "walk")
    lengths = _lengths(project)
    assert np.all(np.abs(lengths / lengths[0] - 1) < 0.01)


def test_speed_changes_the_tempo_and_amplitude_the_size():
    start = _project("fish", frames=97)
    slow = apply_preset(start, "swim").joint_positions()
    fast = apply_preset(start, "swim", speed=2.0).joint_positions()
    tail = start.rig.joint_index("tail_top")
    assert np.allclose(fast[:48, tail], slow[:96:2, tail], atol=1.0)  # twice as fast: every other frame of slow
    small = apply_preset(start, "swim", amplitude=0.5).joint_positions()
    rest = start.joint_positions()
    assert np.abs(small - rest).max() < 0.7 * np.abs(slow - rest).max()
    assert not apply_preset(start, "swim", amplitude=0.0).tracks


def test_a_preset_the_rig_cannot_do_is_one_line():
    with pytest.raises(ProjectError, match="Wave does not fit this rig: the rig lacks shoulder_r"):
        apply_preset(_project("fish"), "wave")
    with pytest.raises(ProjectError, match="unknown preset 'moonwalk'"):
        apply_preset(_project("human"), "moonwalk")


def test_keys_before_the_start_stay():
    start = _project("human")
    keyed = apply_preset(start, "nod", start=24)
    assert all(k.frame >= 24 for t in keyed.tracks.values() for k in t.keys)
    assert len(PRESETS) >= 9
