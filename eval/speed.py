"""Speed: real-time factor and peak memory of codec encode/decode and of synthesis, at given audio lengths.

RTF = wall time / seconds of audio (encoded, decoded or generated); below 1 is faster than real time. Each
point is the median of `repeats` timed calls after `warmup` untimed ones, timed by `eval.timing.measure`
(see there how time and peak memory are read on CUDA and on CPU).
"""
from __future__ import annotations

import functools
import os
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from codec.audio import to_mono

from .report import fmt, md_config, md_table, new_report
from .timing import measure

WORDS_PER_SECOND = 2.7  # read English (LibriSpeech averages about 2.7 words/s): text length for a target duration
# Public-domain text (Dickens, A Tale of Two Cities) cut to length for synthesis timing.
PASSAGE = ("It was the best of times it was the worst of times it was the age of wisdom it was the age of "
           "foolishness it was the epoch of belief it was the epoch of incredulity it was the season of light it "
           "was the season of darkness it was the spring of hope it was the winter of despair we had everything "
           "before us we had nothing before us we were all going direct to heaven we were all going direct the "
           "other way").split()


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (SMT siblings counted once)."""
    cpus = os.sched_getaffinity(0)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip()))
        except OSError:  # no topology to read: take each CPU as a core
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def cpu_threads() -> int:
    """Torch threads for a CPU benchmark: one per physical core (a second thread on an SMT sibling shares the
    core's arithmetic units: contention, not speed), less the cores other processes keep busy now (the
    1-minute load average, rounded down: on a shared machine a thread that must wait for a busy core stalls
    every parallel region it takes part in), at least 1."""
    cores = physical_cores()
    busy = int(os.getloadavg()[0]) if hasattr(os, "getloadavg") else 0
    return max(1, cores - min(busy, cores - 1))


def speech_like(seconds: float, sample_rate: int, seed: int = 0) -> torch.Tensor:
    """`(T,)` of noise at speech level: codec cost does not depend on content, only on length."""
    gen = torch.Generator().manual_seed(seed)
    return 0.1 * torch.randn(int(seconds * sample_rate), generator=gen)


def text_for(seconds: float) -> str:
    """About `seconds` of read speech: `WORDS_PER_SECOND * seconds` words of `PASSAGE`, repeated as needed."""
    n = max(1, round(WORDS_PER_SECOND * seconds))
    words = (PASSAGE * (n // len(PASSAGE) + 1))[:n]
    return " ".join(words).capitalize() + "."


def bench_codec(codec: Any, lengths_s: Sequence[float], device: torch.device, repeats: int = 3) -> list[dict]:
    """RTF and peak memory of `codec.encode` and `codec.decode` (batch 1) for each length in seconds."""
    rows = []
    for seconds in lengths_s:
        wav = speech_like(seconds, codec.sample_rate).to(device)
        latent, mask = codec.encode(wav, codec.sample_rate)
        calls = {"encode": functools.partial(codec.encode, wav, codec.sample_rate),
                 "decode": functools.partial(_no_grad, codec.decode, latent, mask)}
        for task, fn in calls.items():
            m = measure(fn, device, repeats)
            rows.append({"task": task, "audio_s": seconds, **m, "rtf": m["wall_s"] / seconds})
    return rows


def _no_grad(fn: Callable, *args: Any) -> Any:
    with torch.no_grad():
        return fn(*args)


def bench_synthesize(synthesizer: Any, lengths_s: Sequence[float], ref_wav: torch.Tensor, ref_sr: int,
                     ref_text: str, device: torch.device, repeats: int = 3, **options: Any) -> list[dict]:
    """RTF and peak memory of `synthesizer.synthesize` for texts of about each length.

    RTF divides by the duration actually generated (the text only aims at the length); `audio_s` is that
    duration and `target_s` the aim.
    """
    rows = []
    ref_wav = to_mono(ref_wav)
    for seconds in lengths_s:
        text = text_for(seconds)
        produced: list[float] = []

        def run(text: str = text, produced: list[float] = produced) -> None:
            wav, sr = synthesizer.synthesize(text, ref_wav, ref_sr, ref_text, **options)
            produced.append(wav.shape[-1] / sr)

        m = measure(run, device, repeats)
        audio_s = statistics.median(produced)
        rows.append({"task": "synthesize", "target_s": seconds, "audio_s": round(audio_s, 3), **m,
                     "rtf": m["wall_s"] / audio_s, "words": len(text.split())})
    return rows


def speed_markdown(report: dict[str, Any]) -> str:
    rows = [[r["task"], fmt(r.get("target_s", r["audio_s"]), 1), fmt(r["audio_s"], 2), fmt(r["wall_s"], 3),
             fmt(r["rtf"], 4), fmt(r["peak_memory_mb"], 0)] for r in report["results"]]
    env = report["environment"]
    device = env.get("cuda_device") or f"CPU ({env['cpu_count']} cores, {env['torch_threads']} torch threads)"
    return ("# Speed\n\n" + f"{report['created']} · device `{env['device']}` ({device})\n\n"
            + md_table(["task", "length asked (s)", "audio (s)", "wall (s, median)", "RTF", "peak memory (MB)"], rows)
            + "\nRTF = wall time / audio seconds (batch 1). Peak memory: "
            + (report["results"][0]["memory"] if report["results"] else "–")
            + ".\n\n## Configuration\n\n" + md_config(report["config"]))


def new_speed_report(config: dict[str, Any], device: torch.device, results: list[dict]) -> dict[str, Any]:
    report = new_report("speed", config, device)
    report["results"] = results
    return report
