"""Faults a user meets: a full disk, ffmpeg dying, a render or a save killed half-way.

Each asserts what the user sees: one line and a non-zero exit, the old file intact, and no temporary
left behind once the next run has written to the same place.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import write_arm_project

from poseanything_studio.commands import main
from poseanything_studio.core.fileio import TEMP_TAG, atomic_write_text, remove_stale_temps
from poseanything_studio.rendering.export import FrameWriter, OutputError, output_target

pytestmark = pytest.mark.skipif(os.name != "posix", reason="signals, FIFOs and mounts of POSIX systems")
MAIN_PY = str(Path(__file__).resolve().parents[1] / "main.py")


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if TEMP_TAG in p.name)


@contextlib.contextmanager
def _tmpfs(folder: Path, kib: int):
    """A tmpfs of `kib` KiB mounted on `folder`: its own file system (root only; else the test skips)."""
    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def _small_disk(folder: Path, kib: int):
    """A tmpfs of `kib` KiB mounted on `folder`, all but 4 KiB of it filled (root only; else the test skips)."""
    with _tmpfs(folder, kib):
        filler = folder / "filler"
        filler.write_bytes(b"x" * (disk_free(folder) - 4096))
        yield folder


def _run(args, capsys) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def test_a_full_disk_during_an_mp4_render_is_one_line_and_leaves_nothing(tmp_path, capsys):
    project = write_arm_project(tmp_path, frames=49, size=(640, 480))
    with _small_disk(tmp_path / "disk", 256) as disk:
        code, err = _run(["render", str(project), "-o", str(disk / "out.mp4")], capsys)
        assert code == 2 and len(err.splitlines()) == 1, err
        assert "No space left on device" in err and "out.mp4" in err
        assert sorted(p.name for p in disk.iterdir()) == ["filler"]


def test_a_full_disk_during_a_png_render_and_a_save_keeps_the_old_files(tmp_path, capsys):
    project = write_arm_project(tmp_path, frames=49, size=(640, 480))
    with _small_disk(tmp_path / "disk", 256) as disk:
        code, err = _run(["render", str(project), "-o", str(disk / "seq") + "/"], capsys)
        assert code == 2 and len(err.splitlines()) == 1 and "No space left on device" in err, err
        assert not (disk / "seq").exists() or list((disk / "seq").iterdir()) == []
        assert _temps(disk) == []
        old = disk / "notes.txt"
        old.write_text("old")
        with pytest.raises(OSError, match="No space left on device"):
            atomic_write_text(old, "new " * 10_000)
        assert old.read_text() == "old" and _temps(disk) == []


@pytest.mark.parametrize("out", ["", "f_%04d.png", "seq/"])
def test_frames_written_into_a_mount_point_arrive_whole(tmp_path, capsys, out):
    """The temporary frames sit on the destination's own file system: moving them in never crosses one (EXDEV)."""
    project = write_arm_project(tmp_path, frames=5)
    with _tmpfs(tmp_path / "mnt", 8192) as mount:
        code, err = _run(["render", str(project), "-o", f"{mount}/{out}"], capsys)
        assert code == 0, err
        folder = mount / "seq" if out == "seq/" else mount
        name = "f_{:04d}.png" if out.startswith("f_") else "frame_{:05d}.png"
        assert sorted(p.name for p in folder.iterdir()) == sorted(name.format(i) for i in range(5))
        assert sorted(p.name for p in mount.iterdir() if TEMP_TAG in p.name) == []
        code, err = _run(["render", str(project), "-o", f"{mount}/{out}", "--overwrite"], capsys)
        assert code == 0 and len(list(folder.iterdir())) == 5, err


