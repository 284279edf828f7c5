"""F5-TTS's released checkpoints as `TTSModel`s: its key names and constructor arguments onto ours.

Our DiT computes F5-TTS v1's function (see tts/dit.py), so a converted model is F5-TTS: mel
latents (the identity latent normalisation: F5-TTS works on raw log-mel), F5-TTS's tokenizer over
the checkpoint's vocabulary, and its mel codec recorded in the config.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import torch

from codec.checkpoint import WEIGHTS_NAME, CheckpointError, current_umask, fetch, load_strict
from codec.spec import CodecSpec

from codec.rotary import rotary_frequencies

from .dit import DiTConfig
from .model import TTSConfig, TTSModel
from .text import read_vocab

logger = logging.getLogger(__name__)

# F5-TTS's DiT constructor defaults, for arguments an `arch` leaves out.
F5_DIT_DEFAULTS: dict[str, Any] = {"depth": 8, "heads": 8, "dim_head": 64, "dropout": 0.1, "ff_mult": 4, "mel_dim": 100,
                   "text_dim": None, "text_mask_padding": True, "conv_layers": 0, "qk_norm": None,
                   "pe_attn_head": None, "long_skip_connection": False,
                   "text_embedding_average_upsampling": False}
# Its UNetT's (E2-TTS's backbone): the DiT's but for the long skip and text upsampling, plus the skips' type.
F5_UNETT_DEFAULTS = {**{k: v for k, v in F5_DIT_DEFAULTS.items()
                        if k not in ("long_skip_connection", "text_embedding_average_upsampling")},
                     "skip_connect_type": "concat"}
# An arch's "backbone" (F5-TTS's config `model.backbone`; default DiT) → (our DiTConfig.backbone, its defaults).
_BACKBONES = {"DiT": ("dit", F5_DIT_DEFAULTS), "UNetT": ("unet", F5_UNETT_DEFAULTS)}
# F5TTS_v1_Base's `arch` (its configs/F5TTS_v1_Base.yaml).
F5_V1_BASE_ARCH: dict[str, Any] = {"dim": 1024, "depth": 22, "heads": 16, "ff_mult": 2, "text_dim": 512, "conv_layers": 4,
                   "text_mask_padding": True, "qk_norm": None, "pe_attn_head": None}
# F5TTS_Base (v0): no text padding mask, rotary positions on the first head only.
F5_BASE_ARCH: dict[str, Any] = {"dim": 1024, "depth": 22, "heads": 16, "ff_mult": 2, "text_dim": 512, "conv_layers": 4,
                "text_mask_padding": False, "qk_norm": None, "pe_attn_head": 1}
F5_V1_SMALL_ARCH: dict[str, Any] = {"dim": 768, "depth": 18, "heads": 12, "ff_mult": 2, "text_dim": 512, "conv_layers": 4,
                    "text_mask_padding": True, "qk_norm": None, "pe_attn_head": None}
# E2TTS_Base: F5-TTS's flat U-Net transformer (UNetT).
E2_BASE_ARCH: dict[str, Any] = {"backbone": "UNetT", "dim": 1024, "depth": 24, "heads": 16, "ff_mult": 4, "text_mask_padding": False,
                "pe_attn_head": 1}
# Arguments that change speed or memory, not the function at batch 1 (attention masking is ours always).
_NO_EFFECT = {"attn_backend", "attn_mask_enabled", "checkpoint_activations", "text_num_embeds"}
# What our backbones compute; other values describe F5-TTS variants we do not implement.
_REQUIRED = {"qk_norm": None, "long_skip_connection": False, "text_embedding_average_upsampling": False,
             "skip_connect_type": "concat"}
MEL_CODEC = CodecSpec(kind="mel", source="charactr/vocos-mel-24khz", latent_dim=100, frame_rate=24000 / 256)
# F5TTS_Base_bigvgan's: F5-TTS's "bigvgan" mel type with NVIDIA's vocoder (the `bigvgan` extra).
BIGVGAN_CODEC = CodecSpec(kind="mel", source="nvidia/bigvgan_v2_24khz_100band_256x", latent_dim=100,
                          frame_rate=24000 / 256, mel_type="bigvgan")
MEL_CODECS = {"vocos": MEL_CODEC, "bigvgan": BIGVGAN_CODEC}  # by F5-TTS's `mel_spec_type`

# F5-TTS key (under `transformer.`) → ours (under `dit.`); `\1` carries a layer index.
_KEYS = [
    (r"time_embed\.time_mlp\.(\d)\.", r"time_mlp.\1."),
    (r"text_embed\.text_embed\.", "text_embed.embed."),
    (r"text_embed\.text_blocks\.(\d+)\.pwconv1\.", r"text_embed.blocks.\1.pw1."),
    (r"text_embed\.text_blocks\.(\d+)\.pwconv2\.", r"text_embed.blocks.\1.pw2."),
    (r"text_embed\.text_blocks\.(\d+)\.(dwconv|norm|grn)\.", r"text_embed.blocks.\1.\2."),
    (r"input_embed\.proj\.", "in_proj."),
    (r"input_embed\.conv_pos_embed\.conv1d\.0\.", "conv_pos.conv1."),
    (r"input_embed\.conv_pos_embed\.conv1d\.2\.", "conv_pos.conv2."),
    (r"transformer_blocks\.(\d+)\.attn_norm\.linear\.", r"blocks.\1.modulation."),
    (r"transformer_blocks\.(\d+)\.attn\.to_out\.0\.", r"blocks.\1.attn_out."),
    (r"transformer_blocks\.(\d+)\.ff\.ff\.0\.0\.", r"blocks.\1.ff.0."),
    (r"transformer_blocks\.(\d+)\.ff\.ff\.2\.", r"blocks.\1.ff.3."),
    (r"norm_out\.linear\.", "out_modulation."),
    (r"proj_out\.", "out_proj."),
    # UNetT: each layer is a list (skip projection, attention norm, attention, feed-forward norm, feed-forward).
    (r"layers\.(\d+)\.0\.weight$", r"blocks.\1.skip.weight"),
    (r"layers\.(\d+)\.1\.g$", r"blocks.\1.attn_norm.weight"),
    (r"layers\.(\d+)\.2\.to_out\.0\.", r"blocks.\1.attn_out."),
    (r"layers\.(\d+)\.3\.g$", r"blocks.\1.ff_norm.weight"),
    (r"layers\.(\d+)\.4\.ff\.0\.0\.", r"blocks.\1.ff.0."),
    (r"layers\.(\d+)\.4\.ff\.2\.", r"blocks.\1.ff.3."),
    (r"norm_out\.g$", "out_norm.weight"),
]
_QKV = re.compile(r"(?:transformer_blocks\.(\d+)\.attn|layers\.(\d+)\.2)\.to_([qkv])\.(weight|bias)$")
# Entries a loader drops: the EMA wrapper's counters and the mel front end's buffers.
_DROPPED = re.compile(r"^(initted|step|mel_spec\..*)$")
# F5-TTS's rotary frequencies (x-transformers keeps them as a buffer, saved with the weights) and ours
# (`DiTConfig.stored_rotary_freqs`), kept only where they differ from the computed ones (a float16 file).
_F5_ROTARY = "transformer.rotary_embed.inv_freq"
ROTARY_KEY = "dit.rotary_freqs.inv_freq"


def dit_config(arch: dict | None, vocab_size: int, state: dict[str, torch.Tensor] | None = None) -> DiTConfig:
    """F5-TTS's constructor arguments (None: F5TTS_v1_Base; "backbone": "UNetT" for E2-TTS's, else its DiT)
    + its vocabulary size → our DiTConfig. `state`, the converted weights (`convert_state_dict`): where they
    keep the checkpoint's own rotary frequencies, the config says so (`stored_rotary_freqs`)."""
    arch = dict(F5_V1_BASE_ARCH if arch is None else arch)
    name = arch.pop("backbone", "DiT")
    if name not in _BACKBONES:
        raise CheckpointError(f"F5-TTS backbone {name!r} is not supported; known: {sorted(_BACKBONES)}")
    backbone, defaults = _BACKBONES[name]
    unknown = set(arch) - set(defaults) - _NO_EFFECT - {"dim"}
    if unknown or "dim" not in arch:
        raise CheckpointError(f"F5-TTS {name} arch needs 'dim' and takes {sorted(set(defaults) | _NO_EFFECT)}; "
                              f"got unknown {sorted(unknown)}" if unknown else "F5-TTS arch has no 'dim'")
    a = {**defaults, **arch}
    for key, value in _REQUIRED.items():
        if key in a and a[key] != value:
            raise CheckpointError(f"F5-TTS arch {key}={a[key]!r} is not supported: only {key}={value!r} is "
                                  f"implemented")
    try:
        return DiTConfig(latent_dim=a["mel_dim"], dim=a["dim"], depth=a["depth"], heads=a["heads"],
                         ff_mult=a["ff_mult"], text_dim=a["text_dim"] or a["mel_dim"], text_vocab_size=vocab_size + 1,
                         conv_layers=a["conv_layers"], conv_pos_kernel=31, dropout=a["dropout"], text_layout="filler",
                         backbone=backbone, text_mask_padding=a["text_mask_padding"], rotary_heads=a["pe_attn_head"],
                         stored_rotary_freqs=state is not None and ROTARY_KEY in state,
                         head_dim=None if a["dim_head"] * a["heads"] == a["dim"] else a["dim_head"])
    except ValueError as err:
        raise CheckpointError(f"F5-TTS arch {arch} is not supported: {err}") from None


