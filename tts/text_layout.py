"""How the text is laid over the frames: padded with filler at the end (F5-TTS) or spread evenly ("spread").

F5-TTS places token i on frame i and fills the rest with the filler token: the model has to discover where
in time each token is spoken, which takes on the order of 10⁵ updates. The spread layout (F5-TTS's
`average_upsampling` option, ZipVoice's text condition) repeats each token over about N/L frames instead, so
token i sits near the frames where it is spoken from the first step: an alignment prior.

Spread, exactly: an utterance with L tokens and N valid frames (text longer than the frames is cut to N
tokens first, as in the filler layout) gives token j `N // L` frames, plus one for each of the last
`N % L` tokens, in order (F5-TTS's choice). Frame f therefore shows token
`f // q` for `f < (L - r) q`, else `(L - r) + (f - (L - r) q) // (q + 1)`, with q = N // L, r = N % L.
The whole text (prompt transcript + new text) spreads over all valid frames (prompt + new), which is
right when the prompt and the new text are spoken at the same rate: the synthesiser sets the duration
from exactly that assumption.
"""
from __future__ import annotations

import torch

from codec.masks import length_mask

TEXT_LAYOUTS = ("filler", "spread")


def text_lengths(text: torch.Tensor) -> torch.Tensor:
    """text: (B, L) token ids, 0-padded (tokenizers never emit 0) → (B,) number of tokens."""
    return (text != 0).sum(dim=1)


def spread_index(tokens: torch.Tensor, frames: torch.Tensor, n_frames: int) -> torch.Tensor:
    """The token each frame shows under the spread layout (see the module docstring).

    tokens: (B,) token counts; frames: (B,) valid frame counts, each <= n_frames. Returns (B, n_frames)
    long: a token position in `0..min(tokens, frames) - 1` on valid frames, -1 on padding frames and on
    every frame of an item with no tokens.
    """
    if bool((frames > n_frames).any()):
        raise ValueError(f"frame counts {frames.tolist()} exceed n_frames={n_frames}")
    L = torch.minimum(tokens, frames).clamp(min=1)[:, None]  # (B, 1)
    q, r = frames[:, None] // L, frames[:, None] % L  # (B, 1): frames per token, tokens with one more
    f = torch.arange(n_frames, device=frames.device)[None]  # (1, N)
    short = (L - r) * q  # frames covered by the tokens of q frames
    index = torch.where(f < short, f // q.clamp(min=1), (L - r) + (f - short) // (q + 1))  # (B, N)
    valid = length_mask(frames, n_frames) & (tokens[:, None] > 0)
    return index.masked_fill(~valid, -1)


def spread(h: torch.Tensor, tokens: torch.Tensor, frames: torch.Tensor, n_frames: int) -> torch.Tensor:
    """Per-token features → per-frame features under the spread layout.

    h: (B, L, C) features of the tokens, valid up to `tokens: (B,)`; frames: (B,) valid frame counts.
    Returns (B, n_frames, C), zero on padding frames and for items with no tokens.
    """
    index = spread_index(tokens, frames, n_frames)  # (B, N)
    if h.shape[1] == 0:
        return h.new_zeros(h.shape[0], n_frames, h.shape[2])
    gathered = torch.gather(h, 1, index.clamp(min=0)[..., None].expand(-1, -1, h.shape[2]))  # (B, N, C)
    return gathered.masked_fill((index < 0)[..., None], 0.0)
