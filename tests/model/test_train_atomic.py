"""What training writes is whole or absent: a failure or a kill at any moment of a checkpoint save leaves the old or
the new checkpoint loadable (never neither) and, after the next run, no litter; the trained model folder is
swapped in whole and never replaces a user's folder; two latent-cache writers do not collide."""

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from poseanything_studio.commands.train import main
from poseanything_studio.core import fileio
from poseanything_studio.model.tiny import write_tiny_model
from poseanything_studio.model.train import Trainer, load_config
from poseanything_studio.model.training.cache import LatentCache
from poseanything_studio.model.training.state import CHECKPOINT_NAME, latest_checkpoint, read_training_state
from poseanything_studio.model.training.trainer import is_trained_model_dir
from tests.model.test_train import config, stage, write_dataset

ROOT = Path(__file__).resolve().parents[2]
# Every step of a save that touches the disk; `failing_at` makes one of them fail (or the process die) there.
OPERATIONS = [
    ("safetensors.torch", "save_file"),
    (Path, "write_text"),
    (os, "fsync"),
    (os, "rename"),
    (os, "replace"),
    (os, "symlink"),
    (tempfile, "mkdtemp"),
    (fileio, "rename_no_replace"),
    (fileio, "exchange_paths"),
]


class InjectedFault(RuntimeError):
    pass


@contextlib.contextmanager
def failing_at(n=None, kill=False):
    """Count the disk operations inside; the n-th raises InjectedFault (or SIGKILLs this process). Yields the
    names of the operations done so far."""
    done = []

    def counted(real, name):
        def hooked(*args, **kwargs):
            done.append(name)
            if len(done) == n:
                if kill:
                    os.kill(os.getpid(), signal.SIGKILL)
                raise InjectedFault(f"{name} failed")
            return real(*args, **kwargs)

        return hooked

    with pytest.MonkeyPatch.context() as patch:
        for owner, name in OPERATIONS:
            owner = importlib.import_module(owner) if isinstance(owner, str) else owner
            patch.setattr(owner, name, counted(getattr(owner, name), name))
        yield done


