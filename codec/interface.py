"""What every codec offers (`Codec`), and building one from a `CodecSpec` record or a name."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch
import yaml

from .bigvgan import BIGVGAN_CONFIG, is_bigvgan
from .checkpoint import fetch
from .mel import _MEL_FEATURES, GRIFFIN_LIM, VOCOS_CONFIG, MelCodec
from .model import DEFAULT_WAVCUBE, DEFAULT_WAVCUBE_SUBFOLDER, WavCube
from .spec import CodecSpec


@runtime_checkable
class Codec(Protocol):
    """Speech ↔ latent frames. `WavCube` (128-d, 50 Hz at 16 kHz) and `MelCodec` (100-d, 93.75 Hz at
    24 kHz) are the two; TTS, recipes, eval and the app use nothing else of them.

    - `encode(wav, sample_rate) -> (latent: (B, N, latent_dim), mask: (B, N) bool)` from any rate;
    - `decode(latent, mask) -> wav: (B, hop_length N)` at `sample_rate`, zero past each clip;
    - `spec() -> CodecSpec`, the record a TTS checkpoint keeps (needs a codec from `from_pretrained`);
    - `context_frames`, `lookahead_frames`: the frames before and after a stretch of latent that a shortened or
      streamed decode (codec/streaming.py) gives the decoder, so that the stretch decodes as in a whole decode.
    """

    kind: str

    @property
    def sample_rate(self) -> int: ...
    @property
    def frame_rate(self) -> float: ...
    @property
    def latent_dim(self) -> int: ...
    @property
    def hop_length(self) -> int: ...
    @property
    def device(self) -> torch.device: ...
    @property
    def context_frames(self) -> int: ...
    @property
    def lookahead_frames(self) -> int: ...

    def encode(self, wav: torch.Tensor | Sequence[torch.Tensor],
               sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]: ...
    def decode(self, latent: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor: ...
    def spec(self) -> CodecSpec: ...
    def to(self, *args, **kwargs): ...
    def eval(self): ...
    @classmethod
    def from_pretrained(cls, path_or_repo_id, *args, **kwargs): ...


class CodecMismatchError(ValueError):
    """A codec whose latents are not the ones a TTS model was trained on."""


def describe(spec: CodecSpec) -> str:
    """`wavcube yhaha/WavCube (WavCube), 128-d at 50 Hz`: a codec record for messages and the app."""
    where = spec.source + (f" ({spec.subfolder})" if spec.subfolder else "") + (f" @{spec.revision}" if spec.revision else "")
    # The mel type is named where it is not vocos, the type of every mel record before the type was recorded.
    mel_type = _mel_type(spec.mel_type) if spec.mel_type not in (None, "vocos") else ""
    return f"{spec.kind} {where}, {spec.latent_dim}-d at {spec.frame_rate:g} Hz{mel_type}"


def _mel_type(mel_type: str | None) -> str:
    return f", {mel_type} mel type" if mel_type else ""


def check_codec(record: CodecSpec, codec: Codec) -> None:
    """Refuse a codec that differs from `record` in kind, latent_dim, frame rate or mel type (its source may
    differ: the same codec can live in another folder, and Griffin-Lim may stand in for Vocos)."""
    mel_type = getattr(codec, "mel_type", None)  # a MelCodec's; a WavCube has none
    if (codec.kind != record.kind or codec.latent_dim != record.latent_dim or mel_type != record.mel_type
            or not math.isclose(codec.frame_rate, record.frame_rate, rel_tol=1e-6)):
        given = f"{codec.kind} codec, {codec.latent_dim}-d at {codec.frame_rate:g} Hz" + _mel_type(mel_type)
        raise CodecMismatchError(f"the codec given ({given}) does not match the one the TTS model was trained on "
                                 f"({describe(record)})")


def load_codec(spec: CodecSpec, device: torch.device | str = "cpu") -> Codec:
    """The codec a record names, on `device`; checked against the record's latent_dim and frame rate."""
    if spec.kind == "wavcube":
        codec: Codec = WavCube.from_pretrained(spec.source, subfolder=spec.subfolder, revision=spec.revision)
    elif spec.source == GRIFFIN_LIM:
        codec = MelCodec.griffin_lim()
    else:
        codec = MelCodec.from_pretrained(spec.source, spec.subfolder, spec.revision)
    check_codec(spec, codec)
    return codec.to(device).eval()


def codec_subfolder(source: str | os.PathLike, subfolder: str | None) -> str | None:
    """The hub subfolder to load: as given, else `DEFAULT_WAVCUBE_SUBFOLDER` for the default repo."""
    if subfolder is None and str(source) == DEFAULT_WAVCUBE:
        return DEFAULT_WAVCUBE_SUBFOLDER
    return subfolder or None


def open_codec(source: str | os.PathLike, subfolder: str | None = None, revision: str | None = None,
               device: torch.device | str = "cpu") -> Codec:
    """A codec named by the user: a local path or hub id, or `"griffin-lim"` for the Griffin-Lim mel codec.

    A Vocos or BigVGAN mel vocoder (told by its config file) gives a `MelCodec`, anything else a `WavCube`.
    """
    kind = codec_kind(source, subfolder, revision)
    if str(source) == GRIFFIN_LIM:
        return MelCodec.griffin_lim().to(device)
    if kind == "mel":
        return MelCodec.from_pretrained(source, subfolder, revision).to(device)
    return WavCube.from_pretrained(source, subfolder=subfolder, revision=revision).to(device)


def codec_kind(source: str | os.PathLike, subfolder: str | None = None, revision: str | None = None) -> str:
    """"mel" for `griffin-lim`, a Vocos mel vocoder (told by its config.yaml) or a BigVGAN (told by its
    config.json), "wavcube" otherwise."""
    if str(source) == GRIFFIN_LIM:
        return "mel"
    root = Path(source).expanduser() / (subfolder or "")
    if not root.exists():  # a hub id: its config files alone say which
        root = fetch(source, "codec checkpoint", subfolder, revision, [VOCOS_CONFIG, BIGVGAN_CONFIG])
    if root.is_dir() and is_bigvgan(root):
        return "mel"
    config = root / VOCOS_CONFIG if root.is_dir() else None
    if config is not None and config.is_file():
        hparams = yaml.safe_load(config.read_text()) or {}
        if (hparams.get("feature_extractor") or {}).get("class_path") == _MEL_FEATURES:
            return "mel"
    return "wavcube"
