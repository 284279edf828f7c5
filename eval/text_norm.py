"""The text normalisation applied to reference and hypothesis before WER: the F5-TTS protocol for English."""
from __future__ import annotations

import re
import string
import unicodedata

from tts.numbers import expand_numbers

_ASCII_PUNCTUATION = frozenset(string.punctuation)
# A number with what belongs to it: currency before, decimals, thousands, clock times, ordinal or % after.
_NUMBER = re.compile(r"[$£€]?\d[\d,.:]*\d(?:%|st|nd|rd|th)?|[$£€]?\d(?:%|st|nd|rd|th)?", re.IGNORECASE)


def _spell_number(m: re.Match) -> str:
    # inflect joins tens and units with a hyphen ("twenty-two"); words, not a compound, so split them.
    return " " + expand_numbers(m.group(0)).replace("-", " ") + " "


def _is_punctuation(ch: str) -> bool:
    # string.punctuation also holds symbols ($ % + < = > ^ ` | ~); F5-TTS adds CJK punctuation (zhon), which
    # Unicode category P covers together with typographic quotes and dashes that LibriSpeech-PC texts contain.
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def normalize_text(text: str) -> str:
    """Spell numbers, lower-case, delete punctuation, collapse whitespace: F5-TTS's English WER normalisation
    with numbers written as words.

    Punctuation is what `f5_tts/eval/utils_eval.py:run_asr_wer` does for `lang="en"` (and what WavCube's
    evaluator copies): every punctuation character is *deleted*, not replaced by a space, so "Milner's" →
    "milners" and "well-known" → "wellknown" on both sides; then the text is lower-cased. One step is added
    before that: numbers become words with the frontend's rules (`tts.numbers`), tens and units as separate
    words, so an ASR that writes "1.15" or "22" where the reference says "one point one five" or "twenty two"
    is not counted wrong. F5-TTS does not do this; LibriSpeech-PC references hold few digits, so published
    comparisons move little. No Whisper English normaliser (contractions, British spellings) is applied.
    """
    text = _NUMBER.sub(_spell_number, text)
    kept = "".join(ch for ch in text if not _is_punctuation(ch))
    return " ".join(kept.lower().split())
