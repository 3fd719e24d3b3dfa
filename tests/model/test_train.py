"""The trainer on the tiny model: loss goes down, exact resume (one process and two), stage 3 trains only PTCM,
output loads, bad config."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from poseanything_studio.commands.train import main
from poseanything_studio.model.tiny import write_tiny_model
from poseanything_studio.model.train import Trainer, load_config

FRAMES, SIZE = 5, 64


def write_dataset(root):
    """Two clips: one as PNG frames with masks, one as MP4s; a coloured bar moving on a textured picture."""
    import imageio.v2 as imageio

    rng = np.random.default_rng(0)
    lines = []
    for c in range(2):
        video = np.repeat(rng.integers(0, 256, (1, SIZE, SIZE, 3), dtype=np.uint8), FRAMES, 0)
        pose = np.zeros_like(video)
        masks = np.zeros(video.shape[:3], np.uint8)
        for f in range(FRAMES):
            pose[f, 20:28, 8 + 4 * f : 40 + 4 * f] = (255, 0, 0)
            pose[f, 36:44, 8 + 4 * f : 40 + 4 * f] = (0, 255, 0)
            video[f, 16:48, 8 + 4 * f : 40 + 4 * f] = 200
            masks[f, 16:48, 8 + 4 * f : 40 + 4 * f] = 255
        clip = root / f"clip{c}"
        clip.mkdir(parents=True)
        if c == 0:
            for name, frames in (("video", video), ("pose", pose), ("masks", masks)):
                (clip / name).mkdir()
                for f, frame in enumerate(frames):
                    imageio.imwrite(clip / name / f"{f:05d}.png", frame)
            entry = {"video": f"clip{c}/video", "pose": f"clip{c}/pose", "masks": f"clip{c}/masks"}
        else:
            imageio.mimwrite(clip / "video.mp4", video, fps=8, macro_block_size=1)
            imageio.mimwrite(clip / "pose.mp4", pose, fps=8, macro_block_size=1)
            entry = {"video": f"clip{c}/video.mp4", "pose": f"clip{c}/pose.mp4", "masks": None}
        (clip / "rig.json").write_text(
            json.dumps(
                {
                    "joints": [
                        {"id": "a", "xy": [8, 24]},
                        {"id": "b", "xy": [40, 24]},
                        {"id": "c", "xy": [8, 40]},
                        {"id": "d", "xy": [40, 40]},
                    ],
                    "bones": [{"id": "upper", "a": "a", "b": "b"}, {"id": "lower", "a": "c", "b": "d"}],
                    "positions": [
                        [[8 + 4 * f, 24], [40 + 4 * f, 24], [8 + 4 * f, 40], [40 + 4 * f, 40]] for f in range(FRAMES)
                    ],
                }
            )
        )
        entry["rig"] = f"clip{c}/rig.json"
        lines.append({"clip": f"c{c}", **entry, "frames": FRAMES, "status": "accepted", "prompt": "a robot arm moves"})
    lines.append({"clip": "bad", "status": "rejected", "reason": "area"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    write_tiny_model(root / "model")
    write_dataset(root / "data")
    return root


def config(setup, out, stages, **train):
    train = {"checkpoint_every": 1000, "log_every": 1000, "prompt_length": 16, **train}
    lines = ["[model]", 'dir = "model"', "[train]", f'output_dir = "{out}"', f"num_frames = {FRAMES}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in train.items()]
    lines += ["[data]", 'mix = "data"']
    for s in stages:
        lines += ["[[stages]]"] + [f"{k} = {json.dumps(v)}" for k, v in s.items()]
    path = setup / f"{out}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def stage(name="s", steps=4, trainable="all", lr=1e-3, ptcm=True):
    return {"name": name, "steps": steps, "data": ["mix"], "trainable": trainable, "lr": lr, "ptcm": ptcm}


def test_loss_goes_down_on_a_fixed_batch(setup):
    cfg = load_config(config(setup, "fixed", [stage(steps=30, lr=3e-3)], condition_dropout=0.0, resume=False))
    trainer = Trainer(cfg, log=lambda *_: None)
    trainer.start_stage(0)
    item = trainer.sample_item(0)
    trainer.sample_item = lambda position: item  # one clip
    fixed = torch.Generator().manual_seed(1)
    state = fixed.get_state()

    def loss_now():
        trainer.generator.set_state(state)  # the same sigma and noise every step: a fixed batch
        return trainer.step()

    first = loss_now()
    for _ in range(25):
        last = loss_now()
    assert last < 0.5 * first, (first, last)


TWO_STAGES = [stage("one", 3, "all", ptcm=False), stage("two", 3, "ptcm")]


@pytest.fixture(scope="module")
def unbroken(setup):
    """The reference: both stages trained in one go."""
    assert main([str(config(setup, "unbroken", TWO_STAGES, condition_dropout=0.5, grad_accum=2))]) == 0
    return setup / "unbroken"


def assert_same_weights(a_dir, b_dir):
    a = load_file(str(a_dir / "poseanything.safetensors"))
    b = load_file(str(b_dir / "poseanything.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)
    wa = load_file(str(a_dir / "model" / "transformer" / "diffusion_pytorch_model.safetensors"))
    wb = load_file(str(b_dir / "model" / "transformer" / "diffusion_pytorch_model.safetensors"))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6)


def test_resume_gives_the_same_weights(setup, unbroken):
    broken = config(setup, "broken", TWO_STAGES, condition_dropout=0.5, grad_accum=2)
    assert main([str(broken), "--max-steps", "2"]) == 0  # stops mid stage 1 with a checkpoint
    assert main([str(broken), "--max-steps", "2"]) == 0  # crosses into stage 2
    assert main([str(broken)]) == 0
    assert_same_weights(unbroken, setup / "broken")
    assert (unbroken / "logs").is_dir() and any((unbroken / "logs").iterdir())


def test_ctrl_c_checkpoints_at_the_step_boundary_and_resumes_exactly(setup, unbroken, capsys):
    import os
    import signal

    path = config(setup, "interrupted", TWO_STAGES, condition_dropout=0.5, grad_accum=2)
    trainer = Trainer(load_config(path), log=lambda *_: None)
    real_step, calls = trainer.step, []

    def step_then_ctrl_c():
        calls.append(1)
        loss = real_step()
        if len(calls) == 4:  # Ctrl+C arrives in the middle of step 4 (stage 2, step 1)
            os.kill(os.getpid(), signal.SIGINT)
        return loss

    trainer.step = step_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        trainer.run()
    saved = sorted(p.name for p in (setup / "interrupted" / "checkpoints").iterdir())
    assert saved == ["step-00000004"]  # step 4 finished, then it stopped with a checkpoint
    assert main([str(path)]) == 0
    assert_same_weights(unbroken, setup / "interrupted")


def test_steps_yields_progress_and_cancel_stops_with_a_checkpoint_that_resumes_exactly(setup, unbroken):
    path = config(setup, "cancelled", TWO_STAGES, condition_dropout=0.5, grad_accum=2)
    trainer = Trainer(load_config(path), log=lambda *_: None)
    progress, seen = trainer.steps(), []
    with pytest.raises(StopIteration) as end:
        while True:
            seen.append(next(progress))
            if len(seen) == 4:
                trainer.cancel()  # from any thread; here between steps 4 and 5
    assert end.value.value is None  # stopped, no output written
    assert [(p.global_step, p.stage, p.stage_step, p.total_steps) for p in seen] == [
        (1, "one", 1, 6),
        (2, "one", 2, 6),
        (3, "one", 3, 6),
        (4, "two", 1, 6),
    ]
    assert all(p.loss > 0 for p in seen) and not (setup / "cancelled" / "poseanything.safetensors").exists()
    assert sorted(p.name for p in (setup / "cancelled" / "checkpoints").iterdir()) == ["step-00000004"]
    assert main([str(path)]) == 0
    assert_same_weights(unbroken, setup / "cancelled")


def torchrun_train(config_path, *args, timeout=900):
    """`main.py train` in two CPU processes (DDP over gloo), as `accelerate launch` or torchrun starts it.

    Made for a slow, shared machine: torchrun's standalone rendezvous on a free port, gloo on the loopback
    interface, one thread per process, a generous timeout that kills the whole process group (workers
    included, never orphaned) and shows the tail of both processes' output when anything goes wrong."""
    import signal

    main_py = Path(__file__).resolve().parents[2] / "main.py"
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "--max-restarts",
        "0",
        str(main_py),
        "train",
        str(config_path),
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"two-process training still running after {timeout} s:\n{err[-3000:]}")
    assert process.returncode == 0, err[-3000:]
    return out


