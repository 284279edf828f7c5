"""Inference options: the one place where synthesis defaults and their accepted ranges are set.

The Python API, the CLI and the app (page and HTTP API) all build a `SynthesisOptions`, so a value
is checked here and nowhere else: NaN, infinity, None (where not allowed), booleans and
non-numbers are refused with a message that names the field and its range.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import typing
from dataclasses import dataclass, field

from .flow import SCHEDULES, SOLVERS, SWAY_RANGE, solver_steps

# More steps than this buy no quality (F5-TTS uses 32) and tie a server up for minutes.
MAX_NFE = 128
# About a minute of speech: longer texts tie a GPU up for long enough that a shared server's queue
# stalls. Raise it with --max-chars on a private server.
DEFAULT_MAX_CHARS = 1000
MAX_SEED = 2**63 - 1
# Each try of the word check costs a generation and an ASR pass per failing piece: ten bound a request's time.
MAX_WORD_TRIES = 10


class OptionError(ValueError):
    """A synthesis setting outside its accepted range; `field` is the SynthesisOptions field's name."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _opt(default, help: str, range: tuple[float, float] | None = None, **kw):
    return field(default=default, metadata={"help": help, "range": range, **kw})


@dataclass(frozen=True)
class SynthesisOptions:
    nfe: int = _opt(32, "velocity evaluations of the ODE solver (midpoint spends two per step)", (1, MAX_NFE))
    cfg: float = _opt(2.0, "classifier-free guidance strength; 0 disables it and halves the work", (0.0, 10.0))
    sway: float = _opt(-1.0, "sway sampling coefficient; < 0 spends more steps early, 0 is uniform",
                       (SWAY_RANGE[0], math.floor(SWAY_RANGE[1] * 1000) / 1000))
    solver: str = _opt("euler", "ODE solver", choices=SOLVERS)
    # F5-TTS's default: the pruned grids exist for 5, 6, 7, 10, 12 and 16 steps only, so at the
    # default nfe it is the uniform grid.
    schedule: str = _opt("epss", "time grid: 'epss' (F5-TTS's pruned grid at 5, 6, 7, 10, 12 or 16 steps, "
                                 "uniform at other counts) or 'uniform'", choices=SCHEDULES)
    speed: float = _opt(1.0, "speaking rate relative to the reference", (0.25, 4.0))
    duration: float | None = _opt(None, "seconds of speech to generate, instead of the estimate from the "
                                        "reference's speaking rate (F5-TTS models: F5-TTS's fix_duration, the "
                                        "reference included)", (0.1, 600.0))
    seed: int | None = _opt(None, "random seed; the same seed gives the same audio; none draws one at random",
                            (0, MAX_SEED))
    # None: the model's rules decide (tts/rules: cubetts 15 s, 15 s, 0.1 s, trimmed; F5-TTS 12 s, 22 s minus
    # the reference, 0.15 s, not trimmed), so that each family runs as it was made to by default.
    max_ref_seconds: float | None = _opt(None, "longer references are cut at a pause before this point "
                                               "(default: the model's rules)", (1.0, 30.0))
    max_chunk_seconds: float | None = _opt(None, "longest piece of new speech generated in one pass (default: the "
                                                 "model's rules)", (1.0, 30.0))
    first_chunk_seconds: float | None = _opt(None, "cut the first piece at clauses to about this length, so that a "
                                                   "stream's first audio comes sooner (none: no such cut)",
                                             (0.5, 30.0))
    crossfade_seconds: float | None = _opt(None, "cross-fade between consecutive pieces of a long text (default: "
                                                 "the model's rules)", (0.0, 1.0))
    remove_silence: bool | None = _opt(None, "remove silence from the output (default: the model's rules)",
                                       choices=(True, False))
    batch_size: int = _opt(8, "pieces generated together in one batch", (1, 256))
    # Off by default: the check costs an ASR pass per piece, and a generation per try (tts/word_check.py).
    check_words: int = _opt(0, "generate each piece up to this many times, with the next seed, while the ASR's "
                               "transcript of it misses its text by a word error rate above max_wer; the best "
                               "is kept (0: no check; 1: check and report only)", (0, MAX_WORD_TRIES))
    max_wer: float = _opt(0.2, "word error rate above which check_words generates a piece again", (0.0, 1.0))
    max_chars: int = _opt(DEFAULT_MAX_CHARS, "longest text accepted, in characters", (1, 1_000_000))

    def __post_init__(self):
        hints = typing.get_type_hints(SynthesisOptions)
        for f in dataclasses.fields(self):
            if f.metadata.get("range") is not None:
                object.__setattr__(self, f.name, _checked(f.name, getattr(self, f.name), hints[f.name],
                                                          f.metadata["range"]))
        if self.solver not in SOLVERS:
            raise OptionError("solver", f"solver must be one of {', '.join(SOLVERS)}, got {self.solver!r}")
        try:
            solver_steps(self.nfe, self.solver)  # midpoint needs an even nfe
        except ValueError as err:
            raise OptionError("nfe", str(err)) from None
        if self.remove_silence is not None and not isinstance(self.remove_silence, bool):
            raise OptionError("remove_silence", f"remove_silence must be true, false or none, got {self.remove_silence!r}")
        if self.schedule not in SCHEDULES:
            raise OptionError("schedule", f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")

    def replace(self, **changes) -> "SynthesisOptions":
        """A copy with some fields changed; an unknown field name raises TypeError."""
        return dataclasses.replace(self, **changes)


def accepted(name: str) -> str:
    """The accepted values of a numeric field, as error messages and the README state them."""
    f = next(f for f in dataclasses.fields(SynthesisOptions) if f.name == name)
    lo, hi = f.metadata["range"]
    kind = typing.get_type_hints(SynthesisOptions)[name]
    whole = int in typing.get_args(kind) or kind is int
    text = f"{'a whole number' if whole else 'a number'} from {lo} to {hi}"
    return text + (", or none" if type(None) in typing.get_args(kind) else "")


def _checked(name: str, value, kind, bounds: tuple[float, float]):
    """`value` as the field's type (a whole float becomes an int), or OptionError naming the field and range."""
    optional = type(None) in typing.get_args(kind)
    if value is None and optional:
        return None
    whole = int in typing.get_args(kind) or kind is int
    # bool is a number to Python, never to a user; strings are parsed by the CLI or the page, not here.
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and whole and not float(value).is_integer():
        ok = False
    converted = (int(value) if whole else float(value)) if ok else None
    if converted is None or not bounds[0] <= converted <= bounds[1]:
        raise OptionError(name, f"{name} must be {accepted(name)}, got {value!r}")
    return converted


def number(text: str) -> int | float:
    """A command-line number, unchecked (`nan` and `1e9` included): SynthesisOptions checks the range."""
    try:
        return int(text)
    except ValueError:
        return float(text)  # a ValueError here: argparse reports "invalid number value"


def boolean(text: str) -> bool:
    """A command-line yes/no: true/false, yes/no, on/off, 1/0."""
    value = {"true": True, "yes": True, "on": True, "1": True, "false": False, "no": False, "off": False,
             "0": False}.get(text.strip().lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def add_option_arguments(parser: argparse._ActionsContainer, defaults: SynthesisOptions | None = None) -> None:
    """One `--flag` per SynthesisOptions field, with its default, type, accepted range and help."""
    defaults = defaults or SynthesisOptions()
    hints = typing.get_type_hints(SynthesisOptions)
    for f in dataclasses.fields(SynthesisOptions):
        kind = next(a for a in typing.get_args(hints[f.name]) or (hints[f.name],) if a is not type(None))
        where = f"; {accepted(f.name)}" if f.metadata.get("range") else ""
        parser.add_argument("--" + f.name.replace("_", "-"),
                            type=boolean if kind is bool else number if kind in (int, float) else kind,
                            default=getattr(defaults, f.name),
                            choices=None if kind is bool else f.metadata.get("choices"),
                            help=f.metadata["help"] + f" (default: %(default)s{where})")


def options_from_args(args: argparse.Namespace) -> SynthesisOptions:
    return SynthesisOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SynthesisOptions)})
