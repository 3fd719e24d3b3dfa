"""The official PoseAnything DiT in our transformer: the same numbers as the authors' code, loaded strictly.

The goldens in tests/release/goldens/ were written by tools/release_goldens/dit.py from the official
repository's own `WanModel` and `model_fn_wan_video` at a tiny config (21 latent frames, 30 blocks, dim 24):
weights in the release's layout, inputs, and the official outputs without PTC, with PTC and of the probe.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from poseanything_studio.model import release
from poseanything_studio.model.checks import check_weight_files, expected_tensors, scheduler_class
from poseanything_studio.model.errors import ModelError
from poseanything_studio.model.part_attention import ReleaseParts
from poseanything_studio.model.release import (
    RELEASE_PARAMETERS,
    RELEASE_TENSORS,
    check_release_files,
    is_release_checkpoint,
    load_release_transformer,
    release_config,
    release_layout,
    release_parameters,
    write_release_checkpoint,
)
from poseanything_studio.model.transformer import WAN22_TI2V_5B_CONFIG, ModelShapeError, PoseAnythingTransformer3DModel

GOLDENS = Path(__file__).resolve().parents[1] / "release" / "goldens"
SHARDS = sorted((GOLDENS / "dit").glob("*.safetensors"))
# Our (diffusers-style) config for the golden's official WanModel(dim 24, 2 heads, 30 layers, in 8, out 4).
GOLDEN_BASE_CONFIG = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 16,
    "freq_dim": 16,
    "ffn_dim": 48,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
# The official code's model table names this layout by the md5 of its sorted "name:shape" and "name" entries
# (diffsynth/configs/model_config.py: "wry concat+instance-wise", WanModel with in_dim 96).
RELEASE_LAYOUT_MD5 = "de0da3928752254abbd097111252a4e2"


@pytest.fixture(scope="module")
def golden():
    return load_file(str(GOLDENS / "dit_io.safetensors"))


@pytest.fixture(scope="module")
def model():
    return load_release_transformer(GOLDENS / "dit", GOLDEN_BASE_CONFIG)


def run(model, io, **kwargs):
    """Our transformer on the golden inputs, with the release's per-token timestep (frame 0 at t = 0)."""
    latents = io["latents"]
    tokens_per_frame = latents.shape[3] * latents.shape[4] // 4
    timestep = torch.full((1, latents.shape[2] * tokens_per_frame), float(io["timestep"][0]))
    timestep[:, :tokens_per_frame] = 0
    with torch.no_grad():
        return model(latents, timestep, io["context"], pose_latents=io["pose_latents"], **kwargs).sample


def parts(io):
    return ReleaseParts(io["first_masks"], io["union_masks"])


# -- parity with the official code ----------------------------------------------------------------------------
def test_without_ptc_matches_the_official_dit(model, golden):
    torch.testing.assert_close(run(model, golden), golden["out_plain"], atol=1e-5, rtol=1e-5)


def test_with_ptc_matches_the_official_dit(model, golden):
    out = run(model, golden, release_parts=parts(golden))
    torch.testing.assert_close(out, golden["out_ptc"], atol=1e-5, rtol=1e-5)
    assert (golden["out_ptc"] - golden["out_plain"]).abs().max() > 0.1  # the PTC the goldens test does something


