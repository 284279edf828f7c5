"""The word check (SynthesisOptions.check_words): a piece the ASR hears missing words is generated again with the
next seed and the best try kept; a piece heard right costs one ASR call and nothing else."""
import json

import pytest
import torch

from tts import Synthesizer, SynthesisOptions, load_f5_checkpoint
from tts.asr import ASRUnavailable, WhisperTranscriber
from tts.cli import build_parser
from tts.options import MAX_WORD_TRIES, OptionError, options_from_args
from tts.word_check import SEED_STEP, Redone, word_error_rate

from .conftest import speechlike
from .test_f5_rules import StandInMelCodec

SR = 16000
REF_TEXT = "hello there, my good friend."
TEXT = "Good morning, dear friend."  # one piece
LONG = "The quick brown fox jumps over the lazy dog. It was not amused, not at all!"
OPTS = SynthesisOptions(nfe=4, seed=7)


class ScriptedASR:
    """Hears the generated pieces, in the order they are made, as `answers` says; counts its calls."""

    def __init__(self, *answers: str):
        self.answers, self.calls = list(answers), 0

    def __call__(self, wav, sample_rate):
        self.calls += 1
        return self.answers[self.calls - 1]


@pytest.fixture(scope="module")
def ref():
    return speechlike(3.0)


@pytest.fixture
def tts(tiny_model, tiny_codec):
    """A tiny synthesizer whose `sizes` lists the size of each batch of pieces sampled."""
    tts = Synthesizer(tiny_model, tiny_codec, transcriber=ScriptedASR(), options=OPTS)
    tts.sizes = []
    tts._generate = (lambda inner: lambda batch: tts.sizes.append(len(batch)) or inner(batch))(tts._generate)
    return tts


def piece_texts(tts, ref, text, opts):
    return [p.text for p in tts.prepare([text], ref, SR, REF_TEXT, opts).pieces]


def test_a_piece_missing_its_last_word_is_generated_again_with_the_next_seed(tts, ref):
    """A model that drops the end of the text: the ASR hears the text without its last word on the first try."""
    [text] = piece_texts(tts, ref, TEXT, OPTS)
    words = text.split()
    tts.transcriber = ScriptedASR(" ".join(words[:-1]), text)
    job = tts.prepare([TEXT], ref, SR, REF_TEXT, check_words=3)
    wav = tts.generate([job])[0][0]
    assert tts.sizes == [1, 1] and tts.transcriber.calls == 2  # the first try, then one more, heard right: stop
    assert job.redone == [Redone(0, 0, (0.25, 0.0), kept=1, heard=text)]
    expected, _ = tts.synthesize(TEXT, ref, SR, REF_TEXT, seed=7 + SEED_STEP)  # check off: the next seed's audio
    assert torch.equal(wav, expected)
    first, _ = tts.synthesize(TEXT, ref, SR, REF_TEXT)
    assert first.shape != wav.shape or not torch.equal(first, wav)


def test_pieces_heard_right_cost_one_asr_call_each_and_change_nothing(tts, ref):
    opts = OPTS.replace(max_chunk_seconds=1.5, batch_size=2)  # several pieces, in several batches
    texts = piece_texts(tts, ref, LONG, opts)
    assert len(texts) > 2
    tts.transcriber = ScriptedASR(*(t.upper() + "!" for t in texts))  # case and punctuation do not count
    job = tts.prepare([LONG], ref, SR, REF_TEXT, opts, check_words=5, max_wer=0.0)
    checked = tts.generate([job])[0][0]
    assert tts.transcriber.calls == len(texts) and job.redone == []
    batches = len(tts.sizes)
    plain, _ = tts.synthesize(LONG, ref, SR, REF_TEXT, opts)
    assert tts.transcriber.calls == len(texts) and len(tts.sizes) == 2 * batches  # off: no ASR, no extra batch
    assert torch.equal(checked, plain)


def test_the_best_try_is_kept_when_every_try_misses(tts, ref):
    [text] = piece_texts(tts, ref, TEXT, OPTS)
    words = text.split()  # good morning dear friend
    heard = ["", " ".join(words[:2]), " ".join(words[:2] + ["deer", "fiend"])]  # WER 1, 0.5, 0.5
    tts.transcriber = ScriptedASR(*heard)
    job = tts.prepare([TEXT], ref, SR, REF_TEXT, check_words=3)
    wav = tts.generate([job])[0][0]
    assert tts.sizes == [1, 1, 1] and tts.transcriber.calls == 3
    assert job.redone == [Redone(0, 0, (1.0, 0.5, 0.5), kept=1, heard=heard[1])]  # the first of the best
    assert torch.equal(wav, tts.synthesize(TEXT, ref, SR, REF_TEXT, seed=7 + SEED_STEP)[0])


