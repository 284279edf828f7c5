"""Tiny random models, reference files of every kind a user may upload, and the app served on localhost."""
import os
import socket

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from app.models import ModelStatus, describe_device  # noqa: E402
from app.service import Service  # noqa: E402
from app.voices import VoiceStore  # noqa: E402
from codec import WavCube, WavCubeConfig  # noqa: E402
from tts import Synthesizer, SynthesisOptions  # noqa: E402
from tts.model import TTSConfig, TTSModel  # noqa: E402

from ..conftest import randomized  # noqa: E402

SR = 16000
REF_TEXT = "hello there, my good friend."
# Few solver steps: the tests check the app's plumbing, not the sound.
OPTIONS = SynthesisOptions(nfe=4)


class FakeASR:
    """Stands in for Whisper: returns a fixed transcript and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, wav, sample_rate):
        self.calls += 1
        return REF_TEXT


def voice_like(seconds: float, seed: int = 0) -> torch.Tensor:
    """Harmonic syllables 0.2 s long with 0.05 s gaps: loud enough, and not silent, for a reference."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(int(seconds * SR)) / SR
    wav = sum(torch.sin(2 * torch.pi * k * 140 * t) / k for k in range(1, 6)) * 0.2 * ((t % 0.25) < 0.2)
    return (wav + 0.001 * torch.randn(t.shape, generator=gen)).float()


@pytest.fixture(scope="session")
def synthesizer() -> Synthesizer:
    torch.manual_seed(0)
    # Drawn weights: the DiT's zero-initialised output would make every setting give the same audio.
    return Synthesizer(randomized(TTSModel(TTSConfig.tiny())), WavCube(WavCubeConfig.tiny()), transcriber=FakeASR(),
                       options=OPTIONS)


@pytest.fixture(autouse=True)
def fresh_references(synthesizer: Synthesizer) -> None:
    """Each test prepares its references anew: a kept one would carry an earlier test's transcript or ASR."""
    synthesizer.forget_references()


@pytest.fixture(scope="session")
def status() -> ModelStatus:
    return ModelStatus(tts="tiny random TTS (tests)", codec="tiny random WavCube (tests)", asr="fake ASR (tests)",
                       device="cpu", warnings=describe_device(torch.device("cpu"))[1])


@pytest.fixture(scope="session")
def refs(tmp_path_factory) -> dict:
    """Reference uploads by kind: good, silent, short, unreadable, wrong type, too long."""
    d = tmp_path_factory.mktemp("refs")
    files = {"good": d / "voice.wav", "silent": d / "silence.wav", "short": d / "short.wav",
             "unreadable": d / "broken.wav", "wrong_type": d / "notes.txt", "long": d / "long.wav"}
    sf.write(files["good"], voice_like(3.0).numpy(), SR)
    sf.write(files["silent"], torch.zeros(3 * SR).numpy(), SR)
    sf.write(files["short"], voice_like(0.5).numpy(), SR)
    files["unreadable"].write_bytes(b"RIFF but not really a wave file" * 10)
    files["wrong_type"].write_text("hello there, my good friend.")
    sf.write(files["long"], voice_like(30.5).numpy(), 8000)  # 61 s at 8 kHz: over the app's upload limit
    return {k: str(v) for k, v in files.items()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def voices(tmp_path_factory) -> VoiceStore:
    """A voice store of the tests' own (never the user's)."""
    return VoiceStore(tmp_path_factory.mktemp("cubetts-home") / "voices")


@pytest.fixture(scope="session")
def service(synthesizer, status, voices) -> Service:
    """The tiny models as the app serves them: 8 requests at once, batched together (`python -m app`'s default)."""
    return Service.create(synthesizer, status, voices, concurrency=8)


@pytest.fixture(autouse=True)
def no_user_voices(monkeypatch, tmp_path) -> None:
    """A VoiceStore made without a folder (the CLI's) writes under the test's folder, not the user's home."""
    monkeypatch.setenv("CUBETTS_HOME", str(tmp_path / "cubetts-home"))


def start(service: Service) -> tuple:
    """The app as `python -m app` serves it (page, Gradio's API, the OpenAI API), on a free port → (blocks, url)."""
    from app.page import serve

    demo = serve(service, "127.0.0.1", free_port(), prevent_thread_lock=True, quiet=True)
    return demo, demo.local_url


@pytest.fixture(scope="session")
def served(service):
    """The app with tiny models, on a free localhost port, for the client and browser tests → its URL."""
    demo, url = start(service)
    yield url
    demo.close()
