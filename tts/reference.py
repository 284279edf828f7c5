"""The reference clip where it enters: read and checked once, then prepared by the model's rules and kept.

A server sees the same reference again and again (the app's usual case): `ReferenceCache` keeps the
last prepared ones, keyed by their samples, rate, transcript (or, without one, the transcriber that
writes it) and the options that shape them, so a repeat costs a hash, not the ASR and the encoder.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import torch

from codec.audio import AudioError, checked_clip, checked_rate, load_audio

from .rules import Reference

AudioInput = torch.Tensor | np.ndarray | str | os.PathLike
# Prepared references kept; each holds at most max_ref_seconds of audio and its latent.
REFERENCE_CACHE_SIZE = 16


def read_reference(ref_wav: AudioInput, ref_sr: int | None) -> tuple[torch.Tensor, int]:
    """Any accepted reference → `(mono float32 (T,) on the CPU, its sample rate)`, checked by the codec's
    own input checks (`codec.audio`). A path is read from disk (its rate from the file)."""
    if isinstance(ref_wav, (str, os.PathLike)):
        wav, ref_sr = load_audio(ref_wav)
    elif ref_sr is None:
        raise AudioError("ref_sr is required when ref_wav is a waveform")
    else:
        wav = torch.as_tensor(ref_wav).cpu()
    return checked_clip(wav, "the reference"), checked_rate(ref_sr, "ref_sr")


class ReferenceCache:
    """The last `size` prepared references; `size` 0 keeps none and looks none up (no hash either)."""

    def __init__(self, size: int = REFERENCE_CACHE_SIZE):
        self.size = size
        self._kept: OrderedDict[tuple, Reference] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, wav: torch.Tensor, sample_rate: int, source: object, shape: tuple,
            prepare: Callable[[], Reference]) -> Reference:
        """The reference of these samples, transcript `source` and shaping options `shape`, from `prepare()`
        when not kept. Errors are not kept."""
        if self.size <= 0:
            return prepare()
        key = (hashlib.sha256(wav.numpy().tobytes()).hexdigest(), wav.shape[0], sample_rate, source, shape)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        ref = prepare()
        with self._lock:
            self._kept[key] = ref
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return ref

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
