"""Per-clip VAE latents, text embeddings and pooled part masks, computed once and kept as safetensors; and the
order a stage draws its clips in."""

from __future__ import annotations

import hashlib
from pathlib import Path


class LatentCache:
    """What the VAE and text encoder give for each clip, in memory and in `folder` (written atomically: a killed
    run leaves no half file, two runs writing the same clip do not collide)."""

    def __init__(self, folder: Path, pipe, prompt_length: int):
        self.folder, self.pipe, self.prompt_length = folder, pipe, prompt_length
        self.memory: dict[str, dict] = {}

    def file_for(self, key: str) -> Path:
        """Where a clip's entry lives (a hash of its key)."""
        return self.folder / (hashlib.sha1(key.encode()).hexdigest() + ".safetensors")

    def get(self, dataset, index: int) -> dict:
        """The clip's cached tensors, computed and written the first time."""
        from safetensors.torch import load_file

        key = dataset.key(index)
        if key in self.memory:
            return self.memory[key]
        file = self.file_for(key)
        if file.is_file():
            item = load_file(str(file))
        else:
            item = self._compute(dataset[index])
            self._write(item, file)
        self.memory[key] = item
        return item

    def _compute(self, clip: dict) -> dict:
        import numpy as np
        import torch

        from poseanything_studio.model.part_attention import pool_part_masks

        with torch.no_grad():
            return {
                "latents": self.pipe.encode_video(clip["video"])[0].cpu(),
                "pose": self.pipe.encode_video(clip["pose"])[0].cpu(),
                "null_pose": self.pipe.encode_video(np.zeros_like(clip["pose"]))[0].cpu(),
                "text": self._text(clip["prompt"]),
                "empty_text": self._text(""),
                "parts": pool_part_masks(clip["parts"]).contiguous(),
            }

    def _write(self, item: dict, file: Path) -> None:
        """One entry, through a temporary of this process's own beside it, renamed whole onto its name."""
        from safetensors.torch import save_file

        from poseanything_studio.core.fileio import atomic_path

        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(file, suffix=".safetensors") as tmp:
            save_file(item, str(tmp))

    def _text(self, prompt: str):
        device = self.pipe.text_encoder.device
        return self.pipe.encode_prompt(prompt, self.prompt_length, device)[0].float().cpu().contiguous()


def clip_at(order_seed: int, sizes: list[int], position: int) -> tuple[int, int]:
    """(dataset, clip) at a position of a stage's data order: a fresh permutation of all its clips each epoch."""
    import torch

    total = sum(sizes)
    epoch, offset = divmod(position, total)
    generator = torch.Generator().manual_seed(order_seed * 100_003 + epoch)
    flat = int(torch.randperm(total, generator=generator)[offset])
    for d, size in enumerate(sizes):
        if flat < size:
            return d, flat
        flat -= size
    raise AssertionError("unreachable")
