"""Atomic writes: a file appears whole under its name or not at all.

Temporaries sit beside their target as `.NAME.pastmp-PID-XXXX[.ext]`, so a run that was killed (KILL,
TERM, HUP, power loss) leaves something recognisable: the next write to the same target removes every
such temporary whose process is gone (`remove_stale_temps`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once at import, while only one thread runs
TEMP_TAG = ".pastmp-"
_NAME_KEEP = 80  # characters of the target's name kept in a temporary's name (a 255-byte name must still fit)
_TEMP_RE = re.compile(re.escape(TEMP_TAG) + r"(\d+)-")


def temp_prefix(target: str | os.PathLike) -> str:
    """The start of every temporary's name for `target` (without the pid)."""
    return f".{Path(target).name[:_NAME_KEEP]}{TEMP_TAG}"


LEGACY_STALE_AFTER_S = 3600  # `.NAME.XXXXXXXX.ext` temporaries of earlier versions, untouched this long
STALE_AFTER_S = 24 * 3600  # where a process cannot be asked about (Windows), a temporary this old is stale


def _process_alive(pid: int, entry: Path) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send Ctrl+C there: judge by age instead
        try:
            return time.time() - entry.stat().st_mtime < STALE_AFTER_S
        except OSError:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError, OverflowError):
        return True  # someone else's live process, or a platform without signal 0: keep its temporary
    return not _started_after(pid, entry)


