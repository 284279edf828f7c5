"""Codec speed and memory: encode / decode real-time factor and peak memory, full-size model, random weights.

    python -m eval.bench_codec                      # CPU, 10 s of audio, fp32
    python -m eval.bench_codec --device cuda        # GPU, fp32 and bf16 autocast, batch 1 and --batch
    python -m eval.bench_codec --long 1 5 10 30     # peak RSS of `python -m codec encode/decode` on long files

RTF = compute seconds / audio seconds (lower is faster): the median of --repeats calls after one warm-up, and
the peak memory of encode and decode, both read by `eval.timing.measure` (torch.cuda.max_memory_allocated
on GPU; on CPU the process's sampled peak resident set size, model weights included). With --long, each
command runs in its own process on the CPU (the full-size model with random weights, saved to a
temporary folder) and its peak RSS is that process's own (wait4).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from codec import WavCube, WavCubeConfig
from eval.timing import measure


def write_long_wav(path: Path, minutes: float, sample_rate: int = 16000) -> None:
    """Speech-like harmonic bursts with noise, written a minute at a time (this process stays small)."""
    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", sample_rate, 1, subtype="PCM_16") as f:
        for start in range(0, int(minutes * 60), 60):
            t = np.arange(int(min(60, minutes * 60 - start) * sample_rate)) / sample_rate
            wav = sum(np.sin(2 * np.pi * k * 140 * t) / k for k in range(1, 6)) * 0.2 * ((t % 0.25) < 0.2)
            f.write((wav + 0.01 * rng.standard_normal(t.shape)).astype(np.float32))


def run_measured(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=Path(__file__).resolve().parents[1])
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed with status {proc.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def bench_long(minutes: list[float], threads: int, preset: str) -> None:
    """Peak RSS of `python -m codec encode` and `decode` (the CLI, CPU) per audio length."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        # Built in a child: a forked child's peak RSS counts the parent's pages at fork, so the parent stays small.
        run_measured([sys.executable, "-c", f"import torch; from codec import WavCube, WavCubeConfig; "
                      f"torch.manual_seed(0); WavCube(WavCubeConfig.{preset}()).save_pretrained({str(tmp / 'codec')!r})"])
        print(f"python -m codec, WavCube {preset} (random weights), CPU, {threads} threads, torch {torch.__version__}")
        print(f"{'minutes':>7} {'encode s':>9} {'encode peak MiB':>15} {'decode s':>9} {'decode peak MiB':>15}",
              flush=True)
        cli = [sys.executable, "-m", "codec"]
        common = ["--checkpoint", str(tmp / "codec"), "--device", "cpu"]
        for m in minutes:
            wav, pt, out = tmp / f"{m}.wav", tmp / f"{m}.pt", tmp / f"{m}_out.wav"
            write_long_wav(wav, m)
            enc = run_measured(cli + ["encode", str(wav), str(pt)] + common)
            dec = run_measured(cli + ["decode", str(pt), str(out)] + common)
            print(f"{m:>7g} {enc[0]:>9.0f} {enc[1]:>15.0f} {dec[0]:>9.0f} {dec[1]:>15.0f}", flush=True)
            for f in (wav, pt, out):
                f.unlink()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=16, help="batch size for the GPU throughput row")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--long", type=float, nargs="+", metavar="MINUTES",
                   help="instead: peak RSS of the codec CLI on files of these lengths (CPU)")
    p.add_argument("--preset", default="base", choices=["base", "tiny"], help="codec size for --long")
    args = p.parse_args()
    if args.long:
        bench_long(args.long, torch.get_num_threads(), args.preset)
        return
    device = torch.device(args.device)
    torch.manual_seed(0)
    codec = WavCube(WavCubeConfig.base()).to(device).eval()
    params = sum(x.numel() for x in codec.parameters()) / 1e6
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"WavCube base ({params:.0f}M params, random weights) on {name}, torch {torch.__version__}")
    print(f"{'precision':>9} {'batch':>5} {'encode RTF':>10} {'decode RTF':>10} {'peak MiB':>9}")
    settings = [("fp32", 1)] if device.type == "cpu" else [("fp32", 1), ("bf16", 1), ("bf16", args.batch)]
    for precision, batch in settings:
        codec.bf16 = precision == "bf16"
        wav = torch.randn(batch, int(args.seconds * codec.sample_rate)) * 0.1
        latent, mask = codec.encode(wav, codec.sample_rate)
        audio_seconds = args.seconds * batch
        enc = measure(lambda: codec.encode(wav, codec.sample_rate), device, args.repeats)
        with torch.inference_mode():
            dec = measure(lambda: codec.decode(latent, mask), device, args.repeats)
        peak = max(enc["peak_memory_mb"], dec["peak_memory_mb"])
        print(f"{precision:>9} {batch:>5} {enc['wall_s'] / audio_seconds:>10.4f} "
              f"{dec['wall_s'] / audio_seconds:>10.4f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
