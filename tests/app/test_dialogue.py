"""Dialogues: a script with speaker tags, each turn in its saved voice, joined with pauses into one waveform
and one stream; through the page's function, the OpenAI API, Gradio's API and the CLI."""
import re

import numpy as np
import pytest
import soundfile as sf
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError

from app import dialogue
from app.cli import main
from app.server import clone_voice
from app.speech import InputError
from app.voices import VoiceStore

from .conftest import REF_TEXT, SR, voice_like

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
SCRIPT = "[alice] Hello there, Bob. [bob] Hi Alice! How are you? [ALICE] Fine, thanks."


@pytest.fixture(scope="module")
def cast(service, synthesizer, tmp_path_factory) -> VoiceStore:
    """alice and bob, saved in the served app's store."""
    d = tmp_path_factory.mktemp("cast")
    for i, name in enumerate(["alice", "bob"]):
        sf.write(d / f"{name}.wav", voice_like(3.0, seed=10 + i).numpy(), SR)
        if name not in service.voices.names():
            service.voices.add(name, d / f"{name}.wav", REF_TEXT, synthesizer)
    return service.voices


def test_turns_are_parsed_with_their_voices(cast):
    turns = dialogue.parse(SCRIPT, cast)
    assert [(t.voice.name, t.text) for t in turns] == [("alice", "Hello there, Bob."), ("bob", "Hi Alice! How are you?"),
                                                       ("alice", "Fine, thanks.")]


@pytest.mark.parametrize("script, message", [
    ("Hello there.", "a dialogue needs speaker tags: [alice] Hello there. [bob] Hi!"),
    ("Well. [alice] Hello.", "a dialogue starts with a speaker tag, e.g. [alice]; it starts with 'Well.'"),
    ("[alice] Hello. [bob]", "turn 2 ([bob]) has no text"),
    ("[alice] Hello. [carol] Hi.", "unknown speaker [carol] in turn 2; the voices are: default, alice, bob"),
    ("[] Hello.", "unknown speaker [] in turn 1"),
    (["[alice] Hi."], "text must be a string, got a list"),
])
def test_bad_scripts_say_what_is_wrong(cast, script, message):
    with pytest.raises(InputError, match=re.escape(message)):
        dialogue.parse(script, cast)


def test_turns_are_joined_with_pauses_and_one_seed_repeats_the_dialogue(service, cast):
    (sr, joined), seed = clone_voice(service, SCRIPT, voice="dialogue", seed=7)
    alone = [clone_voice(service, text, voice=name, seed=7)[0][1]
             for name, text in [("alice", "Hello there, Bob."), ("bob", "Hi Alice! How are you?"),
                                ("alice", "Fine, thanks.")]]
    gap = np.zeros(round(dialogue.PAUSE_SECONDS * sr), np.int16)
    expected = np.concatenate([alone[0], gap, alone[1], gap, alone[2]])
    assert seed == 7 and joined.shape == expected.shape
    for start, length in [(len(alone[0]), len(gap)), (len(alone[0]) + len(gap) + len(alone[1]), len(gap))]:
        assert not joined[start:start + length].any()  # the pauses, where they should be
    # Generated together, the turns share DiT batches: the same speech up to padding's float rounding.
    assert np.abs(joined.astype(int) - expected.astype(int)).max() <= 0.01 * 32767
    (_, drawn), drawn_seed = clone_voice(service, SCRIPT, voice="dialogue")
    assert np.array_equal(drawn, clone_voice(service, SCRIPT, voice="dialogue", seed=drawn_seed)[0][1])


def test_a_dialogue_streams_turn_by_turn(service, cast):
    turns = dialogue.parse(SCRIPT, cast)
    jobs = dialogue.prepare(service, turns, service.defaults.replace(seed=3))
    pieces = list(dialogue.stream(service, jobs))
    turn_audio = [torch.cat(list(service.synthesizer.stream(job))) for job in jobs]
    gap = dialogue.pause(SR)
    assert torch.equal(torch.cat(pieces), torch.cat([turn_audio[0], gap, turn_audio[1], gap, turn_audio[2]]))


def test_a_turn_s_error_names_the_turn(service, cast):
    with pytest.raises(Exception, match=r"Text: turn 2 \(\[bob\]\): text has nothing speakable"):
        clone_voice(service, "[alice] Hello. [bob] ?!", voice="dialogue")


def test_dialogue_through_the_openai_api_and_gradio(served, service, cast):
    import openai

    client = openai.OpenAI(base_url=served + "v1", api_key="-", max_retries=0)
    api = client.audio.speech.create(model="cubetts", voice="dialogue", input=SCRIPT, response_format="pcm",
                                     extra_body={"seed": 7}).content
    (_, expected), _ = clone_voice(service, SCRIPT, voice="dialogue", seed=7)
    assert np.array_equal(np.frombuffer(api, "<i2"), expected)
    with pytest.raises(openai.BadRequestError, match="unknown speaker \\[zed\\]"):
        client.audio.speech.create(model="cubetts", voice="dialogue", input="[zed] Hi.")
    wav_path, seed = Client(served, verbose=False).predict(SCRIPT, None, None, None, None, None, "7", False,
                                                           "dialogue", api_name="/clone_voice")
    assert seed == "7" and np.array_equal(sf.read(wav_path, dtype="int16")[0], expected)
    with pytest.raises(AppError, match="Voice: unknown speaker \\[zed\\] in turn 1; the voices are: default"):
        Client(served, verbose=False).predict("[zed] Hi.", None, None, None, None, None, "", False, "dialogue",
                                              api_name="/clone_voice")


def test_dialogue_cli_writes_one_file(synthesizer, service, cast, tmp_path, capsys, monkeypatch):
    synthesizer.model.save_pretrained(tmp_path / "tts")
    synthesizer.codec.save_pretrained(tmp_path / "codec")
    monkeypatch.setenv("CUBETTS_HOME", str(cast.root.parent))
    models = ["--tts", str(tmp_path / "tts"), "--codec", str(tmp_path / "codec"), "--device", "cpu"]
    out = tmp_path / "talk.wav"
    assert main(["dialogue", SCRIPT, "--out", str(out), "--seed", "7", "--nfe", str(synthesizer.options.nfe),
                 *models]) == 0
    assert "3 turns, seed 7" in capsys.readouterr().err
    (_, expected), _ = clone_voice(service, SCRIPT, voice="dialogue", seed=7)
    written, sr = sf.read(out, dtype="int16")
    assert sr == SR and np.abs(written.astype(int) - expected.astype(int)).max() <= 1
    script = tmp_path / "script.txt"
    script.write_text("[alice] Hi. [nobody] Hello.")
    assert main(["dialogue", "--file", str(script), "--out", str(tmp_path / "x.wav"), *models]) == 2
    assert "error: unknown speaker [nobody] in turn 2; the voices are: default, alice, bob" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()
    assert main(["dialogue", SCRIPT, "--out", str(tmp_path / "talk.mp3"), *models]) == 2
    assert "cannot write audio as '.mp3'" in capsys.readouterr().err
