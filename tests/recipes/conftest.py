"""Shared fixtures: short real clips, a manifest of them, a tiny saved codec and its latents."""
import csv
from pathlib import Path

import pytest
import soundfile as sf
import torch

from codec import WavCube, WavCubeConfig
from recipes.manifest import Utterance, write_manifest

CLIP_SECONDS = 2.5  # short clips keep every CPU training step cheap


def real_rows(testdata: Path, n: int) -> list[dict]:
    """The first `n` LibriSpeech utterances of the shared real-speech set (16 kHz, transcribed)."""
    with open(testdata / "realspeech" / "manifest.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [r for r in rows if r["subset"].startswith("librispeech")][:n]


def write_clip(src: Path, dst: Path, seconds: float = CLIP_SECONDS) -> float:
    """Copy the first `seconds` of `src` to `dst` (same format); returns the duration written."""
    data, sr = sf.read(str(src), dtype="float32")
    data = data[: int(seconds * sr)]
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(dst), data, sr)
    return len(data) / sr


@pytest.fixture(scope="session")
def clips_manifest(tmp_path_factory, testdata: Path) -> Path:
    """8 real clips of 2.5 s from 8 utterances, with their transcripts, as a manifest."""
    root = tmp_path_factory.mktemp("clips")
    utts = []
    for r in real_rows(testdata, 8):
        path = root / f"{r['id']}.wav"
        duration = write_clip(testdata / "realspeech" / r["file"], path)
        # The first 2.5 s hold only the first words; the full text still trains the pipeline.
        utts.append(Utterance(r["id"], str(path), duration, r["speaker"], r["transcript"]))
    write_manifest(root / "train.tsv", utts)
    return root / "train.tsv"


@pytest.fixture(scope="session")
def tiny_codec(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("codec")
    torch.manual_seed(0)
    WavCube(WavCubeConfig.tiny()).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def latents(tmp_path_factory, clips_manifest, tiny_codec) -> Path:
    from recipes.extract_latents import extract

    out = tmp_path_factory.mktemp("latents")
    extract(clips_manifest, str(tiny_codec), out, shard_size=3, workers=0, cpu=True)
    return out
