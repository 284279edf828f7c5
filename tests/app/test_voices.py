"""Saved voices: the store (names, atomic writes, prepared latents keyed by model and codec), the CLI
(`python -m app voices`), the page's and Gradio API's `/save_voice`, and `voice` by name in both APIs."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from app.cli import main
from app.server import clone_voice
from app.speech import InputError
from app.voices import BUILTIN, VoiceStore

from .conftest import REF_TEXT, SR, voice_like

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")


@pytest.fixture
def store(tmp_path) -> VoiceStore:
    return VoiceStore(tmp_path / "voices")


@pytest.fixture(scope="module")
def saved_models(synthesizer, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("models")
    synthesizer.model.save_pretrained(d / "tts")
    synthesizer.codec.save_pretrained(d / "codec")
    return d


def test_a_saved_voice_survives_a_restart_and_is_not_encoded_again(store, synthesizer, refs, monkeypatch):
    voice = store.add("Alice", refs["good"], REF_TEXT, synthesizer)
    assert voice.name == "alice" and voice.transcript == REF_TEXT
    clip, sr = sf.read(voice.clip)
    assert sr == synthesizer.sample_rate and len(clip) > 0
    prepared = store.reference(voice, synthesizer)
    again = VoiceStore(store.root)  # a new process sees the same voices
    assert again.names() == [BUILTIN, "alice"]
    monkeypatch.setattr(synthesizer.codec, "encode", lambda *a, **k: pytest.fail("the stored latent was not used"))
    kept = again.reference(again.get("ALICE"), synthesizer)
    assert torch.equal(kept.latent, prepared.latent) and kept.text == prepared.text and kept.tokens == prepared.tokens


def test_a_voice_made_for_one_codec_is_prepared_anew_for_another(store, synthesizer, refs):
    from codec import WavCube, WavCubeConfig
    from tts import Synthesizer

    voice = store.add("bob", refs["good"], REF_TEXT, synthesizer)
    first = store.reference(voice, synthesizer)
    torch.manual_seed(1)
    other = Synthesizer(synthesizer.model, WavCube(WavCubeConfig.tiny()),  # same shapes, other weights
                        transcriber=synthesizer.transcriber, options=synthesizer.options)
    second = store.reference(voice, other)
    assert not torch.equal(first.latent, second.latent)  # the other codec's latent, not the stored one
    assert len(list((voice.folder / "prepared").glob("*.safetensors"))) == 2
    assert torch.equal(store.reference(voice, synthesizer).latent, first.latent)  # the first is kept as it was
    fresh = synthesizer.prepare_reference(*_clip(voice), REF_TEXT, synthesizer.options)
    assert torch.equal(first.latent, fresh.latent)


def _clip(voice):
    wav, sr = sf.read(voice.clip, dtype="float32")
    return torch.from_numpy(wav), sr


@pytest.mark.parametrize("name, message", [
    ("", "the voice name is empty"),
    ("   ", "the voice name is empty"),
    ("../evil", "'../evil' cannot be a voice name"),
    ("a/b", "'a/b' cannot be a voice name"),
    (".hidden", "'.hidden' cannot be a voice name"),
    ("x" * 41, "cannot be a voice name; a name is 1 to 40 characters"),
    ("default", "'default' is reserved (the built-in voice)"),
    ("Dialogue", "'dialogue' is reserved"),
    (["a"], "a voice name must be a string"),
])
def test_bad_names_are_refused_with_what_a_name_may_hold(store, synthesizer, refs, name, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        store.add(name, refs["good"], REF_TEXT, synthesizer)
    assert store.names() == [BUILTIN]


def test_a_duplicate_is_refused_unless_forced(store, synthesizer, refs, tmp_path):
    store.add("carol", refs["good"], REF_TEXT, synthesizer)
    with pytest.raises(InputError, match="a voice named 'carol' exists; remove it first, or replace it"):
        store.add("Carol", refs["good"], "something else entirely.", synthesizer)
    assert store.get("carol").transcript == REF_TEXT
    sf.write(tmp_path / "other.wav", voice_like(2.5, seed=3).numpy(), SR)
    store.add("carol", tmp_path / "other.wav", "another clip.", synthesizer, force=True)
    assert store.get("carol").transcript == "another clip." and store.names() == [BUILTIN, "carol"]
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]  # nothing left behind


@pytest.mark.parametrize("ref, message", [
    ("silent", "the reference audio is silent"),
    ("short", "at least 1 s is needed"),
    ("wrong_type", "wrong file type '.txt'"),
    ("unreadable", "cannot read audio file broken.wav"),
    ("long", "the file is 61 s long; the limit is 60 s"),
])
def test_a_bad_clip_is_refused_and_nothing_is_saved(store, synthesizer, refs, ref, message):
    with pytest.raises(InputError, match=message):
        store.add("dave", refs[ref], REF_TEXT, synthesizer)
    assert store.names() == [BUILTIN] and not (store.root / "dave").exists()


def test_without_a_transcript_the_asr_writes_one_and_it_is_kept(store, synthesizer, refs):
    calls = synthesizer.transcriber.calls
    voice = store.add("erin", refs["good"], None, synthesizer)
    assert voice.transcript == REF_TEXT and synthesizer.transcriber.calls == calls + 1
    store.reference(store.get("erin"), synthesizer)
    assert synthesizer.transcriber.calls == calls + 1


def test_remove(store, synthesizer, refs):
    store.add("frank", refs["good"], REF_TEXT, synthesizer)
    store.remove("Frank")
    assert store.names() == [BUILTIN] and not list(store.root.iterdir())
    with pytest.raises(InputError, match="no voice named 'frank'; the voices are: default"):
        store.remove("frank")
    with pytest.raises(InputError, match="the built-in voice 'default' cannot be removed"):
        store.remove("default")


def test_a_failure_while_saving_leaves_nothing(store, synthesizer, refs, monkeypatch):
    import app.voices

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(app.voices, "save_file", full_disk)
    with pytest.raises(OSError, match="No space left"):
        store.add("gina", refs["good"], REF_TEXT, synthesizer)
    assert store.names() == [BUILTIN] and not list(store.root.iterdir())


def test_a_process_killed_while_saving_leaves_no_half_voice(saved_models, refs, tmp_path):
    """SIGKILL in the middle of writing a voice: the store lists no such voice, and saving it again works."""
    root = tmp_path / "voices"
    script = textwrap.dedent(f"""
        import sys, time
        import app.voices
        from app.voices import VoiceStore
        from tts import Synthesizer
        from tests.app.conftest import FakeASR
        from tts.model import TTSModel
        from codec import WavCube
        synthesizer = Synthesizer(TTSModel.from_pretrained({str(saved_models / 'tts')!r}),
                                  WavCube.from_pretrained({str(saved_models / 'codec')!r}), transcriber=FakeASR())
        real = app.voices.atomic_write
        def slow(path, data):
            real(path, data)
            print("half written", flush=True)
            time.sleep(60)
        app.voices.atomic_write = slow
        VoiceStore({str(root)!r}).add("hank", {refs['good']!r}, "hello there.", synthesizer)
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert child.stdout.readline().strip() == "half written"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    store = VoiceStore(root)
    assert store.names() == [BUILTIN]
    with pytest.raises(InputError, match="no voice named 'hank'"):
        store.get("hank")


