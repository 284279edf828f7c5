"""An English speech corpus built offline: Debian's sentences spoken by espeak-ng voices, plus Debian's human prompts.

    python -m recipes.build_corpus --out data/espeak            # ~10 h, 24 voices (+ 1 human): the generalise tier
    python -m recipes.build_corpus --out /tmp/c --hours 0.05 --voices 2 --heldout-voices 0 --heldout-sentences 0

Text: sentences of the fortune files (`fortunes`), package descriptions (`apt-cache dumpavail`) and the Python
standard library's docstrings; ASCII only, 4 to 20 words, no two alike (compared once normalised), and every word
in the frontend's lexicon, so the phones the model reads are the phones the voice says (espeak-ng is given the
frontend's normalised text, numbers already written as words). Voices: espeak-ng accents × variants, each with its
own pitch and speed, drawn from the seed. The human: the 568 transcribed prompts of `asterisk-core-sounds-en`
(one speaker, 8 kHz GSM), those whose transcript is speakable. Every clip has its silences trimmed to 50 ms and a
little Gaussian dither added: espeak's digital silence would sit at the log-mel floor and make the frame
statistics bimodal.

Written to `--out`: `wavs/<speaker>/<id>.wav`, the manifests `train.tsv`, `heldout_sentences.tsv` (sentences not
in train, spoken by training voices) and `heldout_voices.tsv` (voices not in train, sentences not in train), in
`recipes.manifest` format, and `corpus.json` (the config and counts). The same config and seed give the same
corpus. Needs `espeak-ng` and `sox` (apt), and `fortunes` / `asterisk-core-sounds-en` for those sources.
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import gzip
import io
import json
import logging
import random
import re
import shutil
import subprocess
import sysconfig
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf


from recipes.manifest import Utterance, write_manifest
from tts.g2p import load_g2p
from tts.text import normalize_text

logger = logging.getLogger(__name__)

FORTUNES = Path("/usr/share/games/fortunes")
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
ASTERISK_SPEAKER = "asterisk-allison"
# espeak-ng's own English accents (the mbrola ones need extra packages) and the variants that sound like a
# person (not the robots, whispers or effects).
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
            "klatt3", "klatt4", "adam", "Alex", "Alicia", "Andy", "Annie", "aunty", "belinda", "benjamin", "david",
            "ed", "edward", "john", "linda", "max", "michel", "paul", "rob", "robert", "steph", "norbert", "shelby",
            "travis", "victor", "grandma", "grandpa")
TRIM_MARGIN_S = 0.05
DITHER_STD = 3e-4  # about -70 dBFS: above the log-mel floor, far below speech
_ALLOWED = re.compile(r"^[A-Za-z0-9 ,.?!'\-;:\"$%]+$")
# The hyphens, dollars and percents the normaliser reads (between letters, a spaced dash, money, a percentage);
# any other is dropped by it with a warning, so the voice would say what the text does not.
_READABLE_SYMBOLS = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])|(?<= )-+(?= )|\$(?=\d)|(?<=\d)%")


@dataclass(frozen=True)
class CorpusConfig:
    hours: float = 10.0  # of training speech (espeak voices and the human)
    voices: int = 24  # espeak voices, held-out ones included
    heldout_voices: int = 4
    heldout_voice_utterances: int = 40  # per held-out voice
    heldout_sentences: int = 200  # spoken by training voices (the human among them)
    max_train_utterances: int | None = None  # stop earlier than `hours`
    human: bool = True  # the asterisk prompts
    min_words: int = 4
    max_words: int = 20
    sources: tuple[str, ...] = ("fortunes", "packages", "docstrings")  # see SOURCES
    accents: tuple[str, ...] = ACCENTS
    seed: int = 0

    def __post_init__(self):
        if unknown := set(self.sources) - set(SOURCES):
            raise ValueError(f"unknown sources {sorted(unknown)}; choose from {sorted(SOURCES)}")
        if unknown := set(self.accents) - set(ACCENTS):
            raise ValueError(f"unknown accents {sorted(unknown)}; choose from {ACCENTS}")

    @classmethod
    def overfit(cls) -> "CorpusConfig":
        """The overfit tier: 16 utterances of 2 American voices, everyday sentences, nothing held out."""
        return cls(hours=1.0, voices=2, heldout_voices=0, heldout_sentences=0, max_train_utterances=16,
                   human=False, max_words=12, sources=("fortunes",), accents=("en-us",))


@dataclass(frozen=True)
class Voice:
    name: str  # the speaker id: accent+variant
    pitch: int  # espeak-ng -p, 0..99
    speed: int  # espeak-ng -s, words per minute


def pick_voices(n: int, seed: int, accents: tuple[str, ...] = ACCENTS) -> list[Voice]:
    """`n` distinct accent+variant voices, each with a pitch and speed near espeak's defaults (50, 175)."""
    rng = random.Random(seed)
    pairs = [(a, v) for a in accents for v in VARIANTS]
    if n > len(pairs):
        raise ValueError(f"{n} voices asked for; espeak-ng offers {len(pairs)} here")
    return [Voice(f"{a}+{v}", rng.randint(35, 65), rng.randint(150, 190)) for a, v in rng.sample(pairs, n)]


