"""The README's API snippets run as written (with tiny random models standing in for released weights)."""
import re
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from codec import WavCube, WavCubeConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(after_heading: str) -> str:
    text = README.read_text()
    section = text[text.index(after_heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_codec_snippet(tmp_path, monkeypatch):
    tiny = tmp_path / "tiny-codec"
    WavCube(WavCubeConfig.tiny()).save_pretrained(tiny)
    original = WavCube.from_pretrained.__func__
    monkeypatch.setattr(WavCube, "from_pretrained", classmethod(lambda cls, *a, **k: original(cls, tiny)))
    sf.write(tmp_path / "speech.wav", (0.1 * np.random.default_rng(0).standard_normal((24000, 2))).astype(np.float32),
             24000)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(python_block("## Codec"), scope)
    n = (16000 - 400) // 320 + 1
    assert scope["latent"].shape == (1, n, 128) and scope["mask"].shape == (1, n)
    assert isinstance(scope["audio"], torch.Tensor) and scope["audio"].shape == (1, 320 * n)
