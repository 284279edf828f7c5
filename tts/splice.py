"""Cutting and joining waveforms for synthesis: silence at the ends, pauses, cross-fades, long pauses shortened.

Loudness is measured per 20 ms frame in dB; a frame is silent when it is `SILENCE_DB` below the
loudest frame of its clip, so the rules hold for quiet and loud recordings alike.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

FRAME_SECONDS = 0.02
SILENCE_DB = 40.0  # below the clip's loudest frame: room noise in a clean recording
SILENT_CLIP_DBFS = -60.0  # a clip whose loudest frame is below this holds no speech
MIN_PAUSE_SECONDS = 0.15  # shorter gaps occur inside words (stop closures)
KEEP_SECONDS = 0.05  # margin left around speech when trimming, so onsets are not clipped
# Pauses between sentences of read speech last about 0.3-0.5 s; longer gaps in generated speech are
# hesitations of the model, and cutting them to this keeps the rhythm of a sentence end.
MAX_PAUSE_SECONDS = 0.5


def frame_db(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """wav: (T,) → (F,) RMS level in dBFS of consecutive 20 ms frames (the last one partial)."""
    hop = max(1, round(FRAME_SECONDS * sample_rate))
    padded = F.pad(wav.float(), (0, -wav.shape[0] % hop))
    rms = padded.view(-1, hop).pow(2).mean(-1).sqrt()  # (F,)
    return 20 * torch.log10(rms.clamp_min(1e-10))


def is_silent(wav: torch.Tensor, sample_rate: int) -> bool:
    return wav.numel() == 0 or frame_db(wav, sample_rate).max().item() < SILENT_CLIP_DBFS


def _voiced(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
    db = frame_db(wav, sample_rate)
    return db > db.max() - SILENCE_DB  # (F,) bool


def trim_silence(wav: torch.Tensor, sample_rate: int) -> torch.Tensor:
    """wav: (T,) → the span from the first to the last voiced frame, plus a short margin."""
    if is_silent(wav, sample_rate):
        return wav[:0]
    hop = round(FRAME_SECONDS * sample_rate)
    voiced = _voiced(wav, sample_rate).nonzero().squeeze(1)
    keep = round(KEEP_SECONDS * sample_rate)
    start = max(0, int(voiced[0]) * hop - keep)
    end = min(wav.shape[0], (int(voiced[-1]) + 1) * hop + keep)
    return wav[start:end]


def cut_at_pause(wav: torch.Tensor, sample_rate: int, max_seconds: float) -> torch.Tensor | None:
    """wav: (T,) → wav cut in the middle of its last pause that ends within `max_seconds`.

    Returns None when no pause of MIN_PAUSE_SECONDS lies in the window.
    """
    hop = round(FRAME_SECONDS * sample_rate)
    limit = int(max_seconds * sample_rate) // hop  # frames allowed
    silent = ~_voiced(wav, sample_rate)[:limit]
    min_run = max(1, round(MIN_PAUSE_SECONDS / FRAME_SECONDS))
    run_end = None
    for i in range(silent.shape[0] - 1, -1, -1):
        if silent[i] and run_end is None:
            run_end = i + 1
        elif not silent[i] and run_end is not None:
            if run_end - (i + 1) >= min_run:
                return wav[: (i + 1 + run_end) // 2 * hop]
            run_end = None
    return None


def shorten_pauses(wav: torch.Tensor, sample_rate: int, max_pause: float = MAX_PAUSE_SECONDS) -> torch.Tensor:
    """wav: (T,) → (T',) with every silent stretch longer than `max_pause` cut down to `max_pause`.

    The cut is made in the middle of the pause, so the decay of the speech before it and the onset
    after it are kept.
    """
    if is_silent(wav, sample_rate):
        return wav
    hop = round(FRAME_SECONDS * sample_rate)
    silent = (~_voiced(wav, sample_rate)).tolist()  # (F,)
    keep = [True] * len(silent)
    max_frames = max(1, round(max_pause / FRAME_SECONDS))
    start = None
    for i, s in enumerate(silent + [False]):  # a voiced sentinel closes a pause at the very end
        if s and start is None:
            start = i
        elif not s and start is not None:
            if i - start > max_frames:
                head = max_frames // 2
                keep[start + head: i - (max_frames - head)] = [False] * (i - start - max_frames)
            start = None
    frame_keep = torch.tensor(keep)  # (F,)
    sample_keep = frame_keep.repeat_interleave(hop)[: wav.shape[0]]  # (F * hop,) → (T,)
    return wav[sample_keep]


def crossfade_join(pieces: list[torch.Tensor], sample_rate: int, seconds: float) -> torch.Tensor:
    """Join (T_i,) waveforms, overlapping each seam by `seconds` with an equal-power fade.

    The overlap is shortened where a piece is shorter than twice the fade.
    """
    out = pieces[0]
    for piece in pieces[1:]:
        n = min(round(seconds * sample_rate), out.shape[0] // 2, piece.shape[0] // 2)
        if n == 0:
            out = torch.cat([out, piece])
            continue
        ramp = torch.linspace(0.0, 1.0, n, device=piece.device, dtype=piece.dtype)
        fade_in, fade_out = torch.sin(ramp * torch.pi / 2), torch.cos(ramp * torch.pi / 2)
        seam = out[-n:] * fade_out + piece[:n] * fade_in
        out = torch.cat([out[:-n], seam, piece[n:]])
    return out
