"""The official PoseAnything weights (Hugging Face `Ryan241005/PoseAnything`) in our transformer, by name, strictly.

The release is the whole fine-tuned Wan2.2-TI2V-5B DiT as the authors' DiffSynth-Studio fork saves it: original-Wan
key names, `patch_embedding` over [video latent, pose latent] (96 input channels), and on every block the PTC
(`blocks.N.cross_attn_instance.{q,k,v,o,norm_q,norm_k}`) with its input norm `blocks.N.norm4` (LayerNorm with
weight and bias). At full size: 1185 tensors, 6,133,576,896 parameters, in two shards
(`diffusion_pytorch_model-0000{1,2}-of-00002.safetensors`), or the people model in one file
(`tiktok/diffusion_pytorch_model-tiktok.safetensors`).

    model = load_release_transformer("PoseAnything/", read_config(wan_dir / "transformer" / "config.json"))
    out = model(latents, timestep, text, pose_latents=pose, release_parts=parts).sample

Key map (release name -> ours; counts at 30 blocks): the 825 base keys by diffusers' own
`convert_wan_transformer_to_diffusers` (self_attn -> attn1, cross_attn -> attn2, .q/.k/.v/.o -> .to_q/.to_k/.to_v/
.to_out.0, norm3 -> norm2, ffn.0/ffn.2 -> ffn.net.0.proj/ffn.net.2, modulation -> scale_shift_table, head.head ->
proj_out, text/time embeddings -> condition_embedder.*); the 300 PTC keys `blocks.N.cross_attn_instance.*` by
`PTC_RENAMES` to `blocks.N.ptc.{to_q,to_k,to_v,to_out,norm_q,norm_k}` (`part_attention.ReleasePartCrossAttention`)
and the 60 `blocks.N.norm4.{weight,bias}` to `blocks.N.ptc.norm` (its affine LayerNorm).
Every header is read first: the files must hold exactly the release layout for the config (nothing missing,
nothing unexpected, every shape and float dtype right) before a single tensor is read. Never a pickle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from .checks import BASE_DTYPES, check_config, check_finite, header_entries, read_config
from .errors import ModelError
from .transformer import PoseAnythingTransformer3DModel

SHARD_PATTERN = re.compile(r"^diffusion_pytorch_model-(\d{5})-of-(\d{5})\.safetensors$")
INDEX_NAME = "diffusion_pytorch_model.safetensors.index.json"
SINGLE_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model-tiktok.safetensors",
    "tiktok/diffusion_pytorch_model-tiktok.safetensors",
)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
# The release's PTC names (after `blocks.N.`) -> ours (after `blocks.N.ptc.`).
PTC_RENAMES = {
    "cross_attn_instance.q": "to_q",
    "cross_attn_instance.k": "to_k",
    "cross_attn_instance.v": "to_v",
    "cross_attn_instance.o": "to_out",
    "cross_attn_instance.norm_q": "norm_q",
    "cross_attn_instance.norm_k": "norm_k",
    "norm4": "norm",
}
_PTC_KEY = re.compile(r"^blocks\.(\d+)\.(" + "|".join(re.escape(k) for k in PTC_RENAMES) + r")\.(weight|bias)$")
RELEASE_TENSORS = 1185  # at the Wan2.2-TI2V-5B config
RELEASE_PARAMETERS = 6_133_576_896


# -- which files ---------------------------------------------------------------------------------------------
def release_files(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """The safetensors files of a release checkpoint: its folder, any of its shards (the others are found beside
    it), the files themselves, or the TikTok file. ModelError (one line) for a pickle or a missing file."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise ModelError("no release checkpoint given")
    files: list[Path] = []
    for item in map(Path, items):
        found = _folder_files(item) if item.is_dir() else _file_and_siblings(item)
        files.extend(f for f in found if f not in files)
    return files


def _folder_files(folder: Path) -> list[Path]:
    index = folder / INDEX_NAME
    if index.is_file():
        weight_map = read_config(index).get("weight_map")
        if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
            raise ModelError(f"{index}: weight_map must be an object from tensor names to file names")
        names = sorted(set(weight_map.values()))
        for name in names:
            if Path(name).name != name or not name.endswith(".safetensors"):
                raise ModelError(f"{index}: shard {name[:80]!r} must be a .safetensors file in the same folder")
        return [_existing(folder / name) for name in names]
    shards = sorted(p for p in folder.iterdir() if SHARD_PATTERN.match(p.name))
    if shards:
        return _file_and_siblings(shards[0])
    for name in SINGLE_NAMES:
        if (folder / name).is_file():
            return [folder / name]
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        raise ModelError(
            f"{folder / pickles[0]}: pickle checkpoints are never loaded; the release's DiT is the "
            f"diffusion_pytorch_model-*.safetensors shards"
        )
    raise ModelError(
        f"{folder}: no release weights here (expected diffusion_pytorch_model-00001-of-00002"
        f".safetensors and -00002-of-00002, or tiktok/diffusion_pytorch_model-tiktok.safetensors)"
    )


