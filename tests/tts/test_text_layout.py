import pytest
import torch

from tts.text_layout import spread, spread_index, text_lengths


def reference_index(tokens: int, frames: int) -> list[int]:
    """The rule as the docstring states it, by counting: q frames per token, one more for the last r tokens."""
    L = min(tokens, frames)
    q, r = divmod(frames, L)
    return [j for j in range(L) for _ in range(q + (j >= L - r))]


@pytest.mark.parametrize("tokens,frames", [(1, 1), (1, 9), (3, 9), (4, 10), (7, 50), (13, 14), (20, 20), (30, 12)])
def test_index_matches_the_stated_rule(tokens, frames):
    index = spread_index(torch.tensor([tokens]), torch.tensor([frames]), frames)[0]
    assert index.tolist() == reference_index(tokens, frames)
    counts = torch.bincount(index, minlength=min(tokens, frames))
    # every kept token is shown, on a run of frames, each run N // L or N // L + 1 long
    assert counts.min() >= frames // min(tokens, frames) and counts.max() - counts.min() <= 1
    assert counts.sum() == frames and bool((index.diff() >= 0).all())


def test_padding_frames_and_empty_text_are_marked():
    index = spread_index(torch.tensor([3, 0, 5]), torch.tensor([7, 6, 4]), 8)
    assert index[0].tolist() == [0, 0, 1, 1, 2, 2, 2, -1]
    assert index[1].tolist() == [-1] * 8  # no tokens (text dropped): nothing to show
    assert index[2].tolist() == [0, 1, 2, 3, -1, -1, -1, -1]  # more tokens than frames: cut to the frames
    with pytest.raises(ValueError, match="exceed n_frames"):
        spread_index(torch.tensor([3]), torch.tensor([9]), 8)


def test_spread_features_batch_equals_single():
    gen = torch.Generator().manual_seed(0)
    h = torch.randn(2, 6, 5, generator=gen)
    tokens, frames = torch.tensor([6, 4]), torch.tensor([20, 11])
    batch = spread(h, tokens, frames, 20)
    assert batch.shape == (2, 20, 5)
    alone = spread(h[1:, :4], tokens[1:], frames[1:], 11)
    torch.testing.assert_close(batch[1, :11], alone[0])
    assert batch[1, 11:].abs().max() == 0  # padding frames are zero
    # the features are the tokens' own, in order: frame 0 shows token 0, the last valid frame the last token
    torch.testing.assert_close(batch[0, 0], h[0, 0])
    torch.testing.assert_close(batch[1, 10], h[1, 3])
    # what lies in the token padding does not matter
    h2 = h.clone()
    h2[1, 4:] = 1e3
    torch.testing.assert_close(spread(h2, tokens, frames, 20), batch)


def test_text_lengths_counts_non_filler():
    assert text_lengths(torch.tensor([[5, 3, 0, 0], [1, 2, 3, 4]])).tolist() == [2, 4]
