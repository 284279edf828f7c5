"""Exponential moving average of a model's weights, the weights a TTS checkpoint is released with.

The schedule is F5-TTS's: the `ema_pytorch` defaults it trains with (`update_every=10`,
`update_after_step=100`, `power=2/3`, `beta=0.9999`), written as a pure function of the optimizer
step so that a resumed run, which restores the step and the EMA weights, continues the same average.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Generic, TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class EMASchedule:
    """When the EMA moves and by how much, as a function of the optimizer step `s` (1 after the first step).

    - step 1, and every `update_every`-th step up to `update_after` steps: the EMA copies the model;
    - every `update_every`-th step after that: `ema ← decay · ema + (1 − decay) · model`, with
      `decay = min(max_decay, 1 − (1 + k)^(−power))`, `k = s − update_after − 1`;
    - other steps: nothing.

    "Every `update_every`-th step" means `(s − 1) % update_every == 0` (steps 1, 11, 21, …), as `ema_pytorch`
    counts its calls from zero. The averaging window, `update_every / (1 − decay)` steps, grows with training:
    ~4.6k steps at step 10k, ~22k at 100k, and 100k (the `max_decay` cap) from step ~1M on.
    """

    max_decay: float = 0.9999
    update_every: int = 10
    update_after: int = 100
    power: float = 2 / 3

    def __post_init__(self):
        if not 0.0 <= self.max_decay < 1.0:
            raise ValueError(f"max_decay must be in [0, 1), got {self.max_decay}")
        if self.update_every < 1 or self.update_after < 0:
            raise ValueError(f"update_every must be ≥ 1 and update_after ≥ 0, got {self.update_every}, "
                             f"{self.update_after}")

    def action(self, step: int) -> str:
        """`"copy"`, `"average"` or `"none"` after optimizer step `step` (≥ 1)."""
        if step < 1:
            raise ValueError(f"the EMA follows optimizer steps 1, 2, …; got step {step}")
        if step == 1:
            return "copy"
        if (step - 1) % self.update_every:
            return "none"
        return "copy" if step - 1 <= self.update_after else "average"

    def decay(self, step: int) -> float:
        """The decay of an `"average"` update at `step`."""
        k = max(step - self.update_after - 1, 0)
        if k == 0:
            return 0.0
        return min(self.max_decay, 1.0 - (1.0 + k) ** -self.power)


class EMA(Generic[M]):
    """`ema.model`: a frozen copy of the model whose parameters follow `schedule`.

    Buffers (e.g. latent statistics, fixed during training) are copied as they are.
    """

    def __init__(self, model: M, schedule: EMASchedule):
        self.schedule = schedule
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        """Call after optimizer step `step` (1, 2, …) with the unwrapped model."""
        action = self.schedule.action(step)
        if action == "none":
            return
        ema_params = dict(self.model.named_parameters())
        for name, param in model.named_parameters():
            source = param.detach().to(ema_params[name].dtype)
            if action == "copy":
                ema_params[name].copy_(source)
            else:
                ema_params[name].lerp_(source, 1.0 - self.schedule.decay(step))
        ema_buffers = dict(self.model.named_buffers())
        for name, buf in model.named_buffers():
            ema_buffers[name].copy_(buf)
