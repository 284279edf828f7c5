"""Per-dimension standardisation of speech latents, stored with the model that was trained on it."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class LatentNorm(nn.Module):
    """`(latent - mean) / std` per dimension. Buffers, so they are saved in `model.safetensors`.

    Flow matching starts from unit Gaussian noise; latents on the same scale make the straight path
    from noise to data equally long in every dimension.
    """

    mean: torch.Tensor  # (D,), a buffer
    std: torch.Tensor  # (D,), a buffer

    def __init__(self, latent_dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(latent_dim))
        self.register_buffer("std", torch.ones(latent_dim))

    def normalize(self, latent: torch.Tensor) -> torch.Tensor:
        """latent: (..., D) → (..., D)"""
        return (latent - self.mean) / self.std

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        """z: (..., D) → (..., D)"""
        return z * self.std + self.mean

    @torch.no_grad()
    def fit(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], min_std: float = 1e-4) -> "LatentNorm":
        """Set mean and std from `(latent: (B, N, D), mask: (B, N) bool)` batches, valid frames only.

        Accumulates in float64 so a whole corpus can stream through; `min_std` keeps a dead
        dimension from dividing by zero.
        """
        D = self.mean.numel()
        count = torch.zeros((), dtype=torch.float64)
        total = torch.zeros(D, dtype=torch.float64)
        total_sq = torch.zeros(D, dtype=torch.float64)
        for latent, mask in batches:
            frames = latent[mask].to(torch.float64).cpu()  # (M, D)
            count += frames.shape[0]
            total += frames.sum(0)
            total_sq += frames.pow(2).sum(0)
        if count < 2:
            raise ValueError("need at least two valid frames to estimate latent statistics")
        mean = total / count
        var = (total_sq / count - mean.pow(2)).clamp_min(0.0) * count / (count - 1)
        self.mean.copy_(mean.to(self.mean))
        self.std.copy_(var.sqrt().clamp_min(min_std).to(self.std))
        return self