def test_ptc_residual_is_zero_on_the_first_frame_and_follows_the_masks(model, golden):
    ptc = model.release_ptc_modules[5]
    hidden = torch.randn(2, 21 * 16, 24, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        residual = ptc(hidden, parts(golden))
        no_parts = ptc(
            hidden, ReleaseParts(torch.zeros(3, 4, 4, dtype=torch.bool), torch.zeros(20, 3, 4, 4, dtype=torch.bool))
        )
    assert residual.shape == hidden.shape and torch.count_nonzero(residual[:, :16]) == 0
    assert not torch.allclose(residual[:, 16:], no_parts[:, 16:])  # the masks decide what the later frames get


def test_probe_attention_matches_the_official_probe(model, golden):
    latents = golden["latents"]
    n = latents.shape[3] * latents.shape[4] // 4
    timestep = torch.full((1, latents.shape[2] * n), float(golden["timestep"][0]))
    timestep[:, :n] = 0
    block = model.blocks[27]
    hooks = (len(block._forward_hooks), len(block.attn1._forward_pre_hooks))
    with torch.no_grad():
        weights = model.probe_attention(latents, timestep, golden["context"], pose_latents=golden["pose_latents"])
    assert (len(block._forward_hooks), len(block.attn1._forward_pre_hooks)) == hooks  # the probe's hooks are gone
    assert weights.shape == golden["probe"].shape == (1, 2, n, latents.shape[2] * n)
    torch.testing.assert_close(weights, golden["probe"], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    torch.testing.assert_close(run(model, golden), golden["out_plain"], atol=1e-5, rtol=1e-5)  # model unchanged
    with pytest.raises(ModelShapeError, match=r"block_index must be from 0 to 29, got 30"):
        model.probe_attention(latents, timestep, golden["context"], pose_latents=golden["pose_latents"], block_index=30)


def test_float32_timestep_sinusoid_would_miss_the_release(model, golden):
    """Why the release variant computes its timestep sinusoid in float64: diffusers' float32 one is off."""
    from diffusers.models.embeddings import Timesteps

    embedder = model.condition_embedder
    original = embedder.timesteps_proj
    embedder.timesteps_proj = Timesteps(original.num_channels, flip_sin_to_cos=True, downscale_freq_shift=0)
    try:
        error = (run(model, golden) - golden["out_plain"]).abs().max()
    finally:
        embedder.timesteps_proj = original
    assert error > (run(model, golden) - golden["out_plain"]).abs().max()


# -- the ways a user points at the release ---------------------------------------------------------------------
def test_one_shard_finds_the_other_and_lists_load_the_same(model, golden):
    expected = run(model, golden)
    assert release.release_files(SHARDS[1]) == SHARDS
    assert release.release_files([str(p) for p in SHARDS]) == SHARDS
    torch.testing.assert_close(
        run(load_release_transformer(SHARDS[0], GOLDEN_BASE_CONFIG), golden), expected, atol=0, rtol=0
    )


def test_the_tiktok_single_file_and_an_index_load_the_same(model, golden, tmp_path):
    expected = run(model, golden)
    state = {}
    for shard in SHARDS:
        state.update(load_file(str(shard)))
    (tmp_path / "tiktok").mkdir()
    save_file(state, str(tmp_path / "tiktok" / "diffusion_pytorch_model-tiktok.safetensors"))
    tiktok = load_release_transformer(
        tmp_path / "tiktok" / "diffusion_pytorch_model-tiktok.safetensors", GOLDEN_BASE_CONFIG
    )
    torch.testing.assert_close(run(tiktok, golden), expected, atol=0, rtol=0)
    assert release.release_files(tmp_path / "tiktok") == [
        tmp_path / "tiktok" / "diffusion_pytorch_model-tiktok.safetensors"
    ]
    indexed = tmp_path / "indexed"
    shutil.copytree(GOLDENS / "dit", indexed)
    weight_map = {name: shard.name for shard in SHARDS for name in load_file(str(shard))}
    (indexed / release.INDEX_NAME).write_text(json.dumps({"weight_map": weight_map}))
    assert release.release_files(indexed) == [indexed / s.name for s in SHARDS]


def test_release_paths_are_told_from_our_own_checkpoints(tiny_dir, tmp_path):
    assert is_release_checkpoint(GOLDENS / "dit") and is_release_checkpoint(SHARDS[0])
    single = tmp_path / "single.safetensors"
    save_file(load_file(str(SHARDS[0])), str(single))
    assert is_release_checkpoint(single)
    assert not is_release_checkpoint(tiny_dir / "poseanything.safetensors")  # our delta format
    assert not is_release_checkpoint(tmp_path / "missing.safetensors")


# -- strict: nothing missing, nothing unexpected, all from the headers -----------------------------------------
@pytest.fixture
def copy(tmp_path, monkeypatch):
    """A copy of the golden release folder to damage; reading any tensor fails the test (headers only)."""
    folder = tmp_path / "release"
    shutil.copytree(GOLDENS / "dit", folder)

    def headers_only(*args, **kwargs):
        raise AssertionError("a tensor was read before the headers were checked")

    monkeypatch.setattr(release, "safe_open", headers_only)
    return folder


def _edit(path, edit):
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


def test_a_folder_that_is_not_the_release_names_the_file_and_key(tmp_path, monkeypatch):
    from diffusers import WanTransformer3DModel

    folder = tmp_path / "wan"
    WanTransformer3DModel(**GOLDEN_BASE_CONFIG).save_pretrained(folder, safe_serialization=True)
    monkeypatch.setattr(release, "safe_open", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read")))
    with pytest.raises(
        ModelError,
        match=r"wan/diffusion_pytorch_model\.safetensors: tensor blocks\.0\.attn1\.\S+ "
        r"is not part of the PoseAnything release's DiT \(\d+ unexpected; "
        r"diffusers names",
    ):
        load_release_transformer(folder, GOLDEN_BASE_CONFIG)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda s: s.pop("blocks.2.norm4.bias"), r"tensor blocks\.2\.norm4\.bias is missing"),
        (lambda s: s.update({"blocks.30.norm4.bias": torch.zeros(24)}), r"tensor blocks\.30\.norm4\.bias is not part"),
        (
            lambda s: s.update({"blocks.2.cross_attn_instance.o.weight": torch.zeros(24, 23)}),
            r"blocks\.2\.cross_attn_instance\.o\.weight has shape \(24, 23\), "
            r"the release at this config has \(24, 24\)",
        ),
        (
            lambda s: s.update({"blocks.2.cross_attn_instance.q.bias": torch.zeros(24, dtype=torch.int32)}),
            r"blocks\.2\.cross_attn_instance\.q\.bias is I32",
        ),
    ],
)
def test_a_damaged_release_is_one_line_before_any_tensor_is_read(copy, damage, message):
    target = next(p for p in sorted(copy.glob("*.safetensors")) if "blocks.2.norm3.bias" in load_file(str(p)))
    _edit(target, damage)
    with pytest.raises(ModelError, match=message) as err:
        load_release_transformer(copy, GOLDEN_BASE_CONFIG)
    assert "\n" not in str(err.value)


