"""Requests that arrive together are generated together: one DiT batch serves many users.

Each request is checked and prepared in its own handler thread (`Synthesizer.prepare`, where every
input error is raised and answered to that user alone); the prepared jobs then meet here. One
worker thread runs `Synthesizer.generate` on all jobs waiting at that moment, so under load the
batch grows with the queue and throughput with it, while a lone request starts at once.
"""
from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from concurrent.futures import Future

import torch

from .synthesizer import Job, Synthesizer

logger = logging.getLogger(__name__)


class Batcher:
    """`run(job)` from any thread → that job's waveforms, generated in a batch with whatever else is waiting.

    At most `max_jobs` jobs go into one `generate` call, with DiT batches of up to `batch_size`
    pieces (default: `max_jobs`). Each job's result equals what it gives alone (see `generate`).
    An error in `generate` (e.g. out of GPU memory) is raised in every caller of that batch.
    """

    def __init__(self, synthesizer: Synthesizer, max_jobs: int = 16, batch_size: int | None = None):
        if max_jobs < 1:
            raise ValueError(f"max_jobs must be at least 1, got {max_jobs}")
        self.synthesizer = synthesizer
        self.max_jobs = max_jobs
        self.batch_size = batch_size or max_jobs
        self.batch_sizes: list[int] = []  # jobs per generate call, for tests and logs
        self._queue: queue.Queue[tuple[Job, Future]] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def run(self, job: Job, poll_seconds: float = 0.2) -> list[torch.Tensor]:
        """Generate `job` (blocking) → `[wav: (T,)]` per text. Its `progress` is called from this thread."""
        self._ensure_worker()
        progress = job.progress
        latest: list[tuple[int, int]] = []
        if progress is not None:  # the worker only records; UI callbacks run in the caller's thread
            job = dataclasses.replace(job, progress=lambda done, total: latest.append((done, total)))
        future: Future = Future()
        self._queue.put((job, future))
        reported = 0
        while True:
            try:
                result = future.result(timeout=poll_seconds)
            except TimeoutError:
                result = None
            if progress is not None and len(latest) > reported:
                reported = len(latest)
                progress(*latest[-1])
            if future.done():
                return result if result is not None else future.result()

    def _ensure_worker(self) -> None:
        with self._start_lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._work, name="tts-batcher", daemon=True)
                self._worker.start()

    def _work(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_jobs:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.batch_sizes.append(len(batch))
            logger.debug("generating %d jobs together", len(batch))
            try:
                results = self.synthesizer.generate([job for job, _ in batch], self.batch_size)
            except Exception as err:  # noqa: BLE001 - handed to every waiting caller, who raises it
                for _, future in batch:
                    future.set_exception(err)
                continue
            for (_, future), wavs in zip(batch, results):
                future.set_result(wavs)

