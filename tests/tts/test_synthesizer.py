import csv

import pytest
import soundfile as sf
import torch

from codec import AudioError, load_audio
from tts import Synthesizer, SynthesisOptions, TextError
from tts.duration import DEFAULT_RULE, get_rule
from tts.splice import cut_at_pause, frame_db

from .conftest import speechlike

SR = 16000
REF_TEXT = "hello there, my good friend."
OPTS = SynthesisOptions(nfe=4, seed=7)


class FakeASR:
    def __init__(self, text=REF_TEXT):
        self.text, self.calls = text, []

    def __call__(self, wav, sample_rate):
        self.calls.append((wav.shape[0], sample_rate))
        return self.text


@pytest.fixture
def tts(tiny_model, tiny_codec):
    return Synthesizer(tiny_model, tiny_codec, transcriber=FakeASR(), options=OPTS)


@pytest.fixture(scope="module")
def ref():
    return speechlike(3.0)


def test_synthesize_is_deterministic_with_a_seed(tts, ref):
    wav, sr = tts.synthesize("Good morning.", ref, SR, REF_TEXT)
    assert sr == 16000 and wav.dim() == 1 and wav.shape[0] > 0 and torch.isfinite(wav).all()
    again, _ = tts.synthesize("Good morning.", ref, SR, REF_TEXT)
    assert torch.equal(wav, again)
    other, _ = tts.synthesize("Good morning.", ref, SR, REF_TEXT, seed=8)
    assert other.shape != wav.shape or not torch.equal(other, wav)


def test_batch_equals_single_and_chunks_batch_alike(tts, ref):
    texts = ["Good morning.", "The quick brown fox jumps over the lazy dog. It was not amused, not at all!"]
    opts = OPTS.replace(max_chunk_seconds=1.5)  # the second text becomes several pieces
    assert len(tts.plan(1, tts.tokenizer.normalize(texts[1]), tts.prepare_reference(ref, SR, REF_TEXT, opts), opts)) > 1
    batch, _ = tts.synthesize_batch(texts, ref, SR, REF_TEXT, opts)
    one_by_one, _ = tts.synthesize_batch(texts, ref, SR, REF_TEXT, opts.replace(batch_size=1))
    single, _ = tts.synthesize(texts[1], ref, SR, REF_TEXT, opts)
    for a, b in [(batch[1], single), (batch[0], one_by_one[0]), (batch[1], one_by_one[1])]:
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)


def test_requests_with_different_voices_and_options_batch_as_they_run_alone(tts, ref):
    other = speechlike(2.2, seed=3)  # another voice, and a prompt of another length
    jobs = [tts.prepare(["Good morning."], ref, SR, REF_TEXT, seed=1),
            tts.prepare(["The quick brown fox jumps.", "Over the dog."], other, SR, "a voice of its own.", seed=2),
            tts.prepare(["Good morning."], other, SR, "a voice of its own.", seed=1, cfg=0.0)]
    assert jobs[0].ref.latent.shape[0] != jobs[1].ref.latent.shape[0]
    sizes = []
    tts._generate = (lambda inner: lambda batch: sizes.append(len(batch)) or inner(batch))(tts._generate)
    together = tts.generate(jobs, batch_size=8)
    assert sizes == [3, 1]  # jobs 0 and 1 share a DiT batch; job 2 samples differently (no CFG)
    alone = [tts.generate([job])[0] for job in jobs]
    assert [len(w) for w in together] == [1, 2, 1]
    for got, want in zip(together, alone):
        for a, b in zip(got, want):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)
    assert together[0][0].shape != together[2][0].shape or not torch.equal(together[0][0], together[2][0])


def test_progress_reports_each_batch_of_pieces(tts, ref):
    text = "The quick brown fox jumps over the lazy dog. It was not amused, not at all!"
    opts = OPTS.replace(max_chunk_seconds=1.5, batch_size=1)
    total = len(tts.plan(0, tts.tokenizer.normalize(text), tts.prepare_reference(ref, SR, REF_TEXT, opts), opts))
    calls = []
    tts.synthesize(text, ref, SR, REF_TEXT, opts, progress=lambda done, n: calls.append((done, n)))
    assert total > 1 and calls == [(i, total) for i in range(1, total + 1)]


def test_duration_follows_the_models_rule_speed_and_override(tts, ref):
    r = tts.prepare_reference(ref, SR, REF_TEXT, OPTS)
    text = tts.tokenizer.normalize("Seven short words are spoken right here.")  # plan takes normalised text
    (piece,) = tts.plan(0, text, r, OPTS)
    new = piece.length - r.frames  # frames after the prompt
    rule = get_rule(tts.model.config.duration_rule)
    assert tts.model.config.duration_rule == DEFAULT_RULE
    assert new == rule.frames(r.text, r.frames, text, 1.0, tts.codec.frame_rate)
    assert new != get_rule("phones").frames(r.text, r.frames, text, 1.0, tts.codec.frame_rate)  # it is used
    (fast,) = tts.plan(0, text, r, OPTS.replace(speed=2.0))
    assert abs(fast.length - r.frames - new / 2) <= 1
    long_text = " ".join(["This sentence is here to fill time."] * 6)
    pieces = tts.plan(0, tts.tokenizer.normalize(long_text), r, OPTS.replace(duration=4.0, max_chunk_seconds=2.0))
    assert len(pieces) > 1 and abs(sum(p.length - r.frames for p in pieces) - 200) <= len(pieces)
    wav, _ = tts.synthesize(text, ref, SR, REF_TEXT, duration=1.0, crossfade_seconds=0.0)
    assert wav.shape[0] <= 50 * 320