def test_a_missing_shard_and_pickles_are_refused(tmp_path):
    folder = tmp_path / "release"
    shutil.copytree(GOLDENS / "dit", folder)
    (folder / SHARDS[1].name).unlink()
    with pytest.raises(ModelError, match=r"00002-of-00002\.safetensors: not found"):
        load_release_transformer(folder, GOLDEN_BASE_CONFIG)
    (folder / SHARDS[0].name).unlink()
    (folder / "Wan2.2_VAE.pth").write_bytes(b"\x80\x04")
    with pytest.raises(ModelError, match=r"Wan2\.2_VAE\.pth: pickle checkpoints are never loaded"):
        load_release_transformer(folder, GOLDEN_BASE_CONFIG)
    with pytest.raises(ModelError, match=r"model\.pth: pickle checkpoints are never loaded"):
        load_release_transformer(folder / "model.pth", GOLDEN_BASE_CONFIG)


def test_a_non_finite_tensor_is_refused(tmp_path):
    folder = tmp_path / "release"
    shutil.copytree(GOLDENS / "dit", folder)
    target = next(p for p in sorted(folder.glob("*.safetensors")) if "head.modulation" in load_file(str(p)))
    _edit(target, lambda s: s["head.modulation"].view(-1).__setitem__(0, float("nan")))
    with pytest.raises(ModelError, match=r"tensor head\.modulation holds NaN"):
        load_release_transformer(folder, GOLDEN_BASE_CONFIG)


