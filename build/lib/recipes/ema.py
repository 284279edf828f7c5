"""Exponential moving average of a model's weights, the weights a TTS checkpoint is released with."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """`ema.model`: a frozen copy whose parameters follow `decay · ema + (1 − decay) · model`.

    The decay ramps up as `(1 + step) / (10 + step)` until it reaches `decay`, so the average is not
    dominated by the random initial weights. Buffers (e.g. latent statistics) are copied as they are.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        decay = min(self.decay, (1 + step) / (10 + step))
        ema_params = dict(self.model.named_parameters())
        for name, param in model.named_parameters():
            ema_params[name].lerp_(param.detach().to(ema_params[name].dtype), 1.0 - decay)
        ema_buffers = dict(self.model.named_buffers())
        for name, buf in model.named_buffers():
            ema_buffers[name].copy_(buf)
