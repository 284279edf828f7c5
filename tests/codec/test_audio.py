import torch

from codec.audio import mono_at, resample


def test_mono_at_downmixes_resamples_and_detaches():
    stereo = torch.randn(2, 24000, dtype=torch.float64, requires_grad=True)  # 1 s at 24 kHz
    out = mono_at(stereo, 24000, 16000)
    assert out.shape == (16000,) and out.dtype == torch.float32 and not out.requires_grad
    torch.testing.assert_close(out, resample(stereo.detach().float().mean(0), 24000, 16000))
    mono = torch.randn(16000)
    assert torch.equal(mono_at(mono, 16000, 16000), mono)  # already there: untouched
