"""Training configs from the command line: a preset name, or a JSON/YAML file of overrides on a preset.

A config file holds `{"preset": "small", "lr": 1e-4, "model": {"dit": {"depth": 12}}}`: the named
preset (default: the class's defaults) with the given fields replaced, nested dataclasses merged
field by field. An unknown field is an error, so a typo never passes silently.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from codec.checkpoint import atomic_write

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def to_dict(config: Any) -> dict:
    """A (nested) config dataclass → plain JSON-ready dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def from_dict(cls: type[T], data: dict) -> T:
    """Build the dataclass `cls` from a plain dict, recursing into nested dataclasses and tuples."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {', '.join(unknown)}; fields: {', '.join(sorted(names))}")
    return cls(**{k: _convert(hints[k], v, f"{cls.__name__}.{k}") for k, v in data.items()})


def _convert(hint: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _convert(options[0], value, where) if len(options) == 1 else value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value)
    if origin is tuple:
        args, items = typing.get_args(hint), list(value)
        kinds = [args[0]] * len(items) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(kinds) != len(items):
            raise ValueError(f"{where}: expected {len(kinds)} values, got {value!r}")
        return tuple(_convert(k, v, where) for k, v in zip(kinds, items))
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def _merge(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_config(cls: type[T], spec: str, presets: dict[str, Callable[[], T]]) -> T:
    """`spec` is a preset name (a key of `presets`) or a `.json` / `.yaml` file of overrides."""
    if spec in presets:
        return presets[spec]()
    path = Path(spec)
    if not path.is_file():
        raise ValueError(f"--config {spec!r} is neither a preset ({', '.join(presets)}) nor a config file")
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a config file holds a mapping of fields, got {type(data).__name__}")
    preset = data.pop("preset", None)
    if preset is not None and preset not in presets:
        raise ValueError(f"{path}: unknown preset {preset!r}; choose one of {', '.join(presets)}")
    base = presets[preset]() if preset else cls()
    return from_dict(cls, _merge(to_dict(base), data))


def record_config(run_dir: Path, config: Any) -> None:
    """Write `run_dir/config.json` unless a run there recorded one already (main process only)."""
    path = run_dir / "config.json"
    if not path.is_file():
        text = json.dumps(to_dict(config), indent=2)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def check_config(run_dir: Path, config: Any) -> None:
    """A run folder never changes config: resuming with another one is an error."""
    saved = json.loads((run_dir / "config.json").read_text())
    current = to_dict(config)
    if saved != current:
        changed = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
        raise ValueError(f"{run_dir} holds a run with a different config (fields {', '.join(changed)} differ); "
                         f"resume with the same --config, or choose a new --run-dir")


def saved_config(run_dir: Path) -> dict | None:
    """The config dict recorded by an earlier run in `run_dir`, if any."""
    path = Path(run_dir) / "config.json"
    return json.loads(path.read_text()) if path.is_file() else None


def resolve_config(cls: type[T], spec: str | None, presets: dict[str, Callable[[], T]], run_dir: Path) -> T:
    """`--config` if given; otherwise the config of the run being resumed in `run_dir`."""
    if spec is not None:
        return load_config(cls, spec, presets)
    saved = saved_config(run_dir)
    if saved is None:
        raise ValueError(f"{run_dir} holds no run to resume: give --config (a preset: {', '.join(presets)}, "
                         f"or a JSON/YAML file)")
    return from_dict(cls, saved)
