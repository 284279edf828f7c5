"""Tiny random models for the TTS tests."""
from pathlib import Path

import pytest
import torch

from codec import WavCube, WavCubeConfig
from tts.model import TTSConfig, TTSModel

from ..conftest import REPO, TESTDATA


def randomized(model: TTSModel, seed: int = 0, std: float = 0.1) -> TTSModel:
    """Redraw every weight: adaLN-Zero starts the DiT at a constant zero output, under which no
    sampling option could change anything."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.dit.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model.eval()


@pytest.fixture
def tiny_model() -> TTSModel:
    return randomized(TTSModel(TTSConfig.tiny()))


@pytest.fixture(scope="module")
def tiny_codec() -> WavCube:
    torch.manual_seed(0)
    return WavCube(WavCubeConfig.tiny()).eval()


def speechlike(seconds: float, sample_rate: int = 16000, seed: int = 0, pauses: tuple = ()) -> torch.Tensor:
    """Harmonic bursts (syllables) 0.2 s long with 0.05 s gaps; silent over each (start, end) in `pauses`."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    f0 = 120 + 40 * torch.rand(1, generator=gen)
    wav = sum(torch.sin(2 * torch.pi * k * f0 * t) / k for k in range(1, 6)) * 0.2
    wav = wav * ((t % 0.25) < 0.2) + 0.001 * torch.randn(t.shape, generator=gen)
    for start, end in pauses:
        wav[int(start * sample_rate):int(end * sample_rate)] = 0.001 * torch.randn(
            int(end * sample_rate) - int(start * sample_rate), generator=gen)
    return wav.float()


@pytest.fixture(scope="session")
def f5_reference() -> Path:
    """F5-TTS's outputs on a small random F5-TTS v1 model: the repository's copy, else the shared one."""
    for root in (REPO / "tests" / "data" / "f5_reference", TESTDATA / "f5_reference"):
        if (root / "cases.pt").is_file():
            return root
    pytest.skip("F5-TTS reference fixture not found")
