"""Word error rate: per utterance, its mean over utterances, and corpus-level, all after `normalize_text`."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from .asr import ASR
from .text_norm import normalize_text


@dataclass(frozen=True)
class UtteranceWER:
    """One scored utterance; `reference`/`hypothesis` are the raw strings, the counts are after normalisation."""

    reference: str
    hypothesis: str
    substitutions: int
    deletions: int
    insertions: int
    reference_words: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float:
        """Errors / reference words; can exceed 1 when the hypothesis inserts many words."""
        return self.errors / self.reference_words

    def to_dict(self) -> dict:
        return {**asdict(self), "wer": self.wer}


@dataclass(frozen=True)
class WERSummary:
    """`mean_utterance_wer` is what F5-TTS reports; `corpus_wer` weighs each utterance by its word count."""

    mean_utterance_wer: float
    corpus_wer: float
    utterances: list[UtteranceWER]


def utterance_wer(reference: str, hypothesis: str) -> UtteranceWER:
    """Score one hypothesis against its reference (both normalised with `normalize_text`).

    Raises `ValueError` when the reference is empty after normalisation: its WER is undefined.
    """
    import jiwer  # the eval extra: imported here, so that `import eval` works without it

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        raise ValueError(f"reference {reference!r} has no words after normalisation; its WER is undefined")
    out = jiwer.process_words(ref, hyp)
    return UtteranceWER(reference, hypothesis, out.substitutions, out.deletions, out.insertions, len(ref.split()))


def summarize_wer(references: Sequence[str], hypotheses: Sequence[str]) -> WERSummary:
    """Mean of per-utterance WERs and corpus WER (sum of errors / sum of reference words) over aligned lists.

    The two differ: the mean gives a 5-word utterance with one error (20 %) the same weight as a 30-word one,
    so short utterances move it more. F5-TTS, E2-TTS and WavCube tables report the mean.
    """
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no utterances to score")
    rows = [utterance_wer(r, h) for r, h in zip(references, hypotheses)]
    mean = sum(r.wer for r in rows) / len(rows)
    corpus = sum(r.errors for r in rows) / sum(r.reference_words for r in rows)
    return WERSummary(mean, corpus, rows)


def transcribe_and_score(
    asr: ASR, wavs: Sequence[torch.Tensor], sample_rate: int, references: Sequence[str]
) -> WERSummary:
    """Transcribe `wavs` (each `(T,)` at `sample_rate`) with `asr` and score them against `references`."""
    return summarize_wer(references, asr.transcribe(list(wavs), sample_rate))
