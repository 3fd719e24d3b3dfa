"""The `poseanything` renderer: the PoseAnything model (model/) behind the same protocol as `puppet`.

Imported only when that renderer is asked for (it imports torch). Needs a local Wan2.2-TI2V-5B diffusers
folder; the PoseAnything checkpoint is optional. Without one the model is the base Wan2.2 (pose half and
PTCM zero: the pose is ignored), so the render starts from the puppet render and refines it (SDEdit,
`init="puppet"`), keeping the puppet's motion. Any problem is a RenderError of one line, and there is
never a fallback to another renderer. The pipeline runs in a worker thread so that each denoising step
can be yielded as progress and previews; cancel interrupts it before the next step.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import diffusers  # noqa: F401  the [neural] extra: missing, runner.renderer_for names it in one line
import numpy as np
import torch

from poseanything_studio.core.model_files import (
    CHECKPOINT_NAME,  # looked for in the model folder when --checkpoint is not given
)
from poseanything_studio.core.parts import colour_parts, posed_part_masks, rest_part_masks
from poseanything_studio.core.project import INITS
from poseanything_studio.core.raster import camera_frames, pose_frames

from .events import Frame, Notice, Preview, Progress, RenderCancelled, RenderError, RenderEvent, check_cancel

NO_CHECKPOINT = (
    "no PoseAnything checkpoint: running the base Wan2.2 model, which ignores the pose (pose half and "
    "PTCM are zero); it refines the puppet render"
)
_cache: dict[tuple, object] = {}  # one loaded pipeline, reused by the next render with the same settings


def forget_loaded_pipeline() -> None:
    """Drop the loaded pipeline, so the next render loads its model from disk again."""
    _cache.clear()


_cache_lock = threading.Lock()


class PoseAnythingRenderer:
    """The `poseanything` renderer: Wan2.2-TI2V-5B with pose latents, PTCM and decoupled camera CFG."""

    name = "poseanything"

    def render(self, job, cancel: threading.Event) -> Iterator[RenderEvent]:
        checkpoint = resolve_checkpoint(job.neural.model_dir, job.neural.checkpoint)
        if is_release(checkpoint):
            yield from render_project_release(job, cancel)
            return
        init = effective_init(job.neural.init, checkpoint)
        check_strength(job.neural.strength)
        if checkpoint is None:
            yield Notice(NO_CHECKPOINT if init == "puppet" else NO_CHECKPOINT.split(";")[0])
        check_cancel(cancel)
        yield Progress(0, job.steps, "load")
        pipe = load_pipeline(
            job.neural.model_dir, checkpoint, job.neural.device, job.neural.offload, job.neural.compile
        )
        inputs = job_inputs(job)
        if init == "puppet" and job.neural.strength < 1:
            inputs["video"] = yield from puppet_video(job, cancel)
        yield Progress(0, job.steps, "steps")
        yield from _run_pipeline(pipe, job, inputs, cancel)


def resolve_checkpoint(model_dir: str | None, checkpoint: str | None) -> Path | None:
    """The checkpoint to load: the one given, else poseanything.safetensors in the model folder, else None."""
    if not model_dir:
        raise RenderError(
            "the poseanything renderer needs --model-dir DIR, a local Wan2.2-TI2V-5B diffusers folder "
            "(`poseanything-studio model tiny DIR` writes a tiny test one)"
        )
    from poseanything_studio.model.errors import ModelError
    from poseanything_studio.model.pipeline import check_model_dir

    try:
        check_model_dir(model_dir)
    except ModelError as err:
        raise RenderError(str(err)) from None
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.exists():  # a file, or the official weights' folder
            raise RenderError(f"{path}: checkpoint not found (leave it out to run the base Wan2.2 model)")
        return path
    default = Path(model_dir).expanduser() / CHECKPOINT_NAME
    return default if default.is_file() else None


def effective_init(init: str, checkpoint: Path | None) -> str:
    """What the render starts from: "auto" is the puppet render without a checkpoint, noise with one."""
    if init not in INITS:
        raise RenderError(f"unknown init {init!r} (use noise or puppet)")
    if init == "auto":
        return "noise" if checkpoint is not None else "puppet"
    return init


def check_strength(strength: float) -> None:
    """A RenderError unless 0 < strength <= 1."""
    if not 0 < strength <= 1:  # also refuses nan
        raise RenderError(f"strength {strength} must be above 0 and at most 1")


def load_pipeline(model_dir: str, checkpoint: Path | None, device: str, offload: str = "auto", compile: bool = False):
    """The loaded pipeline for these settings (cached); ModelError becomes RenderError."""
    from poseanything_studio.model.errors import ModelError
    from poseanything_studio.model.pipeline import PoseAnythingPipeline

    key = (
        str(Path(model_dir).expanduser().resolve()),
        str(checkpoint.resolve()) if checkpoint else None,
        device,
        offload,
        compile,
    )
    with _cache_lock:
        if key not in _cache:
            _cache.clear()  # one model in memory at a time
            try:
                pipe = PoseAnythingPipeline.from_pretrained(
                    key[0], checkpoint, device=device, offload=offload, compile=compile
                )
            except ModelError as err:
                raise RenderError(str(err)) from None
            pipe.set_progress_bar_config(disable=True)
            _cache[key] = pipe
        return _cache[key]


def puppet_video(job, cancel: threading.Event):
    """The puppet render of `job` as (F, H, W, 3) uint8, yielding its progress (stage "puppet")."""
    from .puppet import PuppetRenderer

    frames = []
    for event in PuppetRenderer().render(job, cancel):
        if isinstance(event, Frame):
            frames.append(event.image)
        elif isinstance(event, Progress):
            yield Progress(event.done, event.total, "puppet")
    return np.stack(frames)


def job_inputs(job) -> dict:
    """The pipeline's inputs from a job: picture, pose frames, camera rectangles, pooled part masks."""
    from poseanything_studio.model.part_attention import pool_part_masks

    rest = rest_part_masks(job.mask, job.rig, job.rest_xy, job.part_rule)  # (B, H, W)
    coverage = []  # latent frame 0 is pixel frame 0, latent frame k pixel frames 4k-3..4k
    for start, stop in [(0, 1)] + [(f, f + 4) for f in range(1, job.frames, 4)]:
        masks = posed_part_masks(rest, job.rig, job.rest_xy, job.positions[start:stop])  # (<=4, B, H, W)
        pooled = pool_part_masks(masks[:1]) if stop == 1 else pool_part_masks(np.concatenate([masks[:1], masks]))[1:]
        coverage.append(pooled.numpy())
    return {
        "image": np.ascontiguousarray(job.image[..., :3]),
        "pose_frames": pose_frames(job.rig, job.positions, job.size),
        "camera_frames": camera_frames(job.camera, job.size),
        "part_coverage": np.concatenate(coverage),  # (F', B, h, w)
        "rest_parts": rest,
    }


