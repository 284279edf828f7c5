import math

import pytest
import torch
import yaml

from codec import AudioError, CheckpointError, MelCodec


def harmonic(seconds: float = 1.0, sr: int = 24000) -> torch.Tensor:
    """A vibrato'd 150 Hz tone with 20 harmonics: speech-like spectral structure."""
    t = torch.arange(int(seconds * sr)) / sr
    phase = 2 * math.pi * torch.cumsum(150 * (1 + 0.2 * torch.sin(2 * math.pi * 2 * t)) / sr, 0)
    return 0.1 * sum(torch.sin(k * phase) / k for k in range(1, 21))


@pytest.fixture(scope="module")
def vocos_codec(tiny_vocos) -> MelCodec:
    return MelCodec.from_pretrained(tiny_vocos)


def test_encode_matches_f5_reference(f5_reference):
    case = torch.load(f5_reference / "cases.pt", weights_only=False)["mel"]
    latent, mask = MelCodec.griffin_lim().encode(case["wav"], 24000)
    expected = case["mel"].transpose(1, 2)  # (1, 100, N) → (1, N, 100)
    assert latent.shape == expected.shape and mask.all()
    assert ((latent - expected).norm() / expected.norm()).item() < 1e-5


def test_attributes_and_frame_rule():
    codec = MelCodec.griffin_lim()
    assert (codec.sample_rate, codec.latent_dim, codec.hop_length, codec.frame_rate) == (24000, 100, 256, 93.75)
    for samples in (600, 24000, 24255, 24256):
        latent, mask = codec.encode(torch.randn(samples) * 0.1, 24000)
        assert latent.shape == (1, samples // 256 + 1, 100) and mask.all()


def test_any_rate_stereo_and_batch_equals_single():
    codec = MelCodec.griffin_lim()
    torch.manual_seed(1)
    long, short = torch.randn(30000) * 0.1, torch.randn(10000) * 0.1
    batch, mask = codec.encode([long, torch.stack([short, short])], 24000)  # a list; the second clip stereo
    alone, _ = codec.encode(short, 24000)
    n = 10000 // 256 + 1
    assert mask.sum(1).tolist() == [30000 // 256 + 1, n]
    torch.testing.assert_close(batch[1, :n], alone[0])
    assert batch[1, n:].abs().max() == 0
    at16k, _ = codec.encode(torch.randn(16000) * 0.1, 16000)  # resampled to 24000 samples
    assert at16k.shape[1] == 24000 // 256 + 1


@pytest.mark.parametrize("wav, match", [
    (torch.zeros(300), "too short"),
    (torch.full((8000,), float("nan")), "NaN"),
    (torch.zeros(1, 2, 3, 4), "shape"),
])
def test_encode_rejects_bad_audio(wav, match):
    with pytest.raises(AudioError, match=match):
        MelCodec.griffin_lim().encode(wav, 24000)


def test_vocos_decode_shape_and_batch_equals_single(vocos_codec):
    latent, mask = vocos_codec.encode([harmonic(1.0), harmonic(0.5)], 24000)
    n = mask[1].sum().item()
    with torch.no_grad():
        batch = vocos_codec.decode(latent, mask)
        alone = vocos_codec.decode(latent[1:, :n])
    assert batch.shape == (2, 256 * latent.shape[1])
    assert alone.abs().max() > 0
    torch.testing.assert_close(batch[1, : 256 * n], alone[0], atol=1e-5, rtol=1e-4)
    assert batch[1, 256 * n:].abs().max() == 0
    with pytest.raises(ValueError, match=r"\(B, N, 100\)"):
        vocos_codec.decode(torch.randn(1, 10, 128))


def test_vocos_decode_is_differentiable(vocos_codec):
    latent = torch.randn(1, 20, 100, requires_grad=True)
    vocos_codec.decode(latent).square().sum().backward()
    assert latent.grad is not None and latent.grad.abs().sum() > 0


def test_from_pretrained_records_its_source(vocos_codec, tiny_vocos):
    spec = vocos_codec.spec()
    assert (spec.kind, spec.source, spec.latent_dim, spec.frame_rate) == ("mel", str(tiny_vocos.resolve()), 100, 93.75)
    assert MelCodec.griffin_lim().spec().source == "griffin-lim"


def test_from_pretrained_refuses_foreign_classes_and_missing(tiny_vocos, tmp_path):
    config = yaml.safe_load((tiny_vocos / "config.yaml").read_text())
    config["head"]["class_path"] = "os.system"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "pytorch_model.bin").write_bytes((tiny_vocos / "pytorch_model.bin").read_bytes())
    with pytest.raises(CheckpointError, match="must name a vocos class"):
        MelCodec.from_pretrained(tmp_path)
    config["head"]["class_path"] = "vocos.heads.ISTFTHead"
    config["feature_extractor"]["init_args"]["padding"] = "same"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(CheckpointError, match="padding 'center'"):
        MelCodec.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not a file or directory"):
        MelCodec.from_pretrained(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="could not be fetched"):
        MelCodec.from_pretrained("nobody/no-such-vocos")  # HF_HUB_OFFLINE=1


def test_griffin_lim_reconstructs_a_harmonic_signal():
    codec = MelCodec.griffin_lim()
    wav = harmonic()
    latent, mask = codec.encode(wav, 24000)
    out = codec.decode(latent, mask)
    assert out.shape == (1, 256 * latent.shape[1])
    again, _ = codec.encode(out[0, : wav.shape[0]], 24000)
    noise, _ = codec.encode(torch.randn_like(wav) * wav.std(), 24000)
    d_gl = (again - latent).abs().mean().item()
    d_noise = (noise - latent).abs().mean().item()
    assert d_gl < 0.15 * d_noise, (d_gl, d_noise)
