"""The OpenAI-compatible API, used through the official `openai` package against the app served on loopback:
each format, streamed and not, decodes to the samples the synthesizer made (wav, flac, pcm exactly; mp3 and
opus within their codecs' loss), and each bad request gets OpenAI's error shape naming what is wrong."""
import base64
import io
import json

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch

from app.encoding import pcm16
from app.openai_api import MODELS
from app.speech import FIRST_PIECE_SECONDS

from .conftest import SR

openai = pytest.importorskip("openai")

TEXT = "Hello there. This is the speech API, spoken in two sentences."
SEED = 5
# Lossy codecs, measured on the tiny model's noise-like output (the hardest case for them): the level of each
# 20 ms frame stays within this many dB on average (mp3's low-pass at 16 kHz removes the top band: ~0.9 dB;
# opus at level 0.8: ~0.1 dB).
LOSSY_ENVELOPE_DB = {"mp3": 1.5, "opus": 0.5}
MP3_LEAD_IN = 1105  # LAME's encoder + decoder delay, heard when a streamed mp3 has no gapless tag


@pytest.fixture(scope="module")
def client(served):
    return openai.OpenAI(base_url=served + "v1", api_key="not needed", max_retries=0)


@pytest.fixture(scope="module")
def expected(service) -> dict:
    """What the synthesizer makes for TEXT in the built-in voice with SEED: whole, and as a stream's pieces."""
    synthesizer = service.synthesizer
    job = synthesizer.prepare([TEXT], service.speaker("default"), seed=SEED)
    streamed = synthesizer.prepare([TEXT], service.speaker("default"), seed=SEED, first_chunk_seconds=FIRST_PIECE_SECONDS)
    pieces = list(synthesizer.stream(streamed))
    assert len(pieces) > 1  # the stream comes in several pieces
    return {"whole": pcm16(synthesizer.generate([job])[0][0]), "streamed": pcm16(torch.cat(pieces))}


def decode(data: bytes, fmt: str) -> np.ndarray:
    if fmt == "pcm":
        return np.frombuffer(data, "<i2")
    samples, sr = sf.read(io.BytesIO(data), dtype="int16")
    assert sr == SR
    return samples


