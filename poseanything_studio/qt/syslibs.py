"""Before Qt loads: are the system libraries its Linux platform plugins need there?

Without them Qt aborts with a long message about platform plugins (or PySide6 fails to import with
a dlopen error). This module imports no Qt: it tries to load each library by its soname and, if
any is missing, the window says which and which Debian/Ubuntu packages provide them, in one line.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

# soname -> Debian/Ubuntu package. Needed by Qt's GUI module on any Linux platform plugin:
GUI_LIBRARIES = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
# ... and by the X11 (xcb) platform plugin, Qt's default under X:
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def _loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def uses_xcb(env: Mapping[str, str]) -> bool:
    """Whether Qt will pick its X11 platform plugin for this environment."""
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0].split(";")[0] == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def missing_libraries(env: Mapping[str, str] | None = None, loads: Callable[[str], bool] = _loads) -> dict[str, str]:
    """soname -> package for every library Qt would need here that cannot be loaded (Linux only)."""
    if not sys.platform.startswith("linux"):
        return {}
    env = os.environ if env is None else env
    needed = dict(GUI_LIBRARIES)
    if uses_xcb(env):
        needed.update(XCB_LIBRARIES)
    return {name: package for name, package in needed.items() if not loads(name)}


def missing_libraries_line(missing: Mapping[str, str]) -> str:
    """The one line the window prints for `missing`."""
    return (
        f"the window needs system libraries that are missing: {', '.join(missing)}; on Debian or Ubuntu: "
        f"sudo apt-get install {' '.join(dict.fromkeys(missing.values()))} "
        "(rendering from the command line needs none of them)"
    )


# Qt's platform plugins that need no display server: nothing to check for them.
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "eglfs", "linuxfb", "vkkhrdisplay")


def display_problem(
    env: Mapping[str, str] | None = None, can_connect: Callable[[str], bool] | None = None
) -> str | None:
    """Why Qt would find no display to open the window on here (it aborts with exit 134), or None (Linux only).

    `can_connect(display)` says whether an X server answers; the default asks libxcb, as Qt's xcb plugin would.
    """
    if not sys.platform.startswith("linux"):
        return None
    env = os.environ if env is None else env
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0]
    if platform in HEADLESS_PLATFORMS:
        return None
    if platform.startswith("wayland") or (not platform and env.get("WAYLAND_DISPLAY")):
        return None  # a Wayland session (Qt falls back to X11 by itself when it must)
    if platform and platform != "xcb":
        return None  # a plugin of the user's choosing: Qt's own message is the right one
    display = env.get("DISPLAY", "")
    if not display:
        return (
            "no display to open the window on (DISPLAY and WAYLAND_DISPLAY are unset): run it in a desktop "
            "session, or under xvfb-run; `poseanything-studio render` needs no display"
        )
    if not (can_connect or _x_server_answers)(display):
        return (
            f"cannot connect to the X display {display!r} (no X server answers there): check DISPLAY, or run "
            "under xvfb-run; `poseanything-studio render` needs no display"
        )
    return None


def _x_server_answers(display: str) -> bool:
    """Whether the X server at `display` accepts a connection (asked through libxcb; True when libxcb is absent,
    since missing_libraries reports that)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return connection is not None and xcb.xcb_connection_has_error(connection) == 0
    finally:
        if connection:
            xcb.xcb_disconnect(connection)