def test_each_text_is_normalised_once(tts, ref, monkeypatch):
    import tts.text as frontend

    seen = []
    normalize = frontend.normalize_text
    monkeypatch.setattr(frontend, "normalize_text", lambda text: seen.append(text) or normalize(text))
    texts = ["Good morning.", " ".join(["Dr. Smith paid $3.50, at 3:30, for 2 of them."] * 4)]
    job = tts.prepare(texts, ref, SR, REF_TEXT, max_chunk_seconds=1.5)  # the long text: many pieces
    assert len(job.pieces) > 3 and seen == [*texts, REF_TEXT]
    assert job.texts == tuple(normalize(t) for t in texts)
    assert job.ref.text == normalize(REF_TEXT)


@pytest.mark.parametrize("text, message", [("", "empty"), ("  ", "empty"), ("?! ...", "nothing speakable")])
def test_bad_text(tts, ref, text, message):
    with pytest.raises(TextError, match=message):
        tts.synthesize(text, ref, SR, REF_TEXT)
    with pytest.raises(TextError, match="text 1: .*" + message):
        tts.synthesize_batch(["fine", text], ref, SR, REF_TEXT)


def test_bad_reference_audio(tts, ref, tmp_path):
    cases = [
        (torch.zeros(3 * SR), SR, "silent"),
        (1e-5 * torch.randn(3 * SR), SR, "silent"),
        (torch.cat([torch.zeros(SR), speechlike(0.6), torch.zeros(SR)]), SR, "at least 1 s"),
        (torch.full((SR,), float("nan")), SR, "NaN"),
        (torch.zeros(0), SR, "the reference is empty"),
        (ref, 16000.0, "ref_sr must be a positive integer"),
        (ref, None, "ref_sr is required"),
        ((ref * 1000).long(), SR, "float"),
        (torch.zeros(3, 3, SR), SR, "shape"),
    ]
    for wav, sr, message in cases:
        with pytest.raises(AudioError, match=message):
            tts.synthesize("Hello.", wav, sr, REF_TEXT)
    garbage = tmp_path / "bad.wav"
    garbage.write_bytes(b"not audio at all" * 10)
    with pytest.raises(AudioError, match="cannot read"):
        tts.synthesize("Hello.", garbage, ref_text=REF_TEXT)
    with pytest.raises(AudioError, match="not found"):
        tts.synthesize("Hello.", tmp_path / "missing.wav", ref_text=REF_TEXT)
    with pytest.raises(TextError, match="ref_text"):
        tts.synthesize("Hello.", ref, SR, "...")


def test_asr_transcribes_only_when_no_transcript(tts, ref):
    tts.synthesize("Hello.", ref, SR, REF_TEXT)
    assert tts.transcriber.calls == []
    tts.synthesize("Hello.", ref, SR)
    tts.synthesize("Goodbye.", ref, SR)  # the same clip again: its transcript is kept
    ((n, sr),) = tts.transcriber.calls
    assert sr == SR and n <= ref.shape[0]
    other = FakeASR(REF_TEXT)
    tts.transcriber, first = other, tts.transcriber
    tts.synthesize("Hello.", ref, SR)  # another transcriber: the clip is transcribed anew
    assert len(other.calls) == 1
    tts.transcriber = first
    tts.transcriber.text = " "
    tts.forget_references()
    with pytest.raises(TextError, match="ASR"):
        tts.synthesize("Hello.", ref, SR)


def test_references_are_kept_by_their_samples_and_transcript(tts, ref, monkeypatch):
    encoded = []
    encode = tts.codec.encode
    monkeypatch.setattr(tts.codec, "encode", lambda wav, sr: encoded.append(wav.shape) or encode(wav, sr))
    mine = ref.clone()
    first = tts.synthesize("Hello there.", mine, SR, REF_TEXT)[0]
    mine.zero_()  # the caller's buffer changes after the call: what was kept does not
    again = tts.synthesize("Hello there.", ref, SR, REF_TEXT)[0]  # the same samples, another tensor
    assert len(encoded) == 1 and torch.equal(first, again)
    tts.synthesize("Hello there.", ref, SR, "another transcript.")  # another key: prepared anew
    tts.synthesize("Hello there.", ref * 0.5, SR, REF_TEXT)
    assert len(encoded) == 3
    tts.forget_references()
    tts.synthesize("Hello there.", ref, SR, REF_TEXT)
    assert len(encoded) == 4


