"""Checks on model files before and after loading: configs against the Wan2.2 layout, tensors against the model.

Small functions the loader calls (whatever loads the weights, `from_pretrained` or our own code):

- `read_config(path)`: a config file as a JSON object, or one ModelError line.
- `check_config(component, config, source)`: every size value a whole number inside the bounds of the
  Wan2.2 family, checked BEFORE anything is allocated (a config.json asking for 100,000 layers is refused).
- `expected_tensors(component, config)`: name -> shape of every tensor the component needs, from a model built
  on the meta device (no memory).
- `header_entries(file)`: every tensor a safetensors header describes (dtype, shape, bytes), nothing read.
- `check_weight_files(folder, weights, expected, source)`: reads only the safetensors headers (one file or a
  sharded index) and names the first missing, misshapen or non-float tensor, or the largest unused one when
  unused tensors pass 1 MiB (a loader would read them: a stray 6 GB tensor is refused, not loaded).
- `check_state_dict(state, expected, source, dtypes)`: the same for tensors already in memory (our checkpoint).
- `check_finite(named_tensors, source)`: no NaN or infinity in any tensor (chunked: no large temporaries).
- `check_lora_metadata(text, source)`: the LoRA config in a checkpoint's header, as LoraConfig keyword arguments.
- `check_component_files(root)`: all of the above for a Wan2.2 diffusers folder's transformer, VAE and text
  encoder, from configs and headers only (call it before `from_pretrained`).
- `scheduler_class(config, source)`: the diffusers scheduler class a scheduler config names (never a model),
  with num_train_timesteps bounded before the scheduler builds tables from it.

Nothing here calls torch.load or unpickles anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from poseanything_studio.core.model_files import MODEL_INDEX_NAME

from .errors import ModelError

# Upper bounds per size key: the Wan2.2 family (TI2V-5B: 30 layers, 24x128 heads, ffn 14336; A14B: 40 layers,
# 40x128 heads, ffn 13824; umT5-XXL: d_model 4096, 24 layers, vocab 256,384) with headroom; a value past one of
# these is a broken or hostile file, refused before a single tensor is allocated.
CONFIG_BOUNDS: dict[str, dict[str, int]] = {
    "transformer": {
        "num_layers": 64,
        "num_attention_heads": 128,
        "attention_head_dim": 512,
        "in_channels": 512,
        "out_channels": 512,
        "text_dim": 16384,
        "freq_dim": 4096,
        "ffn_dim": 65536,
        "rope_max_seq_len": 65536,
        "image_dim": 16384,
        "pos_embed_seq_len": 1 << 20,
    },
    "vae": {
        "base_dim": 1024,
        "decoder_base_dim": 1024,
        "z_dim": 512,
        "num_res_blocks": 16,
        "in_channels": 64,
        "out_channels": 64,
        "patch_size": 16,
        "scale_factor_spatial": 64,
        "scale_factor_temporal": 16,
    },
    "text_encoder": {
        "d_model": 16384,
        "d_kv": 1024,
        "d_ff": 65536,
        "num_layers": 128,
        "num_decoder_layers": 128,
        "num_heads": 256,
        "vocab_size": 1_000_000,
        "relative_attention_num_buckets": 4096,
        "relative_attention_max_distance": 65536,
    },
}
MAX_LIST_ITEMS = 16  # e.g. the VAE's dim_mult
MAX_CONFIG_LIST = 4096  # any list in a config
MAX_PARAMETERS = 40_000_000_000  # of one component, counted on the meta device before loading
BASE_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
CHECKPOINT_DTYPES = (torch.float32, torch.bfloat16)  # what save_checkpoint writes
_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
_SAFETENSORS_ITEMSIZE = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
_FINITE_CHUNK = 1 << 24  # elements checked at a time
MAX_UNUSED_BYTES = 1 << 20  # tensors a weights file holds beyond the model's: loaders read them too, so bounded
# The scheduler config's sizes: num_train_timesteps sizes its tables (1e9 of them cost 4.3 GB).
SCHEDULER_BOUNDS = {"num_train_timesteps": 100_000}


def read_config(path: Path) -> dict[str, Any]:
    """The JSON object in `path`; ModelError (one line, naming the file) if it is unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0][:120]
        raise ModelError(f"{path}: not a readable JSON config ({reason})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: must hold a JSON object, found {type(data).__name__}")
    return data


