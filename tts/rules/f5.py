"""F5-TTS's inference rules, exactly: F5-TTS 1.1.22's `F5TTS.infer` (its api.py and infer/utils_infer.py).

For a text F5-TTS generates in one chunk, a model run by these rules returns F5-TTS's waveform for the
same seed (float32, CPU; tests/tts/test_f5_pipeline.py against fixtures made by F5-TTS's own code):

- Reference: as 16-bit PCM (what F5-TTS reads from a WAV file), cut to 12 s at a silence of 1 s (-50 dBFS),
  else of 0.1 s (-40 dBFS), else hard, stopping once past 6 s; edges below -42 dBFS trimmed; 50 ms of silence
  appended (pydub's rules, through pydub itself, so its rounding is F5-TTS's).
- Loudness: a reference quieter than RMS 0.1 is raised to it (measured at the clip's own rate, before
  resampling) and the output lowered by the same factor.
- Transcript: ends in ". " (or "。"), then one more space after a final one-byte character.
- Chunks: sentences and clauses (split after punctuation) packed up to the UTF-8 bytes the reference
  speaks in 22 s minus its own length (`max_chunk_seconds`, when given, replaces that budget).
- Durations: the prompt's `T // hop` frames per UTF-8 byte of its transcript, times the chunk's bytes,
  over `speed` (texts under 10 bytes at speed 0.3); at least one frame more than the prompt and the
  tokens. `duration` is F5-TTS's `fix_duration`: the total, the reference included.
- Noise: each text's generator seeded once, the chunks' noise drawn in order (F5-TTS draws from its
  global generator, in threads when there are several chunks, so there only one chunk is reproducible).
- Decoding: from the prompt's last frame `T // hop` on, without the prompt. Joins: linear cross-fades of
  0.15 s. Silence is removed only when asked (`remove_silence`, as F5-TTS's file output: 1 s at -50 dBFS
  kept to 0.5 s).
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence

import numpy as np
import soundfile as sf
import torch

from codec.audio import AudioError, resample
from codec.mel import MelCodec

from ..options import SynthesisOptions
from .base import MIN_REF_SECONDS, Piece, Reference, Rules, Transcriber

logger = logging.getLogger(__name__)

TARGET_RMS = 0.1  # quieter references are raised to this loudness, and the output lowered alike
SHORT_TEXT_BYTES = 10  # texts shorter than this are spoken at SHORT_TEXT_SPEED: the byte rule underestimates them
SHORT_TEXT_SPEED = 0.3
MAX_SECONDS = 22.0  # reference + chunk: the length F5-TTS sizes its chunks to
MAX_FRAMES = 65536  # F5-TTS's cap on the frames of one chunk
_SENTENCE_END = re.compile(r"(?<=[;:,.!?])\s+|(?<=[；：，。！？])")
# Reference clipping (milliseconds and dBFS, pydub's units): a long silence first, then a short one.
_CLIP_PASSES = ((1000, -50), (100, -40))
_KEEP_SILENCE_MS = 1000
_EDGE_DBFS = -42
_TAIL_MS = 50
_SEEK_MS = 10
# remove_silence, as F5-TTS's file output applies it.
_GAP_MS, _GAP_DBFS, _GAP_KEEP_MS = 1000, -50, 500


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def with_sentence_end(text: str) -> str:
    """The transcript as F5-TTS's reference preparation leaves it: ending in ". " or "。"."""
    if not text.endswith(". ") and not text.endswith("。"):
        text += " " if text.endswith(".") else ". "
    return text


def reference_text(text: str) -> str:
    """The prompt transcript as F5-TTS's model reads it: `with_sentence_end`, then a space after a final
    one-byte character, so that the new text starts a new sentence."""
    text = with_sentence_end(text)
    return text + " " if utf8_len(text[-1]) == 1 else text


def new_frames(ref_frames: int, ref_text: str, text: str, speed: float) -> int:
    """Frames for `text`: the prompt's frames per UTF-8 byte of its (`reference_text`) transcript."""
    if utf8_len(text) < SHORT_TEXT_BYTES:
        speed = SHORT_TEXT_SPEED
    return int(ref_frames / utf8_len(ref_text) * utf8_len(text) / speed)


def loudness_gain(wav: torch.Tensor) -> float:
    """wav: (T,) → the factor that raises its RMS to TARGET_RMS; 1 for louder clips."""
    rms = torch.sqrt(torch.mean(torch.square(wav.float()))).item()
    return TARGET_RMS / rms if 0 < rms < TARGET_RMS else 1.0


def split_text(text: str, max_bytes: int) -> list[str]:
    """F5-TTS's chunks: sentences and clauses (split after punctuation) packed up to `max_bytes`."""
    chunks: list[str] = []
    current = ""
    for part in _SENTENCE_END.split(text):
        if not part:
            continue
        if current and utf8_len(current) + utf8_len(part) > max_bytes:
            chunks.append(current.strip())
            current = ""
        current += part + " " if utf8_len(part[-1]) == 1 else part
    if current.strip():
        chunks.append(current.strip())
    return chunks


