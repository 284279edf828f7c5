"""Padding masks from lengths: `mask: (B, N) bool, True = valid`, the convention of every model here."""
from __future__ import annotations

import torch


def length_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """`lengths: (B,)` → `mask: (B, max_len)` bool, True = valid."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
