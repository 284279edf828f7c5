"""Codec speed and memory: encode / decode real-time factor and peak memory, full-size model, random weights.

    python eval/bench_codec.py                      # CPU, 10 s of audio, fp32
    python eval/bench_codec.py --device cuda        # GPU, fp32 and bf16 autocast, batch 1 and --batch

RTF = compute seconds / audio seconds (lower is faster). Peak memory: torch.cuda.max_memory_allocated
on GPU; on CPU the process's peak resident set size (model weights included).
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from codec import WavCube, WavCubeConfig  # noqa: E402


def timed(fn, device: torch.device, repeats: int) -> float:
    """Median wall time of `fn()` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch", type=int, default=16, help="batch size for the GPU throughput row")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
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
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        audio_seconds = args.seconds * batch
        enc = timed(lambda: codec.encode(wav, codec.sample_rate), device, args.repeats)
        with torch.inference_mode():
            dec = timed(lambda: codec.decode(latent, mask), device, args.repeats)
        print(f"{precision:>9} {batch:>5} {enc / audio_seconds:>10.4f} {dec / audio_seconds:>10.4f} "
              f"{peak_mib(device):>9.0f}")


if __name__ == "__main__":
    main()
