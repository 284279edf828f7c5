"""Streaming, cancelling and bounding a request: what a server relies on from `Synthesizer`."""
import pytest
import torch

from tts import Synthesizer, TextError
from tts.synthesizer import Cancelled

from .conftest import speechlike
from .test_synthesizer import OPTS, REF_TEXT, SR, FakeASR

TEXT = "The first sentence is here. A second one follows it. And a third closes the text."


@pytest.fixture
def tts(tiny_model, tiny_codec):
    return Synthesizer(tiny_model, tiny_codec, transcriber=FakeASR(), options=OPTS)


@pytest.fixture(scope="module")
def ref():
    return speechlike(3.0)


def test_stream_concatenates_to_the_joined_output(tts, ref):
    opts = dict(max_chunk_seconds=1.5, remove_silence=False)  # several chunks; a stream is not trimmed
    job = tts.prepare([TEXT], ref, SR, REF_TEXT, **opts)
    assert len(job.pieces) > 2
    parts = list(tts.stream(job))
    assert len(parts) == len(job.pieces)  # one yield per chunk, as soon as it is made
    (whole,) = tts.generate([job])[0]
    torch.testing.assert_close(torch.cat(parts), whole, rtol=0, atol=1e-6)


def test_first_chunk_seconds_makes_the_first_piece_short(tts, ref):
    long = tts.prepare([TEXT], ref, SR, REF_TEXT, max_chunk_seconds=30.0)
    short = tts.prepare([TEXT], ref, SR, REF_TEXT, max_chunk_seconds=30.0, first_chunk_seconds=1.0)
    assert len(long.pieces) == 1 and len(short.pieces) > 1
    assert short.pieces[0].length < long.pieces[0].length
    # the words are all still said, in order
    assert " ".join(p.text for p in short.pieces) == long.pieces[0].text


def test_a_cancelled_job_is_dropped_between_batches_and_the_others_finish(tts, ref):
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 1  # true from the second batch on

    doomed = tts.prepare([TEXT], ref, SR, REF_TEXT, max_chunk_seconds=1.5, batch_size=1, cancelled=cancelled)
    other = tts.prepare(["Good morning."], ref, SR, REF_TEXT, batch_size=1)
    out = tts.generate([doomed, other], batch_size=1)
    assert isinstance(out[0], Cancelled) and len(out[1]) == 1
    assert out[1][0].shape == tts.generate([other])[0][0].shape
    streamed = list(tts.stream(tts.prepare([TEXT], ref, SR, REF_TEXT, max_chunk_seconds=1.5,
                                           cancelled=lambda: True)))
    assert streamed == []


def test_the_text_limit_counts_what_will_be_said(tts, ref):
    digits = "123456 " * 30  # 210 characters written, far more said
    with pytest.raises(TextError, match="as it will be said"):
        tts.prepare([digits], ref, SR, REF_TEXT, max_chars=300)
    with pytest.raises(TextError, match="characters long; the limit"):
        tts.prepare(["word " * 1000], ref, SR, REF_TEXT, max_chars=200)


def test_the_audio_one_request_may_generate_is_bounded(tts, ref):
    with pytest.raises(TextError, match="at most 10 s"):
        tts.prepare(["Good morning to you all."], ref, SR, REF_TEXT, max_chars=50, duration=20.0)
    assert tts.prepare(["Good morning to you all."], ref, SR, REF_TEXT, max_chars=50, duration=5.0)


def test_only_the_new_speech_is_decoded_and_it_is_the_whole_decodes_tail(tts, ref):
    job = tts.prepare(["Good morning to you."], ref, SR, REF_TEXT)
    (piece,) = job.pieces
    D = tts.model.config.dit.latent_dim
    noise = tts.rules.noise(job.seed, job.pieces, 0, D)
    latent, lengths = tts.sample_latents([job.ref.latent], [piece.ids], [noise], job.options)
    batch = [(job.ref, piece)]
    (new,) = tts.rules.decode(latent, lengths, batch)
    (whole,) = tts.rules.decode_all(latent, lengths, [job.ref.latent.shape[0]])
    assert new.shape == whole.shape
    assert ((new - whole).norm() / whole.norm()).item() < 1e-5  # the codec's stated bound (README)
    assert "state" in job.ref.decoder  # kept with the reference: the prompt is not decoded again


