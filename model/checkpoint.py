"""PoseAnything checkpoints: what we add to Wan2.2-TI2V-5B, as one `.safetensors` file (never pickle).

Tensors: `patch_embedding.weight` (D, C + C_pose, 1, 2, 2) and `.bias`, every `blocks.{i}.ptcm.*`, and
LoRA weights under `lora.` (peft names) when the transformer carries an adapter. The header's metadata
says the format, the pose channels and the LoRA config (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .checks import CHECKPOINT_DTYPES, check_finite, check_lora_metadata, check_state_dict
from .errors import ModelError
from .transformer import PoseAnythingTransformer3DModel

FORMAT = "poseanything-checkpoint"
LORA_PREFIX = "lora."


def checkpoint_state_dict(model: PoseAnythingTransformer3DModel) -> dict[str, torch.Tensor]:
    """The tensors we add: the widened patch embedding and PTCM (and LoRA under `lora.`)."""
    state = {
        k: v
        for k, v in model.state_dict().items()
        if (k.startswith("patch_embedding.") or ".ptcm." in k) and "lora_" not in k
    }
    state = {k.replace(".base_layer.", "."): v for k, v in state.items()}
    if getattr(model, "peft_config", None):
        from peft.utils import get_peft_model_state_dict

        lora = get_peft_model_state_dict(model, adapter_name=_adapter(model))
        state.update({LORA_PREFIX + k: v for k, v in lora.items()})
    return state


def save_checkpoint(model: PoseAnythingTransformer3DModel, path: str | Path) -> Path:
    """Write the checkpoint to `path` (.safetensors)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ModelError(f"{path}: a PoseAnything checkpoint is a .safetensors file")
    metadata = {
        "format": FORMAT,
        "version": "1",
        "pose_channels": str(model.config.pose_channels),
        "ptcm": str(bool(model.ptcm_modules)).lower(),
    }
    if getattr(model, "peft_config", None):
        config = model.peft_config[_adapter(model)]
        metadata["lora"] = json.dumps(
            {"r": config.r, "lora_alpha": config.lora_alpha, "target_modules": sorted(config.target_modules)}
        )
    state = {k: v.detach().contiguous().cpu() for k, v in checkpoint_state_dict(model).items()}
    from poseanything_studio.core.fileio import atomic_path

    with atomic_path(path, suffix=".safetensors") as tmp:  # whole under its name or not at all
        save_file(state, str(tmp), metadata=metadata)
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a checkpoint; refuses anything but .safetensors."""
    path = Path(path)
    if path.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl"):
        raise ModelError(f"{path}: pickle checkpoints are never loaded; convert it to .safetensors")
    if path.suffix != ".safetensors":
        raise ModelError(f"{path}: a PoseAnything checkpoint must be a .safetensors file")
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    except Exception as err:  # safetensors raises its own error types
        raise ModelError(f"{path}: not a readable .safetensors file ({err})") from None
    if metadata.get("format") != FORMAT:
        from .release import is_release_checkpoint

        if is_release_checkpoint(path):
            raise ModelError(
                f"{path}: this is the official release's DiT, not one of our delta checkpoints; the "
                f"pipeline loads it as --checkpoint (model.release.load_release_transformer)"
            )
        raise ModelError(f"{path}: not a PoseAnything checkpoint (metadata format is {metadata.get('format')!r})")
    return state, metadata


def load_checkpoint(model: PoseAnythingTransformer3DModel, path: str | Path) -> None:
    """Load a checkpoint into `model` in place; a missing, misshapen, non-float or non-finite tensor is a ModelError."""
    state, metadata = read_checkpoint(path)
    if "lora" in metadata and not getattr(model, "peft_config", None):
        _add_lora(model, check_lora_metadata(metadata["lora"], path), path)
    lora = {k[len(LORA_PREFIX) :]: v for k, v in state.items() if k.startswith(LORA_PREFIX)}
    ours = {k: v for k, v in state.items() if not k.startswith(LORA_PREFIX)}
    expected = {k: tuple(v.shape) for k, v in checkpoint_state_dict(model).items() if not k.startswith(LORA_PREFIX)}
    check_state_dict(ours, expected, path)
    if lora and not getattr(model, "peft_config", None):
        raise ModelError(f"{path}: holds LoRA tensors but no 'lora' metadata saying how to build the adapter")
    for name, tensor in lora.items():
        if tensor.dtype not in CHECKPOINT_DTYPES:
            raise ModelError(f"{path}: tensor {LORA_PREFIX}{name} is {str(tensor.dtype).removeprefix('torch.')}")
    check_finite(((LORA_PREFIX + k, v) for k, v in lora.items()), path)
    with torch.no_grad():
        params = dict(model.named_parameters())
        for name, tensor in ours.items():
            target = params[name] if name in params else params[_base_layer(name)]
            target.copy_(tensor.to(target.dtype))
    if lora:
        from peft.utils import set_peft_model_state_dict

        try:
            result = set_peft_model_state_dict(model, lora, adapter_name=_adapter(model))
        except RuntimeError as err:  # torch's "size mismatch for ...": the first line names the tensor
            raise ModelError(
                f"{path}: a LoRA tensor does not fit this model ({str(err).splitlines()[-1].strip()})"
            ) from None
        if getattr(result, "unexpected_keys", None):
            raise ModelError(f"{path}: LoRA tensor {result.unexpected_keys[0]} does not fit this model")


def _add_lora(model: PoseAnythingTransformer3DModel, settings: dict, path: str | Path) -> None:
    """The checkpoint's LoRA adapter on `model`; ModelError when it names modules the model lacks."""
    import warnings

    from peft import LoraConfig

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # peft's "some target modules not found": checked below
            model.add_adapter(LoraConfig(**settings))
    except ValueError as err:  # peft's NoMatchingPeftModuleError is one
        targets = ", ".join(settings["target_modules"])[:120]
        raise ModelError(
            f"{path}: metadata lora.target_modules ({targets}) names no module of this model "
            f"({' '.join(str(err).split())[:160]})"
        ) from None


def _base_layer(name: str) -> str:
    """Where a weight lives once LoRA wraps its layer: a.b.weight -> a.b.base_layer.weight."""
    module, _, kind = name.rpartition(".")
    return f"{module}.base_layer.{kind}"


def _adapter(model) -> str:
    return next(iter(model.peft_config))
