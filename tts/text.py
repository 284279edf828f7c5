"""English text frontend: normalisation (`tts.normalize`), sentence splitting, and the phone and character
tokenizers.

Normalised text is lower case and holds only letters, apostrophes inside words, spaces and the pause
marks `, . ? !`. Token id 0 is the filler that pads text to the frame count inside the model, so no
tokenizer ever emits it; the vocabularies are fixed here because a checkpoint's embedding rows
depend on their order.
"""
from __future__ import annotations

import re
from abc import ABC, abstractmethod

from .g2p import PHONES, load_g2p
from .normalize import normalize_text

FILLER = "<filler>"
WORD_BOUNDARY = " "
PUNCTUATION = (",", ".", "?", "!")


class TextError(ValueError):
    """Text that cannot be synthesised: empty, or with nothing speakable once normalised."""


_SPEAKABLE_RE = re.compile(r"[a-z]")


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


def require_speakable(text: str) -> str:
    """Raw text → normalised text; raises TextError when it is empty or has nothing speakable."""
    if not isinstance(text, str):
        raise TextError(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise TextError("text is empty")
    normalized = normalize_text(text)
    if not _SPEAKABLE_RE.search(normalized):
        raise TextError(f"text has nothing speakable (no words once normalised): {text!r}")
    return normalized


class Tokenizer(ABC):
    """Text → tokens → ids in `1..len(vocab)-1`; `vocab[0]` is the filler."""

    name: str
    vocab: tuple[str, ...]

    def __init__(self) -> None:
        self._ids = {tok: i for i, tok in enumerate(self.vocab)}

    def tokenize(self, text: str) -> list[str]:
        """Raw text → tokens. Raises `TextError` for empty text or text with nothing speakable."""
        return self._tokens(require_speakable(text))

    def encode(self, text: str) -> list[int]:
        """Raw text → token ids (never 0)."""
        return self.ids(self.tokenize(text))

    def ids(self, tokens: list[str]) -> list[int]:
        """Tokens → ids; a token outside the vocabulary raises KeyError."""
        return [self._ids[t] for t in tokens]

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


_PHONE_SET = frozenset(PHONES)
TOKENIZERS: dict[str, type[Tokenizer]] = {"phone": PhoneTokenizer, "char": CharTokenizer}


def build_tokenizer(name: str) -> Tokenizer:
    """`"phone"` (g2p_en phones) or `"char"` (letters)."""
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {sorted(TOKENIZERS)}")
    return TOKENIZERS[name]()
