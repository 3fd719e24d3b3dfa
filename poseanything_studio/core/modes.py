"""The string modes of the project file, the commands and the window, one StrEnum each.

A member is its string ("puppet" == Renderer.PUPPET), so project files, command-line flags and the window's
settings read and write the same words as before; argparse choices and combo boxes are built from these.
"""

from __future__ import annotations

from enum import StrEnum


class Renderer(StrEnum):
    """Which renderer draws the frames (`render.renderer`, --renderer)."""

    PUPPET = "puppet"
    POSEANYTHING = "poseanything"


class Init(StrEnum):
    """What the neural render starts from (`render.init`, --init): auto is puppet without a checkpoint."""

    AUTO = "auto"
    NOISE = "noise"
    PUPPET = "puppet"


class PreviewKind(StrEnum):
    """What --preview writes instead of the render."""

    POSE = "pose"
    PARTS = "parts"
    CAMERA = "camera"


class Offload(StrEnum):
    """How the neural pipeline uses GPU memory (model/pipeline.py PoseAnythingPipeline.place)."""

    AUTO = "auto"
    NONE = "none"
    MODEL = "model"
    GROUP = "group"


class Matching(StrEnum):
    """How PTCM matches parts across frames: the rig's own bones, or by attention (imported rigs)."""

    IDENTITY = "identity"
    ATTENTION = "attention"


def values(mode: type[StrEnum]) -> tuple[str, ...]:
    """A mode's plain strings, in order: argparse choices (its messages show them as 'puppet', not the member)."""
    return tuple(member.value for member in mode)
