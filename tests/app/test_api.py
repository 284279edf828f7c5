"""The app served on localhost, used through `gradio_client` as the README shows."""
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from .conftest import REF_TEXT, SR, free_port

# Raised inside gradio's queue by its pandas calls, not by the app.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")


@pytest.fixture(scope="module")
def client(served):
    return Client(served, verbose=False)


def readme_client_example() -> str:
    """The client snippet of the README's "Web app" section."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("## Web app"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_snippet_runs_as_written(served, refs, tmp_path, monkeypatch):
    snippet = readme_client_example()
    assert len(snippet.strip().splitlines()) == 3 and "http://127.0.0.1:7860/" in snippet
    shutil.copy(refs["good"], tmp_path / "ref.wav")
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(snippet.replace("http://127.0.0.1:7860/", served), scope)
    wav, sr = sf.read(scope["wav_path"])
    assert sr == SR and len(wav) > 0 and scope["seed"].isdigit()


def test_requests_wait_in_the_queue_and_all_complete(client, refs):
    jobs = [client.submit(f"Number {i}.", handle_file(refs["good"]), REF_TEXT, api_name="/clone_voice")
            for i in range(3)]
    assert all(len(sf.read(job.result(timeout=120)[0])[0]) > 0 for job in jobs)


def test_all_settings_by_name(client, refs):
    def speak(**settings):
        wav_path, seed = client.predict(text="Good morning.", reference=handle_file(refs["good"]),
                                        reference_text=REF_TEXT, api_name="/clone_voice",
                                        **{"speed": 1.0, "steps": 2, "cfg_strength": 2.0, "seed": "11",
                                           "remove_silence": False, **settings})
        return sf.read(wav_path)[0], seed

    base, seed = speak()
    assert seed == "11" and len(base) > 0
    assert np.array_equal(speak()[0], base)  # the same settings repeat the audio
    for name, value in [("steps", 3), ("cfg_strength", 0.0), ("seed", "12")]:
        other, _ = speak(**{name: value})
        assert other.shape == base.shape and not np.array_equal(other, base), name
    assert abs(len(speak(speed=2.0)[0]) - len(base) / 2) < 0.1 * len(base)


@pytest.mark.parametrize("text, ref, message", [
    ("", "good", "Text: text is empty"),
    ("word " * 250, "good", "Text: text is 1249 characters long as it will be said"),
    ("Hello.", "silent", "Reference: the reference audio is silent"),
    ("Hello.", "short", "at least 1 s is needed"),
    ("Hello.", "unreadable", "Reference: cannot read audio file broken.wav"),
    ("Hello.", "wrong_type", "Reference: wrong file type '.txt'"),
])
def test_bad_input_is_answered_and_the_server_goes_on(client, refs, text, ref, message):
    with pytest.raises(AppError, match=message.replace(".", r"\.")):
        client.predict(text, handle_file(refs[ref]), api_name="/clone_voice")
    wav_path, _ = client.predict("Still here.", handle_file(refs["good"]), REF_TEXT, api_name="/clone_voice")
    assert len(sf.read(wav_path)[0]) > 0


def test_without_models_the_page_starts_and_says_what_is_missing(refs):
    import torch

    from app.models import load_synthesizer
    from app.page import build_app

    synthesizer, status = load_synthesizer(None, "yhaha/WavCube", "openai/whisper-large-v3-turbo",
                                           torch.device("cpu"))
    demo = build_app(synthesizer, status)
    _, url, _ = demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with pytest.raises(AppError, match="The models are not loaded: no TTS model given .*CUBETTS_TTS"):
            Client(url, verbose=False).predict("Hello.", handle_file(refs["good"]), api_name="/clone_voice")
    finally:
        demo.close()
