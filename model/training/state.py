"""The training state an exact resume needs: RNG states, the AdamW optimizer and its warm-up scheduler, and the
checkpoint folders that hold them (safetensors and JSON only).

A checkpoint folder appears whole or not at all: every process writes into one temporary folder beside it, and
the main process renames that onto `checkpoints/step-NNNNNNNN` (core/fileio.commit_dir) once all have written.
Older checkpoints are removed only after the new one is in place, so a kill at any moment leaves the previous
or the new checkpoint loadable; what a killed run left is swept before the next save.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .config import ConfigError

CHECKPOINT_NAME = re.compile(r"step-\d{8}")


@dataclass(frozen=True)
class Position:
    """Where training stands: optimizer steps done in all, the stage, and steps done in that stage."""

    global_step: int = 0
    stage_index: int = 0
    stage_step: int = 0


@dataclass(frozen=True)
class SavedState:
    """What one process reads back from a checkpoint folder."""

    position: Position
    weights: dict
    optimizer: dict
    scheduler: dict
    rng: tuple[dict, dict]


# -- RNG -----------------------------------------------------------------------------------------------------
def rng_state(generator) -> tuple[dict, dict]:
    """torch's, CUDA's, numpy's and python's RNG states and the trainer's `generator`: tensors and JSON."""
    import numpy as np
    import torch

    tensors = {"torch": torch.get_rng_state(), "generator": generator.get_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = state
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss_next = random.getstate()
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)], "python": [version, list(internal), gauss_next]}
    return tensors, meta


def set_rng_state(generator, tensors: dict, meta: dict) -> None:
    """Restore what `rng_state` gave."""
    import numpy as np
    import torch

    torch.set_rng_state(tensors["torch"])
    generator.set_state(tensors["generator"])
    if torch.cuda.is_available():
        cuda = [tensors[f"cuda.{i}"] for i in range(torch.cuda.device_count()) if f"cuda.{i}" in tensors]
        if cuda:
            torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = meta["python"]
    random.setstate((version, tuple(internal), gauss_next))


# -- optimizer and scheduler -----------------------------------------------------------------------------------
def new_optimizer(params: list, lr: float, weight_decay: float, warmup_steps: int):
    """A stage's AdamW and its linear warm-up (counted in optimizer steps, the same on 1 or N processes)."""
    import torch

    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup_steps) if warmup_steps else 1.0
    )
    return optimizer, scheduler


def local(tensor):
    """A DTensor's local shard (FSDP), any other tensor as it is."""
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor


def optimizer_to_safetensors(state: dict) -> tuple[dict, dict]:
    """An optimizer's state_dict as tensors (its moments, local shards under FSDP) and JSON (the rest)."""
    import torch

    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if torch.is_tensor(value):
                tensors[f"state.{index}.{key}"] = local(value).detach().cpu().contiguous()
            else:
                scalars[f"{index}.{key}"] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def optimizer_from_safetensors(tensors: dict, meta: dict) -> dict:
    """The state_dict `optimizer_to_safetensors` split."""
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        state.setdefault(int(index), {})[key] = value
    for name, value in meta["scalars"].items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def shard_optimizer_state(optimizer) -> None:
    """After loading local shards into an optimizer of sharded (DTensor) parameters, make its state DTensors too."""
    from torch.distributed.tensor import DTensor

    for group in optimizer.param_groups:
        for param in group["params"]:
            state = optimizer.state.get(param, {})
            for key, value in state.items():
                if isinstance(param, DTensor) and key != "step" and not isinstance(value, DTensor):
                    state[key] = DTensor.from_local(
                        value.to(param.device),
                        param.device_mesh,
                        param.placements,
                        run_check=False,
                        shape=param.size(),
                        stride=param.stride(),
                    )


# -- checkpoint folders -------------------------------------------------------------------------------------
def checkpoints_dir(output_dir: Path) -> Path:
    return output_dir / "checkpoints"


def latest_checkpoint(output_dir: Path) -> Path | None:
    """The newest complete checkpoint folder (temporaries and other names are not checkpoints)."""
    found = sorted(
        p.parent
        for p in checkpoints_dir(output_dir).glob("step-*/state.json")
        if CHECKPOINT_NAME.fullmatch(p.parent.name)
    )
    return found[-1] if found else None


