"""PoseAnythingPipeline: a reference image, pose frames, part masks and a prompt -> video frames.

Wan2.2-TI2V-5B conditioning (as diffusers' WanImageToVideoPipeline with `expand_timesteps`): the first
latent frame is the reference image's latent with timestep 0 on its tokens, the rest is noise. The pose
frames go through the same VAE and ride beside the latents on channels; PTCM reads the part masks; the
decoupled CFG (model.guidance) puts the camera rectangle in the negative anchor.

    pipe = PoseAnythingPipeline.from_model_dir("Wan2.2-TI2V-5B-Diffusers", "poseanything.safetensors")
    frames = pipe(image, pose_frames, part_masks, prompt="a cat walks", seed=0)  # (F, H, W, 3) uint8
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from diffusers import AutoencoderKLWan, DiffusionPipeline, WanTransformer3DModel
from transformers import AutoTokenizer, UMT5EncoderModel
from transformers.utils import logging as transformers_logging

from .checkpoint import load_checkpoint
from .errors import ModelError, PipelineInterrupted
from .guidance import DecoupledGuidance
from .part_attention import PartContext
from .transformer import PoseAnythingTransformer3DModel

# What a Wan2.2-TI2V-5B diffusers folder must hold: sub-folder -> files (a tuple means one of them).
REQUIRED_FILES: dict[str, tuple] = {
    "transformer": ("config.json",
                    ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json")),
    "vae": ("config.json", ("diffusion_pytorch_model.safetensors",)),
    "text_encoder": ("config.json", ("model.safetensors", "model.safetensors.index.json")),
    "tokenizer": (("tokenizer.json", "spiece.model"),),
    "scheduler": ("scheduler_config.json",),
}
OFFLOAD_MODES = ("auto", "none", "model", "group")
# `offload="auto"` by free GPU memory (measured peaks, model/memory.py); below the model-offload line group
# offload streams the transformer and text encoder block by block.
AUTO_NONE_BYTES = 50 * 2**30  # measured peak, all resident: 45.8 GiB (1280x704x121, H100)
AUTO_MODEL_BYTES = 30 * 2**30  # model offload + VAE tiling: 24.7 GiB; group offload + VAE tiling: 14.2 GiB


def check_model_dir(model_dir: str | Path) -> Path:
    """The folder if it holds a whole Wan2.2 diffusers layout (safetensors only); else a ModelError naming the gap."""
    root = Path(model_dir).expanduser()
    if not root.is_dir():
        raise ModelError(f"model folder {root} does not exist (a local Wan2.2-TI2V-5B diffusers folder)")
    if not (root / "model_index.json").is_file():
        raise ModelError(f"{root}: model_index.json is missing (not a diffusers model folder)")
    for sub, files in REQUIRED_FILES.items():
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


class PoseAnythingPipeline(DiffusionPipeline):
    """Pose-guided video from one picture on Wan2.2-TI2V-5B: channel-concat pose, PTCM, decoupled CFG."""

    model_cpu_offload_seq = "text_encoder->transformer->vae"
    _callback_tensor_inputs = ("latents", "x0")

    def __init__(self, tokenizer, text_encoder: UMT5EncoderModel, vae: AutoencoderKLWan, scheduler,
                 transformer: PoseAnythingTransformer3DModel):
        super().__init__()
        self.register_modules(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                              transformer=transformer)
        self.vae_scale_factor_temporal = vae.config.scale_factor_temporal
        self.vae_scale_factor_spatial = vae.config.scale_factor_spatial
        self._interrupt = False

    # -- loading ------------------------------------------------------------------------------------------
    @classmethod
    def from_model_dir(cls, model_dir: str | Path, checkpoint: str | Path | None = None, device: str = "cuda",
                       offload: str | bool | None = "auto", vae_tiling: bool | None = None,
                       compile: bool = False) -> PoseAnythingPipeline:
        """Load a local Wan2.2-TI2V-5B diffusers folder and a PoseAnything checkpoint; bf16 on CUDA.

        offload: "auto" | "none" | "model" | "group" (see `place`); vae_tiling: encode and decode in tiles
        (None: on whenever offload is, which is what brings 1280x704x121 from 23.8 to 14.2 GiB under group
        offload); compile: regional torch.compile of the transformer blocks (see `compile_transformer`).
        """
        device = torch.device(device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ModelError("CUDA is not available: the poseanything renderer needs an NVIDIA GPU "
                             "(use --device cpu for the tiny test model, or the puppet renderer)")
        root = check_model_dir(model_dir)
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        load = {"use_safetensors": True, "local_files_only": True}
        transformers_logging.disable_progress_bar()
        try:
            tokenizer = AutoTokenizer.from_pretrained(root / "tokenizer", local_files_only=True)
            text_encoder = UMT5EncoderModel.from_pretrained(root / "text_encoder", dtype=dtype, **load)
            vae = AutoencoderKLWan.from_pretrained(root, subfolder="vae", torch_dtype=torch.float32, **load)
            scheduler = _load_scheduler(root)
            base = WanTransformer3DModel.from_pretrained(root, subfolder="transformer", torch_dtype=dtype, **load)
        except (OSError, ValueError, KeyError) as err:
            raise ModelError(f"{root}: could not load the model ({_first_line(err)})") from None
        finally:
            transformers_logging.enable_progress_bar()
        transformer = PoseAnythingTransformer3DModel.from_base(base)
        del base
        if checkpoint is not None:
            load_checkpoint(transformer, checkpoint)
        pipe = cls(tokenizer, text_encoder.eval(), vae.eval(), scheduler, transformer.eval())
        mode = pipe.place(device, offload)
        if vae_tiling or (vae_tiling is None and mode != "none"):
            vae.enable_tiling()
        if compile:
            pipe.compile_transformer()
        return pipe

    def compile_transformer(self, **compile_kwargs: Any) -> None:
        """Regional torch.compile: each repeated WanTransformerBlock compiled once, reused by all 30.

        diffusers' `compile_repeated_blocks`; PTCM's hooks run outside the compiled graphs (torch.compiler
        .disable), since its part grouping depends on the part masks. kwargs go to torch.compile.
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
            mode = _auto_offload(device)
        try:
            if mode == "model":
                self.enable_model_cpu_offload(device=device)
            elif mode == "group":
                self.to("cpu")
                stream = device.type == "cuda"
                self.enable_group_offload(onload_device=device, offload_type="block_level", num_blocks_per_group=1,
                                          use_stream=stream, non_blocking=stream, exclude_modules=["vae"])
            else:
                self.to(device)
        except torch.OutOfMemoryError:
            raise ModelError(_OOM) from None
        return mode

    # -- properties as diffusers pipelines have them -------------------------------------------------------
    @property
    def interrupt(self) -> bool:
        return self._interrupt

    @interrupt.setter
    def interrupt(self, value: bool) -> None:
        """Set True (e.g. from a callback or another thread) to stop before the next step."""
        self._interrupt = bool(value)

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
        seed: int = 0,
        matching: str = "identity",
        matching_steps: int = 5,
        max_sequence_length: int = 512,
        callback_on_step_end: Callable[[Any, int, Any, dict], dict | None] | None = None,
        output_type: str = "np",
        part_coverage: np.ndarray | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Render: image (H, W, 3) uint8, pose_frames and camera_frames (F, H, W, 3) uint8, part_masks (F, B, H, W)
        bool -> frames (F, H, W, 3) uint8 (or the latents for output_type="latent").

        callback_on_step_end(pipe, step, timestep, kwargs) gets kwargs with "latents", "x0", "preview"
        ((F', h, w, 3) uint8), "matching" and "attention_matching" ((F', B) int), "part_tokens"
        ((F', B, h, w) bool), "step" and "steps"; it may return {"latents": ...}. Set `pipe.interrupt = True`
        to stop: the call then raises PipelineInterrupted. For long renders pass `part_coverage` (F', B, h, w)
        float, the masks already pooled by `model.part_attention.pool_part_masks`, instead of `part_masks`.
        """
        try:
            return self._call(image, pose_frames, part_masks, camera_frames, prompt, negative_prompt,
                              num_inference_steps, guidance_scale, seed, matching, matching_steps,
                              max_sequence_length, callback_on_step_end, output_type, part_coverage)
        except torch.OutOfMemoryError:
            raise ModelError(_OOM) from None
        finally:
            self.maybe_free_model_hooks()

    def _call(self, image, pose_frames, part_masks, camera_frames, prompt, negative_prompt, num_inference_steps,
              guidance_scale, seed, matching, matching_steps, max_sequence_length, callback_on_step_end, output_type,
              part_coverage):
        # 1. Check inputs
        self.check_inputs(image, pose_frames, part_masks, camera_frames, num_inference_steps, matching)
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

        # 4. Part context for PTCM
        context = None
        if self.transformer.ptcm_modules and part_coverage is not None and part_coverage.shape[1]:
            context = PartContext.from_coverage(torch.as_tensor(part_coverage), mode=matching, device=device)
        elif self.transformer.ptcm_modules and part_masks is not None and part_masks.shape[1]:
            context = PartContext.from_masks(part_masks, mode=matching, device=device)

        # 5. Timesteps and latents: the first latent frame is the image, the rest seeded noise
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        latent_frames = (frames - 1) // self.vae_scale_factor_temporal + 1
        shape = (1, self.vae.config.z_dim, latent_frames, pose.shape[3], pose.shape[4])
        generator = torch.Generator("cpu").manual_seed(int(seed))
        latents = torch.randn(shape, generator=generator, dtype=torch.float32).to(device)
        condition = condition.to(device, torch.float32)
        noise_mask = torch.ones(1, 1, *shape[2:], device=device)  # (1, 1, F', h, w): 0 on the image frame
        noise_mask[:, :, 0] = 0
        p_h, p_w = self.transformer.config.patch_size[1:]
        pose_batch = guidance.batch(pose, anchor_pose).to(device, dtype)
        text_batch = guidance.batch(prompt_embeds, negative_embeds)

        # 6. Denoising loop
        self._num_timesteps = len(timesteps)
        self.scheduler.set_begin_index(0)
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
                sigma = self.scheduler.sigmas[i].to(device) if hasattr(self.scheduler, "sigmas") else t / 1000
                x0 = (1 - noise_mask) * condition + noise_mask * (model_input - sigma * velocity)
                latents = self.scheduler.step(velocity, t, latents, return_dict=False)[0]

                if callback_on_step_end is not None:
                    kwargs = self._callback_kwargs(i, len(timesteps), latents, x0, preview, context)
                    outputs = callback_on_step_end(self, i, t, kwargs) or {}
                    latents = outputs.pop("latents", latents)
                progress.update()

        # 7. Decode
        latents = (1 - noise_mask) * condition + noise_mask * latents
        if output_type == "latent":
            return latents
        return self.decode_latents(latents)

    # -- steps ----------------------------------------------------------------------------------------------
    def check_inputs(self, image: np.ndarray, pose_frames: np.ndarray, part_masks: np.ndarray | None,
                     camera_frames: np.ndarray | None, steps: int, matching: str) -> None:
        """One clear ValueError for any input that does not fit."""
        if pose_frames.ndim != 4 or pose_frames.shape[-1] != 3 or pose_frames.dtype != np.uint8:
            raise ValueError(f"pose_frames must be (frames, height, width, 3) uint8, got {pose_frames.shape} "
                             f"{pose_frames.dtype}")
        frames, height, width = pose_frames.shape[:3]
        multiple = self.vae_scale_factor_spatial * self.transformer.config.patch_size[1]
        if (frames - 1) % self.vae_scale_factor_temporal:
            raise ValueError(f"{frames} frames: the Wan VAE needs 4k+1 frames (e.g. 49, 81, 121)")
        if height % multiple or width % multiple:
            raise ValueError(f"size {width}x{height}: width and height must be multiples of {multiple}")
        if image.shape != (height, width, 3) or image.dtype != np.uint8:
            raise ValueError(f"image must be ({height}, {width}, 3) uint8 like the pose frames, got {image.shape} "
                             f"{image.dtype}")
        if camera_frames is not None and (camera_frames.shape != pose_frames.shape or camera_frames.dtype != np.uint8):
            raise ValueError(f"camera_frames must be {pose_frames.shape} uint8 like the pose frames, "
                             f"got {camera_frames.shape}")
        if part_masks is not None and (part_masks.ndim != 4 or part_masks.shape[0] != frames
                                       or part_masks.shape[2:] != (height, width)):
            raise ValueError(f"part_masks must be ({frames}, bones, {height}, {width}) bool, got {part_masks.shape}")
        if steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {steps}")
        if matching not in ("identity", "attention"):
            raise ValueError(f"matching must be identity or attention, got {matching!r}")

    def encode_prompt(self, prompt: str, max_sequence_length: int, device: torch.device) -> torch.Tensor:
        """umT5 embeddings of `prompt`, zero past its end as Wan does: (1, max_sequence_length, text_dim)."""
        prompt = re.sub(r"\s+", " ", prompt).strip()
        inputs = self.tokenizer([prompt], padding="max_length", max_length=max_sequence_length, truncation=True,
                                add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
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
        mean, inv_std = self._latent_stats(latents.device)
        return (latents - mean) * inv_std

    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        """(1, C, F', h, w) normalised latents -> (F, H, W, 3) uint8."""
        mean, inv_std = self._latent_stats(latents.device)
        video = self.vae.decode((latents / inv_std + mean).to(self.vae.dtype), return_dict=False)[0]  # (1, 3, F, H, W)
        video = ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return video.permute(1, 2, 3, 0).cpu().numpy()

    def _latent_stats(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.vae.config.z_dim
        mean = torch.tensor(self.vae.config.latents_mean, device=device).view(1, z, 1, 1, 1)
        inv_std = 1.0 / torch.tensor(self.vae.config.latents_std, device=device).view(1, z, 1, 1, 1)
        return mean, inv_std

    def _callback_kwargs(self, step: int, steps: int, latents: torch.Tensor, x0: torch.Tensor,
                         preview: LatentPreview, context: PartContext | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"latents": latents, "x0": x0, "preview": preview(x0[0]), "step": step + 1,
                                  "steps": steps, "matching": None, "attention_matching": None, "part_tokens": None}
        if context is not None:
            frames, h, w = context.grid
            kwargs["matching"] = context.matching()[0].cpu().numpy()  # the render's one sample of parts
            kwargs["attention_matching"] = context.attention_matching()[0].cpu().numpy()
            kwargs["part_tokens"] = context.tokens[0].reshape(frames, -1, h, w).cpu().numpy()
        return kwargs


_OOM = ("out of GPU memory: use --offload group (or model) and VAE tiling, or render fewer frames or a smaller size "
        "(see docs/neural.md)")


def _load_scheduler(root: Path):
    import diffusers

    config = json.loads((root / "scheduler" / "scheduler_config.json").read_text())
    cls = getattr(diffusers, config.get("_class_name", ""), None)
    if cls is None:
        raise ModelError(f"{root}: scheduler/scheduler_config.json names an unknown scheduler "
                         f"{config.get('_class_name')!r}")
    return cls.from_pretrained(root, subfolder="scheduler", local_files_only=True)


def _area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _auto_offload(device: torch.device) -> str:
    """The offload mode for the device's free memory now."""
    if device.type != "cuda":
        return "none"
    free, _ = torch.cuda.mem_get_info(device)
    return "none" if free >= AUTO_NONE_BYTES else "model" if free >= AUTO_MODEL_BYTES else "group"


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
