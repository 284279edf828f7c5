"""Loading at start-up: which model, on which latent, on which device, under which licence."""
import json

import numpy as np
import soundfile as sf
import torch

from app.models import DEFAULT_TTS, F5_LICENCE, describe_licence, load_synthesizer
from app.server import clone_voice

from .conftest import REF_TEXT, voice_like

CPU = torch.device("cpu")


def test_licence_of_f5_releases_and_recorded_ones(tmp_path):
    assert describe_licence(DEFAULT_TTS) == F5_LICENCE and "CC-BY-NC" in F5_LICENCE
    assert describe_licence("SWivid/F5-TTS") == F5_LICENCE
    (tmp_path / "config.json").write_text(json.dumps({"license": "MIT", "config": {}}))
    assert describe_licence(str(tmp_path)) == "MIT"
    assert "see the checkpoint" in describe_licence(str(tmp_path / "elsewhere"))


def test_the_default_offline_says_what_is_missing_and_how():
    loaded, status = load_synthesizer(DEFAULT_TTS, None, "whisper", CPU)
    assert loaded is None and not status.ready
    assert "F5TTS_v1_Base" in status.problem and "SWivid/F5-TTS" in status.problem
    assert "charactr/vocos-mel-24khz" in status.problem and "internet" in status.problem
    assert "CC-BY-NC" in status.markdown()


def test_mel_model_clones_a_voice_end_to_end(mel_tts_dir, tiny_vocos, tmp_path):
    synthesizer, status = load_synthesizer(str(mel_tts_dir), None, "whisper", CPU)
    assert status.ready and status.codec == str(tiny_vocos.resolve())
    assert status.latent == "mel, 100-d at 93.75 Hz (24 kHz audio)" and "device: `cpu`" in status.markdown()
    sf.write(tmp_path / "ref.wav", voice_like(2.0).numpy(), 16000)
    (sr, pcm), seed = clone_voice(synthesizer, "Good morning.", str(tmp_path / "ref.wav"), REF_TEXT, nfe=2, seed=3)
    assert sr == 24000 and seed == 3 and pcm.dtype == np.int16 and pcm.shape[0] > 0


def test_griffin_lim_is_named_as_the_fallback(mel_tts_dir):
    synthesizer, status = load_synthesizer(str(mel_tts_dir), "griffin-lim", "whisper", CPU)
    assert status.ready and "Griffin-Lim (the low-quality fallback)" in status.latent
