"""PoseAnythingPipeline: a reference image, pose frames, part masks and a prompt -> video frames.

Wan2.2-TI2V-5B conditioning (as diffusers' WanImageToVideoPipeline with `expand_timesteps`): the first
latent frame is the reference image's latent with timestep 0 on its tokens, the rest is noise. The pose
frames go through the same VAE and ride beside the latents on channels; PTCM reads the part masks; the
decoupled CFG (model.guidance) puts the camera rectangle in the negative anchor.

    pipe = PoseAnythingPipeline.from_pretrained("Wan2.2-TI2V-5B-Diffusers", checkpoint="poseanything.safetensors")
    generator = torch.Generator("cpu").manual_seed(0)
    video = pipe(image, pose_frames, part_masks, prompt="a cat walks", generator=generator).frames[0]  # (F, H, W, 3)

Without a checkpoint the pose half of the patch embedding and PTCM stay zero: the base Wan2.2 model, which
ignores the pose. `video=` (e.g. the puppet render) with `strength` < 1 refines that video instead
(SDEdit): it is encoded, noised to the sigma `strength` selects and denoised over the remaining steps.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKLWan, DiffusionPipeline, WanTransformer3DModel
from diffusers.utils import BaseOutput
from diffusers.utils import logging as diffusers_logging
from diffusers.utils.torch_utils import randn_tensor
from transformers import UMT5EncoderModel
from transformers.utils import logging as transformers_logging

from poseanything_studio.core.model_files import MODEL_INDEX_NAME, MODEL_LAYOUT
from poseanything_studio.core.modes import Offload, values
from poseanything_studio.core.project import RenderSettings

from .checkpoint import load_checkpoint
from .checks import check_component_files, check_finite, read_config, scheduler_class
from .errors import ModelError, PipelineInterrupted
from .guidance import DecoupledGuidance
from .part_attention import PartContext
from .release import is_release_checkpoint, load_release_transformer
from .release_sampling import (
    PROBE_BLOCK,
    PROBE_STEPS,
    RELEASE_GUIDANCE,
    RELEASE_SEED,
    RELEASE_STEPS,
    ProbeResult,
    ReleaseScheduler,
    StepHooks,
    clean_prompt,
    release_sample,
    tiled_decode,
    tiled_encode,
    video_to_uint8,
)
from .transformer import PoseAnythingTransformer3DModel

OFFLOAD_MODES = values(Offload)
# `offload="auto"` by free GPU memory (measured peaks, model/memory.py); below the model-offload line group
# offload streams the transformer and text encoder block by block.
AUTO_NONE_BYTES = 50 * 2**30  # measured peak, all resident: 45.8 GiB (1280x704x121, H100)
AUTO_MODEL_BYTES = 30 * 2**30  # model offload + VAE tiling: 24.7 GiB; group offload + VAE tiling: 14.2 GiB


# The negative prompt of the release's test script (examples/wanvideo/model_inference/test_ddp.py); with its CFG of 1
# it is never used, as in the release: it matters only when the user raises the guidance.
RELEASE_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰"
    "，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部"
    "，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱"
    "的背景，三条腿，背景人很多，倒着走"
)


@dataclass(frozen=True)
class SamplingDefaults:
    """What a render uses unless the user says otherwise: ours for our checkpoints, the release's for its weights."""

    steps: int
    guidance: float
    seed: int
    sampler: str  # in words, for the render's notice


_STOCK = RenderSettings()  # a project's defaults are ours
OUR_DEFAULTS = SamplingDefaults(_STOCK.steps, _STOCK.guidance, _STOCK.seed, "UniPC (the model folder's scheduler)")
RELEASE_DEFAULTS = SamplingDefaults(
    RELEASE_STEPS, RELEASE_GUIDANCE, RELEASE_SEED, "Euler, shift 5, with the release's probe and restart"
)