def read_state_dict(checkpoint: str | os.PathLike, use_ema: bool = True) -> dict[str, torch.Tensor]:
    """A released `.safetensors` or `.pt` → its transformer's weights, keys without `ema_model.`.

    `.pt` files hold `ema_model_state_dict` (used, as F5-TTS's inference does) and/or
    `model_state_dict`; a plain state dict is taken as is.
    """
    path = Path(checkpoint)
    if not path.is_file():
        raise CheckpointError(f"F5-TTS checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    elif path.suffix in (".pt", ".pth", ".ckpt"):
        state = torch.load(path, map_location="cpu", weights_only=True)
        order = ("ema_model_state_dict", "model_state_dict") if use_ema else ("model_state_dict",)
        state = next((state[k] for k in order if k in state), state)
    else:
        raise CheckpointError(f"{path}: an F5-TTS checkpoint is a .safetensors or .pt file")
    return {k.removeprefix("ema_model."): v for k, v in state.items()}


def convert_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """F5-TTS CFM keys (`transformer.*`, its DiT's or UNetT's) → our `TTSModel` keys (`dit.*`); q, k, v fused
    into one. The stored rotary frequencies are kept (as `ROTARY_KEY`) only where they are not the computed
    ones: a float16 file holds rounded ones, which F5-TTS uses (then `dit_config(..., state)` records them)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    unknown = []
    for key, value in state.items():
        if _DROPPED.match(key):
            continue
        if key == _F5_ROTARY:
            if not torch.equal(value.float(), rotary_frequencies(2 * value.numel())):
                out[ROTARY_KEY] = value
            continue
        name = key.removeprefix("transformer.")
        if (m := _QKV.match(name)) is not None:
            qkv.setdefault((m.group(1) or m.group(2), m.group(4)), {})[m.group(3)] = value
            continue
        for pattern, ours in _KEYS:
            new, n = re.subn("^" + pattern, ours, name)
            if n and key.startswith("transformer."):
                out["dit." + new] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(f"not an F5-TTS DiT checkpoint this loader knows: unexpected keys {unknown[:5]}"
                              + (f" ... ({len(unknown)} in all)" if len(unknown) > 5 else ""))
    for (layer, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise CheckpointError(f"F5-TTS block {layer} lacks attention {kind}s for {sorted({'q', 'k', 'v'} - set(parts))}")
        out[f"dit.blocks.{layer}.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def infer_arch(state: dict[str, torch.Tensor]) -> list[dict]:
    """The F5-TTS `arch`s (constructor arguments, keyed as the release constants above) that a checkpoint's
    tensors fit: `state` as `read_state_dict` gives it (`transformer.*`).

    The backbone, sizes, text ConvNeXt blocks and qk-norm show in the keys and shapes; the head size in the
    stored rotary frequencies (two channels each), else 64 as in every release. What leaves no trace in the
    tensors is F5-TTS v1's or v0's choice of text padding mask and rotary heads: a DiT gives both, v1's first.
    A UNetT gives E2-TTS's (every UNetT release). Raises CheckpointError for a state of neither backbone.
    """
    unet = any(k.startswith("transformer.layers.") for k in state)

    def indices(prefix: str) -> set[int]:
        return {int(m.group(1)) for k in state if (m := re.match(rf"transformer\.{prefix}\.(\d+)\.", k))}

    def shape(key: str) -> torch.Size:
        if f"transformer.{key}" not in state:
            raise CheckpointError(f"not an F5-TTS checkpoint this loader knows: no transformer.{key}")
        return state[f"transformer.{key}"].shape

    layers = indices("layers" if unet else "transformer_blocks")
    first = min(layers, default=0)
    mel_dim, dim = shape("proj_out.weight")
    text_dim = shape("text_embed.text_embed.weight")[1]
    inner = shape(f"layers.{first}.2.to_q.weight" if unet else f"transformer_blocks.{first}.attn.to_q.weight")[0]
    hidden = shape(f"layers.{first}.4.ff.0.0.weight" if unet else f"transformer_blocks.{first}.ff.ff.0.0.weight")[0]
    rotary = state.get(_F5_ROTARY)
    dim_head = 2 * rotary.numel() if rotary is not None else 64
    if shape("input_embed.proj.weight") != (dim, 2 * mel_dim + text_dim) or inner % dim_head:
        raise CheckpointError(f"not an F5-TTS checkpoint this loader knows: input projection "
                              f"{tuple(shape('input_embed.proj.weight'))} for {mel_dim} mel bins and {text_dim} text "
                              f"channels, attention width {inner} for heads of {dim_head}")
    arch: dict = {"dim": dim, "depth": len(layers), "heads": inner // dim_head,
                  "ff_mult": hidden // dim if hidden % dim == 0 else hidden / dim}
    if dim_head != F5_DIT_DEFAULTS["dim_head"]:
        arch["dim_head"] = dim_head
    if mel_dim != F5_DIT_DEFAULTS["mel_dim"]:
        arch["mel_dim"] = mel_dim
    conv_layers = len(indices(r"text_embed\.text_blocks"))
    qk_norm = "rms_norm" if any(".q_norm." in k for k in state) else None
    if unet:  # E2-TTS's yaml names only what differs from the defaults
        arch = {"backbone": "UNetT", **arch, "text_mask_padding": False, "pe_attn_head": 1}
        arch.update({"text_dim": text_dim} if text_dim != mel_dim else {})
        arch.update({"conv_layers": conv_layers} if conv_layers else {})
        arch.update({"qk_norm": qk_norm} if qk_norm else {})
        return [arch]
    arch.update(text_dim=text_dim, conv_layers=conv_layers, qk_norm=qk_norm)
    if "transformer.long_skip_connection.weight" in state:
        arch["long_skip_connection"] = True
    return [{**arch, "text_mask_padding": True, "pe_attn_head": None},
            {**arch, "text_mask_padding": False, "pe_attn_head": 1}]


def load_f5_checkpoint(checkpoint: str | os.PathLike, vocab: str | os.PathLike | Sequence[str],
                       arch: dict | None = None, use_ema: bool = True, mel_type: str = "vocos") -> TTSModel:
    """An F5-TTS checkpoint (`.safetensors` or `.pt`) and its vocabulary (`vocab.txt` path or its
    lines) → our TTSModel in float32 on CPU, in eval mode, run by F5-TTS's rules (tts/rules/f5.py).

    `arch`: F5-TTS's DiT constructor arguments (a config's `model.arch`); None infers them from the
    tensors (`choose_arch`). `use_ema` False takes a trainer's `.pt`'s online weights (`model_state_dict`), as
    F5-TTS's `use_ema=False` does. `mel_type`: F5-TTS's `mel_spec_type`, "vocos" or "bigvgan" (the codec the
    model records).
    """
    if mel_type not in MEL_CODECS:
        raise CheckpointError(f"unknown F5-TTS mel_spec_type {mel_type!r}; known: {sorted(MEL_CODECS)}")
    tokens = read_vocab(vocab) if isinstance(vocab, (str, os.PathLike)) else list(vocab)
    raw = read_state_dict(checkpoint, use_ema)
    if arch is None:
        arch = choose_arch(raw, Path(checkpoint))
    state = convert_state_dict(raw)
    rows = state.get("dit.text_embed.embed.weight")
    if rows is not None and rows.shape[0] != len(tokens) + 1:
        raise CheckpointError(f"{checkpoint} embeds {rows.shape[0] - 1} text tokens but the vocabulary has "
                              f"{len(tokens)}: is it the vocab.txt of this checkpoint?")
    config = TTSConfig(dit=dit_config(arch, len(tokens), state), tokenizer="f5", vocab=tuple(tokens),
                       codec=MEL_CODECS[mel_type],
                       rules="f5", license=LICENSE, duration_rule="bytes")
    model = TTSModel(config)
    # Identity latent statistics: F5-TTS models work on the raw log-mel.
    state.update({k: v for k, v in model.state_dict().items() if k.startswith("latent_norm.")})
    load_strict(model, {k: v.float() for k, v in state.items()}, str(checkpoint))
    return model.eval()


# Released checkpoints: converted once into our format, cached, and loaded from the cache after.
HUB_REPO = "SWivid/F5-TTS"
LICENSE = "CC-BY-NC-4.0"  # F5-TTS's released weights: non-commercial use only


@dataclass(frozen=True)
class Release:
    """One of F5-TTS's releases on the hub: `repo/subfolder/{checkpoint, vocab.txt}`."""

    subfolder: str
    checkpoint: str
    arch: dict
    repo: str = HUB_REPO
    mel_type: str = "vocos"


