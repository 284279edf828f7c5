"""The page opened in headless Chromium (Debian's `chromium` package): its components render, and its player
starts playing the speech while the rest is still being generated.

Skipped where chromium is absent (`.ci/run` installs it). With CUBETTS_APP_SCREENSHOT=docs/app.png
the screenshot is kept there: that is how the README's screenshot is made.
"""
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import threading
import time

import pytest

from .conftest import REF_TEXT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
              # Raised inside gradio's queue by its pandas calls, not by the app.
              pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]


def chromium(tmp_path, url: str, *args: str) -> str:
    """Run headless Chromium on `url` with `args`; virtual time lets the page's scripts render it first."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000",
             "--virtual-time-budget=20000"]
    done = subprocess.run([CHROMIUM, *flags, *args, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_components_render(served, tmp_path):
    dom = chromium(tmp_path, served, "--dump-dom")
    rendered = re.sub(r"<script\b.*?</script>", "", dom, flags=re.S)  # the page's config also names every label
    for text in ["Text to speak", "Reference voice", "Reference transcript (optional)", "Advanced settings",
                 ">Synthesize<", "Synthesized speech", "Seed used", "Voice", "Save this clip as a voice",
                 "Download (WAV)",
                 "tiny random TTS (tests)", "synthesis will be slow"]:  # the model status and the CPU warning
        assert text in rendered, f"{text!r} is not on the rendered page"
    assert rendered.count("<textarea") + rendered.count('data-testid="textbox"') >= 2
    assert 'aria-label="Record audio"' in rendered  # the microphone source of the reference
    assert 'data-testid="waveform-Reference voice"' in rendered


def test_screenshot(served, tmp_path):
    path = os.environ.get("CUBETTS_APP_SCREENSHOT") or str(tmp_path / "app.png")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    chromium(tmp_path, served, f"--screenshot={os.path.abspath(path)}")
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", head[16:24]) == (1280, 1000)
    assert os.path.getsize(path) > 20_000  # a blank page compresses to a few kB


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on its
    fd 3, answers on its fd 4, each a JSON message ended by a NUL byte), attached to its first page."""

    def __init__(self, profile, *flags: str):
        command_r, self._commands = os.pipe()
        self._answers_r, answers_w = os.pipe()

        def pipes_as_3_and_4():
            os.dup2(command_r, 3)
            os.dup2(answers_w, 4)

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--window-size=1280,1000", *flags, "about:blank"],
            preexec_fn=pipes_as_3_and_4, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(command_r)
        os.close(answers_w)
        self._ids, self._answers, self._ready = itertools.count(1), {}, threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def _read(self) -> None:
        pending = b""
        with os.fdopen(self._answers_r, "rb", buffering=0) as answers:
            while chunk := answers.read(65536):
                pending += chunk
                *messages, pending = pending.split(b"\0")
                for message in map(json.loads, messages):
                    if "id" in message:
                        with self._ready:
                            self._answers[message["id"]] = message
                            self._ready.notify_all()

    def send(self, method: str, session: str | None = None, **params):
        i = next(self._ids)
        message = {"id": i, "method": method, "params": params, **({"sessionId": session} if session else {})}
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        with self._ready:
            assert self._ready.wait_for(lambda: i in self._answers, 60), f"no answer to {method}"
            answer = self._answers.pop(i)
        assert "error" not in answer, f"{method}: {answer['error']}"
        return answer["result"]

    def page(self, method: str, **params):
        return self.send(method, self.session, **params)

    def js(self, expression: str):
        return self.page("Runtime.evaluate", expression=expression, returnByValue=True,
                         awaitPromise=True)["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if value := self.js(expression):
                return value
            time.sleep(0.05)
        raise AssertionError(f"still false after {seconds} s: {expression}")

    def close(self) -> None:
        try:
            self.send("Browser.close")
        finally:
            self.process.wait(30)


# The page's player, as Gradio renders a streamed gr.Audio: a plain <audio> fed by Media Source Extensions.
PLAYER = "document.querySelector('#output audio')"
SET_TEXT = """(i, text) => { const box = document.querySelectorAll('textarea')[i];
    Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value').set.call(box, text);
    box.dispatchEvent(new Event('input', {bubbles: true})); }"""
STORY = ("Once upon a time there was a small town by the sea. Every morning the fishermen went out in their boats. "
         "In the evening they came back with nets full of fish. The children ran down to the harbour to meet them.")
PIECE_SECONDS = 1.0  # each piece takes this long to make: the test's own stand-in for a slow model


@pytest.fixture
def slow_app(synthesizer, status, voices):
    """The app on the tiny models slowed to PIECE_SECONDS a piece; the end of each piece's generation is logged
    in `made` (wall-clock time, as the browser's Date.now())."""
    from app.service import Service
    from tts import Synthesizer

    from .conftest import start

    slow = Synthesizer(synthesizer.model, synthesizer.codec, synthesizer.transcriber, synthesizer.options)
    made: list[float] = []
    generate = slow._generate

    def slowly(batch):
        time.sleep(PIECE_SECONDS)
        out = generate(batch)
        made.append(time.time())
        return out

    slow._generate = slowly  # type: ignore[method-assign]
    demo, url = start(Service.create(slow, status, voices))
    yield url, made
    demo.close()


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed: Gradio encodes a streamed "
                                                            "player's audio with it (apt-get install ffmpeg)")
def test_the_player_plays_before_the_generation_ends(slow_app, refs, tmp_path):
    url, made = slow_app
    browser = DevTools(tmp_path / "profile", "--autoplay-policy=no-user-gesture-required")
    try:
        browser.page("Page.navigate", url=url)
        browser.wait_for("!!document.querySelector('#reference input[type=file]')")
        root = browser.page("DOM.getDocument")["root"]["nodeId"]
        upload = browser.page("DOM.querySelector", nodeId=root, selector="#reference input[type=file]")["nodeId"]
        browser.page("DOM.setFileInputFiles", nodeId=upload, files=[refs["good"]])
        browser.wait_for("!!document.querySelector('#reference audio, #reference [data-testid=waveform-controls]')")
        browser.js(f"({SET_TEXT})(0, {json.dumps(STORY)}); ({SET_TEXT})(1, {json.dumps(REF_TEXT)})")
        browser.js("[...document.querySelectorAll('button')].find(b => b.textContent.trim() == 'Synthesize').click()")
        heard = browser.wait_for(f"{PLAYER} && {PLAYER}.currentTime > 0 && Date.now() / 1000", seconds=120)
        received = browser.js(f"{PLAYER}.buffered.length > 0")
        # The whole speech arrives in the end: the download holds it.
        browser.wait_for("!!document.querySelector('#download audio')", seconds=120)
    finally:
        browser.close()
    assert received and len(made) >= 4, made
    assert heard < made[-1], f"playing at {heard:.2f}, the last of {len(made)} pieces made at {made[-1]:.2f}"
    print(f"audio heard {heard - made[0] + PIECE_SECONDS:.2f} s after the first piece began, "
          f"{made[-1] - heard:.2f} s before the last of {len(made)} pieces was made")