def litter(folder):
    return [p for p in folder.rglob("*") if fileio.TEMP_TAG in p.name or p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("atomic")
    write_tiny_model(root / "model")
    write_dataset(root / "data")
    return root


@pytest.fixture(scope="module")
def trainer(setup):
    """A trainer one step in, keeping one checkpoint."""
    cfg = load_config(config(setup, "faults", [stage(steps=3)], keep_checkpoints=1, resume=False))
    trainer = Trainer(cfg, log=lambda *_: None)
    trainer.start_stage(0)
    trainer.step()
    return trainer


def mark(trainer, value, step):
    """Give the trainer a recognisable first trained weight and a step number."""
    name = trainer.changeable[0]
    with torch.no_grad():
        dict(trainer.model.named_parameters())[name].fill_(value)
    trainer.global_step = trainer.stage_step = step
    return name


def saved(folder, name):
    """(step, marked value) of a checkpoint folder, every file read as a resume reads it."""
    state = read_training_state(folder, SimpleNamespace(num_processes=1, process_index=0), sharded=False)
    assert state.position.global_step == int(folder.name[5:])
    return state.position.global_step, float(state.weights[name].flatten()[0])


def save_operations(trainer, old_step, new_step):
    """Fresh checkpoints folder holding the old checkpoint; the operations a save of the new one does."""
    out = trainer.cfg.output_dir
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    mark(trainer, 1.0, old_step)
    trainer.save_state()
    mark(trainer, 2.0, new_step)
    with failing_at() as done:
        trainer.save_state()
    return done


@pytest.mark.parametrize(("old_step", "new_step"), [(1, 2), (2, 2)], ids=["new name", "same name swapped"])
def test_a_failure_at_any_moment_of_a_checkpoint_save_leaves_old_or_new(trainer, old_step, new_step):
    out = trainer.cfg.output_dir
    operations = save_operations(trainer, old_step, new_step)
    assert "rename_no_replace" in operations and ("exchange_paths" in operations) == (old_step == new_step)
    seen = set()
    for n in range(1, len(operations) + 1):
        shutil.rmtree(out / "checkpoints")
        name = mark(trainer, 1.0, old_step)
        trainer.save_state()
        mark(trainer, 2.0, new_step)
        with pytest.raises(InjectedFault), failing_at(n):
            trainer.save_state()
        found = latest_checkpoint(out)
        assert found is not None, f"no checkpoint after a failure in {operations[n - 1]} (operation {n})"
        got = saved(found, name)
        assert got in {(old_step, 1.0), (new_step, 2.0)}, (n, operations[n - 1], got)
        seen.add(got)
        assert not litter(out / "checkpoints"), (n, operations[n - 1], litter(out / "checkpoints"))
        assert all(CHECKPOINT_NAME.fullmatch(p.name) for p in (out / "checkpoints").iterdir())
    assert seen == {(old_step, 1.0), (new_step, 2.0)}  # failures before the rename keep the old, after it the new


KILL_SCRIPT = """
import sys
from poseanything_studio.model.train import Trainer, load_config
from tests.model.test_train_atomic import failing_at

trainer = Trainer(load_config(sys.argv[1]), log=lambda *_: None)
real, saves = trainer.save_state, []

def save_state():
    saves.append(1)
    if len(saves) != 2:
        return real()
    with failing_at(int(sys.argv[2]), kill=True):  # the second save (step 2) dies at this operation
        return real()

trainer.save_state = save_state
trainer.run()
"""


@pytest.mark.parametrize("at", ["save_file", "rename_no_replace", "last"])
def test_a_kill_during_a_checkpoint_save_leaves_one_to_resume_and_no_litter_after_the_next_run(setup, trainer, at):
    operations = save_operations(trainer, 1, 2)  # the same save, counted in this process
    n = len(operations) if at == "last" else operations.index(at) + 1
    path = config(setup, f"killed_{at}", [stage(steps=3)], checkpoint_every=1, keep_checkpoints=1)
    out = setup / f"killed_{at}"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", KILL_SCRIPT, str(path), str(n)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    found = latest_checkpoint(out)
    assert found is not None and found.name in ("step-00000001", "step-00000002")
    read_training_state(found, SimpleNamespace(num_processes=1, process_index=0), sharded=False)
    assert main([str(path)]) == 0  # resumes from it and finishes
    assert not litter(out), litter(out)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000003"]
    assert (out / "poseanything.safetensors").is_file() and is_trained_model_dir(out / "model")


def test_a_failure_at_any_moment_of_the_model_folder_save_leaves_old_or_new(trainer):
    folder = trainer.cfg.output_dir / "model"
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    name = "blocks.0.attn1.to_q.weight"
    with torch.no_grad():
        dict(trainer.model.named_parameters())[name].fill_(1.0)
    trainer.save_model_dir(folder)
    with torch.no_grad():
        dict(trainer.model.named_parameters())[name].fill_(2.0)
    with failing_at() as operations:
        trainer.save_model_dir(folder)
    seen = set()
    for n in range(1, len(operations) + 1):
        with pytest.raises(InjectedFault), failing_at(n):
            trainer.save_model_dir(folder)
        assert is_trained_model_dir(folder), (n, operations[n - 1])
        value = float(load_file(str(weights))[name].flatten()[0])
        seen.add(value)
        assert os.listdir(folder.parent).count("model") == 1 and not litter(folder.parent / "model")
        assert not [p for p in folder.parent.iterdir() if fileio.TEMP_TAG in p.name], (n, operations[n - 1])
        if value == 2.0:  # the new one made it: start again from the old
            with torch.no_grad():
                dict(trainer.model.named_parameters())[name].fill_(1.0)
            trainer.save_model_dir(folder)
            with torch.no_grad():
                dict(trainer.model.named_parameters())[name].fill_(2.0)
    assert 1.0 in seen


@pytest.mark.parametrize("kind", ["a folder of the user's", "the base model itself"])
def test_a_user_folder_at_output_model_is_never_replaced(setup, capsys, kind):
    out = "users" if kind == "a folder of the user's" else "."
    path = config(setup, out, [stage(steps=1)])
    if out == "users":
        (setup / "users" / "model").mkdir(parents=True)
        (setup / "users" / "model" / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(setup) for p in setup.rglob("*"))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.output_dir" in err and "not a model folder training wrote" in err
    assert sorted(p.relative_to(setup) for p in setup.rglob("*")) == before  # nothing written, nothing removed


class Clips:
    """Two tiny clips, as ClipDataset gives them."""

    def key(self, index):
        return f"clip-{index}"

    def __getitem__(self, index):
        frames = np.full((5, 32, 32, 3), index, np.uint8)
        return {"video": frames, "pose": frames, "prompt": "p", "parts": np.zeros((5, 1, 32, 32), bool)}


class Encoders:
    text_encoder = SimpleNamespace(device="cpu")

    def encode_video(self, frames):
        return torch.full((1, 2, 2, 1, 1), float(np.asarray(frames).mean()))

    def encode_prompt(self, prompt, length, device):
        return (torch.ones(1, length, 3),)


def test_two_cache_writers_of_one_clip_do_not_collide(tmp_path, monkeypatch):
    import safetensors.torch

    first, second = LatentCache(tmp_path, Encoders(), 4), LatentCache(tmp_path, Encoders(), 4)
    real = safetensors.torch.save_file
    calls = []

    def write_then_let_the_other_write(tensors, filename, *args, **kwargs):
        real(tensors, filename, *args, **kwargs)
        calls.append(filename)
        if len(calls) == 1:  # the first writer has written, not yet renamed: the second writes the same clip
            second.get(Clips(), 1)

    monkeypatch.setattr(safetensors.torch, "save_file", write_then_let_the_other_write)
    item = first.get(Clips(), 1)
    assert calls[0] != calls[1]  # each its own temporary
    assert [p.name for p in tmp_path.iterdir()] == [first.file_for("clip-1").name]
    on_disk = load_file(str(first.file_for("clip-1")))
    assert on_disk.keys() == item.keys() and all(torch.equal(on_disk[k], item[k]) for k in item)


def test_a_cache_write_that_fails_leaves_nothing(tmp_path, monkeypatch):
    import safetensors.torch

    def fails(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", fails)
    with pytest.raises(OSError, match="disk full"):
        LatentCache(tmp_path, Encoders(), 4).get(Clips(), 0)
    assert list(tmp_path.iterdir()) == []