def test_one_try_checks_and_reports_without_generating_again(tts, ref):
    tts.transcriber = ScriptedASR("good")
    job = tts.prepare([TEXT], ref, SR, REF_TEXT, check_words=1)
    wav = tts.generate([job])[0][0]
    assert tts.sizes == [1] and job.redone == [Redone(0, 0, (0.75,), kept=0, heard="good")]
    assert torch.equal(wav, tts.synthesize(TEXT, ref, SR, REF_TEXT)[0])


def test_only_the_missing_piece_of_a_batch_is_generated_again_in_a_stream_too(tts, ref):
    opts = OPTS.replace(max_chunk_seconds=1.5, check_words=2, remove_silence=False)
    texts = piece_texts(tts, ref, LONG, opts)
    tts.transcriber = ScriptedASR(texts[0], "", *texts[2:], texts[1])  # piece 1 heard as nothing on its first try
    job = tts.prepare([LONG], ref, SR, REF_TEXT, opts)
    whole = tts.generate([job])[0][0]
    assert tts.sizes == [len(texts), 1] and [(r.chunk_index, r.wers) for r in job.redone] == [(1, (1.0, 0.0))]
    tts.transcriber = ScriptedASR(texts[0], "", *texts[1:])  # a stream makes its pieces one by one
    streamed = tts.prepare([LONG], ref, SR, REF_TEXT, opts)
    pieces = list(tts.stream(streamed))
    assert [(r.chunk_index, r.wers) for r in streamed.redone] == [(1, (1.0, 0.0))]
    torch.testing.assert_close(torch.cat(pieces), whole, atol=1e-5, rtol=1e-4)  # batch of 1 vs all: alike


def test_f5_models_stay_f5_exact_on_the_first_try_and_draw_the_next_seed_through_f5s_rules(f5_reference):
    arch = json.loads((f5_reference / "config.json").read_text())["arch"]
    model = load_f5_checkpoint(f5_reference / "model.safetensors", f5_reference / "vocab.txt", arch)
    codec = StandInMelCodec()
    codec.mel_type = "vocos"  # what the F5 fixture's codec record says
    tts = Synthesizer(model, codec, options=SynthesisOptions(nfe=4, seed=3, max_chunk_seconds=1.0))
    ref, text = speechlike(2.0, 24000), "this is a test, and here are more words. short."
    plain, _ = tts.synthesize(text, ref, 24000, "hello world")
    pieces = [p.text for p in tts.prepare([text], ref, 24000, "hello world").pieces]  # as written, F5-TTS's chunks
    assert len(pieces) > 1
    tts.transcriber = ScriptedASR(*pieces)
    assert torch.equal(tts.synthesize(text, ref, 24000, "hello world", check_words=2)[0], plain)
    tts.transcriber = ScriptedASR(*["nothing"] * len(pieces), *pieces)  # every piece missed once
    job = tts.prepare([text], ref, 24000, "hello world", check_words=2)
    again = tts.generate([job])[0][0]
    assert [r.kept for r in job.redone] == [1] * len(pieces)
    assert torch.equal(again, tts.synthesize(text, ref, 24000, "hello world", seed=3 + SEED_STEP)[0])


def test_an_asr_that_cannot_load_fails_the_request_in_prepare_only_when_the_check_is_on(tts, ref, monkeypatch):
    def failing_load(self):
        raise OSError("hub unreachable")

    monkeypatch.setattr(WhisperTranscriber, "_load", failing_load)
    tts.transcriber = WhisperTranscriber("some/whisper")
    tts.prepare([TEXT], ref, SR, REF_TEXT)  # off: the ASR is not needed
    with pytest.raises(ASRUnavailable, match="hub unreachable"):
        tts.prepare([TEXT], ref, SR, REF_TEXT, check_words=2)  # before any batch another job could share


def test_word_error_rate_normalises_both_sides():
    assert word_error_rate("Twenty-two well-known apples, please.", "22 well known apples please") == 0.0
    assert word_error_rate("It costs 22 dollars.", "it costs twenty two dollars") == 0.0
    assert word_error_rate("a b c d", "a x c d e") == 0.5  # one substitution, one insertion
    assert word_error_rate("...", "anything") is None


@pytest.mark.parametrize("values", [{"check_words": -1}, {"check_words": MAX_WORD_TRIES + 1}, {"check_words": 1.5},
                                    {"check_words": True}, {"check_words": None}, {"max_wer": -0.1},
                                    {"max_wer": 1.5}, {"max_wer": float("nan")}, {"max_wer": None}])
def test_word_check_options_out_of_range_are_refused(values):
    with pytest.raises(OptionError) as err:
        SynthesisOptions(**values)
    assert err.value.field == next(iter(values))


def test_word_check_is_off_by_default_and_set_from_the_command_line():
    assert SynthesisOptions().check_words == 0
    args = build_parser().parse_args(["synth", "--text", "x", "--ref", "r.wav", "--out", "o.wav", "--model", "m",
                                      "--check-words", "3", "--max-wer", "0.3"])
    opts = options_from_args(args)
    assert (opts.check_words, opts.max_wer) == (3, 0.3)
