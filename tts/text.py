"""Text frontend: English normalisation (`tts.normalize`), sentence splitting, and the phone, character and
F5-TTS tokenizers.

Normalised text is lower case and holds only letters, apostrophes inside words, spaces and the pause
marks `, . ? !`. Text is normalised once, where it enters (`Tokenizer.normalize`); everything after
that (sentence splitting, `tokenize`, `encode`) takes normalised text. Token id 0 is the filler that
pads text to the frame count inside the model, so no tokenizer ever emits it; the phone and character
vocabularies are fixed here because a checkpoint's embedding rows depend on their order. The F5-TTS
tokenizer reads text as written, with its checkpoint's vocabulary, which the converted model stores
in its config.
"""
from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from .g2p import PHONES, load_g2p
from .normalize import clean_text, normalize_text, warn_removed

FILLER = "<filler>"
WORD_BOUNDARY = " "
PUNCTUATION = (",", ".", "?", "!")


class TextError(ValueError):
    """Text that cannot be synthesised: empty, or with nothing speakable once normalised. `field` names the
    input it came in: "text" (what to speak) or "ref_text" (the reference's transcript)."""

    def __init__(self, message: str, field: str = "text"):
        super().__init__(message)
        self.field = field


_SPEAKABLE_RE = re.compile(r"[a-z]")
_NORMALIZED_RE = re.compile(r"[a-z' ,.?!]+")  # what `normalize_text` leaves


def split_sentences(normalized: str) -> list[str]:
    """Normalised text → sentences, each ending at `.`, `?` or `!` (the last may end without one)."""
    return [s for s in re.split(r"(?<=[.?!])\s+", normalized) if s]


def split_long(sentence: str, max_words: int) -> list[str]:
    """Split a sentence into pieces of at most `max_words` words, at commas where possible."""
    pieces: list[str] = []
    for clause in re.split(r"(?<=,)\s+", sentence):
        words = clause.split()
        if pieces and len(pieces[-1].split()) + len(words) <= max_words:
            pieces[-1] = f"{pieces[-1]} {clause}"
            continue
        pieces.extend(" ".join(words[i:i + max_words]) for i in range(0, len(words), max_words))
    return pieces


class Tokenizer(ABC):
    """Raw text → normalised text (`normalize`, once per input) → tokens → ids in `1..len(vocab)-1`;
    `vocab[0]` is the filler."""

    name: str
    vocab: tuple[str, ...]

    def __init__(self) -> None:
        self._ids = {tok: i for i, tok in enumerate(self.vocab)}

    def normalize(self, text: str) -> str:
        """Raw text → the text `tokenize` and `encode` take (for the phone and character tokenizers, English
        normalised by `normalize_text`). Raises `TextError` for a non-string, empty text, or text with
        nothing speakable."""
        if not isinstance(text, str):
            raise TextError(f"text must be a string, got {type(text).__name__}")
        if not text.strip():
            raise TextError("text is empty")
        return self._normalized(text)

    def _normalized(self, text: str) -> str:
        normalized = normalize_text(text)
        if not _SPEAKABLE_RE.search(normalized):
            raise TextError(f"text has nothing speakable (no words once normalised): {text!r}")
        return normalized

    def tokenize(self, normalized: str) -> list[str]:
        """Normalised text (`normalize`'s output, or a sentence or piece of it) → tokens. Raw text is a
        caller's mistake, refused with ValueError: tokenizing it would drop what normalising reads."""
        if not self._is_normalized(normalized):
            raise ValueError(f"{self.name} tokenizer: expected normalised text (Tokenizer.normalize's output), "
                             f"got {normalized!r}")
        return self._tokens(normalized)

    def encode(self, normalized: str) -> list[int]:
        """Normalised text → token ids (never 0)."""
        return self.ids(self.tokenize(normalized))

    def ids(self, tokens: list[str]) -> list[int]:
        """Tokens → ids; a token outside the vocabulary raises KeyError."""
        return [self._ids[t] for t in tokens]

    def _is_normalized(self, text: str) -> bool:
        return isinstance(text, str) and bool(_NORMALIZED_RE.fullmatch(text)) and bool(_SPEAKABLE_RE.search(text))

    @abstractmethod
    def _tokens(self, normalized: str) -> list[str]:
        """Normalised text → tokens, all in `vocab`."""

    @abstractmethod
    def count_units(self, tokens: list[str]) -> int:
        """The speakable units that set a durations ratio: phones, or letters."""


class PhoneTokenizer(Tokenizer):
    """ARPAbet phones with stress, a word-boundary token and the pause marks as tokens."""

    name = "phone"
    vocab = (FILLER, WORD_BOUNDARY) + PUNCTUATION + PHONES

    def _tokens(self, normalized: str) -> list[str]:
        items = re.findall(r"[a-z']+|[,.?!]", normalized)
        words = [w for w in items if w not in PUNCTUATION]
        prons = iter(load_g2p()(words))
        tokens: list[str] = []
        for item in items:
            if item in PUNCTUATION:
                tokens.append(item)
                continue
            if tokens:
                tokens.append(WORD_BOUNDARY)
            tokens.extend(next(prons))
        return tokens

    def count_units(self, tokens: list[str]) -> int:
        return sum(t in _PHONE_SET for t in tokens)


