"""Missing system libraries Qt needs are named in one line with the apt-get command that installs them."""

from __future__ import annotations

from poseanything_studio.qt.syslibs import GUI_LIBRARIES, XCB_LIBRARIES, missing_libraries, uses_xcb


def test_missing_qt_libraries_are_named_with_the_apt_command(monkeypatch, capsys):
    from poseanything_studio import commands
    from poseanything_studio.qt import syslibs

    gone = {"libxcb-cursor.so.0", "libEGL.so.1"}
    missing = missing_libraries({"DISPLAY": ":0"}, loads=lambda name: name not in gone)
    assert missing == {"libEGL.so.1": "libegl1", "libxcb-cursor.so.0": "libxcb-cursor0"}
    assert uses_xcb({"DISPLAY": ":0"}) and not uses_xcb({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"})
    assert set(missing_libraries({"QT_QPA_PLATFORM": "offscreen"}, loads=lambda n: False)) == set(GUI_LIBRARIES)
    assert set(XCB_LIBRARIES) <= set(missing_libraries({"DISPLAY": ":1"}, loads=lambda n: False))
    monkeypatch.setattr(syslibs, "missing_libraries", lambda: missing)
    assert commands.main(["--screenshot", "x.png"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "libxcb-cursor.so.0" in err[0]
    assert "sudo apt-get install libegl1 libxcb-cursor0" in err[0]
