"""Whether a neural model folder can render here: its layout, its checkpoint, the device asked for.

Looks at the disk and at which packages are installed, never imports torch (the window asks these before
any render, and start-up stays torch-free: tests/test_packaging.py). The window only shows the answers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from poseanything_studio.core.model_files import CHECKPOINT_NAME, MODEL_INDEX_NAME, MODEL_PARTS

from .devices import DeviceProbe
from .job import NeuralOptions

CPU_MODEL_LIMIT_BYTES = 2**30  # transformer weights above this are a real model: the CPU runs test models only
NO_CHECKPOINT_NOTE = (
    "No PoseAnything checkpoint: the base Wan2.2 model ignores the pose; it refines the puppet render (init puppet)"
)


def neural_unavailable_reason(options: NeuralOptions, probe: DeviceProbe | None) -> str | None:
    """Why the poseanything renderer cannot run with these settings, or None; looks at disk only (never torch)."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("diffusers") is None:
        return "needs torch and diffusers: pip install 'poseanything-studio[neural]'"
    if options.device.startswith("cuda"):
        if probe is None:
            return "looking for CUDA GPUs…"
        if options.device not in [d.device for d in probe.devices]:
            return f"no CUDA GPU here ({probe.note}); choose the CPU for a test model"
    if not options.model_dir:
        return "choose a model folder (a local Wan2.2-TI2V-5B-Diffusers folder)"
    folder = Path(options.model_dir).expanduser()
    if not folder.is_dir():
        return f"model folder {folder} does not exist"
    missing = [name for name in MODEL_PARTS if not (folder / name).exists()]
    if missing:
        return f"model folder {folder} lacks {', '.join(missing)} (not a Wan2.2 diffusers folder)"
    if options.checkpoint and not Path(options.checkpoint).expanduser().exists():  # a file, or the release's folder
        return f"checkpoint {options.checkpoint} not found (clear it to run the base model)"
    if options.device == "cpu" and weight_bytes(folder / "transformer") > CPU_MODEL_LIMIT_BYTES:
        return (
            "looking for CUDA GPUs…" if probe is None else "the CPU runs test models only: this model needs a CUDA GPU"
        )
    return None


def checkpoint_note(options: NeuralOptions) -> str | None:
    """The line to show when no PoseAnything checkpoint will be loaded (the base model ignores the pose)."""
    folder = Path(options.model_dir).expanduser() if options.model_dir else None
    if options.checkpoint or folder is None or not (folder / MODEL_INDEX_NAME).is_file():
        return None
    return None if (folder / CHECKPOINT_NAME).is_file() else NO_CHECKPOINT_NOTE


def weight_bytes(folder: Path) -> int:
    """Bytes of the safetensors weights directly in `folder` (a model part's size, read from disk)."""
    return sum(f.stat().st_size for f in folder.glob("*.safetensors"))
