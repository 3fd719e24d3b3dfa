"""The training loop: stages one after another, each step a flow-matching update (objective.py), a checkpoint
every `checkpoint_every` steps (state.py), progress yielded step by step, cancellable at any step boundary."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

from poseanything_studio.core.model_files import CHECKPOINT_NAME

from .cache import LatentCache, clip_at
from .config import Config, ConfigError
from .objective import flow_matching_loss, lora_target_modules, sample_sigma, trainable_names
from .state import (
    Position,
    latest_checkpoint,
    local,
    new_optimizer,
    read_training_state,
    save_training_state,
    set_rng_state,
    shard_optimizer_state,
    sweep_outputs,
)

OUTPUT_NAME = CHECKPOINT_NAME
LINKED_PARTS = ("vae", "text_encoder", "tokenizer", "scheduler", "model_index.json")  # the trained model dir's links


@dataclass(frozen=True)
class Progress:
    """One finished optimizer step, as `Trainer.steps` yields it."""

    global_step: int
    total_steps: int
    stage: str
    stage_step: int
    stage_steps: int
    loss: float


@contextlib.contextmanager
def stop_between_steps():
    """Ctrl+C sets a flag the loop reads between steps, so it can checkpoint before it stops; a second
    Ctrl+C stops at once. Off the main thread (signals cannot be caught there) the flag never rises."""
    import signal

    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def is_trained_model_dir(folder: Path) -> bool:
    """Whether `folder` is a model folder training wrote (a `transformer/` and links to the rest), and so may be
    replaced by the next one; a user's own folder (e.g. the base model) is never that."""
    return (folder / "transformer").is_dir() and all((folder / name).is_symlink() for name in LINKED_PARTS)