def crossfade(wavs: list[torch.Tensor], sample_rate: int, seconds: float) -> torch.Tensor:
    """F5-TTS's joins: each seam overlapped by `seconds` (less where a piece is shorter), linear fades,
    computed in float64 as F5-TTS's numpy does."""
    out = wavs[0].double()
    for piece in wavs[1:]:
        piece = piece.double()
        n = min(int(seconds * sample_rate), out.shape[0], piece.shape[0])
        if n <= 0:
            out = torch.cat([out, piece])
            continue
        fade_out, fade_in = torch.from_numpy(np.linspace(1, 0, n)), torch.from_numpy(np.linspace(0, 1, n))
        out = torch.cat([out[:-n], out[-n:] * fade_out + piece[:n] * fade_in, piece[n:]])
    return out.float()


def _segment(wav: torch.Tensor, sample_rate: int, written: bool = False):
    """A float waveform (T,) → a 16-bit mono pydub AudioSegment: what F5-TTS reads from a 16-bit WAV (the exact
    inverse of soundfile's reading of one), or, `written`, what F5-TTS writes of its output (soundfile's own
    float to 16-bit conversion, in memory)."""
    from pydub import AudioSegment

    if written:
        buffer = io.BytesIO()
        sf.write(buffer, wav.numpy(), sample_rate, format="WAV", subtype="PCM_16")
        buffer.seek(0)
        pcm = sf.read(buffer, dtype="int16")[0]
    else:
        pcm = (wav * 32768).round().clamp(-32768, 32767).to(torch.int16).numpy()
    return AudioSegment(pcm.tobytes(), frame_rate=sample_rate, sample_width=2, channels=1)


def _samples(segment) -> tuple[torch.Tensor, int]:
    """A pydub AudioSegment → (mono float32 (T,), rate), as torchaudio reads F5-TTS's 16-bit temporary WAV."""
    data = np.array(segment.get_array_of_samples(), dtype=np.float32).reshape(-1, segment.channels)
    return torch.from_numpy(data.mean(axis=1) / 32768.0), segment.frame_rate  # (T, C) → (T,); one channel: exact


def clip_reference(wav: torch.Tensor, sample_rate: int, max_seconds: float = 12.0) -> tuple[torch.Tensor, int]:
    """F5-TTS's reference preparation: (T,) at `sample_rate` → (T',) at the rate it leaves (pydub raises rates
    below 11,025 Hz to that), cut to `max_seconds` at silences, edges trimmed, 50 ms of silence appended."""
    from pydub import AudioSegment, silence

    limit_ms = int(max_seconds * 1000)
    audio = _segment(wav, sample_rate)
    clipped = audio
    for min_silence, threshold in _CLIP_PASSES:
        clipped = AudioSegment.silent(duration=0)
        for seg in silence.split_on_silence(audio, min_silence_len=min_silence, silence_thresh=threshold,
                                            keep_silence=_KEEP_SILENCE_MS, seek_step=_SEEK_MS):
            if len(clipped) > limit_ms // 2 and len(clipped + seg) > limit_ms:
                break
            clipped += seg
        if len(clipped) <= limit_ms:
            break
    if len(clipped) > limit_ms:
        clipped = clipped[:limit_ms]
    start = silence.detect_leading_silence(clipped, silence_threshold=_EDGE_DBFS)
    clipped = clipped[start:]
    end = silence.detect_leading_silence(clipped.reverse(), silence_threshold=_EDGE_DBFS)
    if end > 0:
        clipped = clipped[: len(clipped) - end]
    return _samples(clipped + AudioSegment.silent(duration=_TAIL_MS))


