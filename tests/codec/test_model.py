import json

import numpy as np
import pytest
import torch

from codec import AudioError, CheckpointError, WavCube, WavCubeConfig


@pytest.fixture(scope="module")
def codec() -> WavCube:
    torch.manual_seed(0)
    return WavCube(WavCubeConfig.tiny()).eval()


def frames(samples: int) -> int:
    return (samples - 400) // 320 + 1


def test_shapes_and_frame_rate(codec):
    assert codec.sample_rate == 16000 and codec.frame_rate == 50 and codec.hop_length == 320
    wav = torch.randn(2, 16000) * 0.1
    latent, mask = codec.encode(wav, 16000)
    assert latent.shape == (2, frames(16000), 128) and mask.all()
    with torch.no_grad():
        out = codec.decode(latent, mask)
    assert out.shape == (2, 320 * frames(16000))
    assert torch.isfinite(out).all()


def test_resamples_and_downmixes(codec):
    torch.manual_seed(1)
    mono16 = torch.randn(24000) * 0.1
    latent24, _ = codec.encode(torch.randn(36000) * 0.1, 24000)  # 1.5 s at 24 kHz → 24000 samples at 16 kHz
    assert latent24.shape[1] == frames(24000)
    stereo = torch.stack([mono16, 0.5 * mono16])
    a, _ = codec.encode(stereo[None], 16000)  # (B, C, T)
    b, _ = codec.encode(stereo.mean(0), 16000)
    torch.testing.assert_close(a, b)


def test_clip_alone_equals_clip_in_padded_batch(codec):
    torch.manual_seed(2)
    long, short = torch.randn(20000) * 0.1, torch.randn(9000) * 0.1
    batch, mask = codec.encode([long, short], 16000)
    alone, _ = codec.encode(short, 16000)
    n = frames(9000)
    assert mask.sum(1).tolist() == [frames(20000), n]
    torch.testing.assert_close(batch[1, :n], alone[0], atol=1e-5, rtol=1e-4)
    assert batch[1, n:].abs().max() == 0
    with torch.no_grad():
        wav_batch = codec.decode(batch, mask)
        wav_alone = codec.decode(alone)
    torch.testing.assert_close(wav_batch[1, : 320 * n], wav_alone[0], atol=1e-5, rtol=1e-4)
    assert wav_batch[1, 320 * n:].abs().max() == 0


def test_save_load_round_trip(codec, tmp_path):
    codec.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["format_version"] == 1
    loaded = WavCube.from_pretrained(tmp_path)
    wav = torch.randn(12000) * 0.1
    torch.testing.assert_close(loaded.encode(wav, 16000)[0], codec.encode(wav, 16000)[0], rtol=0, atol=0)
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_loads_the_first_config_layout(codec, tmp_path):
    """Directories written before the shared layout (config fields at the top level) still load."""
    codec.save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert set(meta) == {"format_version", "model_type", "config"}
    (tmp_path / "config.json").write_text(json.dumps({"format_version": 1, "model_type": "wavcube", **meta["config"]}))
    loaded = WavCube.from_pretrained(tmp_path)
    assert loaded.config == codec.config
    wav = torch.randn(12000) * 0.1
    torch.testing.assert_close(loaded.encode(wav, 16000)[0], codec.encode(wav, 16000)[0], rtol=0, atol=0)


def test_load_rejects_unknown_format_and_mismatch(codec, tmp_path):
    codec.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version"):
        WavCube.from_pretrained(tmp_path)
    codec.save_pretrained(tmp_path)  # a readable file again: the mismatch is the weights' shape
    other = WavCubeConfig.tiny()
    bigger = WavCubeConfig(encoder=other.encoder, decoder=type(other.decoder)(**{**vars(other.decoder), "layers": 3}))
    with pytest.raises(CheckpointError, match="missing: decoder.transformer.layers.2"):
        WavCube.from_pretrained(tmp_path, config=bigger)


