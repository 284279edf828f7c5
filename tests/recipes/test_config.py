import json

import pytest

from recipes.config import from_dict, load_config, resolve_config, to_dict
from recipes.train_codec import PRESETS as CODEC_PRESETS
from recipes.train_codec import CodecTrainConfig
from recipes.train_tts import PRESETS, TTSTrainConfig


def test_presets_round_trip_through_json():
    for cls, presets in ((TTSTrainConfig, PRESETS), (CodecTrainConfig, CODEC_PRESETS)):
        for name, make in presets.items():
            config = make()
            assert from_dict(cls, json.loads(json.dumps(to_dict(config)))) == config, name


def test_reference_loss_weights_and_schedules():
    s1, s2 = CodecTrainConfig.stage1(), CodecTrainConfig.stage2()
    assert (s1.model.mel_weight, s1.model.adversarial.gan_weight, s1.mel_only_steps) == (45.0, 1.0, 5000)
    assert (s2.model.mel_weight, s2.model.adversarial.gan_weight, s2.model.anchor_weight) == (4.5, 0.1, 1.0)
    assert (s2.mel_only_steps, s2.model.stage) == (0, 2)
    for c in (s1, s2):
        assert (c.lr, c.betas, c.warmup_steps, c.crop_seconds) == (1e-4, (0.8, 0.9), 5000, 10.0)


def test_config_file_overrides_a_preset(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: tiny\nlr: 0.01\nmodel:\n  dit:\n    depth: 3\n")
    config = load_config(TTSTrainConfig, str(path), PRESETS)
    assert config.lr == 0.01 and config.model.dit.depth == 3
    assert config.model.dit.dim == TTSTrainConfig.tiny().model.dit.dim
    path.write_text(json.dumps({"preset": "tiny", "learning_rate": 1}))
    path = path.rename(tmp_path / "c.json")
    with pytest.raises(ValueError, match="no field"):
        load_config(TTSTrainConfig, str(path), PRESETS)
    with pytest.raises(ValueError, match="neither a preset"):
        load_config(TTSTrainConfig, "huge", PRESETS)


def test_resume_without_config_uses_the_recorded_one(tmp_path):
    with pytest.raises(ValueError, match="give --config"):
        resolve_config(TTSTrainConfig, None, PRESETS, tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(to_dict(TTSTrainConfig.tiny())))
    assert resolve_config(TTSTrainConfig, None, PRESETS, tmp_path) == TTSTrainConfig.tiny()