def check_config(component: str, config: Mapping[str, Any], source: str | Path) -> None:
    """Every size value of `config` a whole number from 1 to its Wan2.2 bound; lists short and of such numbers."""
    for key, bound in CONFIG_BOUNDS[component].items():
        if key in config and config[key] is not None:
            _check_size(config[key], bound, f"{source}: {key}")
    for key, value in config.items():
        if isinstance(value, list) and len(value) > MAX_CONFIG_LIST:  # e.g. latents_mean has one per channel
            raise ModelError(f"{source}: {key} has {len(value)} items (at most {MAX_CONFIG_LIST})")
    if component == "vae":
        mult = config.get("dim_mult", [1])
        if not isinstance(mult, list) or not 1 <= len(mult) <= MAX_LIST_ITEMS:
            raise ModelError(f"{source}: dim_mult must be a list of 1 to {MAX_LIST_ITEMS} whole numbers")
        for i, value in enumerate(mult):
            _check_size(value, 64, f"{source}: dim_mult[{i}]")
    if component == "transformer" and "patch_size" in config:
        patch = config["patch_size"]
        if not isinstance(patch, list | tuple) or len(patch) != 3:
            raise ModelError(f"{source}: patch_size must be [t, h, w]")
        for i, value in enumerate(patch):
            _check_size(value, 16, f"{source}: patch_size[{i}]")


def _check_size(value: Any, bound: int, where: str, what: str = "the Wan2.2 layout") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bound:
        shown = repr(value)[:40] if not isinstance(value, int) or value.bit_length() < 64 else "a huge number"
        raise ModelError(f"{where} is {shown}; {what} allows whole numbers from 1 to {bound}")


def expected_tensors(
    model_class, config: Mapping[str, Any], source: str | Path
) -> tuple[dict[str, tuple[int, ...]], list[set[str]]]:
    """Name -> shape of every tensor in the state dict of `model_class(config)`, built on the meta device.

    Also the groups of names that share one tensor (umT5's tied embedding): a file needs one name of each.
    Call after `check_config`.
    """
    try:
        with torch.device("meta"):
            if hasattr(model_class, "from_config"):
                model = model_class.from_config(dict(config))
            else:  # transformers: a config object
                model = model_class(model_class.config_class(**config))
    except Exception as err:  # a value the class itself rejects (a wrong type, an unknown option)
        raise ModelError(
            f"{source}: the config does not make a {model_class.__name__} "
            f"({str(err).splitlines()[0][:160] if str(err) else type(err).__name__})"
        ) from None
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        raise ModelError(f"{source}: the config makes {count:,} parameters, more than any Wan2.2 part")
    return {name: tuple(t.shape) for name, t in model.state_dict(keep_vars=True).items()}, _tied_groups(model)


def _tied_groups(model) -> list[set[str]]:
    by_id: dict[int, set[str]] = {}
    for name, t in model.state_dict(keep_vars=True).items():
        by_id.setdefault(id(t), set()).add(name)
    return [names for names in by_id.values() if len(names) > 1]


@dataclass(frozen=True)
class HeaderEntry:
    """One tensor as a safetensors header describes it (nothing of its data is read)."""

    file: Path
    dtype: str  # the safetensors name: "BF16", "F32", ...
    shape: tuple[int, ...]
    nbytes: int

    @property
    def torch_dtype(self) -> torch.dtype | None:
        return _SAFETENSORS_DTYPES.get(self.dtype)


def header_entries(file: Path) -> dict[str, HeaderEntry]:
    """name -> HeaderEntry from the header of one safetensors file; a ModelError names the file and the tensor."""
    file = Path(file)
    try:
        with open(file, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 2 <= size <= 100 * 2**20:
                raise ValueError("header length out of range")
            header = json.loads(f.read(size))
            f.seek(0, 2)
            data_bytes = f.tell() - 8 - size
    except (OSError, ValueError, RecursionError) as err:
        raise ModelError(
            f"{file}: not a readable .safetensors file ({getattr(err, 'strerror', None) or err})"
        ) from None
    if not isinstance(header, dict):
        raise ModelError(f"{file}: not a readable .safetensors file (header is not an object)")
    found: dict[str, HeaderEntry] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], tuple(int(v) for v in info["shape"]), info["data_offsets"]
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= data_bytes):
                raise ModelError(f"{file}: tensor {name} lies past the end of the file (truncated?)")
        except (TypeError, KeyError, ValueError):
            raise ModelError(f"{file}: tensor {name} has a malformed header entry") from None
        itemsize = _SAFETENSORS_ITEMSIZE.get(dtype)
        if itemsize is not None and (any(v < 0 for v in shape) or math.prod(shape) * itemsize != end - start):
            raise ModelError(f"{file}: tensor {name} has shape {shape} but {end - start} bytes of data")
        found[name] = HeaderEntry(file, dtype, shape, end - start)
    return found