def test_the_builtin_voice_speaks(service):
    (sr, wav), _ = clone_voice(service, "Good morning.", voice="default", seed=1)
    assert sr == SR and len(wav) > 0
    assert np.array_equal(wav, clone_voice(service, "Good morning.", voice="DEFAULT", seed=1)[0][1])


# --- the CLI: `python -m app voices add | list | remove` ---

def test_cli_add_list_remove(saved_models, refs, capsys, monkeypatch):
    models = ["--tts", str(saved_models / "tts"), "--codec", str(saved_models / "codec"), "--device", "cpu"]
    assert main(["voices", "add", "Ivy", refs["good"], "--text", REF_TEXT, *models]) == 0
    assert "saved the voice 'ivy'" in capsys.readouterr().out
    assert main(["voices", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("default\t") and listed[1] == f"ivy\t{REF_TEXT}"
    assert (Path(os.environ["CUBETTS_HOME"]) / "voices" / "ivy" / "voice.json").is_file()  # under $CUBETTS_HOME
    assert main(["voices", "add", "ivy", refs["good"], "--text", REF_TEXT, *models]) == 2
    assert "error: a voice named 'ivy' exists" in capsys.readouterr().err
    monkeypatch.setenv("CUBETTS_TTS", str(saved_models / "tts"))  # the app's environment variables work too
    monkeypatch.setenv("CUBETTS_CODEC", str(saved_models / "codec"))
    assert main(["voices", "add", "ivy", refs["good"], "--text", "replaced.", "--force", "--device", "cpu"]) == 0
    assert "saved the voice 'ivy' ('replaced.')" in capsys.readouterr().out
    assert main(["voices", "remove", "ivy"]) == 0
    assert capsys.readouterr().out.strip() == "removed the voice 'ivy'"
    assert main(["voices", "list"]) == 0
    assert [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()] == ["default"]


@pytest.mark.parametrize("args, message", [
    (["add", "a/b", "REF"], "error: 'a/b' cannot be a voice name"),
    (["add", "jo", "notes.txt"], "error: wrong file type '.txt'"),
    (["remove", "nobody"], "error: no voice named 'nobody'; the voices are: default"),
])
def test_cli_refuses_before_loading_models(refs, capsys, monkeypatch, args, message):
    import app.cli

    monkeypatch.setattr(app.cli, "load_synthesizer", lambda *a, **k: pytest.fail("models loaded first"))
    args = [refs["good"] if a == "REF" else refs["wrong_type"] if a == "notes.txt" else a for a in args]
    assert main(["voices", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and len(err.splitlines()) == 1


# --- the page's and Gradio API's /save_voice, and voice= in the APIs ---

def test_save_through_gradio_then_speak_by_name_in_both_apis(served, service, refs):
    import openai

    client = Client(served, verbose=False)
    message, _ = client.predict("Kim", handle_file(refs["good"]), REF_TEXT, api_name="/save_voice")
    assert "Saved the voice 'kim'" in message and "kim" in service.voices.names()
    with pytest.raises(AppError, match="Voice name: a voice named 'kim' exists"):
        client.predict("kim", handle_file(refs["good"]), REF_TEXT, api_name="/save_voice")
    with pytest.raises(AppError, match="Voice name: '../x' cannot be a voice name"):
        client.predict("../x", handle_file(refs["good"]), REF_TEXT, api_name="/save_voice")
    wav_path, seed = client.predict("Good morning.", None, None, None, None, None, "4", False, "kim",
                                    api_name="/clone_voice")
    page, _ = sf.read(wav_path, dtype="int16")
    speech = openai.OpenAI(base_url=served + "v1", api_key="-", max_retries=0).audio.speech
    api = speech.create(model="cubetts", voice="kim", input="Good morning.", response_format="pcm",
                        extra_body={"seed": 4}).content
    assert seed == "4" and np.array_equal(np.frombuffer(api, "<i2"), page)
    with pytest.raises(AppError, match="Voice: no voice named 'nobody'; the voices are: default, .*kim"):
        client.predict("Hi.", None, None, None, None, None, "", False, "nobody", api_name="/clone_voice")
