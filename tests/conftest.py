"""Shared fixtures: offscreen Qt, example projects copied to a temporary folder, tiny hand-made projects."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import write_arm_project

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "resources" / "examples"


@pytest.fixture
def examples_dir(tmp_path: Path) -> Path:
    """A copy of resources/examples, so tests may write beside the projects."""
    target = tmp_path / "examples"
    shutil.copytree(EXAMPLES, target)
    return target


@pytest.fixture
def arm_project(tmp_path: Path) -> Path:
    return write_arm_project(tmp_path)
