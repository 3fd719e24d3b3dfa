"""Damaged or hostile model files: each is one ModelError line naming the file and the key or tensor,
found before loading where the headers tell, and nothing ever reaches torch.load or pickle."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from poseanything_studio.commands import main as cli_main
from poseanything_studio.model.checkpoint import load_checkpoint, read_checkpoint
from poseanything_studio.model.errors import ModelError
from poseanything_studio.model.pipeline import PoseAnythingPipeline
from poseanything_studio.model.tiny import CHECKPOINT_NAME
from poseanything_studio.model.transformer import PoseAnythingTransformer3DModel


@pytest.fixture
def broken(tiny_dir, tmp_path, monkeypatch):
    """A copy of the tiny model to damage; torch.load and pickle refuse to run while the test does."""

    def never(*args, **kwargs):
        raise AssertionError("torch.load or pickle was reached")

    monkeypatch.setattr(torch, "load", never)
    monkeypatch.setattr(pickle, "load", never)
    monkeypatch.setattr(pickle, "loads", never)
    folder = tmp_path / "model"
    shutil.copytree(tiny_dir, folder)
    return folder


def _load(folder):
    return PoseAnythingPipeline.from_model_dir(folder, folder / CHECKPOINT_NAME, device="cpu")


def _edit_weights(path, edit):
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


def _edit_json(path, edit):
    data = json.loads(path.read_text())
    path.write_text(json.dumps(edit(data)))


def _first_key(state, word):
    return next(k for k in sorted(state) if word in k)


CASES = {
    "100,000 layers": (
        lambda f: _edit_json(f / "transformer/config.json", lambda d: {**d, "num_layers": 100_000}),
        r"transformer/config\.json: num_layers is 100000",
    ),
    "config not an object": (lambda f: (f / "vae/config.json").write_text("[1, 2]"), r"vae/config\.json: must hold"),
    "text encoder truncated": (
        lambda f: (f / "text_encoder/model.safetensors").write_bytes(
            (f / "text_encoder/model.safetensors").read_bytes()[:-100]
        ),
        r"text_encoder.*(truncated|past the end)",
    ),
    "text encoder tensor missing": (
        lambda f: _edit_weights(
            f / "text_encoder/model.safetensors", lambda s: s.pop(_first_key(s, "block.0.layer.0.SelfAttention.q"))
        ),
        r"text_encoder: tensor encoder\.block\.0\.layer\.0\.SelfAttention\.q\.weight is missing",
    ),
    "text encoder wrong shape": (
        lambda f: _edit_weights(
            f / "text_encoder/model.safetensors", lambda s: s.update({"encoder.final_layer_norm.weight": torch.ones(7)})
        ),
        r"tensor encoder\.final_layer_norm\.weight has shape \(7,\)",
    ),
    "transformer tensor missing": (
        lambda f: _edit_weights(
            f / "transformer/diffusion_pytorch_model.safetensors", lambda s: s.pop("blocks.1.ffn.net.2.weight")
        ),
        r"transformer: tensor blocks\.1\.ffn\.net\.2\.weight is missing",
    ),
    "vae tensor missing": (
        lambda f: _edit_weights(
            f / "vae/diffusion_pytorch_model.safetensors", lambda s: s.pop(_first_key(s, "decoder"))
        ),
        r"vae: tensor decoder\..* is missing",
    ),
    "vae int8 weights": (
        lambda f: _edit_weights(
            f / "vae/diffusion_pytorch_model.safetensors",
            lambda s: s.update({k: v.to(torch.int8) for k, v in s.items()}),
        ),
        r"vae: tensor .* is I8; weights must be float32 or bfloat16 or float16",
    ),
    "transformer NaN": (
        lambda f: _edit_weights(
            f / "transformer/diffusion_pytorch_model.safetensors",
            lambda s: s["blocks.0.ffn.net.2.weight"].fill_(float("nan")),
        ),
        r"transformer: tensor blocks\.0\.ffn\.net\.2\.weight holds NaN",
    ),
    "tokenizer config a list": (
        lambda f: (f / "tokenizer/tokenizer_config.json").write_text("[]"),
        r"tokenizer/tokenizer_config\.json: must hold a JSON object",
    ),
    "tokenizer.json garbage": (
        lambda f: (f / "tokenizer/tokenizer.json").write_text("garbage"),
        r"tokenizer/tokenizer\.json: not a readable JSON config",
    ),
    "scheduler value rejected": (
        lambda f: _edit_json(f / "scheduler/scheduler_config.json", lambda d: {**d, "solver_order": "x"}),
        r"scheduler_config\.json: UniPCMultistepScheduler does not accept this config",
    ),
    "scheduler config a list": (
        lambda f: (f / "scheduler/scheduler_config.json").write_text("[]"),
        r"scheduler_config\.json: must hold a JSON object",
    ),
    "scheduler names a model class": (
        lambda f: (
            _edit_json(f / "scheduler/scheduler_config.json", lambda d: {**d, "_class_name": "UNet2DModel"}),
            (f / "scheduler/diffusion_pytorch_model.bin").write_bytes(pickle.dumps({"x": 1})),
        ),
        r"_class_name 'UNet2DModel' is not a diffusers scheduler",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_damaged_model_files_are_one_line_naming_the_part(broken, case):
    damage, words = CASES[case]
    damage(broken)
    with pytest.raises(ModelError, match=words) as info:
        _load(broken)
    assert "\n" not in str(info.value)


def _checkpoint_with(path, change, metadata=None):
    state, meta = read_checkpoint(path)
    change(state)
    save_file(state, str(path), metadata={**meta, **(metadata or {})})


@pytest.mark.parametrize("dtype", [torch.int8, torch.bool, torch.float16, torch.complex64])
def test_checkpoints_of_the_wrong_dtype_are_refused(broken, dtype):
    path = broken / CHECKPOINT_NAME
    _checkpoint_with(path, lambda s: s.update({"patch_embedding.bias": s["patch_embedding.bias"].to(dtype)}))
    model = PoseAnythingTransformer3DModel.from_base(_tiny_base(broken))
    with pytest.raises(ModelError, match=r"tensor patch_embedding\.bias is (int8|bool|float16|complex64)"):
        load_checkpoint(model, path)


def test_an_all_nan_checkpoint_is_refused(broken):
    path = broken / CHECKPOINT_NAME
    _checkpoint_with(path, lambda s: [v.fill_(float("nan")) for v in s.values()])
    with pytest.raises(ModelError, match="holds NaN or infinite values"):
        load_checkpoint(PoseAnythingTransformer3DModel.from_base(_tiny_base(broken)), path)


@pytest.mark.parametrize(
    "lora",
    [
        "not json",
        "[]",
        '{"r": 4}',
        '{"r": -1, "lora_alpha": 1, "target_modules": ["to_q"]}',
        '{"r": 4, "lora_alpha": 8, "target_modules": ["to_q"], "init_lora_weights": "x"}',
    ],
)
def test_bad_lora_metadata_is_refused(broken, lora):
    path = broken / CHECKPOINT_NAME
    _checkpoint_with(path, lambda s: None, metadata={"lora": lora})
    with pytest.raises(ModelError, match="metadata"):
        load_checkpoint(PoseAnythingTransformer3DModel.from_base(_tiny_base(broken)), path)


def _tiny_base(folder):
    from diffusers import WanTransformer3DModel

    return WanTransformer3DModel.from_pretrained(folder, subfolder="transformer", use_safetensors=True)


def test_the_cli_says_one_line_for_a_damaged_model(broken, tmp_path, capsys, arm_project):
    CASES["transformer tensor missing"][0](broken)
    code = cli_main(
        [
            "render",
            str(arm_project),
            "-o",
            str(tmp_path / "o.mp4"),
            "--renderer",
            "poseanything",
            "--model-dir",
            str(broken),
            "--device",
            "cpu",
            "--frames",
            "5",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and "blocks.1.ffn.net.2.weight is missing" in err, err
    assert not (tmp_path / "o.mp4").exists()


def test_a_relative_model_dir_in_a_project_is_read_against_the_project_file(tiny_dir, tmp_path, monkeypatch):
    from poseanything_studio.core.project import load_project

    folder = tmp_path / "proj"
    folder.mkdir()
    shutil.copytree(tiny_dir, folder / "weights")
    from helpers import write_arm_project

    path = write_arm_project(folder, extra={"render": {"renderer": "poseanything", "model_dir": "weights"}})
    monkeypatch.chdir(tmp_path)  # somewhere else
    assert load_project(path).model_dir_path() == str(folder / "weights")