def test_an_mp4_into_a_mount_point_and_a_kept_file_there(tmp_path, capsys):
    from poseanything_studio.core.fileio import rename_no_replace

    project = write_arm_project(tmp_path, frames=5)
    with _tmpfs(tmp_path / "mnt", 8192) as mount:
        assert _run(["render", str(project), "-o", str(mount / "o.mp4")], capsys)[0] == 0
        (mount / "new").write_text("new")
        with pytest.raises(FileExistsError):
            rename_no_replace(mount / "new", mount / "o.mp4")  # renameat2 on a tmpfs: o.mp4 is kept
        assert (mount / "o.mp4").stat().st_size > 1000 and (mount / "new").read_text() == "new"


def disk_free(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def test_a_writer_that_fails_mid_write_leaves_nothing(tmp_path, monkeypatch):
    """Where no tmpfs can be mounted: the PNG writer's file write fails as a full disk would."""
    import builtins

    real_open = builtins.open
    calls = {"n": 0}

    def failing_open(file, mode="r", *args, **kwargs):
        if "w" in mode and str(file).endswith(".png"):
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError(28, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", failing_open)
    target = output_target(str(tmp_path / "seq"))
    with pytest.raises(OutputError, match="No space left on device"), FrameWriter(target, 12, (64, 32), 5) as w:
        for _ in range(5):
            w.write(np.zeros((32, 64, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def _fake_ffmpeg(tmp_path: Path, script: str) -> str:
    exe = tmp_path / "ffmpeg"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return str(exe)


@pytest.mark.parametrize(
    ("script", "words"),
    [
        ("head -c 5000 >/dev/null; echo 'Conversion failed!' >&2; exit 1\n", "ffmpeg stopped while writing"),
        ("cat >/dev/null; echo 'Error closing file: I/O error' >&2; exit 1\n", "ffmpeg failed (Error closing file"),
    ],
)
def test_ffmpeg_dying_or_failing_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch, script, words):
    import imageio_ffmpeg

    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", lambda: _fake_ffmpeg(tmp_path, script))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    project = write_arm_project(tmp_path, frames=9)
    code, err = _run(["render", str(project), "-o", str(out_dir / "o.mp4")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and words in err, err
    assert list(out_dir.iterdir()) == []


def _skip_if_inherited_ignored(sig: int) -> None:
    """Under `nohup` the render inherits SIGHUP ignored and rightly keeps ignoring it (it only takes over signals
    left at their default), so a test sending it one would wait for a render that never stops."""
    if signal.getsignal(sig) == signal.SIG_IGN:
        pytest.skip(f"{signal.Signals(sig).name} is ignored in this process (run under nohup?), and so in the render")


def _start_render(tmp_path: Path, out: Path) -> subprocess.Popen:
    project = write_arm_project(tmp_path, frames=2401, size=(512, 512))
    proc = subprocess.Popen(
        [sys.executable, MAIN_PY, "render", str(project), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not _temps(out.parent):
        time.sleep(0.05)
    time.sleep(0.3)  # frames are going out
    return proc


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_term_and_hup_stop_a_render_cleanly(tmp_path, sig):
    _skip_if_inherited_ignored(sig)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = _start_render(tmp_path, out_dir / "long.mp4")
    os.kill(proc.pid, sig)  # `kill`, or the terminal closing
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert err.strip().splitlines() == [f"stopped by {signal.Signals(sig).name}: nothing was written"]
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("out_name", ["long.mp4", "frames"])
def test_a_killed_render_leaves_temps_that_the_next_run_removes(tmp_path, sig, out_name):
    _skip_if_inherited_ignored(sig)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / out_name
    proc = _start_render(tmp_path, out)
    os.killpg(proc.pid, sig)  # the whole group at once (ffmpeg too): KILL gives no chance to clean up
    proc.communicate(timeout=60)
    left = _temps(out_dir)
    assert all(name.startswith(f".{out_name}{TEMP_TAG}{proc.pid}-") for name in left)
    assert left or sig != signal.SIGKILL
    assert not out.exists() or (out.is_dir() and list(out.iterdir()) == [])
    small = write_arm_project(tmp_path, frames=5)
    done = subprocess.run(
        [sys.executable, MAIN_PY, "render", str(small), "-o", str(out), "-y"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert _temps(out_dir) == [] and out.exists()


def test_temps_of_live_runs_are_kept(tmp_path):
    target = tmp_path / "out.mp4"
    mine = tmp_path / f".out.mp4{TEMP_TAG}{os.getpid()}-abc.mp4"
    dead_pid = _dead_pid()
    dead = tmp_path / f".out.mp4{TEMP_TAG}{dead_pid}-abc.mp4"
    other = tmp_path / f".other.mp4{TEMP_TAG}{dead_pid}-abc.mp4"
    for p in (mine, dead, other):
        p.write_bytes(b"x")
    assert remove_stale_temps(target) == [dead]
    assert mine.exists() and other.exists()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times are read from /proc")
def test_a_temp_whose_pid_was_reused_by_a_newer_process_is_removed(tmp_path):
    """A killed run's pid taken by a process started after its temporary was written: the temporary is litter."""
    target = tmp_path / "out.mp4"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        reused = tmp_path / f".out.mp4{TEMP_TAG}{live.pid}-old.mp4"
        its_own = tmp_path / f".out.mp4{TEMP_TAG}{live.pid}-new.mp4"
        for p in (reused, its_own):
            p.write_bytes(b"x")
        an_hour_ago = time.time() - 3600
        os.utime(reused, (an_hour_ago, an_hour_ago))  # written before the live process began
        assert remove_stale_temps(target) == [reused]
        assert its_own.exists()
    finally:
        live.kill()
        live.wait()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_save_killed_half_way_keeps_the_old_project_and_the_next_save_cleans_up(tmp_path):
    project = write_arm_project(tmp_path)
    before = project.read_bytes()
    code = (
        "import os, sys\n"
        "from poseanything_studio.core import fileio\n"
        "real = fileio.fsync_file\n"
        "def stop(path):\n"
        "    print('writing', flush=True); sys.stdin.readline()\n"
        "fileio.fsync_file = stop\n"
        "from poseanything_studio.core.project import load_project, save_project\n"
        f"p = load_project({str(project)!r})\n"
        f"save_project(p, {str(project)!r})\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(MAIN_PY).parent
    )
    assert proc.stdout.readline().strip() == "writing"  # the new text is written, not yet renamed
    proc.kill()
    proc.wait()
    assert project.read_bytes() == before
    assert _temps(tmp_path)
    from poseanything_studio.core.project import load_project, save_project

    save_project(load_project(project), project)
    assert _temps(tmp_path) == []


def test_ffmpeg_killed_mid_render_is_one_line(tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = _start_render(tmp_path, out_dir / "long.mp4")
    deadline, children = time.time() + 60, []
    while time.time() < deadline and not children:  # ffmpeg starts with the first frame
        # The encoder only (its command line reads rawvideo): imageio-ffmpeg first runs a short `ffmpeg -version`.
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid), "-f", "rawvideo"], capture_output=True, text=True
        ).stdout.split()
        time.sleep(0.05)
    assert children, "the render has no ffmpeg child"
    os.kill(int(children[0]), signal.SIGKILL)  # ffmpeg dies: the next frame meets a broken pipe
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert err.strip().splitlines() == [
        f"error: {out_dir / 'long.mp4'}: ffmpeg stopped while writing (killed by signal 9); nothing was written"
    ]
    assert list(out_dir.iterdir()) == []


def test_temps_of_earlier_versions_are_removed_once_old(tmp_path):
    target = tmp_path / "out.mp4"
    old = tmp_path / ".out.mp4.k2j_x9q1.mp4"  # the name the previous version's mkstemp gave
    fresh = tmp_path / ".out.mp4.ab12cd34.mp4"
    mine = tmp_path / ".out.mp4.notes.mp4"  # not that shape: never touched
    for p in (old, fresh, mine):
        p.write_bytes(b"x")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    os.utime(mine, (two_hours_ago, two_hours_ago))
    assert remove_stale_temps(target) == [old]
    assert fresh.exists() and mine.exists()
