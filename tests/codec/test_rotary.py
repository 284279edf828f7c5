import pytest
import torch

from codec.rotary import LAYOUTS, apply_rotary, rotary_tables

HEAD_DIM, N = 8, 12


def _half_to_pairs(x: torch.Tensor) -> torch.Tensor:
    """Channel order (k, k + D/2) → adjacent pairs (2k, 2k + 1)."""
    half = x.shape[-1] // 2
    return torch.stack([x[..., :half], x[..., half:]], dim=-1).flatten(-2)


def test_pairs_and_half_layouts_are_a_channel_permutation_of_each_other():
    x = torch.randn(2, 3, N, HEAD_DIM)
    half = apply_rotary(x, *rotary_tables(N, HEAD_DIM, "half"), "half")
    pairs = apply_rotary(_half_to_pairs(x), *rotary_tables(N, HEAD_DIM, "pairs"), "pairs")
    torch.testing.assert_close(_half_to_pairs(half), pairs)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rotation_keeps_norms_and_position_zero_is_the_identity(layout):
    x = torch.randn(2, 3, N, HEAD_DIM)
    out = apply_rotary(x, *rotary_tables(N, HEAD_DIM, layout), layout)
    torch.testing.assert_close(out.norm(dim=-1), x.norm(dim=-1))
    assert torch.equal(out[..., 0, :], x[..., 0, :])
    assert not torch.allclose(out[..., 1:, :], x[..., 1:, :])


@pytest.mark.parametrize("layout", LAYOUTS)
def test_attention_scores_depend_only_on_the_offset(layout):
    """RoPE's point: <rot(q, i), rot(k, j)> is a function of i - j."""
    cos, sin = rotary_tables(N, HEAD_DIM, layout)
    q, k = torch.randn(HEAD_DIM), torch.randn(HEAD_DIM)
    rq = apply_rotary(q.expand(N, HEAD_DIM), cos, sin, layout)
    rk = apply_rotary(k.expand(N, HEAD_DIM), cos, sin, layout)
    torch.testing.assert_close(rq[5] @ rk[2], rq[9] @ rk[6])


def test_bf16_input_is_turned_in_float32_and_cast_back():
    x = torch.randn(1, 1, N, HEAD_DIM).to(torch.bfloat16)
    cos, sin = rotary_tables(N, HEAD_DIM, "half")
    out = apply_rotary(x, cos, sin, "half")
    assert out.dtype == torch.bfloat16
    assert torch.equal(out, apply_rotary(x.float(), cos, sin, "half").to(torch.bfloat16))


def test_unknown_layout_is_refused_by_name():
    with pytest.raises(ValueError, match="'interleaved'.*half.*pairs"):
        rotary_tables(N, HEAD_DIM, "interleaved")
