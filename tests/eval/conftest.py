"""Fixtures for eval tests: real speech from ../shared/testdata (never copied into the repo) and the offline models."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import TESTDATA  # ../shared/testdata beside the repo, or $CUBETTS_TESTDATA

REALSPEECH = TESTDATA / "realspeech"


@pytest.fixture(scope="session")
def realspeech() -> list[dict]:
    """Rows of shared/testdata/realspeech/manifest.tsv, with `path` added (absolute)."""
    manifest = REALSPEECH / "manifest.tsv"
    if not manifest.is_file():
        pytest.skip(f"real speech test data not found at {REALSPEECH.resolve()} (expected shared/ beside the repo)")
    with manifest.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for r in rows:
        r["path"] = (REALSPEECH / r["file"]).resolve()
    return rows


@pytest.fixture(scope="session")
def real_librispeech_tree(realspeech, tmp_path_factory) -> Path:
    """A LibriSpeech-layout tree (`<spk>/<chapter>/<id>.<ext>` + `*.trans.txt`) of the real LibriSpeech clips.

    Built of symlinks to shared/testdata in a temporary directory. Speakers 1988 (4 clips), 3752 (3) and
    2412 (3) have several utterances, so cross-sentence pairs exist.
    """
    root = tmp_path_factory.mktemp("librispeech") / "test-clean"
    transcripts: dict[Path, list[str]] = {}
    for r in realspeech:
        if not r["subset"].startswith("librispeech"):
            continue
        spk, chapter, _ = r["id"].split("-")
        folder = root / spk / chapter
        folder.mkdir(parents=True, exist_ok=True)
        (folder / (r["id"] + r["path"].suffix)).symlink_to(r["path"])
        transcripts.setdefault(folder / f"{spk}-{chapter}.trans.txt", []).append(f"{r['id']} {r['transcript']}")
    for path, lines in transcripts.items():
        path.write_text("\n".join(sorted(lines)) + "\n")
    return root


@pytest.fixture(scope="session")
def pocketsphinx_asr():
    from eval.asr import PocketSphinxASR

    return PocketSphinxASR()


@pytest.fixture(scope="session")
def resemblyzer_scorer():
    from eval.speaker import ResemblyzerScorer

    return ResemblyzerScorer()
