"""Latent shards: the codec's latents of a manifest, the TTS model's training data.

A folder holds `shard-00000.safetensors`, … and `stats.safetensors`. A shard stores the latents of
its utterances concatenated, `latents: (sum N_i, D) float32`, and `lengths: (K,)`; its metadata
holds the ids, texts and speakers (JSON). Shards are read through memory maps, one slice per
utterance, so a corpus larger than memory trains without loading it. `stats.safetensors` holds the
per-dimension `mean` and `std` (D,) over all frames, which the TTS model standardises with, and in
its metadata the `CodecSpec` of the codec that made the latents (the trained model records it).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

from codec.checkpoint import atomic_write
from codec.spec import CodecSpec
from tts.latent_norm import LatentNorm

SHARD_FORMAT = "shard-{:05d}.safetensors"
STATS_NAME = "stats.safetensors"
FORMAT_VERSION = "1"


def shard_path(directory: str | os.PathLike, index: int) -> Path:
    return Path(directory) / SHARD_FORMAT.format(index)


def list_shards(directory: str | os.PathLike) -> list[Path]:
    shards = sorted(Path(directory).glob("shard-*.safetensors"))
    if not shards:
        raise FileNotFoundError(f"no latent shards (shard-*.safetensors) in {directory}")
    return shards


class ShardError(ValueError):
    """A shard that is truncated, corrupted or incomplete; the message names the file."""


def _checksum(latents: torch.Tensor) -> str:
    return hashlib.sha256(latents.contiguous().numpy().tobytes()).hexdigest()


def write_shard(path: str | os.PathLike, ids: list[str], latents: list[torch.Tensor], texts: list[str],
                speakers: list[str]) -> None:
    """Write one shard atomically: `latents[i]: (N_i, D)` for utterance `ids[i]`, with the latents' SHA-256
    in its metadata (see `verify_shard`)."""
    if not (len(ids) == len(latents) == len(texts) == len(speakers)):
        raise ValueError("ids, latents, texts and speakers differ in length")
    tensors = {"latents": torch.cat([x.float().cpu() for x in latents]).contiguous(),
               "lengths": torch.tensor([x.shape[0] for x in latents], dtype=torch.long)}
    meta = {"format_version": FORMAT_VERSION, "ids": json.dumps(ids), "texts": json.dumps(texts),
            "speakers": json.dumps(speakers), "sha256": _checksum(tensors["latents"])}
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_index(path: str | os.PathLike) -> dict:
    """A shard's `ids`, `texts`, `speakers` (lists) and `lengths` (list of frame counts), without its latents.

    Checks what can be checked without reading the latents (header, metadata, counts); ShardError names a
    shard that fails."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format_version") != FORMAT_VERSION:
                raise ShardError(f"latent shard {path} is not of format {FORMAT_VERSION}")
            lengths = f.get_tensor("lengths").tolist()
            frames = f.get_slice("latents").get_shape()[0]
        index = {"ids": json.loads(meta["ids"]), "texts": json.loads(meta["texts"]),
                 "speakers": json.loads(meta["speakers"]), "lengths": lengths}
    except ShardError:
        raise
    except Exception as err:  # safetensors' own error for a truncated file, bad JSON, a missing key
        raise ShardError(f"latent shard {path} is broken (truncated or corrupted?): {type(err).__name__}: {err}. "
                         f"Delete it and rerun `python -m recipes.extract_latents` to redo it.") from None
    if sum(lengths) != frames or not len(index["ids"]) == len(lengths) == len(index["texts"]):
        raise ShardError(f"latent shard {path} is inconsistent: {len(index['ids'])} ids, {len(lengths)} lengths "
                         f"summing to {sum(lengths)} frames, {frames} frames stored")
    return index


def verify_shard(path: str | os.PathLike) -> None:
    """Raise ShardError unless the shard is complete: readable, consistent, and its latents match the SHA-256
    recorded when it was written (reads the whole file)."""
    read_index(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            recorded = (f.metadata() or {}).get("sha256")
            latents = f.get_tensor("latents")
    except Exception as err:
        raise ShardError(f"latent shard {path} is broken: {type(err).__name__}: {err}") from None
    if recorded is None:
        raise ShardError(f"latent shard {path} has no checksum (written by an older version)")
    if _checksum(latents) != recorded:
        raise ShardError(f"latent shard {path} is corrupted: its latents do not match their recorded checksum")


def compute_stats(shards: list[Path]) -> LatentNorm:
    """Per-dimension mean and std over every frame of every shard (the TTS model's own estimator)."""
    def batches():
        for path in shards:
            latents = load_file(str(path))["latents"]  # (M, D)
            yield latents[None], torch.ones(1, latents.shape[0], dtype=torch.bool)

    with safe_open(str(shards[0]), framework="pt") as f:
        dim = f.get_slice("latents").get_shape()[1]
    return LatentNorm(dim).fit(batches())


def save_stats(directory: str | os.PathLike, norm: LatentNorm, codec: CodecSpec | None = None) -> None:
    tensors = {"mean": norm.mean.detach().cpu().contiguous(), "std": norm.std.detach().cpu().contiguous()}
    meta = {"codec": json.dumps(codec.to_dict())} if codec is not None else None
    atomic_write(Path(directory) / STATS_NAME, lambda tmp: save_file(tensors, tmp, metadata=meta))


def load_codec_spec(directory: str | os.PathLike) -> CodecSpec | None:
    """The codec the shards' latents came from, as the extraction recorded it (None in older shards)."""
    path = Path(directory) / STATS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python -m recipes.extract_latents` to the end on {directory}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return CodecSpec.from_dict(json.loads(meta["codec"])) if "codec" in meta else None


def load_stats(directory: str | os.PathLike) -> dict[str, torch.Tensor]:
    """`{"mean": (D,), "std": (D,)}` as written by the latent extraction."""
    path = Path(directory) / STATS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python -m recipes.extract_latents` to the end on {directory}")
    return load_file(str(path))


class LatentDataset(Dataset):
    """Every utterance of a shard folder: `dataset[i] → {"id", "text", "latent": (N_i, D)}`.

    `lengths[i]` is N_i, known without reading latents (for batching by frame count). Each worker
    process opens the shards itself, lazily, as memory maps.
    """

    def __init__(self, directory: str | os.PathLike):
        self.shards = list_shards(directory)
        self.items: list[tuple[int, int, int]] = []  # (shard, first frame, frames)
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.lengths: list[int] = []
        for s, path in enumerate(self.shards):
            index = read_index(path)
            start = 0
            for n in index["lengths"]:
                self.items.append((s, start, n))
                start += n
            self.ids += index["ids"]
            self.texts += index["texts"]
            self.lengths += index["lengths"]
        self._open: dict[int, Any] = {}  # shard index → open safetensors file

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        s, start, n = self.items[i]
        if s not in self._open:
            self._open[s] = safe_open(str(self.shards[s]), framework="pt")
        try:
            latent = self._open[s].get_slice("latents")[start:start + n]  # (N_i, D)
        except Exception as err:  # a shard damaged after the dataset was indexed
            raise ShardError(f"latent shard {self.shards[s]}: cannot read utterance {self.ids[i]}: "
                             f"{type(err).__name__}: {err}") from None
        return {"id": self.ids[i], "text": self.texts[i], "latent": latent}

    def __getstate__(self) -> dict:  # open files do not cross into worker processes
        return {**self.__dict__, "_open": {}}