# -- real size, without the real files -------------------------------------------------------------------------
def _release_md5(layout):
    entries = [f"{name}:{'_'.join(map(str, shape))}" for name, shape in layout.items()] + list(layout)
    return hashlib.md5(",".join(sorted(entries)).encode()).hexdigest()


def test_real_release_layout_counts_and_official_layout_hash():
    config = release_config(WAN22_TI2V_5B_CONFIG, pose_channels=48)
    assert release_parameters(config) == (RELEASE_TENSORS, RELEASE_PARAMETERS) == (1185, 6_133_576_896)
    assert _release_md5(release_layout(config)) == RELEASE_LAYOUT_MD5


def _sparse_safetensors(path: Path, shapes: dict[str, tuple[int, ...]], dtype="BF16", itemsize=2) -> None:
    """A safetensors file whose data is a hole: a real header, no gigabytes on disk."""
    header, offset = {}, 0
    for name, shape in shapes.items():
        size = itemsize * int(torch.Size(shape).numel())
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)


def test_header_check_accepts_the_real_release_layout(tmp_path):
    layout = release_layout(release_config(WAN22_TI2V_5B_CONFIG, pose_channels=48))
    names = sorted(layout)
    for index, chunk in enumerate((names[:600], names[600:]), start=1):
        _sparse_safetensors(
            tmp_path / f"diffusion_pytorch_model-{index:05d}-of-00002.safetensors", {n: layout[n] for n in chunk}
        )
    files = release.release_files(tmp_path)
    config = check_release_files(files, WAN22_TI2V_5B_CONFIG, tmp_path)
    assert config["pose_channels"] == 48 and config["variant"] == "release" and config["num_layers"] == 30
    assert sum(p.stat().st_size for p in files) > 12_000_000_000  # the shards' size, as the headers describe it


def test_a_stray_6_gb_tensor_is_refused_from_the_header(tmp_path):
    from diffusers import WanTransformer3DModel

    from poseanything_studio.model.tiny import TINY_TRANSFORMER_CONFIG

    expected = expected_tensors(WanTransformer3DModel, TINY_TRANSFORMER_CONFIG, "config")
    shapes = dict(expected[0]) | {"stray.weight": (3 * 2**30,)}
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    _sparse_safetensors(path, shapes, dtype="F16")
    with pytest.raises(ModelError, match=r"tensor stray\.weight \(6,442,450,944 bytes\) is not part of the model"):
        check_weight_files([path], expected, tmp_path)
    layout = release_layout(release_config(GOLDEN_BASE_CONFIG, pose_channels=4))
    _sparse_safetensors(path, layout | {"stray.weight": (3 * 2**30,)}, dtype="F16")
    with pytest.raises(ModelError, match=r"tensor stray\.weight is not part of the PoseAnything release"):
        check_release_files([path], GOLDEN_BASE_CONFIG, path)


def test_a_huge_num_train_timesteps_is_refused_before_the_scheduler_is_built():
    config = {"_class_name": "UniPCMultistepScheduler", "num_train_timesteps": 1e9}
    with pytest.raises(ModelError, match=r"num_train_timesteps is 1000000000\.0; a scheduler allows whole numbers"):
        scheduler_class(config, "scheduler_config.json")
    with pytest.raises(ModelError, match=r"num_train_timesteps is 1000000000; a scheduler allows"):
        scheduler_class(config | {"num_train_timesteps": 10**9}, "scheduler_config.json")
    assert scheduler_class(config | {"num_train_timesteps": 1000}, "s.json").__name__ == "UniPCMultistepScheduler"


