"""Tiny random models for the TTS tests."""
import pytest
import torch

from codec import WavCube, WavCubeConfig
from tts.model import TTSConfig, TTSModel

from ..conftest import randomized, speechlike  # noqa: F401 (the TTS tests import them from here)


@pytest.fixture
def tiny_model() -> TTSModel:
    return randomized(TTSModel(TTSConfig.tiny()))


@pytest.fixture(scope="module")
def tiny_codec() -> WavCube:
    torch.manual_seed(0)
    return WavCube(WavCubeConfig.tiny()).eval()
