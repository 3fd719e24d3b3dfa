"""The window's posing commands: the Rotate tool, pins, IK chain length, copy / paste / mirror a pose, loops,
and rotation or position interpolation. `install(window)` adds them as actions with shortcuts and a Pose menu.

The pose travels on the system clipboard as JSON text (core.poses), so it
pastes into another window or another project with the same joint names.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QInputDialog, QMainWindow

from poseanything_studio.core import poses

from .document import Document


def copy_pose(doc: Document) -> str:
    """The selected joints' pose at the playhead (all joints when none is selected) onto the clipboard."""
    payload = poses.copy_pose(doc.project, doc.frame, doc.selected_joints or None)
    # As plain text (JSON that says what it is): a QMimeData handed to the clipboard was freed twice at exit
    # by PySide6 (a segfault after the last test), and any text editor or other window reads the text anyway.
    QGuiApplication.clipboard().setText(poses.pose_to_text(payload))
    return f"Copied the pose of {len(payload['joints'])} joints at frame {doc.frame}"


def clipboard_pose() -> dict:
    """The pose on the clipboard; PoseError when there is none."""
    return poses.pose_from_text(QGuiApplication.clipboard().text())


def paste_pose(doc: Document, mirrored: bool = False) -> str:
    """The clipboard's pose keyed at the playhead (mirrored left/right when asked); a status line saying what."""
    try:
        payload = clipboard_pose()
    except poses.PoseError as err:
        return str(err)
    project, matched = poses.paste_pose(doc.project, payload, doc.frame)
    if not matched:
        return "No joint of the copied pose has a name in this rig"
    if mirrored:
        project = poses.mirror_pose(project, doc.frame)
    doc.apply(project, "Paste mirrored pose" if mirrored else "Paste pose")
    return f"Pasted the pose of {len(matched)} joints at frame {doc.frame}"


def mirror_pose(doc: Document) -> str:
    pairs = poses.mirror_pairs(doc.project.rig.joint_ids, poses.user_pairs(doc.project))
    if not pairs:
        return "No left/right pairs: name joints …_l / …_r, or list pairs under rig.mirror in the file"
    doc.apply(poses.mirror_pose(doc.project, doc.frame, pairs), "Mirror pose")
    return f"Mirrored {len(pairs) // 2} left/right pairs at frame {doc.frame}"


def loop_range(window: QMainWindow) -> None:
    """Ask for a loop's start and end (default: the selected keys' span, else the whole animation)."""
    doc = window.doc
    frames = sorted({f for _, f in doc.selected_keys})
    start0, end0 = (frames[0], frames[-1]) if len(frames) > 1 else (0, doc.project.frames)
    start, ok = QInputDialog.getInt(window, "Loop", "Loop from frame:", start0, 0, 100_000)
    if not ok:
        return
    end, ok = QInputDialog.getInt(
        window,
        "Loop",
        f"Back at frame {start}'s pose at frame (the first frame not "
        "shown twice; the frame count loops the whole animation):",
        max(end0, start + 1),
        start + 1,
        100_000,
    )
    if ok:
        doc.apply(poses.set_loop(doc.project, start, end), f"Loop {start}-{end}")


def set_interpolation(doc: Document, by_rotation: bool) -> None:
    mode = "rotation" if by_rotation else "position"
    if doc.project.interpolation != mode:
        doc.apply(replace(doc.project, interpolation=mode), f"Interpolate by {mode}")


def ask_chain_length(window: QMainWindow) -> None:
    canvas = window.canvas
    value, ok = QInputDialog.getInt(
        window,
        "IK chain",
        "Bones an IK drag bends above the dragged end joint (0: up to the root or a pinned joint):",
        canvas.ik_bones,
        0,
        100,
    )
    if ok:
        canvas.ik_bones = value


def install(window: QMainWindow) -> None:
    """The posing actions (with shortcuts) and a Pose menu after Animate."""
    doc, canvas = window.doc, window.canvas

    def say(text: str) -> None:
        window.statusBar().showMessage(text, 6000)

    def act(text: str, slot, shortcut: str | None = None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, window, checkable=checkable)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(f"{tip or text} ({shortcut})" if shortcut else tip or text)
        action.setStatusTip(tip or text)
        (action.toggled if checkable else action.triggered).connect(slot)
        window.addAction(action)
        return action

    rotate = act(
        "Rotate",
        lambda on: on and canvas.set_tool("rotate"),
        "R",
        "Rotate tool: drag turns the joint or bone under the mouse (else the selected joint) about its parent",
        checkable=True,
    )
    window.tool_actions["select"].actionGroup().addAction(rotate)
    window.tool_actions["rotate"] = rotate
    window.act_pin = act(
        "Pin / unpin joints",
        lambda: canvas.toggle_pins(doc.selected_joints),
        "Shift+P",
        "A pinned joint stays put while you pose: a planted foot, the base of an IK chain",
    )
    window.act_chain = act(
        "IK chain length…",
        lambda: ask_chain_length(window),
        None,
        "How many bones an IK drag of an end joint bends (default 2: a limb)",
    )
    window.act_copy_pose = act(
        "Copy pose",
        lambda: say(copy_pose(doc)),
        "Ctrl+C",
        "Copy the selected joints' pose at the playhead (all when none is selected)",
    )
    window.act_paste_pose = act(
        "Paste pose",
        lambda: say(paste_pose(doc)),
        "Ctrl+V",
        "Key the copied pose at the playhead (also from another project with the same names)",
    )
    window.act_paste_mirrored = act(
        "Paste pose mirrored",
        lambda: say(paste_pose(doc, mirrored=True)),
        "Ctrl+Shift+V",
        "Paste the copied pose with left and right swapped",
    )
    window.act_mirror = act(
        "Mirror pose",
        lambda: say(mirror_pose(doc)),
        "Ctrl+M",
        "Swap the left and right sides' pose at the playhead (…_l / …_r joints)",
    )
    window.act_loop = act(
        "Loop…",
        lambda: loop_range(window),
        None,
        "Keys from a start frame play again from an end frame on, without a seam",
    )
    window.act_unloop = act("No loop", lambda: doc.apply(poses.without_loop(doc.project), "No loop"))
    window.act_rotation_interp = act(
        "Interpolate by rotation",
        lambda on: set_interpolation(doc, on),
        None,
        "Between keys bones turn about their parents (off: joints slide in straight lines, as in files of other tools)",
        checkable=True,
    )
    window.act_rotation_interp.setChecked(doc.project.interpolation == "rotation")
    doc.changed.connect(lambda p: _show_checked(window.act_rotation_interp, p.interpolation == "rotation"))
    bar = window.menuBar()
    animate = next((a for a in bar.actions() if a.text() == "&Animate"), None)
    menu = window.menuBar().addMenu("&Pose")
    if animate is not None:
        bar.insertMenu(bar.actions()[bar.actions().index(animate) + 1], menu)
    menu.addActions([rotate, window.act_pin, window.act_chain])
    menu.addSeparator()
    menu.addActions([window.act_copy_pose, window.act_paste_pose, window.act_paste_mirrored, window.act_mirror])
    menu.addSeparator()
    menu.addActions([window.act_loop, window.act_unloop, window.act_rotation_interp])


def _show_checked(action: QAction, on: bool) -> None:
    action.blockSignals(True)
    action.setChecked(on)
    action.blockSignals(False)
