"""Manifests: one line per utterance (id, path, duration, speaker, text), read from corpus folders.

A manifest is a tab-separated file with the header `id path duration speaker text`; paths are
absolute (relative ones are read relative to the manifest). `scan` understands
- LibriTTS: `<id>.wav` beside `<id>.normalized.txt` (preferred) or `<id>.original.txt`;
- LibriSpeech: `<id>.flac` with the chapter's `<speaker>-<chapter>.trans.txt` (`<id> TEXT` lines);
- LJSpeech-style folders: a `metadata.csv` of `id|text` or `id|raw|normalized` lines, in the audio's
  folder or its parent;
- any folder of `.wav` / `.flac` files with a `<stem>.txt` or `<stem>.lab` transcript beside each.
The speaker is the leading number of a Libri-style id (`19_198_…`, `19-198-…`), else the name of
the folder holding the audio.
"""
from __future__ import annotations

import math
import os
import random
import re
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from codec.audio import AudioError, audio_duration
from codec.checkpoint import atomic_write

COLUMNS = ("id", "path", "duration", "speaker", "text")
# Corpora ship lossless audio; a scan takes only these, so stray lossy copies (previews, conversions) beside
# them never become training data. What the loader can read is `codec.audio.AUDIO_SUFFIXES`.
MANIFEST_AUDIO_SUFFIXES = (".wav", ".flac")
_TEXT_SUFFIXES = (".normalized.txt", ".original.txt", ".txt", ".lab")
_LIBRI_ID = re.compile(r"^(\d+)[_-]\d+[_-]")


@dataclass(frozen=True)
class Utterance:
    id: str
    path: str
    duration: float  # seconds
    speaker: str
    text: str


def _clean(text: str) -> str:
    """One line, no tabs: what a TSV field can hold."""
    return " ".join(text.split())


@lru_cache(maxsize=4096)
def _table(path: Path) -> dict[str, str]:
    """id → text from a LibriSpeech `*.trans.txt` or an LJSpeech `metadata.csv`."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if path.name.endswith(".trans.txt"):
            utt, _, text = line.partition(" ")
        else:
            utt, *fields = line.split("|")
            text = fields[-1] if fields else ""
        if utt and text.strip():
            out[utt.strip()] = text
    return out


def find_transcript(audio: Path) -> str | None:
    """The transcript of one audio file, by the conventions in the module docstring; None if there is none."""
    stem = audio.name[: -len(audio.suffix)]
    for suffix in _TEXT_SUFFIXES:
        candidate = audio.with_name(stem + suffix)
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    tables = sorted(audio.parent.glob("*.trans.txt"))
    tables += [folder / "metadata.csv" for folder in (audio.parent, audio.parent.parent)]
    for table in tables:
        if table.is_file() and stem in _table(table):
            return _table(table)[stem]
    return None


def speaker_of(audio: Path) -> str:
    stem = audio.name[: -len(audio.suffix)]
    m = _LIBRI_ID.match(stem)
    return m.group(1) if m else audio.parent.name


def scan(roots: Sequence[str | os.PathLike], workers: int = 8) -> tuple[list[Utterance], list[Path]]:
    """All utterances under `roots` → `(utterances sorted by id, audio files that have no transcript)`.

    Durations are read from the file headers (decoded only where a header does not know its length),
    `workers` files at a time.
    """
    files = sorted({p.absolute() for root in roots for p in Path(root).rglob("*")
                    if p.suffix.lower() in MANIFEST_AUDIO_SUFFIXES and p.is_file()})

    def one(audio: Path) -> Utterance | Path:
        text = find_transcript(audio)
        if text is None or not _clean(text):
            return audio
        return Utterance(audio.name[: -len(audio.suffix)], str(audio), audio_duration(audio),
                         speaker_of(audio), _clean(text))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, files))
    utts = [r for r in results if isinstance(r, Utterance)]
    ids = [u.id for u in utts]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"utterance ids are not unique across the scanned folders: {', '.join(dupes)}")
    return sorted(utts, key=lambda u: u.id), [r for r in results if isinstance(r, Path)]


def filter_duration(utts: Iterable[Utterance], min_seconds: float, max_seconds: float) -> list[Utterance]:
    return [u for u in utts if min_seconds <= u.duration <= max_seconds]


def split_by_speaker(utts: Sequence[Utterance], heldout_speakers: int,
                     seed: int = 0) -> tuple[list[Utterance], list[Utterance]]:
    """`(train, heldout)`: all utterances of `heldout_speakers` randomly chosen speakers go to `heldout`."""
    speakers = sorted({u.speaker for u in utts})
    if heldout_speakers >= len(speakers) and heldout_speakers > 0:
        raise ValueError(f"cannot hold out {heldout_speakers} of {len(speakers)} speakers and keep any for training")
    held = set(random.Random(seed).sample(speakers, heldout_speakers))
    return [u for u in utts if u.speaker not in held], [u for u in utts if u.speaker in held]


def write_manifest(path: str | os.PathLike, utts: Iterable[Utterance]) -> None:
    rows = ["\t".join(COLUMNS)] + [
        "\t".join([u.id, u.path, f"{u.duration:.4f}", u.speaker, _clean(u.text)]) for u in utts]
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(rows) + "\n", encoding="utf-8"))


SKIP_BAD_LINES_HELP = "leave out bad manifest lines (each is reported) instead of stopping before any work"


class ManifestError(ValueError):
    """A manifest with bad lines; the message lists each one's line number and reason."""


