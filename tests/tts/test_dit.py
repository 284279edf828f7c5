import dataclasses
import math

import pytest
import torch

from codec.rotary import apply_rotary, rotary_tables
from tts.dit import ROTARY_LAYOUT, DiT, DiTBlock, DiTConfig, TextEmbedding, text_position_table
from tts.model import TTSConfig, TTSModel
from tts.text_layout import spread_index

from .conftest import randomized


def model_with(layout: str) -> TTSModel:
    config = TTSConfig.tiny()
    return randomized(TTSModel(dataclasses.replace(config, dit=dataclasses.replace(config.dit, text_layout=layout))))


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


@pytest.mark.parametrize("layout", ["filler", "spread"])
def test_padded_batch_equals_items_alone(layout):
    dit = model_with(layout).dit
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


@pytest.mark.parametrize("layout", ["filler", "spread"])
def test_dropping_conditions(layout):
    dit = model_with(layout).dit
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


def test_spread_layout_puts_each_token_on_its_share_of_the_frames():
    config = DiTConfig.tiny(conv_layers=0, text_layout="spread")  # no blocks: the features are the embeddings
    embed = TextEmbedding(config)
    text = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 10, 11, 12]])
    mask = torch.arange(10)[None] < torch.tensor([[10], [7]])
    h = embed(text, mask, torch.zeros(2, dtype=torch.bool))  # (2, 10, text_dim)
    index = spread_index(torch.tensor([3, 5]), torch.tensor([10, 7]), 10)
    for b in range(2):
        expected = embed.embed.weight[text[b, index[b].clamp(min=0)]].masked_fill(~mask[b, :, None], 0.0)
        torch.testing.assert_close(h[b], expected)
    # the filler layout puts the same tokens on the first frames and filler on the rest
    filler = TextEmbedding(dataclasses.replace(config, text_layout="filler"))
    filler.load_state_dict(embed.state_dict())
    torch.testing.assert_close(filler(text, mask, torch.zeros(2, dtype=torch.bool))[0, 3],
                               embed.embed.weight[0])
    with pytest.raises(ValueError, match="text_layout"):
        DiTConfig.tiny(text_layout="diagonal")


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


# One test per way our DiT once differed from F5-TTS v1; each fails if that difference comes back.

def test_text_positions_are_cos_then_sin_of_the_rotary_angles():
    n, dim = 40, 16
    table = text_position_table(n, dim)
    p = torch.arange(n, dtype=torch.float32)[:, None]
    freqs = 10000.0 ** (-torch.arange(0, dim, 2) / dim)
    torch.testing.assert_close(table, torch.cat([torch.cos(p * freqs), torch.sin(p * freqs)], dim=-1))
    # ... and the text embedding adds exactly that: with zero token embeddings and blocks that pass
    # their input through, the output is the table at the token positions.
    embed = TextEmbedding(DiTConfig.tiny(text_dim=dim, conv_layers=2))
    with torch.no_grad():
        embed.embed.weight.zero_()
        for block in embed.blocks:
            block.pw2.weight.zero_()
            block.pw2.bias.zero_()
    text = torch.tensor([[5, 7, 9]])
    out = embed(text, torch.ones(1, n, dtype=torch.bool), torch.zeros(1, dtype=torch.bool))
    torch.testing.assert_close(out[0, :3], table[:3])


def test_filler_text_positions_carry_no_text_features(tiny_model):
    embed = tiny_model.dit.text_embed
    text = torch.tensor([[5, 7, 9, 0, 0], [4, 0, 0, 0, 0]])  # 0 = filler
    mask = torch.ones(2, 12, dtype=torch.bool)
    no, yes = torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    out = embed(text, mask, no)
    tokens = torch.nn.functional.pad(text, (0, 7)) != 0
    assert out[~tokens].abs().max() == 0 and (out[tokens].abs().sum(-1) > 0).all()
    # A dropped text keeps its length (as F5-TTS): its token positions hold the filler's features.
    dropped = embed(text, mask, yes)
    assert dropped[~tokens].abs().max() == 0 and (dropped[tokens].abs().sum(-1) > 0).all()


def test_rotary_turns_adjacent_pairs():
    head_dim, angle_pos = 8, 3
    cos, sin = rotary_tables(angle_pos + 1, head_dim, ROTARY_LAYOUT)
    for i in range(head_dim // 2):
        x = torch.zeros(1, 1, angle_pos + 1, head_dim)
        x[..., 2 * i] = 1.0
        out = apply_rotary(x, cos, sin, ROTARY_LAYOUT)[0, 0, angle_pos]
        theta = angle_pos * 10000.0 ** (-2 * i / head_dim)
        expected = torch.zeros(head_dim)
        expected[2 * i], expected[2 * i + 1] = math.cos(theta), math.sin(theta)
        torch.testing.assert_close(out, expected)


def test_final_modulation_is_scale_then_shift(tiny_model):
    """F5-TTS splits the final adaLN output into (scale, shift): a scale of -1 removes the features."""
    dit = tiny_model.dit
    dim = dit.config.dim
    with torch.no_grad():
        dit.out_modulation.weight.zero_()
        dit.out_modulation.bias.copy_(torch.cat([torch.full((dim,), -1.0), torch.randn(dim)]))
    x, cond, text, t = inputs(B=1)
    mask, keep = torch.ones(1, 30, dtype=torch.bool), torch.zeros(1, dtype=torch.bool)
    a = dit(x, cond, text, t, mask, keep, keep)
    b = dit(torch.randn_like(x), cond, text, t, mask, keep, keep)
    torch.testing.assert_close(a, b)  # the output no longer depends on the input
    assert a.std(1).max() < 1e-5  # the same at every frame: out_proj(shift)


def test_feed_forward_output_is_not_dropped():
    """F5-TTS drops out inside the feed-forward (after its activation) and on the attention output only."""
    config = DiTConfig.tiny(dropout=0.5)
    block, dim = DiTBlock(config).train(), config.dim
    with torch.no_grad():
        block.modulation.weight.zero_()
        block.modulation.bias.zero_()
        block.modulation.bias[5 * dim:] = 1.0  # gate_f = 1; gate_a = 0: the attention adds nothing
        block.ff[-1].weight.zero_()
        block.ff[-1].bias.fill_(0.25)  # the feed-forward outputs 0.25 whatever dropout does inside it
    x = torch.randn(2, 9, dim)
    rope = rotary_tables(9, dim // block.heads, ROTARY_LAYOUT)
    out = block(x, torch.randn(2, dim), rope, torch.ones(2, 1, 1, 9, dtype=torch.bool))
    torch.testing.assert_close(out, x + 0.25)


def test_rotary_runs_in_float32_for_bf16_activations():
    """bf16 angles of far-apart positions collide; the rotation must use the float32 tables."""
    cos, sin = rotary_tables(2048, 16, ROTARY_LAYOUT)
    x = torch.randn(1, 2, 2048, 16).to(torch.bfloat16)
    expected = apply_rotary(x.float(), cos, sin, ROTARY_LAYOUT).to(torch.bfloat16)
    out = apply_rotary(x, cos, sin, ROTARY_LAYOUT)
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, expected)
    # Casting the tables first (the old way) gives another, worse result at late positions.
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
    naive = x * cos.to(x.dtype) + rotated * sin.to(x.dtype)
    exact = apply_rotary(x.double(), cos.double(), sin.double(), ROTARY_LAYOUT)
    assert (out.double() - exact).abs()[..., 1024:, :].mean() < (naive.double() - exact).abs()[..., 1024:, :].mean()
