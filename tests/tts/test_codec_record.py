"""A TTS checkpoint names its codec: synthesis loads it, and refuses a codec of other latents."""
import dataclasses

import pytest
import torch

from codec import CheckpointError, CodecMismatchError, CodecSpec, MelCodec, WavCube
from tts import Synthesizer, SynthesisOptions, TTSModel

from .conftest import speechlike

REF_TEXT = "hello there, my good friend."
OPTS = SynthesisOptions(nfe=2, seed=0)


class FakeASR:
    def __call__(self, wav, sample_rate):
        return REF_TEXT


def test_mel_model_loads_its_codec_and_speaks_at_24k(mel_tts_dir, tiny_vocos):
    tts = Synthesizer.from_pretrained(mel_tts_dir, options=OPTS)
    assert isinstance(tts.codec, MelCodec) and tts.codec.spec().source == str(tiny_vocos.resolve())
    tts.transcriber = FakeASR()
    ref = tts.prepare_reference(speechlike(2.0), 16000, REF_TEXT, OPTS)
    assert ref.latent.shape == (ref.wav.shape[0] // 256 + 1, 100)
    pieces = tts.plan(0, "good morning.", ref, OPTS.replace(duration=1.0))
    assert sum(p.length - ref.frames for p in pieces) == round(93.75)  # 1 s at the mel's frame rate
    wav, sr = tts.synthesize("Good morning.", speechlike(2.0), 16000, REF_TEXT, duration=1.0)
    assert sr == 24000 and 0 < wav.shape[0] <= 94 * 256 and torch.isfinite(wav).all()


def test_griffin_lim_may_stand_in_for_the_recorded_vocos(mel_tts_dir):
    tts = Synthesizer.from_pretrained(mel_tts_dir, "griffin-lim", options=OPTS)
    assert tts.codec.spec().source == "griffin-lim"


def test_a_codec_of_other_latents_is_refused(mel_tts_dir, tiny_codec, tmp_path):
    tiny_codec.save_pretrained(tmp_path / "wavcube")
    with pytest.raises(CodecMismatchError, match=r"wavcube codec, 128-d at 50 Hz.*mel .*100-d at 93.75 Hz"):
        Synthesizer.from_pretrained(mel_tts_dir, tmp_path / "wavcube")
    with pytest.raises(CodecMismatchError, match="128-d"):
        Synthesizer(TTSModel.from_pretrained(mel_tts_dir), tiny_codec)
    wrong = WavCube.from_pretrained(tmp_path / "wavcube")  # a loaded codec, not a path: checked too
    with pytest.raises(CodecMismatchError):
        Synthesizer.from_pretrained(mel_tts_dir, wrong)


def test_latent_dims_are_compared_once_with_both_named(tiny_model, mel_tts_dir):
    # No codec record: the DiT's latent_dim against the codec's.
    with pytest.raises(CodecMismatchError, match="the codec gives 100-d latents .* but the TTS model takes 128-d"):
        Synthesizer(tiny_model, MelCodec.griffin_lim())
    # A record that contradicts its own DiT is refused where the config is made.
    record = TTSModel.from_pretrained(mel_tts_dir).config.codec
    with pytest.raises(ValueError, match=r"mel .*, 100-d at 93.75 Hz gives 100-d latents but dit.latent_dim is 128"):
        dataclasses.replace(tiny_model.config, codec=record)


def test_old_checkpoint_without_record_needs_a_codec(tiny_model, tiny_codec, tmp_path):
    tiny_model.save_pretrained(tmp_path / "tts")
    tiny_codec.save_pretrained(tmp_path / "codec")
    with pytest.raises(CheckpointError, match="records no codec.*pass the codec"):
        Synthesizer.from_pretrained(tmp_path / "tts")
    assert isinstance(Synthesizer.from_pretrained(tmp_path / "tts", tmp_path / "codec").codec, WavCube)


def test_wavcube_record_loads_wavcube(tiny_model, tiny_codec, tmp_path):
    tiny_codec.save_pretrained(tmp_path / "codec")
    spec = WavCube.from_pretrained(tmp_path / "codec").spec()
    model = TTSModel(dataclasses.replace(tiny_model.config, codec=spec))
    model.save_pretrained(tmp_path / "tts")
    assert TTSModel.from_pretrained(tmp_path / "tts").config.codec == spec
    tts = Synthesizer.from_pretrained(tmp_path / "tts")
    assert isinstance(tts.codec, WavCube) and tts.sample_rate == 16000
    assert spec == CodecSpec("wavcube", str((tmp_path / "codec").resolve()), 128, 50.0)