# -- the interface: ReleaseParts and the variants' separation ----------------------------------------------------
def test_release_parts_shapes_are_checked(model, golden):
    first, union = golden["first_masks"], golden["union_masks"]
    with pytest.raises(ValueError, match=r"masks must be bool"):
        ReleaseParts(first.float(), union)
    with pytest.raises(ValueError, match=r"union_masks \(20, 2, 4, 4\) must be \[frames - 1, 3, 4, 4\]"):
        ReleaseParts(first, union[:, :2])
    with pytest.raises(ValueError, match=r"first_masks must be a \[parts, h, w\]"):
        ReleaseParts(first[0], union)
    with pytest.raises(ModelShapeError, match=r"release_parts are for a token grid \(11, 4, 4\)"):
        run(model, golden, release_parts=ReleaseParts(first, union[:10]))
    assert ReleaseParts(first, union).grid == (21, 4, 4)


def test_variants_take_only_their_own_parts(model, golden):
    from poseanything_studio.model.part_attention import PartContext

    context = PartContext(torch.zeros(21, 1, 16, dtype=torch.bool), (21, 4, 4))
    with pytest.raises(ModelShapeError, match=r"the release's weights take release_parts"):
        run(model, golden, part_context=context)
    config = {**GOLDEN_BASE_CONFIG, "pose_channels": 4}
    paper = PoseAnythingTransformer3DModel(**config).eval()
    with pytest.raises(ModelShapeError, match=r"not the release variant"):
        run(paper, golden, release_parts=parts(golden))


def test_write_release_checkpoint_round_trips(tmp_path, golden):
    torch.manual_seed(3)
    config = release_config(GOLDEN_BASE_CONFIG, pose_channels=4)
    original = PoseAnythingTransformer3DModel(**config).eval()
    files = write_release_checkpoint(original, tmp_path / "random", shards=3)
    assert [p.name for p in files][-1] == "diffusion_pytorch_model-00003-of-00003.safetensors"
    loaded = load_release_transformer(tmp_path / "random", GOLDEN_BASE_CONFIG)
    torch.testing.assert_close(
        run(loaded, golden, release_parts=parts(golden)),
        run(original, golden, release_parts=parts(golden)),
        atol=0,
        rtol=0,
    )


# -- the pipeline takes the release through --checkpoint --------------------------------------------------------
def test_pipeline_loads_the_release_by_its_folder_or_a_shard(tiny_dir, tmp_path):
    from poseanything_studio.model.pipeline import PoseAnythingPipeline
    from poseanything_studio.model.tiny import TINY_TRANSFORMER_CONFIG

    torch.manual_seed(5)
    original = PoseAnythingTransformer3DModel(**release_config(TINY_TRANSFORMER_CONFIG, pose_channels=8)).eval()
    files = write_release_checkpoint(original, tmp_path / "PoseAnything")
    for checkpoint in (tmp_path / "PoseAnything", files[1]):
        pipe = PoseAnythingPipeline.from_pretrained(tiny_dir, checkpoint, device="cpu", offload="none")
        assert pipe.transformer.config.variant == "release" and pipe.has_checkpoint
        loaded = pipe.transformer.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in original.state_dict().items())
    with pytest.raises(
        ModelError,
        match=r"transformer/diffusion_pytorch_model\.safetensors: tensor \S+ is not part "
        r"of the PoseAnything release's DiT",
    ):
        PoseAnythingPipeline.from_pretrained(tiny_dir, tiny_dir / "transformer", device="cpu")


def test_our_checkpoint_reader_points_the_release_elsewhere(tmp_path):
    from poseanything_studio.model.checkpoint import read_checkpoint

    single = tmp_path / "release.safetensors"
    save_file(load_file(str(SHARDS[0])), str(single))
    with pytest.raises(ModelError, match=r"release\.safetensors: this is the official release's DiT"):
        read_checkpoint(single)
