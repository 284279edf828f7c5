"""TTS speed: `Synthesizer` end to end, side by side with F5-TTS's own code, and throughput under concurrency.

    python -m eval.bench_tts                                   # ours: base on GPU (small on CPU), NFE 32 and 7
    python -m eval.bench_tts --compare-f5 --f5-python f5env/bin/python --json runs/bench_tts.json
    python -m eval.bench_tts --concurrency 1 4 16 --preset tiny --seconds 4   # app batching throughput
    python -m eval.bench_tts --preset small --nfe 7 --threads 1 2 --batch 1 4 8   # CPU threads and batches

Random weights (the cost of a pass does not depend on them), a `--ref-seconds` prompt and exactly
`--seconds` of new speech per text (fixed with `duration`), CFG 2, sway -1, F5-TTS's step
schedule (EPSS at 7 steps, uniform at 32), `--batch` texts at once (default 1 and 8 on a GPU, 1, 4
and 8 on a CPU). Each setting: one warm-up call with one step at full size, then the median of
`--repeats` calls. CPU threads: `--threads` (one or more counts, each timed beside the others, setting
by setting; `load` is the 1-minute load average then), by default `eval.speed.cpu_threads()`: one per
physical core, less the cores other processes keep busy.

Rows (same device, same DiT size; `--compare-f5` adds F5-TTS's row, timed by `eval/bench_f5.py`
in F5-TTS's own environment, see there):
- `F5-TTS`: its `CFM.sample` on 93.75 Hz mel frames + Vocos, in float16 on CUDA, float32 on CPU.
- `ours, WavCube`: `Synthesizer.synthesize_batch` on 50 Hz WavCube latents + the WavCube decoder.
- `ours, mel`: the same code on F5-TTS's mel + the same Vocos (`codec.MelCodec`), which separates
  what the code gains from what the latent gains.
RTF = wall seconds / seconds of speech generated (batch × `--seconds`); `x F5` = F5's seconds / ours.
Parts: DiT = sampling (ours: `TTSModel.sample`, with its ODE arithmetic; F5: its transformer's
calls), codec = reference encoding + decoding (F5: the prompt's mel + Vocos), rest = the remainder
(text processing, reference checks, splicing). `--concurrency` runs N client threads through the
app's `Batcher` and reports seconds of speech per second.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import torch

from tts.batcher import Batcher
from codec import WavCube, WavCubeConfig
from eval.speed import cpu_threads, physical_cores, speech_like, text_for
from eval.timing import PartTimer, measure, sync
from tts import SynthesisOptions, Synthesizer, TTSConfig, TTSModel

REF_TEXT = "Rice is often served in round bowls, and the juice of lemons makes fine punch."
F5_DRIVER = Path(__file__).with_name("bench_f5.py")


def no_asr(wav: torch.Tensor, sr: int) -> str:
    raise RuntimeError("the benchmark passes ref_text")


def build_ours(codec_kind: str, preset: str, device: torch.device) -> Synthesizer:
    torch.manual_seed(0)
    if codec_kind == "wavcube":
        codec = WavCube(WavCubeConfig.base())
    else:
        codec = random_mel_codec()
    config = getattr(TTSConfig, preset)()
    config = dataclasses.replace(config, dit=dataclasses.replace(config.dit, latent_dim=codec.latent_dim))
    model = TTSModel(config)
    with torch.no_grad():  # adaLN-Zero outputs zero: draw the weights so the output is speech-sized noise
        for p in model.dit.parameters():
            p.normal_(0, 0.02)
    return Synthesizer(model.to(device).eval(), codec.to(device).eval(), transcriber=no_asr)


def random_mel_codec(dim: int = 512, intermediate_dim: int = 1536, num_layers: int = 8):
    """F5-TTS's mel + a Vocos of `charactr/vocos-mel-24khz`'s architecture (the default sizes), random weights
    (no download)."""
    from vocos import Vocos
    from vocos.feature_extractors import MelSpectrogramFeatures
    from vocos.heads import ISTFTHead
    from vocos.models import VocosBackbone

    from codec.mel import MelCodec, MelConfig, VocosVocoder

    c = MelConfig()
    vocos = Vocos(MelSpectrogramFeatures(sample_rate=c.sample_rate, n_fft=c.n_fft, hop_length=c.hop_length,
                                         n_mels=c.n_mels, padding="center"),
                  VocosBackbone(input_channels=c.n_mels, dim=dim, intermediate_dim=intermediate_dim,
                                num_layers=num_layers),
                  ISTFTHead(dim=dim, n_fft=c.n_fft, hop_length=c.hop_length, padding="same"))
    return MelCodec(c, VocosVocoder(vocos))


def time_ours(synth: Synthesizer, nfe: int, batch: int, args: argparse.Namespace, device: torch.device) -> dict:
    parts = PartTimer(device)
    parts.wrap(synth.model, "sample", "dit")
    parts.wrap(synth.codec, "encode", "codec")
    parts.wrap(synth.codec, "decode", "codec")
    texts = [text_for(args.seconds)] * batch
    ref = speech_like(args.ref_seconds, 16000)
    opts = SynthesisOptions(nfe=nfe, seed=0, duration=args.seconds, batch_size=batch,
                            max_chunk_seconds=max(15.0, args.seconds))
    synth.reference_cache_size = 0  # each call encodes its reference, as F5-TTS's code does
    synth.synthesize_batch(texts, ref, 16000, REF_TEXT, opts.replace(nfe=1))  # warm-up at full size
    m = measure(lambda: synth.synthesize_batch(texts, ref, 16000, REF_TEXT, opts), device, args.repeats, 0, parts)
    for obj, name in ((synth.model, "sample"), (synth.codec, "encode"), (synth.codec, "decode")):
        delattr(obj, name)  # back to the class's method
    frames = round((args.ref_seconds + args.seconds) * synth.codec.frame_rate)
    return {"nfe": nfe, "batch": batch, "frames": frames, **m}


def time_f5(preset: str, runs: list[tuple[int, int]], args: argparse.Namespace) -> dict:
    dit = getattr(TTSConfig, preset)().dit
    spec = {"dit": {k: getattr(dit, k) for k in ("dim", "depth", "heads", "ff_mult", "text_dim", "conv_layers")},
            "device": args.device, "threads": torch.get_num_threads(), "ref_seconds": args.ref_seconds,
            "seconds": args.seconds, "text_chars": len(REF_TEXT + " " + text_for(args.seconds)),
            "repeats": args.repeats, "runs": [{"nfe": n, "epss": True, "batch": b} for n, b in runs]}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "spec.json").write_text(json.dumps(spec))
        subprocess.run([args.f5_python, str(F5_DRIVER), str(Path(tmp) / "spec.json"), str(Path(tmp) / "out.json")],
                       check=True)
        return json.loads((Path(tmp) / "out.json").read_text())


def row(impl: str, r: dict, seconds: float, f5: dict | None) -> dict:
    mean = r["mean_s"]
    parts = {k: r.get("parts_s", {}).get(k, 0.0) for k in ("dit", "codec")}
    out = {"impl": impl, "threads": torch.get_num_threads(), "load": round(os.getloadavg()[0], 1), "nfe": r["nfe"],
           "batch": r["batch"], "frames": r["frames"], "wall_s": r["wall_s"],
           "rtf": r["wall_s"] / (seconds * r["batch"]), "speech_s_per_s": seconds * r["batch"] / r["wall_s"],
           "dit_share": parts["dit"] / mean, "codec_share": parts["codec"] / mean,
           "rest_share": max(0.0, 1 - (parts["dit"] + parts["codec"]) / mean), "peak_memory_mb": r["peak_memory_mb"]}
    if f5 is not None:
        out["x_f5"] = f5["wall_s"] / r["wall_s"]
    return out


def print_table(rows: list[dict]) -> None:
    print(f"\n{'implementation':<16} {'thr':>3} {'load':>4} {'NFE':>3} {'batch':>5} {'frames':>6} {'seconds':>8} "
          f"{'RTF':>7} {'x F5':>5} {'DiT':>5} {'codec':>5} {'rest':>5}")
    for r in rows:
        x = f"{r['x_f5']:.2f}" if "x_f5" in r else "-"
        print(f"{r['impl']:<16} {r['threads']:>3} {r['load']:>4.1f} {r['nfe']:>3} {r['batch']:>5} {r['frames']:>6} "
              f"{r['wall_s']:>8.2f} {r['rtf']:>7.4f} {x:>5} {r['dit_share']:>5.0%} {r['codec_share']:>5.0%} "
              f"{r['rest_share']:>5.0%}")


def throughput(synth: Synthesizer, clients: int, requests_each: int, args: argparse.Namespace) -> dict:
    """`clients` threads, each sending `requests_each` requests in turn through one Batcher."""
    batcher = Batcher(synth, max_jobs=args.max_batch)
    ref, text = speech_like(args.ref_seconds, 16000), text_for(args.seconds)
    opts = SynthesisOptions(nfe=args.nfe[0], duration=args.seconds, max_chunk_seconds=max(15.0, args.seconds))
    batcher.run(synth.prepare([text], ref, 16000, REF_TEXT, opts.replace(nfe=1, seed=0)))  # warm-up

    def client(i: int) -> None:
        for k in range(requests_each):
            batcher.run(synth.prepare([text], ref, 16000, REF_TEXT, opts.replace(seed=i * 1000 + k)))

    def all_clients() -> None:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    m = measure(all_clients, synth.codec.device, repeats=1, warmup=0)  # warmed up above
    wall = m["wall_s"]
    speech = clients * requests_each * args.seconds
    sizes = batcher.batch_sizes[1:]
    return {"clients": clients, "requests": clients * requests_each, "wall_s": wall, "speech_s_per_s": speech / wall,
            "mean_jobs_per_batch": sum(sizes) / len(sizes), "peak_memory_mb": m["peak_memory_mb"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=("base", "small", "tiny"), default=None,
                   help="DiT size, ours and F5's (default: base on GPU, small on CPU)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of new speech per text")
    p.add_argument("--ref-seconds", type=float, default=3.0, help="seconds of reference prompt")
    p.add_argument("--nfe", type=int, nargs="+", default=[32, 7], help="NFEs to time (7 uses EPSS's grid)")
    p.add_argument("--batch", type=int, nargs="+", default=None,
                   help="texts generated at once (default: 1 8 on a GPU, 1 4 8 on a CPU)")
    p.add_argument("--codecs", nargs="+", choices=("wavcube", "mel"), default=["wavcube", "mel"])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--compare-f5", action="store_true", help="also time F5-TTS's own code (see eval/bench_f5.py)")
    p.add_argument("--f5-python", default="f5env/bin/python", help="python of the environment with f5-tts")
    p.add_argument("--concurrency", type=int, nargs="+", help="instead: app throughput at these client counts")
    p.add_argument("--requests", type=int, default=2, help="--concurrency: requests per client")
    p.add_argument("--max-batch", type=int, default=16, help="--concurrency: the Batcher's max jobs per batch")
    p.add_argument("--threads", type=int, nargs="+", default=None,
                   help="CPU threads for torch, each count timed (default: eval.speed.cpu_threads(), one per "
                        "physical core less the busy ones)")
    p.add_argument("--json", type=Path, help="write the results here")
    args = p.parse_args()
    device = torch.device(args.device)
    threads = args.threads or [cpu_threads()]
    torch.set_num_threads(threads[0])
    batches = args.batch or ([1, 8] if device.type == "cuda" else [1, 4, 8])
    preset = args.preset or ("base" if device.type == "cuda" else "small")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU ({physical_cores()} physical cores, load {os.getloadavg()[0]:.1f}), {'/'.join(map(str, threads))} threads"
    meta = {"device": name, "torch": torch.__version__, "preset": preset, "seconds": args.seconds,
            "ref_seconds": args.ref_seconds, "threads": threads, "command": " ".join(sys.argv)}
    print(f"{preset} DiT, random weights, on {name}, torch {torch.__version__}: {args.ref_seconds:g} s prompt + "
          f"{args.seconds:g} s new speech per text, CFG 2, sway -1")

    if args.concurrency:
        synth = build_ours(args.codecs[0], preset, device)
        results = []
        for clients in args.concurrency:
            results.append(throughput(synth, clients, args.requests, args))
            r = results[-1]
            print(f"{clients:>3} clients: {r['requests']} requests in {r['wall_s']:.1f} s → {r['speech_s_per_s']:.2f} "
                  f"s of speech per s ({r['mean_jobs_per_batch']:.1f} jobs per DiT batch)")
        report: dict[str, Any] = {"meta": meta, "throughput": results}
    else:
        runs = [(n, b) for b in batches for n in args.nfe]
        rows, f5_metas = [], []
        f5_rows: dict[tuple[int, int, int], dict] = {}
        for count in threads:  # F5-TTS's rows (if asked) at each thread count
            torch.set_num_threads(count)
            f5 = time_f5(preset, runs, args) if args.compare_f5 else None
            f5_rows |= {(r["nfe"], r["batch"], count): r for r in f5["results"]} if f5 else {}
            rows += [row("F5-TTS", r, args.seconds, None) for r in (f5["results"] if f5 else [])]
            f5_metas += [f5["meta"]] if f5 else []
        for codec_kind in args.codecs:
            synth = build_ours(codec_kind, preset, device)
            for nfe, batch in runs:
                for count in threads:  # side by side, so that a changing machine load hits each count alike
                    torch.set_num_threads(count)
                    r = time_ours(synth, nfe, batch, args, device)
                    rows.append(row(f"ours, {'WavCube' if codec_kind == 'wavcube' else 'mel'}", r, args.seconds,
                                    f5_rows.get((nfe, batch, count))))
                    print(json.dumps(rows[-1]))
            del synth
        sync(device)
        print_table(sorted(rows, key=lambda r: (r["impl"], r["batch"], -r["nfe"], r["threads"])))
        report = {"meta": meta, "f5_meta": f5_metas or None, "results": rows}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