def test_reference_cache_keeps_the_most_recent(tts, ref, monkeypatch):
    tts.reference_cache_size = 2
    encoded = []
    encode = tts.codec.encode
    monkeypatch.setattr(tts.codec, "encode", lambda wav, sr: encoded.append(1) or encode(wav, sr))
    clips = [ref * g for g in (1.0, 0.9, 0.8)]
    for i in (0, 1, 0, 2, 0, 1):  # 0 is used again before it is the oldest; 1 is dropped when 2 comes
        tts.prepare_reference(clips[i], SR, REF_TEXT, OPTS)
    assert len(encoded) == 4
    tts.reference_cache_size = 0  # what is still kept is not used either: clips[0] is ref's samples
    for _ in range(2):
        tts.prepare_reference(ref, SR, REF_TEXT, OPTS)
    assert len(encoded) == 6
    with pytest.raises(AudioError, match="silent"):  # errors are never kept
        tts.prepare_reference(torch.zeros(3 * SR), SR, REF_TEXT, OPTS)


def test_long_reference_is_cut_at_a_pause(tts):
    long = speechlike(20.0, pauses=[(6.0, 6.5), (12.0, 12.5)])
    r = tts.prepare_reference(long, SR, None, OPTS)
    assert 11.9 * SR < r.wav.shape[0] < 12.5 * SR
    assert r.latent.shape[0] == (r.wav.shape[0] - 400) // 320 + 1
    with pytest.raises(AudioError, match="max_ref_seconds"):
        tts.prepare_reference(long, SR, "a transcript of the whole clip", OPTS)


def test_from_pretrained_and_file_reference(tiny_model, tiny_codec, ref, tmp_path):
    tiny_model.save_pretrained(tmp_path / "tts")
    tiny_codec.save_pretrained(tmp_path / "codec")
    sf.write(tmp_path / "ref.wav", (ref * 0.5).numpy(), 24000)  # another rate: resampled on the way in
    tts = Synthesizer.from_pretrained(tmp_path / "tts", tmp_path / "codec", "cpu")
    wav, sr = tts.synthesize("Hello there.", tmp_path / "ref.wav", ref_text=REF_TEXT, nfe=4, seed=0)
    direct = Synthesizer(tiny_model, tiny_codec, FakeASR())
    expected, _ = direct.synthesize("Hello there.", tmp_path / "ref.wav", ref_text=REF_TEXT, nfe=4, seed=0)
    torch.testing.assert_close(wav, expected, atol=1e-5, rtol=1e-4)


def test_real_speech_reference(tts, testdata):
    folder = testdata / "realspeech"
    with open(folder / "manifest.tsv") as f:
        rows = [r for r in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                if r["file"].startswith("libritts_test_clean")][:2]
    clips = [load_audio(folder / r["file"], target_sr=SR)[0] for r in rows]
    ref = tts.prepare_reference(clips[0], SR, rows[0]["transcript"], OPTS)
    assert ref.units >= len(rows[0]["transcript"].split()) and ref.latent.shape[1] == 128
    # Real speech over 15 s: cut where the level is far below the loudest frame, and within 15 s.
    joined = torch.cat(clips * 3)
    cut = cut_at_pause(joined, SR, 15.0)
    assert cut is not None and cut.shape[0] <= 15 * SR
    around = joined[cut.shape[0] - 160: cut.shape[0] + 160]
    assert frame_db(around, SR).max() < frame_db(joined, SR).max() - 30
    assert tts.prepare_reference(joined, SR, None, OPTS).wav.shape[0] <= 15 * SR


def test_sample_latents_is_the_model_sampling_from_the_given_noise_and_leaves_the_global_rng(tts):
    """What training's log_sample relies on: prompt latent + token ids + noise → the model's sample, drawing
    nothing from the global generator (a resumed run must draw the same global random numbers)."""
    gen = torch.Generator().manual_seed(1)
    prompt, text = torch.randn(10, 128, generator=gen), [5, 7, 9, 11, 3]
    state = torch.random.get_rng_state()
    noise = torch.randn(1, 24, 128, generator=torch.Generator().manual_seed(3))
    latent, lengths = tts.sample_latents([prompt], [text], [noise[0]], OPTS)
    assert torch.equal(torch.random.get_rng_state(), state)
    expected = tts.model.sample(prompt[None], torch.tensor([10]), torch.tensor([text]), torch.tensor([24]), noise,
                                nfe=OPTS.nfe, cfg=OPTS.cfg, sway=OPTS.sway, solver=OPTS.solver,
                                schedule=OPTS.schedule)
    assert lengths.tolist() == [24] and torch.equal(latent, expected)
    torch.testing.assert_close(latent[0, :10], prompt)  # the prompt in front, in the codec's scale
    other, _ = tts.sample_latents([prompt], [text], [torch.randn(24, 128)], OPTS)
    assert not torch.allclose(other[0, 10:], latent[0, 10:])
