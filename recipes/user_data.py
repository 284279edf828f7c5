"""Data as people have it, checked clip by clip: the input of `recipes.finetune`.

Three layouts:
- a folder with `metadata.csv` (LJSpeech: `id|text` or `id|text|normalized` per line, no header; F5-TTS's
  `audio_file|text` header line is skipped). An id names `wavs/<id>.wav` or `<id>.wav` (or another readable
  suffix) under the folder, or is itself a path relative to it (`wavs/0001.wav`). With three fields the
  normalized one is used. Bad lines are reported together, each with its line number and reason.
- a manifest (`recipes.manifest`: `id path duration speaker text`, checked line by line).
- a folder of audio alone: each file's transcript is a `.txt` / `.lab` beside it when there is one, else the
  speech recognizer's, written to `metadata.csv` in the run's data folder for review (never into the source
  folder) and reused by the next run.

Every clip is then checked (`check_clip`): readable, 1 to 30 s, sample rate, not silent, not clipped. Clips that
fail are skipped and listed with the reason; resampling to the codec's rate happens at latent extraction.
Nothing here writes into the source folder.
"""
from __future__ import annotations

import math
import os
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from codec.audio import AUDIO_SUFFIXES, AudioError, audio_duration, load_audio, read_channels
from codec.checkpoint import atomic_write
from recipes.manifest import ManifestError, Utterance, find_transcript, read_manifest, speaker_of

METADATA_NAME = "metadata.csv"
F5_HEADER = "audio_file|text"  # F5-TTS's own metadata.csv starts with this line
MAX_REPORTED = 50  # bad lines or skipped clips listed in a message; the rest are counted


class DataError(ValueError):
    """User data that cannot be used as it is; the message names the file (and line) and the reason."""


@dataclass(frozen=True)
class ClipRules:
    """What a training clip must be. F5-TTS's own data preparation keeps 0.3 to 30 s; one second is the least
    the codecs and the synthesis reference take, and 30 s fits a fine-tuning batch (34 s)."""

    min_seconds: float = 1.0
    max_seconds: float = 30.0
    min_sample_rate: int = 16_000  # below it the clip lacks the band a 16 kHz or 24 kHz codec reproduces
    silence_dbfs: float = -50.0  # RMS below this is a silent (or nearly empty) clip
    full_scale: float = 0.999  # a sample at or above this magnitude counts as clipped
    max_clipped: float = 0.001  # fraction of clipped samples allowed: a few peaks pass, a distorted clip does not


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def check_clip(path: str | os.PathLike, rules: ClipRules) -> tuple[float, str | None]:
    """`(seconds, None)` for a usable clip, `(seconds or 0, reason)` for one to skip. Decodes the file once."""
    try:
        info = sf.info(str(path))
        # Not info.frames: a FLAC from a streaming encoder says 0 (or "unknown") there; the stream is counted.
        seconds = audio_duration(path, at_most=rules.max_seconds)
    except Exception as err:  # soundfile raises several types for corrupt or unknown formats
        return 0.0, f"unreadable: {err}"
    if seconds < rules.min_seconds:
        return seconds, f"too short: {seconds:.2f} s (at least {rules.min_seconds:g} s)"
    if seconds > rules.max_seconds:
        return seconds, f"too long: {seconds:.2f} s (at most {rules.max_seconds:g} s)"
    if info.samplerate < rules.min_sample_rate:
        return seconds, f"sample rate {info.samplerate} Hz is below {rules.min_sample_rate} Hz"
    try:
        data, _ = read_channels(path)  # (T, C)
    except AudioError as err:
        return seconds, f"unreadable: {err}"
    if not np.isfinite(data).all():
        return seconds, "holds NaN or infinite samples"
    rms = float(np.sqrt(np.mean(np.square(data.mean(axis=1), dtype=np.float64))))
    dbfs = 20 * math.log10(rms) if rms > 0 else -math.inf
    if dbfs < rules.silence_dbfs:
        return seconds, f"silent: RMS {dbfs:.0f} dBFS (below {rules.silence_dbfs:g})"
    clipped = float(np.mean(np.abs(data) >= rules.full_scale))
    if clipped > rules.max_clipped:
        return seconds, (f"clipped: {100 * clipped:.2f} % of samples at full scale (more than "
                         f"{100 * rules.max_clipped:g} %)")
    return seconds, None