def _sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.?!])\s+(?=[A-Z])", " ".join(text.split()))


def fortune_texts(folder: Path = FORTUNES) -> Iterator[str]:
    for path in sorted(p for p in folder.glob("*") if p.is_file() and p.suffix not in (".dat", ".u8")):
        for fortune in path.read_text(encoding="latin-1").split("\n%\n"):
            if "--" not in fortune and ":" not in fortune.split("\n")[0]:  # no attributions, no dialogue
                yield from _sentences(fortune)


def package_texts() -> Iterator[str]:
    """The short descriptions of every package apt knows (noun phrases: each becomes a sentence)."""
    if shutil.which("apt-cache") is None:
        return
    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("Description: "):
            text = line.removeprefix("Description: ").strip()
            yield text[0].upper() + text[1:] + "." if text else ""


def docstring_texts() -> Iterator[str]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and (doc := ast.get_docstring(node)):
                yield from _sentences(doc.split("\n\n")[0])


SOURCES = {"fortunes": fortune_texts, "packages": package_texts, "docstrings": docstring_texts}


def clean_sentences(texts: Iterable[str], min_words: int, max_words: int, sentence: bool = True) -> list[str]:
    """Keep the texts a voice can say and the frontend can read, each once (compared normalised).
    `sentence`: also require a capital first letter and a final `.?!`."""
    lexicon = load_g2p().lexicon
    seen: set[str] = set()
    kept = []
    for text in texts:
        if not _ALLOWED.match(text) or "  " in text or (sentence and (not text[0].isupper() or text[-1] not in ".?!")):
            continue
        if re.search(r"[-$%]", _READABLE_SYMBOLS.sub("", text)):
            continue
        norm = normalize_text(text)
        words = re.findall(r"[a-z']+", norm)
        if not min_words <= len(words) <= max_words or norm in seen:
            continue
        if all(w in lexicon for w in words):
            seen.add(norm)
            kept.append(text)
    return kept


def asterisk_prompts(max_words: int) -> list[tuple[str, str]]:
    """(gsm file, transcript) of the human prompts whose transcript is speakable (one-word prompts included)."""
    if not ASTERISK_TRANSCRIPTS.is_file():
        return []
    found: dict[str, str] = {}
    for line in gzip.open(ASTERISK_TRANSCRIPTS, "rt", encoding="utf-8"):
        name, sep, text = line.partition(":")
        path = ASTERISK_SOUNDS / f"{name.strip()}.gsm"
        if sep and path.is_file():
            found.setdefault(" ".join(text.split()), str(path))
    return [(found[t], t) for t in clean_sentences(found, 1, max_words, sentence=False)]


def finish(wav: np.ndarray, sample_rate: int, seed: int) -> np.ndarray:
    """Trim leading and trailing silence to `TRIM_MARGIN_S`, add dither. wav: (T,) float in [-1, 1]."""
    frame = max(1, sample_rate // 100)
    n = len(wav) // frame
    rms = np.sqrt((wav[: n * frame].reshape(n, frame) ** 2).mean(1) + 1e-12)  # (n,) per 10 ms
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-40 / 20))
    margin = int(TRIM_MARGIN_S * sample_rate)
    start, end = max(0, loud[0] * frame - margin), min(len(wav), (loud[-1] + 1) * frame + margin)
    wav = wav[start:end]
    return np.clip(wav + np.random.default_rng(seed).normal(0.0, DITHER_STD, wav.shape), -1.0, 1.0)


def _seed_of(seed: int, key: str) -> int:
    return zlib.crc32(f"{seed}:{key}".encode())


def speak(text: str, voice: Voice, path: Path, seed: int) -> float:
    """Say `text` (normalised first, as the frontend reads it) into `path`; returns its duration in seconds."""
    cmd = ["espeak-ng", "-v", voice.name, "-p", str(voice.pitch), "-s", str(voice.speed), "--stdout",
           normalize_text(text)]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    wav, sr = sf.read(io.BytesIO(raw), dtype="float32")
    return _write(path, finish(wav, sr, _seed_of(seed, path.stem)), sr)


def convert_human(gsm: str, path: Path, seed: int) -> float:
    raw = subprocess.run(["sox", gsm, "-t", "wav", "-e", "signed-integer", "-b", "16", "-"], capture_output=True,
                         check=True).stdout
    wav, sr = sf.read(io.BytesIO(raw), dtype="float32")
    return _write(path, finish(wav, sr, _seed_of(seed, path.stem)), sr)


