"""The README's text-to-speech snippet, run as written, on tiny models saved to disk."""
import re
from pathlib import Path

import soundfile as sf
import torch

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


def test_f5_snippet_clones_a_voice(f5_reference, tiny_vocos, tmp_path, monkeypatch):
    """The README's F5-TTS snippet, with the fixture's F5-layout checkpoint standing in for the release and a tiny
    random Vocos for charactr/vocos-mel-24khz."""
    import shutil

    from codec import CodecSpec
    from tts import f5_checkpoint as f5

    release = tmp_path / "F5TTS_v1_Base"
    release.mkdir()
    for name in ("model.safetensors", "vocab.txt", "config.json"):
        shutil.copy(f5_reference / name, release / name)
    monkeypatch.setitem(f5.MEL_CODECS, "vocos", CodecSpec("mel", str(tiny_vocos), 100, 24000 / 256, mel_type="vocos"))
    monkeypatch.setenv("CUBETTS_CACHE", str(tmp_path / "cache"))
    sf.write(tmp_path / "ref.wav", speechlike(2.0, 24000).numpy(), 24000)
    monkeypatch.chdir(tmp_path)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Clone a voice now"):]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert '"F5TTS_v1_Base"' in snippet
    snippet = snippet.replace('"F5TTS_v1_Base"', repr(str(release / "model.safetensors"))).replace(
        'device="cuda"', 'device="cpu"')
    scope: dict = {}
    exec(snippet, scope)
    assert scope["sr"] == 24000 and scope["wav"].dim() == 1
    assert scope["wav"].numel() > 24000 * 0.2 and torch.isfinite(scope["wav"]).all()
    assert scope["tts"].codec.kind == "mel"