def envelope_db(x: np.ndarray) -> np.ndarray:
    frames = x[: len(x) // 320 * 320].astype(np.float64).reshape(-1, 320) / 32768  # 20 ms at 16 kHz
    return 20 * np.log10(np.sqrt((frames ** 2).mean(axis=1)) + 1e-4)


def assert_same_audio(got: np.ndarray, want: np.ndarray, fmt: str, streamed: bool) -> None:
    if fmt in ("wav", "flac", "pcm"):
        assert np.array_equal(got, want)
        return
    lead_in = MP3_LEAD_IN if fmt == "mp3" and streamed else 0
    correlation = np.correlate(got[:len(want)].astype(float), want[:len(want) - 2000].astype(float), "valid")
    assert int(np.argmax(correlation)) == lead_in  # aligned as stated, no other shift
    got = got[lead_in:lead_in + len(want)]
    assert len(got) == len(want)
    assert np.abs(envelope_db(got) - envelope_db(want)).mean() < LOSSY_ENVELOPE_DB[fmt]


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus", "pcm"])
def test_each_format_whole_and_streamed_decodes_to_the_synthesized_samples(client, expected, fmt):
    speech = client.audio.speech
    whole = speech.create(model="cubetts", voice="default", input=TEXT, response_format=fmt, extra_body={"seed": SEED})
    assert_same_audio(decode(whole.content, fmt), expected["whole"], fmt, streamed=False)
    with speech.with_streaming_response.create(model="tts-1", voice="default", input=TEXT, response_format=fmt,
                                               stream_format="audio", extra_body={"seed": SEED}) as response:
        assert response.headers["x-sample-rate"] == str(SR)
        chunks = list(response.iter_bytes())
    assert_same_audio(decode(b"".join(chunks), fmt), expected["streamed"], fmt, streamed=True)


def test_server_sent_events_carry_the_audio_in_openai_s_events(client, expected):
    with client.audio.speech.with_streaming_response.create(
            model="cubetts", voice="default", input=TEXT, response_format="pcm", stream_format="sse",
            extra_body={"seed": SEED}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]
    assert [e["type"] for e in events[-1:]] == ["speech.audio.done"]
    assert {e["type"] for e in events[:-1]} == {"speech.audio.delta"} and len(events) > 2
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert np.array_equal(np.frombuffer(audio, "<i2"), expected["streamed"])


def test_options_and_speed_reach_the_synthesizer(client):
    def speak(**body) -> np.ndarray:
        return decode(client.audio.speech.create(model="cubetts", voice="default", input="Good morning, everyone.",
                                                 response_format="pcm", speed=body.pop("speed", 1.0),
                                                 extra_body={"seed": 2, **body}).content, "pcm")

    base = speak()
    assert np.array_equal(speak(), base)
    assert not np.array_equal(speak(nfe=2), base) and not np.array_equal(speak(seed=3), base)
    assert abs(len(speak(speed=2.0)) - len(base) / 2) < 0.1 * len(base)


def test_models_are_listed(client):
    assert [m.id for m in client.models.list()] == list(MODELS)


@pytest.mark.parametrize("body, error, message, param", [
    ({"voice": "nobody"}, "NotFoundError", "no voice named 'nobody'; the voices are: default", "voice"),
    ({"model": "whisper-1"}, "NotFoundError", "no model named 'whisper-1'; the models are: cubetts, tts-1", "model"),
    ({"response_format": "aac"}, "BadRequestError",
     "response_format must be one of wav, flac, mp3, opus, pcm; got 'aac'", "response_format"),
    ({"speed": 5}, "BadRequestError", "speed must be a number from 0.25 to 4.0, got 5", "speed"),
    ({"extra_body": {"nfe": 0}}, "BadRequestError", "nfe must be a whole number from 1 to 128, got 0", "nfe"),
    ({"input": ""}, "BadRequestError", "text is empty", "input"),
    ({"input": "word " * 300}, "BadRequestError", "the limit is max_chars=1000", "input"),
    ({"stream_format": "video"}, "BadRequestError", "stream_format must be one of audio, sse; got 'video'",
     "stream_format"),
    ({"instructions": "whisper"}, "BadRequestError", "unknown field 'instructions'", "instructions"),
])
def test_bad_requests_get_openai_errors_that_name_the_field(client, body, error, message, param):
    request = {"model": "cubetts", "voice": "default", "input": "Hello.", **body}
    with pytest.raises(getattr(openai, error)) as info:
        client.audio.speech.create(**request)
    assert message in info.value.body["message"] and info.value.body["param"] == param


@pytest.mark.parametrize("body, code, message", [
    ({"input": ["Hello", "there"]}, 400, "input must be a string, got a list"),
    ({"input": {"text": "Hello"}}, 400, "input must be a string, got an object"),
    ({"voice": 3}, 400, "voice must be a voice's name (a string), got a number"),
    ({"input": None}, 400, "input is required"),
])
def test_raw_http_values_of_the_wrong_type_are_refused_by_name(served, body, code, message):
    request = {"model": "cubetts", "voice": "default", "input": "Hello.", **body}
    answer = httpx.post(served + "v1/audio/speech", json=request, timeout=60)
    assert answer.status_code == code and message in answer.json()["error"]["message"]
    assert httpx.post(served + "v1/audio/speech", content=b"{not json", timeout=60).json()["error"]["message"] \
        .startswith("the request body is not valid JSON")


def test_without_models_every_request_is_told_why(status, voices):
    import dataclasses

    from app.service import Service

    from .conftest import start

    demo, url = start(Service.create(None, dataclasses.replace(status, problem="no TTS model given"), voices))
    try:
        client = openai.OpenAI(base_url=url + "v1", api_key="-", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            client.audio.speech.create(model="cubetts", voice="default", input="Hello.")
        assert info.value.status_code == 503 and "no TTS model given" in info.value.body["message"]
    finally:
        demo.close()


def test_readme_snippet_runs_as_written(served, tmp_path, monkeypatch):
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text[text.index("### OpenAI-compatible speech API"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "http://127.0.0.1:7860/v1" in snippet
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(snippet.replace("http://127.0.0.1:7860/", served), scope)
    samples, sr = sf.read(tmp_path / "hello.wav", dtype="int16")
    assert sr == SR and len(samples) > 0 and len(scope["pcm"]) > 0
