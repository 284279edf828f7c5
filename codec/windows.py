"""Long audio in overlapping windows, so that encoding and decoding take memory bounded by the window.

Both halves of the codec attend over the whole clip (WavLM with relative position bias, the causal
decoder transformer), so their memory grows with the square of the clip's length: a 10-minute clip
needs tens of GB. Past `WINDOW_FRAMES`, a clip is cut into windows that each keep a central part and
see `CONTEXT_FRAMES` on either side, which are computed and dropped; the kept parts tile the clip.

- Encoding: the clip is normalised once as a whole (as in one pass), then each window's frames are
  exactly the whole clip's frames (WavLM's front end has a 320-sample stride and a 400-sample field);
  only attention beyond the context differs. Kept parts are joined end to end.
- Decoding: each window is decoded from its latent frames; neighbouring windows are cross-faded over
  `FADE_FRAMES` around each seam (linear, weights summing to one), which hides the step a window's
  own normalisation statistics (the decoder's upsampler normalises over the whole input) would leave.

Peak memory is then that of one window (≈ 30 s of audio) plus the clip's waveform and latents.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

WINDOW_FRAMES = 1500  # 30 s at 50 Hz: computed at once; the released models trained on 10 s crops
CONTEXT_FRAMES = 250  # 5 s each side: more than WavLM's 800-frame bias saturates only far beyond it
FADE_FRAMES = 10  # 0.2 s cross-fade between decoded windows


def frame_spans(n_frames: int, window: int | None = None,
                context: int | None = None) -> list[tuple[int, int, int, int]]:
    """`(start, end, keep_start, keep_end)` per window: frames [start, end) are computed, [keep_start, keep_end)
    kept. The kept ranges tile [0, n_frames) in equal parts of at most `window - 2 context` frames; one span
    when the clip fits in a window. Defaults: `WINDOW_FRAMES`, `CONTEXT_FRAMES`."""
    window = WINDOW_FRAMES if window is None else window
    context = CONTEXT_FRAMES if context is None else context
    if n_frames <= window:
        return [(0, n_frames, 0, n_frames)]
    count = math.ceil(n_frames / (window - 2 * context))
    bounds = [round(i * n_frames / count) for i in range(count + 1)]
    return [(max(0, a - context), min(n_frames, b + context), a, b) for a, b in zip(bounds, bounds[1:])]


def encode_windows(encode: Callable[[torch.Tensor], torch.Tensor], wav: torch.Tensor, n_frames: int,
                   hop: int, field: int) -> torch.Tensor:
    """One clip `wav: (T,)` (already normalised) → latent `(n_frames, D)`, window by window.

    `encode(piece: (1, T_w)) → (1, N_w, D)` encodes a window; frame j of a window starting at frame s
    covers samples [(s + j)·hop, (s + j)·hop + field).
    """
    parts = []
    for start, end, keep_start, keep_end in frame_spans(n_frames):
        piece = wav[start * hop: (end - 1) * hop + field]  # exactly end - start frames
        latent = encode(piece[None])[0]  # (end - start, D)
        parts.append(latent[keep_start - start: keep_end - start])
    return torch.cat(parts)


def decode_windows(decode: Callable[[torch.Tensor], torch.Tensor], latent: torch.Tensor,
                   samples_per_frame: int) -> torch.Tensor:
    """One clip `latent: (N, D)` → `wav: (N · samples_per_frame,)`, window by window, cross-faded at the seams.

    `decode(piece: (1, N_w, D)) → (1, N_w · samples_per_frame)` decodes a window.
    """
    n = latent.shape[0]
    spans = frame_spans(n)
    if len(spans) == 1:
        return decode(latent[None])[0]
    out = torch.zeros(n * samples_per_frame, device=latent.device)
    fade = FADE_FRAMES * samples_per_frame
    ramp = torch.linspace(0.0, 1.0, 2 * fade + 2, device=latent.device)[1:-1]  # (2 fade,), ramp + flip = 1
    for i, (start, end, keep_start, keep_end) in enumerate(spans):
        wav = decode(latent[None, start:end])[0].float()  # ((end - start) · spf,)
        # The kept part, widened by the fade on each inner side (inside the context, which is longer).
        a = keep_start - (FADE_FRAMES if i > 0 else 0)
        b = keep_end + (FADE_FRAMES if i < len(spans) - 1 else 0)
        piece = wav[(a - start) * samples_per_frame: (b - start) * samples_per_frame].clone()
        if i > 0:
            piece[:2 * fade] *= ramp
        if i < len(spans) - 1:
            piece[-2 * fade:] *= ramp.flip(0)
        out[a * samples_per_frame: b * samples_per_frame] += piece
    return out
