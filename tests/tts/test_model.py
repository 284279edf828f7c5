import json

import pytest
import torch

from codec import CheckpointError
from tts.flow import random_span_mask
from tts.latent_norm import LatentNorm
from tts.model import TTSConfig, TTSModel

from .conftest import randomized


def batch(B=2, N=40, L=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    latent = torch.randn(B, N, 128, generator=gen) * 3 + 1
    mask = torch.ones(B, N, dtype=torch.bool)
    mask[1, 30:] = False
    text = torch.randint(1, 76, (B, L), generator=gen)
    return latent, mask, text


def fixed_draws(B=2, N=40, seed=1):
    gen = torch.Generator().manual_seed(seed)
    span = random_span_mask(torch.tensor([N, 30]), N, (0.7, 1.0), generator=gen)
    return {"span_mask": span, "time": torch.rand(B, generator=gen), "noise": torch.randn(B, N, 128, generator=gen)}


def no_dropout_model() -> TTSModel:
    torch.manual_seed(0)
    return TTSModel(TTSConfig.tiny(audio_drop_prob=0.0, cond_drop_prob=0.0))


def test_loss_decreases_when_overfitting():
    model = no_dropout_model()
    latent, mask, text = batch()
    model.latent_norm.fit([(latent, mask)])
    draws = fixed_draws()
    with torch.no_grad():
        before = model(latent, mask, text, **draws)[0].item()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(300):
        loss, parts = model(latent, mask, text)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        after = model(latent, mask, text, **draws)[0].item()
    assert after < 0.6 * before, (before, after)


def test_loss_ignores_the_prompt_and_padding():
    model = randomized(no_dropout_model())
    latent, mask, text = batch()
    draws = fixed_draws()
    loss, parts = model(latent, mask, text, **draws)
    span = draws["span_mask"] & mask
    assert parts["span_frames"] == span.sum()
    true_forward = model.dit.forward

    def corrupt(where):
        def forward(*args):
            return true_forward(*args) + 100.0 * where[..., None]
        return forward

    model.dit.forward = corrupt(~span)  # wrong velocity on prompt and padding frames
    torch.testing.assert_close(model(latent, mask, text, **draws)[0], loss)
    model.dit.forward = corrupt(span)
    assert model(latent, mask, text, **draws)[0] > loss + 1000


def test_condition_dropout_for_guidance():
    latent, mask, text = batch()
    other = torch.randint(1, 76, text.shape)
    draws = fixed_draws()
    always = randomized(TTSModel(TTSConfig.tiny(cond_drop_prob=1.0)))
    torch.testing.assert_close(always(latent, mask, text, **draws)[0], always(latent, mask, other, **draws)[0])
    never = randomized(no_dropout_model())
    assert never(latent, mask, text, **draws)[0] != never(latent, mask, other, **draws)[0]


def sample(model, noise_seed=0, **kw):
    latent, mask, text = batch()
    noise = torch.randn(2, 40, 128, generator=torch.Generator().manual_seed(noise_seed))
    args = {"nfe": 8, "cfg": 2.0, "sway": -1.0, "solver": "euler", "schedule": "uniform", **kw}
    return model.sample(latent[:, :12], torch.tensor([12, 8]), text, torch.tensor([40, 30]), noise, **args)


def test_sampling_is_deterministic_and_options_matter(tiny_model):
    out = sample(tiny_model)
    assert out.shape == (2, 40, 128) and torch.isfinite(out).all()
    torch.testing.assert_close(out, sample(tiny_model), rtol=0, atol=0)
    assert not torch.allclose(out, sample(tiny_model, noise_seed=1))
    for change in ({"cfg": 0.0}, {"cfg": 4.0}, {"sway": 0.0}, {"solver": "midpoint"}, {"nfe": 16}):
        assert (out - sample(tiny_model, **change))[:, 12:30].abs().max() > 1e-4, change


def test_guidance_extrapolates_away_from_the_unconditional(tiny_model):
    # With one Euler step from t = 0, the result is noise + v, so it is linear in cfg exactly.
    one = {"nfe": 1, "sway": 0.0}
    a, b, c = (sample(tiny_model, cfg=g, **one) for g in (0.0, 1.0, 2.0))
    torch.testing.assert_close(c - b, b - a, atol=1e-4, rtol=1e-4)


def test_sample_keeps_prompt_and_zeroes_padding(tiny_model):
    latent, _, _ = batch()
    out = sample(tiny_model)
    torch.testing.assert_close(out[0, :12], latent[0, :12], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out[1, :8], latent[1, :8], atol=1e-5, rtol=1e-5)
    assert out[1, 30:].abs().max() == 0


def test_latent_norm_fit_and_use():
    latent, mask, _ = batch()
    norm = LatentNorm(128).fit([(latent[:1], mask[:1]), (latent[1:], mask[1:])])
    valid = latent[mask]
    torch.testing.assert_close(norm.mean, valid.mean(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(norm.std, valid.std(0), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(norm.denormalize(norm.normalize(latent)), latent, atol=1e-5, rtol=1e-5)
    # The model sees the same standardised data whatever the latents' scale.
    model = randomized(no_dropout_model())
    _, _, text = batch()
    draws = fixed_draws()
    model.latent_norm.mean.fill_(1.0)
    model.latent_norm.std.fill_(3.0)
    scaled = model(latent, mask, text, **draws)[0]
    model.latent_norm.mean.fill_(0.0)
    model.latent_norm.std.fill_(1.0)
    torch.testing.assert_close(scaled, model(((latent - 1) / 3), mask, text, **draws)[0])


def test_save_load_round_trip(tiny_model, tmp_path):
    tiny_model.latent_norm.mean.fill_(0.5)
    tiny_model.save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["format_version"] == 1 and meta["config"]["tokenizer"] == "phone"
    loaded = TTSModel.from_pretrained(tmp_path)
    assert loaded.config == tiny_model.config
    torch.testing.assert_close(sample(loaded), sample(tiny_model), rtol=0, atol=0)
    assert not list(tmp_path.glob(".*"))  # no temporary files left


def test_load_refuses_other_versions_and_missing_files(tiny_model, tmp_path):
    tiny_model.save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**meta, "format_version": 99}))
    with pytest.raises(CheckpointError, match="format_version"):
        TTSModel.from_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="not found"):
        TTSModel.from_pretrained(tmp_path / "nowhere")
    (tmp_path / "config.json").write_text(json.dumps(meta))
    TTSModel(TTSConfig.tiny(tokenizer="char")).save_pretrained(tmp_path / "char")
    (tmp_path / "char" / "config.json").write_text(json.dumps(meta))  # phone config, char weights
    with pytest.raises(CheckpointError, match="shape mismatch"):
        TTSModel.from_pretrained(tmp_path / "char")


