"""What the word check (`SynthesisOptions.check_words`, tts/word_check.py) costs: one synthesize call timed with
it off, on and quiet, and on with every try missing.

    python -m eval.bench_word_check [--size tiny] [--tries 3] [--repeats 3]

Protocol: a TTS model and WavCube of `--size` with random weights (seed 0), on the CPU with one thread; a 3 s
synthetic reference given with its transcript; a text of three sentences; nfe 32 (the default). The ASR is
the offline Whisper base (faster-whisper, int8, greedy at temperature 0: what `tts/asr.py` decodes with, on
the packaged weights of eval/asr.py). Cases: "off" (`check_words` 0); "quiet" (`check_words` `--tries`, the
ASR run on every piece but its answer replaced by the piece's text, so that each piece passes: one ASR
pass per piece); "every try misses" (the ASR's own answers on the random model's babble, which never match:
`--tries` generations and ASR passes per piece, the most the check can cost). Median of `--repeats` calls
after one warm-up.
"""
from __future__ import annotations

import argparse
import json

import torch

from codec import WavCube, WavCubeConfig
from eval.asr import FasterWhisperASR
from eval.timing import measure
from tts import Synthesizer, SynthesisOptions
from tts.model import TTSConfig, TTSModel

TEXT = ("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
        "It is easy to tell the depth of a well.")
REF_TEXT = "hello there, my good friend."


def reference(seconds: float = 3.0, sample_rate: int = 16000) -> torch.Tensor:
    """Harmonic syllables (0.2 s on, 0.05 s off) with a little noise: a reference the codec reads as speech."""
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    wav = sum(torch.sin(2 * torch.pi * k * 140 * t) / k for k in range(1, 6)) * 0.2
    return (wav * ((t % 0.25) < 0.2) + 0.001 * torch.randn(t.shape, generator=gen)).float()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", default="tiny", choices=("tiny", "small", "base"))
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = TTSModel(getattr(TTSConfig, args.size)())
    codec = WavCube(WavCubeConfig.tiny()).eval()
    asr = FasterWhisperASR("base", beam_size=1, fallback=False)
    heard: list[str] = []

    def whisper(wav: torch.Tensor, sample_rate: int) -> str:
        heard.append(asr.transcribe([wav], sample_rate)[0])
        return heard[-1]

    tts = Synthesizer(model, codec, transcriber=whisper, options=SynthesisOptions(seed=0))
    ref = reference()
    pieces = [p.text for p in tts.prepare([TEXT], ref, 16000, REF_TEXT).pieces]

    def quiet(wav: torch.Tensor, sample_rate: int) -> str:
        whisper(wav, sample_rate)
        return pieces[(len(heard) - 1) % len(pieces)]  # a piece's first try, in order: one batch holds them all

    def run(transcriber, tries: int):
        def call():
            tts.transcriber = transcriber
            heard.clear()
            wav, sr = tts.synthesize(TEXT, ref, 16000, REF_TEXT, check_words=tries)
            result["speech_s"] = round(wav.shape[0] / sr, 2)
        return call

    result = {"size": args.size, "pieces": len(pieces), "tries": args.tries, "text": TEXT}
    for name, transcriber, tries in [("off", whisper, 0), ("quiet", quiet, args.tries),
                                     ("every try misses", whisper, args.tries)]:
        timed = measure(run(transcriber, tries), torch.device("cpu"), repeats=args.repeats)
        result[name] = {"wall_s": round(timed["wall_s"], 3), "asr_calls": len(heard)}
        print(f"{name:17s} {timed['wall_s']:7.3f} s  ({len(heard)} ASR calls)", flush=True)
    result["heard"] = heard[:3]
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