RELEASES = {
    "F5TTS_v1_Base": Release("F5TTS_v1_Base", "model_1250000.safetensors", F5_V1_BASE_ARCH),
    "F5TTS_Base": Release("F5TTS_Base", "model_1200000.safetensors", F5_BASE_ARCH),
    "E2TTS_Base": Release("E2TTS_Base", "model_1200000.safetensors", E2_BASE_ARCH, repo="SWivid/E2-TTS"),
    "F5TTS_Base_bigvgan": Release("F5TTS_Base_bigvgan", "model_1250000.pt", F5_BASE_ARCH, mel_type="bigvgan"),
}
VOCAB_NAME = "vocab.txt"
ARCH_NAME = "config.json"  # beside a local checkpoint: F5-TTS's DiT arguments under "arch" (optional)
_CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt")
# Bumped when a conversion changes what it writes: caches of older conversions are converted anew.
CONVERSION_VERSION = 3


_VARIANT_FLAGS = ("text_mask_padding", "pe_attn_head")  # what v0 and v1 differ in, beyond their shapes


def choose_arch(state: dict[str, torch.Tensor], checkpoint: Path) -> dict:
    """The arch of a checkpoint given without one: the only one its tensors fit, else (F5-TTS v0 and v1
    have the same shapes) the release its file name, or its base model's beside it, names; else v1, said on
    one line with how to choose the other."""
    candidates = infer_arch(state)
    if len(candidates) == 1:
        return candidates[0]
    names = [checkpoint.name] + [p.name.removeprefix("pretrained_") for p in checkpoint.parent.glob("pretrained_*")]
    for release in RELEASES.values():
        flags = {k: release.arch.get(k) for k in _VARIANT_FLAGS}
        match = [a for a in candidates if {k: a.get(k) for k in _VARIANT_FLAGS} == flags]
        if release.checkpoint in names and match:
            return match[0]
    chosen = next((a for a in candidates if a.get("text_mask_padding", True)), candidates[0])
    logger.warning("%s: its tensors fit F5-TTS v1 and v0 (F5TTS_Base) alike; assumed v1. For v0 or a fine-tune "
                   "of it, put a config.json with {\"arch\": %s} beside it (or pass arch=...)",
                   checkpoint, json.dumps(F5_BASE_ARCH))
    return chosen


