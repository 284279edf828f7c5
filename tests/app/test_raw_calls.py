"""Raw HTTP calls that Gradio would refuse with `{"error": null}` (issue 19, item 15) get a real error: too few
values (naming the parameters in order), a server path or a URL as the reference (the server reads no file of
its own and downloads nothing), text sent as a list or an object (refused by name, never spoken)."""
import httpx
import pytest
from gradio_client import Client, handle_file

from .conftest import REF_TEXT

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
PARAMETERS = "text, reference, reference_text, speed, steps, cfg_strength, seed, remove_silence, voice"


@pytest.fixture(scope="module")
def api(served) -> str:
    return served.rstrip("/") + "/gradio_api"


@pytest.fixture(scope="module")
def uploaded(api, refs) -> dict:
    with open(refs["good"], "rb") as f:
        path = httpx.post(f"{api}/upload", files={"files": f}).json()[0]
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def call(api: str, data) -> httpx.Response:
    return httpx.post(f"{api}/call/clone_voice", json={"data": data}, timeout=60)


def outcome(api: str, data) -> str:
    """The event stream's text of a call that Gradio accepted."""
    answer = call(api, data)
    assert answer.status_code == 200, answer.text
    return httpx.get(f"{api}/call/clone_voice/{answer.json()['event_id']}", timeout=60).text


def full(text, reference) -> list:
    return [text, reference, REF_TEXT, None, None, None, "1", False, None]


@pytest.mark.parametrize("data, message", [
    (["Hello."], f"/clone_voice takes 9 values, in this order: {PARAMETERS}; got 1"),
    ([], f"/clone_voice takes 9 values, in this order: {PARAMETERS}; got 0"),
    ("Hello.", f"/clone_voice: data must be a list of its values, in this order: {PARAMETERS}"),
    (full("Hello.", {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}),
     "/clone_voice: reference: 'passwd' is not a file uploaded to this server (it reads no file of its own); "
     "upload it first (POST /gradio_api/upload"),
    (full("Hello.", {"path": "http://127.0.0.1:9/x.wav", "url": "http://127.0.0.1:9/x.wav",
                     "meta": {"_type": "gradio.FileData"}}),
     "/clone_voice: reference: a URL is not accepted (the server downloads nothing)"),
    (full("Hello.", "/tmp/ref.wav"), "/clone_voice: reference must be an uploaded file: upload it first"),
])
def test_calls_gradio_would_refuse_silently_get_a_message(api, refs, data, message):
    answer = call(api, data)
    assert answer.status_code == 422 and answer.json()["error"].startswith(message), answer.text


@pytest.mark.parametrize("text, message", [
    (["Hello", "there"], "Text: text must be a string, got a list"),
    ({"text": "Hello"}, "Text: text must be a string, got an object"),
    (42, "Text: text must be a string, got a number"),
])
def test_text_of_the_wrong_type_is_refused_by_name(api, uploaded, text, message):
    events = outcome(api, full(text, uploaded))
    assert "event: error" in events and message in events, events


def test_a_well_formed_raw_call_still_works(api, uploaded):
    assert "event: complete" in outcome(api, full("Hello.", uploaded))


def test_gradio_client_with_a_url_is_told_to_upload(served):
    with pytest.raises(Exception, match="a URL is not accepted"):
        Client(served, verbose=False).predict("Hello.", handle_file("http://127.0.0.1:9/voice.wav"), REF_TEXT,
                                              api_name="/clone_voice")
