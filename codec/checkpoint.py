"""Saving and loading every model: one `config.json` layout, atomic writes, strict loading, local path or hub.

Also reads the released WavCube Lightning checkpoints."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import load_file, save_file
from torch import nn

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# Files are created with the permissions the user's umask gives, as open() would; mkstemp alone
# gives 0600. Read once: os.umask can only be read by setting it, which is not thread-safe later.
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


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call `write(tmp_path)` then rename onto `path`, so a failure never leaves a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_model(model: nn.Module, directory: str | os.PathLike, model_type: str, config: dict) -> None:
    """Write `model.safetensors` and `config.json` = {format_version, model_type, config}, each atomically.

    The weights go first: a crash between the two leaves no config.json pointing at missing weights.
    """
    directory = Path(directory)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    meta = {"format_version": FORMAT_VERSION, "model_type": model_type, "config": config}
    text = json.dumps(meta, indent=2)
    atomic_write(directory / CONFIG_NAME, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


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