def is_f5_source(source: str | os.PathLike) -> bool:
    """A release name, `SWivid/F5-TTS[/subfolder]`, a local F5-TTS checkpoint file, or a folder
    holding one with its vocab.txt (and no saved model of ours)."""
    text = str(source)
    if text in RELEASES or _hub_parts(text) is not None:
        return True
    path = Path(source).expanduser()
    if path.is_file():
        return path.suffix in _CHECKPOINT_SUFFIXES
    return path.is_dir() and (path / VOCAB_NAME).is_file() and not _is_ours(path)


def _hub_parts(text: str) -> list[str] | None:
    parts = text.removeprefix("hf://").split("/")
    return parts if "/".join(parts[:2]) in {r.repo for r in RELEASES.values()} else None


def _is_ours(directory: Path) -> bool:
    config = directory / ARCH_NAME
    return config.is_file() and "model_type" in json.loads(config.read_text())


def converted(source: str | os.PathLike, subfolder: str | None = None, revision: str | None = None) -> Path:
    """An F5-TTS checkpoint (see `is_f5_source`) → a directory in our format, converted on first use
    and cached under `$CUBETTS_CACHE` (default: the Hugging Face cache) by source and file version.

    The conversion is written into a temporary folder and renamed into place, so the cache holds it whole
    or not at all; a folder left incomplete by an older crash is converted anew."""
    checkpoint, vocab, arch, mel_type = _locate(source, subfolder, revision)
    stats = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in (checkpoint, vocab)]
    key = hashlib.sha256(json.dumps([stats, arch, mel_type, CONVERSION_VERSION], sort_keys=True).encode()).hexdigest()[:16]
    directory = cache_dir() / "f5" / f"{checkpoint.stem}-{key}"
    if _complete(directory):
        return directory
    logger.info("converting F5-TTS checkpoint %s into %s (once)", checkpoint, directory)
    model = load_f5_checkpoint(checkpoint, vocab, arch, mel_type=mel_type)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    try:
        model.save_pretrained(tmp)
        os.chmod(tmp, 0o777 & ~current_umask())
        if directory.exists():  # incomplete (not `_complete`): an older run died while writing it
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def _complete(directory: Path) -> bool:
    """A cached conversion holds both files and a config that parses."""
    try:
        return (directory / WEIGHTS_NAME).is_file() and "model_type" in json.loads((directory / ARCH_NAME).read_text())
    except (OSError, ValueError):
        return False


