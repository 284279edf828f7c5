"""Fixed-length training crops of audio for codec training, as the reference's data module makes them.

Each clip is read as mono at 16 kHz, peak-normalised to a random level in [-6, -1] dBFS (the
reference's sox `norm`), and cut to `crop_samples` at a random start; a shorter clip is repeated
to fill the crop, so batches hold no padding.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from codec.audio import load_audio


class CropDataset(Dataset):
    """`dataset[(epoch, i)] → wav: (crop_samples,)`; the crop and gain depend only on (seed, epoch, i)."""

    def __init__(self, paths: list[str], crop_samples: int, sample_rate: int, seed: int,
                 gain_db: tuple[float, float] = (-6.0, -1.0)):
        self.paths = paths
        self.crop_samples = crop_samples
        self.sample_rate = sample_rate
        self.seed = seed
        self.gain_db = gain_db

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        epoch, i = key
        rng = np.random.default_rng([self.seed, epoch, i])
        wav, _ = load_audio(self.paths[i], self.sample_rate)
        peak = wav.abs().max()
        if peak > 0:
            wav = wav * (10.0 ** (rng.uniform(*self.gain_db) / 20.0) / peak)
        n = self.crop_samples
        if wav.shape[0] < n:
            wav = wav.repeat(n // wav.shape[0] + 1)
        start = int(rng.integers(0, wav.shape[0] - n + 1))
        return wav[start:start + n].contiguous()