def _file_and_siblings(file: Path) -> list[Path]:
    if file.suffix in PICKLE_SUFFIXES:
        raise ModelError(f"{file}: pickle checkpoints are never loaded; use the .safetensors files")
    if file.suffix != ".safetensors":
        raise ModelError(f"{file}: the release's weights are .safetensors files")
    match = SHARD_PATTERN.match(file.name)
    if not match:
        return [_existing(file)]
    total = int(match.group(2))
    return [
        _existing(file.with_name(f"diffusion_pytorch_model-{i:05d}-of-{total:05d}.safetensors"))
        for i in range(1, total + 1)
    ]


def _existing(file: Path) -> Path:
    if not file.is_file():
        raise ModelError(f"{file}: not found (a release checkpoint needs every shard)")
    return file


def is_release_checkpoint(path: str | Path | Sequence[str | Path]) -> bool:
    """Whether `path` should load as the official release (a folder, shards, or a file in original-Wan names)
    rather than as our own delta checkpoint; reads at most one header and never raises."""
    if not isinstance(path, str | Path):
        return True
    path = Path(path)
    if path.is_dir() or SHARD_PATTERN.match(path.name):
        return True
    if path.suffix != ".safetensors" or not path.is_file():
        return False
    try:
        with safe_open(str(path), framework="pt") as f:
            if (f.metadata() or {}).get("format") == "poseanything-checkpoint":
                return False
            names = f.keys()  # safe_open has no __iter__
            return any(k.startswith("blocks.") and (".self_attn." in k or ".cross_attn_instance." in k) for k in names)
    except Exception:  # unreadable: our own loader says so in its words
        return False


# -- the key map and the layout ------------------------------------------------------------------------------
def release_key_map(names: Sequence[str]) -> dict[str, str]:
    """Release (original-Wan) tensor name -> our name, for every name given."""
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    ours = {}
    base = []
    for name in names:
        match = _PTC_KEY.match(name)
        if match:
            block, module, kind = match.groups()
            ours[name] = f"blocks.{block}.ptc.{PTC_RENAMES[module]}.{kind}"
        else:
            base.append(name)
    converted = convert_wan_transformer_to_diffusers({name: name for name in base})  # {ours: release}
    ours.update({release: new for new, release in converted.items()})
    return ours


def release_names(config: Mapping[str, Any]) -> list[str]:
    """The tensor names of the release's DiT at `config` (our transformer config), as the authors' code names them."""
    names = ["patch_embedding.weight", "patch_embedding.bias", "head.head.weight", "head.head.bias", "head.modulation"]
    for layer in ("text_embedding.0", "text_embedding.2", "time_embedding.0", "time_embedding.2", "time_projection.1"):
        names += [f"{layer}.weight", f"{layer}.bias"]
    for i in range(config["num_layers"]):
        block = f"blocks.{i}."
        for attention in ("self_attn", "cross_attn", "cross_attn_instance"):
            names += [f"{block}{attention}.{p}.{k}" for p in "qkvo" for k in ("weight", "bias")]
            names += [f"{block}{attention}.norm_q.weight", f"{block}{attention}.norm_k.weight"]
        names += [f"{block}{n}.{k}" for n in ("norm3", "ffn.0", "ffn.2", "norm4") for k in ("weight", "bias")]
        names.append(f"{block}modulation")
    return names


def release_config(base_config: Mapping[str, Any], pose_channels: int | None = None) -> dict[str, Any]:
    """Our transformer config for the release: the Wan2.2 base config, the release variant, pose channels."""
    config = {
        k: v for k, v in base_config.items() if not k.startswith("_") and k not in ("pose_channels", "ptcm", "variant")
    }
    return config | {
        "pose_channels": pose_channels or config.get("in_channels", 48),
        "ptcm": False,
        "variant": "release",
    }