def cache_dir() -> Path:
    if os.environ.get("CUBETTS_CACHE"):
        return Path(os.environ["CUBETTS_CACHE"]).expanduser()
    from huggingface_hub.constants import HF_HUB_CACHE

    return Path(HF_HUB_CACHE) / "cubetts"


def pick_checkpoint(folder: Path) -> Path:
    """The checkpoint a folder stands for, as F5-TTS's trainer leaves one: `model_last.pt`, else the
    highest-numbered `model_<step>` file, else its one `model*` file. A `pretrained_*` file is the base model it
    started from, never the fine-tune."""
    found = [p for p in folder.iterdir() if p.suffix in _CHECKPOINT_SUFFIXES and p.stem.startswith("model")]
    last = [p for p in found if p.stem == "model_last"]
    if last:
        return last[0]
    steps = [(int(m.group(1)), p) for p in found if (m := re.fullmatch(r"model_(\d+)", p.stem))]
    if steps:
        return max(steps)[1]
    if len(found) == 1:
        return found[0]
    if not found:
        raise CheckpointError(f"{folder} holds {VOCAB_NAME} but no F5-TTS checkpoint (model*: "
                              f"{', '.join(_CHECKPOINT_SUFFIXES)}; a pretrained_* file is the base model, not the "
                              f"fine-tune)")
    raise CheckpointError(f"{folder} holds several checkpoints and no model_last.pt or model_<step> among them "
                          f"({', '.join(sorted(p.name for p in found))}): pass the file itself")