class CharTokenizer(Tokenizer):
    """The normalised text's characters: letters, apostrophe, space and the pause marks."""

    name = "char"
    vocab = (FILLER, WORD_BOUNDARY) + PUNCTUATION + ("'",) + tuple("abcdefghijklmnopqrstuvwxyz")

    def _tokens(self, normalized: str) -> list[str]:
        return list(normalized)

    def count_units(self, tokens: list[str]) -> int:
        return sum(t.isalpha() for t in tokens)


class F5Tokenizer(Tokenizer):
    """F5-TTS's tokens over a checkpoint's `vocab.txt`: characters, and Chinese as tone-numbered pinyin.

    The text is used as written (F5-TTS's models were trained on raw transcripts). Our id is F5-TTS's
    id + 1, since F5-TTS pads with -1 and shifts by one inside its text embedding; a token not in the
    vocabulary gets F5-TTS's id 0 (its first entry, a space in the released vocabularies).
    """

    name = "f5"
    # F5-TTS's own replacements, for characters its vocabularies lack.
    _TRANSLATE = str.maketrans({";": ",", "“": '"', "”": '"', "‘": "'", "’": "'"})

    def __init__(self, vocab: Sequence[str]):
        if not vocab:
            raise ValueError("the f5 tokenizer needs its vocabulary (the lines of the checkpoint's vocab.txt)")
        self.vocab = (FILLER,) + tuple(vocab)
        # Built as F5-TTS builds its map: a token listed twice keeps its last line.
        self._ids = {tok: i + 1 for i, tok in enumerate(vocab)}

    def _normalized(self, text: str) -> str:
        # F5-TTS's models read text as written: less what is not meant to be heard (escapes, tags, invisibles)
        text, removed = clean_text(text)
        warn_removed(removed)
        if not text.strip():
            raise TextError("text has nothing speakable once markup, control and invisible characters are removed")
        return text

    def _is_normalized(self, text: str) -> bool:
        return isinstance(text, str) and bool(text.strip())

    def ids(self, tokens: list[str]) -> list[int]:
        return [self._ids.get(t, 1) for t in tokens]

    def _tokens(self, text: str) -> list[str]:
        import rjieba
        from pypinyin import Style, lazy_pinyin

        def pinyin(chars: str) -> list[str]:
            return lazy_pinyin(chars, style=Style.TONE3, tone_sandhi=True)

        tokens: list[str] = []
        for seg in rjieba.cut(text.translate(self._TRANSLATE)):
            n_bytes = len(seg.encode("utf-8"))
            if n_bytes == len(seg):  # ASCII: letters and marks; a space separates words jieba split apart
                if tokens and n_bytes > 1 and tokens[-1] not in " :'\"":
                    tokens.append(" ")
                tokens.extend(seg)
            elif n_bytes == 3 * len(seg):  # CJK characters: each as " " + its pinyin
                for c, syllable in zip(seg, pinyin(seg)):
                    if _is_chinese(c):
                        tokens.append(" ")
                    tokens.append(syllable)
            else:
                for c in seg:
                    if ord(c) < 256:
                        tokens.append(c)
                    elif _is_chinese(c):
                        tokens.extend([" ", *pinyin(c)])
                    else:
                        tokens.append(c)
        return tokens

    def count_units(self, tokens: list[str]) -> int:
        """UTF-8 bytes, F5-TTS's measure of text length."""
        return len("".join(tokens).encode("utf-8"))


def _is_chinese(c: str) -> bool:
    return "\u3100" <= c <= "\u9fff"


def read_vocab(path: str | os.PathLike) -> list[str]:
    """F5-TTS's `vocab.txt`: one token per line, its id the line number from 0 (a line may be a space)."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    return lines[:-1] if lines[-1] == "" else lines


_PHONE_SET = frozenset(PHONES)
TOKENIZERS: dict[str, type[Tokenizer]] = {"phone": PhoneTokenizer, "char": CharTokenizer, "f5": F5Tokenizer}


def build_tokenizer(name: str, vocab: Sequence[str] | None = None) -> Tokenizer:
    """`"phone"` (g2p_en phones), `"char"` (letters), or `"f5"` (F5-TTS's, over `vocab`, which only it takes)."""
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {sorted(TOKENIZERS)}")
    if name == "f5":
        return F5Tokenizer(vocab or ())
    if vocab is not None:
        raise ValueError(f"the {name!r} tokenizer has a fixed vocabulary; only 'f5' takes one")
    return TOKENIZERS[name]()
