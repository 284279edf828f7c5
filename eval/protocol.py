"""The zero-shot TTS test set: LibriSpeech test-clean cross-sentence prompt/target pairs.

Cross-sentence protocol (VALL-E, Voicebox, F5-TTS): the model hears a *prompt* — another utterance of the
target's speaker, with its transcript — and speaks the *target* text; the target recording is the reference.
The standard list is F5-TTS's LibriSpeech-PC test-clean subset: 1127 targets of 4–10 s (2.0 h) from 39
speakers, prompts of 2.4–4.5 s, texts with punctuation and case from LibriSpeech-PC. `read_pair_list` reads
that file; `build_cross_sentence_pairs` derives pairs the same way from any LibriSpeech-style tree.
"""
from __future__ import annotations

import hashlib
import math
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from codec.audio import audio_duration
from codec.checkpoint import atomic_write

F5_LIST_NAME = "librispeech_pc_test_clean_cross_sentence.lst"
# Where the list comes from. The bytes (CRLF line ends included) hash to `sha256`; the report records whether
# the list used is this one, so a number is only put next to the published ones when it is.
F5_LIST_SOURCE = {
    "repo": "SWivid/F5-TTS",
    "path": "data/librispeech_pc_test_clean_cross_sentence.lst",
    "commit": "ff690b7ffb82b92e42b6a2bb4e5b16c5b9046d14",
    "url": "https://raw.githubusercontent.com/SWivid/F5-TTS/ff690b7ffb82b92e42b6a2bb4e5b16c5b9046d14/"
           "data/librispeech_pc_test_clean_cross_sentence.lst",
    "sha256": "09811d521effa4eeb1da655f7379de97343b2f5ea86d829ec7ccb8656758a10f",
    "rows": 1127,
    "licence": "file in an MIT-licensed repository; texts from LibriSpeech-PC, audio from LibriSpeech (CC BY 4.0)",
}
# A copy in eval/data, else the project's shared copy beside the repository (../shared/eval); hash-checked on use.
_LIST_PLACES = (Path(__file__).parent / "data" / F5_LIST_NAME,
                Path(__file__).resolve().parents[2] / "shared" / "eval" / F5_LIST_NAME)
DEFAULT_PAIR_LIST = next((p for p in _LIST_PLACES if p.is_file()), _LIST_PLACES[0])
TARGET_RANGE_S = (4.0, 10.0)  # the protocol's target durations
PROMPT_RANGE_S = (2.0, 5.0)  # around the ~3 s prompts of VALL-E/F5-TTS (F5's list spans 2.4–4.5 s)


@dataclass(frozen=True)
class Utterance:
    id: str
    text: str
    wav: Path
    duration: float

    @property
    def speaker(self) -> str:
        return self.id.split("-")[0]


@dataclass(frozen=True)
class EvalPair:
    """One test item: speak `target.text` in the voice of `prompt` (whose transcript is `prompt.text`)."""

    prompt: Utterance
    target: Utterance

    @property
    def id(self) -> str:
        return self.target.id


def librispeech_audio_path(root: str | os.PathLike, utt_id: str) -> Path:
    """`<root>/<speaker>/<chapter>/<utt_id>.flac` (or `.wav`), the LibriSpeech layout."""
    parts = utt_id.split("-")
    if len(parts) != 3:
        raise ValueError(f"{utt_id!r} is not a LibriSpeech utterance id (speaker-chapter-index)")
    stem = Path(root) / parts[0] / parts[1] / utt_id
    for suffix in (".flac", ".wav"):
        if stem.with_suffix(suffix).is_file():
            return stem.with_suffix(suffix)
    raise FileNotFoundError(f"no audio for {utt_id} under {root} (looked for {stem}.flac and .wav); "
                            "pass the LibriSpeech test-clean directory itself, e.g. .../LibriSpeech/test-clean")


def sha256_of(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass(frozen=True)
class PairRow:
    """One line of an F5-TTS-format pair list, checked: ids, texts and positive durations in seconds."""

    line: int
    ref_id: str
    ref_seconds: float
    ref_text: str
    gen_id: str
    gen_seconds: float
    gen_text: str


def read_pair_rows(path: str | os.PathLike) -> list[PairRow]:
    """The lines of an F5-TTS-format list (`ref_id \\t ref_dur \\t ref_text \\t gen_id \\t gen_dur \\t gen_text`),
    blank ones skipped; a line that is not six fields with positive durations is a ValueError naming the file
    and line, a file that is not UTF-8 one naming the file. A leading byte-order mark is not part of an id."""
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"pair list {path} is not UTF-8 text: {err.reason} at byte {err.start}") from None
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 6:
            raise ValueError(f"{path}:{n}: expected 6 tab-separated fields, got {len(fields)}")
        ref_id, ref_dur, ref_text, gen_id, gen_dur, gen_text = fields
        try:
            rows.append(PairRow(n, ref_id, _seconds(ref_dur, "ref_dur"), ref_text, gen_id,
                                _seconds(gen_dur, "gen_dur"), gen_text))
        except ValueError as err:
            raise ValueError(f"{path}:{n}: {err}") from None
    return rows


