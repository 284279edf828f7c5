"""F5-TTS's "bigvgan" mel type through MelCodec, against F5-TTS 1.1.22's own front end and vocoder call
(tests/data/bigvgan_mel, made by its generate.py). Tests that load a BigVGAN need the `bigvgan` package
(`cubetts[bigvgan]`, in the lock) and skip without it."""
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from codec import (AudioError, CheckpointError, CodecMismatchError, CodecSpec, MelCodec, MelConfig, check_codec,
                   load_codec, open_codec)
from codec.bigvgan import DEFAULT_BIGVGAN, BigVGANVocoder, slaney_mel_filters
from codec.mel import GriffinLim

DATA = Path(__file__).resolve().parents[1] / "data" / "bigvgan_mel"
TINY = DATA / "bigvgan_tiny"


@pytest.fixture(scope="module")
def cases() -> dict:
    return torch.load(DATA / "cases.pt", weights_only=True)


@pytest.fixture(scope="module")
def bigvgan_codec() -> MelCodec:
    pytest.importorskip("bigvgan", reason="the `bigvgan` package (cubetts[bigvgan]) is not installed")
    return MelCodec.from_pretrained(TINY)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture(scope="module")
def front_end() -> MelCodec:
    """The bigvgan mel type's encoder alone (its vocoder a stand-in): needs no `bigvgan` package."""
    return MelCodec(MelConfig(mel_type="bigvgan"), BigVGANVocoder(torch.nn.Identity()))


def test_encode_is_f5s_bigvgan_mel(front_end, cases):
    """MelCodec's bigvgan log-mel is F5-TTS's `get_bigvgan_mel_spectrogram`: T // 256 frames, the same numbers."""
    for name, case in cases["mel"].items():
        latent, mask = front_end.encode(case["wav"], 24000)
        expected = case["mel"].transpose(1, 2)  # (1, 100, N) → (1, N, 100)
        assert latent.shape == expected.shape == (1, case["wav"].numel() // 256, 100) and mask.all(), name
        assert (latent - expected).abs().max().item() < 1e-5, name


def test_slaney_filters_are_librosas():
    """F5-TTS's bigvgan filters come from librosa; ours are the same numbers without it."""
    librosa = pytest.importorskip("librosa", reason="librosa (the reference) is not installed")
    for sr, n_fft, n_mels in [(24000, 1024, 100), (22050, 1024, 80), (44100, 2048, 128), (16000, 400, 80)]:
        expected = torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0, fmax=None))
        assert torch.equal(slaney_mel_filters(sr, n_fft, n_mels), expected), (sr, n_fft, n_mels)


def test_decode_is_f5s_vocoder_call(bigvgan_codec, cases):
    """decode(mel) is what F5-TTS's `vocoder(generated)` returns for the same mel: exactly hop × frames samples."""
    for name, case in cases["vocoder"].items():
        frames = case["mel"].shape[-1]
        with torch.no_grad():
            wav = bigvgan_codec.decode(case["mel"].transpose(1, 2))[0]
        assert wav.shape == case["wav"].shape == (256 * frames,), name
        assert bigvgan_codec.vocoder_samples(frames) == 256 * frames
        assert relative(wav, case["wav"]) < 1e-5 and (wav - case["wav"]).abs().max().item() < 1e-5, name


def test_reach_bounds_what_a_frame_depends_on(bigvgan_codec):
    """A window with the vocoder's reach before and after a frame decodes it as a whole decode does (what a
    shortened or streamed decode relies on)."""
    back, ahead = bigvgan_codec.vocoder.reach
    latent = torch.randn(1, back + ahead + 40, 100) - 4.0
    with torch.no_grad():
        whole = bigvgan_codec.decode(latent)[0]
        for f in (back, back + 17, back + 39):
            part = bigvgan_codec.decode(latent[:, f - back: f + ahead + 1])[0]
            torch.testing.assert_close(part[back * 256: (back + 1) * 256], whole[f * 256: (f + 1) * 256],
                                       atol=1e-6, rtol=1e-5)


