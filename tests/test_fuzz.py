"""Fuzzing the project format: seeded mutations of the example projects, each rendered tiny.

Every case must end as a user can act on: exit 0 with the output written, or exit 2 with one line
naming the file; never a traceback (exit 1), never a hang (each render has a time limit), and never
anything left behind (no temporaries, no partial output, the inputs unchanged).
"""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import signal
from pathlib import Path

import pytest

from poseanything_studio.commands import main

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals, FIFOs and mounts of POSIX systems")
EXAMPLES = Path(__file__).resolve().parents[1] / "resources" / "examples"
PROJECTS = ("cat", "fish", "robot_arm")
CASES = 400
SECONDS_PER_CASE = 10
LOG = os.environ.get("FUZZ_LOG")  # a file to list every case and its message in, to read them

ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1,
    3,
    5,
    7,
    2**31,
    -(2**63),
    10**30,
    1e308,
    -1e308,
    0.5,
    float("nan"),
    float("inf"),
    "",
    "x",
    "smooth",
    "step",
    "a" * 300,
    "a\u0000b",
    "../../etc/passwd",
    "/dev/zero",
    "cat.png",
    "fish.png",
    "\u00e9\u00e8\U0001f600",
    [],
    [0],
    [1, 2],
    [1, 2, 3],
    [10**30, 0],
    [32, 32],
    [4096, 4096],
    [832, 480],
    {},
    {"id": "x"},
    {"frame": 0, "xy": [0, 0]},
]


def _paths(node, prefix=()):
    """Every (path, value) in a JSON tree."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


def _set(root, path, value):
    node = root
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def _delete(root, path):
    node = root
    for step in path[:-1]:
        node = node[step]
    del node[path[-1]]


def mutate(data: dict, rng: random.Random) -> tuple[str, str]:
    """A mutated copy of `data` as text, and what was done (for the failure message)."""
    data = copy.deepcopy(data)
    done = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        paths = [p for p, _ in _paths(data) if p]
        shallow = [p for p in paths if len(p) <= 2]  # half the time the top keys, rig and render, not just tracks
        path = rng.choice(shallow if rng.random() < 0.5 else paths)
        kind = rng.random()
        if kind < 0.45:
            value = rng.choice(ODD_VALUES)
            _set(data, path, value)
            done.append(f"{'.'.join(map(str, path))} = {str(value)[:40]!r}")
        elif kind < 0.6:
            _delete(data, path)
            done.append(f"del {'.'.join(map(str, path))}")
        elif kind < 0.8:
            node = data
            for step in path[:-1]:
                node = node[step]
            value = node[path[-1]]
            if isinstance(value, int | float) and not isinstance(value, bool):
                new = rng.choice((value * 1000, -value, value + 0.5, value * 1e-9, int(value) + 1))
            elif isinstance(value, list) and value:
                new = value + [copy.deepcopy(rng.choice(value))] if rng.random() < 0.5 else value[: len(value) // 2]
            elif isinstance(value, str):
                new = rng.choice((value + "_", value.upper(), "", value * 50))
            else:
                new = rng.choice(ODD_VALUES)
            _set(data, path, new)
            done.append(f"{'.'.join(map(str, path))} ~ {str(new)[:40]!r}")
        else:
            other = rng.choice(paths)
            _set(data, path, copy.deepcopy(_get(data, other)) if _contains(data, other) else None)
            done.append(f"{'.'.join(map(str, path))} = copy of {'.'.join(map(str, other))}")
    text = json.dumps(data)
    if rng.random() < 0.1:  # damage the text itself: cut it short or flip a byte
        cut = rng.randrange(len(text))
        text = text[:cut] if rng.random() < 0.5 else text[:cut] + chr(rng.randrange(32, 0x2FF)) + text[cut + 1 :]
        done.append(f"text damaged at {cut}")
    return text, "; ".join(done)


def _get(root, path):
    for step in path:
        root = root[step]
    return root


def _contains(root, path) -> bool:
    try:
        _get(root, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


class _TooSlow(Exception):
    pass


def _alarm(_signum, _frame):
    raise _TooSlow


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    for item in EXAMPLES.iterdir():
        if item.suffix in (".pasproj", ".png"):
            shutil.copy(item, folder)
    return folder


def test_mutated_projects_render_or_fail_in_one_line(workspace, capsys):
    rng = random.Random(20261126)
    originals = {name: json.loads((workspace / f"{name}.pasproj").read_text()) for name in PROJECTS}
    inputs = _listing(workspace)
    out_dir = workspace / "out"
    out_dir.mkdir()
    previous = signal.signal(signal.SIGALRM, _alarm)
    outcomes = {0: 0, 2: 0}
    try:
        for case in range(CASES):
            name = rng.choice(PROJECTS)
            text, what = mutate(originals[name], rng)
            project = workspace / "mutant.pasproj"
            project.write_text(text, encoding="utf-8")
            out = out_dir / (f"case{case}.mp4" if case % 10 == 0 else f"case{case}")  # every 10th an MP4
            signal.alarm(SECONDS_PER_CASE)
            try:
                code = main(["render", str(project), "-o", str(out), "--frames", "5", "--size", "64x64"])
            except _TooSlow:
                pytest.fail(f"case {case} ({name}: {what}) took over {SECONDS_PER_CASE} s")
            finally:
                signal.alarm(0)
            err = capsys.readouterr().err
            if LOG:
                with open(LOG, "a") as log:
                    log.write(f"{code} {what[:70]} | {err.strip()[:170]}\n")
            context = f"case {case} ({name}: {what}): exit {code}, stderr {err[-400:]!r}"
            assert code in (0, 2), context
            if code == 2:
                assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, context
                assert not out.exists(), context
            else:
                assert out.exists(), context
            leftovers = [p.name for p in out_dir.iterdir() if p.name.startswith(".")]
            assert leftovers == [], context
            outcomes[code] += 1
            if out.is_dir():
                shutil.rmtree(out)
            elif out.exists():
                out.unlink()
    finally:
        signal.signal(signal.SIGALRM, previous)
    (workspace / "mutant.pasproj").unlink()
    assert _listing(workspace) == inputs  # pictures and projects untouched
    assert outcomes[0] > 20 and outcomes[2] > 20, outcomes  # the mutations reach both sides