def test_a_batch_whose_jobs_are_all_cancelled_stops_between_ode_steps(tts, ref, monkeypatch):
    steps = []
    velocity = tts.model.dit.velocity
    monkeypatch.setattr(tts.model.dit, "velocity", lambda *a: steps.append(1) or velocity(*a))
    nfe = 16
    job = tts.prepare(["Good morning to you."], ref, SR, REF_TEXT, nfe=nfe,
                      cancelled=lambda: len(steps) >= 3)  # its client leaves during the third step
    other = tts.prepare(["Good evening."], ref, SR, REF_TEXT, nfe=nfe, cancelled=lambda: False)
    out = tts.generate([job, other], batch_size=2)
    # One batch that the other job still wants: it runs every step (and its work is not thrown away).
    assert len(steps) == nfe and isinstance(out[1], list)
    steps.clear()
    (alone,) = tts.generate([job], batch_size=1)
    assert isinstance(alone, Cancelled) and len(steps) == 3  # asked before each step: no fourth
    steps.clear()
    streamed = list(tts.stream(tts.prepare(["Good morning to you."], ref, SR, REF_TEXT, nfe=nfe,
                                           cancelled=lambda: len(steps) >= 2)))
    assert streamed == [] and len(steps) == 2


def test_seconds_set_each_texts_length_and_match_the_duration_option(tts, ref):
    texts = ["Good morning to you.", "And a good evening."]
    (a, b), sr = tts.synthesize_batch(texts, ref, SR, REF_TEXT, seconds=[1.0, 0.6], remove_silence=False, seed=5)
    hop = round(sr / tts.codec.frame_rate)
    assert (a.numel(), b.numel()) == (round(1.0 * tts.codec.frame_rate) * hop, round(0.6 * tts.codec.frame_rate) * hop)
    alone, _ = tts.synthesize(texts[1], ref, SR, REF_TEXT, duration=0.6, remove_silence=False, seed=5)
    torch.testing.assert_close(b, alone, rtol=0, atol=1e-6)  # the same as the duration option asks for one text
    with pytest.raises(ValueError, match="one length per text"):
        tts.synthesize_batch(texts, ref, SR, REF_TEXT, seconds=[1.0])


def test_streams_advanced_together_share_dit_batches_and_each_equals_its_own_stream(tts, ref, monkeypatch):
    opts = dict(max_chunk_seconds=1.5, remove_silence=False, nfe=4)
    jobs = [tts.prepare([TEXT], ref, SR, REF_TEXT, seed=seed, **opts) for seed in (1, 2)]
    alone = [torch.cat(list(tts.stream(job))) for job in jobs]
    calls = []
    velocity = tts.model.dit.velocity
    monkeypatch.setattr(tts.model.dit, "velocity", lambda *a: calls.append(a[0].shape[0]) or velocity(*a))
    streams = [tts.open_stream(job) for job in jobs]
    parts: list[list[torch.Tensor]] = [[], []]
    rounds = 0
    while not all(s.ended for s in streams):
        live = [i for i, s in enumerate(streams) if not s.ended]
        for i, piece in zip(live, tts.advance([streams[i] for i in live])):
            parts[i].append(piece)
        rounds += 1
    for a, p in zip(alone, parts):
        torch.testing.assert_close(torch.cat(p), a, rtol=0, atol=1e-5)
    assert len(calls) == 4 * rounds and set(calls) == {4}  # both streams (× 2 for CFG) in each step's one call
    with pytest.raises(ValueError, match="has ended"):
        tts.advance(streams)
