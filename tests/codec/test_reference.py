"""The released-checkpoint format, checked against outputs of the public reference implementation."""
import json

import torch

from codec import DecoderConfig, EncoderConfig, WavCube, WavCubeConfig, load_audio


def fixture_config(root) -> WavCubeConfig:
    fx = json.loads((root / "fixture.json").read_text())["decoder"]
    wavlm = json.loads((root / "wavlm" / "config.json").read_text())
    return WavCubeConfig(
        encoder=EncoderConfig(wavlm=wavlm, layers=3, latent_dim=128),
        decoder=DecoderConfig(d_model=fx["d_model"], heads=fx["heads"], ffn=fx["ffn"], layers=fx["layers"],
                              n_mels=fx["n_mels"], vocoder_dim=fx["vocoder_dim"], vocoder_heads=fx["vocoder_heads"],
                              vocoder_ffn=fx["vocoder_ffn"], vocoder_layers=fx["vocoder_num_layers"],
                              vocoder_window=tuple(fx["vocoder_window"]), n_fft=fx["nfft"], hop_length=fx["hop"],
                              causal=fx["causal"]))


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def test_released_checkpoint_reproduces_reference(testdata, tmp_path):
    root = testdata / "wavcube_reference"
    codec = WavCube.from_pretrained(root / "checkpoint.ckpt", config=fixture_config(root))
    expected = torch.load(root / "expected.pt")
    wav, sr = load_audio(root / "input_16k.wav")
    latent, mask = codec.encode(wav, sr)
    assert latent.shape == (1, 264, 128) and mask.all()
    assert rel_err(latent[0], expected["latent"]) < 1e-4
    with torch.no_grad():
        out = codec.decode(expected["latent"][None])
    assert out.shape == (1, 84480)
    assert rel_err(out[0], expected["waveform"]) < 1e-2
    # Converted once, it round-trips through our own format unchanged.
    codec.save_pretrained(tmp_path)
    again, _ = WavCube.from_pretrained(tmp_path).encode(wav, sr)
    torch.testing.assert_close(again, latent, rtol=0, atol=0)
