"""Start-up stays light: the CLI and the puppet path never import torch or diffusers."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_rendering_with_the_puppet_imports_no_torch(arm_project, tmp_path):
    code = (
        "import sys\n"
        "from poseanything_studio.commands import main\n"
        f"assert main(['render', {str(arm_project)!r}, '-o', {str(tmp_path / 'o.mp4')!r}]) == 0\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'PySide6') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_the_console_script_and_dependencies_are_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["poseanything-studio"] == "poseanything_studio.commands:main"

    def names(requirements):
        return {d.split(">")[0].split("=")[0].split("[")[0].strip().lower() for d in requirements}

    assert {"pyside6-essentials", "pyqtgraph", "numpy", "imageio-ffmpeg"} <= names(project["dependencies"])
    assert not {"torch", "diffusers"} & names(project["dependencies"])  # a puppet-only install stays small
    neural = project["optional-dependencies"]["neural"]
    assert {"torch", "diffusers", "safetensors"} <= names(neural)
    assert any(d.startswith("torch>=") for d in neural)  # a floor, never a pin


def test_version_has_one_source():
    from poseanything_studio import __version__

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"]["attr"] == "poseanything_studio.__version__"
    out = subprocess.run(
        [sys.executable, "-m", "poseanything_studio", "--version"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == f"poseanything-studio {__version__}"


def test_examples_and_templates_are_listed_and_copied_without_clobbering(tmp_path):
    from poseanything_studio.commands import main

    assert main(["templates"]) == 0
    assert main(["examples", "--copy", str(tmp_path)]) == 0
    assert {p.name for p in tmp_path.glob("*.pasproj")} == {
        "cat.pasproj",
        "cat_refine.pasproj",
        "fish.pasproj",
        "robot_arm.pasproj",
    }
    (tmp_path / "cat.pasproj").write_text("mine")
    assert main(["examples", "--copy", str(tmp_path)]) == 2
    assert (tmp_path / "cat.pasproj").read_text() == "mine"


def test_help_runs_from_a_checkout():
    out = subprocess.run([sys.executable, "main.py", "render", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and "--preview" in out.stdout


def test_opening_the_window_imports_no_torch(tmp_path):
    shot = tmp_path / "shot.png"
    code = (
        "import sys\n"
        "from poseanything_studio.commands import main\n"
        f"assert main(['resources/examples/cat.pasproj', '--screenshot', {str(shot)!r}]) == 0\n"
        "heavy = [m for m in ('torch', 'diffusers', 'transformers', 'poseanything_studio.model') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, capture_output=True)
    assert shot.stat().st_size > 10_000


def test_the_neural_renderer_without_its_extra_is_one_line_exit_2(arm_project, tmp_path):
    code = (
        "import sys\n"
        "sys.modules['torch'] = sys.modules['diffusers'] = None  # as a puppet-only install has them\n"
        "from poseanything_studio.commands import main\n"
        f"sys.exit(main(['render', {str(arm_project)!r}, '-o', {str(tmp_path / 'o.mp4')!r}, "
        "'--renderer', 'poseanything', '--model-dir', '/nowhere']))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert out.stderr.count("\n") == 1 and "poseanything-studio[neural]" in out.stderr


def test_train_and_eval_without_torch_say_which_extra_in_one_line(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['torch'] = None  # as a puppet-only install has it\n"
        "from poseanything_studio.commands import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    for argv, extra in (
        (["train", "configs/train_example.toml"], "train"),
        (["eval", "a.mp4", "b.mp4", "--i3d-weights", "i3d.pt"], "neural"),
    ):
        out = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert f"poseanything-studio[{extra}]" in out.stderr


def test_the_model_is_imported_under_our_package_name_only():
    """A bare `import model` would pick up any folder's model.py first (and load our files twice)."""
    bare = re.compile(r"^\s*(from model[. ]|import model\b)", re.MULTILINE)
    trees = [ROOT / name for name in ("poseanything_studio", "model", "tests", "benchmarks", "tools", "resources")]
    offenders = [
        str(path.relative_to(ROOT))
        for tree in trees
        for path in tree.rglob("*.py")
        if bare.search(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, offenders
    assert (ROOT / "poseanything_studio" / "model").resolve() == ROOT / "model"
    assert (ROOT / "poseanything_studio" / "resources").resolve() == ROOT / "resources"