def audio_files(folder: Path) -> list[Path]:
    """Every readable audio file under `folder` (`codec.audio.AUDIO_SUFFIXES`), sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())


def _audio_for(uid: str, root: Path) -> tuple[Path | None, list[Path]]:
    """The audio file an LJSpeech id names, and the candidates looked at."""
    candidates = []
    if Path(uid).suffix.lower() in AUDIO_SUFFIXES:
        candidates += [root / uid, root / "wavs" / uid]
    candidates += [folder / (uid + suffix) for folder in (root / "wavs", root) for suffix in AUDIO_SUFFIXES]
    return next((c for c in candidates if c.is_file()), None), candidates


def read_metadata(path: Path, root: Path) -> tuple[list[tuple[str, Path, str]], list[str]]:
    """`(rows (id, audio, text), bad lines)` of an LJSpeech `metadata.csv` whose audio lives under `root`."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from None
    rows: list[tuple[str, Path, str]] = []
    bad: list[str] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or (number == 1 and line.strip().lower() == F5_HEADER):
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3):
            bad.append(f"line {number}: expected id|text or id|text|normalized, found {len(fields)} field"
                       f"{'s' if len(fields) > 1 else ''} separated by |")
            continue
        uid, text = fields[0].strip(), (fields[-1].strip() or fields[1].strip())
        if not uid:
            bad.append(f"line {number}: empty id")
            continue
        if not text:
            bad.append(f"line {number}: empty text for {uid!r}")
            continue
        if uid in first_line:
            bad.append(f"line {number}: id {uid!r} is listed again (first on line {first_line[uid]})")
            continue
        first_line[uid] = number
        audio, looked = _audio_for(uid, root)
        if audio is None:
            shown = ", ".join(str(p.relative_to(root)) for p in looked[:3])
            bad.append(f"line {number}: no audio file for {uid!r} (looked for {shown}, … under {root})")
            continue
        rows.append((uid, audio, " ".join(text.split())))
    return rows, bad


def _bad_lines(path: Path, bad: list[str], total: int) -> str:
    shown = "\n  ".join(bad[:MAX_REPORTED]) + (f"\n  ... and {len(bad) - MAX_REPORTED} more"
                                               if len(bad) > MAX_REPORTED else "")
    return f"{path}: {len(bad)} bad line{'s' if len(bad) > 1 else ''} of {total}:\n  {shown}"


Transcribe = Callable[[list[Path]], list[str]]  # audio files → their transcripts


@dataclass(frozen=True)
class UserData:
    """The usable utterances of a data source, what was skipped and why, and where the transcripts came from."""

    utterances: list[Utterance]
    skipped: list[Skipped]
    layout: str  # "metadata.csv", "manifest" or "audio"
    transcribed: Path | None = None  # the recognizer's metadata.csv (audio alone), for review

    def report(self) -> str:
        hours = sum(u.duration for u in self.utterances) / 3600
        lines = [f"{len(self.utterances)} usable clips ({hours:.2f} h, {len({u.speaker for u in self.utterances})} "
                 f"speakers) from a {self.layout} source; {len(self.skipped)} skipped"]
        lines += [f"  skipped {s.path}: {s.reason}" for s in self.skipped[:MAX_REPORTED]]
        if len(self.skipped) > MAX_REPORTED:
            lines.append(f"  ... and {len(self.skipped) - MAX_REPORTED} more (all in skipped.tsv)")
        if self.transcribed is not None:
            lines.append(f"transcripts by the speech recognizer: {self.transcribed} (review them)")
        return "\n".join(lines)


