"""The text normalisation applied to reference and hypothesis before WER: the F5-TTS protocol for English."""
from __future__ import annotations

import string
import unicodedata

_ASCII_PUNCTUATION = frozenset(string.punctuation)


def _is_punctuation(ch: str) -> bool:
    # string.punctuation also holds symbols ($ % + < = > ^ ` | ~); F5-TTS adds CJK punctuation (zhon), which
    # Unicode category P covers together with typographic quotes and dashes that LibriSpeech-PC texts contain.
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def normalize_text(text: str) -> str:
    """Lower-case, delete punctuation, collapse whitespace: F5-TTS's English WER normalisation.

    This is what `f5_tts/eval/utils_eval.py:run_asr_wer` does for `lang="en"` (and what WavCube's evaluator
    copies): every punctuation character is *deleted*, not replaced by a space, so "Milner's" → "milners" and
    "well-known" → "wellknown" on both sides; then the text is lower-cased. Numbers are not spelled out and no
    Whisper English normaliser (contractions, British spellings) is applied; an ASR that writes "1.15" where the
    reference says "one point one five" is counted wrong, as in the published numbers.
    """
    kept = "".join(ch for ch in text if not _is_punctuation(ch))
    return " ".join(kept.lower().split())
