"""How long to speak a text: duration rules, each a small object with one interface.

A flow-matching TTS is told its output length before it samples. Every rule here predicts it from the
prompt: new frames ≈ prompt frames × units(text) / units(prompt transcript) / speed, so a speaker's rate
cancels and a rule only has to get the relative cost of what it counts right.

- `bytes`: UTF-8 bytes of the text as given (F5-TTS's measure), without F5-TTS's quirks (no ". " added
  to the prompt transcript, no slow-down of texts under 10 bytes, rounded rather than truncated).
- `phones`: g2p phones of the normalised text, the rule cubetts models used before `fitted`; it gives
  exactly the frames `Synthesizer.plan` gave them, so models saved before the rule was recorded keep it.
- `letters`: letters of the normalised text (what character-tokenizer models used).
- `fitted`: weighted units of the normalised text (letters, word boundaries, clause pauses, sentence
  ends and one per utterance for its onset and release), the weights fitted on training speech by
  `python -m recipes.fit_duration` and stored in `tts/data/duration_weights.json`; with the edge-case
  rules below.
- `learned`: a ridge regression of log(new / prompt duration) on unit-count ratios and the prompt's
  length and speaking rate, fitted by the same script on the same data.

Edge cases, where a plain ratio fails (`fitted` and `learned`):
- A short text (one word, "Yes."): the utterance unit gives its onset and release their time, and no
  text gets less than `min_word_seconds` per word.
- Numbers only ("2024"): the normaliser reads them as words first, so they cost what is said.
- A prompt whose transcript barely matches its audio, or a text much longer than the prompt: the
  prompt's seconds per unit are held within `rate_range`, fitted on the training speech, so an odd
  prompt cannot stretch or crush a long text; within that range a longer text simply scales (the
  synthesizer splits long texts into chunks and asks the rule once per chunk).

`get_rule(name, weights)` returns a rule by the name a model config records (`TTSConfig.duration_rule`), with
the numbers it records (`TTSConfig.duration_weights`: a fit's record, kept with the model so that its durations
do not change when the package's fit does; `recipes.train_tts` fits them on its own training speech).
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Protocol

WEIGHTS_FILE = Path(__file__).parent / "data" / "duration_weights.json"
WEIGHTS_FORMAT = 1
DEFAULT_RULE = "fitted"
WEIGHTED_RULES = ("fitted", "learned")  # the rules whose numbers come from a fit (recipes.fit_duration)
LEGACY_RULE = "phones"  # what a model saved before `duration_rule` existed was planned with
UNITS = ("letters", "word_boundaries", "commas", "sentence_ends", "utterance")
# The learned predictor's inputs, in `learned_features`' order.
LEARNED_FEATURES = ("log_units_ratio", "log_letters_ratio", "log_words_ratio", "log_prompt_seconds",
                    "log_prompt_seconds_per_unit")

_WORD = re.compile(r"[a-z']+")
_COMMA = re.compile(r",")
_SENTENCE_END = re.compile(r"[.?!]+")


class DurationRule(Protocol):
    """`frames(ref_text, ref_frames, text, speed, frame_rate)`: frames for `text` spoken in the voice of a
    prompt of `ref_frames` frames whose transcript is `ref_text` (either as written or normalised), at
    `speed` (2 = twice as fast) and `frame_rate` frames per second. Always at least 1. `name` is what a
    model config records."""

    @property
    def name(self) -> str: ...

    def frames(self, ref_text: str, ref_frames: int, text: str, speed: float, frame_rate: float) -> int: ...


@lru_cache(maxsize=4096)
def normalized(text: str) -> str:
    """The text as cubetts models read it (`tts.normalize`; idempotent, so normalised text comes back)."""
    from .normalize import normalize_text

    return normalize_text(text)


@lru_cache(maxsize=4096)
def unit_counts(text: str) -> tuple[int, ...]:
    """Counts of `UNITS` in the normalised text: (letters, word boundaries, commas, sentence ends, 1).

    Marks at the very end are not pauses (the speech stops there), so only marks inside the text count;
    `; : -` and brackets are commas and ellipses full stops once normalised, and digits are words.
    """
    spoken = normalized(text)
    body = spoken.rstrip(" ,.?!")
    words = len(_WORD.findall(spoken))
    return (sum(c.isalpha() for c in spoken), max(words - 1, 0), len(_COMMA.findall(body)),
            len(_SENTENCE_END.findall(body)), 1)


class RatioRule(ABC):
    """Frames = prompt frames × units(text) / units(prompt transcript) / speed, nothing else."""

    name = "ratio"

    @abstractmethod
    def units(self, text: str) -> float:
        """How long `text` is, in this rule's units."""

    def frames(self, ref_text: str, ref_frames: int, text: str, speed: float, frame_rate: float) -> int:
        ref_units = self.units(ref_text)
        if ref_units <= 0:
            raise ValueError(f"{self.name} duration rule: the prompt transcript {ref_text!r} has nothing to count")
        frames_per_unit = ref_frames / ref_units / speed  # computed as Synthesizer.plan did, to the last bit
        return max(1, round(self.units(text) * frames_per_unit))


