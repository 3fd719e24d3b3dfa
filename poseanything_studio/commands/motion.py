"""`poseanything-studio motion`: motion in (BVH, OpenPose/COCO keypoint JSON) and out (OpenPose JSON, pose videos).

    motion import PROJECT MOTION -o OUT.pasproj [--plane front|side|auto] [--start F] [--fps N]
                  [--map JOINT=SOURCE ...] [--tolerance PX] [--overwrite]
    motion export PROJECT -o OUT.json|DIR/ [--layout body25|coco18] [--overwrite]
    motion video PROJECT -o OUT.mp4|DIR/ [--style openpose|release|ours] [--overwrite]

MOTION is a .bvh file, a keypoint .json, a folder of OpenPose .json files, or a folder of pose images.
Imports retarget by bone direction onto the project's rig (its bone lengths hold) and write a new project
file; the input project is never changed unless `-o` names it and `--overwrite` is given.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .shared import EXIT_BAD_INPUT, OneLineParser

PROG = "poseanything-studio motion"


def parser() -> OneLineParser:
    p = OneLineParser(
        prog=PROG,
        description="Bring motion in from mocap or keypoint files, or take the rig's "
        "motion out as OpenPose JSON or pose videos.",
    )
    sub = p.add_subparsers(dest="action", required=True, parser_class=OneLineParser)
    imp = sub.add_parser("import", help="key a BVH clip or OpenPose/COCO keypoints onto the project's rig")
    imp.add_argument("project", help="the .pasproj file whose rig the motion drives")
    imp.add_argument(
        "motion",
        help="a .bvh file, an OpenPose/COCO .json file, a folder of OpenPose per-frame "
        ".json files, or a folder of pose images (ours, or the PoseAnything release's white lines): "
        "those replace the rig with the drawn one",
    )
    imp.add_argument("-o", "--output", required=True, help="the project file to write (OUT.pasproj)")
    imp.add_argument(
        "--plane",
        choices=("front", "side", "auto"),
        default="front",
        help="BVH: the plane the 3D motion is projected on (auto: the one with the most motion)",
    )
    imp.add_argument("--start", type=int, default=0, help="the project frame the motion starts at")
    imp.add_argument("--fps", type=float, help="keypoint files: frames per second (default: the project's)")
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="JOINT=SOURCE",
        help="BVH: map a rig joint to a clip joint by hand (repeat; replaces the guessed mapping)",
    )
    imp.add_argument("--tolerance", type=float, default=0.5, help="pixels the keys may miss the motion by")
    imp.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output")
    exp = sub.add_parser("export", help="the rig's motion as OpenPose JSON (human template joints)")
    exp.add_argument("project")
    exp.add_argument(
        "-o",
        "--output",
        required=True,
        help="OUT.json (the one-file form pose editors read) or DIR/ (one OpenPose file per frame)",
    )
    exp.add_argument("--layout", choices=("body25", "coco18"), default="body25")
    exp.add_argument("-y", "--overwrite", action="store_true")
    vid = sub.add_parser("video", help="the rig's motion as a pose video for other pose-driven models")
    vid.add_argument("project")
    vid.add_argument("-o", "--output", required=True, help="OUT.mp4, a folder, or a PNG pattern")
    vid.add_argument(
        "--style",
        choices=("openpose", "release", "ours"),
        default="openpose",
        help="openpose: the OpenPose palette (ControlNet, Wan-Animate, UniAnimate); release: the "
        "official PoseAnything release's white lines on black; ours: each bone in its own colour",
    )
    vid.add_argument("-y", "--overwrite", action="store_true")
    return p


def main(argv: list[str]) -> int:
    """Entry point of `poseanything-studio motion`."""
    args = parser().parse_args(argv)
    from poseanything_studio.core.errors import ProjectError
    from poseanything_studio.core.fileio import OutputPathError
    from poseanything_studio.rendering.export import OutputError

    try:
        return {"import": import_main, "export": export_main, "video": video_main}[args.action](args)
    except (ProjectError, OutputPathError, OutputError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT


def import_main(args) -> int:
    from poseanything_studio.core.fileio import check_output_file
    from poseanything_studio.core.motion_files import import_motion
    from poseanything_studio.core.project import load_project, save_project

    project = load_project(args.project)
    out = check_output_file(args.output, overwrite=args.overwrite, option="-o")
    mapping = _mapping(args.map) if args.map else None
    result, summary = import_motion(project, args.motion, mapping, args.plane, args.start, args.fps, args.tolerance)
    saved = save_project(result, out)
    print(f"{summary}; {_keys(saved)} keys in {saved.path}")
    return 0


def _keys(project) -> int:
    return sum(len(t.keys) for t in project.tracks.values())


def _mapping(pairs: list[str]) -> dict[str, str]:
    from poseanything_studio.core.errors import ProjectError

    mapping = {}
    for pair in pairs:
        joint, sep, source = pair.partition("=")
        if not sep or not joint or not source:
            raise ProjectError(f"--map {pair!r}: write JOINT=SOURCE, e.g. hand_l=LeftHand", key="--map")
        mapping[joint] = source
    return mapping


def export_main(args) -> int:
    from poseanything_studio.core.fileio import atomic_dir, atomic_write_text, check_output_file
    from poseanything_studio.core.openpose import human_keypoints, openpose_frames_json
    from poseanything_studio.core.project import load_project
    from poseanything_studio.rendering.job import make_job

    project = load_project(args.project)
    job = make_job(project)
    documents = openpose_frames_json(human_keypoints(job.rig.joint_ids, job.positions, args.layout), job.size)
    if args.output.endswith(("/", "\\")) or Path(args.output).is_dir():
        folder = Path(args.output)
        if folder.exists() and any(folder.iterdir()) and not args.overwrite:
            from poseanything_studio.core.fileio import OutputPathError

            raise OutputPathError(f"-o: {folder} is not empty; pass --overwrite to replace it")
        stem = Path(args.project).stem
        with atomic_dir(folder) as tmp:
            for f, document in enumerate(documents):
                (tmp / f"{stem}_{f:012d}_keypoints.json").write_text(json.dumps(document), encoding="utf-8")
        print(f"{len(documents)} OpenPose files in {folder}")
        return 0
    out = check_output_file(args.output, inputs=(args.project,), overwrite=args.overwrite, option="-o")
    atomic_write_text(out, json.dumps(documents) + "\n")
    print(f"{len(documents)} frames of OpenPose keypoints ({args.layout}) in {out}")
    return 0


def video_main(args) -> int:
    from poseanything_studio.core.openpose import coco18_from, draw_openpose, human_keypoints
    from poseanything_studio.core.project import load_project
    from poseanything_studio.core.raster import draw_pose, draw_release_pose
    from poseanything_studio.rendering.export import output_target, write_frames
    from poseanything_studio.rendering.job import make_job

    project = load_project(args.project)
    job = make_job(project)
    target = output_target(args.output)
    existing = target.existing(job.frames)
    if existing and not args.overwrite:
        from poseanything_studio.core.fileio import OutputPathError

        raise OutputPathError(f"-o: {existing[0]} exists; pass --overwrite to replace it")
    if args.style == "openpose":
        keypoints = coco18_from(human_keypoints(job.rig.joint_ids, job.positions, "body25"), "body25")
        frames = (draw_openpose(k, job.size) for k in keypoints)
    else:
        draw = draw_release_pose if args.style == "release" else draw_pose
        frames = (draw(job.rig, xy, job.size) for xy in job.positions)
    write_frames(frames, target, project.fps, job.size, job.frames)
    print(f"{job.frames} pose frames ({args.style}) in {args.output}")
    return 0
