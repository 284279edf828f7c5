"""The README's text-to-speech snippet, run as written, on tiny models saved to disk."""
import re
from pathlib import Path

import soundfile as sf

from tts.asr import WhisperTranscriber

from .conftest import speechlike


def test_public_api_snippet(tiny_model, tiny_codec, tmp_path, monkeypatch):
    tiny_model.save_pretrained(tmp_path / "tts")
    tiny_codec.save_pretrained(tmp_path / "codec")
    ref_wav, ref_sr = speechlike(2.0), 16000
    sf.write(tmp_path / "ref.wav", ref_wav.numpy(), ref_sr)
    heard = []
    monkeypatch.setattr(WhisperTranscriber, "__call__", lambda self, wav, sr: heard.append(sr) or "one two three")
    monkeypatch.chdir(tmp_path)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Text to speech"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1).replace("path/to/tts", "tts").replace(
        "path/to/codec", "codec").replace('device="cuda"', 'device="cpu"')
    scope = {"ref_wav": ref_wav, "ref_sr": ref_sr}
    exec(snippet, scope)
    assert scope["wav"].dim() == 1 and scope["sr"] == 16000
    assert len(scope["wavs"]) == 2 and heard == [16000]

