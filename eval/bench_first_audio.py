"""Time to first audio, streamed and not: a four-sentence paragraph through `Synthesizer.stream` (the first chunk cut
short by `first_chunk_seconds`, as the app's streams are) and through `generate` (the whole audio at once).

    python -m eval.bench_first_audio [--preset small] [--codecs wavcube mel] [--nfe 7] [--device cuda]

Random weights of the real sizes (speed does not depend on the values); the reference is prepared before the clock
starts (a saved voice's case). One row per codec and mode: seconds to the first audio, to the last, and the audio's
length.
"""
from __future__ import annotations

import argparse
import time

import torch

from codec.device import pick_device

from .bench_tts import REF_TEXT, build_ours
from .speed import speech_like

PARAGRAPH = ("The morning train was late again, so we walked along the river instead. Boats drifted past, and "
             "a heron stood perfectly still in the shallows. By the time we reached the bridge, the fog had "
             "lifted. We sat on a bench and watched the city wake up.")


def first_audio(synth, streamed: bool, nfe: int, first_chunk_seconds: float) -> tuple[float, float, float]:
    """(seconds to the first audio, seconds to the last, seconds of audio)."""
    opts: dict[str, object] = dict(nfe=nfe, seed=0, remove_silence=False)
    if streamed:
        opts["first_chunk_seconds"] = first_chunk_seconds
    ref = speech_like(3.0, 16000)
    synth.prepare([PARAGRAPH], ref, 16000, REF_TEXT, **opts)  # prepares and keeps the reference
    start = time.perf_counter()
    job = synth.prepare([PARAGRAPH], ref, 16000, REF_TEXT, **opts)
    if streamed:
        first, samples = None, 0
        for piece in synth.stream(job):
            first = first if first is not None else time.perf_counter() - start
            samples += piece.shape[0]
    else:
        samples = synth.generate([job])[0][0].shape[0]
        first = None
    total = time.perf_counter() - start
    return (total if first is None else first), total, samples / synth.sample_rate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.bench_first_audio", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default=None, choices=("base", "small", "tiny"),
                   help="DiT size (default: base on GPU, small on CPU)")
    p.add_argument("--codecs", nargs="+", default=["wavcube", "mel"], choices=("wavcube", "mel"))
    p.add_argument("--nfe", type=int, default=7)
    p.add_argument("--first-chunk-seconds", type=float, default=2.0, help="the streamed first chunk (the app's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    device = pick_device(args.device)
    torch.set_num_threads(args.threads)
    preset = args.preset or ("base" if device.type == "cuda" else "small")
    print(f"{preset} DiT, random weights, {device}, {args.threads} thread(s), NFE {args.nfe}: a four-sentence "
          f"paragraph, the reference prepared beforehand")
    print(f"{'codec':8s} {'mode':9s} {'first audio s':>13s} {'total s':>8s} {'audio s':>8s}")
    for kind in args.codecs:
        synth = build_ours(kind, preset, device)
        first_audio(synth, False, 1, args.first_chunk_seconds)  # warm-up
        for streamed in (True, False):
            first, total, audio = first_audio(synth, streamed, args.nfe, args.first_chunk_seconds)
            print(f"{kind:8s} {'streamed' if streamed else 'whole':9s} {first:13.2f} {total:8.2f} {audio:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
