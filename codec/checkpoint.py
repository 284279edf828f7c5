"""Finding checkpoints (local path or hub) and reading the released WavCube Lightning checkpoints."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file

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
class CheckpointError(RuntimeError):
    """A checkpoint that is missing, of an unknown format, or does not match its config."""


_WEIGHT_NORM = {"weight_g": "parametrizations.weight.original0", "weight_v": "parametrizations.weight.original1"}


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


def read_released(path: Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The `state_dict` of a released Lightning `.ckpt`; an unreadable file raises CheckpointError naming it."""
    try:
        raw = torch.load(path, map_location=map_location, weights_only=False)
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