def read_manifest(path: str | os.PathLike, skip_bad_lines: bool = False) -> list[Utterance]:
    """Every utterance of a manifest, each line checked before any work starts.

    A line needs five tab-separated columns, a non-empty id not used by an earlier line, a non-empty text, a
    finite positive duration and an audio file that opens as audio (its header is read). Bad lines raise one
    ManifestError listing all of them (line number and reason; a repeated id names the line that has it
    first), or, with `skip_bad_lines`, are left out and reported on stderr.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(f"cannot read manifest {path}: {err}") from None
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ManifestError(f"{path} is not a manifest: expected the header {' '.join(COLUMNS)} (tab-separated), "
                            f"got {lines[0] if lines else 'an empty file'!r}")
    numbered = [(number, line) for number, line in enumerate(lines[1:], start=2) if line.strip()]
    with ThreadPoolExecutor(max_workers=8) as pool:  # opening audio files: mostly waiting on the disk
        checked = list(pool.map(lambda item: _check_line(item[1], path.parent), numbered))
    utts: list[Utterance] = []
    bad: list[str] = []
    first_line: dict[str, int] = {}
    for (number, _), (utt, problem) in zip(numbered, checked):
        if utt is None:
            bad.append(f"line {number}: {problem}")
        elif utt.id in first_line:
            bad.append(f"line {number}: duplicate id {utt.id!r}: line {first_line[utt.id]} has it too")
        else:
            first_line[utt.id] = number
            utts.append(utt)
    if bad:
        shown = "\n  ".join(bad[:50]) + (f"\n  ... and {len(bad) - 50} more" if len(bad) > 50 else "")
        report = f"{path}: {len(bad)} bad line{'s' if len(bad) > 1 else ''} of {len(lines) - 1}:\n  {shown}"
        if not skip_bad_lines:
            raise ManifestError(f"{report}\nFix them, or pass --skip-bad-lines to leave them out.")
        print(f"skipping {report}", file=sys.stderr, flush=True)
    return utts


def _parse_line(line: str, root: Path) -> tuple[Utterance | None, str | None]:
    """(utterance, None) for a good line, (None, the reason) for a bad one."""
    fields = line.split("\t")
    if len(fields) != len(COLUMNS):
        return None, f"expected {len(COLUMNS)} tab-separated columns ({' '.join(COLUMNS)}), found {len(fields)}"
    uid, audio, duration, speaker, text = fields
    if not uid.strip():
        return None, "empty id"
    try:
        seconds = float(duration)
    except ValueError:
        return None, f"duration {duration!r} is not a number"
    if not math.isfinite(seconds) or seconds <= 0:
        return None, f"duration {duration!r} must be a positive number of seconds"
    if not text.strip():
        return None, "empty text"
    full = root / audio
    if not full.is_file():
        return None, f"audio file not found: {full}"
    return Utterance(uid, str(full), seconds, speaker, text), None


def _check_line(line: str, root: Path) -> tuple[Utterance | None, str | None]:
    """`_parse_line`, then the audio opened (its header read): a file that is not audio is a bad line."""
    utt, problem = _parse_line(line, root)
    if utt is not None:
        try:
            audio_duration(utt.path, at_most=0.0)
        except AudioError as err:
            return None, str(err)
    return utt, problem
