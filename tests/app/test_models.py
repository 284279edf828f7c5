"""Loading at start-up: which model, on which latent, on which device, under which licence."""
import numpy as np
import soundfile as sf
import torch

from app.models import DEFAULT_TTS, load_synthesizer
from app.server import clone_voice
from app.service import Service

from .conftest import REF_TEXT, voice_like

CPU = torch.device("cpu")


def test_the_licence_shown_is_the_one_the_model_records(synthesizer, tmp_path):
    import dataclasses

    from tts.model import TTSModel

    synthesizer.codec.save_pretrained(tmp_path / "codec")
    synthesizer.model.save_pretrained(tmp_path / "unrecorded")
    _, status = load_synthesizer(str(tmp_path / "unrecorded"), str(tmp_path / "codec"), "whisper", CPU)
    assert status.licence == "not recorded: see the checkpoint"
    licensed = TTSModel(dataclasses.replace(synthesizer.model.config, license="MIT"))
    licensed.save_pretrained(tmp_path / "mit")
    _, status = load_synthesizer(str(tmp_path / "mit"), str(tmp_path / "codec"), "whisper", CPU)
    assert status.licence == "MIT" and "**Licence of the TTS weights:** MIT" in status.markdown()


def test_the_default_offline_says_what_is_missing_and_how():
    loaded, status = load_synthesizer(DEFAULT_TTS, None, "whisper", CPU)
    assert loaded is None and not status.ready
    assert "F5TTS_v1_Base" in status.problem and "SWivid/F5-TTS" in status.problem
    assert "charactr/vocos-mel-24khz" in status.problem and "internet" in status.problem


def test_mel_model_clones_a_voice_end_to_end(mel_tts_dir, tiny_vocos, tmp_path, voices):
    synthesizer, status = load_synthesizer(str(mel_tts_dir), None, "whisper", CPU)
    assert status.ready and status.codec == str(tiny_vocos.resolve())
    assert status.latent == "mel, 100-d at 93.75 Hz (24 kHz audio)" and "device: `cpu`" in status.markdown()
    sf.write(tmp_path / "ref.wav", voice_like(2.0).numpy(), 16000)
    (sr, pcm), seed = clone_voice(Service.create(synthesizer, status, voices), "Good morning.", str(tmp_path / "ref.wav"), REF_TEXT, nfe=2, seed=3)
    assert sr == 24000 and seed == 3 and pcm.dtype == np.int16 and pcm.shape[0] > 0


def test_griffin_lim_is_named_as_the_fallback(mel_tts_dir):
    synthesizer, status = load_synthesizer(str(mel_tts_dir), "griffin-lim", "whisper", CPU)
    assert status.ready and "Griffin-Lim (the low-quality fallback)" in status.latent