def test_missing_checkpoint_offline(tmp_path):
    with pytest.raises(CheckpointError, match="not a file or directory"):
        WavCube.from_pretrained(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="could not be fetched"):
        WavCube.from_pretrained("nobody/no-such-codec")  # HF_HUB_OFFLINE=1: fails without network


@pytest.mark.parametrize("wav, match", [
    (torch.zeros(300), "too short"),
    (torch.full((8000,), float("nan")), "NaN"),
    (torch.zeros(1, 2, 3, 4), "shape"),
    (torch.zeros(8000, dtype=torch.int16), "float"),
    ([], "empty"),
])
def test_encode_rejects_bad_audio(codec, wav, match):
    with pytest.raises(AudioError, match=match):
        codec.encode(wav, 16000)


def test_sample_rate_must_be_a_positive_integer(codec):
    wav = torch.randn(16000) * 0.1
    for bad in (0, -16000, 16000.0, True, None):
        with pytest.raises(AudioError, match=f"sample_rate must be a positive integer, got {bad!r}"):
            codec.encode(wav, bad)
    assert torch.equal(codec.encode(wav, np.int64(16000))[0], codec.encode(wav, 16000)[0])  # any integer type


def test_decode_rejects_bad_latent(codec):
    with pytest.raises(ValueError, match=r"\(B, N, 128\)"):
        codec.decode(torch.randn(1, 10, 64))
    with pytest.raises(ValueError, match="mask shape"):
        codec.decode(torch.randn(1, 10, 128), torch.ones(1, 9, dtype=torch.bool))


def test_long_audio_in_windows_matches_one_pass(monkeypatch):
    """Windows of 6 s seeing 1 s of context each side, on 20 s: within 2 % (latent) and 1 % (waveform) of the
    largest value of one pass. The README's windows are 30 s with 5 s of context."""
    from codec import windows

    torch.manual_seed(0)
    codec = WavCube(WavCubeConfig.tiny()).eval()
    with torch.no_grad():  # random weights of a realistic scale: default inits leave some outputs near zero
        for p in codec.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.05)
    t = torch.arange(20 * 16000) / 16000
    wav = torch.sin(2 * torch.pi * 140 * t) * 0.2 * ((t % 0.25) < 0.2) + 0.01 * torch.randn(t.shape)
    whole, mask = codec.encode(wav, 16000)
    with torch.no_grad():
        audio = codec.decode(whole)
    monkeypatch.setattr(windows, "WINDOW_FRAMES", 300)
    monkeypatch.setattr(windows, "CONTEXT_FRAMES", 50)
    assert len(windows.frame_spans(whole.shape[1])) == 5
    windowed, wmask = codec.encode([wav, wav[:16000 * 5]], 16000)  # a padded batch: clip by clip
    assert windowed.shape == (2, whole.shape[1], 128) and torch.equal(wmask[0], mask[0])
    assert wmask[1].sum() == frames(16000 * 5) and not windowed[1, frames(16000 * 5):].any()  # padding stays zero
    assert (windowed[0] - whole[0]).abs().max() < 0.02 * whole.abs().max()
    with torch.no_grad():
        decoded = codec.decode(whole)
    assert decoded.shape == audio.shape
    assert (decoded - audio).abs().max() < 0.01 * audio.abs().max()


def test_window_spans_tile_the_clip():
    from codec.windows import frame_spans

    for n in (1, 1500, 1501, 4000, 9999):
        spans = frame_spans(n, 1500, 250)
        assert spans[0][2] == 0 and spans[-1][3] == n
        assert all(a[3] == b[2] for a, b in zip(spans, spans[1:]))  # kept parts tile [0, n)
        assert all(e - s <= 1500 and s <= ks and ke <= e for s, e, ks, ke in spans)
        assert all(ks - s == 250 for s, _, ks, _ in spans[1:]) and all(e - ke == 250 for _, e, _, ke in spans[:-1])
