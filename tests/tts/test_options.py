import argparse
import dataclasses

import pytest

from tts.options import OptionError, SynthesisOptions, add_option_arguments, options_from_args


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_option_arguments(p)
    return p


def test_cli_defaults_are_the_dataclass_defaults():
    assert options_from_args(parser().parse_args([])) == SynthesisOptions()
    assert SynthesisOptions().nfe == 32 and SynthesisOptions().cfg == 2.0 and SynthesisOptions().sway == -1.0


def test_every_field_has_a_flag_that_parses():
    args = parser().parse_args(["--nfe", "16", "--cfg", "0", "--solver", "midpoint", "--seed", "3",
                                "--duration", "2.5", "--max-chunk-seconds", "8", "--batch-size", "2",
                                "--schedule", "uniform"])
    opts = options_from_args(args)
    assert (opts.nfe, opts.cfg, opts.solver, opts.seed, opts.duration, opts.max_chunk_seconds, opts.batch_size,
            opts.schedule) == (16, 0.0, "midpoint", 3, 2.5, 8.0, 2, "uniform")
    flags = {a.dest for a in parser()._actions}
    assert {f.name for f in dataclasses.fields(SynthesisOptions)} <= flags
    with pytest.raises(SystemExit):
        parser().parse_args(["--solver", "rk4"])
    with pytest.raises(SystemExit):
        parser().parse_args(["--schedule", "cosine"])


@pytest.mark.parametrize("change, message", [
    ({"nfe": 0}, "nfe"), ({"nfe": 7, "solver": "midpoint"}, "multiple of 2"), ({"sway": 3.0}, "sway"),
    ({"speed": 0.0}, "speed"), ({"cfg": -1.0}, "cfg"), ({"duration": -1.0}, "duration"),
    ({"max_ref_seconds": 0.5}, "max_ref_seconds"), ({"batch_size": 0}, "batch_size"), ({"schedule": "x"}, "schedule"),
])
def test_invalid_options_raise(change, message):
    with pytest.raises(ValueError, match=message):
        SynthesisOptions(**change)


def test_replace_rejects_unknown_fields():
    assert SynthesisOptions().replace(speed=1.5).speed == 1.5
    with pytest.raises(TypeError):
        SynthesisOptions().replace(sped=1.5)


@pytest.mark.parametrize("name", ["nfe", "cfg", "sway", "speed", "max_ref_seconds", "max_chunk_seconds",
                                  "crossfade_seconds", "batch_size", "max_chars", "duration", "seed"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), True, "2", [1], 10**20])
def test_every_numeric_field_refuses_non_numbers_naming_field_and_range(name, value):
    with pytest.raises(OptionError, match=rf"^{name} must be a (whole )?number from \S+ to \S+") as info:
        SynthesisOptions(**{name: value})
    assert info.value.field == name


def test_none_is_refused_except_where_it_means_something():
    assert SynthesisOptions(seed=None).seed is None and SynthesisOptions(duration=None).duration is None
    with pytest.raises(OptionError, match="cfg must be a number from 0.0 to 10.0, got None"):
        SynthesisOptions(cfg=None)


def test_whole_floats_become_ints_and_the_cli_refuses_via_the_options():
    opts = SynthesisOptions(nfe=16.0, seed=3.0, cfg=1)
    assert (opts.nfe, opts.seed, opts.cfg) == (16, 3, 1.0) and type(opts.nfe) is int and type(opts.cfg) is float
    with pytest.raises(OptionError, match="seed must be a whole number from 0"):
        options_from_args(parser().parse_args(["--seed", "-1"]))
    with pytest.raises(OptionError, match="nfe must be a whole number from 1 to 128, got nan"):
        options_from_args(parser().parse_args(["--nfe", "nan"]))