def sweep_outputs(output_dir: Path) -> None:
    """Remove what killed runs left in the output folder, its checkpoints and its cache: our temporaries (their
    process gone), and the `checkpoints/step-N.tmp` folders of versions before them."""
    from poseanything_studio.core.fileio import remove_stale_temps_in

    for folder in (output_dir, checkpoints_dir(output_dir), output_dir / "cache"):
        remove_stale_temps_in(folder)
    for legacy in checkpoints_dir(output_dir).glob("step-????????.tmp"):
        shutil.rmtree(legacy, ignore_errors=True)


def save_training_state(
    acc,
    output_dir: Path,
    position: Position,
    weights: dict | None,
    optimizer,
    scheduler,
    generator,
    sharded: bool,
    keep: int,
    grad_accum: int,
) -> Path:
    """Write `checkpoints/step-N` whole (every process its part), then drop all but the newest `keep`.

    `weights` (name -> tensor) and the optimizer are written by the main process, or by every process when
    `sharded` (its own shards, `-RANK` files); every process writes its RNG states."""
    from safetensors.torch import save_file

    from poseanything_studio.core.fileio import commit_dir, new_temp_dir, remove_stale_temps_in

    folder = checkpoints_dir(output_dir) / f"step-{position.global_step:08d}"
    tmp = None
    if acc.is_main_process:
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps_in(folder.parent)
        tmp = new_temp_dir(folder)
    try:
        tmp = _shared_path(acc, tmp)
        rank = acc.process_index
        rng, rng_meta = rng_state(generator)
        save_file(rng, str(tmp / f"rng-{rank}.safetensors"))
        (tmp / f"rng-{rank}.json").write_text(json.dumps(rng_meta))
        if weights is not None:
            shard = f"-{rank}" if sharded else ""
            save_file(weights, str(tmp / f"weights{shard}.safetensors"))
            tensors, meta = optimizer_to_safetensors(optimizer.state_dict())
            save_file(tensors, str(tmp / f"optimizer{shard}.safetensors"))
            (tmp / f"optimizer{shard}.json").write_text(json.dumps(meta))
        if acc.is_main_process:
            state = {
                "global_step": position.global_step,
                "stage_index": position.stage_index,
                "stage_step": position.stage_step,
                "data_position": position.stage_step * grad_accum * acc.num_processes,
                "scheduler": scheduler.state_dict(),
                "processes": acc.num_processes,
                "sharded": sharded,
            }
            (tmp / "state.json").write_text(json.dumps(state, indent=1))
        acc.wait_for_everyone()
        if acc.is_main_process:
            commit_dir(tmp, folder)
    finally:
        if acc.is_main_process and tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if acc.is_main_process:
        _keep_newest(output_dir, keep)
    acc.wait_for_everyone()
    return folder


def _keep_newest(output_dir: Path, keep: int) -> None:
    """Remove all but the newest `keep` checkpoints, each leaving its name in one step."""
    from poseanything_studio.core.fileio import remove_dir

    found = sorted(p for p in checkpoints_dir(output_dir).glob("step-????????") if CHECKPOINT_NAME.fullmatch(p.name))
    for old in found[:-keep]:
        remove_dir(old)


def _shared_path(acc, path: Path | None) -> Path:
    """The main process's `path`, on every process (a collective when there are several)."""
    if acc.num_processes == 1:
        return path
    from accelerate.utils import broadcast_object_list

    return Path(broadcast_object_list([str(path) if path is not None else None])[0])


def read_training_state(folder: Path, acc, sharded: bool) -> SavedState:
    """This process's part of a checkpoint; ConfigError when it was saved with another process count or layout."""
    from safetensors.torch import load_file

    state = json.loads((folder / "state.json").read_text())
    if state["processes"] != acc.num_processes:
        raise ConfigError(
            f"{folder}: saved with {state['processes']} processes, resuming with "
            f"{acc.num_processes}: the data order would change"
        )
    if state.get("sharded", False) != sharded:
        raise ConfigError(
            f"{folder}: saved {'with' if state.get('sharded') else 'without'} FSDP; resume with "
            f"the same train.distributed"
        )
    shard = f"-{acc.process_index}" if sharded else ""
    rank = acc.process_index
    optimizer = optimizer_from_safetensors(
        load_file(str(folder / f"optimizer{shard}.safetensors")),
        json.loads((folder / f"optimizer{shard}.json").read_text()),
    )
    return SavedState(
        position=Position(state["global_step"], state["stage_index"], state["stage_step"]),
        weights=load_file(str(folder / f"weights{shard}.safetensors")),
        optimizer=optimizer,
        scheduler=state["scheduler"],
        rng=(load_file(str(folder / f"rng-{rank}.safetensors")), json.loads((folder / f"rng-{rank}.json").read_text())),
    )
