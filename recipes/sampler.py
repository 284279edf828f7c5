"""Batch plans: which items form each batch of an epoch, on each process.

A plan is a pure function of (seed, epoch, process): nothing is drawn from a global random state,
so a resumed run rebuilds the same epoch and skips the batches it had consumed, and every process
of a distributed run gets disjoint batches, the same number of them.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _for_process(batches: list[list], rank: int, world: int) -> list[list]:
    usable = len(batches) - len(batches) % world  # every process takes the same number of steps
    if usable == 0:
        raise ValueError(f"the data makes {len(batches)} batches per epoch, fewer than the {world} processes")
    return batches[rank:usable:world]


def frame_batches(lengths: Sequence[int], max_frames: int, max_items: int, seed: int, epoch: int, rank: int = 0,
                  world: int = 1) -> list[list[int]]:
    """Batches of item indices whose padded size (items × longest item) stays within `max_frames`, of at
    most `max_items` items each (F5-TTS's `max_samples`: it bounds the batch of many short items).

    Items are sorted by length (ties broken at random per epoch) and packed greedily, so a batch
    holds items of similar length and little padding; the batch order is shuffled per epoch.
    Items longer than `max_frames` are left out.
    """
    if max_frames < 1 or max_items < 1:
        raise ValueError(f"max_frames and max_items must be ≥ 1, got {max_frames} and {max_items}")
    rng = np.random.default_rng([seed, epoch])
    sizes = np.asarray(lengths)
    order = np.lexsort((rng.random(len(sizes)), sizes))  # by length, then the random key
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        n = int(sizes[i])
        if n > max_frames:
            continue
        if current and ((len(current) + 1) * n > max_frames  # n is the longest so far: items are sorted
                        or len(current) == max_items):
            batches.append(current)
            current = []
        current.append(int(i))
    if current:
        batches.append(current)
    perm = rng.permutation(len(batches))
    return _for_process([batches[j] for j in perm], rank, world)


def fixed_batches(n_items: int, batch_size: int, seed: int, epoch: int, rank: int = 0,
                  world: int = 1) -> list[list[tuple[int, int]]]:
    """Shuffled batches of `batch_size` items (the last partial batch dropped), as `(epoch, index)` pairs:
    the dataset derives its per-item randomness (crop, gain) from them."""
    perm = np.random.default_rng([seed, epoch]).permutation(n_items)
    batches = [[(epoch, int(i)) for i in perm[s:s + batch_size]]
               for s in range(0, n_items - batch_size + 1, batch_size)]
    return _for_process(batches, rank, world)
