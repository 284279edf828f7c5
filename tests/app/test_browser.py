"""The page opened in headless Chromium (Debian's `chromium` package): its components render.

Skipped where chromium is absent (`.ci/run` installs it). With CUBETTS_APP_SCREENSHOT=docs/app.png
the screenshot is kept there: that is how the README's screenshot is made.
"""
import os
import re
import shutil
import struct
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


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
                 ">Synthesize<", "Synthesized speech", "Seed used",
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
