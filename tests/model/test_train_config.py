"""The training config: every key of the dataclasses is checked by its type and range, each fault one line naming
the file and the key (no model, no torch: the reader alone)."""

import dataclasses
from pathlib import Path

import pytest

from poseanything_studio.commands.train import main
from poseanything_studio.model.training.config import Config, Stage, load_config

GOOD = """\
[model]
dir = "model"
[train]
output_dir = "out"
[data]
mix = "data"
[[stages]]
name = "one"
steps = 2
data = ["mix"]
trainable = "all"
lr = 0.001
"""


def keys_of(cls, table):
    return [(spec.metadata["key"] or spec.name) for spec in dataclasses.fields(cls) if spec.metadata["table"] == table]


def with_key(table, key, value):
    """GOOD with `[table] key = value` added (or replacing the key's line)."""
    lines = [line for line in GOOD.splitlines() if not line.startswith(f"{key} =")]
    header = "[[stages]]" if table == "stages" else f"[{table}]"
    at = lines.index(header) + 1
    return "\n".join(lines[:at] + [f"{key} = {value}"] + lines[at:]) + "\n"


def test_the_good_config_loads_with_every_default_and_is_frozen(tmp_path):
    path = tmp_path / "cfg.toml"
    path.write_text(GOOD)
    cfg = load_config(path)
    assert cfg.model_dir == tmp_path / "model" and cfg.output_dir == tmp_path / "out"
    assert cfg.data == {"mix": tmp_path / "data"} and cfg.stages == (Stage("one", 2, ("mix",), "all", 0.001),)
    assert (cfg.num_frames, cfg.shift, cfg.lora_alpha, cfg.init_checkpoint, cfg.part_rule) == (
        49,
        5.0,
        0.0,
        None,
        "dilated",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1


@pytest.mark.parametrize(
    ("table", "key"),
    [(t, k) for t in ("model", "train") for k in keys_of(Config, t)]
    + [("stages", k) for k in keys_of(Stage, "stages")],
)
def test_every_key_refuses_a_value_of_the_wrong_type(tmp_path, capsys, table, key):
    """A TOML table is no field's type: each key of the dataclasses says so, on one line with the file and key."""
    path = tmp_path / "cfg.toml"
    path.write_text(with_key(table, key, "{ a = 1 }"))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    where = f"stages[0].{key}" if table == "stages" else f"{table}.{key}"
    assert len(err.splitlines()) == 1 and err.startswith(f"train: {path}: {where}: must be "), err


@pytest.mark.parametrize(
    ("table", "key", "value", "words"),
    [
        ("train", "grad_accum", "0", "must be at least 1, got 0"),
        ("train", "condition_dropout", "1.5", "must be in [0, 1], got 1.5"),
        ("train", "shift", "-1", "must be positive, got -1.0"),
        ("train", "shift", "nan", "must be a finite number, got nan"),
        ("train", "num_frames", "6", "must be 4k+1 and at least 5, got 6"),
        ("train", "mixed_precision", '"fp8"', "must be one of auto, bf16, no, got 'fp8'"),
        ("train", "part_rule", '"round"', "must be dilated or nearest, got 'round'"),
        ("train", "seed", "true", "must be an integer, got True"),
        ("model", "lora_rank", "-2", "must be 0 (no LoRA) or positive, got -2"),
        ("model", "dir", '""', "must not be empty"),
        ("stages", "steps", "-1", "must be at least 0, got -1"),
        ("stages", "data", "[]", "must name at least one [data] entry, got ()"),
        ("stages", "data", "[1]", "must be a list of strings, got [1]"),
        ("stages", "warmup_steps", "-3", "must be at least 0, got -3"),
        ("stages", "trainable", '"lora"', "'lora' needs model.lora_rank > 0"),
        ("stages", "data", '["other"]', "'other' is not a key of [data] (known: mix)"),
    ],
)
def test_a_value_out_of_range_is_one_line_naming_file_key_and_rule(tmp_path, capsys, table, key, value, words):
    path = tmp_path / "cfg.toml"
    path.write_text(with_key(table, key, value))
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    where = f"stages[0].{key}" if table == "stages" else f"{table}.{key}"
    assert err == f"train: {path}: {where}: {words}", err


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (GOOD.replace('dir = "model"\n', ""), "model.dir: required key is missing"),
        ("stages = [1]\n" + GOOD.split("[[stages]]")[0], "stages[0]: must be a table [[stages]]"),
        ("data = 3\n" + GOOD.replace('[data]\nmix = "data"\n', ""), "data: must be a table [data]"),
        (GOOD + "colour = 2\n", "stages[0].colour: unknown key"),
        (GOOD.replace('mix = "data"', "mix = 2"), "data.mix: must be a path (a string), got 2"),
    ],
)
def test_a_bad_table_is_one_line(tmp_path, capsys, text, line):
    path = tmp_path / "cfg.toml"
    path.write_text(text)
    assert main([str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"train: {path}: {line}", err


def test_the_example_config_loads():
    cfg = load_config(Path(__file__).resolve().parents[2] / "configs" / "train_example.toml")
    assert [s.name for s in cfg.stages] == ["pose_injection", "mixed", "ptcm"] and cfg.distributed == "fsdp"
    assert cfg.lora_alpha == cfg.lora_rank == 0