class ByteRule(RatioRule):
    """UTF-8 bytes of the text as given: F5-TTS's measure."""

    name = "bytes"

    def units(self, text: str) -> float:
        return len(text.encode("utf-8"))


class PhoneRule(RatioRule):
    """Phones of the normalised text, as cubetts' phone tokenizer counts them (punctuation and word
    boundaries count nothing)."""

    name = "phones"

    def units(self, text: str) -> float:
        return _phone_count(normalized(text))


@lru_cache(maxsize=4096)
def _phone_count(normalized_text: str) -> int:
    tokenizer = _phone_tokenizer()
    return tokenizer.count_units(tokenizer.tokenize(normalized_text)) if any(c.isalpha() for c in normalized_text) else 0


@lru_cache(maxsize=1)
def _phone_tokenizer() -> Any:
    from .text import PhoneTokenizer

    return PhoneTokenizer()


class LetterRule(RatioRule):
    """Letters of the normalised text (a character-tokenizer model's units)."""

    name = "letters"

    def units(self, text: str) -> float:
        return unit_counts(text)[0]


def _seconds_to_frames(seconds: float, text: str, speed: float, frame_rate: float, min_word_seconds: float) -> int:
    """`seconds` at speed 1, raised to `min_word_seconds` a word, → frames at `speed`."""
    words = unit_counts(text)[1] + (1 if unit_counts(text)[0] else 0)
    return max(1, round(max(seconds, words * min_word_seconds) / speed * frame_rate))


@dataclass(frozen=True)
class FittedRule:
    """Weighted units (`UNITS`, in letters: `weights[0]` is 1) fitted on training speech.

    seconds = units(text) × the prompt's seconds per unit (held within `rate_range`), at least
    `min_word_seconds` a word; then divided by speed.
    """

    weights: tuple[float, ...]
    rate_range: tuple[float, float]  # seconds per unit: the training speech's slowest and fastest, widened
    min_word_seconds: float
    name: str = "fitted"

    def __post_init__(self):
        if len(self.weights) != len(UNITS) or any(w < 0 for w in self.weights) or self.weights[0] <= 0:
            raise ValueError(f"fitted duration weights: expected {len(UNITS)} non-negative numbers "
                             f"({', '.join(UNITS)}), the first positive; got {self.weights}")

    def units(self, text: str) -> float:
        return sum(w * n for w, n in zip(self.weights, unit_counts(text)))

    def seconds_per_unit(self, ref_text: str, ref_seconds: float) -> float:
        ref_letters = unit_counts(ref_text)[0]
        if not ref_letters:
            raise ValueError(f"fitted duration rule: the prompt transcript {ref_text!r} has no words")
        low, high = self.rate_range
        return min(max(ref_seconds / self.units(ref_text), low), high)

    def frames(self, ref_text: str, ref_frames: int, text: str, speed: float, frame_rate: float) -> int:
        seconds = self.units(text) * self.seconds_per_unit(ref_text, ref_frames / frame_rate)
        return _seconds_to_frames(seconds, text, speed, frame_rate, self.min_word_seconds)

    def to_record(self) -> dict[str, Any]:
        return {"weights": dict(zip(UNITS, self.weights)), "rate_range": list(self.rate_range),
                "min_word_seconds": self.min_word_seconds}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "FittedRule":
        return cls(tuple(float(record["weights"][u]) for u in UNITS), tuple(record["rate_range"]),
                   float(record["min_word_seconds"]))


def learned_features(units: FittedRule, ref_text: str, ref_seconds: float, text: str) -> list[float]:
    """`LEARNED_FEATURES` of one (prompt, text) pair, `units` weighing the units of the first and last."""
    p, t = unit_counts(ref_text), unit_counts(text)
    return [math.log(units.units(text) / units.units(ref_text)), math.log(max(t[0], 1) / max(p[0], 1)),
            math.log((t[1] + 1) / (p[1] + 1)), math.log(ref_seconds), math.log(ref_seconds / units.units(ref_text))]


