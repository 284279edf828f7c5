"""Signal metrics of a reconstruction against its original: PESQ (wide-band), STOI and mel distance.

Every function takes `(reference: (T,), degraded: (T',), sample_rate)`, resamples both to 16 kHz and cuts
them to the shorter length, as WavCube's evaluator does (a codec may return a few samples more or fewer;
no delay compensation is applied, so a codec that shifts the signal is penalised).
"""
from __future__ import annotations

import functools

import torch
import torchaudio

from codec.audio import mono_at

METRIC_SAMPLE_RATE = 16000  # PESQ wide-band is defined at 16 kHz; STOI resamples to 10 kHz internally
MEL_N_FFT, MEL_HOP, MEL_BANDS = 1024, 256, 80
MEL_FLOOR = 1e-5  # log floor, as in HiFi-GAN/Vocos mel losses


def align(reference: torch.Tensor, degraded: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Both clips as mono float32 at 16 kHz, cut to the shorter one: `(T,), (T,)`."""
    ref = mono_at(reference, sample_rate, METRIC_SAMPLE_RATE)
    deg = mono_at(degraded, sample_rate, METRIC_SAMPLE_RATE)
    n = min(ref.numel(), deg.numel())
    if n == 0:
        raise ValueError("cannot compare an empty clip")
    return ref[:n], deg[:n]


def pesq_wb(reference: torch.Tensor, degraded: torch.Tensor, sample_rate: int) -> float:
    """ITU-T P.862.2 wide-band PESQ (MOS-LQO, about 1.0–4.64) with the `pesq` package.

    Returns NaN when PESQ finds no speech in the reference (silence) or the clip is too short for it; the
    report counts those instead of failing the whole run.
    """
    from pesq import PesqError, pesq

    ref, deg = align(reference, degraded, sample_rate)
    try:
        return float(pesq(METRIC_SAMPLE_RATE, ref.numpy(), deg.numpy(), "wb"))
    except PesqError:
        return float("nan")


def stoi(reference: torch.Tensor, degraded: torch.Tensor, sample_rate: int) -> float:
    """Short-time objective intelligibility (classic, not extended; `pystoi`), in [0, 1] for speech."""
    from pystoi import stoi as _stoi

    ref, deg = align(reference, degraded, sample_rate)
    return float(_stoi(ref.numpy(), deg.numpy(), METRIC_SAMPLE_RATE, extended=False))


@functools.lru_cache(maxsize=1)
def _mel() -> torchaudio.transforms.MelSpectrogram:
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=METRIC_SAMPLE_RATE, n_fft=MEL_N_FFT, hop_length=MEL_HOP, n_mels=MEL_BANDS, power=1.0)


def mel_distance(reference: torch.Tensor, degraded: torch.Tensor, sample_rate: int) -> float:
    """Mean absolute difference of natural-log mel magnitudes (80 bands, 1024-point FFT, hop 256, 16 kHz).

    0 for identical audio; a loudness change by a factor g adds about |ln g|. Our own measure: it is not on
    the scale of any paper's "mel distance", so compare it only across cubetts runs.
    """
    ref, deg = align(reference, degraded, sample_rate)
    mel = _mel()
    return float((mel(ref).clamp_min(MEL_FLOOR).log() - mel(deg).clamp_min(MEL_FLOOR).log()).abs().mean())


def signal_metrics(reference: torch.Tensor, degraded: torch.Tensor, sample_rate: int) -> dict[str, float]:
    return {"pesq_wb": pesq_wb(reference, degraded, sample_rate), "stoi": stoi(reference, degraded, sample_rate),
            "mel_distance": mel_distance(reference, degraded, sample_rate)}