class Trainer:
    """Runs the stages of a Config; `run()` returns the path of the final PoseAnything checkpoint."""

    def __init__(self, cfg: Config, log: Callable[[str], None] = print):
        import torch
        from accelerate import Accelerator

        from poseanything_studio.model.data import ClipDataset
        from poseanything_studio.model.pipeline import PoseAnythingPipeline

        self.cfg = cfg
        if any(s.trainable == "all" for s in cfg.stages):
            self._check_replaceable(cfg.output_dir / "model")
        cuda = torch.cuda.is_available()
        precision = "bf16" if cuda and cfg.mixed_precision in ("auto", "bf16") else "no"
        self.acc = Accelerator(mixed_precision=precision, cpu=not cuda)
        self.log = log if self.acc.is_main_process else (lambda *_: None)  # one line per event, not per process
        device = str(self.acc.device)
        pipe = PoseAnythingPipeline.from_model_dir(cfg.model_dir, cfg.init_checkpoint, device=device, offload=False)
        pipe.set_progress_bar_config(disable=True)
        self.model = pipe.transformer.float()
        if cfg.lora_rank and not getattr(self.model, "peft_config", None):
            from peft import LoraConfig

            self.model.add_adapter(
                LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, target_modules=lora_target_modules(self.model))
            )
        if cfg.gradient_checkpointing:
            self.model.enable_gradient_checkpointing()
        self.model.train()
        self.fsdp = cfg.distributed == "fsdp" and self.acc.num_processes > 1
        if self.fsdp:
            self._shard(torch.bfloat16 if precision == "bf16" else None)
        self.datasets = {
            name: ClipDataset(path, cfg.num_frames, cfg.part_rule)
            for name, path in cfg.data.items()
            if any(name in s.data for s in cfg.stages)
        }
        self._check_parts()
        self.cache = LatentCache(cfg.output_dir / "cache", pipe, cfg.prompt_length)
        with self.acc.main_process_first():  # latents are computed once, by the first process
            for dataset in self.datasets.values():
                for i in range(len(dataset)):
                    self.cache.get(dataset, i)
        self.cache.pipe = None  # the cache holds what the VAE and text encoder gave: let them go
        del pipe
        self.changeable = sorted(set().union(*(trainable_names(self.model, s) for s in cfg.stages)))
        self.generator = torch.Generator().manual_seed(cfg.seed * 1000 + self.acc.process_index)
        torch.manual_seed(cfg.seed + self.acc.process_index)
        self.global_step = self.stage_index = self.stage_step = 0
        self.writer = None
        self._cancel = threading.Event()

    def _shard(self, compute_dtype) -> None:
        """FSDP (torch's fully_shard, FSDP2): each block its own unit, then the root; every weight, gradient and
        AdamW moment lives 1/N on each process; with bf16 the gathered weights are bf16, gradients reduce in fp32."""
        import torch
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = MixedPrecisionPolicy(param_dtype=compute_dtype, reduce_dtype=torch.float32 if compute_dtype else None)
        for block in self.model.blocks:
            fully_shard(block, mp_policy=policy)
        fully_shard(self.model, mp_policy=policy)

    def _check_parts(self) -> None:
        """A stage that trains PTCM needs every clip's part masks, i.e. its rig (DatasetError naming the clip)."""
        from poseanything_studio.model.data import DatasetError

        for stage in self.cfg.stages:
            if stage.trainable != "ptcm":
                continue
            for name in stage.data:
                dataset = self.datasets[name]
                missing = [c["clip"] for i, c in enumerate(dataset.clips) if not dataset.has_parts(i)]
                if missing:
                    raise DatasetError(
                        f"{dataset.root / 'manifest.jsonl'}: clip {missing[0]!r}: key 'rig' is null "
                        f"(stage {stage.name!r} trains PTCM, which needs each clip's rig for its "
                        f"part masks; rebuild with dataset build)"
                    )

    def _check_replaceable(self, folder: Path) -> None:
        """OUTPUT_DIR/model, which a stage training `all` replaces at the end, must be absent or one training wrote
        (never a user's folder, e.g. the base model itself); checked before any work and again before writing."""
        if not (folder.exists() or folder.is_symlink()):
            return
        if not is_trained_model_dir(folder) or folder.resolve() == Path(self.cfg.model_dir).resolve():
            raise ConfigError(
                f"{self.cfg.path}: train.output_dir: {folder} exists and is not a model folder "
                f"training wrote; move it away or choose another output_dir"
            )

    # stage set-up
    def start_stage(self, index: int) -> None:
        """Make stage `index` the current one: its trainable parameters, a fresh optimizer and scheduler."""
        stage = self.cfg.stages[index]
        self.acc.free_memory()
        names = trainable_names(self.model, stage)
        for name, param in self.model.named_parameters():
            param.requires_grad_(name in names)
        params = [p for n, p in self.model.named_parameters() if n in names]
        # The scheduler stays outside accelerate: a prepared one steps once per process per call, so warm-up
        # would end after warmup_steps / processes optimizer steps. Here it counts optimizer steps, on any
        # number of processes.
        optimizer, self.scheduler = new_optimizer(params, stage.lr, self.cfg.weight_decay, stage.warmup_steps)
        if self.fsdp:  # sharded once in __init__; requires_grad may change between stages (FSDP2 follows it)
            self.wrapped, self.optimizer = self.model, optimizer
        else:
            self.wrapped, self.optimizer = self.acc.prepare(self.model, optimizer)
        self.stage = stage
        self.sizes = [len(self.datasets[d]) for d in stage.data]
        self.log(
            f"stage {index + 1}/{len(self.cfg.stages)} {stage.name}: {stage.steps} steps, trains "
            f"{stage.trainable} ({sum(p.numel() for p in params):,} parameters), lr {stage.lr:g}, "
            f"PTCM {'on' if stage.ptcm else 'off'}, data {', '.join(stage.data)}"
        )

    def sample_item(self, position: int) -> dict:
        """The cached latents of the clip at `position` of this stage's data order (one per process and step)."""
        d, i = clip_at(self.cfg.seed * 1009 + self.stage_index, self.sizes, position)
        return self.cache.get(self.datasets[self.stage.data[d]], i)

    def step(self) -> float:
        """One optimizer step (grad_accum micro-batches of one clip per process); returns the mean loss."""
        import torch

        from poseanything_studio.model.part_attention import PartContext

        cfg, acc, dev = self.cfg, self.acc, self.acc.device
        total = 0.0
        for micro in range(cfg.grad_accum):
            position = (self.stage_step * cfg.grad_accum + micro) * acc.num_processes + acc.process_index
            item = self.sample_item(position)
            drop = bool(torch.rand((), generator=self.generator) < cfg.condition_dropout)
            u = torch.rand(1, generator=self.generator)
            noise = torch.randn(item["latents"][None].shape, generator=self.generator)
            x0 = item["latents"][None].to(dev)
            pose = (item["null_pose"] if drop else item["pose"])[None].to(dev)
            text = (item["empty_text"] if drop else item["text"])[None].to(dev)
            context = None
            if self.stage.ptcm and self.model.ptcm_modules and item["parts"].shape[1]:
                context = PartContext.from_coverage(item["parts"], mode="identity", device=dev)
                context.measure = False
            last = micro == cfg.grad_accum - 1
            sync = contextlib.nullcontext() if last or self.fsdp else acc.no_sync(self.wrapped)
            with sync:
                loss = flow_matching_loss(
                    self.wrapped, x0, pose, text, noise.to(dev), sample_sigma(u, cfg.shift), context
                )
                # The transformer clears PTCM's context after its forward; gradient checkpointing recomputes
                # blocks during backward, so PTCM must see the same context then.
                with self.model.part_context(context) if context is not None else contextlib.nullcontext():
                    acc.backward(loss / cfg.grad_accum)
            total += float(loss.detach()) / cfg.grad_accum
        if cfg.max_grad_norm > 0:
            params = [p for p in self.model.parameters() if p.requires_grad]
            if self.fsdp:  # the norm of sharded gradients: torch's, over DTensors (a collective)
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            else:
                acc.clip_grad_norm_(params, cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total

    # checkpoints
    @property
    def position(self) -> Position:
        return Position(self.global_step, self.stage_index, self.stage_step)

    def save_state(self) -> Path:
        """A checkpoint of everything an exact resume needs, at the current step (state.py; a collective)."""
        weights = None
        if self.acc.is_main_process or self.fsdp:  # FSDP: each process writes its own shards
            params = dict(self.model.named_parameters())
            weights = {n: local(params[n]).detach().cpu().contiguous() for n in self.changeable}
        return save_training_state(
            self.acc,
            self.cfg.output_dir,
            self.position,
            weights,
            self.optimizer,
            self.scheduler,
            self.generator,
            self.fsdp,
            self.cfg.keep_checkpoints,
            self.cfg.grad_accum,
        )

    def load_state(self, folder: Path) -> None:
        """Go on from a checkpoint folder: weights, stage, optimizer, scheduler and RNGs as they were."""
        import torch

        saved = read_training_state(folder, self.acc, self.fsdp)
        self.global_step, self.stage_index, self.stage_step = (
            saved.position.global_step,
            saved.position.stage_index,
            saved.position.stage_step,
        )
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for name, value in saved.weights.items():
                local(params[name]).copy_(value)
        self.start_stage(self.stage_index)
        self.optimizer.load_state_dict(saved.optimizer)
        if self.fsdp:
            shard_optimizer_state(self.optimizer)
        self.scheduler.load_state_dict(saved.scheduler)
        set_rng_state(self.generator, *saved.rng)
        self.log(
            f"resumed from {folder} at step {self.global_step} (stage {self.stage_index + 1}, step {self.stage_step})"
        )

    # the loop
    def cancel(self) -> None:
        """Ask the loop (from any thread) to checkpoint at the next step boundary and stop; `steps` then returns
        None, and a re-run resumes exactly."""
        self._cancel.set()

    def steps(self, max_steps: int | None = None) -> Generator[Progress, None, Path | None]:
        """Train, yielding a Progress after every optimizer step; returns the output checkpoint's path at the end,
        or None when stopped with a checkpoint (after `max_steps` steps, or by `cancel`).

        Ctrl+C checkpoints at the next step boundary and raises KeyboardInterrupt: a re-run resumes exactly.
        Closing the generator early stops without a checkpoint (the last periodic one stays): use `cancel`."""
        cfg, acc = self.cfg, self.acc
        if acc.is_main_process:
            sweep_outputs(cfg.output_dir)  # what a killed run left
        found = latest_checkpoint(cfg.output_dir) if cfg.resume else None
        if found:
            self.load_state(found)
        else:
            self.start_stage(0)
        if acc.is_main_process:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(cfg.output_dir / "logs"), purge_step=self.global_step)
        total, done = sum(s.steps for s in cfg.stages), 0
        try:
            with stop_between_steps() as interrupt:
                while self.stage_index < len(cfg.stages):
                    while self.stage_step < self.stage.steps:
                        if self._agreed(interrupt["stop"] or self._cancel.is_set()):
                            self.save_state()
                            if interrupt["stop"]:
                                raise KeyboardInterrupt
                            self.log("train: cancelled with a checkpoint; run again to go on")
                            return None
                        if max_steps is not None and done >= max_steps:
                            self.save_state()
                            self.log(f"train: stopped after {max_steps} steps with a checkpoint; run again to go on")
                            return None
                        loss = self.step()
                        self.global_step += 1
                        self.stage_step += 1
                        done += 1
                        self._log_step(loss)
                        if self.global_step % cfg.checkpoint_every == 0:
                            self.save_state()
                        yield Progress(
                            self.global_step, total, self.stage.name, self.stage_step, self.stage.steps, loss
                        )
                    self.stage_index += 1
                    self.stage_step = 0
                    if self.stage_index < len(cfg.stages):
                        self.start_stage(self.stage_index)
            return self.save_output()
        finally:
            if self.writer is not None:
                self.writer.close()
                self.writer = None

    def run(self, max_steps: int | None = None) -> Path | None:
        """Train to the end (or `max_steps` optimizer steps, then save and stop; returns None then), with a
        progress bar over all stages on a terminal. Ctrl+C as in `steps`."""
        bar = None
        progress = self.steps(max_steps)
        try:
            while True:
                try:
                    done = next(progress)
                except StopIteration as end:
                    return end.value
                if bar is None:
                    bar = self._progress_bar(done.global_step - 1)
                bar.update(1)
                bar.set_postfix_str(f"{done.stage} loss {done.loss:.4f}", refresh=False)
        finally:
            progress.close()
            if bar is not None:
                bar.close()

    def _progress_bar(self, initial: int):
        """A tqdm bar over all stages' steps, on the main process when stderr is a terminal."""
        from tqdm import tqdm

        total = sum(s.steps for s in self.cfg.stages)
        return tqdm(
            total=total,
            initial=initial,
            unit="step",
            dynamic_ncols=True,
            disable=not (self.acc.is_main_process and sys.stderr.isatty()),
        )

    def _agreed(self, flag: bool) -> bool:
        """True on every process when any process saw Ctrl+C (they must checkpoint at the same step)."""
        if self.acc.num_processes == 1:
            return flag
        import torch

        return bool(self.acc.reduce(torch.tensor([float(flag)], device=self.acc.device), "max").item())

    def _log_step(self, loss: float) -> None:
        """Tensorboard scalars every step; a text line every `log_every` steps."""
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, self.global_step)
            self.writer.add_scalar("train/lr", self.scheduler.get_last_lr()[0], self.global_step)
            self.writer.add_scalar("train/stage", self.stage_index, self.global_step)
        if self.global_step % self.cfg.log_every == 0 and self.acc.is_main_process:
            self.log(f"step {self.global_step} {self.stage.name} {self.stage_step}/{self.stage.steps} loss {loss:.5f}")

    @contextlib.contextmanager
    def _whole_state(self):
        """Under FSDP, make `self.model.state_dict()` give whole tensors (gathered by every process, a
        collective) while the output is written; otherwise nothing changes."""
        if not self.fsdp:
            yield
            return
        whole = {
            k: (v.full_tensor() if hasattr(v, "full_tensor") else v).detach().cpu()
            for k, v in self.model.state_dict().items()
        }
        self.model.state_dict = lambda *args, **kwargs: dict(whole)
        try:
            yield
        finally:
            del self.model.state_dict

    def close(self) -> None:
        """Leave the process group together: a process that exits while another still talks to it makes gloo
        abort the other (SIGABRT), which a slow machine turns from rare into likely."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            with contextlib.suppress(RuntimeError):  # a peer already gone: nothing left to wait for
                dist.barrier()
            dist.destroy_process_group()

    # outputs
    def save_output(self) -> Path:
        """The PoseAnything checkpoint; and, when a stage trained the whole transformer, its base weights too."""
        from poseanything_studio.model.checkpoint import save_checkpoint

        out = self.cfg.output_dir / OUTPUT_NAME
        with self._whole_state():
            if self.acc.is_main_process:
                save_checkpoint(self.model, out)  # atomic: whole under its name or not at all
                if any(s.trainable == "all" for s in self.cfg.stages):
                    self.save_model_dir(self.cfg.output_dir / "model")
                self.log(f"wrote {out}")
        self.acc.wait_for_everyone()
        return out

    def save_model_dir(self, folder: Path) -> None:
        """A model folder for `PoseAnythingPipeline.from_model_dir`: the trained base transformer, links to the rest.

        Written beside `folder` and swapped in whole (core/fileio.atomic_folder): a kill at any moment leaves the
        previous folder or the new one, never a half-written one."""
        import torch
        from diffusers import WanTransformer3DModel

        from poseanything_studio.core.fileio import atomic_folder

        self._check_replaceable(folder)  # again: a folder may have appeared there during training
        config = {
            k: v
            for k, v in self.model.config.items()
            if not k.startswith("_") and k not in ("pose_channels", "ptcm", "variant")
        }
        state = {
            k.replace(".base_layer.", "."): v
            for k, v in self.model.state_dict().items()
            if ".ptcm." not in k and "lora_" not in k
        }
        state["patch_embedding.weight"] = state["patch_embedding.weight"][:, : config["in_channels"]]
        with torch.device("meta"):
            base = WanTransformer3DModel(**config)
        base.load_state_dict(state, strict=True, assign=True)
        source = Path(self.cfg.model_dir).resolve()
        with atomic_folder(folder) as tmp:
            base.save_pretrained(tmp / "transformer", safe_serialization=True)
            for name in LINKED_PARTS:
                (tmp / name).symlink_to(source / name)