@dataclass(frozen=True)
class LearnedRule:
    """log(seconds / prompt seconds) = intercept + coefficients · (features − mean): a ridge regression on
    `LEARNED_FEATURES` (the `fitted` units' log ratio, letter and word ratios, the prompt's length and its
    seconds per unit), fitted on same-speaker pairs of training speech; at least `min_word_seconds` a word."""

    units: FittedRule
    intercept: float
    coefficients: tuple[float, ...]
    mean: tuple[float, ...]
    min_word_seconds: float
    name: str = "learned"

    def frames(self, ref_text: str, ref_frames: int, text: str, speed: float, frame_rate: float) -> int:
        ref_seconds = ref_frames / frame_rate
        if not unit_counts(ref_text)[0]:
            raise ValueError(f"learned duration rule: the prompt transcript {ref_text!r} has no words")
        x = learned_features(self.units, ref_text, ref_seconds, text)
        log_ratio = self.intercept + sum(c * (v - m) for c, v, m in zip(self.coefficients, x, self.mean))
        return _seconds_to_frames(ref_seconds * math.exp(log_ratio), text, speed, frame_rate, self.min_word_seconds)

    def to_record(self) -> dict[str, Any]:
        return {"features": list(LEARNED_FEATURES), "intercept": self.intercept,
                "coefficients": list(self.coefficients), "mean": list(self.mean),
                "min_word_seconds": self.min_word_seconds}

    @classmethod
    def from_record(cls, record: dict[str, Any], units: FittedRule) -> "LearnedRule":
        if tuple(record["features"]) != LEARNED_FEATURES:
            raise ValueError(f"learned duration predictor: features {record['features']} are not "
                             f"{list(LEARNED_FEATURES)}; refit with python -m recipes.fit_duration")
        return cls(units, float(record["intercept"]), tuple(map(float, record["coefficients"])),
                   tuple(map(float, record["mean"])), float(record["min_word_seconds"]))


def read_weights(path: str | os.PathLike = WEIGHTS_FILE) -> dict[str, Any]:
    """The fit's record (`python -m recipes.fit_duration` writes it): format, data, `fitted`, `learned`."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"duration weights not found at {path}; python -m recipes.fit_duration "
                                "writes them") from None
    check_weights(record, str(path))
    return record


def check_weights(record: object, where: str = "duration weights") -> None:
    """ValueError unless `record` is a fit's record of this format whose two rules can be built."""
    if not isinstance(record, dict) or record.get("format") != WEIGHTS_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise ValueError(f"{where}: duration weights of format {found!r}, expected {WEIGHTS_FORMAT}; refit with "
                         "python -m recipes.fit_duration")
    try:
        learned_rule(record)
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise ValueError(f"{where}: not a duration fit's record ({type(err).__name__}: {err}); refit with "
                         "python -m recipes.fit_duration") from None


@lru_cache(maxsize=1)
def _package_weights() -> dict[str, Any]:
    return read_weights()


def package_weights() -> dict[str, Any]:
    """A copy of the package's fit (`tts/data/duration_weights.json`): what a new model records."""
    return copy.deepcopy(_package_weights())


def fit_record(fitted: FittedRule, learned: LearnedRule, data: dict[str, Any]) -> dict[str, Any]:
    """What `read_weights` reads back: the two fitted rules and a description of their training data."""
    return {"format": WEIGHTS_FORMAT, "data": data, "fitted": fitted.to_record(), "learned": learned.to_record()}


def learned_rule(record: dict[str, Any]) -> LearnedRule:
    """The `learned` rule of a fit's record (it weighs units with the record's `fitted` weights)."""
    return LearnedRule.from_record(record["learned"], FittedRule.from_record(record["fitted"]))


RULES: dict[str, Callable[[], DurationRule]] = {
    "bytes": ByteRule,
    "phones": PhoneRule,
    "letters": LetterRule,
    "fitted": lambda: _weighted_rule("fitted", _package_weights()),
    "learned": lambda: _weighted_rule("learned", _package_weights()),
}


def get_rule(name: str, weights: dict[str, Any] | None = None) -> DurationRule:
    """The rule a model config names (`"bytes"`, `"phones"`, `"letters"`, `"fitted"`, `"learned"`); a weighted
    one with the numbers of `weights` (a fit's record, `check_weights`), else of the package's fit."""
    if name not in RULES:
        raise ValueError(f"unknown duration rule {name!r}; choose one of {sorted(RULES)}")
    if weights is None or name not in WEIGHTED_RULES:
        return _rule(name)
    check_weights(weights)
    return _weighted_rule(name, weights)


def _weighted_rule(name: str, record: dict[str, Any]) -> DurationRule:
    """`fitted` or `learned` with the numbers of a fit's record."""
    return FittedRule.from_record(record["fitted"]) if name == "fitted" else learned_rule(record)


@lru_cache(maxsize=None)
def _rule(name: str) -> DurationRule:
    return RULES[name]()


__all__ = ["DurationRule", "ByteRule", "PhoneRule", "LetterRule", "FittedRule", "LearnedRule", "RULES",
           "DEFAULT_RULE", "LEGACY_RULE", "UNITS", "WEIGHTED_RULES", "check_weights", "get_rule", "package_weights",
           "read_weights", "unit_counts"]