CALLBACK_INPUTS = ("preview", "part_tokens", "attention_matching")


def _run_pipeline(pipe, job, inputs: dict, cancel: threading.Event) -> Iterator[RenderEvent]:
    """Run the pipeline in a thread; yield its per-step events, then the frames."""

    events: queue.Queue = queue.Queue()
    callback = _step_callback(job, inputs, cancel, events)

    def call():
        return pipe(
            inputs["image"],
            inputs["pose_frames"],
            None,
            inputs["camera_frames"],
            prompt=job.prompt,
            negative_prompt=job.negative_prompt,
            num_inference_steps=job.steps,
            guidance_scale=job.guidance,
            generator=torch.Generator("cpu").manual_seed(job.seed),
            video=inputs.get("video"),
            strength=job.neural.strength if "video" in inputs else 1.0,
            callback_on_step_end=callback,
            callback_on_step_end_tensor_inputs=CALLBACK_INPUTS,
            part_coverage=inputs["part_coverage"],
            matching=job.neural.matching,
        ).frames[0]

    value = yield from _in_worker(pipe, call, events, cancel, "poseanything-render")
    yield Progress(pipe.num_timesteps, pipe.num_timesteps, "decode")
    for f, image in enumerate(value):
        check_cancel(cancel)
        yield Frame(f, image)
        yield Progress(f + 1, job.frames, "frames")


