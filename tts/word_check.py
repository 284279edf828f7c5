"""Check the words: each generated piece transcribed by the ASR and, while the word error rate of the transcript
against the piece's text is above `max_wer`, generated again with the next seed; the best try is kept.

A flow-matching model is told how long to speak before it starts, and may rush, drop or repeat words; the
check (`SynthesisOptions.check_words` tries, off by default) catches what the ASR hears missing. Try `t` of a
piece samples from `seed + 1000 t` through the rules' own `noise`, so the first try is the unchecked output
(F5-TTS's models stay F5-TTS exact) and no try meets another chunk's noise (cubetts' rules give chunk `j`
the seed `seed + j`). The pieces that missed on their first try are reported on their job (`Job.redone`)
and logged, one line each. English: the ASR is asked for English and words are split at spaces.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .asr import WhisperTranscriber
from .options import MAX_SEED
from .rules import Piece, Transcriber

if TYPE_CHECKING:
    from .synthesizer import Job

logger = logging.getLogger(__name__)
# Seeds of successive tries are this far apart: more than any text's chunks (seed + j for chunk j).
SEED_STEP = 1000
# (job, piece) pairs sampled alike → their new speech (T_i,), as `Synthesizer._generate` makes it.
Generate = Callable[[list[tuple["Job", Piece]]], list[torch.Tensor]]


@dataclass(frozen=True)
class Redone:
    """A piece whose first try missed more than `max_wer` of its text: the word error rate of each try in
    order (`wers[t]` sampled from `seed + 1000 t`), the try returned (`kept`: the lowest rate, the first of
    equals) and what the ASR heard in it. With `check_words` 1 it holds the first try alone."""

    text_index: int
    chunk_index: int
    wers: tuple[float, ...]
    kept: int
    heard: str

    @property
    def tries(self) -> int:
        return len(self.wers)


def word_error_rate(text: str, heard: str) -> float | None:
    """Word edit distance from `text` to `heard` over `text`'s word count, both normalised as the WER of
    eval/ is (lower case, punctuation deleted, numbers as words), except that a hyphen parts words here:
    "twenty-two" as written and "22" as heard are the same words. None when `text` has no words."""
    from eval.text_norm import normalize_text  # here, not above: the eval package imports tts

    ref, hyp = (normalize_text(s.replace("-", " ")).split() for s in (text, heard))
    if not ref:
        return None
    row = list(range(len(hyp) + 1))  # edits from ref[:i] to hyp[:k], for the i done so far
    for i, word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for k, other in enumerate(hyp, 1):
            diagonal, row[k] = row[k], min(row[k] + 1, row[k - 1] + 1, diagonal + (word != other))
    return row[-1] / len(ref)


def try_seed(seed: int, attempt: int) -> int:
    """The seed of try `attempt` (0: the job's own seed), within the seeds SynthesisOptions accepts."""
    return (seed + SEED_STEP * attempt) % (MAX_SEED + 1)


def ready(transcribe: Transcriber) -> None:
    """Load the ASR now (raising ASRUnavailable): in `prepare`, a failure answers its own request, whereas in
    `generate` it would stop every job sharing the batch."""
    if isinstance(transcribe, WhisperTranscriber):
        transcribe.wait()


def check_words(batch: Sequence[tuple[Job, Piece]], wavs: Sequence[torch.Tensor], generate: Generate,
                transcribe: Transcriber, sample_rate: int) -> list[torch.Tensor]:
    """The pieces of a batch `wavs: [(T_i,)]`, each of a job with `check_words` > 0 checked and, while it
    misses, generated again (the failing pieces of one try together, by `generate` with the check off);
    each piece's best try in place of its first, and the misses appended to their job's `redone`."""
    wavs = list(wavs)
    wers: dict[int, list[float]] = {}
    heard: dict[int, str] = {}
    for i, (job, piece) in enumerate(batch):
        if job.options.check_words > 0:
            heard[i] = transcribe(wavs[i], sample_rate)
            wer = word_error_rate(piece.text, heard[i])
            if wer is not None and wer > job.options.max_wer:
                wers[i] = [wer]
    attempt, missing = 1, list(wers)
    while missing := [i for i in missing if len(wers[i]) < batch[i][0].options.check_words]:
        again = [(dataclasses.replace(job, seed=try_seed(job.seed, attempt), options=job.options.replace(
            check_words=0)), piece) for job, piece in (batch[i] for i in missing)]
        for i, wav in zip(missing, generate(again)):
            text = transcribe(wav, sample_rate)
            wer = word_error_rate(batch[i][1].text, text)
            assert wer is not None  # the same text had words on the first try
            if wer < min(wers[i]):
                wavs[i], heard[i] = wav, text
            wers[i].append(wer)
        missing = [i for i in missing if wers[i][-1] > batch[i][0].options.max_wer]
        attempt += 1
    for i, rates in wers.items():
        job, piece = batch[i]
        record = Redone(piece.text_index, piece.chunk_index, tuple(rates), rates.index(min(rates)), heard[i])
        job.redone.append(record)
        logger.log(logging.INFO if min(rates) <= job.options.max_wer else logging.WARNING,
                   "word check: text %d piece %d missed its words (WER %s over %d tries, max_wer %g); kept try %d, "
                   "heard %r", piece.text_index, piece.chunk_index, ", ".join(f"{r:.2f}" for r in rates),
                   len(rates), job.options.max_wer, record.kept, record.heard)
    return wavs
