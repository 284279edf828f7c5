"""Reading, resampling and writing audio: the one place where files become tensors."""
from __future__ import annotations

import numbers
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from typing import Sequence

import torch
import torchaudio.functional as AF

from .checkpoint import atomic_write

# soundfile reads these; anything else is refused with a message that lists them.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
# What `save_audio` writes, by the file name's suffix: (soundfile format, subtype).
OUTPUT_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}


class AudioError(ValueError):
    """Audio that cannot be used: unreadable, empty, silent, too short or of the wrong shape."""


def _unreadable(path: Path, err: Exception) -> AudioError:
    return AudioError(f"cannot read audio file {path}: {err}. Accepted formats: {', '.join(AUDIO_SUFFIXES)}")


def audio_duration(path: str | os.PathLike) -> float:
    """Seconds of audio in a file, from its header (nothing is decoded); AudioError if it is not audio."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        info = sf.info(str(path))
    except Exception as err:  # soundfile raises several types for corrupt or unknown formats
        raise _unreadable(path, err) from None
    return info.frames / info.samplerate


def check_output_path(path: str | os.PathLike) -> Path:
    """`path` if `save_audio` can write its format (by suffix), else AudioError listing the accepted ones."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise AudioError(f"cannot write audio as {path.suffix or '(no suffix)'!r} ({path.name}); "
                         f"name the output file with one of {', '.join(OUTPUT_FORMATS)}")
    return path


def load_audio(path: str | os.PathLike, target_sr: int | None = None) -> tuple[torch.Tensor, int]:
    """Read an audio file as mono float32.

    Returns `(wav: (T,), sample_rate)`; channels are averaged and, when `target_sr` is given, the
    audio is resampled to it. Raises `AudioError` for a missing, unreadable or empty file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)  # (T, C)
    except Exception as err:  # soundfile raises several types for corrupt or unknown formats
        raise _unreadable(path, err) from None
    if data.shape[0] == 0:
        raise AudioError(f"audio file {path} is empty (0 samples)")
    wav = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if target_sr is not None and target_sr != sr:
        wav, sr = resample(wav, sr, target_sr), target_sr
    return wav, sr


def to_mono(wav: torch.Tensor) -> torch.Tensor:
    """`(T,)`, `(C, T)` with C <= 2 → `(T,)` by averaging channels."""
    if wav.dim() == 1:
        return wav
    if wav.dim() == 2 and wav.shape[0] <= 2:
        return wav.mean(dim=0)
    raise AudioError(f"expected a waveform of shape (T,) or (channels<=2, T), got {tuple(wav.shape)}")


def checked_rate(sample_rate: int, name: str = "sample_rate") -> int:
    """`sample_rate` as an int, or AudioError naming the argument (`name`) when it is not a positive integer."""
    if not isinstance(sample_rate, numbers.Integral) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise AudioError(f"{name} must be a positive integer, got {sample_rate!r}")
    return int(sample_rate)


def checked_clip(wav: torch.Tensor, what: str = "the audio") -> torch.Tensor:
    """The one check of a waveform given as a tensor: `(T,)` or `(C<=2, T)` float samples, none NaN or
    infinite → mono float32 `(T,)` on the same device. Anything else raises AudioError naming `what`."""
    wav = torch.as_tensor(wav)
    if not torch.is_floating_point(wav):
        raise AudioError(f"{what} must hold float samples in [-1, 1], got dtype {wav.dtype}")
    wav = to_mono(wav.detach()).float()
    if wav.numel() == 0:
        raise AudioError(f"{what} is empty (0 samples)")
    if not torch.isfinite(wav).all():
        raise AudioError(f"{what} holds NaN or infinite samples")
    return wav


def prepare_clips(wav: torch.Tensor | Sequence[torch.Tensor], sample_rate: int, target_sr: int,
                  min_seconds: float) -> list[torch.Tensor]:
    """A codec's accepted input → mono float32 clips `[(T_i,)]` at `target_sr`.

    Accepted: `(T,)` one mono clip; `(B, T)` a batch of mono clips; `(B, C, T)` a batch of
    C-channel clips (downmixed); a list of `(T,)` or `(C, T)` clips of any lengths. Clips shorter
    than `min_seconds`, non-float or non-finite ones raise `AudioError` (`checked_clip`).
    """
    if isinstance(wav, torch.Tensor):
        if wav.dim() not in (1, 2, 3):
            raise AudioError(f"expected wav of shape (T,), (B, T) or (B, C, T), got {tuple(wav.shape)}")
        clips = [wav] if wav.dim() == 1 else list(wav)
    else:
        clips = list(wav)
    if not clips:
        raise AudioError("no audio given: the batch is empty")
    sample_rate = checked_rate(sample_rate)
    out = []
    for i, c in enumerate(clips):
        c = checked_clip(c, f"clip {i}")
        if c.numel() < min_seconds * sample_rate:
            raise AudioError(f"clip {i} is too short: {c.numel()} samples at {sample_rate} Hz; "
                             f"at least {min_seconds * 1000:.0f} ms is needed")
        out.append(resample(c, sample_rate, target_sr))
    return out


def checked_latent(latent: torch.Tensor, mask: torch.Tensor | None, latent_dim: int) -> torch.Tensor:
    """A codec's decode input: `(B, N, latent_dim)` or `(N, latent_dim)` → `(B, N, latent_dim)`, with `mask: (B, N)`
    if given; anything else raises ValueError saying what was expected."""
    if latent.dim() == 2:
        latent = latent[None]
    if latent.dim() != 3 or latent.shape[-1] != latent_dim:
        raise ValueError(f"expected latent of shape (B, N, {latent_dim}), got {tuple(latent.shape)}")
    if mask is not None and mask.shape != latent.shape[:2]:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match latent {tuple(latent.shape[:2])}")
    if latent.shape[1] == 0:
        raise ValueError("latent has no frames")
    return latent


def resample(wav: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    """Band-limited resampling along the last axis (torchaudio's sinc interpolation)."""
    if orig_sr <= 0:
        raise AudioError(f"sample rate must be positive, got {orig_sr}")
    if orig_sr == target_sr:
        return wav
    return AF.resample(wav, orig_sr, target_sr)


def mono_at(wav: torch.Tensor, sample_rate: int, target_sr: int) -> torch.Tensor:
    """`(T,)` or `(C, T)` at `sample_rate` → mono float32 `(T',)` on the CPU at `target_sr`, detached: what a
    scoring model (ASR, speaker embedding, PESQ/STOI) takes."""
    return resample(to_mono(wav.detach().float().cpu()), sample_rate, target_sr)


def save_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int) -> None:
    """Write a mono `(T,)` waveform, atomically, in the format its suffix names (`OUTPUT_FORMATS`: 16-bit WAV or
    FLAC, Ogg Vorbis); any other suffix raises AudioError."""
    fmt, subtype = OUTPUT_FORMATS[check_output_path(path).suffix.lower()]
    data = to_mono(wav.detach().float().cpu()).clamp(-1.0, 1.0).numpy()
    atomic_write(path, lambda tmp: sf.write(tmp, data, sample_rate, subtype=subtype, format=fmt))
