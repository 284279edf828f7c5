import threading
import time

import pytest
import torch

from tts import SynthesisOptions
from tts.batcher import Batcher
from tts.synthesizer import Cancelled, Job


def FakeJob(name, progress=None, cancelled=None):
    """A Job the batcher only forwards: its `name` travels in `pieces`."""
    return Job(None, name, ("text",), 0, SynthesisOptions(), progress, cancelled)


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


def test_a_cancelled_job_is_dropped_before_its_batch_and_its_caller_is_answered_at_once():
    synth = BlockingSynthesizer()
    batcher = Batcher(synth, max_jobs=4)
    gone = threading.Event()
    outcome = {}

    def first():
        outcome["first"] = batcher.run(FakeJob("a"), poll_seconds=0.01)

    def cancelled():
        try:
            batcher.run(FakeJob("bb", cancelled=gone.is_set), poll_seconds=0.01)
        except Cancelled:
            outcome["bb"] = time.monotonic()

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert synth.started.wait(10)  # "a" holds the model; "bb" waits behind it
    threads.append(threading.Thread(target=cancelled))
    threads[1].start()
    while batcher._queue.qsize() < 1:
        time.sleep(0.01)
    gone.set()
    set_at = time.monotonic()
    threads[1].join(10)
    assert outcome["bb"] - set_at < 1.0  # answered while the model is still busy with "a"
    synth.release.set()
    threads[0].join(10)
    batcher.run(FakeJob("ccc"), poll_seconds=0.01)
    assert [names for names, _ in synth.calls] == [["a"], ["ccc"]]  # "bb" never reached generate


def test_a_job_cancelled_inside_generate_gets_cancelled():
    class Dropping(BlockingSynthesizer):
        def generate(self, jobs, batch_size):
            return [Cancelled() if job.is_cancelled() else [torch.zeros(1)] for job in jobs]

    batcher = Batcher(Dropping())
    with pytest.raises(Cancelled):
        batcher.run(FakeJob("a", cancelled=lambda: True), poll_seconds=0.01)


class FakeStream:
    def __init__(self, job, n):
        self.job, self.n, self.i = job, n, 0

    @property
    def ended(self):
        return self.i == self.n


class StreamingSynthesizer(BlockingSynthesizer):
    """Streams of `n` chunks, chunk i being `[i, i]`; `rounds` records how many streams each `advance` served."""

    def __init__(self, n=4):
        super().__init__()
        self.n, self.made, self.rounds = n, [], []
        self.release.set()

    def open_stream(self, job):
        return FakeStream(job, self.n)

    def advance(self, streams, batch_size=None):
        self.rounds.append(len(streams))
        out = []
        for stream in streams:
            if stream.job.is_cancelled():
                out.append(Cancelled())
                continue
            self.made.append((stream.job.pieces, stream.i))
            out.append(torch.full((2,), float(stream.i)))
            stream.i += 1
        return out


def test_a_stream_yields_its_pieces_in_order_and_takes_turns_with_batches():
    synth = StreamingSynthesizer(n=3)
    batcher = Batcher(synth)
    pieces = batcher.stream(FakeJob("s"), poll_seconds=0.01)
    first = next(pieces)
    assert first.tolist() == [0.0, 0.0]
    assert batcher.run(FakeJob("other"), poll_seconds=0.01)[0].item() == 5  # served while the stream is open
    assert [p[0].item() for p in pieces] == [1.0, 2.0]
    assert len(synth.made) == 3


def test_closing_a_stream_drops_the_rest_of_its_job():
    synth = StreamingSynthesizer(n=1000)
    batcher = Batcher(synth)
    pieces = batcher.stream(FakeJob("s"), poll_seconds=0.01)
    next(pieces)
    pieces.close()  # the client went away
    assert batcher.run(FakeJob("next"), poll_seconds=0.01)[0].item() == 4  # the worker goes on
    made = len(synth.made)
    time.sleep(0.1)
    assert len(synth.made) == made < 1000  # and makes no more of the closed stream


def test_a_cancelled_stream_raises_cancelled():
    synth = StreamingSynthesizer(n=1000)
    gone = threading.Event()
    pieces = Batcher(synth).stream(FakeJob("s", cancelled=gone.is_set), poll_seconds=0.01)
    next(pieces)
    gone.set()
    with pytest.raises(Cancelled):
        for _ in pieces:
            pass
    made = len(synth.made)
    time.sleep(0.1)
    assert len(synth.made) == made < 1000


@pytest.mark.parametrize("stream_batch, rounds", [(None, [1] * 9), (3, [3, 3, 3]), (2, [2, 1] * 3)])
def test_streams_open_together_are_advanced_stream_batch_at_a_time(stream_batch, rounds):
    synth = StreamingSynthesizer(n=3)
    batcher = Batcher(synth, stream_batch=stream_batch)  # None: one by one, as on a CPU
    hold = BlockingSynthesizer()  # the first round is a batch that waits, so that the three streams queue up
    synth.generate, synth.release, synth.started = hold.generate, hold.release, hold.started
    first = threading.Thread(target=lambda: batcher.run(FakeJob("wait"), poll_seconds=0.01))
    first.start()
    assert hold.started.wait(10)
    streams = [batcher.stream(FakeJob(name), poll_seconds=0.01) for name in ("a", "b", "c")]
    got = {}
    readers = [threading.Thread(target=lambda name=name, s=s: got.__setitem__(name, [p[0].item() for p in s]))
               for name, s in zip("abc", streams)]
    for r in readers:
        r.start()
    while batcher._queue.qsize() < 3:
        time.sleep(0.01)
    hold.release.set()
    for t in [first, *readers]:
        t.join(10)
    assert got == {name: [0.0, 1.0, 2.0] for name in "abc"}
    assert synth.rounds == rounds  # each chunk of the three streams, in `stream_batch`es


def test_stream_batch_must_be_positive():
    with pytest.raises(ValueError, match="stream_batch must be at least 1"):
        Batcher(StreamingSynthesizer(), stream_batch=0)
