import dataclasses

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from codec import WavCube
from codec.semantic import CodecTrainingConfig, CodecTrainingModel, SemanticDecoder, semantic_loss
from recipes.checkpoint import list_checkpoints
from recipes.train_codec import CodecTrainConfig, main, train

STAGE1 = CodecTrainConfig.tiny(1)  # 4 steps: 2 mel-only, then 2 with the GAN; checkpoints at 2 and 4
STAGE2 = dataclasses.replace(CodecTrainConfig.tiny(2), max_steps=2)


def _state(checkpoint):
    return torch.load(checkpoint / "training.pt", map_location="cpu", weights_only=False)


def test_semantic_loss_is_mse_plus_cosine_distance_over_valid_frames():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    assert semantic_loss(x, x, mask).abs() < 1e-6
    y = x.clone()
    y[1, 3:] = 100.0  # padding: ignored
    assert semantic_loss(x, y, mask).abs() < 1e-6
    assert semantic_loss(x, -x, mask) == pytest.approx((4 * x.square().mean(-1)[mask]).mean().item() + 2.0, rel=1e-5)


def test_semantic_decoder_maps_latents_to_wavlm_features():
    config = CodecTrainingConfig.tiny().codec.encoder
    out = SemanticDecoder(config)(torch.randn(2, 7, 128), torch.ones(2, 7, dtype=torch.bool))
    assert out.shape == (2, 7, config.wavlm["hidden_size"])


def test_training_model_keeps_wavcube_keys_and_wavlm_in_eval_mode():
    model = CodecTrainingModel(CodecTrainingConfig.tiny(2)).train()
    assert set(model.codec.state_dict()) == set(WavCube(CodecTrainingConfig.tiny().codec).state_dict())
    assert not model.codec.encoder.wavlm.training and not model.teacher.training
    assert model.codec.encoder.layers.training and model.semantic.training
    assert not any(p.requires_grad for p in model.teacher.parameters())


@pytest.fixture(scope="module")
def stage1(clips_manifest, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("stage1")
    return run_dir, train(STAGE1, clips_manifest, run_dir, cpu=True)


def test_stage1_trains_bottleneck_and_decoder_on_frozen_wavlm(stage1):
    run_dir, losses = stage1
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    first, last = (_state(c)["generator"] for c in list_checkpoints(run_dir / "checkpoints"))
    for key in first:
        if key.startswith("codec.encoder.wavlm."):
            assert torch.equal(first[key], last[key]), key
    assert not torch.equal(first["codec.encoder.bottleneck.0.weight"], last["codec.encoder.bottleneck.0.weight"])
    assert not torch.equal(first["codec.decoder.input_proj.weight"], last["codec.decoder.input_proj.weight"])
    assert not torch.equal(first["semantic.projection.0.weight"], last["semantic.projection.0.weight"])
    tags = EventAccumulator(str(run_dir / "logs")).Reload().Tags()
    assert {"train/mel", "train/semantic", "train/disc_mp", "train/gen_mrd", "train/fm_mp"} <= set(tags["scalars"])
    assert {"audio/input", "audio/reconstruction"} <= set(tags["audio"])


def test_stage1_resumes_exactly(stage1, clips_manifest, tmp_path):
    _, reference = stage1
    first = train(STAGE1, clips_manifest, tmp_path, until_step=3, cpu=True)
    second = train(STAGE1, clips_manifest, tmp_path, cpu=True)
    assert first + second == reference


def test_stage2_starts_from_stage1_and_exports_a_loadable_codec(stage1, clips_manifest, tmp_path):
    run_dir, _ = stage1
    s1 = _state(list_checkpoints(run_dir / "checkpoints")[-1])["generator"]
    losses = train(STAGE2, clips_manifest, tmp_path, stage1=run_dir, cpu=True)
    assert len(losses) == 2
    checkpoint = list_checkpoints(tmp_path / "checkpoints")[-1]
    s2 = _state(checkpoint)["generator"]
    wavlm_keys = [k for k in s1 if k.startswith("codec.encoder.wavlm.")]
    for key in wavlm_keys:  # the teacher is the frozen stage-1 WavLM
        torch.testing.assert_close(s2["teacher." + key[len("codec.encoder.wavlm."):]], s1[key], rtol=0, atol=0)
    assert any(not torch.equal(s2[k], s1[k]) for k in wavlm_keys)  # the codec's own WavLM trains
    codec = WavCube.from_pretrained(checkpoint / "codec")
    for key, value in codec.state_dict().items():
        torch.testing.assert_close(value, s2["codec." + key], rtol=0, atol=0)
    latent, mask = codec.encode(torch.randn(8000) * 0.1, 16000)
    assert latent.shape == (1, 24, 128)


def test_stage2_needs_a_stage1_checkpoint(clips_manifest, tmp_path):
    with pytest.raises(ValueError, match="--stage1"):
        train(STAGE2, clips_manifest, tmp_path, cpu=True)


def test_command_line(clips_manifest, tmp_path):
    main(["--config", "tiny-stage1", "--manifest", str(clips_manifest), "--run-dir", str(tmp_path / "s1"),
          "--until-step", "1", "--cpu"])
    main(["--config", "tiny-stage2", "--manifest", str(clips_manifest), "--run-dir", str(tmp_path / "s2"),
          "--stage1", str(tmp_path / "s1"), "--until-step", "1", "--cpu"])
    assert WavCube.from_pretrained(tmp_path / "s2" / "checkpoints" / "step-00000001" / "codec").latent_dim == 128
