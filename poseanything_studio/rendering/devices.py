"""Which CUDA devices the neural renderer can use here, found without importing torch into the window.

`nvidia-smi` (shipped with the NVIDIA driver on Linux and Windows) lists the GPUs; when it finds some and
torch is installed, a short subprocess asks torch whether its build can use them (a CPU-only torch cannot).
Both run with a timeout, off the GUI thread (the panel calls `probe_devices` in a worker).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SMI_TIMEOUT_S = 5.0
TORCH_TIMEOUT_S = 30.0
_ASK_TORCH = (
    "import json, torch\n"
    "ok = torch.cuda.is_available()\n"
    "print(json.dumps({'cuda': ok, 'build': torch.version.cuda, 'names': [torch.cuda.get_device_name(i) "
    "for i in range(torch.cuda.device_count())] if ok else []}))"
)


@dataclass(frozen=True)
class CudaDevice:
    """One GPU: its torch name (cuda:N), model and memory."""

    index: int
    name: str
    memory_mib: int = 0

    @property
    def device(self) -> str:
        return f"cuda:{self.index}"

    @property
    def label(self) -> str:
        memory = f", {self.memory_mib / 1024:.0f} GB" if self.memory_mib else ""
        return f"{self.device} — {self.name}{memory}"


@dataclass(frozen=True)
class DeviceProbe:
    """What the probe found: usable CUDA devices, and a line saying why there are none."""

    devices: tuple[CudaDevice, ...] = ()
    note: str = ""


def probe_devices() -> DeviceProbe:
    """The CUDA devices torch can use here (nvidia-smi, then torch in a subprocess); never raises."""
    gpus = nvidia_smi_gpus()
    if not gpus:
        return DeviceProbe((), "no NVIDIA GPU found (nvidia-smi lists none)")
    if importlib.util.find_spec("torch") is None:
        return DeviceProbe((), f"{len(gpus)} NVIDIA GPU(s) found, but torch is not installed")
    answer = ask_torch()
    if answer is None:
        return DeviceProbe(tuple(gpus), "torch could not be asked in time; listing nvidia-smi's GPUs")
    if not answer.get("cuda"):
        build = "a CPU-only build" if not answer.get("build") else f"CUDA {answer['build']}, but it sees no GPU"
        return DeviceProbe((), f"{len(gpus)} NVIDIA GPU(s) found, but this torch is {build}")
    names = answer.get("names") or []
    return DeviceProbe(
        tuple(
            CudaDevice(i, names[i] if i < len(names) else g.name, g.memory_mib)
            for i, g in enumerate(gpus[: len(names) or len(gpus)])
        )
    )


def nvidia_smi_gpus() -> list[CudaDevice]:
    """GPUs as nvidia-smi lists them (index, name, memory); [] without a driver or on any failure."""
    smi = _nvidia_smi()
    if smi is None:
        return []
    try:
        out = subprocess.run(
            [smi, "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=SMI_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_smi(out)


def parse_smi(text: str) -> list[CudaDevice]:
    """nvidia-smi's CSV lines (`0, NVIDIA H100 80GB HBM3, 81559`) as devices; lines that do not parse are skipped."""
    devices = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 3 and parts[0].isdigit():
            memory = int(parts[-1]) if parts[-1].isdigit() else 0
            devices.append(CudaDevice(int(parts[0]), ", ".join(parts[1:-1]), memory))
    return devices


def _nvidia_smi() -> str | None:
    """The nvidia-smi program: on PATH, or where older Windows drivers put it; None when absent."""
    found = shutil.which("nvidia-smi")
    if found:
        return found
    if sys.platform == "win32":  # older drivers put it here, outside PATH
        for base in (os.environ.get("PROGRAMW6432"), os.environ.get("PROGRAMFILES")):
            candidate = Path(base or "C:/Program Files") / "NVIDIA Corporation" / "NVSMI" / "nvidia-smi.exe"
            if candidate.is_file():
                return str(candidate)
    return None


def ask_torch() -> dict | None:
    """What torch says in a subprocess (CUDA usable, its CUDA build, GPU names); None on any failure or timeout."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", _ASK_TORCH], capture_output=True, text=True, timeout=TORCH_TIMEOUT_S, check=True
        ).stdout
        return json.loads(out.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
