"""Rotary position embedding (RoPE), in the two channel layouts the checkpoints we load were trained with.

- "half": channel k turns with channel k + head_dim/2 (the released WavCube checkpoints);
- "pairs": channel 2i turns with channel 2i + 1 (x-transformers' layout, which F5-TTS uses).

The two differ only by a permutation of the channels; the angles are the same.
"""
from __future__ import annotations

import torch

LAYOUTS = ("half", "pairs")


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"unknown rotary layout {layout!r}; choose one of {LAYOUTS}")


def rotary_frequencies(dim: int, device: torch.device | str = "cpu", theta: float = 10000.0) -> torch.Tensor:
    """(dim / 2,) float32: the frequencies theta^(-2i / dim)."""
    return 1.0 / (theta ** (torch.arange(0, dim, 2, device=device, dtype=torch.float32) / dim))


def rotary_angles(n: int, dim: int, device: torch.device | str = "cpu", theta: float = 10000.0,
                  inv_freq: torch.Tensor | None = None) -> torch.Tensor:
    """(N, dim / 2) float32: position p times the frequencies, for p = 0..n-1. `inv_freq` (dim / 2,): a
    checkpoint's own frequencies (a float16 file stores rounded ones), else `rotary_frequencies(dim)`."""
    inv_freq = rotary_frequencies(dim, device, theta) if inv_freq is None else inv_freq.to(device, torch.float32)
    return torch.arange(n, device=device, dtype=torch.float32)[:, None] * inv_freq[None]


def rotary_tables(n: int, head_dim: int, layout: str, device: torch.device | str = "cpu",
                  theta: float = 10000.0, inv_freq: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin), each (N, head_dim) float32, each angle on the two channels `layout` turns together."""
    _check_layout(layout)
    angles = rotary_angles(n, head_dim, device, theta, inv_freq)  # (N, head_dim / 2)
    if layout == "half":
        angles = torch.cat([angles, angles], dim=-1)
    else:
        angles = angles.repeat_interleave(2, dim=-1)
    return angles.cos(), angles.sin()  # (N, head_dim)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str) -> torch.Tensor:
    """x: (..., N, head_dim) turned by position, with tables from `rotary_tables` of the same layout.

    The rotation runs in float32 and is cast back: in bf16 the angles of positions a few hundred apart round
    to the same value, and long utterances lose their order."""
    _check_layout(layout)
    xf = x.float()
    if layout == "half":
        half = x.shape[-1] // 2
        rotated = torch.cat([-xf[..., half:], xf[..., :half]], dim=-1)
    else:
        pairs = xf.unflatten(-1, (-1, 2))  # (..., N, head_dim / 2, 2)
        rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)  # (..., N, head_dim)
    return (xf * cos + rotated * sin).to(x.dtype)