def read_pair_list(path: str | os.PathLike, librispeech_dir: str | os.PathLike) -> list[EvalPair]:
    """Read an F5-TTS-format list (`read_pair_rows`): `ref` is the prompt and `gen` the target.

    Audio is looked up in `librispeech_dir` (test-clean), so a missing file fails here, before any generation.
    Texts are used as written (LibriSpeech-PC: cased, punctuated); durations are the list's.
    """
    pairs = []
    first_line: dict[str, int] = {}
    for row in read_pair_rows(path):
        try:
            prompt = Utterance(row.ref_id, row.ref_text, librispeech_audio_path(librispeech_dir, row.ref_id),
                               row.ref_seconds)
            target = Utterance(row.gen_id, row.gen_text, librispeech_audio_path(librispeech_dir, row.gen_id),
                               row.gen_seconds)
        except (ValueError, FileNotFoundError) as err:
            raise type(err)(f"{path}:{row.line}: {err}") from None
        if row.gen_id in first_line:
            raise ValueError(f"{path}:{row.line}: target id {row.gen_id} is on line {first_line[row.gen_id]} too; "
                             f"outputs are named by target id")
        first_line[row.gen_id] = row.line
        pairs.append(EvalPair(prompt, target))
    return pairs


def _seconds(field: str, name: str) -> float:
    """A duration field of the pair list as a positive number of seconds, else ValueError naming it."""
    try:
        seconds = float(field)
    except ValueError:
        raise ValueError(f"{name} {field!r} is not a number") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"{name} {field!r} must be a positive number of seconds")
    return seconds


def write_pair_list(pairs: Iterable[EvalPair], path: str | os.PathLike) -> None:
    """Write pairs in the F5-TTS list format (readable back with `read_pair_list`)."""
    lines = ["\t".join([p.prompt.id, f"{p.prompt.duration:g}", p.prompt.text,
                        p.target.id, f"{p.target.duration:g}", p.target.text]) for p in pairs]
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8"))


def sentence_case(text: str) -> str:
    """`HE HOPED THERE` → `He hoped there.`: F5-TTS's stated recipe for plain (upper-case) LibriSpeech texts."""
    return text[0] + text[1:].lower() + "." if text.isupper() else text


def read_librispeech(root: str | os.PathLike) -> list[Utterance]:
    """Every utterance of a LibriSpeech-style tree: `*.trans.txt` lines `ID TEXT`, audio beside them.

    Texts are the corpus transcripts put in sentence case (`sentence_case`); durations are read from the
    audio headers.
    """
    root = Path(root)
    utterances = []
    for trans in sorted(root.rglob("*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utt_id, _, text = line.strip().partition(" ")
            wav = librispeech_audio_path(root, utt_id)
            utterances.append(Utterance(utt_id, sentence_case(text.strip()), wav, audio_duration(wav)))
    if not utterances:
        raise FileNotFoundError(f"no *.trans.txt transcripts under {root}")
    return utterances


def build_cross_sentence_pairs(
    utterances: Sequence[Utterance],
    target_range: tuple[float, float] = TARGET_RANGE_S,
    prompt_range: tuple[float, float] = PROMPT_RANGE_S,
    seed: int = 0,
) -> list[EvalPair]:
    """Pair every target in `target_range` seconds with another utterance of its speaker in `prompt_range`.

    The prompt is drawn uniformly from the speaker's other utterances in range, with a generator seeded by
    `(seed, target id)`, so a pair does not change when other utterances are added or removed. Targets whose
    speaker has no other utterance in `prompt_range` are left out. This reproduces the protocol, not F5-TTS's
    exact draw: use `read_pair_list` on their list to compare with published numbers.
    """
    by_speaker: dict[str, list[Utterance]] = defaultdict(list)
    for u in sorted(utterances, key=lambda u: u.id):
        by_speaker[u.speaker].append(u)
    pairs = []
    for target in sorted(utterances, key=lambda u: u.id):
        if not target_range[0] <= target.duration <= target_range[1]:
            continue
        candidates = [u for u in by_speaker[target.speaker]
                      if u.id != target.id and prompt_range[0] <= u.duration <= prompt_range[1]]
        if candidates:
            pairs.append(EvalPair(random.Random(f"{seed}:{target.id}").choice(candidates), target))
    return pairs