def remove_long_silences(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """F5-TTS's `remove_silence` on its output file: the waveform as written to 16-bit WAV, with each silence
    of 1 s or more (-50 dBFS) kept to 0.5 s at each side of the speech."""
    from pydub import AudioSegment, silence

    out = AudioSegment.silent(duration=0)
    for seg in silence.split_on_silence(_segment(wav, sample_rate, written=True), min_silence_len=_GAP_MS,
                                        silence_thresh=_GAP_DBFS, keep_silence=_GAP_KEEP_MS, seek_step=_SEEK_MS):
        out += seg
    if len(out) == 0:
        return wav[:0]
    return resample(*_samples(out), sample_rate)


class F5Rules(Rules):
    name = "f5"
    max_ref_seconds = 12.0
    crossfade_seconds = 0.15
    remove_silence = False
    blank_text_means_asr = True

    def prepare_reference(self, wav: torch.Tensor, sample_rate: int, ref_text: str | None,
                          opts: SynthesisOptions, transcribe: Transcriber) -> Reference:
        clip, rate = clip_reference(wav, sample_rate, self.ref_limit(opts))
        seconds = clip.shape[0] / rate
        if seconds - _TAIL_MS / 1000 < MIN_REF_SECONDS:
            raise AudioError(f"the reference holds {max(0.0, seconds - _TAIL_MS / 1000):.2f} s of sound once its "
                             f"silent edges are trimmed; at least {MIN_REF_SECONDS:.0f} s is needed")
        ref_text = self.transcript(ref_text, clip, rate, transcribe)
        gain = loudness_gain(clip)
        sr = self.codec.sample_rate
        audio = resample(clip * gain if gain != 1.0 else clip, rate, sr)
        latent, _ = self.codec.encode(audio, sr)  # (1, T // hop + 1, D): a centred STFT
        text = reference_text(ref_text)
        return Reference(audio.clone(), latent[0], text, self.tokenizer.tokenize(text),
                         frames=audio.shape[0] // self.codec.hop_length, units=utf8_len(text),
                         seconds=seconds, gain=gain)

    def plan(self, text_index: int, text: str, ref: Reference, opts: SynthesisOptions) -> list[Piece]:
        # Chunks are sized by the transcript without the space `reference_text` adds, as F5-TTS sizes them.
        spoken = ref.text[:-1] if ref.text.endswith("  ") else ref.text
        bytes_per_second = utf8_len(spoken) / ref.seconds
        budget = MAX_SECONDS - ref.seconds if opts.max_chunk_seconds is None else opts.max_chunk_seconds
        chunks = split_text(text, int(bytes_per_second * budget * opts.speed))
        if opts.first_chunk_seconds is not None:  # a short first chunk, cut at clauses (cubetts' option)
            chunks = split_text(chunks[0], int(bytes_per_second * opts.first_chunk_seconds * opts.speed)) + chunks[1:]
        hop, sr = self.codec.hop_length, self.codec.sample_rate
        fixed: list[float | None] = [opts.duration] * len(chunks)
        if opts.duration is not None and len(chunks) > 1:  # the total shared out by bytes, seams included
            ref_seconds = ref.frames * hop / sr
            weights = [utf8_len(c) for c in chunks]
            share = opts.duration - ref_seconds + self.crossfade(opts) * (len(chunks) - 1)
            fixed = [ref_seconds + share * w / sum(weights) for w in weights]
        pieces = []
        for j, (chunk, total) in enumerate(zip(chunks, fixed)):
            ids = self.tokenizer.encode(ref.text + chunk)
            if total is not None:
                length = int(total * sr / hop)
            else:
                length = ref.frames + new_frames(ref.frames, ref.text, chunk, opts.speed)
            # At least one frame past the prompt and the text, as F5-TTS's sampler ensures.
            length = min(max(length, max(len(ids), ref.latent.shape[0]) + 1), MAX_FRAMES)
            pieces.append(Piece(text_index, j, ids, length, chunk))
        return pieces

    def duration_for(self, ref: Reference, new_seconds: float) -> float:
        # fix_duration counts the reference; half a frame more, so that int() lands on the frame asked for.
        hop, sr = self.codec.hop_length, self.codec.sample_rate
        return (ref.frames + round(new_seconds * sr / hop) + 0.5) * hop / sr

    def noise(self, seed: int, pieces: Sequence[Piece], index: int, dim: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        for piece in pieces[:index]:  # the draws of the chunks before it
            torch.randn(piece.length, dim, generator=gen)
        return torch.randn(pieces[index].length, dim, generator=gen)

    def decode(self, latent: torch.Tensor, lengths: torch.Tensor,
               batch: Sequence[tuple[Reference, Piece]]) -> list[torch.Tensor]:
        starts = [ref.frames for ref, _ in batch]
        B = latent.shape[0]
        n = max(int(lengths[i]) - starts[i] for i in range(B))
        new = latent.new_zeros(B, n, latent.shape[2])
        for i, start in enumerate(starts):
            new[i, : int(lengths[i]) - start] = latent[i, start: int(lengths[i])]
        counts = lengths.cpu() - torch.tensor(starts)
        wavs = self.decode_all(new, counts.to(lengths.device), [0] * B)
        if isinstance(self.codec, MelCodec):  # what F5-TTS's vocoder returns: no padding to whole hops
            wavs = [wav[: self.codec.vocoder_samples(int(n))] for wav, n in zip(wavs, counts)]
        return [wav / ref.gain if ref.gain != 1.0 else wav for wav, (ref, _) in zip(wavs, batch)]

    def join(self, wavs: list[torch.Tensor], opts: SynthesisOptions) -> torch.Tensor:
        return wavs[0] if len(wavs) == 1 else crossfade(wavs, self.codec.sample_rate, self.crossfade(opts))

    def finish(self, wav: torch.Tensor, opts: SynthesisOptions) -> torch.Tensor:
        return remove_long_silences(wav, self.codec.sample_rate) if self.trims(opts) else wav
