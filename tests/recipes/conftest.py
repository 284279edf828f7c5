"""Shared fixtures: short speech clips, a manifest of them, a tiny saved codec and its latents.

The clips are real (../shared/testdata) when it is there, else made here: nothing these tests check
depends on the speech being human, so a bare clone still trains and extracts on them.
"""
import csv
import shutil
import subprocess
from pathlib import Path

import pytest
import soundfile as sf

from recipes.manifest import Utterance, write_manifest
from tests.conftest import TESTDATA, speechlike

CLIP_SECONDS = 2.5  # short clips keep every CPU training step cheap
# Spoken by espeak-ng when the real clips are absent: (speaker, espeak-ng voice, text), each over 3 s.
MADE_UP = [
    ("us", "en-us", "The quick brown fox jumps over the lazy dog while seven birds sing."),
    ("gb", "en-gb", "Please call Stella and ask her to bring these things with her from the store."),
    ("us-f", "en-us+f3", "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack."),
    ("gb-m", "en-gb+m3", "We also need a small plastic snake and a big toy frog for the kids."),
    ("us", "en-us", "She can scoop these things into three red bags, and we will go meet her on Wednesday."),
    ("gb", "en-gb", "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow."),
    ("us-f", "en-us+f3", "The rainbow is a division of white light into many beautiful colors across the sky."),
    ("gb-m", "en-gb+m3", "These take the shape of a long round arch, with its path high above the far horizon."),
]


def speech_rows(root: Path, n: int) -> list[dict]:
    """`n` transcribed utterances (keys id, path, speaker, transcript), each over 3 s: the first LibriSpeech
    ones of the shared real-speech set (16 kHz) if it is there; else spoken by espeak-ng into `root` (22.05 kHz);
    else, without espeak-ng, harmonic syllables (16 kHz) under the same made-up transcripts."""
    manifest = TESTDATA / "realspeech" / "manifest.tsv"
    if manifest.is_file():
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        return [{**r, "path": manifest.parent / r["file"]} for r in rows if r["subset"].startswith("librispeech")][:n]
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (speaker, voice, text) in enumerate(MADE_UP[:n]):
        path = root / f"made-{i}.wav"
        if shutil.which("espeak-ng"):
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
        else:
            sf.write(path, speechlike(4.0, seed=i).numpy(), 16000)
        rows.append({"id": f"made-{i}", "path": path, "speaker": speaker, "transcript": text})
    return rows


@pytest.fixture(scope="session")
def speech(tmp_path_factory) -> list[dict]:
    """8 source utterances for the recipes (see `speech_rows`)."""
    return speech_rows(tmp_path_factory.mktemp("speech"), 8)


def write_clip(src: Path, dst: Path, seconds: float = CLIP_SECONDS) -> float:
    """Copy the first `seconds` of `src` to `dst` (same format); returns the duration written."""
    data, sr = sf.read(str(src), dtype="float32")
    data = data[: int(seconds * sr)]
    dst.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(dst), data, sr)
    return len(data) / sr


@pytest.fixture(scope="session")
def clips_manifest(tmp_path_factory, speech: list[dict]) -> Path:
    """8 clips of 2.5 s from 8 utterances, with their transcripts, as a manifest."""
    root = tmp_path_factory.mktemp("clips")
    utts = []
    for r in speech:
        path = root / f"{r['id']}.wav"
        duration = write_clip(r["path"], path)
        # The first 2.5 s hold only the first words; the full text still trains the pipeline.
        utts.append(Utterance(r["id"], str(path), duration, r["speaker"], r["transcript"]))
    write_manifest(root / "train.tsv", utts)
    return root / "train.tsv"


@pytest.fixture(scope="session")
def latents(tmp_path_factory, clips_manifest, tiny_codec_dir) -> Path:
    from recipes.extract_latents import extract

    out = tmp_path_factory.mktemp("latents")
    extract(clips_manifest, str(tiny_codec_dir), out, shard_size=3, workers=0, cpu=True)
    return out