def test_sampling_embeds_the_text_once(tiny_model):
    calls = []
    embed = tiny_model.dit.embed_text

    def counting(*args):
        calls.append(args)
        return embed(*args)

    tiny_model.dit.embed_text = counting
    for cfg in (0.0, 2.0):
        calls.clear()
        sample(tiny_model, cfg=cfg, nfe=8, solver="midpoint")
        assert len(calls) == 1, cfg


def test_schedule_changes_the_sample(tiny_model):
    epss, uniform = (sample(tiny_model, nfe=7, schedule=s) for s in ("epss", "uniform"))
    assert (epss - uniform)[:, 12:30].abs().max() > 1e-4
    # at a step count without a pruned grid, EPSS is the uniform grid
    torch.testing.assert_close(sample(tiny_model, schedule="epss"), sample(tiny_model), rtol=0, atol=0)


def test_given_drops_decide_the_guidance_branches():
    latent, mask, text = batch()
    other = torch.randint(1, 76, text.shape)
    draws = fixed_draws()
    model = randomized(TTSModel(TTSConfig.tiny(cond_drop_prob=0.0, audio_drop_prob=0.0)))
    no, yes = torch.zeros(2, dtype=torch.bool), torch.tensor([True, False])
    loss = lambda t, **d: model(latent, mask, t, **draws, **d)[0]  # noqa: E731
    # the text dropped for item 0 only: changing item 0's text changes nothing, item 1's does
    other0, other1 = torch.cat([other[:1], text[1:]]), torch.cat([text[:1], other[1:]])
    torch.testing.assert_close(loss(text, drop_audio=no, drop_text=yes), loss(other0, drop_audio=no, drop_text=yes))
    assert loss(text, drop_audio=no, drop_text=yes) != loss(other1, drop_audio=no, drop_text=yes)
    # given drops override the probabilities
    assert loss(text, drop_audio=no, drop_text=no) != loss(text, drop_audio=yes, drop_text=no)


def test_models_saved_before_the_rules_were_recorded_keep_the_rules_they_were_made_with(tiny_model, tmp_path,
                                                                                          caplog):
    tiny_model.save_pretrained(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["config"]["rules"] == "cubetts" and meta["config"]["duration_rule"] == "fitted"
    for field in ("rules", "duration_rule", "license"):
        del meta["config"][field]
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with caplog.at_level("INFO"):
        old = TTSModel.from_pretrained(tmp_path)
    assert (old.config.rules, old.config.duration_rule) == ("cubetts", "phones")
    assert "no duration rule" in caplog.text
    with pytest.raises(ValueError, match="unknown synthesis rules"):
        TTSConfig.tiny(rules="f6")
    with pytest.raises(ValueError, match="fitted"):
        TTSConfig.tiny(duration_rule="bytez")