def scheduler_at(run_dir, step):
    return json.loads((run_dir / "checkpoints" / f"step-{step:08d}" / "state.json").read_text())["scheduler"]


WARM_STAGES = [{**TWO_STAGES[0], "warmup_steps": 10}, TWO_STAGES[1]]


@pytest.fixture(scope="module")
def ddp(setup):
    """Both stages in two processes (DDP) in one go; returns (output folder, stdout)."""
    out = torchrun_train(config(setup, "ddp", WARM_STAGES, condition_dropout=0.5))
    return setup / "ddp", out


@pytest.mark.slow  # three torchrun launches of two processes, each importing torch
def test_two_processes_train_together_and_resume_exactly(setup, ddp):
    assert ddp[1].count("wrote ") == 1  # the main process speaks for both
    broken = config(setup, "ddp_broken", WARM_STAGES, condition_dropout=0.5)
    torchrun_train(broken, "--max-steps", "2")  # stops in stage 1 with a checkpoint
    saved = setup / "ddp_broken" / "checkpoints" / "step-00000002"
    assert {p.name for p in saved.glob("rng-*.json")} == {"rng-0.json", "rng-1.json"}  # each process's RNGs
    torchrun_train(broken)  # resumes, crosses into stage 2
    assert_same_weights(setup / "ddp", setup / "ddp_broken")
    main([str(config(setup, "one_process", WARM_STAGES, condition_dropout=0.5, checkpoint_every=2))])
    one = load_file(str(setup / "one_process" / "poseanything.safetensors"))
    two = load_file(str(setup / "ddp" / "poseanything.safetensors"))
    assert any(not torch.equal(one[k], two[k]) for k in one)  # the second process's clip did count
    # The LR schedule counts optimizer steps: after 2 steps of a 10-step warm-up, lr = 3/10 of the stage's
    # on one process and on two (a scheduler prepared by accelerate would have stepped twice as often on two).
    two_at_2, one_at_2 = scheduler_at(setup / "ddp_broken", 2), scheduler_at(setup / "one_process", 2)
    assert two_at_2["last_epoch"] == one_at_2["last_epoch"] == 2
    assert two_at_2["_last_lr"] == one_at_2["_last_lr"] == pytest.approx([1e-3 * 3 / 10])