def _step_callback(job, inputs: dict, cancel: threading.Event, events: queue.Queue):
    """The pipeline's callback: progress, the x0 picture, PTCM's part tokens and matching, as events."""
    drawn: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # kind -> (value, picture): redrawn only on a change

    def callback(p, step, timestep, kwargs):
        if cancel.is_set():
            p.interrupt = True
        events.put(Progress(step + 1, p.num_timesteps, "steps"))
        preview = kwargs["preview"]  # (F', h, w, 3)
        events.put(Preview("prediction", _upscale(preview[len(preview) // 2], job.size), index=step, data=preview))
        for kind, value, draw in (
            ("parts", kwargs["part_tokens"], _token_picture),
            ("matching", kwargs["attention_matching"], _matching_picture),
        ):
            if value is None:
                continue
            if kind not in drawn or not np.array_equal(drawn[kind][0], value):
                drawn[kind] = (value, draw(job, inputs["rest_parts"], value))
            events.put(Preview(kind, drawn[kind][1], index=step, data=value))  # every step: what this step used
        return {}

    return callback


def _token_picture(job, _rest: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """PTCM's part tokens on the token grid (32x32 pixels each): first latent frame | last, in the bones' colours."""
    pictures = [
        colour_parts(np.stack([_upscale(m.astype(np.uint8), job.size) for m in frame]).astype(bool), job.rig)
        for frame in (tokens[0], tokens[-1])
    ]
    for picture in pictures:  # the grid lines, so a token reads as a token
        h, w = tokens.shape[2:]
        picture[:: max(1, job.size[1] // h)] //= 2
        picture[:, :: max(1, job.size[0] // w)] //= 2
    gap = np.full((job.size[1], 8, 3), 255, np.uint8)
    return np.concatenate([pictures[0], gap, pictures[1]], axis=1)


def _upscale(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)


def _matching_picture(job, rest: np.ndarray, matching: np.ndarray) -> np.ndarray:
    """First frame's parts beside the last frame's, each in the colour of the first-frame part matched to it."""
    first, last = posed_part_masks(rest, job.rig, job.rest_xy, job.positions[[0, -1]])
    recoloured = np.zeros_like(last)
    for j, t in enumerate(matching[-1]):
        recoloured[j] |= last[t]
    gap = np.full((job.size[1], 8, 3), 255, np.uint8)
    return np.concatenate([colour_parts(first, job.rig), gap, colour_parts(recoloured, job.rig)], axis=1)


# -- the official weights: the release's inputs and sampling ------------------------------------------------------
CAMERA_NEEDS_GUIDANCE = (
    "the keyed camera is left out: it works through the negative anchor, which needs guidance "
    "above 1 (the release's is 1: one pass); set --guidance (e.g. 5) to use it"
)
RELEASE_CALLBACK_INPUTS = ("preview", "stage", "release_parts")


def is_release(checkpoint: Path | None) -> bool:
    """Whether `checkpoint` is the authors' released DiT (a folder, its shards or the TikTok file)."""
    from poseanything_studio.model.release import is_release_checkpoint

    return checkpoint is not None and is_release_checkpoint(checkpoint)


def release_settings(pipe, steps: int | None, guidance: float | None, seed: int | None) -> tuple[int, float, int, str]:
    """(steps, guidance, seed, notice): the release's defaults where the user gave none, and a line saying so."""
    defaults = pipe.defaults
    chosen = (
        steps or defaults.steps,
        defaults.guidance if guidance is None else guidance,
        defaults.seed if seed is None else seed,
    )
    given = [name for name, value in (("steps", steps), ("guidance", guidance), ("seed", seed)) if value is not None]
    mark = dict.fromkeys(given, " (yours)")
    notice = (
        f"official weights: {defaults.sampler}; {chosen[0]} steps{mark.get('steps', '')}, guidance "
        f"{chosen[1]:g}{mark.get('guidance', '')}{' (one pass)' if chosen[1] == 1 else ''}, seed {chosen[2]}"
        f"{mark.get('seed', '')}" + ("" if given else " (the release's settings)")
    )
    return (*chosen, notice)


def render_release(
    inputs,
    options,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    cancel: threading.Event | None = None,
    camera: np.ndarray | None = None,
    own_parts: tuple | None = None,
    video: np.ndarray | None = None,
) -> Iterator[RenderEvent]:
    """Render the release's inputs (`core.release.ReleaseInputs`, a project's or a release clip's) with the official
    weights as the release does: yields notices, the Parts and Matching previews, progress over the probe's 5
    steps and the render's, and the first `inputs.plan.output_frames` frames.

    steps / guidance / seed None: the release's (50, 1, 123). camera (81, H, W, 3): our camera rectangles for the
    negative anchor (used only with guidance above 1). own_parts (binary_masks, union_masks): our rig's parts
    matched by identity instead of the release's segments and probe. video (81, H, W, 3): ours, the puppet
    render to refine with `options.strength`.
    """
    cancel = cancel or threading.Event()
    checkpoint = resolve_checkpoint(options.model_dir, options.checkpoint)
    if not is_release(checkpoint):
        raise RenderError(
            "the release's pipeline needs the official PoseAnything weights: --checkpoint the folder of "
            "Ryan241005/PoseAnything (or its shards), see docs/neural.md"
        )
    check_cancel(cancel)
    yield Progress(0, 1, "load")
    pipe = load_pipeline(options.model_dir, checkpoint, options.device, options.offload, options.compile)
    steps, guidance, seed, notice = release_settings(pipe, steps, guidance, seed)
    yield Notice(notice)
    yield Notice(inputs.plan.message)
    if camera is not None and guidance <= 1:
        yield Notice(CAMERA_NEEDS_GUIDANCE)
        camera = None
    masks = own_parts[0] if own_parts is not None else inputs.binary_masks
    if masks and not len(masks[0]):
        yield Notice("the first frame has no parts (no pose segments inside the subject): PTC and its probe are off")
        masks = None
    if masks:
        yield Preview("release_parts", _release_parts_picture(inputs, masks), index=0)
    refine = video is not None and options.strength < 1
    total = (
        steps
        - (steps - math.ceil(options.strength * steps) if refine else 0)
        + (PROBE_STEPS_SHOWN if masks and own_parts is None else 0)
    )
    yield Progress(0, total, "probe" if total > steps else "steps")
    call = {
        "image": inputs.picture,
        "pose_frames": inputs.pose_frames,
        "binary_masks": masks,
        "condition_index": list(inputs.condition_index),
        "prompt": inputs.prompt,
        "num_inference_steps": steps,
        "guidance_scale": guidance,
        "generator": torch.Generator("cpu").manual_seed(seed),
        "camera_frames": camera,
        "union_masks": None if own_parts is None else own_parts[1],
        "video": video if refine else None,
        "strength": options.strength if refine else 1.0,
    }
    frames = yield from _run_release_pipeline(pipe, inputs, call, cancel)
    yield Progress(total, total, "decode")
    for f in range(inputs.plan.output_frames):
        check_cancel(cancel)
        yield Frame(f, frames[f])
        yield Progress(f + 1, inputs.plan.output_frames, "frames")


PROBE_STEPS_SHOWN = 5  # model.release_sampling.PROBE_STEPS


def render_project_release(job, cancel: threading.Event) -> Iterator[RenderEvent]:
    """A project with the official weights: the release's inputs made from it (core.release), then `render_release`.

    Steps, guidance and seed the user did not choose are the release's; the camera joins only with guidance
    above 1; `release_parts="rig"` swaps the release's segments and probe for our rig's parts by identity.
    """
    from poseanything_studio.core.release import release_inputs

    if job.neural.release_parts not in ("release", "rig"):
        raise RenderError(f"unknown release parts {job.neural.release_parts!r} (use release or rig)")
    inputs = release_inputs(job.project, job.painted_mask, frames=job.frames, size=job.size)
    yield Notice(
        f"subject mask for the part masks: {inputs.mask_source}; size {inputs.size[0]}x{inputs.size[1]} "
        "(the release's resize: long side 832, both sides floored to 32)"
    )
    moving = bool((job.camera != job.camera[:1]).any())
    camera = release_camera(job.project, inputs) if moving else None
    own = rig_release_parts(job, inputs) if job.neural.release_parts == "rig" else None
    if own is not None:
        yield Notice(
            "PTC reads the rig's parts (one per bone) matched by identity, not the release's segments and probe (ours)"
        )
    chosen = {name: getattr(job, name) if name in job.explicit else None for name in ("steps", "guidance", "seed")}
    video = None
    if job.neural.init == "puppet":  # ours: refine the puppet render (off unless asked: "auto" is noise here)
        check_strength(job.neural.strength)
        video = yield from release_puppet_video(job, inputs, cancel)
        yield Notice(
            f"refining the puppet render (ours): the last {job.neural.strength:g} of the schedule, the "
            "probe and PTC's steps moved to its start"
        )
    frames = render_release(
        inputs, job.neural, chosen["steps"], chosen["guidance"], chosen["seed"], cancel, camera, own, video
    )
    yield from as_job_frames(frames, inputs.plan, inputs.size, job)


def as_job_frames(events: Iterator[RenderEvent], plan, size: tuple[int, int], job) -> Iterator[RenderEvent]:
    """The release's frames as the job asked for them: `job.frames` frames at `job.fps` and `job.size`.

    The release renders `plan.output_frames` frames at `plan.fps` (fewer, slower, for a project longer than 81
    frames) at its own size (long side 832); each job frame takes the release frame at its time, scaled to the
    job's size, so a render always has the frames and size its project (or --frames/--size) says, as the other
    renderers' do. Says so once when it retimes or rescales.
    """
    fps = job.project.fps
    retime = plan.output_frames != job.frames or abs(plan.fps - fps) > 1e-9
    rescale = tuple(size) != tuple(job.size)
    if retime or rescale:
        yield Notice(
            f"the release rendered {plan.output_frames} frames at {plan.fps:g} fps, {size[0]}x{size[1]}; "
            f"written as {job.frames} frames at {fps:g} fps, {job.size[0]}x{job.size[1]}"
        )
    rendered: list[np.ndarray] = []
    for event in events:
        if not isinstance(event, Frame):
            yield event
            continue
        rendered.append(event.image)
        if not retime:
            yield Frame(event.index, _fitted(event.image, job.size))
    if retime:
        last = len(rendered) - 1
        for f in range(job.frames):
            source = min(last, round(f / fps * plan.fps))
            yield Frame(f, _fitted(rendered[source], job.size))


def _fitted(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return cv2.resize(image, tuple(size), interpolation=cv2.INTER_AREA)


def release_puppet_video(job, inputs, cancel: threading.Event):
    """The puppet render at the release's size on its 81 frames (frames past the project hold its last one)."""
    from .job import make_job

    puppet_job = make_job(
        job.project,
        renderer="puppet",
        frames=job.frames,
        size=inputs.size,
        neural=job.neural,
        mask=job.painted_mask,
        part_rule=job.part_rule,
    )
    frames = yield from puppet_video(puppet_job, cancel)
    last = len(frames) - 1
    times = [t for t in inputs.plan.sources if t is not None]
    return np.stack([frames[min(last, round(t if t is not None else times[-1]))] for t in inputs.plan.sources])


def _token_part(mask: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """A pixel part mask on the token grid: tokens a quarter covered, or the best one (as our PTCM's token masks)."""
    coverage = cv2.resize(mask.astype(np.float32), grid, interpolation=cv2.INTER_AREA)
    tokens = coverage >= 0.25
    if coverage.max() > 0:
        tokens.flat[int(coverage.argmax())] = True
    return tokens


def release_camera(project, inputs) -> np.ndarray:
    """Our camera rectangles on the release's 81 frames at its size (frames without a pose hold the last one)."""
    track = project.camera.sample(project.frames)  # (F, 4)
    times = [t for t in inputs.plan.sources if t is not None]
    rows = [track[min(len(track) - 1, round(t if t is not None else times[-1]))] for t in inputs.plan.sources]
    return camera_frames(np.stack(rows), inputs.size)


def rig_release_parts(job, inputs) -> tuple:
    """Ours with the official weights: each rig bone's part on the token grid per posed frame, matched by identity."""
    from poseanything_studio.core.camera import apply_affine
    from poseanything_studio.core.project import reference_to_output
    from poseanything_studio.core.release import project_positions
    from poseanything_studio.model.release_sampling import identity_union_masks

    width, height = inputs.size
    picture_h, picture_w = job.project.read_image().shape[:2]  # one decode, not one per side
    to_output = reference_to_output((picture_w, picture_h), inputs.size)
    rest = rest_part_masks(
        cv2.resize(job.mask.astype(np.uint8), inputs.size, interpolation=cv2.INTER_NEAREST) > 0,
        job.rig,
        apply_affine(to_output, job.project.rig.rest_xy()),
        job.part_rule,
    )
    times = [inputs.plan.sources[i] for i in inputs.condition_index]
    positions = apply_affine(to_output, project_positions(job.project, times))
    posed = posed_part_masks(rest, job.rig, apply_affine(to_output, job.project.rig.rest_xy()), positions)
    grid = (width // 32, height // 32)
    binary = [[_token_part(m, grid) for m in frame] for frame in posed]
    latent_frames = (len(inputs.pose_frames) - 1) // 4 + 1
    union = identity_union_masks(binary, list(inputs.condition_index), latent_frames).union_masks
    return binary, union


def _run_release_pipeline(pipe, inputs, call: dict, cancel: threading.Event):
    """pipe.release_call in a worker thread; yields its progress and previews, returns the frames (F, H, W, 3)."""

    events: queue.Queue = queue.Queue()
    shown: list[int] = []

    def callback(p, step, _t, kwargs):
        if cancel.is_set():
            p.interrupt = True
        events.put(Progress(step + 1, p.num_timesteps, kwargs["stage"]))
        preview = kwargs["preview"]
        events.put(Preview("prediction", _upscale(preview[len(preview) // 2], inputs.size), index=step, data=preview))
        parts = kwargs["release_parts"]
        if parts is not None and not shown:  # once, as soon as the probe has matched
            shown.append(step)
            events.put(
                Preview(
                    "release_matching",
                    _release_matching_picture(inputs, parts),
                    index=step,
                    data=parts.union_masks.numpy(),
                )
            )

    def run():
        return pipe.release_call(
            **call, callback_on_step_end=callback, callback_on_step_end_tensor_inputs=RELEASE_CALLBACK_INPUTS
        ).frames[0]

    return (yield from _in_worker(pipe, run, events, cancel, "poseanything-release"))


def _in_worker(pipe, run, events: queue.Queue, cancel: threading.Event, name: str):
    """`run()` (a pipeline call) in a thread of its own, yielding what its step callback puts on `events`;
    returns what `run` returned. Cancel sets the pipeline's interrupt (checked every step); an interrupted call
    is RenderCancelled, a model or input error one RenderError line."""
    from poseanything_studio.model.errors import ModelError, PipelineInterrupted

    def work():
        try:
            events.put(("done", run()))
        except BaseException as err:  # handed to the generator's thread
            events.put(("error", err))

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while True:
            try:
                item = events.get(timeout=0.1)
            except queue.Empty:
                if cancel.is_set():
                    pipe.interrupt = True
                continue
            if isinstance(item, tuple):
                kind, value = item
                break
            yield item
    finally:
        if worker.is_alive():
            pipe.interrupt = True
        worker.join()
    if kind == "error":
        if isinstance(value, PipelineInterrupted):
            raise RenderCancelled()
        if isinstance(value, ModelError | ValueError):
            raise RenderError(str(value)) from None
        raise value
    return value


def _part_colour(j: int) -> tuple[int, int, int]:
    from poseanything_studio.core.raster import bone_colour

    return bone_colour(f"part {j}")


def _colour_tokens(masks, size: tuple[int, int]) -> np.ndarray:
    """Token masks (P, h, w) bool -> (H, W, 3): part j in its colour, token grid lines darkened."""
    picture = np.zeros((size[1], size[0], 3), np.uint8)
    for j, mask in enumerate(masks):
        picture[_upscale(np.asarray(mask).astype(np.uint8), size) > 0] = _part_colour(j)
    h, w = np.asarray(masks[0]).shape if len(masks) else (1, 1)
    picture[:: max(1, size[1] // h)] //= 2
    picture[:, :: max(1, size[0] // w)] //= 2
    return picture


def _release_parts_picture(inputs, masks) -> np.ndarray:
    """The release's segments: the first frame's parts | the last posed frame's, on the token grid."""
    gap = np.full((inputs.size[1], 8, 3), 255, np.uint8)
    return np.concatenate([_colour_tokens(masks[0], inputs.size), gap, _colour_tokens(masks[-1], inputs.size)], 1)


def _release_matching_picture(inputs, parts) -> np.ndarray:
    """The probe's matching: first-frame part j | the tokens matched to it in the last latent frame that has any."""
    union = parts.union_masks.numpy()  # (F'-1, P, h, w)
    filled = [k for k in range(len(union)) if union[k].any()]
    later = union[filled[-1]] if filled else union[-1]
    gap = np.full((inputs.size[1], 8, 3), 255, np.uint8)
    return np.concatenate(
        [_colour_tokens(parts.first_masks.numpy(), inputs.size), gap, _colour_tokens(later, inputs.size)], 1
    )
