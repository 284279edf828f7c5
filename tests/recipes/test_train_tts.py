import dataclasses
import shutil

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from codec.spec import CodecSpec
from recipes.checkpoint import list_checkpoints
from recipes.shards import load_codec_spec, load_stats, save_stats
from recipes.train_tts import Collate, TTSTrainConfig, main, seconds_to_frames, shard_frame_rate, text_gap, train
from tts.duration import package_weights
from tts.latent_norm import LatentNorm
from tts.model import TTSModel
from tts.text import build_tokenizer

# The tiny preset (60 steps: checkpoints at 30 and 60) on batches small enough for a busy CPU.
CONFIG = dataclasses.replace(TTSTrainConfig.tiny(), batch_seconds=8.0)  # 400 latent frames


@pytest.fixture(scope="module")
def straight(latents, tiny_codec_dir, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("straight")
    return run_dir, train(CONFIG, latents, run_dir, codec=str(tiny_codec_dir), cpu=True)


def test_end_to_end_loss_goes_down_and_checkpoints_load(straight, latents):
    run_dir, losses = straight
    assert len(losses) == CONFIG.max_steps
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < 0.85 * first, (first, last)  # about 1.9 → 1.4
    checkpoints = list_checkpoints(run_dir / "checkpoints")
    assert [c.name for c in checkpoints] == ["step-00000030", "step-00000060"]
    ema = TTSModel.from_pretrained(checkpoints[-1] / "ema")
    raw = TTSModel.from_pretrained(checkpoints[-1] / "model")
    assert not torch.equal(ema.dit.out_proj.weight, raw.dit.out_proj.weight)
    torch.testing.assert_close(raw.latent_norm.mean, load_stats(latents)["mean"])


def test_tensorboard_has_loss_curve_and_audio(straight):
    run_dir, _ = straight
    events = EventAccumulator(str(run_dir / "logs"), size_guidance={"audio": 0, "scalars": 0}).Reload()
    steps = [e.step for e in events.Scalars("train/loss")]
    assert steps == list(range(CONFIG.log_every, CONFIG.max_steps + 1, CONFIG.log_every))
    assert {"samples/generated", "samples/ground_truth"} <= set(events.Tags()["audio"])
    gaps = {e.step: e.value for e in events.Scalars("text_gap/text_gap")}
    assert sorted(gaps) == [30, 60]
    with_text = {e.step: e.value for e in events.Scalars("text_gap/loss_text")}
    without = {e.step: e.value for e in events.Scalars("text_gap/loss_no_text")}
    assert all(abs(gaps[s] - (without[s] - with_text[s])) < 1e-6 for s in gaps)


def test_text_gap_is_fixed_and_zero_for_a_model_that_ignores_text(latents):
    from recipes.shards import LatentDataset

    from tests.tts.conftest import randomized

    dataset = LatentDataset(latents)
    batch = Collate(build_tokenizer("char"))([dataset[i] for i in range(3)])
    fresh = TTSModel(CONFIG.model)  # adaLN-Zero: predicts zero velocity whatever the text
    assert text_gap(fresh, batch)["text_gap"] == 0.0
    model = randomized(TTSModel(CONFIG.model)).train()
    state = torch.get_rng_state()
    first = text_gap(model, batch)
    assert torch.equal(state, torch.get_rng_state())  # the training random state is untouched
    assert model.training  # and the mode restored
    assert first == text_gap(model, batch) and first["text_gap"] != 0.0
    assert first["loss_text"] != text_gap(model, batch, seed=1)["loss_text"]


def test_killed_and_resumed_run_repeats_the_straight_run(straight, latents, tiny_codec_dir, tmp_path):
    _, reference = straight
    first = train(CONFIG, latents, tmp_path, codec=str(tiny_codec_dir), until_step=25, cpu=True)  # mid log window
    second = train(CONFIG, latents, tmp_path, codec=str(tiny_codec_dir), until_step=45, cpu=True)
    assert first == reference[:25] and second == reference[25:45]
    # Killed at step 45 before its checkpoint was written: steps 31-45 are lost, but were logged.
    shutil.rmtree(tmp_path / "checkpoints" / "step-00000045")
    third = train(CONFIG, latents, tmp_path, codec=str(tiny_codec_dir), cpu=True)
    assert third == reference[30:]  # exactly: same data order, random states, optimizer and EMA
    # Sorted by step: runs that start within one second get event files whose names sort by a per-process
    # counter, not by time (".9" after ".10"), so file order is not run order. Purged steps still show as repeats.
    curves = [sorted((e.step, e.value) for e in EventAccumulator(str(d / "logs")).Reload().Scalars("train/loss"))
              for d in (straight[0], tmp_path)]
    assert curves[0] == curves[1]
    for name in ("model", "ema"):
        a = TTSModel.from_pretrained(straight[0] / "checkpoints" / "step-00000060" / name).state_dict()
        b = TTSModel.from_pretrained(tmp_path / "checkpoints" / "step-00000060" / name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_command_line(latents, tmp_path, capsys):
    main(["--config", "tiny", "--shards", str(latents), "--run-dir", str(tmp_path), "--until-step", "2", "--cpu"])
    assert [c.name for c in list_checkpoints(tmp_path / "checkpoints")] == ["step-00000002"]
    assert f"starting a new run in {tmp_path}" in capsys.readouterr().out
    main(["--shards", str(latents), "--run-dir", str(tmp_path), "--until-step", "3", "--cpu"])  # resumes
    assert [c.name for c in list_checkpoints(tmp_path / "checkpoints")] == ["step-00000002", "step-00000003"]
    out, err = capsys.readouterr()
    assert f"resuming {tmp_path} from step 2" in out
    assert "train:" in err and "/60" in err  # the progress bar, to max_steps


def test_resuming_with_another_config_is_refused(straight, latents):
    run_dir, _ = straight
    with pytest.raises(ValueError, match="different config"):
        train(dataclasses.replace(CONFIG, lr=1.0), latents, run_dir, cpu=True)


def test_collate_pads_and_masks():
    tok = build_tokenizer("char")
    items = [{"id": "a", "text": "hello there", "latent": torch.ones(5, 128)},
             {"id": "b", "text": "hi", "latent": torch.ones(3, 128)},
             {"id": "c", "text": "...", "latent": torch.ones(4, 128)}]  # nothing speakable: dropped
    batch = Collate(tok)(items)
    assert batch["latent"].shape == (2, 5, 128)
    assert batch["mask"].tolist() == [[True] * 5, [True] * 3 + [False] * 2]
    assert batch["text"].shape == (2, len(tok.encode("hello there")))
    assert batch["text"][1, 2:].eq(0).all()


@pytest.mark.parametrize("seconds, rate, frames", [(409.6, 50.0, 20_480), (409.6, 93.75, 38_400), (8.0, 50.0, 400),
                                                   (0.7, 30.0, 21), (1.0, 2.5, 2)])
def test_batch_seconds_become_frames_at_the_codec_rate(seconds, rate, frames):
    assert seconds_to_frames(seconds, rate) == frames
    with pytest.raises(ValueError, match="holds no frame"):
        seconds_to_frames(0.01, rate)


def test_frame_rate_comes_from_the_shards_codec_record(latents, tmp_path):
    assert shard_frame_rate(latents) == 50.0  # WavCube's rate, as recorded by the extraction
    spec = CodecSpec("mel", "charactr/vocos-mel-24khz", 100, 93.75)
    save_stats(tmp_path, LatentNorm(100), spec)
    assert shard_frame_rate(tmp_path) == 93.75
    assert seconds_to_frames(TTSTrainConfig().batch_seconds, shard_frame_rate(tmp_path)) == 38_400
    save_stats(tmp_path, LatentNorm(100))  # shards extracted before codecs were recorded
    assert shard_frame_rate(tmp_path) == 50.0


def test_presets_keep_f5s_batch_caps():
    assert (TTSTrainConfig.base().batch_seconds, TTSTrainConfig.base().max_samples) == (409.6, 64)
    assert (TTSTrainConfig.small().batch_seconds, TTSTrainConfig.small().max_samples) == (409.6, 32)


def test_trained_model_records_the_shards_codec(straight, latents):
    run_dir, _ = straight
    ema = TTSModel.from_pretrained(list_checkpoints(run_dir / "checkpoints")[-1] / "ema")
    assert ema.config.codec == load_codec_spec(latents) and ema.config.codec.kind == "wavcube"
    # Too few clips to fit durations on (tests/recipes/test_fit_duration.py fits on enough): the package's numbers.
    assert ema.config.duration_rule == "fitted" and ema.config.duration_weights == package_weights()


def test_shards_of_other_latents_are_refused(latents, tmp_path):
    mel = dataclasses.replace(CONFIG.model, dit=dataclasses.replace(CONFIG.model.dit, latent_dim=100))
    with pytest.raises(ValueError, match="128-d latents.*dit.latent_dim is 100"):
        train(dataclasses.replace(CONFIG, model=mel), latents, tmp_path, cpu=True)
