"""Shared test setup: offline, deterministic, CPU, and where the shared test data lives."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

if TYPE_CHECKING:
    from tts.model import TTSModel

REPO = Path(__file__).resolve().parents[1]
# CUBETTS_TESTDATA points elsewhere, e.g. on a machine where ../shared is absent.
TESTDATA = Path(os.environ.get("CUBETTS_TESTDATA", REPO.parent / "shared" / "testdata"))


def randomized(model: "TTSModel", seed: int = 0, std: float = 0.1) -> "TTSModel":
    """Redraw every DiT weight: adaLN-Zero starts the DiT at a constant zero output, under which no
    sampling option (nfe, cfg, sway) could change anything."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.dit.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return model.eval()


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


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Small models run fastest on one thread; two threads on a shared 2-core machine stall for seconds.
    Session-wide, so module fixtures run on one thread too: a result must not depend on which fixture made it
    (a training run resumed on another thread count sums in another order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.skip(f"shared test data not found at {TESTDATA}")
    return TESTDATA


@pytest.fixture(scope="session")
def f5_reference() -> Path:
    """F5-TTS's outputs on a small random F5-TTS v1 model: the repository's copy, else the shared one."""
    for root in (REPO / "tests" / "data" / "f5_reference", TESTDATA / "f5_reference"):
        if (root / "cases.pt").is_file():
            return root
    pytest.skip("F5-TTS reference fixture not found")


@pytest.fixture(scope="session")
def tiny_codec_dir(tmp_path_factory) -> Path:
    """A tiny WavCube checkpoint folder (config.json + model.safetensors), random weights of seed 0. Shared by the
    whole session: a test that changes a checkpoint copies it first."""
    from codec import WavCube, WavCubeConfig

    directory = tmp_path_factory.mktemp("codec")
    torch.manual_seed(0)
    WavCube(WavCubeConfig.tiny()).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_vocos(tmp_path_factory) -> Path:
    """A Vocos mel vocoder in its hub layout (config.yaml + pytorch_model.bin), tiny, random weights."""
    import yaml
    from vocos.pretrained import Vocos, instantiate_class

    config = {
        "feature_extractor": {"class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
                              "init_args": {"sample_rate": 24000, "n_fft": 1024, "hop_length": 256, "n_mels": 100,
                                            "padding": "center"}},
        "backbone": {"class_path": "vocos.models.VocosBackbone",
                     "init_args": {"input_channels": 100, "dim": 16, "intermediate_dim": 32, "num_layers": 1}},
        "head": {"class_path": "vocos.heads.ISTFTHead",
                 "init_args": {"dim": 16, "n_fft": 1024, "hop_length": 256, "padding": "same"}},
    }
    directory = tmp_path_factory.mktemp("vocos")
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    torch.manual_seed(0)
    vocos = Vocos(**{k: instantiate_class(args=(), init=v) for k, v in config.items()})
    torch.save(vocos.state_dict(), directory / "pytorch_model.bin")
    return directory


@pytest.fixture(scope="session")
def mel_tts_dir(tiny_vocos, tmp_path_factory) -> Path:
    """A saved tiny TTS model on F5-TTS's mel latents (random weights), recording the tiny Vocos as its codec."""
    import dataclasses

    from codec import CodecSpec
    from tts.model import TTSConfig, TTSModel

    config = TTSConfig.tiny()
    config = dataclasses.replace(config, dit=dataclasses.replace(config.dit, latent_dim=100),
                                 codec=CodecSpec("mel", str(tiny_vocos), 100, 93.75))
    model = randomized(TTSModel(config))
    directory = tmp_path_factory.mktemp("mel-tts")
    model.save_pretrained(directory)
    return directory
