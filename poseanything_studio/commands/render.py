"""`poseanything-studio render PROJECT -o OUT`: a project (or a clip of the official release's data) to a video or
PNG frames, with the render's progress on the terminal and its notices on stderr."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from poseanything_studio.core.modes import Init, Matching, Offload, PreviewKind, Renderer, values

from .shared import (
    EXIT_BAD_INPUT,
    EXIT_CANCELLED,
    EXIT_OK,
    PROG,
    OneLineParser,
    one_line,
    os_error_line,
    unencodable_line,
)


def parser() -> argparse.ArgumentParser:
    """The render command's options."""
    p = OneLineParser(
        prog=f"{PROG} render",
        description="Render a project (or a clip of the official release's "
        "data) to a video (MP4, GIF, WebM or ProRes with alpha) or PNG frames.",
    )
    p.add_argument("project", nargs="?", help="the .pasproj file")
    p.add_argument(
        "--release-clip",
        metavar="DATA/NAME",
        help="instead of a project, a clip in the official PoseAnything release's data layout (e.g. "
        "data/test/EZwrDYL6YIw_69: first_frame/NAME.png, skeleton_image/NAME/NNN.png, "
        "video/NAME_id.png, metadata.csv), read as the release reads it: 81 frames at 24 fps, to "
        "compare with the authors' videos frame by frame; needs --renderer poseanything (the "
        "default here), or --preview pose/parts",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="OUT.mp4 (H.264), OUT.gif (looping), OUT.webm (VP9 with the subject's alpha), OUT.mov "
        "(ProRes 4444 with the subject's alpha), a folder, or a PNG pattern like frames/f_%%05d.png",
    )
    p.add_argument(
        "--alpha",
        choices=("subject", "none"),
        help="subject: the frames' alpha is the subject (composite the character over other footage; "
        "PNGs become RGBA); none: the full frame, opaque. Default: subject for .webm and .mov, "
        "none otherwise; needs the puppet renderer",
    )
    p.add_argument("--renderer", choices=values(Renderer), help="default: the project's")
    p.add_argument("--frames", type=int, help="number of frames, 4k+1 (default: the project's)")
    p.add_argument("--size", type=_size_arg, help="WxH, multiples of 32 (default: the project's)")
    p.add_argument(
        "--preview",
        choices=values(PreviewKind),
        help="write the pose frames, the coloured part masks or the camera-rectangle frames (the "
        "neural renderer's negative CFG anchor) instead of the render",
    )
    p.add_argument(
        "--parts",
        choices=("dilated", "nearest"),
        default="dilated",
        help="part masks: the paper's capped dilation of each bone (default), or a nearest-bone "
        "partition of the subject",
    )
    p.add_argument("-y", "--overwrite", action="store_true", help="replace an existing output without asking")
    neural = p.add_argument_group("poseanything renderer")
    neural.add_argument("--model-dir", help="local Wan2.2-TI2V-5B diffusers folder")
    neural.add_argument(
        "--checkpoint",
        help="PoseAnything checkpoint (.safetensors); default: "
        "poseanything.safetensors in the model folder, else none (the base Wan2.2 model, which "
        "ignores the pose)",
    )
    neural.add_argument(
        "--device", type=_device_arg, default="cuda", help="cuda, cuda:N or cpu (cpu: test models only)"
    )
    neural.add_argument(
        "--init",
        choices=(Init.NOISE.value, Init.PUPPET.value),
        help="start from noise, or refine the puppet render (SDEdit); default: the project's, "
        "which is puppet without a checkpoint and noise with one",
    )
    neural.add_argument(
        "--strength",
        type=float,
        help="with --init puppet: how much of the schedule to re-run, 0 < S <= 1 (near 0: the "
        "puppet video; 1: a plain render); default: the project's (0.4)",
    )
    neural.add_argument("--steps", type=int, help="denoising steps")
    neural.add_argument("--guidance", type=float, help="guidance scale")
    neural.add_argument("--seed", type=int, help="random seed")
    neural.add_argument(
        "--matching",
        choices=values(Matching),
        default="identity",
        help="PTCM part matching: identity (a rig made here: each bone keeps its part) or "
        "attention (an imported skeleton whose bones may not correspond across frames)",
    )
    neural.add_argument(
        "--release-parts",
        choices=("release", "rig"),
        help="with the official weights: the release's skeleton segments matched by its probe "
        "(default), or ours: one part per rig bone matched by identity (--parts picks the rule)",
    )
    neural.add_argument(
        "--offload",
        choices=values(Offload),
        default="auto",
        help="GPU memory: none (all on the GPU), model (one component at a time), group (the "
        "transformer streamed block by block: 1280x704x121 in a 24 GB card); auto picks by "
        "free GPU memory",
    )
    neural.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the transformer's repeated blocks (the first steps compile, later ones run faster)",
    )
    return p


