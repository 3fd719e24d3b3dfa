"""The window between runs and in time: layout saved and restored, settings under the application's
name, playback at the project's fps by the clock."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import write_arm_project
from PySide6.QtCore import QSettings

from poseanything_studio.core.project import load_project
from poseanything_studio.qt.document import Document
from poseanything_studio.qt.timeline import Playback

ROOT = Path(__file__).resolve().parents[2]


def _window(project_path, settings_file, qtbot):
    from poseanything_studio.qt.main_window import MainWindow

    window = MainWindow(load_project(project_path), settings=QSettings(str(settings_file), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


FIRST_RUN = """
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from poseanything_studio.qt.app import application, run_window
from poseanything_studio.qt.main_window import MainWindow

def change_and_quit():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    print(window.width(), window.height())
    window.resize(1111, 877)  # above the minimum height the render panel asks for
    window.move(150, 100)
    window.curves_dock.hide()
    window.render_dock.setFloating(True)
    QTimer.singleShot(200, window.close)

application()
QTimer.singleShot(300, change_and_quit)
raise SystemExit(run_window(None))
"""
NEXT_RUN = """
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from poseanything_studio.qt.app import application, run_window
from poseanything_studio.qt.main_window import MainWindow

def report_and_quit():
    window = next(w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow))
    print(window.width(), window.height(), window.x(), window.y())
    print(window.curves_dock.isVisible(), window.timeline_dock.isVisible(), window.render_dock.isFloating())
    window.close()

application()
QTimer.singleShot(300, report_and_quit)
raise SystemExit(run_window(None))
"""


def _run(code: str, home: Path) -> list[str]:
    """`code` in a fresh process on a 1920x1200 offscreen screen, with its own config folder."""
    screen = home / "screen.json"
    screen.write_text(
        '{"screens": [{"name": "s", "x": 0, "y": 0, "width": 1920, "height": 1200, '
        '"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}'
    )
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "HOME": str(home),
        "QT_QPA_PLATFORM": f"offscreen:configfile={screen}",
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()


def test_window_restores_its_size_place_and_dock_layout_in_the_next_run(tmp_path):
    assert _run(FIRST_RUN, tmp_path) == ["1500 920"]  # no saved layout yet: the built-in one
    size_place, docks = _run(NEXT_RUN, tmp_path)
    assert size_place == "1111 877 150 100"
    assert docks == "False True True"  # curves hidden, timeline shown, render floating


def test_a_layout_from_another_layout_version_is_not_applied(examples_dir, tmp_path, qtbot, monkeypatch):
    from poseanything_studio.qt import main_window

    ini = tmp_path / "settings.ini"
    first = _window(examples_dir / "cat.pasproj", ini, qtbot)
    first.curves_dock.hide()
    assert first.close()
    same = _window(examples_dir / "cat.pasproj", ini, qtbot)
    same.restore_layout()
    assert not same.curves_dock.isVisible()  # the saved layout, same version
    monkeypatch.setattr(main_window, "LAYOUT_VERSION", main_window.LAYOUT_VERSION + 1)
    newer = _window(examples_dir / "cat.pasproj", ini, qtbot)
    newer.restore_layout()
    assert newer.curves_dock.isVisible()  # docks as built, not the older layout


def test_a_screenshot_neither_uses_nor_changes_the_saved_layout(examples_dir, tmp_path):
    """`--screenshot` pictures the built-in layout and leaves the user's saved one alone."""
    _run(FIRST_RUN, tmp_path)
    conf = tmp_path / "config" / "PoseAnything" / "PoseAnything Studio.conf"
    saved = conf.read_text()
    picture = tmp_path / "shot.png"
    code = f"from poseanything_studio.qt.app import run_window; raise SystemExit(run_window(None, {str(picture)!r}))"
    _run(code, tmp_path)
    from PySide6.QtGui import QImage

    assert QImage(str(picture)).width() >= 1500  # the built-in 1500-pixel-wide window, not the saved 1111
    assert "window" in saved and conf.read_text().count("geometry") == saved.count("geometry")
    assert [line for line in conf.read_text().splitlines() if "geometry" in line] == [
        line for line in saved.splitlines() if "geometry" in line
    ]