def _locate(source: str | os.PathLike, subfolder: str | None,
            revision: str | None) -> tuple[Path, Path, dict | None, str]:
    """(checkpoint file, vocab.txt, arch or None, mel type) of a source, downloading a hub release if needed.
    Beside a local file, a `config.json` may give F5-TTS's `arch` and `mel_spec_type`, at its top or under
    "model" (and "model.mel_spec") as F5-TTS's own configs have them."""
    text = str(source)
    if text in RELEASES or _hub_parts(text) is not None:
        return _from_hub(text, subfolder, revision)
    path = Path(source).expanduser()
    folder = path.parent if path.is_file() else path
    checkpoint = path if path.is_file() else pick_checkpoint(folder)
    vocab = folder / VOCAB_NAME
    if not vocab.is_file():
        raise CheckpointError(f"F5-TTS checkpoint {checkpoint} needs its vocabulary: put the release's {VOCAB_NAME} "
                              f"beside it (e.g. https://huggingface.co/{HUB_REPO}/tree/main/F5TTS_v1_Base)")
    arch_file = folder / ARCH_NAME
    config = json.loads(arch_file.read_text()) if arch_file.is_file() else {}
    model = config.get("model", {})
    arch = config.get("arch") or model.get("arch")
    if arch is not None and model.get("backbone") and "backbone" not in arch:
        arch = {**arch, "backbone": model["backbone"]}
    mel_type = config.get("mel_spec_type") or model.get("mel_spec", {}).get("mel_spec_type") or "vocos"
    return checkpoint, vocab, arch, mel_type


