"""Requests that arrive together are generated together: one DiT batch serves many users.

Each request is checked and prepared in its own handler thread (`Synthesizer.prepare`, where every
input error is raised and answered to that user alone); the prepared jobs then meet here. One
worker thread runs `Synthesizer.generate` on all jobs waiting at that moment, so under load the
batch grows with the queue and throughput with it, while a lone request starts at once. Streamed
jobs (`stream`) take turns with the batches: each round generates the waiting jobs, then the next chunk
of every open stream, so a long stream never holds the model for long. On a GPU the streams' chunks share
DiT batches (`Synthesizer.advance`), and many streams cost about what one does; on a CPU a batch costs the
sum of its chunks, so they go one by one and the first streams hear their first audio sooner.

A job whose `cancelled()` answers True (its client went away) is dropped: before its batch starts,
between the batches of its pieces (`Synthesizer.generate`), or between the pieces of its stream; a
running batch stops before its next ODE step once all its jobs are cancelled. Its
caller gets `Cancelled` at once; the work that follows it is not delayed by it.
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .synthesizer import Cancelled, Job, Stream, Synthesizer

logger = logging.getLogger(__name__)


@dataclass
class _Task:
    """One job in the batcher: what the worker sends back (`results`: ("piece" | "done" | "end" | "error",
    value)), the progress it heard (reported in the caller's thread), and `dropped`, set by a caller that
    stops listening."""

    job: Job
    streamed: bool
    report: Callable[[int, int], None] | None
    results: queue.Queue = field(default_factory=queue.Queue)
    heard: list[tuple[int, int]] = field(default_factory=list)
    reported: int = 0
    dropped: threading.Event = field(default_factory=threading.Event)

    def report_progress(self) -> None:
        if self.report is not None and len(self.heard) > self.reported:
            self.reported = len(self.heard)
            self.report(*self.heard[-1])


class Batcher:
    """`run(job)` from any thread → that job's waveforms, generated in a batch with whatever else is waiting;
    `stream(job)` → its first text's waveform, piece by piece.

    At most `max_jobs` jobs go into one `generate` call, with DiT batches of up to `batch_size`
    pieces (default: `max_jobs`); the next chunks of up to `stream_batch` open streams share one
    `advance` (default: `batch_size` on a GPU, 1 on a CPU). Each job's result equals what it gives
    alone (see `generate`). An error in `generate` (e.g. out of GPU memory) is raised in every caller
    of that batch, one in `advance` in every stream it served.
    """

    def __init__(self, synthesizer: Synthesizer, max_jobs: int = 16, batch_size: int | None = None,
                 stream_batch: int | None = None):
        for name, value in (("max_jobs", max_jobs), ("stream_batch", stream_batch)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        self.synthesizer = synthesizer
        self.max_jobs = max_jobs
        self.batch_size = batch_size or max_jobs
        # A GPU samples a batch in about one chunk's time; a CPU in the sum of them, so there batching streams
        # only holds back the first ones' first audio (eval/RESULTS.md: 4 streams, same total either way).
        on_gpu = getattr(getattr(synthesizer, "codec", None), "device", torch.device("cpu")).type == "cuda"
        self.stream_batch = stream_batch or (self.batch_size if on_gpu else 1)
        self.batch_sizes: list[int] = []  # jobs per generate call, for tests and logs
        self.stream_rounds: list[int] = []  # streams per advance call, likewise
        self._queue: queue.Queue[_Task] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run(self, job: Job, poll_seconds: float = 0.2) -> list[torch.Tensor]:
        """Generate `job` (blocking) → `[wav: (T,)]` per text. Its `progress` is called from this thread.
        Raises `Cancelled` within `poll_seconds` of `job.cancelled()` becoming true."""
        return self.run_all([job], poll_seconds)[0]

    def run_all(self, jobs: Sequence[Job], poll_seconds: float = 0.2) -> list[list[torch.Tensor]]:
        """Several jobs of one request (e.g. a dialogue's turns), queued together so that they share batches →
        each one's `run` result. When one fails or is cancelled, the others are dropped and its error raised."""
        tasks = [self._submit(job, streamed=False) for job in jobs]
        results = []
        for task in tasks:
            kind, value = self._next(task, poll_seconds)
            if kind == "error":
                for t in tasks:
                    t.dropped.set()
                raise value
            results.append(value)
        return results

    def stream(self, job: Job, poll_seconds: float = 0.2) -> Iterator[torch.Tensor]:
        """The job's first text as successive waveform pieces `(T_i,)` (`Synthesizer.stream`), each as soon as
        it is made. Closing the iterator early drops the rest of the job; a cancelled job raises `Cancelled`."""
        task = self._submit(job, streamed=True)
        finished = False
        try:
            while True:
                kind, value = self._next(task, poll_seconds)
                if kind == "error":
                    raise value
                if kind == "end":
                    finished = True
                    return
                yield value
        finally:
            if not finished:
                task.dropped.set()

    def _submit(self, job: Job, streamed: bool) -> _Task:
        self._ensure_worker()
        task = _Task(job, streamed, job.progress)
        asked = job.cancelled
        # The worker only records progress; UI callbacks run in the caller's thread.
        task.job = dataclasses.replace(
            job, progress=None if job.progress is None else lambda done, total: task.heard.append((done, total)),
            cancelled=lambda: task.dropped.is_set() or (asked is not None and asked()))
        self._queue.put(task)
        return task

    def _next(self, task: _Task, poll_seconds: float) -> tuple[str, Any]:
        while True:
            try:
                item = task.results.get(timeout=poll_seconds)
            except queue.Empty:
                item = None
            task.report_progress()
            if item is not None:
                return item
            if task.job.is_cancelled():
                return "error", Cancelled()

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="tts-batcher", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        streams: list[tuple[_Task, Stream]] = []
        while True:
            tasks = self._take(wait=not streams)
            streams += [(t, self.synthesizer.open_stream(t.job)) for t in tasks if t.streamed and self._alive(t)]
            batch = [t for t in tasks if not t.streamed and self._alive(t)]
            if batch:
                self._generate(batch)
            if streams:
                streams = self._advance(streams)

    def _take(self, wait: bool) -> list[_Task]:
        """Up to `max_jobs` waiting tasks; with `wait`, block until there is one."""
        tasks = []
        if wait:
            tasks.append(self._queue.get())
        while len(tasks) < self.max_jobs:
            try:
                tasks.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return tasks

    @staticmethod
    def _alive(task: _Task) -> bool:
        if task.job.is_cancelled():
            logger.info("dropped a cancelled request before it started")
            task.results.put(("error", Cancelled()))
            return False
        return True

    def _generate(self, batch: list[_Task]) -> None:
        self.batch_sizes.append(len(batch))
        logger.debug("generating %d jobs together", len(batch))
        try:
            results = self.synthesizer.generate([t.job for t in batch], self.batch_size)
        except Exception as err:  # noqa: BLE001 - handed to every waiting caller, who raises it
            for t in batch:
                t.results.put(("error", err))
            return
        for t, wavs in zip(batch, results):
            t.results.put(("error", wavs) if isinstance(wavs, Cancelled) else ("done", wavs))

    def _advance(self, streams: list[tuple[_Task, Stream]]) -> list[tuple[_Task, Stream]]:
        """The next chunk of every open stream, `stream_batch` streams per `advance`; those still open."""
        size = self.stream_batch
        return [kept for i in range(0, len(streams), size) for kept in self._advance_together(streams[i:i + size])]

    def _advance_together(self, streams: list[tuple[_Task, Stream]]) -> list[tuple[_Task, Stream]]:
        self.stream_rounds.append(len(streams))
        try:
            pieces = self.synthesizer.advance([s for _, s in streams], self.batch_size)
        except Exception as err:  # noqa: BLE001 - handed to every stream's reader, who raises it
            for task, _ in streams:
                task.results.put(("error", err))
            return []
        still = []
        for (task, stream), piece in zip(streams, pieces):
            if isinstance(piece, Cancelled):
                task.results.put(("error", piece))
                continue
            if piece.numel():
                task.results.put(("piece", piece))
            if stream.ended:
                task.results.put(("end", None))
            else:
                still.append((task, stream))
        return still
