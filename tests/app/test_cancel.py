"""A request whose client cancels or disconnects is dropped from the batcher, and the next request is served at
its normal speed (issue 19, item 2): ten long requests cancelled or abandoned, then one short request, answered
within twice its unloaded time. Through the real `gradio_client` (`job.cancel()`), Gradio's raw HTTP API (the
connection dropped) and the OpenAI API (a stream closed)."""
import json
import socket
import statistics
import time

import httpx
import pytest
from gradio_client import Client, handle_file

from app.service import Service
from tts import Synthesizer

from .conftest import OPTIONS, REF_TEXT, start

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")

LONG = " ".join(["The quick brown fox jumps over the lazy dog while the band plays on in the old town square."] * 9)
SHORT = "Good morning to you all."
SHORT_STEPS = 32  # a short request at the default steps, so that its time is not all HTTP


@pytest.fixture(scope="module")
def app_with_small_pieces(synthesizer, status, voices):
    """The app on the tiny models with long texts cut into 1 s pieces (about 70 per long request): a DiT batch,
    the work that cannot be dropped once started (jobs are dropped between batches), then lasts a fraction of a
    short request. Each DiT batch's end is recorded in `batches`."""
    model = Synthesizer(synthesizer.model, synthesizer.codec, synthesizer.transcriber,
                        OPTIONS.replace(max_chunk_seconds=1.0))
    batches: list[float] = []
    generate = model._generate

    def recorded(batch):
        out = generate(batch)
        batches.append(time.monotonic())
        return out

    model._generate = recorded  # type: ignore[method-assign]
    service = Service.create(model, status, voices, concurrency=8)
    demo, url = start(service)
    yield url, batches
    demo.close()


def timed(call) -> float:
    start = time.monotonic()
    call()
    return time.monotonic() - start


def assert_served_at_normal_speed(short, batches: list[float], cancel_all) -> None:
    """`short()` unloaded (median of 5), then after `cancel_all()` (which returns once the long requests are
    generating and have been cancelled): within twice that time; and no work of the long ones goes on after."""
    unloaded = statistics.median(timed(short) for _ in range(5))
    cancel_all()
    closed = time.monotonic()
    loaded = timed(short)
    after = [round(t - closed, 2) for t in batches if t > closed]
    print(f"short request: {unloaded:.2f} s alone, {loaded:.2f} s after the cancellations; DiT batches at {after} s")
    assert loaded < 2 * unloaded, f"the short request took {loaded:.2f} s after the cancellations, {unloaded:.2f} s " \
                                  f"alone (DiT batches ended {after} s after the cancellations)"
    done = time.monotonic()
    time.sleep(1.0)
    assert not [t for t in batches if t > done + 0.5], "the cancelled requests were still being generated"


def wait_for_work(batches: list[float], since: int) -> None:
    """Until the long requests are being generated (some DiT batches of theirs are done)."""
    for _ in range(600):
        if len(batches) >= since + 2:
            return
        time.sleep(0.05)
    raise AssertionError("the long requests never started")


def test_gradio_client_cancels(app_with_small_pieces, refs):
    url, batches = app_with_small_pieces
    client = Client(url, verbose=False)
    ref = handle_file(refs["good"])

    def short():
        client.predict(SHORT, ref, REF_TEXT, None, SHORT_STEPS, None, "1", False, None, api_name="/clone_voice")

    def cancel_all():
        jobs = [client.submit(LONG, ref, REF_TEXT, api_name="/clone_voice") for _ in range(10)]
        wait_for_work(batches, len(batches))
        for job in jobs:
            job.cancel()

    assert_served_at_normal_speed(short, batches, cancel_all)


def test_raw_http_clients_that_disconnect(app_with_small_pieces, refs):
    url, batches = app_with_small_pieces
    base = url.rstrip("/") + "/gradio_api"
    with open(refs["good"], "rb") as f:
        uploaded = httpx.post(f"{base}/upload", files={"files": f}).json()[0]
    reference = {"path": uploaded, "meta": {"_type": "gradio.FileData"}}

    def call(text: str, steps) -> str:
        data = [text, reference, REF_TEXT, None, steps, None, "1", False, None]
        return httpx.post(f"{base}/call/clone_voice", json={"data": data}).json()["event_id"]

    def short():
        answer = httpx.get(f"{base}/call/clone_voice/{call(SHORT, SHORT_STEPS)}", timeout=60).text
        assert "event: complete" in answer

    def cancel_all():
        streams = []
        for _ in range(10):  # each client listens, then goes away (its connection closed)
            stream = httpx.stream("GET", f"{base}/call/clone_voice/{call(LONG, None)}", timeout=60)
            stream.__enter__()
            streams.append(stream)
        wait_for_work(batches, len(batches))
        for stream in streams:
            stream.__exit__(None, None, None)

    assert_served_at_normal_speed(short, batches, cancel_all)


def test_openai_api_streams_closed_and_requests_abandoned(app_with_small_pieces):
    url, batches = app_with_small_pieces
    body = {"model": "cubetts", "voice": "default", "response_format": "pcm", "seed": 1}

    def short():
        answer = httpx.post(url + "v1/audio/speech", json={**body, "input": SHORT, "nfe": SHORT_STEPS}, timeout=60)
        assert answer.status_code == 200 and answer.content

    def cancel_all():
        # Plain sockets: each client sends its request, then hangs up (streamed ones after their first audio).
        clients = [raw_post(url, {**body, "input": LONG, **({"stream_format": "audio"} if i % 2 else {})})
                   for i in range(10)]
        wait_for_work(batches, len(batches))
        for i, client in enumerate(clients):
            if i % 2:
                assert b"200 OK" in client.recv(100)  # streaming: its first audio is on its way
            client.close()

    assert_served_at_normal_speed(short, batches, cancel_all)


def raw_post(url: str, body: dict) -> socket.socket:
    """A POST of `body` as JSON to the speech endpoint over a plain socket, left open."""
    address = httpx.URL(url)
    content = json.dumps(body).encode()
    client = socket.create_connection((address.host, address.port), timeout=60)
    client.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n%s" % (address.host.encode(), len(content), content))
    return client