def test_stage_3_changes_only_ptcm_and_the_output_loads(setup):
    from poseanything_studio.model.pipeline import PoseAnythingPipeline

    cfg = load_config(config(setup, "ptcm", [stage("ptcm", 3, "ptcm", lr=1e-2)], resume=False))
    trainer = Trainer(cfg, log=lambda *_: None)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    out = trainer.run()
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(".ptcm." in k for k in changed)
    pipe = PoseAnythingPipeline.from_model_dir(setup / "model", out, device="cpu")
    got = dict(pipe.transformer.named_parameters())
    for k in changed:
        torch.testing.assert_close(got[k], after[k])


def test_lora_stage_runs_and_its_checkpoint_loads(setup):
    from poseanything_studio.model.pipeline import PoseAnythingPipeline

    path = config(setup, "lora", [stage("lora", 2, "lora", lr=1e-2)])
    text = path.read_text().replace("[model]\n", "[model]\nlora_rank = 4\ngradient_checkpointing = true\n")
    path.write_text(text)
    assert main([str(path)]) == 0
    pipe = PoseAnythingPipeline.from_model_dir(
        setup / "model", setup / "lora" / "poseanything.safetensors", device="cpu"
    )
    assert pipe.transformer.peft_config


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (('trainable = "all"', 'trainable = "everything"'), "stages[0].trainable"),
        (("lr = 0.001", 'lr = "fast"'), "stages[0].lr"),
        (("num_frames = 5", "num_frames = 6"), "train.num_frames"),
        (("[data]", "bogus = 1\n[data]"), "train.bogus"),
    ],
)
def test_bad_config_is_one_line_naming_file_and_key(setup, capsys, edit, key):
    path = config(setup, "bad", [stage()])
    path.write_text(path.read_text().replace(*edit))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and key in err, err


