"""Inference options: the one place where synthesis defaults are set (API, CLI and app read them here)."""
from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field

from .flow import SCHEDULES, SOLVERS, SWAY_RANGE, solver_steps


def _opt(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


@dataclass(frozen=True)
class SynthesisOptions:
    nfe: int = _opt(32, "velocity evaluations of the ODE solver (midpoint spends two per step)")
    cfg: float = _opt(2.0, "classifier-free guidance strength; 0 disables it and halves the work")
    sway: float = _opt(-1.0, "sway sampling coefficient; < 0 spends more steps early, 0 is uniform")
    solver: str = _opt("euler", "ODE solver", choices=SOLVERS)
    # F5-TTS's default: the pruned grids exist for 5, 6, 7, 10, 12 and 16 steps only, so at the
    # default nfe it is the uniform grid.
    schedule: str = _opt("epss", "time grid: 'epss' (F5-TTS's pruned grid at 5, 6, 7, 10, 12 or 16 steps, "
                                 "uniform at other counts) or 'uniform'", choices=SCHEDULES)
    speed: float = _opt(1.0, "speaking rate relative to the reference")
    duration: float | None = _opt(None, "seconds of speech to generate, instead of the estimate "
                                        "from the reference's speaking rate")
    seed: int | None = _opt(None, "random seed; the same seed gives the same audio")
    max_ref_seconds: float = _opt(15.0, "longer references are cut at a pause before this point")
    # Long text is split into pieces of about this length at sentence ends: the model was trained
    # on utterances of up to ~30 s, prompt included.
    max_chunk_seconds: float = _opt(15.0, "longest piece generated in one pass")
    crossfade_seconds: float = _opt(0.1, "cross-fade between consecutive pieces of a long text")
    batch_size: int = _opt(8, "pieces generated together in one batch")

    def __post_init__(self):
        solver_steps(self.nfe, self.solver)  # validates solver and nfe
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}")
        if not SWAY_RANGE[0] <= self.sway <= SWAY_RANGE[1]:
            raise ValueError(f"sway must lie in [{SWAY_RANGE[0]}, {SWAY_RANGE[1]:.3f}], got {self.sway}")
        for name in ("speed", "max_ref_seconds", "max_chunk_seconds", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.cfg < 0 or self.crossfade_seconds < 0:
            raise ValueError("cfg and crossfade_seconds must be non-negative")
        if self.duration is not None and self.duration <= 0:
            raise ValueError(f"duration must be positive, got {self.duration}")
        if self.max_ref_seconds < 1.0:
            raise ValueError("max_ref_seconds must be at least 1 s, the shortest usable reference")

    def replace(self, **changes) -> "SynthesisOptions":
        """A copy with some fields changed; an unknown field name raises TypeError."""
        return dataclasses.replace(self, **changes)


def add_option_arguments(parser: argparse.ArgumentParser, defaults: SynthesisOptions | None = None) -> None:
    """One `--flag` per SynthesisOptions field, with its default, type and help."""
    defaults = defaults or SynthesisOptions()
    hints = typing.get_type_hints(SynthesisOptions)
    for f in dataclasses.fields(SynthesisOptions):
        kind = next(a for a in typing.get_args(hints[f.name]) or (hints[f.name],) if a is not type(None))
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind, default=getattr(defaults, f.name),
                            choices=f.metadata.get("choices"), help=f.metadata["help"] + " (default: %(default)s)")


def options_from_args(args: argparse.Namespace) -> SynthesisOptions:
    return SynthesisOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SynthesisOptions)})
