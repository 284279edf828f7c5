import torch

from app.silence import shorten_pauses

from .conftest import SR, voice_like


def test_long_pauses_are_cut_to_the_limit_and_speech_is_kept():
    speech = voice_like(1.0)
    quiet = 1e-4 * torch.randn(2 * SR, generator=torch.Generator().manual_seed(0))
    wav = torch.cat([speech, quiet, speech, quiet[: SR // 5], speech])  # a 2 s and a 0.2 s pause
    out = shorten_pauses(wav, SR, max_pause=0.5)
    removed = wav.shape[0] - out.shape[0]
    assert abs(removed - 1.5 * SR) <= 0.1 * SR  # 2 s → about 0.5 s; the short pause inside syllables stays
    assert torch.equal(out[:SR // 2], wav[:SR // 2]) and torch.equal(out[-SR // 2:], wav[-SR // 2:])


def test_nothing_changes_without_long_pauses_or_sound():
    speech = voice_like(2.0)
    assert torch.equal(shorten_pauses(speech, SR), speech)
    silence = torch.zeros(SR)
    assert torch.equal(shorten_pauses(silence, SR), silence)
