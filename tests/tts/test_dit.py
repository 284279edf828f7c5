import pytest
import torch

from tts.dit import DiT, DiTConfig
from tts.model import TTSConfig, TTSModel


def inputs(B=2, N=30, D=128, L=12, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x, cond = torch.randn(B, N, D, generator=gen), torch.randn(B, N, D, generator=gen)
    text = torch.randint(1, 76, (B, L), generator=gen)
    return x, cond, text, torch.rand(B, generator=gen)


def test_output_shape_and_initial_zero(tiny_model):
    dit = DiT(DiTConfig.tiny())
    x, cond, text, t = inputs()
    mask, keep = torch.ones(2, 30, dtype=torch.bool), torch.zeros(2, dtype=torch.bool)
    out = dit(x, cond, text, t, mask, keep, keep)
    assert out.shape == (2, 30, 128)
    assert out.abs().max() == 0  # adaLN-Zero: a fresh DiT predicts zero velocity
    assert tiny_model.dit(x, cond, text, t, mask, keep, keep).abs().max() > 0


def test_padded_batch_equals_items_alone(tiny_model):
    dit = tiny_model.dit
    x, cond, text, t = inputs(B=2, N=30)
    mask = torch.ones(2, 30, dtype=torch.bool)
    mask[1, 18:] = False
    keep = torch.zeros(2, dtype=torch.bool)
    batch = dit(x, cond, text, t, mask, keep, keep)
    alone = dit(x[1:, :18], cond[1:, :18], text[1:], t[1:], mask[1:, :18], keep[1:], keep[1:])
    torch.testing.assert_close(batch[1, :18], alone[0], atol=1e-5, rtol=1e-4)
    # and what lies in the padding does not matter
    x2 = x.clone()
    x2[1, 18:] = 1e3
    torch.testing.assert_close(dit(x2, cond, text, t, mask, keep, keep)[1, :18], batch[1, :18])


def test_dropping_conditions(tiny_model):
    dit = tiny_model.dit
    x, cond, text, t = inputs()
    mask = torch.ones(2, 30, dtype=torch.bool)
    no, yes = torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    base = dit(x, cond, text, t, mask, no, no)
    other_text = torch.randint(1, 76, text.shape)
    assert not torch.allclose(base, dit(x, cond, other_text, t, mask, no, no))
    # dropped text: the tokens no longer matter; dropped audio: the prompt no longer matters
    torch.testing.assert_close(dit(x, cond, text, t, mask, no, yes), dit(x, cond, other_text, t, mask, no, yes))
    torch.testing.assert_close(dit(x, cond, text, t, mask, yes, no), dit(x, cond * 5, text, t, mask, yes, no))
    assert not torch.allclose(base, dit(x, cond, text, t, mask, yes, no))


def test_preset_sizes():
    def millions(config: TTSConfig) -> float:
        with torch.device("meta"):
            return sum(p.numel() for p in TTSModel(config).parameters()) / 1e6

    base = TTSConfig.base()
    assert (base.dit.dim, base.dit.depth, base.dit.heads, base.dit.ff_mult) == (1024, 22, 16, 2)
    assert 320 < millions(base) < 345
    assert 100 < millions(TTSConfig.small()) < 200
    assert millions(TTSConfig.tiny()) < 1
    assert TTSConfig.base("char").dit.text_vocab_size == 33


def test_config_checks():
    with pytest.raises(ValueError, match="text_vocab_size"):
        TTSConfig(dit=DiTConfig.tiny(text_vocab_size=10))
    with pytest.raises(ValueError, match="heads"):
        DiT(DiTConfig.tiny(heads=3))