def test_training_memory_table_counts_the_real_config():
    """The table's parameter counts are the 5B config's (built on the meta device), and it says what fits."""
    from poseanything_studio.model import memory
    from poseanything_studio.model.transformer import PoseAnythingTransformer3DModel

    with torch.device("meta"):
        model = PoseAnythingTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=24,
            attention_head_dim=128,
            in_channels=48,
            out_channels=48,
            text_dim=4096,
            freq_dim=256,
            ffn_dim=14336,
            num_layers=30,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            eps=1e-6,
            ptcm=True,
        )
    count = {"all": 0, "ptcm": 0, "block": 0, "lora_per_rank": 0}
    for name, param in model.named_parameters():
        count["all"] += param.numel()
        count["ptcm"] += param.numel() if ".ptcm." in name else 0
        count["block"] += param.numel() if name.startswith("blocks.0.") and ".ptcm." not in name else 0
    for name, module in model.named_modules():
        if any(name.endswith(f".attn{a}.{t}") for a in (1, 2) for t in ("to_q", "to_k", "to_v", "to_out.0")):
            count["lora_per_rank"] += module.in_features + module.out_features
    assert count == {
        "all": memory.TRANSFORMER_PARAMS,
        "ptcm": memory.PTCM_PARAMS,
        "block": memory.BLOCK_PARAMS,
        "lora_per_rank": memory.LORA_PARAMS_PER_RANK,
    }
    rows = {name.split(",")[0] + name.split(",")[1]: states + act for name, states, act in memory.training_rows()}
    assert rows["full fine-tune DDP"] > 80  # the 8-GPU DDP command of old does not fit an 80 GB card
    fsdp = next(total for name, total in rows.items() if "FSDP" in name)
    assert fsdp < 40


@pytest.mark.slow  # three torchrun launches of two processes, each importing torch
def test_fsdp_on_two_processes_matches_ddp_and_resumes_exactly_from_shards(setup, ddp):
    """FSDP (fully sharded over gloo on the CPU): each process saves its own shards, a run stopped and resumed
    equals an unbroken one, and the result is DDP's (same data, same averaged gradients)."""
    fsdp = config(setup, "fsdp", WARM_STAGES, condition_dropout=0.5, distributed="fsdp")
    torchrun_train(fsdp)
    broken = config(setup, "fsdp_broken", WARM_STAGES, condition_dropout=0.5, distributed="fsdp")
    torchrun_train(broken, "--max-steps", "2")
    saved = setup / "fsdp_broken" / "checkpoints" / "step-00000002"
    halves = [load_file(str(saved / f"weights-{rank}.safetensors")) for rank in (0, 1)]
    name = "patch_embedding.weight"
    assert [h[name].shape[0] for h in halves] == [12, 12]  # the 24 rows split between the processes
    assert json.loads((saved / "state.json").read_text())["sharded"] is True
    torchrun_train(broken)
    assert_same_weights(setup / "fsdp", setup / "fsdp_broken")
    replicated = load_file(str(ddp[0] / "poseanything.safetensors"))
    sharded = load_file(str(setup / "fsdp" / "poseanything.safetensors"))
    assert replicated.keys() == sharded.keys()
    for k in replicated:
        torch.testing.assert_close(sharded[k], replicated[k], rtol=0, atol=1e-4)  # Adam steps are <= 1e-3 each


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('# réglages\n[model]\ndir = "m"\n'.encode("latin-1"), "not UTF-8 text (line 1)"),
        (b"[model]\ndir = " + b"[" * 100_000, "more than 1024 KB"),
        (b"a = " + b"[" * 50_000 + b"]" * 50_000, "not valid TOML"),
    ],
)
def test_a_config_that_is_not_utf8_or_toml_is_one_line(tmp_path, capsys, content, words):
    path = tmp_path / "cfg.toml"
    path.write_bytes(content + (b" " * 2**20 if "KB" in words else b""))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and words in err, err