def _write(path: Path, wav: np.ndarray, sr: int) -> float:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    sf.write(str(tmp), wav, sr, subtype="PCM_16")
    tmp.replace(path)
    return len(wav) / sr


def build(out: str | Path, config: CorpusConfig = CorpusConfig(), workers: int = 2,
          texts: Iterable[str] | None = None) -> dict:
    """Build the corpus in `out` (see the module docstring); returns what `corpus.json` records.

    `texts` replaces the Debian and Python sources (they take a minute to read and clean).
    """
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng sox")
    if config.heldout_voices >= config.voices:
        raise ValueError(f"cannot hold out {config.heldout_voices} of {config.voices} voices")
    out = Path(out)
    rng = random.Random(config.seed)
    if texts is None:
        texts = [t for name in config.sources for t in SOURCES[name]()]
    sentences = clean_sentences(texts, config.min_words, config.max_words)
    rng.shuffle(sentences)
    voices = pick_voices(config.voices, config.seed, config.accents)
    held_voices, train_voices = voices[: config.heldout_voices], voices[config.heldout_voices:]
    humans = asterisk_prompts(config.max_words) if config.human else []
    rng.shuffle(humans)
    pool = iter(sentences)

    # A job: the utterance to make (path and duration filled in once made) and its source, a voice or a recording.
    def job(voice: Voice, i: int, text: str) -> tuple[Utterance, Voice | str]:
        return Utterance(f"{voice.name.replace('+', '_')}_{i:05d}", "", 0.0, voice.name, text), voice

    def human_job(i: int) -> tuple[Utterance, Voice | str]:
        gsm, text = humans[i]
        return Utterance(f"{ASTERISK_SPEAKER}_{i:05d}", "", 0.0, ASTERISK_SPEAKER, text), gsm

    def run(jobs: list[tuple[Utterance, Voice | str]]) -> list[Utterance]:
        def one(item: tuple[Utterance, Voice | str]) -> Utterance:
            utt, source = item
            path = out / "wavs" / utt.speaker / f"{utt.id}.wav"
            dur = speak(utt.text, source, path, config.seed) if isinstance(source, Voice) else \
                convert_human(source, path, config.seed)
            return dataclasses.replace(utt, path=str(path.resolve()), duration=dur)
        with ThreadPoolExecutor(max_workers=workers) as ex:
            return list(ex.map(one, jobs))

    n_human_held = min(len(humans) // 10, config.heldout_sentences // 10)
    held_sent = run([human_job(i) for i in range(n_human_held)] + [
        job(train_voices[i % len(train_voices)], 90000 + i, next(pool))
        for i in range(config.heldout_sentences - n_human_held)])
    held_voice = run([job(v, 80000 + i, next(pool)) for v in held_voices
                      for i in range(config.heldout_voice_utterances)])
    train = run([human_job(i) for i in range(n_human_held, len(humans))])
    seconds, i = sum(u.duration for u in train), 0
    cap = config.max_train_utterances
    while seconds < config.hours * 3600 and (cap is None or len(train) < cap):
        chunk = 64 if cap is None else min(64, cap - len(train))
        try:
            done = run([job(train_voices[(i + k) % len(train_voices)], i + k, next(pool)) for k in range(chunk)])
        except StopIteration:
            logger.warning("ran out of sentences at %.2f h", seconds / 3600)
            break
        train += done
        seconds += sum(u.duration for u in done)
        i += chunk
    for name, utts in (("train", train), ("heldout_sentences", held_sent), ("heldout_voices", held_voice)):
        write_manifest(out / f"{name}.tsv", utts)
    info = {"config": dataclasses.asdict(config), "sentences_available": len(sentences),
            "voices": [dataclasses.asdict(v) for v in voices], "human_prompts": len(humans),
            "train": {"utterances": len(train), "hours": seconds / 3600},
            "heldout_sentences": len(held_sent), "heldout_voices": len(held_voice)}
    (out / "corpus.json").write_text(json.dumps(info, indent=2))
    return info


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    defaults = CorpusConfig()
    for f in dataclasses.fields(CorpusConfig):
        flag, default = "--" + f.name.replace("_", "-"), getattr(defaults, f.name)
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif str(f.type).startswith("tuple"):
            p.add_argument(flag, nargs="+", default=default)
        else:
            p.add_argument(flag, type=float if f.type == "float" else int, default=default)
    p.add_argument("--workers", type=int, default=2, help="espeak-ng processes at once")
    args = vars(p.parse_args(argv))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    out, workers = args.pop("out"), args.pop("workers")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    info = build(out, CorpusConfig(**args), workers)
    print(json.dumps({k: v for k, v in info.items() if k != "voices"}, indent=2))


if __name__ == "__main__":
    main()
