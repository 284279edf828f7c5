"""The one timing helper of the speed scripts: median wall time, peak memory, and time spent per part.

It imports nothing from cubetts (only torch, and psutil on CPU), so the F5-TTS driver
(`eval/bench_f5.py`), which runs in another environment, loads this same file and times F5-TTS's
code exactly as ours is timed.

On CUDA the clock is read after `torch.cuda.synchronize`, and peak memory is
`torch.cuda.max_memory_allocated` during the timed calls (weights included). On CPU it is the
process's peak resident set size, sampled every 2 ms, so short spikes can be missed and it includes
the interpreter.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _PeakRSS:
    """Peak resident set size of this process while the `with` block runs (sampled)."""

    def __enter__(self):
        import psutil

        self._proc, self._stop = psutil.Process(), threading.Event()
        self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


class PartTimer:
    """Wall time spent inside chosen methods, summed per part name: `timer.totals["dit"]`.

    `timer.wrap(obj, "forward", "dit")` replaces `obj.forward` by a timed call (synchronised on
    CUDA, so each part is charged its own kernels); `reset()` clears the sums, e.g. after a warm-up.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.totals: dict[str, float] = defaultdict(float)

    def wrap(self, obj: Any, name: str, part: str) -> None:
        inner = getattr(obj, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            sync(self.device)
            start = time.perf_counter()
            out = inner(*args, **kwargs)
            sync(self.device)
            self.totals[part] += time.perf_counter() - start
            return out

        setattr(obj, name, timed)

    def reset(self) -> None:
        self.totals.clear()


def measure(fn: Callable[[], Any], device: torch.device, repeats: int = 3, warmup: int = 1,
            parts: PartTimer | None = None) -> dict[str, Any]:
    """Median wall time of `fn()` and the peak memory while it ran: `{"wall_s", "peak_memory_mb", "memory"}`.

    `warmup` untimed calls come first (first calls pay for kernel selection and allocator growth).
    With `parts`, its sums are reset after the warm-up and `"parts_s"` holds each part's mean seconds
    per timed call: compare them with `"mean_s"`, the mean of the same calls.
    """
    for _ in range(warmup):
        fn()
    sync(device)
    if parts is not None:
        parts.reset()
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            sync(device)
            times.append(time.perf_counter() - start)
        peak, kind = torch.cuda.max_memory_allocated(device), "cuda max_memory_allocated"
    else:
        with _PeakRSS() as rss:
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
        peak, kind = rss.peak, "process peak RSS (sampled)"
    out = {"wall_s": statistics.median(times), "mean_s": statistics.fmean(times), "peak_memory_mb": peak / 2**20,
           "memory": kind}
    if parts is not None:
        out["parts_s"] = {k: v / repeats for k, v in parts.totals.items()}
    return out
