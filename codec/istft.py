"""ISTFT head: hidden frames → complex spectrum → waveform, padding-aware.

Built on vocos' `ISTFTHead` (same `out` projection, same "same"-padded ISTFT, same key names as the
released checkpoints). What it adds is a frame mask: in a padded batch, padded frames contribute
nothing to the overlap-add and nothing to the window envelope, so the tail of each clip comes out
exactly as when the clip is decoded alone.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from vocos.heads import ISTFTHead as VocosISTFTHead

from .masks import length_mask


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """`frames: (B, W, T)` → `(B, (T - 1) * hop + W)` summed at stride `hop`."""
    b, w, t = frames.shape
    out = F.fold(frames, output_size=(1, (t - 1) * hop + w), kernel_size=(1, w), stride=(1, hop))
    return out[:, 0, 0]  # (B, L)


def masked_istft(
    spec: torch.Tensor, window: torch.Tensor, hop: int, frame_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Inverse STFT with "same" padding (`(win - hop) / 2` trimmed from each end).

    `spec: (B, n_fft/2 + 1, T)` complex, `frame_mask: (B, T)` bool (None = all valid) →
    `wav: (B, T * hop)`; samples past a clip's last valid frame are zero.
    """
    b, _, t = spec.shape
    win = window.shape[0]
    pad = (win - hop) // 2
    frames = torch.fft.irfft(spec, win, dim=1, norm="backward") * window[None, :, None]  # (B, W, T)
    weights = window.square()[None, :, None].expand(b, win, t)
    if frame_mask is not None:
        m = frame_mask[:, None, :].to(frames.dtype)
        frames, weights = frames * m, weights * m
    y = overlap_add(frames, hop)[:, pad:-pad]  # (B, T * hop)
    envelope = overlap_add(weights, hop)[:, pad:-pad]
    valid = envelope > 1e-11
    if frame_mask is not None:
        # The last valid frame's window reaches past the clip's end; those samples are not the clip's.
        valid = valid & length_mask(frame_mask.sum(dim=1) * hop, y.shape[1])
    return torch.where(valid, y / torch.where(valid, envelope, 1.0), 0.0)


class ISTFTHead(VocosISTFTHead):
    """`forward(x: (B, T, dim), frame_mask: (B, T) | None) → wav: (B, T * hop)`.

    Magnitude is `exp(.)` clipped at 100 and phase is free, as in Vocos. The magnitude/phase projection,
    the complex spectrum and the inverse transform run in float32 even under bf16 autocast: `exp`
    turns bf16's rounding of the log-magnitude (up to 0.4 % relative) into amplitude error, and bf16
    resolves a phase of a few radians only to ~0.01 rad.
    """

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            spec = self.out(x.float()).transpose(1, 2)  # (B, n_fft + 2, T)
            log_mag, phase = spec.chunk(2, dim=1)
            mag = log_mag.exp().clip(max=1e2)
            complex_spec = torch.polar(mag, phase)
            return masked_istft(complex_spec, self.istft.window.float(), self.istft.hop_length, frame_mask)
