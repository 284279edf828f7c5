import argparse
import dataclasses

import pytest

from tts.options import SynthesisOptions, add_option_arguments, options_from_args


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