def test_frames_batch_and_shortest_clip(front_end):
    torch.manual_seed(0)
    long, short = torch.randn(30000) * 0.1, torch.randn(385) * 0.1  # 385: the reflect padding's minimum
    latent, mask = front_end.encode([long, short], 24000)
    assert mask.sum(1).tolist() == [30000 // 256, 1]
    torch.testing.assert_close(latent[1, :1], front_end.encode(short, 24000)[0][0])
    with pytest.raises(AudioError, match="too short"):
        front_end.encode(torch.randn(384) * 0.1, 24000)


@pytest.mark.filterwarnings("ignore:`torch.nn.utils.weight_norm` is deprecated:FutureWarning")
def test_a_folder_the_package_saves_loads_as_the_package_runs_it(tmp_path):
    """A BigVGAN saved by the package (with weight norm, or after removing it) decodes as the package's model,
    weight norm removed, does."""
    bigvgan = pytest.importorskip("bigvgan", reason="the `bigvgan` package (cubetts[bigvgan]) is not installed")
    config = json.loads((TINY / "config.json").read_text())
    torch.manual_seed(3)
    model = bigvgan.BigVGAN(bigvgan.env.AttrDict(config), use_cuda_kernel=False)
    (tmp_path / "weight_norm").mkdir()
    model.save_pretrained(tmp_path / "weight_norm")
    model.remove_weight_norm()
    model.eval()
    (tmp_path / "plain").mkdir()
    model.save_pretrained(tmp_path / "plain")
    mel = torch.randn(1, 100, 12) - 4.0
    with torch.no_grad():
        expected = model(mel)[0, 0]
        for folder in ("weight_norm", "plain"):
            wav = MelCodec.from_pretrained(tmp_path / folder).decode(mel.transpose(1, 2))[0]
            torch.testing.assert_close(wav, expected, atol=1e-6, rtol=1e-5)


def test_hub_id_is_fetched_and_recorded(monkeypatch, tmp_path):
    """`nvidia/bigvgan_v2_24khz_100band_256x` is fetched (only its config and generator) and recorded as such;
    open_codec tells it is a mel codec from its config.json alone."""
    pytest.importorskip("bigvgan", reason="the `bigvgan` package (cubetts[bigvgan]) is not installed")
    import huggingface_hub

    asked = []

    def snapshot_download(repo_id, revision=None, allow_patterns=None):
        asked.append(allow_patterns)
        assert repo_id == DEFAULT_BIGVGAN
        return str(TINY)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.chdir(tmp_path)  # the id is not a local path here
    codec = MelCodec.from_pretrained(DEFAULT_BIGVGAN)
    assert codec.mel_type == "bigvgan" and codec.spec() == CodecSpec("mel", DEFAULT_BIGVGAN, 100, 93.75,
                                                                     mel_type="bigvgan")
    assert "bigvgan_generator.pt" in asked[0] and not any("discriminator" in p for p in asked[0])
    opened = open_codec(DEFAULT_BIGVGAN)
    assert isinstance(opened, MelCodec) and opened.mel_type == "bigvgan"


def test_spec_round_trip_and_mismatched_mel_types_refused(bigvgan_codec, tiny_vocos):
    """A model trained on one mel type refuses a codec of the other, either way; a record written before the
    mel type was recorded is a vocos one."""
    spec = bigvgan_codec.spec()
    assert spec.mel_type == "bigvgan" and CodecSpec.from_dict(spec.to_dict()) == spec
    assert load_codec(spec).spec() == spec
    vocos = MelCodec.from_pretrained(tiny_vocos)
    with pytest.raises(CodecMismatchError, match=r"vocos mel type\).*bigvgan mel type"):
        check_codec(spec, vocos)
    with pytest.raises(CodecMismatchError, match=r"vocos mel type\).*bigvgan mel type"):
        check_codec(spec, MelCodec.griffin_lim())
    with pytest.raises(CodecMismatchError, match=r"bigvgan mel type\) does not match .*\(mel .*93.75 Hz\)"):
        check_codec(vocos.spec(), bigvgan_codec)
    old = {k: v for k, v in vocos.spec().to_dict().items() if k != "mel_type"}
    assert CodecSpec.from_dict(old).mel_type == "vocos"
    check_codec(CodecSpec.from_dict(old), vocos)


def test_missing_package_says_which_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "bigvgan", None)  # `import bigvgan` raises ImportError
    with pytest.raises(ImportError, match=r"needs the `bigvgan` package: pip install 'cubetts\[bigvgan\]'"):
        MelCodec.from_pretrained(TINY)


@pytest.mark.parametrize("change, match", [
    ({"fmax": 8000}, "0 Hz to Nyquist"),
    ({"upsample_rates": [4, 4, 4, 2]}, "multiply to 128"),
    ({"hop_size": None}, None),
    ({"activation": "relu"}, "not a BigVGAN config"),
])
def test_a_bigvgan_of_another_mel_is_refused(tmp_path, change, match):
    pytest.importorskip("bigvgan", reason="the `bigvgan` package (cubetts[bigvgan]) is not installed")
    folder = tmp_path / "bigvgan"
    shutil.copytree(TINY, folder)
    config = {**json.loads((TINY / "config.json").read_text()), **change}
    config = {k: v for k, v in config.items() if v is not None or k == "fmax"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=match or "needs hop_size"):
        MelCodec.from_pretrained(folder)


def test_mel_type_is_checked_where_it_enters():
    with pytest.raises(ValueError, match="unknown mel_type"):
        MelConfig(mel_type="hifigan")
    with pytest.raises(ValueError, match="vocos mel type only"):
        GriffinLim(MelConfig(mel_type="bigvgan"))
    with pytest.raises(ValueError, match="mel_type"):
        CodecSpec("wavcube", "x", 128, 50.0, mel_type="vocos")
