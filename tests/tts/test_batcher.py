import threading

import pytest
import torch

from tts.batcher import Batcher
from tts import SynthesisOptions
from tts.synthesizer import Job


def FakeJob(name, progress=None):
    """A Job the batcher only forwards: its `name` travels in `pieces`."""
    return Job(None, name, ("text",), 0, SynthesisOptions(), progress)


class BlockingSynthesizer:
    """`generate` waits for `release` on its first call, so that later jobs queue up behind it."""

    def __init__(self, fail=False):
        self.release, self.started, self.calls, self.fail = threading.Event(), threading.Event(), [], fail

    def generate(self, jobs, batch_size):
        self.calls.append(([j.pieces for j in jobs], batch_size))
        self.started.set()
        self.release.wait(10)
        if self.fail:
            raise torch.cuda.OutOfMemoryError("out of memory")
        for job in jobs:
            if job.progress is not None:
                job.progress(1, 1)
        return [[torch.tensor([float(len(job.pieces))])] for job in jobs]


def run_all(batcher, synth, names):
    """Submit the first job, wait until it is generating, then submit the rest together."""
    results, errors = {}, {}

    def submit(name, progress=None):
        try:
            results[name] = batcher.run(FakeJob(name, progress), poll_seconds=0.01)
        except Exception as err:  # noqa: BLE001 - the test checks what each caller got
            errors[name] = err

    first = threading.Thread(target=submit, args=(names[0],))
    first.start()
    assert synth.started.wait(10)
    rest = [threading.Thread(target=submit, args=(n,)) for n in names[1:]]
    for t in rest:
        t.start()
    while batcher._queue.qsize() < len(rest):
        threading.Event().wait(0.01)
    synth.release.set()
    for t in [first, *rest]:
        t.join(10)
    return results, errors


def test_jobs_waiting_together_share_one_generate_call_and_get_their_own_result():
    synth = BlockingSynthesizer()
    batcher = Batcher(synth, max_jobs=3, batch_size=8)
    results, errors = run_all(batcher, synth, ["a", "bb", "ccc", "dddd", "eeeee"])
    assert not errors
    assert [sorted(names) for names, _ in synth.calls] == [["a"], ["bb", "ccc", "dddd"], ["eeeee"]]
    assert all(size == 8 for _, size in synth.calls)
    assert batcher.batch_sizes == [1, 3, 1]
    assert {name: wavs[0].item() for name, wavs in results.items()} == {n: len(n) for n in results}


def test_an_error_in_generate_reaches_every_caller_of_that_batch_and_the_worker_goes_on():
    synth = BlockingSynthesizer(fail=True)
    batcher = Batcher(synth, max_jobs=4)
    results, errors = run_all(batcher, synth, ["a", "bb", "ccc"])
    assert not results and set(errors) == {"a", "bb", "ccc"}
    assert all(isinstance(e, torch.cuda.OutOfMemoryError) for e in errors.values())
    synth.fail = False
    assert batcher.run(FakeJob("later"), poll_seconds=0.01)[0].item() == 5


def test_progress_is_reported_in_the_callers_thread():
    synth = BlockingSynthesizer()
    synth.release.set()
    seen = []
    batcher = Batcher(synth)
    batcher.run(FakeJob("a", lambda done, total: seen.append((done, total, threading.current_thread()))),
                poll_seconds=0.01)
    assert seen == [(1, 1, threading.current_thread())]


def test_max_jobs_must_be_positive():
    with pytest.raises(ValueError, match="max_jobs must be at least 1, got 0"):
        Batcher(BlockingSynthesizer(), max_jobs=0)