def read_user_data(source: str | os.PathLike, data_dir: Path, rules: ClipRules = ClipRules(),
                   transcribe: Transcribe | None = None, skip_bad_lines: bool = False,
                   workers: int = 4) -> UserData:
    """The utterances of `source` (a folder or a manifest, see the module docstring), each clip checked.

    `data_dir` is the run's data folder: the recognizer's transcripts are written there (`metadata.csv`) and
    read back by later runs. `transcribe` is called only for audio without a transcript. Raises DataError
    (with every bad line, or the reason) before any clip is used; a source with no usable clip is an error.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise DataError(f"data not found: {source}")
    transcribed = None
    if source.is_file():
        layout = "manifest"
        try:
            utts = read_manifest(source, skip_bad_lines)
        except ManifestError as err:
            raise DataError(str(err)) from None
        rows = [(u.id, Path(u.path), u.text) for u in utts]
    elif (source / METADATA_NAME).is_file():
        layout = METADATA_NAME
        rows, bad = read_metadata(source / METADATA_NAME, source)
        if bad:
            report = _bad_lines(source / METADATA_NAME, bad, len(rows) + len(bad))
            if not skip_bad_lines:
                raise DataError(f"{report}\nFix them, or pass --skip-bad-lines to leave them out.")
            print(f"skipping {report}", flush=True)
    else:
        layout = "audio"
        rows, transcribed = _audio_alone(source, data_dir, transcribe)
    if not rows:
        raise DataError(f"{source}: no clips listed" if layout != "audio" else
                        f"{source} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        checks = list(pool.map(lambda row: check_clip(row[1], rules), rows))
    utterances, skipped = [], []
    for (uid, audio, text), (seconds, reason) in zip(rows, checks):
        if reason is None:
            utterances.append(Utterance(uid, str(audio.absolute()), seconds, speaker_of(audio), text))
        else:
            skipped.append(Skipped(str(audio), reason))
    if not utterances:
        reasons = "\n  ".join(f"{s.path}: {s.reason}" for s in skipped[:MAX_REPORTED])
        raise DataError(f"{source}: none of its {len(rows)} clips can be used:\n  {reasons}")
    return UserData(utterances, skipped, layout, transcribed)


def _audio_alone(source: Path, data_dir: Path,
                 transcribe: Transcribe | None) -> tuple[list[tuple[str, Path, str]], Path | None]:
    """Rows of a folder of audio: transcripts beside the files, else the recognizer's (cached in data_dir)."""
    files = audio_files(source)
    if not files:
        return [], None
    cache = data_dir / METADATA_NAME
    known: dict[str, str] = {}
    if cache.is_file():
        cached, _ = read_metadata(cache, source)
        known = {str(audio.relative_to(source)): text for _, audio, text in cached}
    rows: list[tuple[str, Path, str | None]] = []
    todo: list[Path] = []
    for audio in files:
        rel = str(audio.relative_to(source))
        text = find_transcript(audio) if audio.suffix.lower() in (".wav", ".flac") else None
        text = " ".join(text.split()) if text else known.get(rel)
        if text is None:
            todo.append(audio)
        rows.append((rel, audio, text))
    if todo:
        if transcribe is None:
            raise DataError(f"{len(todo)} audio files in {source} have no transcript (e.g. {todo[0]}) and no speech "
                            f"recognizer was given")
        print(f"transcribing {len(todo)} clips with the speech recognizer", flush=True)
        texts = dict(zip(todo, transcribe(todo)))
        rows = [(rel, audio, text if text is not None else texts[audio]) for rel, audio, text in rows]
        known.update({str(a.relative_to(source)): t for a, t in texts.items()})
        lines = [f"{rel}|{' '.join(text.split())}" for rel, text in sorted(known.items())]
        data_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(cache, lambda tmp: Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8"))
    # An empty transcript (the recognizer heard nothing) leaves its clip out.
    return [(rel, audio, text) for rel, audio, text in rows if text and text.strip()], \
        cache if cache.is_file() else None


def recognizer_transcribe(asr, sample_rate: int = 16000) -> Transcribe:
    """A `Transcribe` from an `eval.asr` recogniser (`transcribe(wavs, sample_rate) -> texts`), file by file."""
    def run(paths: list[Path]) -> list[str]:
        return [asr.transcribe([load_audio(p, sample_rate)[0]], sample_rate)[0] for p in paths]
    return run


def split_heldout(utts: Sequence[Utterance], items: int, seed: int = 0) -> tuple[list[Utterance], list[Utterance]]:
    """`(train, heldout)`: `items` utterances drawn at random (seeded) for the alignment guard, at most a fifth
    of the data but at least two (it compares one clip's transcript with another's); the rest train."""
    if len(utts) < 3:
        raise DataError(f"only {len(utts)} usable clip{'s' if len(utts) != 1 else ''}: fine-tuning needs at least 3 "
                        f"(two are held out to measure whether the model reads the text)")
    n = min(items, max(2, len(utts) // 5))
    held = set(random.Random(seed).sample(range(len(utts)), n))
    return [u for i, u in enumerate(utts) if i not in held], [u for i, u in enumerate(utts) if i in held]


def write_skipped(path: Path, skipped: Sequence[Skipped]) -> None:
    rows = ["path\treason"] + [f"{s.path}\t{s.reason}" for s in skipped]
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(rows) + "\n", encoding="utf-8"))

