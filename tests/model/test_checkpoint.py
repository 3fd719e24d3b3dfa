"""PoseAnything checkpoints: safetensors round trip (with LoRA), refusal of pickle, errors naming the tensor."""

import pytest
import torch
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

from poseanything_studio.model.checkpoint import checkpoint_state_dict, load_checkpoint, save_checkpoint
from poseanything_studio.model.errors import ModelError
from poseanything_studio.model.tiny import TINY_TRANSFORMER_CONFIG
from poseanything_studio.model.transformer import PoseAnythingTransformer3DModel


def fresh(seed=0, **overrides):
    torch.manual_seed(seed)
    return PoseAnythingTransformer3DModel.from_base(WanTransformer3DModel(**{**TINY_TRANSFORMER_CONFIG, **overrides}))


def test_round_trip_with_lora(tmp_path):
    from peft import LoraConfig

    trained = fresh(0)
    trained.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_v"]))
    with torch.no_grad():
        for name, p in trained.named_parameters():
            if "patch_embedding" in name or ".ptcm." in name or "lora_" in name:
                p.normal_()
    path = save_checkpoint(trained, tmp_path / "pa.safetensors")
    other = fresh(0)  # the same base weights, our additions untrained
    load_checkpoint(other, path)
    saved = checkpoint_state_dict(trained)
    assert any(k.startswith("lora.") for k in saved) and any(".ptcm." in k for k in saved)
    for name, tensor in checkpoint_state_dict(other).items():
        assert torch.equal(tensor, saved[name]), name
    x, pose = torch.randn(2, 1, 8, 3, 4, 6).unbind(0)
    t, text = torch.tensor([500.0]), torch.randn(1, 5, 16)
    with torch.no_grad():
        assert torch.equal(trained(x, t, text, pose_latents=pose).sample, other(x, t, text, pose_latents=pose).sample)


def test_wrong_shapes_name_the_tensor(tmp_path):
    path = save_checkpoint(fresh(0, num_attention_heads=4), tmp_path / "big.safetensors")
    with pytest.raises(ModelError, match=r"tensor patch_embedding\.weight has shape \(48, 16, 1, 2, 2\)"):
        load_checkpoint(fresh(0), path)


def test_pickle_and_foreign_files_are_refused(tmp_path):
    for name in ("pa.bin", "pa.pt", "pa.ckpt"):
        (tmp_path / name).write_bytes(b"not read")
        with pytest.raises(ModelError, match="pickle"):
            load_checkpoint(fresh(), tmp_path / name)
    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelError, match="not a PoseAnything checkpoint"):
        load_checkpoint(fresh(), tmp_path / "other.safetensors")
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(fresh(), tmp_path / "missing.safetensors")


def test_a_lora_naming_modules_the_model_lacks_is_one_clear_error(tmp_path):
    from peft import LoraConfig

    trained = fresh(0)
    trained.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q"]))
    path = save_checkpoint(trained, tmp_path / "pa.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    metadata["lora"] = '{"r": 2, "lora_alpha": 2, "target_modules": ["no_such_module"]}'
    save_file(state, str(tmp_path / "foreign.safetensors"), metadata=metadata)
    with pytest.raises(
        ModelError,
        match=r"foreign\.safetensors: metadata lora\.target_modules \(no_such_module\) "
        "names no module of this model",
    ):
        load_checkpoint(fresh(0), tmp_path / "foreign.safetensors")
