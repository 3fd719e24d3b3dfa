"""The `poseanything` renderer: the PoseAnything model (model/) behind the same protocol as `puppet`.

Imported only when that renderer is asked for (it imports torch). Needs a local Wan2.2-TI2V-5B
diffusers folder and a PoseAnything checkpoint; any problem is a RenderError of one line, and there is
never a fallback to another renderer. The pipeline runs in a worker thread so that each denoising step
can be yielded as progress and previews; cancel interrupts it before the next step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from ..core.parts import colour_parts, posed_part_masks, rest_part_masks
from ..core.raster import camera_frames, pose_frames
from .events import Frame, Preview, Progress, RenderCancelled, RenderError, RenderEvent, check_cancel

CHECKPOINT_NAME = "poseanything.safetensors"  # looked for in the model folder when --checkpoint is not given
_cache: dict[tuple, object] = {}  # one loaded pipeline, reused by the next render with the same settings
_cache_lock = threading.Lock()


class PoseAnythingRenderer:
    """The `poseanything` renderer: Wan2.2-TI2V-5B with pose latents, PTCM and decoupled camera CFG."""

    name = "poseanything"

    def render(self, job, cancel: threading.Event) -> Iterator[RenderEvent]:
        checkpoint = resolve_checkpoint(job.neural.model_dir, job.neural.checkpoint)
        check_cancel(cancel)
        yield Progress(0, job.steps, "load")
        pipe = load_pipeline(job.neural.model_dir, checkpoint, job.neural.device, job.neural.offload,
                             job.neural.compile)
        inputs = job_inputs(job)
        yield Progress(0, job.steps, "steps")
        yield from _run_pipeline(pipe, job, inputs, cancel)


def resolve_checkpoint(model_dir: str | None, checkpoint: str | None) -> Path:
    """The checkpoint to load: --checkpoint, else poseanything.safetensors in the model folder."""
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
        return Path(checkpoint).expanduser()
    default = Path(model_dir).expanduser() / CHECKPOINT_NAME
    if not default.is_file():
        raise RenderError(f"no PoseAnything checkpoint: pass --checkpoint FILE.safetensors (or put {CHECKPOINT_NAME} "
                          f"in {model_dir})")
    return default


def load_pipeline(model_dir: str, checkpoint: Path, device: str, offload: str = "auto", compile: bool = False):
    """The loaded pipeline for these settings (cached); ModelError becomes RenderError."""
    from model.errors import ModelError
    from model.pipeline import PoseAnythingPipeline

    key = (str(Path(model_dir).expanduser().resolve()), str(checkpoint.resolve()), device, offload, compile)
    with _cache_lock:
        if key not in _cache:
            _cache.clear()  # one model in memory at a time
            try:
                pipe = PoseAnythingPipeline.from_model_dir(key[0], checkpoint, device=device, offload=offload,
                                                           compile=compile)
            except ModelError as err:
                raise RenderError(str(err)) from None
            pipe.set_progress_bar_config(disable=True)
            _cache[key] = pipe
        return _cache[key]


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


def _run_pipeline(pipe, job, inputs: dict, cancel: threading.Event) -> Iterator[RenderEvent]:
    """Run the pipeline in a thread; yield its per-step events, then the frames."""
    from model.errors import ModelError, PipelineInterrupted

    events: queue.Queue = queue.Queue()
    shown: list[np.ndarray] = []

    def callback(p, step, timestep, kwargs):
        if cancel.is_set():
            p.interrupt = True
        events.put(Progress(kwargs["step"], kwargs["steps"], "steps"))
        preview = kwargs["preview"]  # (F', h, w, 3)
        events.put(Preview("prediction", _upscale(preview[len(preview) // 2], job.size), index=step, data=preview))
        matching = kwargs["attention_matching"]
        if matching is not None and (not shown or not np.array_equal(shown[-1], matching)):
            shown.append(matching)
            events.put(Preview("matching", _matching_picture(job, inputs["rest_parts"], shown[-1]), index=step,
                               data=shown[-1]))
        return {}

    def work():
        try:
            frames = pipe(inputs["image"], inputs["pose_frames"], None, inputs["camera_frames"], prompt=job.prompt,
                          negative_prompt=job.negative_prompt, num_inference_steps=job.steps,
                          guidance_scale=job.guidance, seed=job.seed, callback_on_step_end=callback,
                          part_coverage=inputs["part_coverage"], matching=job.neural.matching)
            events.put(("done", frames))
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
    yield Progress(job.steps, job.steps, "decode")
    for f, image in enumerate(value):
        check_cancel(cancel)
        yield Frame(f, image)
        yield Progress(f + 1, job.frames, "frames")


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
