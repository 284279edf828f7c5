"""Synthesis on CUDA (bf16 autocast for the DiT and the codec). Skipped without a GPU."""
import pytest
import torch

from codec import WavCube, WavCubeConfig
from tts import Synthesizer
from tts.model import TTSConfig, TTSModel

from .conftest import randomized, speechlike

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_synthesize_on_gpu_is_finite_and_seeded():
    torch.manual_seed(0)
    codec = WavCube(WavCubeConfig.tiny()).eval()
    model = randomized(TTSModel(TTSConfig.tiny()))
    ref = speechlike(3.0)
    text, ref_text = "Hello there, world.", "A reference sentence here."
    gpu = Synthesizer(model.cuda(), codec.cuda())
    a, sr_gpu = gpu.synthesize(text, ref, 16000, ref_text=ref_text, nfe=8, seed=1)
    b, _ = gpu.synthesize(text, ref, 16000, ref_text=ref_text, nfe=8, seed=1)
    assert sr_gpu == 16000 and a.dim() == 1 and a.numel() > 16000 * 0.5 and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
