"""Time to first audio, streamed and not: a four-sentence paragraph through `Synthesizer.stream` (the first chunk cut
short by `first_chunk_seconds`, as the app's streams are) and through `generate` (the whole audio at once).

    python -m eval.bench_first_audio [--preset small] [--codecs wavcube mel] [--nfe 7] [--device cuda]
    python -m eval.bench_first_audio --codecs mel --streams 4     # also: 4 streams at once, one by one and together

Random weights of the real sizes (speed does not depend on the values); the reference is prepared before the clock
starts (a saved voice's case). One row per codec and mode: seconds to the first audio, to the last, and the audio's
length. With `--streams N`, N streams of the paragraph (other seeds) are served as the batcher serves open streams:
each round the next chunk of every stream, one stream after another (as it did before streams were batched) or
all together (`Synthesizer.advance`); rows give the mean and the latest first audio, and the time to finish all.
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


def concurrent_streams(synth, n: int, together: bool, nfe: int, first_chunk_seconds: float
                       ) -> tuple[float, float, float, float]:
    """(mean seconds to a stream's first audio, the latest of them, seconds to finish all, seconds of audio)."""
    ref = speech_like(3.0, 16000)
    opts: dict[str, object] = dict(nfe=nfe, remove_silence=False, first_chunk_seconds=first_chunk_seconds)
    synth.prepare([PARAGRAPH], ref, 16000, REF_TEXT, **opts)  # prepares and keeps the reference
    start = time.perf_counter()
    streams = [synth.open_stream(synth.prepare([PARAGRAPH], ref, 16000, REF_TEXT, seed=i, **opts)) for i in range(n)]
    first: list[float | None] = [None] * n
    samples = 0
    while not all(s.ended for s in streams):
        live = [i for i, s in enumerate(streams) if not s.ended]
        rounds = [live] if together else [[i] for i in live]
        for group in rounds:
            pieces = synth.advance([streams[i] for i in group])
            now = time.perf_counter() - start
            for i, piece in zip(group, pieces):
                samples += piece.shape[0]
                if first[i] is None and piece.shape[0]:
                    first[i] = now
    total = time.perf_counter() - start
    firsts = [f if f is not None else total for f in first]
    return sum(firsts) / n, max(firsts), total, samples / synth.sample_rate


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.bench_first_audio", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default=None, choices=("base", "small", "tiny"),
                   help="DiT size (default: base on GPU, small on CPU)")
    p.add_argument("--codecs", nargs="+", default=["wavcube", "mel"], choices=("wavcube", "mel"))
    p.add_argument("--nfe", type=int, default=7)
    p.add_argument("--first-chunk-seconds", type=float, default=2.0, help="the streamed first chunk (the app's)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--streams", type=int, default=0, help="also serve this many streams at once (0: no)")
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
        if args.streams:
            print(f"{'codec':8s} {'streams':18s} {'mean first s':>12s} {'last first s':>12s} {'total s':>8s} "
                  f"{'audio s':>8s}")
            for together in (False, True):
                mean, last, total, audio = concurrent_streams(synth, args.streams, together, args.nfe,
                                                              args.first_chunk_seconds)
                mode = f"{args.streams} {'together' if together else 'one by one'}"
                print(f"{kind:8s} {mode:18s} {mean:12.2f} {last:12.2f} {total:8.2f} {audio:8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
