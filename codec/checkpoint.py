"""Saving and loading every model: one `config.json` layout, atomic writes, strict loading, local path or hub.

Also reads the released WavCube Lightning checkpoints."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
import types
import typing
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# Files are created with the permissions the user's umask gives, as open() would; mkstemp alone
# gives 0600. os.umask can only be read by setting it, which is not thread-safe later: read here, at import,
# for systems without /proc (`current_umask`).
_UMASK = os.umask(0o022)
os.umask(_UMASK)

# Released key prefix → ours. Only what inference needs is kept: the frozen teacher WavLM and the
# stage-1 semantic decoder (dec_projection, dec_transformer) are training-only.
_PREFIXES = [
    ("feature_extractor.enc_transformer.", "encoder.layers."),
    ("feature_extractor.enc_projection.", "encoder.bottleneck."),
    ("backbone.upsample_proj.", "decoder.input_proj."),
    ("backbone.decoder.layers.", "decoder.transformer.layers."),
    ("backbone.decoder.layer_norm.", "decoder.norm."),
    ("backbone.decoder.dconv2.", "decoder.upsample."),
    ("backbone.decoder.vocoder.layers.", "decoder.vocoder.transformer.layers."),
    ("backbone.decoder.vocoder.", "decoder.vocoder."),
]
# Old torch weight-norm names, as written by checkpoints saved before parametrizations.
_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}



class CheckpointError(RuntimeError):
    """A checkpoint that is missing, of an unknown format, or does not match its config."""


class ConfigError(CheckpointError, ValueError):
    """A config whose field is missing, unknown, of the wrong type or out of range; the message names the file
    (where known) and the field. A CheckpointError for the loaders, a ValueError for everyone else."""


T = TypeVar("T")


def config_from_dict(cls: type[T], data: object, where: str = "", optional: Collection[str] = ()) -> T:
    """Build the config dataclass `cls` from JSON data, checking every field against its type hint.

    Nested dataclasses are built the same way; a list becomes a tuple where a tuple is wanted; an int is taken
    where a float is wanted (not the reverse: 4.0 is not an int), a bool is not a number, and "2" is not one.
    Unknown fields and missing ones are refused, except fields named in `optional` (dotted, e.g.
    "dit.rotary_heads": fields added after older files were written), which take their default. Ranges are the
    dataclasses' own `__post_init__` checks. Any problem raises ConfigError naming `where` and the field."""
    prefix = f"{where}: " if where else ""
    try:
        return _build(cls, data, "", frozenset(optional))
    except ConfigError as err:
        raise ConfigError(prefix + str(err)) from None


def check_at_least(config: object, minimum: float, *names: str) -> None:
    """For a config's `__post_init__`: ValueError naming the first of the fields `names` below `minimum`."""
    for name in names:
        value = getattr(config, name)
        if not value >= minimum:  # `not >=`: NaN fails too
            raise ValueError(f"{name} must be at least {minimum}, got {value!r}")


