"""The training config: frozen dataclasses whose fields say their TOML key, type and range, and the one reader
that checks a user's file against them (every fault one line naming the file and the key)."""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAINABLE = ("all", "pose_embed", "ptcm", "lora")
MAX_CONFIG_BYTES = 2**20  # a config is a page of settings (the example is 2 KB)


class ConfigError(ValueError):
    """A bad config: one line naming the file and the key."""


def _part_rules() -> tuple[str, ...]:
    from poseanything_studio.core.parts import PART_RULES  # here, not at the top: `train --help` stays light

    return PART_RULES


def setting(
    default: Any = dataclasses.MISSING,
    *,
    table: str = "train",
    key: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    above: float | None = None,
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None = None,
    rule: Callable[[Any], bool] | None = None,
    why: str | None = None,
) -> Any:
    """A config field read from `[table] key` (the field's name unless `key`), with its allowed range.

    `minimum`/`maximum` bound it (inclusive), `above` from below (exclusive), `choices` lists its values (or gives
    them when called), `rule` is any other test; `why` replaces the generated "must be ..." words."""
    return dataclasses.field(
        default=default,
        metadata={
            "table": table,
            "key": key,
            "minimum": minimum,
            "maximum": maximum,
            "above": above,
            "choices": choices,
            "rule": rule,
            "why": why,
        },
    )


@dataclass(frozen=True)
class Stage:
    """One `[[stages]]` entry: what it trains, on which data, how long and how fast."""

    name: str = setting(table="stages")
    steps: int = setting(table="stages", minimum=0)
    data: tuple[str, ...] = setting(table="stages", why="must name at least one [data] entry", rule=bool)
    trainable: str = setting(table="stages", choices=TRAINABLE)
    lr: float = setting(table="stages", above=0)
    ptcm: bool = setting(True, table="stages")
    warmup_steps: int = setting(0, table="stages", minimum=0)


@dataclass(frozen=True)
class Config:
    """A whole training run; `load_config` makes one from a TOML file (paths relative to that file)."""

    path: Path = setting(table="")  # the config file itself, not a key
    model_dir: Path = setting(table="model", key="dir")
    output_dir: Path = setting()
    stages: tuple[Stage, ...] = setting(table="")  # the [[stages]] list
    data: Mapping[str, Path] = setting(table="")  # the [data] table
    init_checkpoint: Path | None = setting(None, table="model", key="checkpoint")
    lora_rank: int = setting(0, table="model", minimum=0, why="must be 0 (no LoRA) or positive")
    lora_alpha: float | None = setting(None, table="model")  # None in the file's absence: as lora_rank
    gradient_checkpointing: bool = setting(False, table="model")
    seed: int = setting(0)
    num_frames: int = setting(49, rule=lambda n: (n - 1) % 4 == 0 and n >= 5, why="must be 4k+1 and at least 5")
    grad_accum: int = setting(1, minimum=1)
    shift: float = setting(5.0, above=0)
    condition_dropout: float = setting(0.1, minimum=0, maximum=1)
    weight_decay: float = setting(0.01)
    max_grad_norm: float = setting(1.0)
    checkpoint_every: int = setting(500, minimum=1)
    keep_checkpoints: int = setting(3, minimum=1)
    log_every: int = setting(10, minimum=1)
    prompt_length: int = setting(512, minimum=1)
    part_rule: str = setting("dilated", choices=_part_rules)  # PTCM part masks, as the renderer
    mixed_precision: str = setting("auto", choices=("auto", "bf16", "no"))
    distributed: str = setting("ddp", choices=("ddp", "fsdp"))  # "ddp" (replicas) or "fsdp" (fully sharded)
    resume: bool = setting(True)

    def __post_init__(self) -> None:
        if self.lora_alpha is None:
            object.__setattr__(self, "lora_alpha", float(self.lora_rank))


_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", Path: "a path (a string)"}


