"""Audio as the HTTP API sends it: wav, flac, mp3, opus (Ogg) or raw pcm, as one complete file (`encode`) or
written piece by piece as the speech is generated (`AudioEncoder`), so a client can play the start while
the rest is made.

Every format carries the model's own rate (`Synthesizer.sample_rate`: 24 kHz for F5-TTS/mel models, 16 kHz
for WavCube models), mono. `pcm` is 16-bit signed little-endian samples with no header (OpenAI's is always
24 kHz; ours is the model's rate, also sent in the `X-Sample-Rate` header). Streamed, `wav`'s header gives no
length (0xFFFFFFFF, as streamed WAV does: readers take the data to the end of the file), and `mp3` (MPEG-2
Layer III from libsndfile's LAME, constant bit rate) comes without its gapless-playback tag, which can only
be written once the end is known: decoders then play LAME's 1,105 samples of lead-in (46 ms at 24 kHz) and up
to a frame of padding. `flac` writes its length and checksum into its header at the end, so even when
streaming is asked for it is sent whole, once the speech is complete.
"""
from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf
import torch

# response_format → (content type, soundfile format and subtype; None where written here)
FORMATS: dict[str, tuple[str, tuple[str, str] | None]] = {
    "wav": ("audio/wav", None),
    "flac": ("audio/flac", ("FLAC", "PCM_16")),
    "mp3": ("audio/mpeg", ("MP3", "MPEG_LAYER_III")),
    "opus": ("audio/ogg", ("OGG", "OPUS")),
    "pcm": ("audio/pcm", None),
}
# Sent only once complete: their headers are rewritten when the length is known.
WHOLE = {"flac"}


def pcm16(wav: torch.Tensor) -> np.ndarray:
    """`wav: (T,)` float in [-1, 1] → 16-bit samples, as a 16-bit WAV holds them (clipped, rounded)."""
    return (wav.detach().float().cpu().clamp(-1.0, 1.0) * 32767).round().to(torch.int16).numpy()


def wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header whose RIFF and data sizes say "unknown" (0xFFFFFFFF): a stream's header."""
    return (b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16) +
            b"data" + struct.pack("<I", 0xFFFFFFFF))


class _Sink(io.RawIOBase):
    """A seekable in-memory file for libsndfile; `take()` returns what was appended since the last call.
    Bytes already taken cannot be changed any more: libsndfile's later header rewrites there are kept in
    memory only (the formats where that matters are sent whole)."""

    def __init__(self):
        self.data, self.pos, self.taken = bytearray(), 0, 0

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b) -> int:
        b = bytes(b)
        self.data[self.pos:self.pos + len(b)] = b
        self.pos += len(b)
        return len(b)

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        out = bytes(self.data[self.pos:end])
        self.pos += len(out)
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = [offset, self.pos + offset, len(self.data) + offset][whence]
        return self.pos

    def tell(self) -> int:
        return self.pos

    def take(self) -> bytes:
        out = bytes(self.data[self.taken:])
        self.taken = len(self.data)
        return out


class AudioEncoder:
    """`write(wav)` for each piece → the bytes to send now; `close()` → the rest. Concatenated, they are one
    file of `response_format` at `sample_rate`."""

    def __init__(self, response_format: str, sample_rate: int):
        self.format, self.sample_rate = response_format, sample_rate
        self._file: sf.SoundFile | None = None
        self._sink = _Sink()
        self._started = False
        layout = FORMATS[response_format][1]
        if layout is not None:
            self._file = sf.SoundFile(self._sink, "w", sample_rate, 1, layout[1], format=layout[0],
                                      **_options(response_format))

    def write(self, wav: torch.Tensor) -> bytes:
        samples = pcm16(wav)
        head = b""
        if not self._started:
            self._started = True
            head = wav_header(self.sample_rate) if self.format == "wav" else b""
        if self._file is None:
            return head + samples.tobytes()  # little-endian on every platform torch and numpy run on here
        self._file.write(samples)
        return b"" if self.format in WHOLE else self._taken()

    def close(self) -> bytes:
        if self._file is None:
            return b"" if self._started else self.write(torch.zeros(0))
        self._file.close()
        if self.format in WHOLE:
            return bytes(self._sink.data)
        return self._taken()

    def _taken(self) -> bytes:
        out = self._sink.take()
        if self.format == "mp3" and self._sink.taken == len(out):
            out = _without_tag_frame(out)
        return out


def encode(wav: torch.Tensor, sample_rate: int, response_format: str) -> bytes:
    """A whole waveform `(T,)` as one complete file of `response_format`: its header states its length (and
    an mp3 has its gapless-playback tag)."""
    samples = pcm16(wav)
    if response_format == "pcm":
        return samples.tobytes()
    encoded = io.BytesIO()
    fmt, subtype = FORMATS[response_format][1] or ("WAV", "PCM_16")
    sf.write(encoded, samples, sample_rate, subtype=subtype, format=fmt, **_options(response_format))
    return encoded.getvalue()


def _options(response_format: str) -> dict:
    """libsndfile's settings. mp3: constant bit rate (without the tag, see above, a reader sizes an mp3 stream
    from its first frame), level 0.5: ~80 kbit/s. opus: level 0.8, ~60 kbit/s for noise-like audio, less for
    speech (its default, 0.9 or ~25 kbit/s, moves the level of noise-like audio by 3 dB)."""
    if response_format == "mp3":
        return {"bitrate_mode": "CONSTANT", "compression_level": 0.5}
    return {"compression_level": 0.8} if response_format == "opus" else {}


_MPEG1_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}  # by MPEG version bits


def _without_tag_frame(data: bytes) -> bytes:
    """An MP3's first bytes without LAME's Xing/Info frame, which holds the frame count as it was when first
    written (decoders would stop there) and is only made right once the end is known."""
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return data
    version, bitrate, rate, padding = (data[1] >> 3) & 3, data[2] >> 4, (data[2] >> 2) & 3, (data[2] >> 1) & 1
    if version == 1 or rate == 3 or bitrate in (0, 15):
        return data
    kbps = (_MPEG1_KBPS if version == 3 else _MPEG2_KBPS)[bitrate]
    length = (144 if version == 3 else 72) * 1000 * kbps // _RATES[version][rate] + padding
    frame = data[:length]
    tag_slot = not any(frame[4:]) or b"Xing" in frame or b"Info" in frame  # a placeholder (zeros) or the tag
    return data[length:] if tag_slot and len(frame) == length else data