def _from_hub(source: str, subfolder: str | None, revision: str | None) -> tuple[Path, Path, dict | None, str]:
    if source in RELEASES:
        release = RELEASES[source]
    else:
        parts = _hub_parts(source) or []
        name = "/".join(parts[2:]) or subfolder
        if name not in RELEASES:
            raise CheckpointError(f"unknown F5-TTS release {name!r}; supported: {sorted(RELEASES)} "
                                  f"(or give a local checkpoint file with its {VOCAB_NAME})")
        release = RELEASES[name]
    patterns = [release.checkpoint, VOCAB_NAME]
    try:
        folder = fetch(release.repo, "F5-TTS release", release.subfolder, revision, allow_patterns=patterns)
    except CheckpointError as err:
        raise CheckpointError(
            f"F5-TTS release {release.subfolder} is not in the cache and could not be downloaded: it needs "
            f"{release.subfolder}/{release.checkpoint} and {release.subfolder}/{VOCAB_NAME} from the hub repo "
            f"{release.repo} (https://huggingface.co/{release.repo}). Connect to the internet once (with "
            f"HF_HUB_OFFLINE unset) to download and cache them, or download both files and pass the checkpoint's "
            f"path, with {VOCAB_NAME} beside it. ({err})") from None
    missing = [p for p in patterns if not (folder / p).is_file()]
    if missing:
        raise CheckpointError(f"{release.repo}/{release.subfolder} lacks {missing} (looked in {folder})")
    return folder / release.checkpoint, folder / VOCAB_NAME, release.arch, release.mel_type