def release_layout(config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Release tensor name -> shape at `config` (from `release_config`), from our model built on the meta device.

    Also a check of the key map itself: it must land every release name on exactly our model's tensors.
    """
    with torch.device("meta"):
        model = PoseAnythingTransformer3DModel(**config)
    ours = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    names = release_names(config)
    mapping = release_key_map(names)
    if sorted(mapping.values()) != sorted(ours):
        missing = sorted(set(ours) - set(mapping.values()))
        raise ModelError(f"the release key map does not cover our model (first: {missing[:1]})")
    return {name: ours[mapping[name]] for name in names}


# -- checking and loading ------------------------------------------------------------------------------------
def check_release_files(
    files: Sequence[Path], base_config: Mapping[str, Any], source: str | Path = "the release checkpoint"
) -> dict[str, Any]:
    """From the headers only: the files hold exactly the release layout; returns our config for them.

    ModelError naming the file and the first unexpected tensor (a folder that is not the release), or the first
    missing, misshapen or non-float one.
    """
    check_config("transformer", base_config, source)
    entries: dict[str, Any] = {}
    for file in files:
        for name, entry in header_entries(file).items():
            if name in entries:
                raise ModelError(f"{file}: tensor {name} is also in {entries[name].file.name}")
            entries[name] = entry
    known = set(release_names(base_config))
    unexpected = [name for name in entries if name not in known]
    if unexpected:
        first = entries[unexpected[0]]
        diffusers_names = any(".attn1." in n or n.startswith("condition_embedder.") for n in unexpected)
        hint = (
            "diffusers names: a Wan2.2 diffusers transformer, not the release"
            if diffusers_names
            else "is this the release, at the Wan2.2-TI2V-5B config?"
        )
        raise ModelError(
            f"{first.file}: tensor {unexpected[0]} is not part of the PoseAnything release's DiT "
            f"({len(unexpected)} unexpected; {hint})"
        )
    embed = entries.get("patch_embedding.weight")
    in_channels = base_config.get("in_channels", 48)
    if embed is not None and (len(embed.shape) != 5 or embed.shape[1] <= in_channels):
        raise ModelError(
            f"{embed.file}: tensor patch_embedding.weight has shape {embed.shape}; the release takes "
            f"[video latent, pose latent] ({in_channels} + pose channels)"
        )
    config = release_config(base_config, embed.shape[1] - in_channels if embed is not None else None)
    layout = release_layout(config)
    for name, shape in layout.items():
        if name not in entries:
            raise ModelError(
                f"{source}: tensor {name} is missing from the release's weights (a shard missing or "
                f"truncated, or another model?)"
            )
        entry = entries[name]
        if entry.shape != shape:
            raise ModelError(
                f"{entry.file}: tensor {name} has shape {entry.shape}, the release at this config has {shape}"
            )
        if entry.torch_dtype not in BASE_DTYPES:
            raise ModelError(
                f"{entry.file}: tensor {name} is {entry.dtype}; weights must be float32, bfloat16 or float16"
            )
    return config


def load_release_transformer(
    paths: str | Path | Sequence[str | Path], base_config: Mapping[str, Any], dtype: torch.dtype = torch.float32
) -> PoseAnythingTransformer3DModel:
    """The official release's DiT as our transformer (variant "release"), every tensor by name, on the CPU.

    `paths`: the release folder, its shard files, or the TikTok file; `base_config`: the transformer config of the
    local Wan2.2-TI2V-5B-Diffusers folder (`transformer/config.json`). Headers are checked before anything is
    read; a NaN or infinity in a tensor is refused after. Tensors are cast to `dtype` as they are read.
    """
    files = release_files(paths)
    source = files[0].parent if len(files) > 1 else files[0]
    config = check_release_files(files, base_config, source)
    with torch.device("meta"):
        model = PoseAnythingTransformer3DModel(**config)
    mapping = release_key_map(release_names(config))
    state = {}
    for file in files:
        try:
            with safe_open(str(file), framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                    state[mapping[name]] = f.get_tensor(name).to(dtype)
        except (OSError, RuntimeError, ValueError) as err:  # safetensors' own errors on a damaged file
            raise ModelError(f"{file}: not a readable .safetensors file ({str(err).splitlines()[0][:160]})") from None
    check_finite(((name, state[ours]) for name, ours in mapping.items()), source)
    model.load_state_dict(state, strict=True, assign=True)
    _rebuild_buffers(model)
    return model.eval()


def _rebuild_buffers(model: PoseAnythingTransformer3DModel) -> None:
    """The buffers outside the state dict (RoPE's frequency tables), built for real after a meta-device build."""
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    cfg = model.config
    model.rope = WanRotaryPosEmbed(cfg.attention_head_dim, cfg.patch_size, cfg.rope_max_seq_len)
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type == "meta"]
    if left:
        raise ModelError(f"the release loader left {left[0]} unset")  # a tensor nothing filled: never random


def release_parameters(config: Mapping[str, Any]) -> tuple[int, int]:
    """(tensors, parameters) of the release's layout at `config`, counted on the meta device."""
    layout = release_layout(config)
    return len(layout), sum(int(torch.Size(s).numel()) for s in layout.values())


def write_release_checkpoint(model: PoseAnythingTransformer3DModel, folder: str | Path, shards: int = 2) -> list[Path]:
    """Save a release-variant model in the release's own layout (original-Wan names, `shards` shard files).

    For tests and benchmarks: random weights in the official layout load exactly as the release does.
    """
    from safetensors.torch import save_file

    from poseanything_studio.core.fileio import atomic_path

    if model.config.variant != "release":
        raise ModelError("write_release_checkpoint needs a model of the release variant")
    state = model.state_dict()
    names = release_names(model.config)
    mapping = release_key_map(names)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(names) // shards)
    written = []
    for index in range(shards):
        path = folder / f"diffusion_pytorch_model-{index + 1:05d}-of-{shards:05d}.safetensors"
        part = {name: state[mapping[name]].detach().contiguous().cpu() for name in names[index * size :][:size]}
        with atomic_path(path, suffix=".safetensors") as tmp:
            save_file(part, str(tmp), metadata={"format": "pt"})
        written.append(path)
    return written
