"""Reading, resampling and writing audio: the one place where files become tensors."""
from __future__ import annotations

import io
import math
import numbers
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from typing import Sequence

import torch
import torch.nn.functional as F
import torchaudio.functional as AF

from .checkpoint import atomic_write

# soundfile reads these; anything else is refused with a message that lists them.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
# What `save_audio` writes, by the file name's suffix: (soundfile format, subtype).
OUTPUT_FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS")}
# The lowest sample rate accepted anywhere (`checked_rate`): 4 kHz carries speech up to 2 kHz, still intelligible
# (telephone speech is 8 kHz); below it a file is a mistake, not speech.
MIN_SAMPLE_RATE = 4000


class AudioError(ValueError):
    """Audio that cannot be used: unreadable, empty, silent, too short or of the wrong shape."""


def _unreadable(path: Path, err: Exception) -> AudioError:
    return AudioError(f"cannot read audio file {path}: {err}. Accepted formats: {', '.join(AUDIO_SUFFIXES)}")


def audio_duration(path: str | os.PathLike, at_most: float | None = None) -> float:
    """Seconds of audio in a file, from its header; AudioError if it is not audio.

    A header that does not know its length (a FLAC from a streaming encoder says 0 samples) is not believed:
    the stream is decoded, block by block, and its samples counted; with `at_most`, counting stops once past
    `at_most` seconds (the result is then only known to be longer), so a file that decodes to days of silence
    costs no more than `at_most` seconds of decoding."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        with sf.SoundFile(str(path)) as f:
            if _header_knows_length(f):
                return f.frames / f.samplerate
            limit = None if at_most is None else int(at_most * f.samplerate) + 1
            frames = 0
            for block in _blocks(f):
                frames += len(block)
                if limit is not None and frames >= limit:
                    break
            return frames / f.samplerate
    except Exception as err:  # soundfile raises several types for corrupt or unknown formats
        raise _unreadable(path, err) from None


# What libsndfile reports for a stream whose header does not say its length (SF_COUNT_MAX).
_UNKNOWN_FRAMES = 2**63 - 1


def _header_knows_length(f: sf.SoundFile) -> bool:
    """Whether `f.frames` can be believed: streaming encoders write 0 total samples, which libsndfile reports
    as 0 or as SF_COUNT_MAX."""
    return 0 < f.frames < _UNKNOWN_FRAMES


def _blocks(f: sf.SoundFile, size: int = 65536):
    """`(n, C)` float32 blocks of `f` read to the end of its stream, whatever its header says. libsndfile cannot
    seek in a FLAC without a length, and soundfile seeks after every read of a seekable file: so it is read
    as a stream."""
    f.seekable = lambda: False  # this handle only
    while len(block := f.read(size, dtype="float32", always_2d=True)):
        yield block


def check_output_path(path: str | os.PathLike) -> Path:
    """`path` if `save_audio` can write its format (by suffix), else AudioError listing the accepted ones."""
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise AudioError(f"cannot write audio as {path.suffix or '(no suffix)'!r} ({path.name}); "
                         f"name the output file with one of {', '.join(OUTPUT_FORMATS)}")
    return path


def read_channels(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Every sample of an audio file, as written: `(data: (T, C) float32, sample_rate)`, also when its header
    does not know its length. Raises `AudioError` for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    try:
        with sf.SoundFile(str(path)) as f:
            if _header_knows_length(f):
                return f.read(dtype="float32", always_2d=True), f.samplerate
            # the header does not say: decode to the end of the stream
            return np.concatenate([np.zeros((0, f.channels), np.float32), *_blocks(f)]), f.samplerate
    except Exception as err:  # soundfile raises several types for corrupt or unknown formats
        raise _unreadable(path, err) from None


def load_audio(path: str | os.PathLike, target_sr: int | None = None) -> tuple[torch.Tensor, int]:
    """Read an audio file as mono float32.

    Returns `(wav: (T,), sample_rate)`; channels are averaged and, when `target_sr` is given, the
    audio is resampled to it. Raises `AudioError` for a missing, unreadable or empty file.
    """
    data, sr = read_channels(path)  # (T, C)
    checked_rate(sr, f"the sample rate of {path}")
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
    """`sample_rate` as an int, or AudioError naming the argument (`name`) when it is not an integer of at least
    `MIN_SAMPLE_RATE` Hz."""
    if not isinstance(sample_rate, numbers.Integral) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise AudioError(f"{name} must be a positive integer, got {sample_rate!r}")
    if sample_rate < MIN_SAMPLE_RATE:
        raise AudioError(f"{name} is {sample_rate} Hz; audio below {MIN_SAMPLE_RATE} Hz (MIN_SAMPLE_RATE) holds "
                         f"no usable speech")
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
    """Band-limited resampling along the last axis: torchaudio's windowed-sinc filter (Hann window, 6 zero
    crossings, roll-off 0.99), at any pair of rates, with bounded memory.

    torchaudio builds one kernel of `target/g × (orig/g + 2 width)` weights (g = gcd of the rates): small for
    common rates (44,100 → 16,000: 76 k weights), but 706 M (2.8 GB) for 44,101 → 16,000. Up to
    `RESAMPLE_KERNEL_LIMIT` weights torchaudio runs as is; above it the same filter is evaluated at each output
    sample's exact time, in pieces of at most `RESAMPLE_CHUNK` weights, so memory stays a few MB whatever the
    rates. No rate is approximated: the two paths differ only by float32 rounding (at most 2e-6 of full scale
    in the tests)."""
    if orig_sr <= 0 or target_sr <= 0:
        raise AudioError(f"sample rates must be positive, got {orig_sr} → {target_sr}")
    if orig_sr == target_sr:
        return wav
    g = math.gcd(int(orig_sr), int(target_sr))
    orig, new = int(orig_sr) // g, int(target_sr) // g
    if new * (orig + 2 * _filter_width(orig, new)) <= RESAMPLE_KERNEL_LIMIT:
        return AF.resample(wav, orig_sr, target_sr)
    return _resample_direct(wav, orig, new)


# torchaudio's default filter, which both paths of `resample` use.
_ZERO_CROSSINGS, _ROLLOFF = 6, 0.99
# Weights in torchaudio's one kernel (4 MB of float32) above which `resample` takes its direct path.
RESAMPLE_KERNEL_LIMIT = 2**20
# Weights evaluated at once on the direct path (8 MB of float64 per intermediate).
RESAMPLE_CHUNK = 2**20


def _filter_width(orig: int, new: int) -> int:
    """Input samples on each side of an output sample's time that the filter reaches (torchaudio's `width`)."""
    return math.ceil(_ZERO_CROSSINGS * orig / (min(orig, new) * _ROLLOFF))


def _resample_direct(wav: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """`resample` for reduced rates `orig` → `new` (coprime), one output sample at a time: output j is
    Σ_n x[n] h(n/orig − j/new), with torchaudio's filter h and zero padding, on the same output length."""
    shape = wav.shape
    x = wav.reshape(-1, shape[-1])  # (B, T)
    batch, length = x.shape
    width = _filter_width(orig, new)
    out_len = -(-new * length // orig)  # ceil(new T / orig), as torchaudio
    offsets = torch.arange(-width, width + 2, device=x.device)  # (K,) inputs around floor(j orig / new)
    x = F.pad(x, (width + 1, width + 2))  # (B, T + K + 1): every index below lands inside
    out = x.new_empty(batch, out_len)
    step = max(1, RESAMPLE_CHUNK // (len(offsets) * batch))
    # Output j's weights depend only on its phase j mod new: kept in a table when it is small (4 M weights).
    table = None
    if new * len(offsets) <= 4 * RESAMPLE_CHUNK:
        table = torch.cat([_weights(torch.arange(s, min(s + step, new), device=x.device), offsets, orig, new)
                           for s in range(0, new, step)]).to(x.dtype)  # (new, K)
    for start in range(0, out_len, step):
        j = torch.arange(start, min(start + step, out_len), device=x.device)  # (J,)
        n = (j * orig).div(new, rounding_mode="floor")[:, None] + offsets  # (J, K) input indices
        h = table[j % new] if table is not None else _weights(j, offsets, orig, new).to(x.dtype)  # (J, K)
        out[:, start:start + len(j)] = (x[:, n + width + 1] * h).sum(-1)  # (B, J)
    return out.reshape(shape[:-1] + (out_len,))


def _weights(j: torch.Tensor, offsets: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """torchaudio's filter weights `(J, K)` float64 of outputs `j: (J,)` on the inputs floor(j orig / new) +
    `offsets: (K,)`."""
    n = (j * orig).div(new, rounding_mode="floor")[:, None] + offsets  # (J, K) input indices
    base = min(orig, new) * _ROLLOFF
    # Exact in integers: (n/orig - j/new) orig new = n new - j orig.
    t = (n * new - j[:, None] * orig).double() * (base / (orig * new))
    t = t.clamp(-_ZERO_CROSSINGS, _ZERO_CROSSINGS)
    window = torch.cos(t * (math.pi / _ZERO_CROSSINGS / 2)) ** 2
    t = t * math.pi
    return torch.where(t == 0, torch.ones_like(t), t.sin() / t) * window * (base / orig)


def mono_at(wav: torch.Tensor, sample_rate: int, target_sr: int) -> torch.Tensor:
    """`(T,)` or `(C, T)` at `sample_rate` → mono float32 `(T',)` on the CPU at `target_sr`, detached: what a
    scoring model (ASR, speaker embedding, PESQ/STOI) takes."""
    return resample(to_mono(wav.detach().float().cpu()), sample_rate, target_sr)


def save_audio(path: str | os.PathLike, wav: torch.Tensor, sample_rate: int) -> None:
    """Write a mono `(T,)` waveform, atomically, in the format its suffix names (`OUTPUT_FORMATS`: 16-bit WAV or
    FLAC, Ogg Vorbis); any other suffix raises AudioError."""
    fmt, subtype = OUTPUT_FORMATS[check_output_path(path).suffix.lower()]
    data = to_mono(wav.detach().float().cpu()).clamp(-1.0, 1.0).numpy()
    encoded = io.BytesIO()  # encoded in memory, written by atomic_write: a full disk is one error naming the file
    sf.write(encoded, data, sample_rate, subtype=subtype, format=fmt)
    atomic_write(path, encoded.getvalue())