def _header_tensors(files: Iterable[Path], source: str | Path) -> dict[str, HeaderEntry]:
    """name -> HeaderEntry over the headers of `files` only (no tensor is read)."""
    found: dict[str, HeaderEntry] = {}
    for file in files:
        found.update(header_entries(file))
    return found


def weight_files(folder: Path, name: str) -> list[Path]:
    """The safetensors files of a component: `name`, or the shards its `name.index.json` lists."""
    single = folder / name
    if single.is_file():
        return [single]
    index_path = folder / (name + ".index.json")
    index = read_config(index_path)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise ModelError(f"{index_path}: weight_map must be an object from tensor names to file names")
    shards = sorted(set(weight_map.values()))
    for shard in shards:
        if Path(shard).name != shard or not shard.endswith(".safetensors"):
            raise ModelError(f"{index_path}: shard {shard[:80]!r} must be a .safetensors file in the same folder")
        if not (folder / shard).is_file():
            raise ModelError(f"{index_path}: shard {shard} is missing")
    return [folder / s for s in shards]


def check_weight_files(
    files: list[Path], expected: tuple[dict, list], source: str | Path, dtypes: tuple = BASE_DTYPES
) -> None:
    """The headers of `files` hold every expected tensor, at its shape, in a float dtype; else a ModelError."""
    shapes, tied = expected
    found = _header_tensors(files, source)
    unused = sorted((n for n in found if n not in shapes), key=lambda n: -found[n].nbytes)
    if sum(found[n].nbytes for n in unused) > MAX_UNUSED_BYTES:
        entry = found[unused[0]]
        raise ModelError(
            f"{entry.file}: tensor {unused[0]} ({entry.nbytes:,} bytes) is not part of the model "
            f"({len(unused)} such tensors); refused before loading, since a loader would read them"
        )
    aliases = {name: group for group in tied for name in group}
    for name, shape in shapes.items():
        present = [n for n in aliases.get(name, {name}) if n in found]
        if not present:
            raise ModelError(f"{source}: tensor {name} is missing from the weights (a truncated or foreign file?)")
        dtype, got = found[present[0]].dtype, found[present[0]].shape
        if got != shape:
            raise ModelError(f"{source}: tensor {present[0]} has shape {got}, the config needs {shape}")
        if _SAFETENSORS_DTYPES.get(dtype) not in dtypes:
            raise ModelError(
                f"{source}: tensor {present[0]} is {dtype}; weights must be "
                f"{' or '.join(str(d).removeprefix('torch.') for d in dtypes)}"
            )


def check_state_dict(
    state: Mapping[str, torch.Tensor],
    expected: Mapping[str, tuple[int, ...]],
    source: str | Path,
    dtypes: tuple = CHECKPOINT_DTYPES,
) -> None:
    """`state` holds exactly the expected tensors, at their shapes, in an allowed dtype, all finite."""
    for name, shape in expected.items():
        if name not in state:
            raise ModelError(f"{source}: tensor {name} is missing (checkpoint for another model?)")
        if tuple(state[name].shape) != tuple(shape):
            raise ModelError(
                f"{source}: tensor {name} has shape {tuple(state[name].shape)}, this model needs "
                f"{tuple(shape)} (checkpoint for another model size?)"
            )
    unknown = sorted(set(state) - set(expected))
    if unknown:
        raise ModelError(f"{source}: tensor {unknown[0]} is not part of this model ({len(unknown)} unknown)")
    for name, tensor in state.items():
        if tensor.dtype not in dtypes:
            raise ModelError(
                f"{source}: tensor {name} is {str(tensor.dtype).removeprefix('torch.')}; a checkpoint "
                f"holds {' or '.join(str(d).removeprefix('torch.') for d in dtypes)}"
            )
    check_finite(state.items(), source)