def _started_after(pid: int, entry: Path) -> bool:
    """Whether process `pid` began after `entry` was last written: its pid was reused, the writer is gone.

    Linux only (/proc); elsewhere, and whenever in doubt, False (the temporary is kept).
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime ")
        )
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat: start time in ticks since boot
        return started > entry.lstat().st_mtime + _CLOCK_SLACK_S
    except (OSError, ValueError, IndexError, StopIteration):
        return False


_CLOCK_SLACK_S = 2.0  # btime is whole seconds: a process must start this long after the write to count as a reuse


def stale_temps(target: str | os.PathLike) -> list[Path]:
    """Temporaries beside `target` left by runs that no longer exist."""
    target = Path(target)
    prefix = temp_prefix(target)
    try:
        entries = list(target.parent.iterdir()) if target.parent.is_dir() else []
    except OSError:
        return []
    legacy = re.compile(re.escape(f".{target.name}.") + r"[a-z0-9_]{8}(\.mp4|\.tmp|\.png)?")
    found = []
    for entry in entries:
        match = _TEMP_RE.match(entry.name, len(prefix) - len(TEMP_TAG)) if entry.name.startswith(prefix) else None
        if match and not _process_alive(int(match.group(1)), entry):
            found.append(entry)
        elif legacy.fullmatch(entry.name) and _older_than(entry, LEGACY_STALE_AFTER_S):
            found.append(entry)  # what versions before these names left (no pid in the name: judged by age)
    return found


def _older_than(entry: Path, seconds: float) -> bool:
    try:
        return time.time() - entry.lstat().st_mtime > seconds
    except OSError:
        return False


def remove_stale_temps(target: str | os.PathLike) -> list[Path]:
    """Delete what killed runs left beside `target`; the paths removed."""
    removed = []
    for entry in stale_temps(target):
        with contextlib.suppress(OSError):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
    return removed


def fsync_file(path: Path) -> None:
    """Flush the file (or folder) at `path` to the disk, so a rename after it never shows a half-written file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str = "", replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside `target`; on success fsync and rename it onto `target`, else delete it.

    The temporary name keeps `suffix` (e.g. ".mp4") so tools that look at extensions still work. With
    `replace=False` a file that appeared at `target` meanwhile is kept: FileExistsError, and nothing is written.
    A `target` that is a symbolic link is itself replaced (the file it points to is never written).
    """
    target = Path(target)
    remove_stale_temps(target)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f"{temp_prefix(target)}{os.getpid()}-", suffix=suffix or ".tmp", dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # what a plain open() would give, not mkstemp's private 0600
        yield tmp
        fsync_file(tmp)  # a full disk shows here at the latest, before the old file is replaced
        if replace:
            os.replace(tmp, target)
        else:
            rename_no_replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary folder on `target`'s file system; on success move its files into `target`, else delete it.

    The temporary sits inside `target` when that folder exists (it may be a mount point: moving from its parent
    would cross file systems), else beside it. With `replace=False` nothing in `target` is replaced: a name that
    appeared there meanwhile is FileExistsError, and the files moved before it are taken back out.
    """
    target = Path(target)
    inside = target.is_dir()
    remove_stale_temps(target)
    if inside:
        remove_stale_temps(target / target.name)  # temporaries of killed runs inside the folder
    tmp = Path(tempfile.mkdtemp(prefix=f"{temp_prefix(target)}{os.getpid()}-", dir=target if inside else target.parent))
    try:
        yield tmp
        target.mkdir(exist_ok=True)
        _move_all(tmp, target, replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _move_all(folder: Path, target: Path, replace: bool) -> None:
    moved: list[Path] = []
    try:
        for item in sorted(folder.iterdir()):
            if replace:
                os.replace(item, target / item.name)
            else:
                rename_no_replace(item, target / item.name)
                moved.append(target / item.name)
    except BaseException:
        for path in moved:  # new names only (nothing was replaced): the folder is as it was
            with contextlib.suppress(OSError):
                os.replace(path, folder / path.name)
        raise


def new_temp_dir(target: str | os.PathLike) -> Path:
    """A new empty temporary folder beside `target` (same file system), named so a later sweep knows it is ours."""
    target = Path(target)
    remove_stale_temps(target)
    return Path(tempfile.mkdtemp(prefix=f"{temp_prefix(target)}{os.getpid()}-", dir=target.parent))


def commit_dir(tmp: str | os.PathLike, target: str | os.PathLike, replace: bool = True) -> None:
    """Put the complete folder `tmp` at `target` in one step (its files fsynced first), deleting the old one after.

    A `target` that exists is swapped with `tmp` at once (renameat2 RENAME_EXCHANGE), so at every moment the name
    holds the old or the new complete folder; where the system cannot swap, the old one is moved aside first (a
    moment without either under the name, the old one kept beside it). `replace=False`: an existing `target` is
    kept: FileExistsError, and `tmp` is left as it is for the caller to delete.
    """
    tmp, target = Path(tmp), Path(target)
    _fsync_tree(tmp)
    try:
        rename_no_replace(tmp, target)
        _fsync_dir(target.parent)
        return
    except FileExistsError:
        if not replace:
            raise
    if exchange_paths(tmp, target):  # now `tmp` holds the old folder
        _fsync_dir(target.parent)
        shutil.rmtree(tmp, ignore_errors=True)
        return
    aside = Path(tempfile.mkdtemp(prefix=f"{temp_prefix(target)}{os.getpid()}-", dir=target.parent))
    try:
        os.rename(target, aside / target.name)
        try:
            os.rename(tmp, target)
        except BaseException:
            os.rename(aside / target.name, target)  # put the old one back
            raise
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(aside, ignore_errors=True)


def remove_dir(folder: str | os.PathLike) -> None:
    """Delete `folder` so that it leaves its name in one step (renamed aside, then deleted), never half there;
    what a kill leaves aside is a temporary the next sweep removes."""
    folder = Path(folder)
    aside = Path(tempfile.mkdtemp(prefix=f"{temp_prefix(folder)}{os.getpid()}-", dir=folder.parent))
    try:
        os.rename(folder, aside / folder.name)
    finally:
        shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(target: str | os.PathLike, replace: bool = True) -> Iterator[Path]:
    """Yield a new temporary folder beside `target`; on success it becomes `target` whole (`commit_dir`), else it is
    deleted. Unlike `atomic_dir` (which moves files into an existing folder), the old folder is replaced as one."""
    tmp = new_temp_dir(target)
    try:
        yield tmp
        commit_dir(tmp, target, replace=replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def temp_targets(folder: str | os.PathLike) -> set[Path]:
    """The targets of the temporaries in `folder` (`.NAME.pastmp-...` -> folder/NAME), live or not."""
    folder = Path(folder)
    try:
        entries = list(folder.iterdir()) if folder.is_dir() else []
    except OSError:
        return set()
    return {
        folder / entry.name[1 : entry.name.index(TEMP_TAG)]
        for entry in entries
        if entry.name.startswith(".") and TEMP_TAG in entry.name
    }


def remove_stale_temps_in(folder: str | os.PathLike) -> list[Path]:
    """Delete every temporary in `folder` (whatever its target's name) whose process is gone; the paths removed."""
    return [path for target in sorted(temp_targets(folder)) for path in remove_stale_temps(target)]


def _fsync_tree(folder: Path) -> None:
    """fsync every file under `folder`, then the folders themselves (a rename must not outrun the data)."""
    for root, _, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            if not path.is_symlink():
                fsync_file(path)
        _fsync_dir(Path(root))


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":
        return  # folders cannot be opened for fsync there
    with contextlib.suppress(OSError):
        fsync_file(folder)


_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange_paths(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap the two existing paths `a` and `b` in one step (Linux renameat2); False where the system cannot."""
    import ctypes

    function = libc_renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))


@functools.cache
def libc_renameat2():
    """libc's renameat2 (Linux, glibc 2.28+), or None (looked up once)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


def rename_no_replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Move the file `source` to `target` unless `target` exists (FileExistsError), in one step where the system can.

    renameat2(RENAME_NOREPLACE) on Linux; else a hard link and an unlink; else (a file system without links) a
    check right before the rename.
    """
    import ctypes

    function = libc_renameat2()
    if function is not None:
        if function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # not "this file system cannot"
            raise OSError(err, os.strerror(err), os.fspath(target))
    try:
        os.link(source, target)
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(target)) from None
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.EXDEV, errno.ENOSYS):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fspath(target)) from None
        os.rename(source, target)
        return
    os.unlink(source)


def atomic_write_bytes(target: str | os.PathLike, data: bytes, replace: bool = True) -> None:
    """Write `data` to `target` atomically (fsynced before the rename), keeping an existing file's mode.

    `replace=False`: a file at `target` (also one that appeared while writing) is kept: FileExistsError.
    """
    with atomic_path(target, suffix=".tmp", replace=replace) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
        if Path(target).exists():
            shutil.copymode(target, tmp)


def atomic_write_text(target: str | os.PathLike, text: str, replace: bool = True) -> None:
    """Write `text` (UTF-8, LF line ends) to `target` atomically, fsynced before the rename."""
    atomic_write_bytes(target, text.encode("utf-8"), replace=replace)


class OutputPathError(ValueError):
    """An output path a command must not write: one line naming it and saying why."""


def check_output_file(
    path: str | os.PathLike, *, inputs: tuple = (), overwrite: bool = False, option: str = "output"
) -> Path:
    """`path` as a file a command may write, checked before any work starts; else OutputPathError.

    Refused: a NUL byte or an over-long name, a folder, a missing or unwritable folder, one of the command's
    own `inputs` (or another name for it), and an existing file unless `overwrite`.
    """
    text = os.fspath(path)
    if "\0" in text:
        raise OutputPathError(f"{option}: {text!r} holds a NUL byte")
    target = Path(text).expanduser()
    if len(target.name.encode("utf-8", "surrogateescape")) > 255:
        raise OutputPathError(f"{option}: the name {target.name[:40]}... is longer than 255 bytes")
    folder = target.parent
    if not folder.is_dir():
        raise OutputPathError(f"{option}: {text}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputPathError(f"{option}: {text}: folder {str(folder)!r} is not writable")
    if target.is_dir():
        raise OutputPathError(f"{option}: {text} is a folder")
    for item in inputs:
        if item is not None and same_file(target, Path(item)):
            raise OutputPathError(f"{option}: {text} is one of this command's inputs; write elsewhere")
    if target.exists() and not overwrite:
        raise OutputPathError(f"{option}: {text} exists; pass --overwrite to replace it")
    if target.exists() and not target.is_file():
        raise OutputPathError(f"{option}: {text} is not a regular file")
    return target


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (also through links)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except (OSError, ValueError):
        return False