def test_settings_live_under_the_application_name_and_old_keys_move_over(tmp_path):
    """In a fresh process with its own config folder: the app's names, QSettings() and the window's agree."""
    old = tmp_path / "config" / "PoseAnything" / "Studio.conf"
    old.parent.mkdir(parents=True)
    old.write_text("[General]\nrecent=/somewhere/cat.pasproj\n")
    code = (
        "from PySide6.QtCore import QSettings\n"
        "from poseanything_studio.qt.app import application\n"
        "from poseanything_studio.qt.settings import studio_settings\n"
        "from poseanything_studio.qt.main_window import MainWindow\n"
        "app = application()\n"
        "window = MainWindow()\n"
        "print(app.organizationName(), '|', app.applicationName())\n"
        "print(window.settings.fileName() == QSettings().fileName() == studio_settings().fileName())\n"
        "print(window.recent_files())\n"
    )
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "QT_QPA_PLATFORM": "offscreen",
        "HOME": str(tmp_path),
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    names, same_file, recent = out.stdout.strip().splitlines()
    assert names == "PoseAnything | PoseAnything Studio"
    assert same_file == "True"
    assert recent == "['/somewhere/cat.pasproj']"  # moved over from the old name
    assert (tmp_path / "config" / "PoseAnything" / "PoseAnything Studio.conf").is_file()


def test_no_settings_are_built_under_other_names():
    sources = {p.name: p.read_text() for p in (ROOT / "poseanything_studio" / "qt").glob("*.py")}
    builders = [name for name, text in sources.items() if "QSettings(" in text and name != "settings.py"]
    assert builders == []  # everything else asks settings.studio_settings()


# -- playback by the clock ----------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_playback_shows_the_frame_due_by_the_clock_and_counts_dropped_frames(tmp_path, qtbot):
    doc = Document(load_project(write_arm_project(tmp_path, frames=49)))
    clock = FakeClock()
    playback = Playback(doc, clock=clock)
    reports = []
    playback.dropped_changed.connect(lambda dropped, due: reports.append((dropped, due)))
    playback.play()
    fps = float(doc.project.fps)
    for frame in range(1, 6):  # on time: every frame shown, none dropped
        clock.now += 1 / fps
        playback.tick()
        assert doc.frame == frame
    assert playback.dropped == 0
    clock.now += 4.4 / fps  # a redraw that took 4.4 frames: frames 6-8 are skipped, 9 is shown
    playback.tick()
    assert doc.frame == 9 and playback.dropped == 3 and reports[-1] == (3, 9)
    doc.set_frame(30)  # the user moves the playhead while playing: playback counts on from there
    clock.now += 0.2 / fps
    playback.tick()
    clock.now += 1 / fps
    playback.tick()
    assert doc.frame == 31 and playback.dropped == 3 and reports[-1] == (3, 10)  # counts kept current
    clock.now += 20 / fps  # looping: frame 31 + 20 wraps past 48 to 2
    playback.tick()
    assert doc.frame == (31 + 20) % 49 and playback.dropped == 3 + 19
    playback.loop = False
    clock.now += 60 / fps
    playback.tick()
    assert doc.frame == 48 and not playback.playing


def test_a_slow_redraw_keeps_the_clock_and_the_timeline_says_frames_were_dropped(studio, qtbot):
    """Real time: every redraw takes 100 ms (2.4 frames at 24 fps); playback still covers 24 frames a second."""
    doc, playback = studio.doc, studio.playback
    assert float(doc.project.fps) == 24
    doc.set_frame(0)
    shown_at = []
    doc.frame_changed.connect(lambda _f: (shown_at.append(time.monotonic()), time.sleep(0.1)))
    started = time.monotonic()
    playback.play()
    qtbot.wait(1500)
    playback.stop()
    span = shown_at[-1] - started  # play to the last frame shown
    assert abs(playback.due - span * 24) <= 2  # the frame shown last is the one the clock said was due
    assert len(shown_at) <= span / 0.1 + 1 < 0.6 * playback.due  # far fewer redraws than frames due
    assert playback.dropped == playback.due - len(shown_at)  # every frame due is either shown or counted dropped
    assert studio.timeline.dropped_label.text() == f"dropped {playback.dropped} of {playback.due} frames to keep 24 fps"
    playback.play()
    assert studio.timeline.dropped_label.text() == ""  # a new run starts counting afresh
    playback.stop()