def check_finite(named_tensors: Iterable[tuple[str, torch.Tensor]], source: str | Path) -> None:
    """ModelError naming the first tensor with a NaN or an infinity (floating tensors only)."""
    with torch.no_grad():
        for name, tensor in named_tensors:
            if not tensor.is_floating_point() or tensor.device.type == "meta":
                continue
            flat = tensor.detach().reshape(-1)
            for start in range(0, flat.numel(), _FINITE_CHUNK):
                if not bool(torch.isfinite(flat[start : start + _FINITE_CHUNK]).all()):
                    raise ModelError(f"{source}: tensor {name} holds NaN or infinite values (a damaged file?)")


def check_lora_metadata(text: Any, source: str | Path) -> dict[str, Any]:
    """The LoRA settings in a checkpoint's metadata as LoraConfig arguments: r, lora_alpha, target_modules."""
    try:
        data = json.loads(text) if isinstance(text, str) else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict) or set(data) != {"r", "lora_alpha", "target_modules"}:
        raise ModelError(f"{source}: metadata 'lora' must be a JSON object with r, lora_alpha and target_modules")
    r, alpha, targets = data["r"], data["lora_alpha"], data["target_modules"]
    if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= 4096:
        raise ModelError(f"{source}: metadata lora.r must be a whole number from 1 to 4096")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha <= 0:
        raise ModelError(f"{source}: metadata lora.lora_alpha must be a number > 0")
    if (
        not isinstance(targets, list)
        or not targets
        or not all(isinstance(t, str) and 0 < len(t) <= 200 for t in targets)
    ):
        raise ModelError(f"{source}: metadata lora.target_modules must be a list of module names")
    return {"r": r, "lora_alpha": alpha, "target_modules": targets}


JSON_OBJECT_FILES = (
    MODEL_INDEX_NAME,
    "tokenizer/tokenizer.json",
    "tokenizer/tokenizer_config.json",
    "tokenizer/special_tokens_map.json",
    "tokenizer/added_tokens.json",
)
COMPONENT_WEIGHTS = {
    "transformer": "diffusion_pytorch_model.safetensors",
    "vae": "diffusion_pytorch_model.safetensors",
    "text_encoder": "model.safetensors",
}


def component_classes() -> dict[str, type]:
    """The class each checked component of a Wan2.2 diffusers folder loads as."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5EncoderModel

    return {"transformer": WanTransformer3DModel, "vae": AutoencoderKLWan, "text_encoder": UMT5EncoderModel}


def check_component_files(root: Path, configs_only: tuple[str, ...] = ()) -> None:
    """Configs within the Wan2.2 layout and every weight present, shaped and float, read from headers only.

    Runs before anything is allocated; a ModelError names the file and the key or tensor. Components named in
    `configs_only` have their config checked but not their weights (the transformer, when the release's
    weights replace it).
    """
    for name in JSON_OBJECT_FILES:  # loaders call .get() on these: anything but an object would crash them
        if (Path(root) / name).is_file():
            read_config(Path(root) / name)
    for sub, model_class in component_classes().items():
        config_path = Path(root) / sub / "config.json"
        config = read_config(config_path)
        check_config(sub, config, config_path)
        if sub in configs_only:
            continue
        expected = expected_tensors(model_class, config, config_path)
        check_weight_files(weight_files(Path(root) / sub, COMPONENT_WEIGHTS[sub]), expected, Path(root) / sub)


def scheduler_class(config: Mapping[str, Any], source: str | Path) -> type:
    """The diffusers scheduler class `config["_class_name"]` names; ModelError for anything else (e.g. a model)."""
    import diffusers
    from diffusers.schedulers.scheduling_utils import SchedulerMixin

    name = config.get("_class_name")
    cls = getattr(diffusers, name, None) if isinstance(name, str) and name.isidentifier() else None
    if not (isinstance(cls, type) and issubclass(cls, SchedulerMixin)):
        raise ModelError(f"{source}: _class_name {str(name)[:60]!r} is not a diffusers scheduler")
    for key, bound in SCHEDULER_BOUNDS.items():  # before the scheduler builds its tables from them
        if key in config:
            _check_size(config[key], bound, f"{source}: {key}", "a scheduler")
    return cls
