import numpy as np
import pytest

from recipes.sampler import fixed_batches, frame_batches


def test_frame_batches_fit_the_budget_cover_the_data_and_change_per_epoch():
    lengths = np.random.default_rng(0).integers(50, 500, size=300).tolist() + [2000]  # one too long
    batches = frame_batches(lengths, 1500, 64, seed=1, epoch=0)
    assert all(len(b) * max(lengths[i] for i in b) <= 1500 for b in batches)
    assert sorted(i for b in batches for i in b) == list(range(300))
    assert batches == frame_batches(lengths, 1500, 64, seed=1, epoch=0)
    assert batches != frame_batches(lengths, 1500, 64, seed=1, epoch=1)


@pytest.mark.parametrize("max_items", [1, 5, 32])
def test_batches_never_exceed_their_frames_or_their_item_cap(max_items):
    lengths = np.random.default_rng(2).integers(20, 800, size=500).tolist()
    batches = frame_batches(lengths, 4000, max_items, seed=0, epoch=0)
    assert all(len(b) * max(lengths[i] for i in b) <= 4000 for b in batches)
    assert max(len(b) for b in batches) == max_items  # short items fill batches up to the cap
    assert sorted(i for b in batches for i in b) == list(range(500))
    with pytest.raises(ValueError, match="max_items"):
        frame_batches(lengths, 4000, 0, seed=0, epoch=0)


def test_processes_get_disjoint_batches_and_as_many_steps():
    lengths = list(range(10, 410))
    parts = [frame_batches(lengths, 1000, 64, seed=0, epoch=3, rank=r, world=3) for r in range(3)]
    assert len({len(p) for p in parts}) == 1
    items = [i for p in parts for b in p for i in b]
    assert len(items) == len(set(items))
    full = frame_batches(lengths, 1000, 64, seed=0, epoch=3)
    assert sorted(map(tuple, (b for p in parts for b in p))) == sorted(map(tuple, full[: 3 * len(parts[0])]))


def test_fixed_batches_carry_the_epoch():
    batches = fixed_batches(10, 3, seed=0, epoch=2, rank=1, world=2)
    assert len(batches) == 1 and len(batches[0]) == 3
    assert all(epoch == 2 for epoch, _ in batches[0])
    everything = [i for r in range(2) for b in fixed_batches(10, 3, 0, 2, r, 2) for _, i in b]
    assert len(set(everything)) == 6
