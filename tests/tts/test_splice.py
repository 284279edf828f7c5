import torch

from tts.splice import crossfade_join, cut_at_pause, is_silent, shorten_pauses, trim_silence

from .conftest import speechlike

SR = 16000


def test_trim_silence_keeps_the_speech_and_a_margin():
    speech = speechlike(1.0)
    wav = torch.cat([torch.zeros(SR // 2), speech, 1e-4 * torch.randn(SR)])
    out = trim_silence(wav, SR)
    assert 1.0 * SR <= out.shape[0] <= 1.0 * SR + 0.15 * SR
    assert trim_silence(torch.zeros(SR), SR).numel() == 0


def test_silence_detection():
    assert is_silent(torch.zeros(SR), SR)
    assert is_silent(1e-4 * torch.randn(SR), SR)
    assert not is_silent(speechlike(1.0), SR)


def test_cut_at_pause_ends_inside_the_last_pause_before_the_limit():
    wav = speechlike(20.0, pauses=[(4.0, 4.5), (11.0, 11.6), (16.0, 17.0)])
    cut = cut_at_pause(wav, SR, max_seconds=15.0)
    assert 11.0 * SR < cut.shape[0] < 11.6 * SR
    assert cut_at_pause(speechlike(20.0), SR, max_seconds=15.0) is None  # no pause at all


def test_crossfade_join():
    a, b = torch.ones(1000), torch.ones(800)
    out = crossfade_join([a, b], 1000, seconds=0.1)
    assert out.shape[0] == 1800 - 100
    # an equal-power fade of identical signals rises above 1 in the middle, never below the ends
    assert out.min() >= 1 - 1e-6 and out.max() <= 2 ** 0.5 + 1e-6
    short = crossfade_join([torch.ones(10), torch.ones(10)], 1000, seconds=0.1)
    assert short.shape[0] == 15  # overlap shortened to half the shorter piece
    assert torch.equal(crossfade_join([a], 1000, 0.1), a)


def test_long_pauses_are_cut_to_the_limit_and_speech_is_kept():
    speech = speechlike(1.0)
    quiet = 1e-4 * torch.randn(2 * SR, generator=torch.Generator().manual_seed(0))
    wav = torch.cat([speech, quiet, speech, quiet[: SR // 5], speech])  # a 2 s and a 0.2 s pause
    out = shorten_pauses(wav, SR, max_pause=0.5)
    removed = wav.shape[0] - out.shape[0]
    assert abs(removed - 1.5 * SR) <= 0.1 * SR  # 2 s → about 0.5 s; the short pause inside syllables stays
    assert torch.equal(out[:SR // 2], wav[:SR // 2]) and torch.equal(out[-SR // 2:], wav[-SR // 2:])


def test_shorten_pauses_changes_nothing_without_long_pauses_or_sound():
    speech = speechlike(2.0)
    assert torch.equal(shorten_pauses(speech, SR), speech)
    silence = torch.zeros(SR)
    assert torch.equal(shorten_pauses(silence, SR), silence)