def _read_toml(path: Path) -> dict:
    """The TOML table in `path` (UTF-8, at most MAX_CONFIG_BYTES); ConfigError naming the file otherwise."""
    try:
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found" if not path.exists() else f"{path}: not a file")
        with open(path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config ({err.strerror or err})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: more than {MAX_CONFIG_BYTES // 1024} KB: not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (line {line}); save the config as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid TOML (nested too deeply)") from None


class _Reader:
    """Takes keys out of one config file's tables, converting and checking each by its field."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, where: str, why: str) -> typing.NoReturn:
        raise ConfigError(f"{self.path}: {where}: {why}")

    def table(self, raw: dict, name: str) -> dict:
        value = raw.pop(name, {})
        if not isinstance(value, dict):
            self.fail(name, f"must be a table [{name}]")
        return dict(value)

    def fields(self, cls: type, table: dict, where: str, tables: str | tuple[str, ...]) -> dict[str, Any]:
        """The values of `cls`'s fields kept in `tables`, taken out of `table` (defaults where absent)."""
        hints = typing.get_type_hints(cls)
        values = {}
        for spec in dataclasses.fields(cls):
            meta = spec.metadata
            if meta["table"] not in (tables if isinstance(tables, tuple) else (tables,)):
                continue
            key = meta["key"] or spec.name
            if key in table:
                values[spec.name] = self.check(table.pop(key), hints[spec.name], meta, f"{where}{key}")
            elif spec.default is dataclasses.MISSING:
                self.fail(f"{where}{key}", "required key is missing")
        return values

    def check(self, value: Any, hint: Any, meta: Mapping[str, Any], where: str) -> Any:
        """`value` converted to `hint` (a path resolved against the config's folder) and checked against `meta`."""
        optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
        kind = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        value = self.convert(value, kind, optional, where)
        if value is not None:
            self.check_range(value, meta, where)
        return value

    def convert(self, value: Any, kind: Any, optional: bool, where: str) -> Any:
        if typing.get_origin(kind) is tuple:
            item = typing.get_args(kind)[0]
            if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
                self.fail(where, f"must be a list of {_WORDS[item].split(' ', 1)[1]}s, got {value!r}")
            return tuple(value)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is float and is_number:
            if not math.isfinite(value):
                self.fail(where, f"must be a finite number, got {value!r}")
            return float(value)
        wanted = str if kind is Path else kind
        if not isinstance(value, wanted) or (kind is int and isinstance(value, bool)):
            self.fail(where, f"must be {_WORDS[kind]}, got {value!r}")
        if kind is Path:
            if not value:
                return None if optional else self.fail(where, "must not be empty")
            path = Path(value).expanduser()
            return path if path.is_absolute() else self.path.parent / path
        return value

    def check_range(self, value: Any, meta: Mapping[str, Any], where: str) -> None:
        low, high, above = meta["minimum"], meta["maximum"], meta["above"]
        choices = meta["choices"]() if callable(meta["choices"]) else meta["choices"]
        ok, why = True, meta["why"]
        if low is not None and high is not None:
            ok, words = low <= value <= high, f"must be in [{low}, {high}]"
        elif low is not None:
            ok, words = value >= low, f"must be at least {low}"
        elif above is not None:
            ok, words = value > above, "must be positive" if above == 0 else f"must be more than {above}"
        elif choices is not None:
            ok, words = value in choices, f"must be {_one_of(choices)}"
        else:
            words = "is not allowed"
        if ok and meta["rule"] is not None:
            ok = bool(meta["rule"](value))
        if not ok:
            self.fail(where, f"{why or words}, got {value!r}")


def _one_of(choices: tuple[str, ...]) -> str:
    return " or ".join(choices) if len(choices) <= 2 else f"one of {', '.join(choices)}"


def load_config(path: str | Path) -> Config:
    """Read and check a TOML config; every fault is a ConfigError naming the file and the key."""
    path = Path(path)
    reader = _Reader(path)
    raw = _read_toml(path)
    model, train, data_table = reader.table(raw, "model"), reader.table(raw, "train"), reader.table(raw, "data")
    values = {**reader.fields(Config, model, "model.", "model"), **reader.fields(Config, train, "train.", "train")}
    data = {
        name: reader.check(data_table.pop(name), Path, {**_NO_RANGE, "why": None}, f"data.{name}")
        for name in list(data_table)
    }
    stages = raw.pop("stages", None)
    if not isinstance(stages, list) or not stages:
        reader.fail("stages", "required, a [[stages]] list with at least one stage")
    cfg = Config(path=path, stages=tuple(_stage(reader, s, i, data) for i, s in enumerate(stages)), data=data, **values)
    for stage_index, stage in enumerate(cfg.stages):
        _check_stage_against(reader, cfg, stage, f"stages[{stage_index}].")
    for where, rest in (("model.", model), ("train.", train), ("", raw)):
        if rest:
            reader.fail(f"{where}{sorted(rest)[0]}", "unknown key")
    return cfg


_NO_RANGE = {"minimum": None, "maximum": None, "above": None, "choices": None, "rule": None}


def _stage(reader: _Reader, table: Any, index: int, data: Mapping[str, Path]) -> Stage:
    where = f"stages[{index}]."
    if not isinstance(table, dict):
        reader.fail(f"stages[{index}]", "must be a table [[stages]]")
    table = dict(table)
    stage = Stage(**reader.fields(Stage, table, where, "stages"))
    if table:
        reader.fail(f"{where}{sorted(table)[0]}", "unknown key")
    return stage


def _check_stage_against(reader: _Reader, cfg: Config, stage: Stage, where: str) -> None:
    """What a stage needs of the rest of the config (the rules that join two keys)."""
    if stage.trainable == "lora" and not cfg.lora_rank:
        reader.fail(f"{where}trainable", "'lora' needs model.lora_rank > 0")
    if stage.trainable == "ptcm" and not stage.ptcm:
        reader.fail(f"{where}ptcm", "a stage training PTCM must run it (ptcm = true)")
    for name in stage.data:
        if name not in cfg.data:
            reader.fail(f"{where}data", f"{name!r} is not a key of [data] (known: {', '.join(cfg.data) or 'none'})")
