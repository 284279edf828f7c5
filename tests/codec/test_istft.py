import torch

from codec.istft import ISTFTHead, masked_istft


def stft_same(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """STFT with "same" padding: frame t is centred on sample t·hop + hop/2 of the unpadded signal."""
    pad = (n_fft - hop) // 2
    x = torch.nn.functional.pad(x, (pad, pad))
    return torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=False, return_complex=True)


def test_istft_inverts_stft():
    x = torch.randn(2, 160 * 50)
    spec = stft_same(x, 640, 160)  # (B, 321, 50)
    y = masked_istft(spec, torch.hann_window(640), 160)
    assert y.shape == x.shape
    torch.testing.assert_close(y, x, atol=1e-4, rtol=1e-4)


def test_masked_istft_matches_unpadded_clip():
    spec = torch.randn(2, 321, 40, dtype=torch.complex64)
    mask = torch.ones(2, 40, dtype=torch.bool)
    mask[1, 25:] = False
    batch = masked_istft(spec, torch.hann_window(640), 160, mask)
    alone = masked_istft(spec[1:, :, :25], torch.hann_window(640), 160)
    torch.testing.assert_close(batch[1, : 25 * 160], alone[0], atol=1e-5, rtol=1e-5)
    assert batch[1, 25 * 160:].abs().max() == 0


def test_head_output_is_float32_and_bounded_length():
    head = ISTFTHead(16, 640, 160)
    x = torch.randn(1, 12, 16)
    wav = head(x)
    assert wav.shape == (1, 12 * 160) and wav.dtype == torch.float32


def test_head_projection_runs_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    head = ISTFTHead(16, 640, 160)
    x = torch.randn(2, 12, 16)
    expected = head(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        wav = head(x.bfloat16())  # a bf16 backbone hands over bf16 frames
    assert wav.dtype == torch.float32
    torch.testing.assert_close(wav, head(x.bfloat16().float()), rtol=0, atol=0)  # no rounding past the input
    assert (wav - expected).abs().max() < 0.02 * expected.abs().max()
