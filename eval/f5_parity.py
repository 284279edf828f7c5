"""cubetts against F5-TTS's own waveforms: each case of `tests/data/f5_pipeline` (recorded by F5-TTS 1.1.22's
`F5TTS.infer` on small random models, see its README) run through `Synthesizer` with the same arguments.

    python -m eval.f5_parity            # one line per case: lengths and the relative error of the waveforms

"F5-TTS exact" means: for a text F5-TTS speaks in one chunk, `synthesize(text, ref, ref_text=..., seed=S, nfe=...,
cfg=..., sway=..., speed=...)` returns F5-TTS's waveform for seed S (same length, relative error below 1e-3 in
float32 on the CPU). Texts F5-TTS splits into several chunks get its chunks, frame counts and joins; F5-TTS draws
their noise in threads, so only their lengths and chunking are compared.
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from codec import MelCodec

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "f5_pipeline"
TOLERANCE = 1e-3  # relative L2 error of a single-chunk waveform


@dataclass(frozen=True)
class Outcome:
    name: str
    f5_samples: int
    our_samples: int
    error: float | None  # relative L2 error of the waveforms; None where F5-TTS's waveform is not reproducible
    chunks_equal: bool

    def line(self) -> str:
        err = "not comparable (several chunks)" if self.error is None else f"relative error {self.error:.2e}"
        return (f"{self.name:26s} F5-TTS {self.f5_samples:7d} samples, cubetts {self.our_samples:7d}: {err}"
                f"{'' if self.chunks_equal else '  CHUNKS DIFFER'}")


def load_fixture(root: Path = FIXTURE) -> dict:
    return torch.load(root / "pipeline.pt", weights_only=False)


def synthesizer(fixture: dict, key: str, root: Path = FIXTURE):
    """The fixture's model `key` ("v1", "v0") as F5-TTS loaded it, with its random Vocos."""
    from tts import Synthesizer, load_f5_checkpoint

    info = fixture["models"][key]
    model = load_f5_checkpoint(root / info["checkpoint"], root / info["vocab"], arch=dict(info["arch"]))

    def no_asr(wav: torch.Tensor, sr: int) -> str:
        raise AssertionError("every fixture case gives its reference text")

    return Synthesizer(model, MelCodec.from_pretrained(root / info["vocos"]), transcriber=no_asr)


def run_case(synth, case: dict, root: Path = FIXTURE) -> tuple[torch.Tensor, list]:
    """One fixture case through `Synthesizer`: (waveform, its pieces)."""
    call = case["call"]
    opts = dict(seed=call["seed"], nfe=call["nfe_step"], cfg=call["cfg_strength"], sway=call["sway_sampling_coef"],
                speed=call["speed"], duration=call["fix_duration"], remove_silence=call["remove_silence"],
                crossfade_seconds=call["cross_fade_duration"])
    job = synth.prepare([call["gen_text"]], root / call["ref_file"], ref_text=call["ref_text"], **opts)
    return synth.generate([job])[0][0], job.pieces


def expected_wav(case: dict) -> torch.Tensor | None:
    """F5-TTS's waveform of a case as its user gets it: the array `infer` returns, or the file it writes
    when asked to remove silence (16-bit)."""
    if case["call"]["remove_silence"]:
        return case["written_file"]["pcm"].float() / 32768
    return case.get("wav")


def compare(fixture: dict, root: Path = FIXTURE) -> list[Outcome]:
    synths: dict[str, object] = {}
    out = []
    for case in fixture["cases"]:
        synth = synths.setdefault(case["model"], synthesizer(fixture, case["model"], root))
        wav, pieces = run_case(synth, case, root)
        f5 = expected_wav(case)
        single = len(case["chunks"]) == 1
        chunks_equal = [p.text for p in pieces] == case["chunks"] and \
            [p.length for p in pieces] == [c["duration"] for c in case["per_chunk"]]
        error = None
        if single and f5 is not None and f5.shape == wav.shape:
            error = ((wav - f5).norm() / f5.norm().clamp_min(1e-12)).item()
        elif single and f5 is not None:
            error = float("inf")
        out.append(Outcome(case["name"], case["wav_len"] if f5 is None else f5.shape[0], wav.shape[0], error,
                           chunks_equal))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="python -m eval.f5_parity")
    parser.add_argument("--fixture", type=Path, default=FIXTURE, help="folder made by its generate.py")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    outcomes = compare(load_fixture(args.fixture), args.fixture)
    for o in outcomes:
        print(o.line())
    bad = [o for o in outcomes if not o.chunks_equal or (o.error is not None and not o.error < TOLERANCE)]
    print(f"{len(outcomes) - len(bad)} of {len(outcomes)} cases are F5-TTS's (tolerance {TOLERANCE:g})")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
