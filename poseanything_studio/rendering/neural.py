"""The `poseanything` renderer: the PoseAnything model (model/) behind the same protocol as `puppet`.

Imported only when that renderer is asked for (it imports torch). Needs a local Wan2.2-TI2V-5B diffusers
folder; the PoseAnything checkpoint is optional. Without one the model is the base Wan2.2 (pose half and
PTCM zero: the pose is ignored), so the render starts from the puppet render and refines it (SDEdit,
`init="puppet"`), keeping the puppet's motion. Any problem is a RenderError of one line, and there is
never a fallback to another renderer. The pipeline runs in a worker thread so that each denoising step
can be yielded as progress and previews; cancel interrupts it before the next step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import diffusers  # noqa: F401  the [neural] extra: missing, runner.renderer_for names it in one line
import numpy as np
import torch

from ..core.parts import colour_parts, posed_part_masks, rest_part_masks
from ..core.project import INITS
from ..core.raster import camera_frames, pose_frames
from .events import Frame, Notice, Preview, Progress, RenderCancelled, RenderError, RenderEvent, check_cancel

CHECKPOINT_NAME = "poseanything.safetensors"  # looked for in the model folder when --checkpoint is not given
NO_CHECKPOINT = ("no PoseAnything checkpoint: running the base Wan2.2 model, which ignores the pose (pose half and "
                 "PTCM are zero); it refines the puppet render")
_cache: dict[tuple, object] = {}  # one loaded pipeline, reused by the next render with the same settings
_cache_lock = threading.Lock()


class PoseAnythingRenderer:
    """The `poseanything` renderer: Wan2.2-TI2V-5B with pose latents, PTCM and decoupled camera CFG."""

    name = "poseanything"

    def render(self, job, cancel: threading.Event) -> Iterator[RenderEvent]:
        checkpoint = resolve_checkpoint(job.neural.model_dir, job.neural.checkpoint)
        init = effective_init(job.neural.init, checkpoint)
        check_strength(job.neural.strength)
        if checkpoint is None:
            yield Notice(NO_CHECKPOINT if init == "puppet" else NO_CHECKPOINT.split(";")[0])
        check_cancel(cancel)
        yield Progress(0, job.steps, "load")
        pipe = load_pipeline(job.neural.model_dir, checkpoint, job.neural.device, job.neural.offload,
                             job.neural.compile)
        inputs = job_inputs(job)
        if init == "puppet" and job.neural.strength < 1:
            inputs["video"] = yield from puppet_video(job, cancel)
        yield Progress(0, job.steps, "steps")
        yield from _run_pipeline(pipe, job, inputs, cancel)


def resolve_checkpoint(model_dir: str | None, checkpoint: str | None) -> Path | None:
    """The checkpoint to load: the one given, else poseanything.safetensors in the model folder, else None."""
    if not model_dir:
        raise RenderError("the poseanything renderer needs --model-dir DIR, a local Wan2.2-TI2V-5B diffusers folder "
                          "(`poseanything-studio model tiny DIR` writes a tiny test one)")
    from model.errors import ModelError
    from model.pipeline import check_model_dir

    try:
        check_model_dir(model_dir)
    except ModelError as err:
        raise RenderError(str(err)) from None
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
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
    from model.errors import ModelError
    from model.pipeline import PoseAnythingPipeline

    key = (str(Path(model_dir).expanduser().resolve()), str(checkpoint.resolve()) if checkpoint else None, device,
           offload, compile)
    with _cache_lock:
        if key not in _cache:
            _cache.clear()  # one model in memory at a time
            try:
                pipe = PoseAnythingPipeline.from_pretrained(key[0], checkpoint, device=device, offload=offload,
                                                            compile=compile)
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
    from model.part_attention import pool_part_masks

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

    from model.errors import ModelError, PipelineInterrupted

    events: queue.Queue = queue.Queue()
    callback = _step_callback(job, inputs, cancel, events)

    def work():
        try:
            output = pipe(inputs["image"], inputs["pose_frames"], None, inputs["camera_frames"], prompt=job.prompt,
                          negative_prompt=job.negative_prompt, num_inference_steps=job.steps,
                          guidance_scale=job.guidance, generator=torch.Generator("cpu").manual_seed(job.seed),
                          video=inputs.get("video"), strength=job.neural.strength if "video" in inputs else 1.0,
                          callback_on_step_end=callback, callback_on_step_end_tensor_inputs=CALLBACK_INPUTS,
                          part_coverage=inputs["part_coverage"], matching=job.neural.matching)
            events.put(("done", output.frames[0]))
        except BaseException as err:  # handed to the generator's thread
            events.put(("error", err))

    worker = threading.Thread(target=work, name="poseanything-render", daemon=True)
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
        for kind, value, draw in (("parts", kwargs["part_tokens"], _token_picture),
                                  ("matching", kwargs["attention_matching"], _matching_picture)):
            if value is None:
                continue
            if kind not in drawn or not np.array_equal(drawn[kind][0], value):
                drawn[kind] = (value, draw(job, inputs["rest_parts"], value))
            events.put(Preview(kind, drawn[kind][1], index=step, data=value))  # every step: what this step used
        return {}

    return callback


def _token_picture(job, _rest: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """PTCM's part tokens on the token grid (32x32 pixels each): first latent frame | last, in the bones' colours."""
    pictures = [colour_parts(np.stack([_upscale(m.astype(np.uint8), job.size) for m in frame]).astype(bool), job.rig)
                for frame in (tokens[0], tokens[-1])]
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
