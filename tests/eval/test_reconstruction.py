import math

import pytest
import torch

from codec.audio import load_audio, resample
from eval.reconstruction import align, mel_distance, pesq_wb, signal_metrics, stoi


@pytest.fixture(scope="module")
def speech(realspeech):
    row = next(r for r in realspeech if r["id"] == "3752-4944-0001")  # 4.4 s, 16 kHz
    return load_audio(row["path"])


def _noisy(wav: torch.Tensor, snr_db: float) -> torch.Tensor:
    noise = torch.randn(wav.shape, generator=torch.Generator().manual_seed(1))
    scale = wav.pow(2).mean().sqrt() / noise.pow(2).mean().sqrt() / 10 ** (snr_db / 20)
    return wav + scale * noise


def test_identical_audio_scores_best(speech):
    wav, sr = speech
    m = signal_metrics(wav, wav.clone(), sr)
    assert m["pesq_wb"] > 4.5  # the top of the wide-band MOS-LQO scale is 4.64
    assert m["stoi"] > 0.999
    assert m["mel_distance"] == 0.0


def test_metrics_degrade_with_noise(speech):
    wav, sr = speech
    scores = [signal_metrics(wav, _noisy(wav, snr), sr) for snr in (30, 15, 0)]
    pesq, st, mel = ([s[k] for s in scores] for k in ("pesq_wb", "stoi", "mel_distance"))
    assert pesq[0] > pesq[1] > pesq[2]
    assert st[0] > st[1] > st[2]
    assert mel[0] < mel[1] < mel[2]


def test_lengths_and_rates_are_aligned(speech):
    wav, sr = speech
    ref, deg = align(wav, resample(wav, sr, 24000)[:-123], 24000)
    assert ref.shape == deg.shape
    # a few extra samples at the end (a codec's last frame) barely move the scores
    longer = torch.cat([wav, torch.zeros(320)])
    assert stoi(wav, longer, sr) > 0.999
    assert mel_distance(wav, longer, sr) == 0.0


def test_mel_distance_measures_gain_in_log_units(speech):
    wav, sr = speech
    # ln(2) per bin wherever both spectra are above the floor
    assert mel_distance(wav, 0.5 * wav, sr) == pytest.approx(math.log(2), rel=0.05)


def test_pesq_of_silence_is_nan_not_an_error():
    assert math.isnan(pesq_wb(torch.zeros(16000), torch.zeros(16000), 16000))