def check_model_dir(model_dir: str | Path) -> Path:
    """The folder if it holds a whole Wan2.2 diffusers layout (safetensors only); else a ModelError naming the gap."""
    root = Path(model_dir).expanduser()
    if not root.is_dir():
        raise ModelError(f"model folder {root} does not exist (a local Wan2.2-TI2V-5B diffusers folder)")
    if not (root / MODEL_INDEX_NAME).is_file():
        raise ModelError(f"{root}: {MODEL_INDEX_NAME} is missing (not a diffusers model folder)")
    for sub, files in MODEL_LAYOUT.items():
        folder = root / sub
        if not folder.is_dir():
            raise ModelError(f"{root}: sub-folder {sub}/ is missing (the model folder is incomplete)")
        for choice in files:
            names = choice if isinstance(choice, tuple) else (choice,)
            if not any((folder / n).is_file() for n in names):
                pickles = sorted(p.name for p in folder.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
                hint = f" (only pickle weights {pickles[0]}: convert to .safetensors)" if pickles else ""
                raise ModelError(f"{root}: {sub}/{names[0]} is missing{hint}")
    return root


class LatentPreview:
    """A cheap RGB picture of latents: a linear map (C -> RGB) fitted on the reference image and its latent."""

    def __init__(self, latent: torch.Tensor, image: np.ndarray, ridge: float = 1e-2):
        """latent (C, h, w) of `image` (H, W, 3) uint8; least squares with a bias and a little ridge."""
        c, h, w = latent.shape
        x = torch.cat([latent.float().reshape(c, -1).T.cpu(), torch.ones(h * w, 1)], 1)  # (h*w, C+1)
        small = torch.from_numpy(_area_resize(image, (w, h))).float().reshape(-1, 3) / 127.5 - 1  # (h*w, 3)
        gram = x.T @ x + ridge * torch.eye(c + 1)
        self.weight = torch.linalg.solve(gram, x.T @ small)  # (C+1, 3)

    def __call__(self, latents: torch.Tensor) -> np.ndarray:
        """(C, F', h, w) -> (F', h, w, 3) uint8."""
        x = latents.detach().float().cpu().permute(1, 2, 3, 0)  # (F', h, w, C)
        rgb = x @ self.weight[:-1] + self.weight[-1]
        return ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


@dataclass
class PoseAnythingPipelineOutput(BaseOutput):
    """What the pipeline returns: `frames` (1, F, H, W, 3) uint8 for output_type "np", the latents for "latent"."""

    frames: np.ndarray | torch.Tensor


class PoseAnythingPipeline(DiffusionPipeline):
    """Pose-guided video from one picture on Wan2.2-TI2V-5B: channel-concat pose, PTCM, decoupled CFG."""

    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _callback_tensor_inputs = ("latents", "x0", "preview", "matching", "attention_matching", "part_tokens")

    def __init__(
        self,
        tokenizer,
        text_encoder: UMT5EncoderModel,
        vae: AutoencoderKLWan,
        scheduler,
        transformer: PoseAnythingTransformer3DModel,
    ):
        super().__init__()
        self.register_modules(
            tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler, transformer=transformer
        )
        self.vae_scale_factor_temporal = vae.config.scale_factor_temporal
        self.vae_scale_factor_spatial = vae.config.scale_factor_spatial
        self._interrupt = False
        self._num_timesteps = 0
        self.has_checkpoint = True  # from_pretrained says whether a PoseAnything checkpoint was loaded
        self.release_weights = False  # the authors' released DiT is loaded: sample as the release does

    # -- loading ------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        model_dir: str | Path,
        checkpoint: str | Path | None = None,
        device: str = "cuda",
        offload: str | bool | None = "auto",
        vae_tiling: bool | None = None,
        compile: bool = False,
        **kwargs,
    ) -> PoseAnythingPipeline:
        """Load a local Wan2.2-TI2V-5B diffusers folder (diffusers' own loader) and an optional PoseAnything checkpoint.

        bf16 on CUDA (the VAE stays fp32), fp32 on the CPU; local safetensors only. Without `checkpoint` the pose
        half and PTCM are zero (the base model). offload: "auto" | "none" | "model" | "group" (see `place`);
        vae_tiling: encode and decode in tiles (None: on whenever offload is, which is what brings 1280x704x121
        from 23.8 to 14.2 GiB under group offload); compile: regional torch.compile of the transformer blocks
        (see `compile_transformer`). Any problem is a ModelError of one line.
        """
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelError(
                "CUDA is not available: the poseanything renderer needs an NVIDIA GPU "
                "(use --device cpu for the tiny test model, or the puppet renderer)"
            )
        root = check_model_dir(model_dir)
        release = checkpoint is not None and is_release_checkpoint(checkpoint)  # the official weights' DiT
        check_component_files(root, configs_only=("transformer",) if release else ())
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        load = {"use_safetensors": True, "local_files_only": True}
        scheduler = _load_scheduler(root)  # a scheduler class from its JSON config alone, never a pickle
        quiet = _Quiet()
        try:
            with quiet:
                if release:
                    base_config = read_config(root / "transformer" / "config.json")
                    transformer = load_release_transformer(checkpoint, base_config, dtype=dtype)
                else:
                    base = WanTransformer3DModel.from_pretrained(root, subfolder="transformer", dtype=dtype, **load)
                    transformer = PoseAnythingTransformer3DModel.from_base(base)
                    del base
                pipe = super().from_pretrained(
                    root,
                    transformer=transformer,
                    scheduler=scheduler,
                    dtype={"vae": torch.float32, "default": dtype},
                    **load,
                    **kwargs,
                )
        except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
            raise ModelError(f"{root}: could not load the model ({_first_line(err)})") from None
        for name in ("text_encoder", "vae", "transformer"):
            check_finite(getattr(pipe, name).state_dict().items(), root / name)
        if checkpoint is not None and not release:
            load_checkpoint(pipe.transformer, checkpoint)
        pipe.has_checkpoint = checkpoint is not None
        pipe.release_weights = release
        if pipe.release_weights and pipe.vae.dtype != dtype:
            pipe.vae.to(dtype)  # the release runs its VAE in the DiT's dtype (bf16 on a GPU)
        for module in (pipe.text_encoder, pipe.vae, pipe.transformer):
            module.eval()
        mode = pipe.place(device, offload)
        if not pipe.release_weights and (vae_tiling or (vae_tiling is None and mode != "none")):
            pipe.vae.enable_tiling()
        if compile:
            pipe.compile_transformer()
        return pipe

    def compile_transformer(self, **compile_kwargs: Any) -> None:
        """Regional torch.compile: each repeated WanTransformerBlock compiled once, reused by all 30.

        diffusers' `compile_repeated_blocks`; with PTCM on, its part attention runs outside the compiled graphs
        (torch.compiler.disable), since its part grouping depends on the part masks; with PTCM off the blocks
        compile whole (fullgraph too). kwargs go to torch.compile.
        """
        self.transformer.compile_repeated_blocks(**({"dynamic": False} | compile_kwargs))

    def place(self, device: str | torch.device, offload: str | bool | None = "auto") -> str:
        """Put the components on `device`, with diffusers' own offloading; returns the mode used.

        "none": everything on the device. "model": `enable_model_cpu_offload` (one component on the device
        at a time). "group": `enable_group_offload` on the text encoder and transformer, block by block with
        CUDA streams prefetching the next block; the VAE stays on the device. "auto" (or None): by free
        device memory, none >= 50 GiB > model >= 30 GiB > group; on the CPU always none.
        """
        device = torch.device(device)
        mode = {None: "auto", True: "model", False: "none"}.get(offload, offload)
        if mode not in OFFLOAD_MODES:
            raise ModelError(f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {offload!r}")
        if mode == "auto":
            mode = auto_offload(device)
        try:
            if mode == "model":
                self.enable_model_cpu_offload(device=device)
            elif mode == "group":
                self.to("cpu")
                stream = device.type == "cuda"
                self.enable_group_offload(
                    onload_device=device,
                    offload_type="block_level",
                    num_blocks_per_group=1,
                    use_stream=stream,
                    non_blocking=stream,
                    exclude_modules=["vae"],
                )
            else:
                self.to(device)
        except torch.OutOfMemoryError:
            raise ModelError(_OOM) from None
        return mode

    @classmethod
    def from_model_dir(
        cls,
        model_dir: str | Path,
        checkpoint: str | Path | None = None,
        device: str = "cuda",
        offload: str | bool | None = "auto",
        vae_tiling: bool | None = None,
        compile: bool = False,
    ) -> PoseAnythingPipeline:
        """The same as `from_pretrained` (the name this project used first)."""
        return cls.from_pretrained(
            model_dir, checkpoint, device=device, offload=offload, vae_tiling=vae_tiling, compile=compile
        )

    # -- properties as diffusers pipelines have them -------------------------------------------------------
    @property
    def interrupt(self) -> bool:
        return self._interrupt

    @interrupt.setter
    def interrupt(self, value: bool) -> None:
        """Set True (e.g. from a callback or another thread) to stop before the next step."""
        self._interrupt = bool(value)

    @property
    def num_timesteps(self) -> int:
        """How many denoising steps the current (or last) call runs (with the release's probe: 5 + the steps)."""
        return self._num_timesteps

    @property
    def defaults(self) -> SamplingDefaults:
        """The sampling defaults for the loaded weights: the release's with its weights, ours otherwise."""
        return RELEASE_DEFAULTS if self.release_weights else OUR_DEFAULTS

    # -- the call ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray,
        pose_frames: np.ndarray,
        part_masks: np.ndarray | None = None,
        camera_frames: np.ndarray | None = None,
        prompt: str = "",
        negative_prompt: str = "",
        num_inference_steps: int = 30,
        guidance_scale: float = 5.0,
        generator: torch.Generator | None = None,
        video: np.ndarray | None = None,
        strength: float = 1.0,
        matching: str = "identity",
        matching_steps: int = 5,
        max_sequence_length: int = 512,
        callback_on_step_end: Callable[[Any, int, Any, dict], dict | None] | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        output_type: str = "np",
        return_dict: bool = True,
        part_coverage: np.ndarray | None = None,
    ) -> PoseAnythingPipelineOutput | tuple:
        """Render: image (H, W, 3) uint8, pose_frames and camera_frames (F, H, W, 3) uint8, part_masks (F, B, H, W)
        bool -> PoseAnythingPipelineOutput with `frames` (1, F, H, W, 3) uint8 (the latents for output_type="latent");
        a tuple `(frames,)` with return_dict=False.

        generator: the noise (a CPU generator gives the same render on any device); None draws fresh noise.
        video (F, H, W, 3) uint8 and strength in (0, 1]: refine that video (SDEdit) over the last ceil(strength x
        num_inference_steps) steps instead of starting from noise; strength 1 ignores it. The first frame stays the
        clean image either way (Wan2.2 TI2V).
        callback_on_step_end(pipe, step, timestep, kwargs) gets in kwargs the names asked for in
        callback_on_step_end_tensor_inputs (any of `_callback_tensor_inputs`): "latents", "x0" (the clean
        estimate), "preview" ((F', h, w, 3) uint8 picture of x0), "matching" (what PTCM uses) and
        "attention_matching" ((F', B) int), "part_tokens" ((F', B, h, w) bool); it may return {"latents": ...}.
        Set `pipe.interrupt = True` to stop: the call then raises PipelineInterrupted. For long renders pass
        `part_coverage` (F', B, h, w) float, the masks already pooled by `model.part_attention.pool_part_masks`.
        """
        try:
            frames = self._call(
                image,
                pose_frames,
                part_masks,
                camera_frames,
                prompt,
                negative_prompt,
                num_inference_steps,
                guidance_scale,
                generator,
                video,
                strength,
                matching,
                matching_steps,
                max_sequence_length,
                callback_on_step_end,
                tuple(callback_on_step_end_tensor_inputs),
                output_type,
                part_coverage,
            )
        except torch.OutOfMemoryError:
            raise ModelError(_OOM) from None
        finally:
            self.maybe_free_model_hooks()
        return PoseAnythingPipelineOutput(frames=frames) if return_dict else (frames,)

    def _call(
        self,
        image,
        pose_frames,
        part_masks,
        camera_frames,
        prompt,
        negative_prompt,
        num_inference_steps,
        guidance_scale,
        generator,
        video,
        strength,
        matching,
        matching_steps,
        max_sequence_length,
        callback_on_step_end,
        tensor_inputs,
        output_type,
        part_coverage,
    ):
        # 1. Check inputs
        self.check_inputs(
            image,
            pose_frames,
            part_masks,
            camera_frames,
            num_inference_steps,
            matching,
            video,
            strength,
            tensor_inputs,
            output_type,
        )
        frames = len(pose_frames)
        device = self._execution_device
        dtype = self.transformer.dtype
        guidance = DecoupledGuidance(guidance_scale)
        self._interrupt = False
        if camera_frames is not None and (camera_frames == camera_frames[:1]).all():
            camera_frames = None  # a still camera: the negative anchor is the empty canvas (ordinary CFG)

        # 2. Encode the prompts: (1, L, text_dim) each
        prompt_embeds = self.encode_prompt(prompt, max_sequence_length, device).to(dtype)
        negative_embeds = self.encode_prompt(negative_prompt, max_sequence_length, device).to(dtype)

        # 3. Encode the reference image, the pose frames and the negative anchor's pose with the VAE
        condition = self.encode_video(image[None])  # (1, C, 1, h, w)
        pose = self.encode_video(pose_frames)  # (1, C, F', h, w)
        anchor = camera_frames if camera_frames is not None else np.zeros_like(pose_frames)
        anchor_pose = self.encode_video(anchor)  # the camera rectangle, or no subject and no camera
        preview = LatentPreview(condition[0, :, 0], image)

        # 4. Part context for PTCM (none while PTCM's output projections are all zero, as in the base model: it
        #    would add exactly nothing, at ~10% of a step's FLOPs)
        context = None
        ptcm = self.ptcm_active()
        if ptcm and part_coverage is not None and part_coverage.shape[1]:
            context = PartContext.from_coverage(torch.as_tensor(part_coverage), mode=matching, device=device)
        elif ptcm and part_masks is not None and part_masks.shape[1]:
            context = PartContext.from_masks(part_masks, mode=matching, device=device)

        # 5. Timesteps and latents: the first latent frame is the image; the rest seeded noise, or the given
        #    video noised to the first sigma of the remaining steps (SDEdit)
        refine = video is not None and strength < 1
        timesteps = self.set_timesteps(num_inference_steps, strength if refine else 1.0, device)
        latent_frames = (frames - 1) // self.vae_scale_factor_temporal + 1
        shape = (1, self.vae.config.z_dim, latent_frames, pose.shape[3], pose.shape[4])
        latents = randn_tensor(shape, generator=generator, device=torch.device(device), dtype=torch.float32)
        if refine:
            start = self.encode_video(video).to(device, torch.float32)  # (1, C, F', h, w)
            latents = self.scheduler.add_noise(start, latents, timesteps[:1])
        condition = condition.to(device, torch.float32)
        noise_mask = torch.ones(1, 1, *shape[2:], device=device)  # (1, 1, F', h, w): 0 on the image frame
        noise_mask[:, :, 0] = 0
        p_h, p_w = self.transformer.config.patch_size[1:]
        pose_batch = guidance.batch(pose, anchor_pose).to(device, dtype)
        text_batch = guidance.batch(prompt_embeds, negative_embeds)

        # 6. Denoising loop
        self._num_timesteps = len(timesteps)
        with self.progress_bar(total=len(timesteps)) as progress:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    raise PipelineInterrupted(f"interrupted at step {i} of {len(timesteps)}")
                model_input = (1 - noise_mask) * condition + noise_mask * latents  # (1, C, F', h, w)
                timestep = (noise_mask[0, 0][:, ::p_h, ::p_w] * t).flatten()[None]  # (1, F'*h/2*w/2)
                if context is not None:
                    context.measure = i < matching_steps
                velocity = self.transformer(
                    hidden_states=guidance.batch(model_input, model_input).to(dtype),
                    timestep=guidance.batch(timestep, timestep),
                    encoder_hidden_states=text_batch,
                    pose_latents=pose_batch,
                    part_context=context,
                    return_dict=False,
                )[0].float()
                velocity = guidance(velocity)  # (1, C, F', h, w)
                sigma = self.scheduler.sigmas[i].to(device)
                x0 = (1 - noise_mask) * condition + noise_mask * (model_input - sigma * velocity)
                latents = self.scheduler.step(velocity, t, latents, return_dict=False)[0]

                if callback_on_step_end is not None:
                    kwargs = self._callback_kwargs(tensor_inputs, latents, x0, preview, context)
                    outputs = callback_on_step_end(self, i, t, kwargs) or {}
                    latents = outputs.pop("latents", latents)
                progress.update()

        # 7. Decode
        latents = (1 - noise_mask) * condition + noise_mask * latents
        if output_type == "latent":
            return latents
        return self.decode_latents(latents)[None]

    # -- the release's sampling (the authors' weights) ---------------------------------------------------------
    @torch.no_grad()
    def release_call(
        self,
        image: np.ndarray,
        pose_frames: np.ndarray,
        binary_masks: Sequence[Sequence[np.ndarray]] | None,
        condition_index: Sequence[int],
        prompt: str = "",
        negative_prompt: str = RELEASE_NEGATIVE_PROMPT,
        num_inference_steps: int = RELEASE_STEPS,
        guidance_scale: float = RELEASE_GUIDANCE,
        generator: torch.Generator | None = None,
        camera_frames: np.ndarray | None = None,
        pose_cfg: bool = False,
        union_masks: torch.Tensor | None = None,
        video: np.ndarray | None = None,
        strength: float = 1.0,
        max_sequence_length: int = 512,
        callback_on_step_end: Callable[[Any, int, Any, dict], dict | None] | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        output_type: str = "np",
    ) -> PoseAnythingPipelineOutput:
        """Render as the authors' release does (`WanVideoPipeline.__call__` with test_ddp.py's settings).

        image (H, W, 3) and pose_frames (F, H, W, 3) uint8 (the release's drawing, black where a frame has no
        pose); binary_masks[i] the part masks (h, w) on the token grid of pixel frame condition_index[i]
        (`segment_skeleton`), or None for no PTC. The prompt is cleaned as the release's prompter does; the
        noise is drawn on the CPU from `generator` (the release: seed 123) in float32 and cast to the DiT's
        dtype; the VAE encodes and decodes in the release's tiles; output frames are truncated to uint8.
        With the part masks, sampling starts with the release's probe (5 Euler steps without PTC, then the
        attention of block 27 re-applied to its own output) and restarts with PTC on steps 0..5.
        guidance_scale 1 is one pass (the release); above 1 the negative branch sees the negative prompt and
        the same pose (the release's `pose_cfg=False`), the first pose on every conditioned frame
        (`pose_cfg=True`), or, ours, the camera rectangles when `camera_frames` moves.
        The callback sees step 0 .. 5 + steps - 1 (the probe's first, then the render's); its kwargs may ask for
        "latents", "preview" ((F', h, w, 3) uint8 of the clean estimate), "stage" ("probe" or "steps") and
        "release_parts" (the probe's ProbeResult once it exists). union_masks (F'-1, P, h, w) bool given (ours,
        e.g. `release_sampling.identity_union_masks` of a rig's parts): no probe, PTC with these on steps 0..5.
        video (F, H, W, 3) uint8 with strength < 1 (ours: the puppet render): encoded, noised to the sigma of step
        steps - ceil(strength x steps) and sampled from there, the probe and PTC's steps moved along with it.
        """
        try:
            frames = self._release_call(
                image,
                pose_frames,
                binary_masks,
                list(condition_index),
                prompt,
                negative_prompt,
                num_inference_steps,
                guidance_scale,
                generator,
                camera_frames,
                pose_cfg,
                union_masks,
                video,
                strength,
                max_sequence_length,
                callback_on_step_end,
                tuple(callback_on_step_end_tensor_inputs),
                output_type,
            )
        except torch.OutOfMemoryError:
            raise ModelError(_OOM) from None
        finally:
            self.maybe_free_model_hooks()
        return PoseAnythingPipelineOutput(frames=frames)

    def _release_call(
        self,
        image,
        pose_frames,
        binary_masks,
        condition_index,
        prompt,
        negative_prompt,
        steps,
        guidance_scale,
        generator,
        camera_frames,
        pose_cfg,
        union_masks,
        video,
        strength,
        max_sequence_length,
        callback,
        tensor_inputs,
        output_type,
    ):
        self.check_inputs(image, pose_frames, None, camera_frames, steps, "identity", video, strength, (), output_type)
        start = steps - math.ceil(strength * steps) if video is not None and strength < 1 else 0
        unknown = [name for name in tensor_inputs if name not in RELEASE_CALLBACK_INPUTS]
        if unknown:
            raise ValueError(
                f"callback_on_step_end_tensor_inputs: {unknown[0]!r} is not one of {', '.join(RELEASE_CALLBACK_INPUTS)}"
            )
        device, dtype = self._execution_device, self.transformer.dtype
        self._interrupt = False
        guided = guidance_scale != 1.0
        if binary_masks is not None and not len(binary_masks[0]):
            binary_masks = None  # no first-frame part: the release's PTC has nothing to attend to
        given = None
        if binary_masks is not None and union_masks is not None:
            first = torch.stack([torch.as_tensor(np.asarray(m) != 0) for m in binary_masks[0]])
            given = ProbeResult(torch.zeros(0), first, torch.as_tensor(union_masks).bool())
        probing = binary_masks is not None and given is None
        if probing and steps - start <= PROBE_STEPS:
            raise ValueError(
                f"{steps - start} steps to run: the release's probe runs {PROBE_STEPS} steps and reads "
                f"the next, so it needs at least {PROBE_STEPS + 1} (the release uses {RELEASE_STEPS})"
            )
        self._num_timesteps = steps - start + (PROBE_STEPS if probing else 0)

        positive = self.encode_prompt(clean_prompt(prompt), max_sequence_length, device, clean=False).to(dtype)
        first_frame = self.release_encode(image[None])  # (1, C, 1, h, w)
        pose = self.release_encode(pose_frames)  # (1, C, F', h, w)
        negative = None
        if guided:
            negative = (
                self.encode_prompt(clean_prompt(negative_prompt), max_sequence_length, device, clean=False).to(dtype),
                self.release_encode(self._negative_pose(pose_frames, condition_index, camera_frames, pose_cfg)),
            )
        shape = (1, self.vae.config.z_dim, *pose.shape[2:])
        latents = randn_tensor(shape, generator=generator, device=torch.device("cpu"), dtype=torch.float32)
        latents = latents.to(device, dtype)
        scheduler = ReleaseScheduler(steps)
        if start:  # ours: refine the given video from the sigma of step `start` (the release's add_noise formula)
            sigma = scheduler.sigmas[start]
            latents = (1 - sigma) * self.release_encode(video) + sigma * latents
        latents[:, :, 0:1] = first_frame
        preview = LatentPreview(first_frame[0, :, 0], image)
        tokens = first_frame.shape[3] * first_frame.shape[4] // 4

        def per_token(t: torch.Tensor) -> torch.Tensor:
            """(1, F' * h/2 * w/2): 0 on the image's tokens, t on the others, in t's dtype as the release builds it."""
            later = torch.ones(latents.shape[2] - 1, tokens, dtype=t.dtype, device=device) * t.to(device)
            return torch.cat([torch.zeros(1, tokens, dtype=t.dtype, device=device), later]).flatten()[None]

        def model(hidden: torch.Tensor, t: torch.Tensor, parts: ProbeResult | None, text, pose_latents):
            return self.transformer(
                hidden_states=hidden,
                timestep=per_token(t),
                encoder_hidden_states=text,
                pose_latents=pose_latents,
                release_parts=self._release_parts(parts, device),
                return_dict=False,
            )[0]

        def velocity(hidden: torch.Tensor, t: torch.Tensor, parts: ProbeResult | None) -> torch.Tensor:
            out = model(hidden, t, parts, positive, pose)
            if negative is not None:
                negative_out = model(hidden, t, parts, *negative)
                out = negative_out + guidance_scale * (out - negative_out)
            return out

        def probe(hidden: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
            block = min(PROBE_BLOCK, len(self.transformer.blocks) - 1)
            hook = getattr(self.transformer, "_hf_hook", None)  # model offload hooks `forward` only: onload first
            if hook is not None and hasattr(hook, "pre_forward"):
                hook.pre_forward(self.transformer)
            return self.transformer.probe_attention(
                hidden_states=hidden,
                timestep=per_token(t),
                encoder_hidden_states=positive,
                pose_latents=pose,
                block_index=block,
            )

        found: list[ProbeResult] = []
        done = iter(range(self._num_timesteps))

        def before(stage: str, index: int) -> None:
            if self.interrupt:
                raise PipelineInterrupted(f"interrupted before {stage} step {index}")

        def after(stage: str, _index: int, current: torch.Tensor, x0: torch.Tensor) -> None:
            step = next(done)
            if callback is not None:
                callback(self, step, None, self._release_kwargs(tensor_inputs, current, x0, preview, stage, found))

        hooks = StepHooks(before, after, found.append)
        latents = release_sample(
            velocity,
            probe if probing else None,
            latents,
            first_frame,
            scheduler,
            binary_masks,
            condition_index,
            hooks,
            given,
            start,
        )
        if output_type == "latent":
            return latents
        return self.release_decode(latents)[None]

    def _release_kwargs(
        self,
        names: tuple[str, ...],
        latents: torch.Tensor,
        x0: torch.Tensor,
        preview: LatentPreview,
        stage: str,
        found: list[ProbeResult],
    ) -> dict[str, Any]:
        """The callback's values by name (the picture only when asked for)."""
        values: dict[str, Callable[[], Any]] = {
            "latents": lambda: latents,
            "x0": lambda: x0,
            "preview": lambda: preview(x0[0]),
            "stage": lambda: stage,
            "release_parts": lambda: found[0] if found else None,
        }
        return {name: values[name]() for name in names}

    @staticmethod
    def _negative_pose(
        pose_frames: np.ndarray, condition_index: list[int], camera_frames: np.ndarray | None, pose_cfg: bool
    ) -> np.ndarray:
        """The negative branch's pose frames: ours (camera rectangles), the release's pose_cfg, or the same pose."""
        if camera_frames is not None and not (camera_frames == camera_frames[:1]).all():
            return camera_frames
        negative = pose_frames.copy()
        if pose_cfg:
            negative[[i for i in condition_index if i < len(negative)]] = pose_frames[condition_index[0]]
        return negative

    def _release_parts(self, parts: ProbeResult | None, device: torch.device):
        """The transformer's release PTC input for these union masks, or None (PTC off)."""
        if parts is None:
            return None
        from .part_attention import ReleaseParts

        return ReleaseParts(first_masks=parts.first_masks.to(device), union_masks=parts.union_masks.to(device))

    def release_encode(self, frames: np.ndarray) -> torch.Tensor:
        """(F, H, W, 3) uint8 -> normalised latents (1, C, F', H/16, W/16), in the release's tiles and arithmetic."""
        frames = frames if frames.flags.writeable and frames.flags.c_contiguous else np.array(frames)  # torch wants
        video = torch.from_numpy(frames).to(self._execution_device, self.vae.dtype)  # writable memory
        video = (video * (2 / 255) - 1).permute(3, 0, 1, 2)[None]  # (1, 3, F, H, W): the release's preprocess_image
        mean, inv_std = self.latent_stats(video.device, self.vae.dtype)

        def encode_tile(tile: torch.Tensor) -> torch.Tensor:
            return (_raw_vae_encode(self.vae, tile) - mean) * inv_std

        return tiled_encode(encode_tile, video, self.vae.config.z_dim).to(self.transformer.dtype)

    def release_decode(self, latents: torch.Tensor) -> np.ndarray:
        """(1, C, F', h, w) -> (F, H, W, 3) uint8: the release's tiles and blend, then truncated."""
        latents = latents.to(self._execution_device)
        mean, inv_std = self.latent_stats(latents.device, self.vae.dtype)

        def decode_tile(tile: torch.Tensor) -> torch.Tensor:
            return _raw_vae_decode(self.vae, (tile.to(self.vae.dtype) / inv_std + mean).to(self.vae.dtype))

        return video_to_uint8(tiled_decode(decode_tile, latents))

    # -- steps ----------------------------------------------------------------------------------------------
    def ptcm_active(self) -> bool:
        """Whether PTCM changes anything: some block's output projection is not zero (False for the base model)."""
        for module in self.transformer.ptcm_modules:
            weight, bias = module.to_out.weight, module.to_out.bias
            if weight.device.type == "meta" or weight.count_nonzero() or bias.count_nonzero():
                return True
        return False

    def set_timesteps(self, steps: int, strength: float, device: torch.device) -> torch.Tensor:
        """The scheduler's timesteps for `steps` steps, or for the last ceil(strength x steps) of them.

        The scheduler spaces its (unshifted) sigmas evenly from 1 to 1/1000 and applies its flow shift; strength S
        starts that same spacing at S instead of 1, so S x steps whole steps land exactly on the full schedule's
        sigmas (up to its 1/1000 floor) and S -> 0 starts at sigma -> 0, i.e. returns the given video.
        """
        if strength >= 1:
            self.scheduler.set_timesteps(steps, device=device)
        else:
            remaining = math.ceil(strength * steps)
            floor = 1 / self.scheduler.config.num_train_timesteps
            base = strength * np.linspace(1, floor, remaining + 1)[:-1]
            self.scheduler.set_timesteps(sigmas=base, device=device)
        self.scheduler.set_begin_index(0)
        return self.scheduler.timesteps

    def check_inputs(
        self,
        image: np.ndarray,
        pose_frames: np.ndarray,
        part_masks: np.ndarray | None,
        camera_frames: np.ndarray | None,
        steps: int,
        matching: str,
        video: np.ndarray | None = None,
        strength: float = 1.0,
        tensor_inputs: Sequence[str] = (),
        output_type: str = "np",
    ) -> None:
        """One clear ValueError for any input that does not fit."""
        if pose_frames.ndim != 4 or pose_frames.shape[-1] != 3 or pose_frames.dtype != np.uint8:
            raise ValueError(
                f"pose_frames must be (frames, height, width, 3) uint8, got {pose_frames.shape} {pose_frames.dtype}"
            )
        frames, height, width = pose_frames.shape[:3]
        multiple = self.vae_scale_factor_spatial * self.transformer.config.patch_size[1]
        if (frames - 1) % self.vae_scale_factor_temporal:
            raise ValueError(f"{frames} frames: the Wan VAE needs 4k+1 frames (e.g. 49, 81, 121)")
        if height % multiple or width % multiple:
            raise ValueError(f"size {width}x{height}: width and height must be multiples of {multiple}")
        if image.shape != (height, width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"image must be ({height}, {width}, 3) uint8 like the pose frames, got {image.shape} {image.dtype}"
            )
        for name, frames_in in (("camera_frames", camera_frames), ("video", video)):
            if frames_in is not None and (frames_in.shape != pose_frames.shape or frames_in.dtype != np.uint8):
                raise ValueError(
                    f"{name} must be {pose_frames.shape} uint8 like the pose frames, "
                    f"got {frames_in.shape} {frames_in.dtype}"
                )
        if part_masks is not None and (
            part_masks.ndim != 4 or part_masks.shape[0] != frames or part_masks.shape[2:] != (height, width)
        ):
            raise ValueError(f"part_masks must be ({frames}, bones, {height}, {width}) bool, got {part_masks.shape}")
        if steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
        if not 0 < strength <= 1:  # also refuses nan
            raise ValueError(f"strength must be in (0, 1], got {strength}")
        if strength < 1 and video is None:
            raise ValueError(f"strength {strength} needs a video to refine (video=...)")
        if matching not in ("identity", "attention"):
            raise ValueError(f"matching must be identity or attention, got {matching!r}")
        unknown = [name for name in tensor_inputs if name not in self._callback_tensor_inputs]
        if unknown:
            raise ValueError(
                f"callback_on_step_end_tensor_inputs: {unknown[0]!r} is not one of "
                f"{', '.join(self._callback_tensor_inputs)}"
            )
        if output_type not in ("np", "latent"):
            raise ValueError(f"output_type must be np or latent, got {output_type!r}")

    def encode_prompt(
        self, prompt: str, max_sequence_length: int, device: torch.device, clean: bool = True
    ) -> torch.Tensor:
        """umT5 embeddings of `prompt`, zero past its end as Wan does: (1, max_sequence_length, text_dim).

        clean: collapse whitespace first (False when the caller has cleaned it, e.g. as the release does).
        """
        if clean:
            prompt = re.sub(r"\s+", " ", prompt).strip()
        inputs = self.tokenizer(
            [prompt],
            padding="max_length",
            max_length=max_sequence_length,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        ids, mask = inputs.input_ids.to(device), inputs.attention_mask.to(device)
        embeds = self.text_encoder(ids, mask).last_hidden_state  # (1, L, text_dim)
        return embeds * mask[..., None].to(embeds.dtype)

    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        """VAE latents, normalised as Wan does: (F, H, W, 3) uint8 -> (1, C, F', H/16, W/16) float32."""
        # The execution device, never self.vae.device: under offload the VAE waits on the CPU and diffusers
        # moves its weights (not its inputs) when encode runs.
        video = torch.from_numpy(np.ascontiguousarray(frames)).to(self._execution_device)
        video = video.permute(3, 0, 1, 2)[None].to(self.vae.dtype) / 127.5 - 1  # (1, 3, F, H, W) in [-1, 1]
        latents = self.vae.encode(video).latent_dist.mode().float()
        mean, inv_std = self.latent_stats(latents.device)
        return (latents - mean) * inv_std

    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        """(1, C, F', h, w) normalised latents -> (F, H, W, 3) uint8."""
        mean, inv_std = self.latent_stats(latents.device)
        video = self.vae.decode((latents / inv_std + mean).to(self.vae.dtype), return_dict=False)[0]  # (1, 3, F, H, W)
        video = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return video.permute(1, 2, 3, 0).cpu().numpy()

    def latent_stats(
        self,
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE's latent mean and 1 / std (1, C, 1, 1, 1), computed in float32 and then cast, as the release."""
        z = self.vae.config.z_dim
        mean = torch.tensor(self.vae.config.latents_mean, device=device).view(1, z, 1, 1, 1)
        inv_std = 1.0 / torch.tensor(self.vae.config.latents_std, device=device).view(1, z, 1, 1, 1)
        return mean.to(dtype), inv_std.to(dtype)

    def _callback_kwargs(
        self,
        names: tuple[str, ...],
        latents: torch.Tensor,
        x0: torch.Tensor,
        preview: LatentPreview,
        context: PartContext | None,
    ) -> dict[str, Any]:
        """The values asked for by name; the pictures and matchings are computed only when asked for."""
        values: dict[str, Callable[[], Any]] = {
            "latents": lambda: latents,
            "x0": lambda: x0,
            "preview": lambda: preview(x0[0]),
            # a render shares one sample of parts across its CFG batch: [0] is it
            "matching": lambda: None if context is None else context.matching()[0].cpu().numpy(),
            "attention_matching": lambda: None if context is None else context.attention_matching()[0].cpu().numpy(),
            "part_tokens": lambda: (
                None
                if context is None
                else context.tokens[0].reshape(context.grid[0], -1, context.grid[1], context.grid[2]).cpu().numpy()
            ),
        }
        return {name: values[name]() for name in names}


RELEASE_CALLBACK_INPUTS = ("latents", "x0", "preview", "stage", "release_parts")


def _raw_vae_encode(vae: AutoencoderKLWan, video: torch.Tensor) -> torch.Tensor:
    """The VAE's mean latent of one tile (1, 3, T, H, W), never tiled again inside (the release tiles itself)."""
    tiling, vae.use_tiling = vae.use_tiling, False
    try:
        return vae.encode(video).latent_dist.mode()
    finally:
        vae.use_tiling = tiling


def _raw_vae_decode(vae: AutoencoderKLWan, z: torch.Tensor) -> torch.Tensor:
    """One tile of un-normalised latents -> (1, 3, T, H, W), not clamped: the release clamps after blending.

    diffusers' AutoencoderKLWan._decode without its tiling and its clamp (the same layers, frame by frame).
    """
    from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify

    if hasattr(vae, "_hf_hook") and hasattr(vae._hf_hook, "pre_forward"):
        vae._hf_hook.pre_forward(vae)  # under model offload: bring the VAE's weights to the device
    vae.clear_cache()
    x = vae.post_quant_conv(z)
    frames = []
    for i in range(z.shape[2]):
        vae._conv_idx = [0]
        frames.append(
            vae.decoder(x[:, :, i : i + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx, first_chunk=i == 0)
        )
    out = torch.cat(frames, 2)
    if vae.config.patch_size is not None:
        out = unpatchify(out, patch_size=vae.config.patch_size)
    vae.clear_cache()
    return out


_OOM = (
    "out of GPU memory: use --offload group (or model) and VAE tiling, or render fewer frames or a smaller size "
    "(see docs/neural.md)"
)


def _load_scheduler(root: Path):
    """The scheduler its config names, built from that config alone (a scheduler class only: nothing else loads)."""
    path = root / "scheduler" / "scheduler_config.json"
    config = read_config(path)
    cls = scheduler_class(config, path)
    try:
        return cls.from_config(config)
    except Exception as err:  # a value the scheduler rejects
        raise ModelError(f"{path}: {cls.__name__} does not accept this config ({_first_line(err)[:160]})") from None


def _area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def auto_offload(device: torch.device) -> str:
    """The offload mode for the device's free memory now."""
    if device.type != "cuda":
        return "none"
    free, _ = torch.cuda.mem_get_info(device)
    return "none" if free >= AUTO_NONE_BYTES else "model" if free >= AUTO_MODEL_BYTES else "group"


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


class _Quiet:
    """Loading without progress bars and without diffusers' notes on model_index keys we do not use."""

    def __enter__(self) -> None:
        self.level = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()

    def __exit__(self, *_exc) -> None:
        diffusers_logging.set_verbosity(self.level)
        diffusers_logging.enable_progress_bar()
        transformers_logging.enable_progress_bar()