def _device_arg(text: str) -> str:
    if text in ("cuda", "cpu") or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not cuda, cuda:N or cpu")


def _size_arg(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH, e.g. 832x480") from None
    if w % 32 or h % 32 or not (32 <= w <= 4096 and 32 <= h <= 4096):
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be multiples of 32 from 32 to 4096")
    return (w, h)


def main(argv: list[str]) -> int:
    """`poseanything-studio render`: project file in, video out."""
    args = parser().parse_args(argv)
    from poseanything_studio.core.errors import ProjectError
    from poseanything_studio.rendering.events import RenderCancelled, RenderError
    from poseanything_studio.rendering.export import OutputError

    previous = _stop_cleanly_on(("SIGTERM", "SIGHUP"))
    try:
        return _render_release(args) if args.release_clip is not None else _render(args)
    except StopSignal as stop:
        print(f"stopped by {stop.name}: nothing was written", file=sys.stderr)
        return 128 + stop.number
    except ImportError as err:  # a signal that lands while a C extension initialises comes out as its ImportError
        stop = err.__cause__ or err.__context__
        if not isinstance(stop, StopSignal):
            raise
        print(f"stopped by {stop.name}: nothing was written", file=sys.stderr)
        return 128 + stop.number
    except (ProjectError, OutputError, RenderError) as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (KeyboardInterrupt, RenderCancelled):
        print("cancelled: nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    except OSError as err:  # the system refused: a full disk, a name too long, a file gone mid-render
        print(f"error: {os_error_line(err)}; nothing was written", file=sys.stderr)
        return EXIT_BAD_INPUT
    except MemoryError:
        print("error: out of memory: render fewer frames or a smaller size; nothing was written", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnicodeError as err:
        print(f"error: {unencodable_line(err)}; nothing was written", file=sys.stderr)
        return EXIT_BAD_INPUT
    finally:
        _restore_signals(previous)


class StopSignal(BaseException):
    """A TERM or HUP arrived: unwind (temporaries are removed on the way out), then exit 128 + the signal."""

    def __init__(self, number: int):
        import signal

        super().__init__(number)
        self.number, self.name = number, signal.Signals(number).name


def _stop_cleanly_on(names: tuple[str, ...]) -> dict:
    """Turn these signals into StopSignal in the main thread, so a closed terminal or `kill` leaves no temporaries.

    Returns the handlers replaced, for `_restore_signals`.
    """
    import signal

    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(number, frame):
        raise StopSignal(number)

    replaced = {}
    for name in names:
        number = getattr(signal, name, None)
        if number is not None and signal.getsignal(number) == signal.SIG_DFL:
            replaced[number] = signal.signal(number, stop)
    return replaced


def _restore_signals(replaced: dict) -> None:
    import signal

    for number, handler in replaced.items():
        signal.signal(number, handler)


def _render(args: argparse.Namespace) -> int:
    from poseanything_studio.core.errors import ProjectError
    from poseanything_studio.core.project import MAX_FRAMES, load_project
    from poseanything_studio.rendering.export import FrameWriter, OutputError, output_target
    from poseanything_studio.rendering.job import make_job, neural_options

    if args.project is None:
        raise ProjectError("give a .pasproj project, or --release-clip DATA/NAME", key="project")
    from poseanything_studio.rendering.runner import run

    if args.frames is not None and (args.frames < 1 or args.frames % 4 != 1 or args.frames > MAX_FRAMES):
        raise ProjectError(f"{args.frames} must be 4k+1 between 1 and {MAX_FRAMES} (e.g. 49, 81, 121)", key="--frames")
    if args.steps is not None and not 1 <= args.steps <= 1000:
        raise ProjectError(f"{args.steps} must be a whole number from 1 to 1000", key="--steps")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ProjectError(f"{args.seed} must be a whole number >= 0", key="--seed")
    if args.guidance is not None and not 0 <= args.guidance <= 50:  # also refuses nan
        raise ProjectError(f"{args.guidance} must be a number from 0 to 50", key="--guidance")
    if args.strength is not None and not 0 < args.strength <= 1:  # also refuses nan
        raise ProjectError(f"{args.strength} must be a number above 0 and at most 1", key="--strength")
    target = output_target(args.output, alpha=False if args.alpha == "none" else None)
    project = load_project(args.project)
    neural = neural_options(
        project,
        model_dir=args.model_dir,
        checkpoint=args.checkpoint,
        device=args.device,
        matching=args.matching,
        init=args.init,
        strength=args.strength,
        offload=args.offload,
        compile=args.compile or None,
        release_parts=args.release_parts,
    )
    try:
        job = make_job(
            project,
            renderer=args.renderer,
            frames=args.frames,
            size=args.size,
            preview=args.preview,
            steps=args.steps,
            guidance=args.guidance,
            seed=args.seed,
            neural=neural,
            part_rule=args.parts,
        )
    except ProjectError as err:
        raise err.located(project.source) from None
    target, job = _with_alpha(target, job, args.alpha)
    existing = target.existing(job.frames)
    _refuse_own_inputs(existing, project)
    if existing and not args.overwrite and not _confirm_overwrite(existing):
        raise OutputError(f"{existing[0]}: exists; pass --overwrite to replace it")
    cancel = threading.Event()
    # Agreed to replace what exists (or --overwrite): else a file that appears meanwhile is kept, not replaced.
    writer = FrameWriter(target, job.fps, job.size, job.frames, overwrite=bool(existing) or args.overwrite)
    return _write_events(run(job, cancel), writer, job.frames, cancel)


def _write_events(events, writer, frames: int, cancel: threading.Event) -> int:
    """A render's events into `writer` (frames), the terminal's progress bar (progress) and stderr (notices)."""
    from poseanything_studio.rendering.events import Frame, Notice, Progress

    bar = _progress_bar(frames)
    try:
        with writer:
            for event in events:
                if isinstance(event, Frame):
                    writer.write(event.image, event.alpha)
                elif isinstance(event, Notice):
                    (bar.write if bar is not None else _print_err)(f"note: {event.text}")
                elif isinstance(event, Progress) and bar is not None:
                    bar.set_description(event.stage)
                    bar.total, bar.n = event.total, event.done
                    bar.refresh()
    finally:
        cancel.set()
        if bar is not None:
            bar.close()
    if sys.stderr.isatty():
        print(f"wrote {writer.target.path}", file=sys.stderr)
    return EXIT_OK


def _render_release(args: argparse.Namespace) -> int:
    """`render --release-clip DATA/NAME`: the release's own test clip, read as test_ddp.py reads it."""
    from poseanything_studio.core.errors import ProjectError
    from poseanything_studio.core.fileio import same_file
    from poseanything_studio.core.release import colour_release_parts, load_release_clip
    from poseanything_studio.rendering.export import OutputError, output_target

    refused = [
        (args.project is not None, "project", "give either a project or --release-clip"),
        (args.frames is not None, "--frames", "a release clip is always 81 frames"),
        (args.size is not None, "--size", "a release clip is rendered at the release's size of its pictures"),
        (args.preview == "camera", "--preview", "the release has no camera: preview pose or parts"),
        (
            args.renderer == "puppet",
            "--renderer",
            "a release clip has skeleton images but no rig for the puppet to deform: use --renderer "
            "poseanything, or --preview pose/parts",
        ),
        (args.init == "puppet", "--init", "a release clip has no rig for the puppet: use --init noise"),
        (args.alpha == "subject", "--alpha", "a release clip is rendered whole, with no subject alpha"),
    ]
    for given, key, why in refused:
        if given:
            raise ProjectError(why, key=key)
    target = output_target(args.output, alpha=False)
    render_release = _release_renderer() if args.preview is None else None  # before the clip's seconds of reading
    clip = load_release_clip(args.release_clip)
    existing = target.existing(clip.plan.output_frames)
    if any(same_file(path, Path(item)) for path in existing for item in clip.files):
        raise OutputError(f"{existing[0]}: is an input of this render; write the output elsewhere")
    if existing and not args.overwrite and not _confirm_overwrite(existing):
        raise OutputError(f"{existing[0]}: exists; pass --overwrite to replace it")
    _print_err(f"note: {clip.plan.message}")
    if args.preview is not None:
        frames = clip.pose_frames if args.preview == "pose" else colour_release_parts(clip)
        return _write_frames(target, clip.plan.fps, clip.size, list(frames), overwrite=bool(existing) or args.overwrite)
    return _render_release_neural(args, clip, target, render_release, overwrite=bool(existing) or args.overwrite)


def _write_frames(target, fps: float, size: tuple[int, int], frames: list, overwrite: bool) -> int:
    """Write `frames` to `target` (`overwrite`: replace what exists, else keep a file that appears meanwhile)."""
    from poseanything_studio.rendering.export import FrameWriter

    with FrameWriter(target, fps, size, len(frames), overwrite=overwrite) as writer:
        for frame in frames:
            writer.write(frame)
    if sys.stderr.isatty():
        print(f"wrote {target.path}", file=sys.stderr)
    return EXIT_OK


def _release_renderer():
    """`rendering.neural.render_release` (the release pipeline), or RenderError when this build has none."""
    from poseanything_studio.rendering.events import RenderError

    try:
        from poseanything_studio.rendering import neural  # imports torch
    except ModuleNotFoundError as err:
        raise RenderError(
            f"the poseanything renderer cannot start: {err} (install it with "
            "`pip install 'poseanything-studio[neural]'`, or use --preview pose/parts)"
        ) from None
    render_release = getattr(neural, "render_release", None)
    if render_release is None:
        raise RenderError(
            "this build has no release pipeline yet (rendering.neural.render_release): only "
            "--preview pose or --preview parts work for --release-clip"
        )
    return render_release


def _render_release_neural(args: argparse.Namespace, clip, target, render_release, overwrite: bool) -> int:
    """The neural render of a release clip: `render_release(clip, options, steps=, guidance=, seed=, cancel=)`
    yields the video's frames (`clip.plan.output_frames` of them, at `clip.plan.fps`) and notices."""
    from poseanything_studio.rendering.export import FrameWriter
    from poseanything_studio.rendering.job import NeuralOptions

    options = NeuralOptions(
        model_dir=args.model_dir,
        checkpoint=args.checkpoint,
        device=args.device,
        matching="attention",
        init="noise",
        offload=args.offload,
        compile=args.compile,
    )
    cancel = threading.Event()
    writer = FrameWriter(target, clip.plan.fps, clip.size, clip.plan.output_frames, overwrite=overwrite)
    events = render_release(clip, options, steps=args.steps, guidance=args.guidance, seed=args.seed, cancel=cancel)
    return _write_events(events, writer, clip.plan.output_frames, cancel)


def _with_alpha(target, job, wanted: str | None):
    """The output and the job agreeing on alpha: `--alpha subject` needs a format with alpha and the puppet (the
    neural renderer knows no subject alpha: its WebM or MOV is opaque, said in a note); previews are opaque."""
    from dataclasses import replace

    from poseanything_studio.core.errors import ProjectError
    from poseanything_studio.rendering.export import with_alpha

    knows_alpha = job.renderer == "puppet" and job.preview is None
    if wanted == "subject":
        if not knows_alpha:
            raise ProjectError(
                "the subject's alpha comes from the puppet renderer only (use --renderer puppet, "
                "without --preview, or --alpha none)",
                key="--alpha",
            )
        target = with_alpha(target, True)
    elif target.alpha and not knows_alpha:
        target = with_alpha(target, False)
        _print_err(f"note: {target.path.name}: opaque (the subject's alpha comes from the puppet renderer only)")
    return target, replace(job, alpha=target.alpha)


def _refuse_own_inputs(existing: list[Path], project) -> None:
    """OutputError when the output would replace the project file, its picture or its mask."""
    from poseanything_studio.core.fileio import same_file
    from poseanything_studio.rendering.export import OutputError

    inputs = [
        project.path,
        project.resolve(project.image),
        project.resolve(project.subject_mask) if project.subject_mask else None,
    ]
    for path in existing:
        if any(item is not None and same_file(path, item) for item in inputs):
            raise OutputError(f"{path}: is an input of this render; write the output elsewhere")


def _print_err(text: str) -> None:
    print(text, file=sys.stderr)


def _confirm_overwrite(existing: list[Path]) -> bool:
    """Ask on a terminal whether to replace existing output; never replace silently."""
    if not sys.stdin.isatty():
        return False
    more = f" and {len(existing) - 1} more" if len(existing) > 1 else ""
    answer = input(f"{existing[0]}{more} exists. Replace? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _progress_bar(total: int):
    """A tqdm bar on a terminal; None when output goes to a file or pipe (quiet)."""
    if not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", dynamic_ncols=True, leave=False)