def _build(cls: type[T], data: object, path: str, optional: frozenset[str]) -> T:
    if isinstance(data, cls):
        return data
    name = path.rstrip(".") or cls.__name__
    if not isinstance(data, dict):
        raise ConfigError(f"{name} must be an object of fields, got {_shown(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown field {path}{unknown[0]} (the fields of {name}: {', '.join(fields)})")
    missing = [k for k in fields if k not in data and path + k not in optional]
    if missing:
        raise ConfigError(f"missing field {path}{missing[0]}")
    values = {k: _value(hints[k], v, path + k, optional) for k, v in data.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:  # the dataclass's own range checks
        raise ConfigError(f"{name}: {err}") from None


def _value(hint: object, value: object, path: str, optional: frozenset[str]) -> object:
    """`value` checked against the type `hint` (and converted: list → tuple, int → float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _value(option, value, path, optional)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path} must be one of {_expected(hint)}, "
                                                             f"got {_shown(value)}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, path + ".", optional)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path} must be a list, got {_shown(value)}")
        kinds = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(kinds) != len(value):
            raise ConfigError(f"{path} must hold {len(kinds)} values, got {_shown(value)}")
        return tuple(_value(k, v, f"{path}[{i}]", optional) for i, (k, v) in enumerate(zip(kinds, value)))
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{path} must be a list, got {_shown(value)}")
        return [_value(args[0], v, f"{path}[{i}]", optional) for i, v in enumerate(value)] if args else value
    if origin is dict or hint is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{path} must be an object, got {_shown(value)}")
        return value
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path} must be one of {', '.join(map(repr, args))}, got {_shown(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} must be true or false, got {_shown(value)}")
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"{path} must be a whole number, got {_shown(value)}")
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ConfigError(f"{path} must be a finite number, got {_shown(value)}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path} must be a string, got {_shown(value)}")
        return value
    raise ConfigError(f"{path}: cannot check a field of type {_expected(hint)}")  # a config type to add above


def _expected(hint: object) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _shown(value: object) -> str:
    text = json.dumps(value) if isinstance(value, (str, list, dict)) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class WriteError(OSError):
    """Writing a file failed (disk full, permission, ...): says which file and why, in one line."""

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


def current_umask() -> int:
    """The process's umask now, read from /proc without setting it (thread-safe); the umask at import where
    /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return _UMASK


def atomic_write(path: str | os.PathLike, write: Callable[[str], object] | bytes) -> None:
    """Write `path` as a unit: `write(tmp_path)` (or the bytes given) into a temporary file beside it, then a
    rename, so a failure never leaves a partial file. The file gets the mode the umask gives, set after
    `write` (safetensors' `save_file` resets it). An OSError (a full disk) becomes a `WriteError` naming `path`;
    bytes are written by Python, so every disk error is one, where a C writer (libsndfile, torch's zip
    writer) raises its own vaguer error."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    except OSError as err:
        raise WriteError(err.errno, err.strerror or str(err), str(path)) from err
    try:
        if isinstance(write, bytes):
            with os.fdopen(fd, "wb") as f:
                f.write(write)
        else:
            os.close(fd)
            write(tmp)
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException as err:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError) and not isinstance(err, WriteError):
            raise WriteError(err.errno, err.strerror or str(err), str(path)) from err
        raise


def save_model(model: nn.Module, directory: str | os.PathLike, model_type: str, config: dict) -> None:
    """Write `model.safetensors` and `config.json` = {format_version, model_type, config}, each atomically.

    The weights go first: a crash between the two leaves no config.json pointing at missing weights.
    """
    directory = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    write_model_config(directory, model_type, config)


def write_model_config(directory: str | os.PathLike, model_type: str, config: dict) -> None:
    """Write `config.json` = {format_version, model_type, config} atomically (`save_model`'s second file)."""
    text = json.dumps({"format_version": FORMAT_VERSION, "model_type": model_type, "config": config}, indent=2)
    atomic_write(Path(directory) / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def read_model_config(directory: Path, model_type: str, what: str) -> dict:
    """The `config` of a directory written by `save_model`, after checking that its weights are there."""
    if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
        raise CheckpointError(f"{directory} holds no {CONFIG_NAME} + {WEIGHTS_NAME} (a saved {what})")
    return read_config_file(directory / CONFIG_NAME, model_type, what)


def read_config_file(path: Path, model_type: str, what: str) -> dict:
    """The `config` of a `config.json` written by `save_model`; checks its model type and format version.

    A codec file of the first layout (the config's fields beside format_version and model_type, with no
    "config" key) is read as well.
    """
    meta = read_config(path, what)
    if meta.get("model_type") != model_type or meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{what} file {path} is broken: it holds model_type={meta.get('model_type')!r}, "
                              f"format_version={meta.get('format_version')!r}; this version of cubetts reads "
                              f"model_type {model_type!r}, format_version {FORMAT_VERSION}")
    if "config" in meta:
        config = meta["config"]
    else:  # the first codec layout: the config's fields at the top level
        config = {k: v for k, v in meta.items() if k not in ("format_version", "model_type")}
    if not isinstance(config, dict):
        raise CheckpointError(f"{what} file {path} is broken: 'config' is a {type(config).__name__}, not an object")
    return config


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """`load_state_dict(strict=True)` with one readable error listing every mismatch."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own.keys() & state.keys() if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        def head(xs: list[str]) -> str:
            return ", ".join(xs[:5]) + (f" ... ({len(xs)} in all)" if len(xs) > 5 else "")
        parts = [f"missing: {head(missing)}" if missing else "", f"unexpected: {head(unexpected)}" if unexpected else "",
                 f"shape mismatch: {head(sorted(shapes))}" if shapes else ""]
        raise CheckpointError(f"checkpoint {source} does not match the model config; " + "; ".join(p for p in parts if p))
    model.load_state_dict(state, strict=True)


def fetch(path_or_repo_id: str | os.PathLike, what: str, subfolder: str | None = None,
          revision: str | None = None, allow_patterns: list[str] | None = None) -> Path:
    """A local file or directory as is; otherwise a hub repo id, downloaded once into the HF cache.

    Returns the local path (for a repo: its snapshot folder, or `subfolder` inside it). `what` names
    the thing in error messages ("codec checkpoint", "TTS model").
    """
    local = Path(path_or_repo_id).expanduser()
    if subfolder:
        local = local / subfolder
    if local.exists():
        return local
    repo_id = str(path_or_repo_id)
    if repo_id.count("/") != 1 or repo_id.startswith((".", "/", "~")):
        raise CheckpointError(f"{what} not found: {local} is not a file or directory "
                              f"(and {repo_id!r} is not a hub repo id of the form 'owner/name')")
    if subfolder:
        allow_patterns = [f"{subfolder}/{p}" for p in allow_patterns or ["**"]]
    try:
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(repo_id, revision=revision, allow_patterns=allow_patterns))
    except Exception as err:  # offline, unknown repo, network: one message for all
        raise CheckpointError(f"{what} {repo_id!r} is not a local path and could not be fetched "
                              f"from the hub: {type(err).__name__}: {err}") from None
    return root / subfolder if subfolder else root


def resolve(path_or_repo_id: str | os.PathLike, subfolder: str | None = None, revision: str | None = None) -> Path:
    """A codec checkpoint: a saved directory or a released `.ckpt`, local or from the hub.

    In a hub snapshot the first of `config.json` (our format) or a `*.ckpt` (released) is used.
    """
    root = fetch(path_or_repo_id, "codec checkpoint", subfolder, revision)
    if root.is_file() or (root / "config.json").is_file():
        return root
    ckpts = sorted(root.rglob("*.ckpt"))
    if not ckpts:
        raise CheckpointError(f"{root} holds neither config.json nor a .ckpt file (a codec checkpoint)")
    return ckpts[-1]


def read_config(path: Path, what: str) -> dict:
    """A checkpoint's `config.json` as a dict; a missing, unreadable or malformed one raises CheckpointError."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{what} file {path} is broken: {type(err).__name__}: {err}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what} file {path} is broken: expected a JSON object, got {type(data).__name__}")
    return data


def read_safetensors(path: Path, what: str, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """All tensors of a `.safetensors` file; a truncated or corrupted one raises CheckpointError naming it."""
    try:
        return load_file(str(path), device=str(device))
    except Exception as err:  # safetensors raises its own SafetensorError (not an OSError) for bad headers
        raise CheckpointError(f"{what} file {path} is broken (truncated or corrupted?): "
                              f"{type(err).__name__}: {err}") from None


def read_released(path: Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The `state_dict` of a released Lightning `.ckpt`; an unreadable file raises CheckpointError naming it."""
    try:
        raw = torch.load(path, map_location=device, weights_only=False)
    except Exception as err:  # a truncated zip or pickle: RuntimeError, UnpicklingError, EOFError, ...
        raise CheckpointError(f"codec checkpoint file {path} is broken (truncated or corrupted?): "
                              f"{type(err).__name__}: {err}") from None
    if not isinstance(raw, dict) or "state_dict" not in raw:
        raise CheckpointError(f"{path} is not a Lightning checkpoint with a 'state_dict'")
    return raw["state_dict"]


def convert_released_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map a released `state_dict` (keys `feature_extractor.*`, `backbone.*`) onto `WavCube` keys.

    Stage-2 checkpoints encode with the fine-tuned WavLM copy `rep_model`; stage-1 ones (no
    `rep_model`) with the WavLM `model` they were trained on.
    """
    wavlm = "feature_extractor.rep_model."
    if not any(k.startswith(wavlm) for k in state):
        wavlm = "feature_extractor.model."
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        new: str | None
        if key.startswith(wavlm):
            new = "encoder.wavlm." + key[len(wavlm):]
        else:
            new = next((ours + key[len(theirs):] for theirs, ours in _PREFIXES if key.startswith(theirs)), None)
            if new is None:
                continue
        for old, modern in _WEIGHT_NORM.items():
            if new.endswith("." + old):
                new = new[: -len(old)] + modern
        out[new] = value
    if not any(k.startswith("encoder.wavlm.") for k in out) or not any(k.startswith("decoder.") for k in out):
        raise CheckpointError("not a WavCube checkpoint: no feature_extractor WavLM or backbone decoder weights found")
    return out
