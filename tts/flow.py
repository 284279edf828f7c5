"""Conditional flow matching: the infilling masks for training, and the ODE solvers for sampling.

The path runs from noise `x0` at t = 0 to data `x1` at t = 1 along `x_t = (1 - t) x0 + t x1`, whose
velocity is `x1 - x0`; sampling integrates the predicted velocity from t = 0 to 1.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

SOLVERS = ("euler", "midpoint")
SCHEDULES = ("uniform", "epss")
# F5-TTS's empirically pruned step schedules (EPSS), in 32nds of the flow time: at a few steps, a
# grid dense near t = 0 and coarse near t = 1 was found to sound best. Other step counts are uniform.
EPSS_GRIDS = {
    5: (0, 2, 4, 8, 16, 32),
    6: (0, 2, 4, 6, 8, 16, 32),
    7: (0, 2, 4, 6, 8, 16, 24, 32),
    10: (0, 2, 4, 6, 8, 12, 16, 20, 24, 28, 32),
    12: (0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32),
    16: (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32),
}
# Sway coefficients outside this range make the time grid non-monotonic: the derivative of
# t + s (cos(pi t / 2) - 1 + t) is 1 + s at t = 0 and 1 + s (1 - pi / 2) at t = 1.
SWAY_RANGE = (-1.0, 1.0 / (math.pi / 2 - 1))


def random_span_mask(lengths: torch.Tensor, n_frames: int, frac_range: tuple[float, float],
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """One contiguous span per item covering a uniform random fraction of its valid frames.

    lengths: (B,) long → (B, N) bool, True = frame to generate (loss is taken there), False =
    prompt or padding. The span has at least one frame and lies inside `lengths`.
    """
    device = lengths.device
    frac = torch.empty(lengths.shape[0], device=device).uniform_(*frac_range, generator=generator)
    span = (frac * lengths).long().clamp(min=1)  # (B,)
    span = torch.minimum(span, lengths)
    start_frac = torch.rand(lengths.shape[0], device=device, generator=generator)
    start = (start_frac * (lengths - span + 1)).long()  # (B,) in [0, lengths - span]
    idx = torch.arange(n_frames, device=device)[None]  # (1, N)
    return (idx >= start[:, None]) & (idx < (start + span)[:, None])


def base_timesteps(steps: int, schedule: str, device: torch.device | str = "cpu") -> torch.Tensor:
    """`steps + 1` times from 0 to 1 before sway: uniform, or EPSS's grid where it has one. → (steps + 1,)"""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {SCHEDULES}")
    if schedule == "epss" and steps in EPSS_GRIDS:
        return torch.tensor(EPSS_GRIDS[steps], device=device, dtype=torch.float32) / 32
    return torch.linspace(0.0, 1.0, steps + 1, device=device, dtype=torch.float32)


def sway_timesteps(steps: int, sway: float, schedule: str = "uniform",
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """The `base_timesteps` grid, swayed: sway < 0 crowds the times near t = 0, where the coarse
    shape of the speech is decided (F5-TTS's sway sampling); sway = 0 leaves the grid. → (steps + 1,)"""
    if not SWAY_RANGE[0] <= sway <= SWAY_RANGE[1]:
        raise ValueError(f"sway must lie in [{SWAY_RANGE[0]}, {SWAY_RANGE[1]:.3f}], got {sway}")
    t = base_timesteps(steps, schedule, device)
    return t + sway * (torch.cos(math.pi / 2 * t) - 1 + t)


def solver_steps(nfe: int, solver: str) -> int:
    """ODE steps that spend `nfe` velocity evaluations: euler uses one per step, midpoint two."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    per_step = 1 if solver == "euler" else 2
    if nfe < per_step or nfe % per_step:
        raise ValueError(f"nfe must be a positive multiple of {per_step} for the {solver} solver, got {nfe}")
    return nfe // per_step


Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Stopped(Exception):
    """Raised by `integrate` when its `stop()` answered True before a step (nobody wants the result)."""


def integrate(velocity: Velocity, x0: torch.Tensor, timesteps: torch.Tensor, solver: str,
              stop: Callable[[], bool] | None = None) -> torch.Tensor:
    """Solve dx/dt = velocity(x, t) over `timesteps: (S + 1,)` from `x0: (B, N, D)`.

    `velocity(x: (B, N, D), t: (B,)) -> (B, N, D)`. Euler takes one evaluation per step; midpoint
    takes a half step, then the full step with the velocity found there. `stop()`, when given, is asked
    before each step; True raises `Stopped`, so a batch whose requests were all cancelled ends within a step.
    """
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of {SOLVERS}")
    x = x0
    B = x0.shape[0]
    for t0, t1 in zip(timesteps[:-1], timesteps[1:]):
        if stop is not None and stop():
            raise Stopped()
        dt = t1 - t0
        v = velocity(x, t0.expand(B))
        if solver == "midpoint":
            v = velocity(x + 0.5 * dt * v, (t0 + 0.5 * dt).expand(B))
        x = x + dt * v
    return x
